import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-progress-bar/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import {
  quantizeInitial,
  quantizeRequests,
  quantizeToWebview,
  type QuantizeOptionsView,
  type QuantizeToHost,
  type QuantizeToWebview,
  type ReportView,
} from '../../src/shared/protocol/quantize';
import { formatBytes } from '../../src/shared/format';
import { button, checkbox, field, select, textfield } from '../shared/controls';
import { Host, el, readInitial } from '../shared/host';
import { table, type Column } from '../shared/table';
import { formatMs } from '../playground/format';
import '../shared/base.css';
import '../shared/page.css';
import '../shared/grid.css';
import './style.css';

interface State {
  uri: string;
  options: QuantizeOptionsView;
  report?: ReportView;
  registered?: { name: string; version: string; tag: string };
  registerName?: string;
  registerAs?: 'model' | 'version';
  registerVersion?: string;
}

const STATE_VERSION = 1;
const host = new Host<QuantizeToHost, QuantizeToWebview, State, typeof quantizeRequests>(quantizeToWebview, STATE_VERSION, quantizeRequests);
const app = document.getElementById('app')!;
const initial = readInitial(quantizeInitial);

const DEFAULT_OPTIONS: QuantizeOptionsView = {
  mode: initial?.defaults.mode ?? 'auto',
  perChannel: true,
  exclude: '',
  blockSize: 32,
  symmetric: true,
  method: 'minmax',
  sensitivity: true,
  keepIoTypes: true,
  calibration: '',
};
const kept = host.state;
const state: State = kept && kept.uri === initial?.model.uri ? kept : { uri: initial?.model.uri ?? '', options: { ...DEFAULT_OPTIONS } };

let running: { message: string; fraction?: number } | undefined;
let error: { message: string; hint?: string } | undefined;
let cancelled = false;

const MODES: readonly (readonly [QuantizeOptionsView['mode'], string, string])[] = [
  ['auto', 'Auto', 'Profiles the model, tries the forms that suit it, and keeps the best one that passes the fidelity gate.'],
  ['int8-dynamic', 'int8 dynamic', 'MatMul and Gemm weights in int8, activations quantized at run time (DynamicQuantizeMatMul). Fast on CPU for MatMul-heavy models; no calibration.'],
  ['int8-static', 'int8 static (QDQ)', 'Weights and activations in int8 from calibration ranges; Conv, MatMul and Gemm run as QLinearConv / QGemm. Best for Conv models; needs representative inputs.'],
  ['int4', 'int4 weight-only', 'MatMul / Gemm weights in 4 bits per block (MatMulNBits): the smallest file for weight-heavy models.'],
  ['int8-weight', 'int8 weight-only', 'MatMul / Gemm weights in 8 bits per block (MatMulNBits).'],
  ['fp16', 'float16', 'Half the size; inputs and outputs stay float32. No speed-up on CPU.'],
  ['fp32', 'float16 → float32', 'Converts a float16 model back to float32.'],
];

const LABEL: Record<string, string> = Object.fromEntries(MODES.map(([m, l]) => [m, l]));

function save(): void {
  host.state = state;
}

function setOptions(next: Partial<QuantizeOptionsView>): void {
  Object.assign(state.options, next);
  save();
  render();
}

function post(m: QuantizeToHost): void {
  host.post(m);
}

const fileName = (p: string) => p.split(/[\\/]/).pop() ?? p;

async function pickCalibration(kind: 'folder' | 'tests'): Promise<void> {
  const picked = await host.request('pickCalibration', { kind });
  if (picked) setOptions({ calibration: picked });
}

