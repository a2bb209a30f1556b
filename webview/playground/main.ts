import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-collapsible/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-tab-header/index.js';
import '@vscode-elements/elements/dist/vscode-tab-panel/index.js';
import '@vscode-elements/elements/dist/vscode-tabs/index.js';
import '@vscode-elements/elements/dist/vscode-textarea/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import {
  playgroundInitial,
  playgroundToWebview,
  randomSourceFor,
  type BenchView,
  type CompareView,
  type InputSource,
  type InputSpec,
  type ModelRef,
  type PlaygroundTab,
  type PlaygroundToHost,
  type PlaygroundToWebview,
  type RunView,
  type SessionOptionsView,
  type TensorInfoView,
} from '../../src/shared/protocol/playground';
import { field, select, textfield } from '../shared/controls';
import { Host, el, readInitial } from '../shared/host';
import { formatDims, formatMs, formatNumber, histogramSvg } from './format';
import '../shared/base.css';
import '../shared/page.css';
import '../shared/grid.css';
import './style.css';

/** What the webview keeps across hides and reloads (versioned by Host). */
interface State {
  model: ModelRef;
  tab: PlaygroundTab;
  specs: Record<string, InputSpec>;
  options: SessionOptionsView;
  runs: RunView[];
  selectedRun?: number;
  bench: { warmup: number; runs: number; budgetMs?: number; threads: string; results?: BenchView[] };
  compare: { target?: ModelRef; atol: number; rtol: number; minCosine: number; result?: CompareView };
  remote: { url: string; model: string; result?: CompareView };
}

const STATE_VERSION = 1;
const TABS: PlaygroundTab[] = ['run', 'benchmark', 'compare', 'remote'];
const host = new Host<PlaygroundToHost, PlaygroundToWebview, State>(playgroundToWebview, STATE_VERSION);
const app = document.getElementById('app')!;
const initial = readInitial(playgroundInitial);

const kept = host.state;
const sameModel = kept && initial && kept.model.uri === initial.model.uri;
const state: State =
  sameModel && kept
    ? { ...kept, tab: initial?.tab ?? kept.tab }
    : {
        model: initial?.model ?? { label: 'Model', uri: '' },
        tab: initial?.tab ?? 'run',
        specs: {},
        options: { intraOpThreads: initial?.defaults.threads ?? 0, graphOptimizationLevel: 'all', executionProvider: 'cpu' },
        runs: [],
        bench: { warmup: 10, runs: 100, threads: '' },
        compare: { atol: 1e-4, rtol: 1e-3, minCosine: 0.999 },
        remote: { url: initial?.defaults.serveUrl ?? 'http://127.0.0.1:8080', model: modelName(initial?.model.label ?? 'model') },
      };
if (initial?.compareTarget) state.compare.target = initial.compareTarget;

let inputs: TensorInfoView[] | undefined;
let outputs: TensorInfoView[] = [];
let providers: string[] = ['cpu'];
let loadMs: number | undefined;
let sessionError: { message: string; hint?: string } | undefined;
let busy: { what: string; detail?: string } | undefined = { what: 'load' };
let lastError: { what: string; message: string; hint?: string } | undefined;
let progress: { done: number; total: number } | undefined;
let serving: string | null = initial?.defaults.serveUrl ?? null;

function modelName(label: string): string {
  return label.replace(/\.onnx$/i, '').replace(/[^A-Za-z0-9_.-]+/g, '-') || 'model';
}

function save(): void {
  host.state = state;
}

/** Changes part of the state: kept, and shown. */
function setter<T extends object>(part: T): (next: Partial<T>) => void {
  return (next) => {
    Object.assign(part, next);
    save();
    render();
  };
}

/** The run the outputs table shows: the one picked in the history, else the newest. */
function selectedRun(): RunView | undefined {
  return state.runs.find((r) => r.id === state.selectedRun) ?? state.runs[0];
}

