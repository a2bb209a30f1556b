import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import { cardInitial, cardToWebview, type CardToHost, type CardToWebview, type SummaryView } from '../../src/shared/protocol/card';
import type { TensorInfoView } from '../../src/shared/protocol/playground';
import { Host, el, readInitial } from '../shared/host';
import { table, type Column } from '../shared/table';
import { formatDims, formatMs } from '../playground/format';
import '../shared/base.css';
import '../shared/page.css';
import './style.css';

interface State {
  summary?: SummaryView;
}

const host = new Host<CardToHost, CardToWebview, State>(cardToWebview, 1);
const app = document.getElementById('app')!;
const initial = readInitial(cardInitial) ?? { label: 'Model' };
let summary = host.state?.summary;
let error: { message: string; hint?: string } | undefined;
let copied: string | undefined;

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

function compact(n: number): string {
  if (n < 10_000) return n.toLocaleString();
  if (n < 1e6) return `${(n / 1e3).toFixed(1)}K`;
  if (n < 1e9) return `${(n / 1e6).toFixed(2)}M`;
  return `${(n / 1e9).toFixed(2)}B`;
}

const IO_COLUMNS: Column<TensorInfoView>[] = [
  { head: 'Name', class: 'name', cell: (t) => [t.name, t.doc ? el('div', { class: 'muted doc' }, t.doc) : null] },
  { head: 'Type', cell: (t) => t.dtype ?? t.kind ?? '?' },
  { head: 'Shape', cell: (t) => el('code', {}, t.shape ? formatDims(t.shape) : 'unknown') },
];

const WEIGHT_COLUMNS: Column<SummaryView['parameters']['byDtype'][number]>[] = [
  { head: 'Type', cell: (d) => d.dtype },
  { head: 'Parameters', class: 'num', headClass: 'num', cell: (d) => d.count.toLocaleString() },
  { head: 'Bytes', class: 'num', headClass: 'num', cell: (d) => bytes(d.bytes) },
];

function ioTable(title: string, items: TensorInfoView[]): HTMLElement {
  return el(
    'section',
    {},
    el('h2', {}, title, el('span', { class: 'count' }, String(items.length))),
    items.length
      ? table('grid', IO_COLUMNS, items)
      : el('p', { class: 'muted' }, 'None.'),
  );
}

function kv(rows: [string, Node | string | null | undefined][]): HTMLElement {
  return el('table', { class: 'kv' }, el('tbody', {}, rows.filter(([, v]) => v !== undefined && v !== null && v !== '').map(([k, v]) => el('tr', {}, el('th', { scope: 'row' }, k), el('td', {}, v as Node | string)))));
}

/** A bar's fill, sized through the CSSOM: the CSP refuses inline style attributes. */
function bar(fraction: number): HTMLElement {
  const fill = el('span', { class: 'op-fill' });
  fill.style.width = `${(Math.max(0, Math.min(1, fraction)) * 100).toFixed(1)}%`;
  return fill;
}

function opsSection(s: SummaryView): HTMLElement {
  const max = Math.max(1, ...s.ops.map((o) => o.count));
  const ops = [...s.ops].sort((a, b) => b.count - a.count || a.op.localeCompare(b.op));
  return el(
    'section',
    {},
    el('h2', {}, 'Operators', el('span', { class: 'count' }, `${s.nodeCount.toLocaleString()} nodes · ${ops.length} types`)),
    el(
      'div',
      { class: 'ops' },
      ops.map((o) =>
        el(
          'div',
          { class: 'op', title: `${o.domain || 'ai.onnx'}::${o.op}: ${o.count}` },
          el('span', { class: 'op-name' }, o.op, o.domain && o.domain !== 'ai.onnx' ? el('span', { class: 'muted' }, ` ${o.domain}`) : null),
          el('span', { class: 'op-bar' }, bar(o.count / max)),
          el('span', { class: 'op-count' }, String(o.count)),
        ),
      ),
    ),
  );
}