function calibrationControls(): HTMLElement {
  const o = state.options;
  const tests = initial?.testFiles ?? [];
  const current = o.calibration;
  const options: [string, string][] = [['', 'Random inputs (seeded)'], ...tests.map((t): [string, string] => [t, `Model tests: ${fileName(t)}`])];
  if (current && !options.some(([v]) => v === current)) options.push([current, `Folder: ${fileName(current)}`]);
  return el(
    'div',
    { class: 'calibration' },
    select(current, options, (v) => setOptions({ calibration: v }), { class: 'calibration-select', 'aria-label': 'Calibration data' }),
    button('Folder…', () => void pickCalibration('folder'), { secondary: true, icon: 'folder-opened' }),
    button('Tests File…', () => void pickCalibration('tests'), { secondary: true, icon: 'beaker' }),
  );
}

/** Input shapes: one field per input with open dims, empty for the guess shown as its placeholder. */
function shapeControls(): HTMLElement | null {
  const open = initial?.openInputs ?? [];
  if (!open.length) return null;
  const o = state.options;
  return el(
    'div',
    { class: 'grid shapes', 'aria-label': 'Input shapes' },
    ...open.map((i) =>
      field(
        `Input shape: ${i.name} ${i.declared}`,
        textfield(o.shapes?.[i.name] ?? '', (v) => setOptions({ shapes: { ...o.shapes, [i.name]: v.trim() } }), { placeholder: i.guess, class: 'shape', 'aria-label': `Shape of ${i.name}` }),
        `Empty: ${i.guess}${i.why ? ` (guessed: ${i.why}; other usual sizes are tried if the model refuses it)` : ''}. Random inputs take this shape; files bring their own.`,
      ),
    ),
  );
}

function settings(): HTMLElement {
  const o = state.options;
  const mode = MODES.find(([m]) => m === o.mode)!;
  // The options of each form, grouped: Auto shows every group it may try.
  const groups: { title: string; controls: HTMLElement[] }[] = [];
  const is = (...modes: QuantizeOptionsView['mode'][]) => o.mode === 'auto' || modes.includes(o.mode);
  if (is('int8-dynamic', 'int8-static')) {
    const int8: HTMLElement[] = [checkbox('Per-channel weight scales', o.perChannel, (v) => setOptions({ perChannel: v }), { class: 'per-channel' })];
    if (is('int8-static')) {
      int8.push(
        field('Calibration method', select(o.method, [['minmax', 'MinMax'], ['percentile', 'Percentile (99.999)']] as const, (v) => setOptions({ method: v }))),
        checkbox('Sensitivity pass: keep the layers that hurt fidelity most in float', o.sensitivity, (v) => setOptions({ sensitivity: v })),
      );
    }
    groups.push({ title: 'int8', controls: int8 });
  }
  if (is('int4', 'int8-weight')) {
    groups.push({
      title: 'Weight-only (MatMulNBits)',
      controls: [
        field('Block size', select(String(o.blockSize) as '32', [['16', '16'], ['32', '32'], ['64', '64'], ['128', '128'], ['256', '256']] as const, (v) => setOptions({ blockSize: Number(v) as 32 }))),
        checkbox('Symmetric (no zero points)', o.symmetric, (v) => setOptions({ symmetric: v })),
      ],
    });
  }
  if (is('fp16')) groups.push({ title: 'float16', controls: [checkbox('Keep float32 inputs and outputs', o.keepIoTypes, (v) => setOptions({ keepIoTypes: v }))] });
  const forMode = groups.map((g) => el('div', { class: 'option-group' }, el('span', { class: 'group-title' }, g.title), el('div', { class: 'group-controls' }, ...g.controls)));
  return el(
    'section',
    { class: 'settings' },
    el('h2', {}, 'Settings'),
    el('div', { class: 'grid' }, field('Form', select(o.mode, MODES.map(([m, l]) => [m, l] as const), (v) => setOptions({ mode: v }), { class: 'mode-select', 'aria-label': 'Form' }), mode[2])),
    el('div', { class: 'grid' }, field('Calibration and validation data', calibrationControls(), 'A folder (one .npy/.json/image/.wav a sample, or one folder a sample), or model tests. Fidelity is measured on these inputs.')),
    shapeControls(),
    el('div', { class: 'grid' }, field('Keep in float', textfield(o.exclude, (v) => setOptions({ exclude: v }), { placeholder: 'op types or node names: Conv, /head/MatMul', class: 'exclude' }))),
    forMode.length ? el('div', { class: 'options' }, ...forMode) : null,
    el(
      'div',
      { class: 'actions' },
      running
        ? button('Cancel', () => post({ type: 'cancel' }), { secondary: true, icon: 'debug-stop', class: 'cancel' })
        : button('Quantize', () => {
            error = undefined;
            cancelled = false;
            running = { message: 'Starting…' };
            state.report = undefined;
            state.registered = undefined;
            save();
            render();
            post({ type: 'start', options: state.options });
          }, { icon: 'zap', class: 'start' }),
      el('span', { class: 'muted' }, `Gate: cosine ≥ ${initial?.defaults.minCosine ?? 0.99}, top-1 ≥ ${((initial?.defaults.minTop1 ?? 0.99) * 100).toFixed(0)}% (settings: modelyard.quantize.*)`),
    ),
  );
}