function post(m: PlaygroundToHost): void {
  host.post(m);
}

// ------------------------------------------------------------------------------------------------------------------
// Inputs


let guessed: { input: string; index: number; reason: string }[] = [];

function ensureSpecs(shapes: Record<string, number[]>, sources: Record<string, InputSource>): void {
  for (const info of inputs ?? []) {
    const spec = state.specs[info.name];
    const shape = shapes[info.name] ?? [];
    if (!spec || spec.shape.length !== shape.length) state.specs[info.name] = { shape, source: sources[info.name] ?? randomSourceFor(info.dtype) };
  }
}

function numberField(value: number, onChange: (v: number) => void, attrs: Record<string, string | boolean | number | undefined> = {}): HTMLElement {
  return textfield(value, (v) => {
    const n = Number(v);
    if (v.trim() !== '' && Number.isFinite(n)) onChange(n);
    else render();
  }, { inputmode: 'decimal', ...attrs });
}

const SOURCES = [
  ['random', 'Random'],
  ['zeros', 'Zeros'],
  ['ones', 'Ones'],
  ['json', 'JSON'],
  ['npy', '.npy file'],
  ['image', 'Image file'],
  ['wav', 'WAV file'],
] as const;

function sourceFor(kind: InputSource['kind'], info: TensorInfoView): InputSource {
  switch (kind) {
    case 'random':
      return randomSourceFor(info.dtype);
    case 'zeros':
    case 'ones':
      return { kind };
    case 'json':
      return { kind, text: '' };
    case 'npy':
      return { kind, path: '' };
    case 'image':
      return { kind, path: '', layout: 'NCHW', channelOrder: 'RGB', scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] };
    case 'wav':
      return { kind, path: '' };
  }
}

function sourceControls(info: TensorInfoView, spec: InputSpec): HTMLElement[] {
  const s = spec.source;
  const set = (next: InputSource) => {
    spec.source = next;
    save();
    render();
  };
  const pick = (kind: 'npy' | 'image' | 'wav' | 'json'): HTMLElement =>
    withPick(
      el(
        'div',
        { class: 'file' },
        el('vscode-button', { secondary: true, icon: 'folder-opened' }, 'Choose File…'),
        'path' in s && s.path ? el('code', { class: 'path', title: s.path }, s.path.split(/[\\/]/).pop() ?? s.path) : el('span', { class: 'muted' }, 'no file chosen'),
      ),
      info.name,
      kind,
    );
  switch (s.kind) {
    case 'random':
      return [
        field('Seed', numberField(s.seed, (v) => set({ ...s, seed: Math.trunc(v) }))),
        field('Distribution', select(s.distribution, [['uniform', 'Uniform'], ['normal', 'Normal']] as const, (v) => set({ ...s, distribution: v }))),
        ...(s.distribution === 'uniform'
          ? [field('Min', numberField(s.min, (v) => set({ ...s, min: v }))), field('Max', numberField(s.max, (v) => set({ ...s, max: v })))]
          : [field('Mean', numberField(s.mean, (v) => set({ ...s, mean: v }))), field('Std', numberField(s.std, (v) => set({ ...s, std: v })))]),
      ];
    case 'zeros':
    case 'ones':
      return [];
    case 'json': {
      const ta = el('vscode-textarea', { value: s.text, rows: 4, placeholder: '[[0.1, 0.2, …]] or {"data": […], "shape": […]}', class: 'json', monospace: true });
      ta.addEventListener('change', () => set({ ...s, text: (ta as unknown as { value: string }).value }));
      return [field('Values', ta, 'Nested arrays, or a flat array in row-major order.')];
    }
    case 'npy':
      return [pick('npy')];
    case 'image':
      return [
        pick('image'),
        field('Layout', select(s.layout, [['NCHW', 'NCHW'], ['NHWC', 'NHWC']] as const, (v) => set({ ...s, layout: v }))),
        field('Channels', select(s.channelOrder, [['RGB', 'RGB'], ['BGR', 'BGR']] as const, (v) => set({ ...s, channelOrder: v }))),
        field('Scale', numberField(s.scale, (v) => set({ ...s, scale: v })), 'pixel × scale'),
        field('Mean', textfield(s.mean.join(', '), (v) => set({ ...s, mean: numbers(v, s.mean) })), 'per channel'),
        field('Std', textfield(s.std.join(', '), (v) => set({ ...s, std: numbers(v, s.std) })), 'per channel'),
      ];
    case 'wav':
      return [
        pick('wav'),
        field('Sample rate', textfield(s.sampleRate ?? '', (v) => set({ ...s, sampleRate: v.trim() ? Math.trunc(Number(v)) || undefined : undefined }), { placeholder: 'as recorded' }), 'resampled to this rate'),
      ];
  }
}

