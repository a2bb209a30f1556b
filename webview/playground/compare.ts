// The Compare tab: this model and another file or registered version on the same inputs, each output compared and
// the verdict checked against the tolerances. Its result table serves the Remote tab too.
import type { CompareView } from '../../src/shared/protocol/playground';
import { button, field } from '../shared/controls';
import { el } from '../shared/host';
import { table, type Column } from '../shared/table';
import { formatDims, formatMs, formatNumber } from './format';
import { errorBox, feeds, numberField, setter, start, type View } from './view';

type Output = CompareView['outputs'][number];

const COLUMNS: Column<Output>[] = [
  { head: 'Output', class: 'name', cell: (o) => o.name },
  { head: 'Shape A', cell: (o) => el('code', {}, formatDims(o.shapeA)) },
  { head: 'Shape B', cell: (o) => el('code', {}, formatDims(o.shapeB)) },
  { head: 'Max abs err', class: 'num', cell: (o) => formatNumber(o.maxAbs) },
  { head: 'Max rel err', class: 'num', cell: (o) => formatNumber(o.maxRel) },
  { head: 'Cosine', class: 'num', cell: (o) => (o.cosine === null ? '–' : o.cosine.toFixed(6)) },
  { head: 'Top-1 agreement', class: 'num', cell: (o) => (o.top1Agreement === undefined || o.top1Agreement === null ? '–' : `${(o.top1Agreement * 100).toFixed(1)}%`) },
  { head: '', cell: (o) => [el('vscode-icon', { name: o.ok ? 'pass' : 'error', class: o.ok ? 'ok' : 'bad' }), o.note ? ` ${o.note}` : ''] },
];

/** The verdict, its reasons, an output per row, and the latencies: of two models, or of a local run and an endpoint. */
export function compareResult(c: CompareView, remote = false): HTMLElement {
  return el(
    'section',
    { class: 'result' },
    el(
      'div',
      { class: c.verdict.ok ? 'verdict ok' : 'verdict bad' },
      el('vscode-icon', { name: c.verdict.ok ? 'pass-filled' : 'error' }),
      el('strong', {}, c.verdict.ok ? 'Within tolerance' : 'Outside tolerance'),
      el('span', { class: 'muted' }, ` atol ${c.tolerances.atol}, rtol ${c.tolerances.rtol}, cosine ≥ ${c.tolerances.minCosine}`),
    ),
    c.verdict.reasons.length ? el('ul', { class: 'reasons' }, c.verdict.reasons.map((r) => el('li', {}, r))) : null,
    table('grid compare', COLUMNS, c.outputs, (o) => ({ 'data-output': o.name })),
    remote
      ? el('p', { class: 'muted' }, `Local run ${formatMs(c.latencyA)}; the endpoint's round trip ${formatMs(c.latencyB)} (HTTP, JSON and its own run).`)
      : el('p', { class: 'muted' }, `Latency: A ${formatMs(c.latencyA)}, B ${formatMs(c.latencyB)} (B/A ${(c.latencyB / c.latencyA).toFixed(2)}×, medians of 5 runs each)`),
  );
}

export function compareTab(v: View): HTMLElement {
  const c = v.state.compare;
  const set = setter(v, c);
  const compare = () => start(v, { type: 'compare', inputs: feeds(v), options: v.state.options, tolerances: { atol: c.atol, rtol: c.rtol, minCosine: c.minCosine } });
  return el(
    'div',
    { class: 'tab-body' },
    el(
      'div',
      { class: 'input-row' },
      field('A', el('code', { class: 'target' }, v.state.model.label)),
      field('B', el('div', { class: 'file' }, button('Choose…', () => void pickTarget(v), { id: 'pick-target', secondary: true, icon: 'versions' }), c.target ? el('code', { class: 'target', title: c.target.detail ?? c.target.uri }, c.target.label) : el('span', { class: 'muted' }, 'another file, or another version from the registry'))),
    ),
    el(
      'div',
      { class: 'input-row' },
      field('Absolute tolerance', numberField(v, c.atol, (x) => set({ atol: x }))),
      field('Relative tolerance', numberField(v, c.rtol, (x) => set({ rtol: x }))),
      field('Minimum cosine', numberField(v, c.minCosine, (x) => set({ minCosine: x }))),
    ),
    el('div', { class: 'toolbar' }, button('Compare', compare, { id: 'compare', icon: 'diff', disabled: !v.session.inputs || !c.target || !!v.session.busy })),
    errorBox(v, 'compare'),
    c.result ? compareResult(c.result) : el('p', { class: 'placeholder' }, 'Both models run on the same inputs; each output is compared and the verdict checked against the tolerances.'),
  );
}

/** Another model to compare with, picked in VS Code (versions of the same model first). */
async function pickTarget(v: View): Promise<void> {
  const target = await v.request('pickCompareTarget', {});
  if (!target) return;
  v.state.compare.target = target;
  v.state.compare.result = undefined;
  v.save();
  v.render();
}
