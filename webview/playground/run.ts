// The Run tab: run the model on the inputs, its outputs with their statistics, the runs kept in a history.
import type { RunView } from '../../src/shared/protocol/playground';
import { button } from '../shared/controls';
import { el } from '../shared/host';
import { table, type Column } from '../shared/table';
import { formatDims, formatMs, formatNumber } from './format';
import { errorBox, feeds, start, type View } from './view';

type Output = RunView['outputs'][number];

function nonFinite(o: Output): boolean {
  return !!o.stats && (o.stats.nan > 0 || o.stats.inf > 0);
}

const OUTPUT_COLUMNS: Column<Output>[] = [
  { head: 'Output', class: 'name', cell: (o) => o.name },
  { head: 'Type', cell: (o) => o.dtype },
  { head: 'Shape', cell: (o) => el('code', {}, formatDims(o.shape)) },
  { head: 'Min', class: 'num', cell: (o) => formatNumber(o.stats?.min) },
  { head: 'Max', class: 'num', cell: (o) => formatNumber(o.stats?.max) },
  { head: 'Mean', class: 'num', cell: (o) => formatNumber(o.stats?.mean) },
  { head: 'Std', class: 'num', cell: (o) => formatNumber(o.stats?.std) },
  {
    head: 'NaN / Inf',
    class: (o) => (nonFinite(o) ? 'num warn' : 'num'),
    cell: (o) => (o.stats ? (nonFinite(o) ? el('span', { title: 'NaN or infinite values in this output' }, el('vscode-icon', { name: 'warning' }), ` ${o.stats.nan} / ${o.stats.inf}`) : '0 / 0') : ''),
  },
  { head: 'First values', class: 'values', cell: (o) => el('code', {}, o.first.map((x) => (typeof x === 'number' ? formatNumber(x) : JSON.stringify(x))).join(', ') + (o.first.length < (o.stats?.count ?? 0) ? ', …' : '')) },
  { head: 'Top-k', class: 'topk', cell: (o) => (o.topK?.length ? o.topK.slice(0, 5).map((t) => el('div', {}, el('code', {}, `#${t.index}`), ` ${formatNumber(t.value)}`)) : '') },
];

const HISTORY_COLUMNS: Column<RunView>[] = [
  { head: 'Run', cell: (r) => String(r.id) },
  { head: 'Time', cell: (r) => new Date(r.at).toLocaleTimeString() },
  { head: 'Latency', class: 'num', cell: (r) => formatMs(r.ms) },
  { head: 'Inputs', cell: (r) => r.inputs.map((i) => `${i.name} ${formatDims(i.shape)} ${i.source}`).join('; ') },
  { head: 'Outputs', cell: (r) => r.outputs.map((o) => `${o.name} ${formatDims(o.shape)}${o.stats && (o.stats.nan || o.stats.inf) ? ' ⚠' : ''}`).join('; ') },
];

/** The run the outputs table shows: the one picked in the history, else the newest. */
export function selectedRun(v: View): RunView | undefined {
  return v.state.runs.find((r) => r.id === v.state.selectedRun) ?? v.state.runs[0];
}

function history(v: View, run: RunView | undefined): HTMLElement {
  const t = table('grid', HISTORY_COLUMNS, v.state.runs, (r) => ({ class: r.id === run?.id ? 'selected run-row' : 'run-row', 'data-run': r.id }));
  for (const row of t.querySelectorAll<HTMLElement>('tr.run-row')) {
    row.addEventListener('click', () => {
      v.state.selectedRun = Number(row.dataset.run);
      v.save();
      v.render();
    });
  }
  return t;
}

export function runTab(v: View): HTMLElement {
  const run = selectedRun(v);
  const { busy, inputs } = v.session;
  const running = busy?.what === 'run';
  const save = (format: 'npy' | 'json') => () => v.post({ type: 'saveOutputs', run: selectedRun(v)!.id, format });
  return el(
    'div',
    { class: 'tab-body' },
    el(
      'div',
      { class: 'toolbar' },
      button('Run', () => start(v, { type: 'run', inputs: feeds(v), options: v.state.options }), { id: 'run', icon: 'play', disabled: !inputs || !!busy }),
      running ? button('Cancel', () => v.post({ type: 'cancel' }), { id: 'cancel', icon: 'debug-stop', secondary: true }) : null,
      run ? button('Save Outputs as .npy', save('npy'), { id: 'save-npy', icon: 'save', secondary: true, disabled: !!busy }) : null,
      run ? button('Save as JSON', save('json'), { id: 'save-json', icon: 'json', secondary: true, disabled: !!busy }) : null,
    ),
    errorBox(v, 'run'),
    run
      ? el(
          'section',
          { class: 'result' },
          el('h3', {}, `Run ${run.id}`, el('span', { class: 'muted' }, ` · ${formatMs(run.ms)} · ${new Date(run.at).toLocaleTimeString()}`)),
          table('grid outputs', OUTPUT_COLUMNS, run.outputs, (o) => ({ 'data-output': o.name })),
        )
      : el('p', { class: 'placeholder' }, 'Build the inputs above, then Run. Outputs appear here with their statistics; NaN and infinite values are flagged.'),
    v.state.runs.length > 1 ? el('section', { class: 'history' }, el('h3', {}, 'Run history'), history(v, run)) : null,
  );
}