function withPick(node: HTMLElement, input: string, kind: 'npy' | 'image' | 'wav' | 'json'): HTMLElement {
  node.querySelector('vscode-button')?.addEventListener('click', () => post({ type: 'pickFile', input, kind }));
  return node;
}

function numbers(text: string, fallback: number[]): number[] {
  const xs = text.split(/[\s,]+/).filter(Boolean).map(Number);
  return xs.length && xs.every(Number.isFinite) ? xs.slice(0, 4) : fallback;
}

/** An open dim whose size nothing suggests (neither a batch nor an image size): the user should set it. */
function isGuess(input: string, index: number): boolean {
  return guessed.some((g) => g.input === input && g.index === index && g.reason === 'default');
}

function inputCard(info: TensorInfoView): HTMLElement {
  const spec = state.specs[info.name]!;
  const declared = info.shape ?? [];
  const dims = spec.shape.map((d, i) => {
    const fixed = typeof declared[i] === 'number' && (declared[i] as number) > 0;
    return el(
      'span',
      { class: 'dim' },
      numberField(d, (v) => {
        spec.shape[i] = Math.max(0, Math.trunc(v));
        save();
        render();
      }, { disabled: fixed, title: fixed ? 'fixed by the model' : `symbolic dim ${declared[i] ?? '?'}`, class: 'dim-field' }),
      fixed ? null : el('span', { class: isGuess(info.name, i) ? 'dim-name guess' : 'dim-name', title: isGuess(info.name, i) ? 'a guess: the model leaves this size open' : '' }, String(declared[i] || '?')),
    );
  });
  const elements = spec.shape.reduce((a, b) => a * b, 1);
  return el(
    'div',
    { class: 'input-card', 'data-input': info.name },
    el(
      'div',
      { class: 'input-head' },
      el('span', { class: 'input-name' }, info.name),
      el('vscode-badge', { variant: 'default' }, info.dtype ?? info.kind ?? '?'),
      el('code', { class: 'declared' }, formatDims(declared)),
      el('span', { class: 'muted' }, `${elements.toLocaleString()} elements`),
    ),
    el('div', { class: 'input-row' }, field('Shape', dims.length ? el('div', { class: 'dims' }, dims) : el('span', { class: 'muted scalar' }, 'scalar'), spec.shape.some((_, i) => isGuess(info.name, i)) ? 'set the open sizes' : undefined), field('Source', select(spec.source.kind, SOURCES, (k) => {
      spec.source = sourceFor(k, info);
      save();
      render();
    }))),
    el('div', { class: 'input-row' }, ...sourceControls(info, spec)),
  );
}