// ------------------------------------------------------------------------------------------------------------------
// Report

const n4 = (v: number | null | undefined) => (v === null || v === undefined ? '–' : v.toFixed(4));

function tile(label: string, value: string, detail: string, cls = ''): HTMLElement {
  return el('div', { class: `tile ${cls}` }, el('div', { class: 'tile-label' }, label), el('div', { class: 'tile-value' }, value), el('div', { class: 'tile-detail' }, detail));
}

type Fidelity = ReportView['fidelity']['outputs'][number];
type Candidate = NonNullable<ReportView['auto']>['candidates'][number];
type Group = ReportView['groups'][number];

const OUTPUT_COLUMNS: Column<Fidelity>[] = [
  { head: 'Output', class: 'name', cell: (o) => o.name },
  { head: 'Cosine', class: 'num', cell: (o) => n4(o.cosine) },
  { head: 'Max |error|', class: 'num', cell: (o) => (o.maxAbsError === null ? '∞' : o.maxAbsError.toPrecision(3)) },
  { head: 'Top-1 agreement', class: 'num', cell: (o) => (o.top1 === undefined ? '–' : `${(o.top1 * 100).toFixed(1)}%`) },
  { head: '', cell: (o) => el('vscode-icon', { name: o.pass ? 'check' : 'close', class: o.pass ? 'good' : 'bad', title: o.reasons.join('; ') }) },
];

function autoColumns(chosen: Candidate['mode']): Column<Candidate>[] {
  return [
    { head: 'Form', class: 'name', cell: (c) => [c.mode === chosen ? el('vscode-icon', { name: 'arrow-right' }) : null, LABEL[c.mode]] },
    { head: 'Size', class: 'num', cell: (c) => (c.error ? '–' : `×${c.sizeRatio.toFixed(2)}`) },
    { head: 'Worst cosine', class: 'num', cell: (c) => n4(c.worstCosine) },
    { head: 'Latency', class: 'num', cell: (c) => (c.latencyRatio === null ? '–' : `×${c.latencyRatio.toFixed(2)}`) },
    { head: 'Result', cell: (c) => (c.error ? `failed: ${c.error}` : c.pass ? 'passes' : c.reasons.join('; ')) },
  ];
}

const DECISION_COLUMNS: Column<Group>[] = [
  { head: '', cell: (g) => el('vscode-icon', { name: g.action === 'converted' ? 'check' : 'circle-slash', class: g.action === 'converted' ? 'good' : 'muted' }) },
  { head: 'Op', class: 'name', cell: (g) => g.opType },
  { head: 'Count', class: 'num', cell: (g) => String(g.count) },
  { head: 'Became / why', cell: (g) => [g.form ? el('code', {}, g.form) : null, g.form ? ' · ' : null, g.reason, g.action === 'kept' && g.nodes.length && g.nodes.length <= 6 ? el('span', { class: 'muted' }, ` (${g.nodes.join(', ')})`) : null] },
];