function render(): void {
  const actions = el(
    'div',
    { class: 'toolbar' },
    el('vscode-button', { id: 'run', icon: 'play', disabled: !summary }, 'Run…'),
    el('vscode-button', { id: 'bench', icon: 'dashboard', secondary: true, disabled: !summary }, 'Benchmark'),
    el('vscode-button', { id: 'compare', icon: 'diff', secondary: true, disabled: !summary }, 'Compare With…'),
    el('vscode-button', { id: 'quantize', icon: 'zap', secondary: true, disabled: !summary }, 'Quantize…'),
    el('vscode-button', { id: 'deploy', icon: 'cloud', secondary: true, disabled: !summary }, 'Deploy…'),
    el('vscode-button', { id: 'copy-md', icon: 'copy', secondary: true, disabled: !summary }, 'Copy Summary'),
    el('vscode-button', { id: 'copy-json', icon: 'json', secondary: true, disabled: !summary }, 'Copy as JSON'),
    copied ? el('span', { class: 'muted', role: 'status' }, `${copied} copied`) : null,
  );
  const head = el(
    'header',
    {},
    el(
      'div',
      { class: 'title' },
      el('vscode-icon', { name: 'symbol-namespace', size: 22, class: 'title-icon' }),
      el('h1', {}, initial.label),
      initial.version ? el('vscode-badge', { variant: 'default' }, initial.version) : null,
    ),
    initial.detail ? el('div', { class: 'path' }, initial.detail) : null,
    actions,
  );
  if (error) {
    app.replaceChildren(
      head,
      el('div', { class: 'error-box', role: 'alert' }, el('vscode-icon', { name: 'error' }), el('div', {}, el('div', {}, error.message), error.hint ? el('div', { class: 'hint' }, error.hint) : null), el('vscode-button', { id: 'log', secondary: true }, 'Show Log')),
    );
    wire();
    return;
  }
  if (!summary) {
    app.replaceChildren(head, el('p', { class: 'placeholder' }, el('vscode-progress-ring', {}), ' Reading the model…'));
    wire();
    return;
  }
  const s = summary;
  const opsets = s.opsets.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ');
  const overview = el(
    'section',
    { class: 'overview' },
    el(
      'div',
      { class: 'stats' },
      stat('Size', bytes(s.fileSize)),
      stat('Parameters', compact(s.parameters.count), `${bytes(s.parameters.bytes)} of weights`),
      stat('Nodes', compact(s.nodeCount), `${s.ops.length} operator types`),
      stat('Opset', s.opsets.find((o) => !o.domain || o.domain === 'ai.onnx')?.version.toString() ?? '–', `IR version ${s.irVersion}`),
    ),
    kv([
      ['Producer', [s.producer.name, s.producer.version].filter(Boolean).join(' ') || undefined],
      ['Opsets', opsets],
      ['Domain', s.domain || undefined],
      ['Model version', s.modelVersion ? String(s.modelVersion) : undefined],
      ['Description', s.docString ? el('div', { class: 'doc' }, s.docString) : undefined],
      ['Subgraphs', s.subgraphs ? `${s.subgraphs} (If / Loop / Scan bodies, counted in the operators)` : undefined],
      ['Functions', s.functions ? String(s.functions) : undefined],
      ['SHA-256', el('span', { class: 'sha' }, el('code', {}, s.sha256), el('vscode-icon', { name: 'copy', 'action-icon': true, id: 'copy-sha', title: 'Copy SHA-256' }))],
    ]),
  );
  const weights = el(
    'section',
    {},
    el('h2', {}, 'Weights'),
    table('grid', WEIGHT_COLUMNS, s.parameters.byDtype),
    s.externalData.length
      ? el('div', {}, el('h3', {}, 'External data'), kv(s.externalData.map((x) => [x.location, `${x.tensors} tensors, ${bytes(x.bytes)}`])))
      : null,
  );
  app.replaceChildren(
    head,
    ...(s.warnings.length ? [el('div', { class: 'warning-box' }, el('vscode-icon', { name: 'warning' }), el('ul', {}, s.warnings.map((w) => el('li', {}, w))))] : []),
    overview,
    el('div', { class: 'columns' }, ioTable('Inputs', s.inputs), ioTable('Outputs', s.outputs)),
    ...(s.metadata.length ? [el('section', {}, el('h2', {}, 'Metadata'), kv(s.metadata.map((m) => [m.key, m.value])))] : []),
    weights,
    opsSection(s),
    el('p', { class: 'muted footer' }, `Read in ${formatMs(s.summaryMs)}.`),
  );
  wire();
}

function stat(label: string, value: string, sub?: string): HTMLElement {
  return el('div', { class: 'stat' }, el('div', { class: 'stat-value' }, value), el('div', { class: 'stat-label' }, label), sub ? el('div', { class: 'stat-sub' }, sub) : null);
}

function wire(): void {
  const on = (id: string, f: () => void) => document.getElementById(id)?.addEventListener('click', f);
  on('run', () => host.post({ type: 'run' }));
  on('bench', () => host.post({ type: 'benchmark' }));
  on('compare', () => host.post({ type: 'compare' }));
  on('quantize', () => host.post({ type: 'quantize' }));
  on('deploy', () => host.post({ type: 'deploy' }));
  on('copy-md', () => host.post({ type: 'copy', format: 'markdown' }));
  on('copy-json', () => host.post({ type: 'copy', format: 'json' }));
  on('copy-sha', () => host.post({ type: 'copy', format: 'sha256' }));
  on('log', () => host.post({ type: 'showLog' }));
}

host.listen((m) => {
  if (m.type === 'summary') {
    summary = m.summary;
    error = undefined;
    host.state = { summary };
  } else if (m.type === 'error') {
    error = { message: m.message, ...(m.hint ? { hint: m.hint } : {}) };
  } else if (m.type === 'copied') {
    copied = m.what;
    setTimeout(() => {
      copied = undefined;
      render();
    }, 2500);
  }
  render();
});

render();
host.post({ type: 'ready' });