function optionsPanel(): HTMLElement {
  const o = state.options;
  const set = (next: Partial<SessionOptionsView>) => {
    Object.assign(o, next);
    save();
    post({ type: 'load', options: o });
    render();
  };
  return el(
    'vscode-collapsible',
    { title: 'Session options', description: `${o.intraOpThreads || 'auto'} threads · optimisation ${o.graphOptimizationLevel} · ${o.executionProvider}`, class: 'options' },
    el(
      'div',
      { class: 'input-row' },
      field('Intra-op threads', numberField(o.intraOpThreads, (v) => set({ intraOpThreads: Math.max(0, Math.trunc(v)) })), '0 = onnxruntime decides'),
      field('Graph optimisation', select(o.graphOptimizationLevel, [['all', 'All'], ['extended', 'Extended'], ['basic', 'Basic'], ['disabled', 'Disabled']] as const, (v) => set({ graphOptimizationLevel: v }))),
      field('Execution provider', select(o.executionProvider, providers.map((p) => [p, p] as const), (v) => set({ executionProvider: v }))),
    ),
  );
}

// ------------------------------------------------------------------------------------------------------------------
// Results

function statsCells(o: RunView['outputs'][number]): HTMLElement[] {
  const s = o.stats;
  const bad = s && (s.nan > 0 || s.inf > 0);
  return [
    el('td', { class: 'num' }, formatNumber(s?.min)),
    el('td', { class: 'num' }, formatNumber(s?.max)),
    el('td', { class: 'num' }, formatNumber(s?.mean)),
    el('td', { class: 'num' }, formatNumber(s?.std)),
    el('td', { class: bad ? 'num warn' : 'num' }, s ? (bad ? el('span', { title: 'NaN or infinite values in this output' }, el('vscode-icon', { name: 'warning' }), ` ${s.nan} / ${s.inf}`) : '0 / 0') : ''),
  ];
}

function outputsTable(run: RunView): HTMLElement {
  return el(
    'table',
    { class: 'grid outputs' },
    el('thead', {}, el('tr', {}, ...['Output', 'Type', 'Shape', 'Min', 'Max', 'Mean', 'Std', 'NaN / Inf', 'First values', 'Top-k'].map((h) => el('th', {}, h)))),
    el(
      'tbody',
      {},
      run.outputs.map((o) =>
        el(
          'tr',
          { 'data-output': o.name },
          el('td', { class: 'name' }, o.name),
          el('td', {}, o.dtype),
          el('td', {}, el('code', {}, formatDims(o.shape))),
          ...statsCells(o),
          el('td', { class: 'values' }, el('code', {}, o.first.map((v) => (typeof v === 'number' ? formatNumber(v) : JSON.stringify(v))).join(', ') + (o.first.length < (o.stats?.count ?? 0) ? ', …' : ''))),
          el('td', { class: 'topk' }, o.topK?.length ? o.topK.slice(0, 5).map((t) => el('div', {}, el('code', {}, `#${t.index}`), ` ${formatNumber(t.value)}`)) : ''),
        ),
      ),
    ),
  );
}

function runTab(): HTMLElement {
  const run = selectedRun();
  const running = busy?.what === 'run';
  return el(
    'div',
    { class: 'tab-body' },
    el(
      'div',
      { class: 'toolbar' },
      el('vscode-button', { id: 'run', icon: 'play', disabled: !inputs || !!busy }, 'Run'),
      running ? el('vscode-button', { id: 'cancel', icon: 'debug-stop', secondary: true }, 'Cancel') : null,
      run ? el('vscode-button', { id: 'save-npy', icon: 'save', secondary: true, disabled: !!busy }, 'Save Outputs as .npy') : null,
      run ? el('vscode-button', { id: 'save-json', icon: 'json', secondary: true, disabled: !!busy }, 'Save as JSON') : null,
    ),
    errorBox('run'),
    run
      ? el(
          'section',
          { class: 'result' },
          el('h3', {}, `Run ${run.id}`, el('span', { class: 'muted' }, ` · ${formatMs(run.ms)} · ${new Date(run.at).toLocaleTimeString()}`)),
          outputsTable(run),
        )
      : el('p', { class: 'placeholder' }, 'Build the inputs above, then Run. Outputs appear here with their statistics; NaN and infinite values are flagged.'),
    state.runs.length > 1
      ? el(
          'section',
          { class: 'history' },
          el('h3', {}, 'Run history'),
          el(
            'table',
            { class: 'grid' },
            el('thead', {}, el('tr', {}, el('th', {}, 'Run'), el('th', {}, 'Time'), el('th', {}, 'Latency'), el('th', {}, 'Inputs'), el('th', {}, 'Outputs'))),
            el(
              'tbody',
              {},
              state.runs.map((r) =>
                el(
                  'tr',
                  { class: r.id === run?.id ? 'selected run-row' : 'run-row', 'data-run': r.id },
                  el('td', {}, String(r.id)),
                  el('td', {}, new Date(r.at).toLocaleTimeString()),
                  el('td', { class: 'num' }, formatMs(r.ms)),
                  el('td', {}, r.inputs.map((i) => `${i.name} ${formatDims(i.shape)} ${i.source}`).join('; ')),
                  el('td', {}, r.outputs.map((o) => `${o.name} ${formatDims(o.shape)}${o.stats && (o.stats.nan || o.stats.inf) ? ' ⚠' : ''}`).join('; ')),
                ),
              ),
            ),
          ),
        )
      : null,
  );
}