function reportView(r: ReportView): HTMLElement {
  const cos = r.fidelity.worstCosine;
  const cosOk = cos === null || cos >= r.thresholds.minCosine;
  const lat = r.latency;
  return el(
    'section',
    { class: 'report' },
    el(
      'div',
      { class: `verdict ${r.verdict.pass ? 'pass' : 'fail'}` },
      el('vscode-icon', { name: r.verdict.pass ? 'pass-filled' : 'error' }),
      el(
        'div',
        {},
        el('strong', {}, r.verdict.pass ? `Passes the fidelity gate: ${LABEL[r.mode]}` : `Fails the fidelity gate: ${LABEL[r.mode]}`),
        r.requestedMode === 'auto' && r.auto ? el('div', { class: 'why' }, `Auto chose ${r.auto.why}`) : null,
        ...r.verdict.reasons.map((x) => el('div', { class: 'reason' }, x)),
      ),
    ),
    el(
      'div',
      { class: 'tiles' },
      tile('Size', `×${r.sizeRatio.toFixed(2)}`, `${formatBytes(r.source.bytes)} → ${formatBytes(r.output.bytes)}`, 'size'),
      tile('Worst cosine', n4(cos), `${r.fidelity.samples} sample${r.fidelity.samples === 1 ? '' : 's'}: ${r.fidelity.source}`, cosOk ? 'good' : 'bad'),
      lat ? tile('Latency', `×${lat.ratio.toFixed(2)}`, `${formatMs(lat.originalMs)} → ${formatMs(lat.quantizedMs)} (${lat.runs} interleaved runs)`, lat.ratio < 1 ? 'good' : '') : null,
      tile('Quantized in', `${r.seconds.toFixed(2)} s`, r.mbPerSecond !== null && r.profile.weightBytes >= 1e6 ? `${r.mbPerSecond.toFixed(0)} MB/s of weights` : `${formatBytes(r.profile.weightBytes)} of float weights`, ''),
    ),
    el('h2', {}, 'Fidelity per output'),
    table('grid outputs', OUTPUT_COLUMNS, r.fidelity.outputs),
    r.auto
      ? el(
          'div',
          {},
          el('h2', {}, 'Auto: forms tried'),
          table('grid auto', autoColumns(r.auto.chosen), r.auto.candidates, (c) => ({ class: c.mode === r.auto!.chosen ? 'chosen' : '' })),
        )
      : null,
    el('h2', {}, `Nodes: ${r.converted} converted, ${r.kept} left alone`),
    table('grid decisions', DECISION_COLUMNS, r.groups, (g) => ({ class: g.action })),
    r.notes.length ? el('ul', { class: 'notes' }, ...r.notes.map((n) => el('li', {}, n))) : null,
    el(
      'div',
      { class: 'actions' },
      button('Open Quantized Model', () => post({ type: 'openOutput' }), { icon: 'go-to-file' }),
      button('Compare in Playground', () => post({ type: 'compare' }), { secondary: true, icon: 'diff' }),
      button('Save Report…', () => post({ type: 'saveReport' }), { secondary: true, icon: 'save' }),
      el('code', { class: 'path', title: r.output.file }, r.output.file),
    ),
    initial?.registry ? registerBox(r) : null,
  );
}

const SUFFIX: Record<string, string> = { 'int8-dynamic': 'int8', 'int8-static': 'int8', int4: 'int4', 'int8-weight': 'int8w', fp16: 'fp16', fp32: 'fp32' };

