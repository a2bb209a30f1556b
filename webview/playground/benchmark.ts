// The Benchmark tab: warm-up and measured runs inside the inference process, optionally over several thread counts;
// the latency percentiles and a histogram per count.
import type { BenchView } from '../../src/shared/protocol/playground';
import { button, field, textfield } from '../shared/controls';
import { el } from '../shared/host';
import { table, type Column } from '../shared/table';
import { formatMs, histogramSvg } from './format';
import { errorBox, feeds, numberField, setter, start, type View } from './view';

const ms = (head: string, pick: (r: BenchView) => number): Column<BenchView> => ({ head, class: 'num', cell: (r) => formatMs(pick(r)) });

const COLUMNS: Column<BenchView>[] = [
  { head: 'Threads', cell: (r) => (r.threads ? String(r.threads) : 'auto') },
  { head: 'Runs', class: 'num', cell: (r) => String(r.runs) },
  ms('p50', (r) => r.p50),
  ms('p90', (r) => r.p90),
  ms('p99', (r) => r.p99),
  ms('Mean', (r) => r.mean),
  ms('Std', (r) => r.std),
  ms('Min', (r) => r.min),
  ms('Max', (r) => r.max),
  { head: 'Throughput', class: 'num', cell: (r) => `${r.throughput.toFixed(1)}/s` },
];

/** The thread counts of the sweep field: whole numbers from 1, at most 16 of them. */
function threadList(text: string): number[] {
  return text
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((x) => Math.trunc(Number(x)))
    .filter((x) => x >= 1)
    .slice(0, 16);
}

export function benchTab(v: View): HTMLElement {
  const b = v.state.bench;
  const set = setter(v, b);
  const { busy, inputs, progress } = v.session;
  const running = busy?.what === 'benchmark';
  const bench = () =>
    start(v, { type: 'benchmark', inputs: feeds(v), options: v.state.options, warmup: b.warmup, runs: b.runs, ...(b.budgetMs ? { budgetMs: b.budgetMs } : {}), threads: threadList(b.threads) });
  return el(
    'div',
    { class: 'tab-body' },
    el(
      'div',
      { class: 'input-row' },
      field('Warm-up runs', numberField(v, b.warmup, (x) => set({ warmup: Math.max(0, Math.trunc(x)) }))),
      field('Runs', numberField(v, b.runs, (x) => set({ runs: Math.max(1, Math.trunc(x)) }))),
      field('Time budget (s)', textfield(b.budgetMs ? b.budgetMs / 1000 : '', (x) => set({ budgetMs: x.trim() ? Math.round(Number(x) * 1000) || undefined : undefined }), { placeholder: 'none' }), 'stops at whichever comes first'),
      field('Thread sweep', textfield(b.threads, (x) => set({ threads: x }), { placeholder: 'e.g. 1, 2, 4' }), 'blank: the session options'),
    ),
    el(
      'div',
      { class: 'toolbar' },
      button('Benchmark', bench, { id: 'bench', icon: 'dashboard', disabled: !inputs || !!busy }),
      running ? button('Cancel', () => v.post({ type: 'cancel' }), { id: 'cancel', icon: 'debug-stop', secondary: true }) : null,
      running && progress ? el('span', { class: 'muted' }, `${progress.done} / ${progress.total} runs`) : null,
      b.results?.length ? button('Save Results as JSON', () => v.post({ type: 'saveBenchmark' }), { id: 'save-bench', icon: 'save', secondary: true, disabled: !!busy }) : null,
    ),
    errorBox(v, 'benchmark'),
    b.results?.length
      ? el(
          'section',
          { class: 'result' },
          table('grid bench', COLUMNS, b.results),
          ...b.results.map((r) => el('figure', { class: 'histogram' }, histogramSvg(r.histogram), el('figcaption', {}, `Latency histogram, ${r.threads || 'auto'} threads: ${r.runs} runs`))),
        )
      : el('p', { class: 'placeholder' }, 'Latency percentiles and a histogram appear here. Runs happen inside the inference process, so the figures do not include the editor.'),
  );
}