function benchTab(): HTMLElement {
  const b = state.bench;
  const set = setter(b);
  const running = busy?.what === 'benchmark';
  return el(
    'div',
    { class: 'tab-body' },
    el(
      'div',
      { class: 'input-row' },
      field('Warm-up runs', numberField(b.warmup, (v) => set({ warmup: Math.max(0, Math.trunc(v)) }))),
      field('Runs', numberField(b.runs, (v) => set({ runs: Math.max(1, Math.trunc(v)) }))),
      field('Time budget (s)', textfield(b.budgetMs ? b.budgetMs / 1000 : '', (v) => set({ budgetMs: v.trim() ? Math.round(Number(v) * 1000) || undefined : undefined }), { placeholder: 'none' }), 'stops at whichever comes first'),
      field('Thread sweep', textfield(b.threads, (v) => set({ threads: v }), { placeholder: 'e.g. 1, 2, 4' }), 'blank: the session options'),
    ),
    el(
      'div',
      { class: 'toolbar' },
      el('vscode-button', { id: 'bench', icon: 'dashboard', disabled: !inputs || !!busy }, 'Benchmark'),
      running ? el('vscode-button', { id: 'cancel', icon: 'debug-stop', secondary: true }, 'Cancel') : null,
      running && progress ? el('span', { class: 'muted' }, `${progress.done} / ${progress.total} runs`) : null,
      b.results?.length ? el('vscode-button', { id: 'save-bench', icon: 'save', secondary: true, disabled: !!busy }, 'Save Results as JSON') : null,
    ),
    errorBox('benchmark'),
    b.results?.length
      ? el(
          'section',
          { class: 'result' },
          el(
            'table',
            { class: 'grid bench' },
            el('thead', {}, el('tr', {}, ...['Threads', 'Runs', 'p50', 'p90', 'p99', 'Mean', 'Std', 'Min', 'Max', 'Throughput'].map((h) => el('th', {}, h)))),
            el(
              'tbody',
              {},
              b.results.map((r) =>
                el(
                  'tr',
                  {},
                  el('td', {}, r.threads ? String(r.threads) : 'auto'),
                  el('td', { class: 'num' }, String(r.runs)),
                  ...[r.p50, r.p90, r.p99, r.mean, r.std, r.min, r.max].map((x) => el('td', { class: 'num' }, formatMs(x))),
                  el('td', { class: 'num' }, `${r.throughput.toFixed(1)}/s`),
                ),
              ),
            ),
          ),
          ...b.results.map((r) => el('figure', { class: 'histogram' }, histogramSvg(r.histogram), el('figcaption', {}, `Latency histogram, ${r.threads || 'auto'} threads: ${r.runs} runs`))),
        )
      : el('p', { class: 'placeholder' }, 'Latency percentiles and a histogram appear here. Runs happen inside the inference process, so the figures do not include the editor.'),
  );
}