function registerBox(r: ReportView): HTMLElement {
  if (state.registered) {
    const g = state.registered;
    return el('div', { class: 'register done' }, el('vscode-icon', { name: 'tag' }), el('span', {}, `Registered ${g.name}@${g.version} (tag `, el('code', {}, g.tag), '). It shows in the Models view.'));
  }
  const reg = initial!.registry!;
  const name = state.registerName ?? `${reg.suggestedName}-${SUFFIX[r.mode]}`;
  const asVersion = state.registerAs === 'version' && !!reg.versionOf;
  const version = state.registerVersion ?? reg.versionOf?.next ?? '';
  return el(
    'div',
    { class: 'register' },
    el('h2', {}, 'Register'),
    reg.versionOf
      ? el(
          'div',
          { class: 'register-as' },
          select(
            asVersion ? 'version' : 'model',
            [
              ['model', 'As a new model'],
              ['version', `As a new version of ${reg.versionOf.name}`],
            ] as const,
            (v) => {
              state.registerAs = v;
              save();
              render();
            },
            { class: 'register-as-select', 'aria-label': 'Register as' },
          ),
        )
      : null,
    el(
      'div',
      { class: 'actions' },
      asVersion
        ? textfield(version, (v) => {
            state.registerVersion = v.trim();
            save();
          }, { class: 'register-version', 'aria-label': 'Version' })
        : textfield(name, (v) => {
            state.registerName = v.trim();
            save();
          }, { class: 'register-name', 'aria-label': 'New model name' }),
      button(
        asVersion ? `Register as ${reg.versionOf!.name}@…` : 'Register as New Model',
        () => post(asVersion ? { type: 'register', as: 'version', name: state.registerVersion ?? version } : { type: 'register', as: 'model', name: state.registerName ?? name }),
        { icon: 'tag', class: 'register-button' },
      ),
    ),
    el(
      'div',
      { class: 'muted' },
      asVersion
        ? `Tags a commit on top of HEAD that holds the quantized bytes at ${reg.versionOf!.name}'s path; your branch and files stay as they are. The tag message records the source version and these settings.`
        : 'Commits the file with a dvc.yaml entry and tags its first version; the tag message records the source version and these settings.',
    ),
  );
}

// ------------------------------------------------------------------------------------------------------------------

function render(): void {
  const root = el(
    'div',
    {},
    el(
      'header',
      {},
      el('div', { class: 'title' }, el('vscode-icon', { name: 'zap', size: 22, class: 'title-icon' }), el('h1', {}, `Quantize ${initial?.model.label ?? ''}`)),
      el('div', { class: 'muted' }, initial?.model.detail ?? ''),
    ),
    settings(),
    running
      ? el('div', { class: 'progress' }, el('vscode-progress-bar', running.fraction !== undefined ? { value: Math.round(running.fraction * 100), max: 100 } : { indeterminate: true }), el('span', { class: 'progress-message' }, running.message))
      : null,
    cancelled ? el('div', { class: 'muted cancelled' }, 'Cancelled: nothing was written.') : null,
    error ? el('div', { class: 'error' }, el('vscode-icon', { name: 'error' }), el('div', {}, el('strong', {}, error.message), error.hint ? el('div', {}, error.hint) : null)) : null,
    state.report ? reportView(state.report) : null,
  );
  app.replaceChildren(root);
}

host.listen((m) => {
  switch (m.type) {
    case 'progress':
      running = { message: m.message, ...(m.fraction !== undefined ? { fraction: m.fraction } : {}) };
      break;
    case 'report':
      running = undefined;
      state.report = m.report;
      state.registered = undefined;
      state.registerName = undefined;
      save();
      break;
    case 'error':
      running = undefined;
      error = { message: m.message, ...(m.hint ? { hint: m.hint } : {}) };
      break;
    case 'cancelled':
      running = undefined;
      cancelled = true;
      break;
    case 'registered':
      state.registered = { name: m.name, version: m.version, tag: m.tag };
      save();
      break;
  }
  render();
});

render();
post({ type: 'ready' });