function compareTable(c: CompareView, remote = false): HTMLElement {
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
    el(
      'table',
      { class: 'grid compare' },
      el('thead', {}, el('tr', {}, ...['Output', 'Shape A', 'Shape B', 'Max abs err', 'Max rel err', 'Cosine', 'Top-1 agreement', ''].map((h) => el('th', {}, h)))),
      el(
        'tbody',
        {},
        c.outputs.map((o) =>
          el(
            'tr',
            { 'data-output': o.name },
            el('td', { class: 'name' }, o.name),
            el('td', {}, el('code', {}, formatDims(o.shapeA))),
            el('td', {}, el('code', {}, formatDims(o.shapeB))),
            el('td', { class: 'num' }, formatNumber(o.maxAbs)),
            el('td', { class: 'num' }, formatNumber(o.maxRel)),
            el('td', { class: 'num' }, o.cosine === null ? '–' : o.cosine.toFixed(6)),
            el('td', { class: 'num' }, o.top1Agreement === undefined || o.top1Agreement === null ? '–' : `${(o.top1Agreement * 100).toFixed(1)}%`),
            el('td', {}, el('vscode-icon', { name: o.ok ? 'pass' : 'error', class: o.ok ? 'ok' : 'bad' }), o.note ? ` ${o.note}` : ''),
          ),
        ),
      ),
    ),
    remote
      ? el('p', { class: 'muted' }, `Local run ${formatMs(c.latencyA)}; the endpoint's round trip ${formatMs(c.latencyB)} (HTTP, JSON and its own run).`)
      : el('p', { class: 'muted' }, `Latency: A ${formatMs(c.latencyA)}, B ${formatMs(c.latencyB)} (B/A ${(c.latencyB / c.latencyA).toFixed(2)}×, medians of 5 runs each)`),
  );
}

function compareTab(): HTMLElement {
  const c = state.compare;
  const set = setter(c);
  return el(
    'div',
    { class: 'tab-body' },
    el(
      'div',
      { class: 'input-row' },
      field('A', el('code', { class: 'target' }, state.model.label)),
      field('B', el('div', { class: 'file' }, el('vscode-button', { id: 'pick-target', secondary: true, icon: 'versions' }, 'Choose…'), c.target ? el('code', { class: 'target', title: c.target.detail ?? c.target.uri }, c.target.label) : el('span', { class: 'muted' }, 'another file, or another version from the registry'))),
    ),
    el(
      'div',
      { class: 'input-row' },
      field('Absolute tolerance', numberField(c.atol, (v) => set({ atol: v }))),
      field('Relative tolerance', numberField(c.rtol, (v) => set({ rtol: v }))),
      field('Minimum cosine', numberField(c.minCosine, (v) => set({ minCosine: v }))),
    ),
    el('div', { class: 'toolbar' }, el('vscode-button', { id: 'compare', icon: 'diff', disabled: !inputs || !c.target || !!busy }, 'Compare')),
    errorBox('compare'),
    c.result ? compareTable(c.result) : el('p', { class: 'placeholder' }, 'Both models run on the same inputs; each output is compared and the verdict checked against the tolerances.'),
  );
}

function remoteTab(): HTMLElement {
  const r = state.remote;
  const set = setter(r);
  return el(
    'div',
    { class: 'tab-body' },
    el(
      'p',
      { class: 'lead' },
      'Send the same inputs to an Open Inference Protocol (KServe V2) endpoint and compare its answer with a local run.',
    ),
    el(
      'div',
      { class: 'input-row' },
      field('Endpoint', textfield(r.url, (v) => set({ url: v.trim() }), { class: 'wide' }), 'base URL, e.g. http://127.0.0.1:8080'),
      field('Model name', textfield(r.model, (v) => set({ model: v.trim() }))),
    ),
    el(
      'div',
      { class: 'toolbar' },
      el('vscode-button', { id: 'remote', icon: 'cloud', disabled: !inputs || !!busy || !r.url }, 'Send and Compare'),
      serving
        ? el('span', { class: 'serving' }, el('vscode-icon', { name: 'broadcast' }), ' serving at ', el('code', {}, serving))
        : el('vscode-button', { id: 'serve', icon: 'broadcast', secondary: true, disabled: !!busy }, 'Serve This Model Locally'),
    ),
    errorBox('remote'),
    r.result ? compareTable(r.result, true) : null,
  );
}

function errorBox(what: string): HTMLElement | null {
  if (!lastError || lastError.what !== what) return null;
  return el(
    'div',
    { class: 'error-box', role: 'alert' },
    el('vscode-icon', { name: 'error' }),
    el('div', {}, el('div', {}, lastError.message), lastError.hint ? el('div', { class: 'hint' }, lastError.hint) : null),
    el('vscode-button', { id: 'show-log', secondary: true }, 'Show Log'),
  );
}

// ------------------------------------------------------------------------------------------------------------------
// Page

function header(): HTMLElement {
  return el(
    'header',
    {},
    el('div', { class: 'title' }, el('vscode-icon', { name: 'beaker', size: 22, class: 'title-icon' }), el('h1', {}, state.model.label)),
    el(
      'div',
      { class: 'meta' },
      state.model.detail ? el('span', { class: 'path' }, state.model.detail) : null,
      sessionError
        ? el('span', { class: 'bad' }, el('vscode-icon', { name: 'error' }), ` ${sessionError.message}`)
        : loadMs !== undefined
          ? el('span', { class: 'muted' }, `loaded in ${formatMs(loadMs)} · ${inputs?.length ?? 0} inputs · ${outputs.length} outputs · providers: ${providers.join(', ')}`)
          : null,
      busy ? el('span', { class: 'busy' }, el('vscode-progress-ring', {}), ` ${busyText()}`) : null,
    ),
    sessionError?.hint ? el('p', { class: 'hint' }, sessionError.hint) : null,
  );
}

function busyText(): string {
  switch (busy?.what) {
    case 'load':
      return 'loading the model…';
    case 'run':
      return 'running…';
    case 'benchmark':
      return 'benchmarking…';
    case 'compare':
      return 'comparing…';
    case 'remote':
      return 'asking the endpoint…';
    default:
      return busy?.detail ?? '';
  }
}

function tabs(): HTMLElement {
  const t = el(
    'vscode-tabs',
    { 'selected-index': TABS.indexOf(state.tab), panel: true },
    el('vscode-tab-header', { slot: 'header', 'data-tab': 'run' }, 'Run'),
    el('vscode-tab-panel', {}, runTab()),
    el('vscode-tab-header', { slot: 'header', 'data-tab': 'benchmark' }, 'Benchmark'),
    el('vscode-tab-panel', {}, benchTab()),
    el('vscode-tab-header', { slot: 'header', 'data-tab': 'compare' }, 'Compare'),
    el('vscode-tab-panel', {}, compareTab()),
    el('vscode-tab-header', { slot: 'header', 'data-tab': 'remote' }, 'Remote'),
    el('vscode-tab-panel', {}, remoteTab()),
  );
  t.addEventListener('vsc-tabs-select', (e: Event) => {
    const i = (e as CustomEvent<{ selectedIndex: number }>).detail.selectedIndex;
    state.tab = TABS[i] ?? 'run';
    save();
  });
  return t;
}

function render(): void {
  const body: Node[] = [header()];
  if (inputs) {
    body.push(
      el('section', { class: 'inputs' }, el('h2', {}, 'Inputs'), inputs.length ? inputs.map(inputCard) : el('p', { class: 'muted' }, 'This model takes no inputs.')),
      optionsPanel(),
      tabs(),
    );
  } else if (!sessionError) {
    body.push(el('p', { class: 'placeholder' }, 'Loading the model in the inference process…'));
  }
  app.replaceChildren(...body);
  wire();
}

function feeds(): Record<string, InputSpec> {
  return Object.fromEntries((inputs ?? []).map((i) => [i.name, state.specs[i.name]!]));
}

function threadList(): number[] {
  return state.bench.threads
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((x) => Math.trunc(Number(x)))
    .filter((x) => x >= 1)
    .slice(0, 16);
}

function wire(): void {
  const on = (id: string, f: () => void) => document.getElementById(id)?.addEventListener('click', f);
  on('run', () => {
    lastError = undefined;
    post({ type: 'run', inputs: feeds(), options: state.options });
  });
  on('cancel', () => post({ type: 'cancel' }));
  on('save-npy', () => post({ type: 'saveOutputs', run: selectedRun()!.id, format: 'npy' }));
  on('save-json', () => post({ type: 'saveOutputs', run: selectedRun()!.id, format: 'json' }));
  on('bench', () => {
    lastError = undefined;
    const b = state.bench;
    post({ type: 'benchmark', inputs: feeds(), options: state.options, warmup: b.warmup, runs: b.runs, ...(b.budgetMs ? { budgetMs: b.budgetMs } : {}), threads: threadList() });
  });
  on('save-bench', () => post({ type: 'saveBenchmark' }));
  on('pick-target', () => post({ type: 'pickCompareTarget' }));
  on('compare', () => {
    lastError = undefined;
    const c = state.compare;
    post({ type: 'compare', inputs: feeds(), options: state.options, tolerances: { atol: c.atol, rtol: c.rtol, minCosine: c.minCosine } });
  });
  on('remote', () => {
    lastError = undefined;
    post({ type: 'remote', url: state.remote.url, model: state.remote.model, inputs: feeds(), options: state.options });
  });
  on('serve', () => post({ type: 'serve' }));
  on('show-log', () => post({ type: 'showLog' }));
  for (const row of document.querySelectorAll<HTMLElement>('tr.run-row')) {
    row.addEventListener('click', () => {
      state.selectedRun = Number(row.dataset.run);
      save();
      render();
    });
  }
}

host.listen((m) => {
  switch (m.type) {
    case 'session':
      inputs = m.inputs;
      outputs = m.outputs;
      providers = m.providers.length ? m.providers : ['cpu'];
      if (!providers.includes(state.options.executionProvider)) state.options.executionProvider = providers[0]!;
      loadMs = m.loadMs;
      sessionError = undefined;
      guessed = m.guessed;
      ensureSpecs(m.shapes, m.sources);
      save();
      break;
    case 'sessionError':
      sessionError = m.error;
      busy = undefined;
      break;
    case 'busy':
      busy = { what: m.what, ...(m.detail ? { detail: m.detail } : {}) };
      progress = undefined;
      break;
    case 'idle':
      busy = undefined;
      progress = undefined;
      break;
    case 'filePicked': {
      const spec = state.specs[m.input];
      if (spec && 'path' in spec.source) spec.source = { ...spec.source, path: m.path };
      save();
      break;
    }
    case 'run':
      state.runs = [m.run, ...state.runs.filter((r) => r.id !== m.run.id)].slice(0, 20);
      state.selectedRun = m.run.id;
      save();
      break;
    case 'error':
      lastError = { what: m.what, ...m.error };
      break;
    case 'benchProgress':
      progress = { done: m.done, total: m.total };
      break;
    case 'benchmark':
      state.bench.results = m.results;
      save();
      break;
    case 'compareTarget':
      state.compare.target = m.target;
      state.compare.result = undefined;
      save();
      break;
    case 'compare':
      state.compare.result = m.result;
      save();
      break;
    case 'remote':
      state.remote.result = m.result;
      save();
      break;
    case 'serving':
      serving = m.url;
      if (m.url) state.remote.url = m.url;
      save();
      break;
  }
  render();
});

save();
render();
post({ type: 'ready' });
