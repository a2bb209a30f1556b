// The Inputs section (a card per model input: its shape and where its values come from) and the session options.
import { randomSourceFor, type InputSource, type InputSpec, type SessionOptionsView, type TensorInfoView } from '../../src/shared/protocol/playground';
import { field, select, textfield } from '../shared/controls';
import { el } from '../shared/host';
import { formatDims } from './format';
import { numberField, type View } from './view';

/** Gives each input without a spec of its rank one: the host's shape and source, or random values. */
export function ensureSpecs(v: View, shapes: Record<string, number[]>, sources: Record<string, InputSource>): void {
  for (const info of v.session.inputs ?? []) {
    const spec = v.state.specs[info.name];
    const shape = shapes[info.name] ?? [];
    if (!spec || spec.shape.length !== shape.length) v.state.specs[info.name] = { shape, source: sources[info.name] ?? randomSourceFor(info.dtype) };
  }
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

function sourceControls(v: View, info: TensorInfoView, spec: InputSpec): HTMLElement[] {
  const s = spec.source;
  const set = (next: InputSource) => {
    spec.source = next;
    v.save();
    v.render();
  };
  const num = (value: number, onChange: (n: number) => void) => numberField(v, value, onChange);
  const pick = (kind: 'npy' | 'image' | 'wav' | 'json'): HTMLElement =>
    withPick(
      v,
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
        field('Seed', num(s.seed, (x) => set({ ...s, seed: Math.trunc(x) }))),
        field('Distribution', select(s.distribution, [['uniform', 'Uniform'], ['normal', 'Normal']] as const, (x) => set({ ...s, distribution: x }))),
        ...(s.distribution === 'uniform'
          ? [field('Min', num(s.min, (x) => set({ ...s, min: x }))), field('Max', num(s.max, (x) => set({ ...s, max: x })))]
          : [field('Mean', num(s.mean, (x) => set({ ...s, mean: x }))), field('Std', num(s.std, (x) => set({ ...s, std: x })))]),
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
        field('Layout', select(s.layout, [['NCHW', 'NCHW'], ['NHWC', 'NHWC']] as const, (x) => set({ ...s, layout: x }))),
        field('Channels', select(s.channelOrder, [['RGB', 'RGB'], ['BGR', 'BGR']] as const, (x) => set({ ...s, channelOrder: x }))),
        field('Scale', num(s.scale, (x) => set({ ...s, scale: x })), 'pixel × scale'),
        field('Mean', textfield(s.mean.join(', '), (x) => set({ ...s, mean: numbers(x, s.mean) })), 'per channel'),
        field('Std', textfield(s.std.join(', '), (x) => set({ ...s, std: numbers(x, s.std) })), 'per channel'),
      ];
    case 'wav':
      return [
        pick('wav'),
        field('Sample rate', textfield(s.sampleRate ?? '', (x) => set({ ...s, sampleRate: x.trim() ? Math.trunc(Number(x)) || undefined : undefined }), { placeholder: 'as recorded' }), 'resampled to this rate'),
      ];
  }
}

function withPick(v: View, node: HTMLElement, input: string, kind: 'npy' | 'image' | 'wav' | 'json'): HTMLElement {
  node.querySelector('vscode-button')?.addEventListener('click', () => {
    void v.request('pickFile', { input, kind }).then((path) => {
      const spec = v.state.specs[input];
      if (!path || !spec || !('path' in spec.source)) return;
      spec.source = { ...spec.source, path };
      v.save();
      v.render();
    });
  });
  return node;
}

function numbers(text: string, fallback: number[]): number[] {
  const xs = text.split(/[\s,]+/).filter(Boolean).map(Number);
  return xs.length && xs.every(Number.isFinite) ? xs.slice(0, 4) : fallback;
}

/** An open dim whose size nothing suggests (neither a batch nor an image size): the user should set it. */
function isGuess(v: View, input: string, index: number): boolean {
  return v.session.guessed.some((g) => g.input === input && g.index === index && g.reason === 'default');
}

export function inputCard(v: View, info: TensorInfoView): HTMLElement {
  const spec = v.state.specs[info.name]!;
  const declared = info.shape ?? [];
  const dims = spec.shape.map((d, i) => {
    const fixed = typeof declared[i] === 'number' && (declared[i] as number) > 0;
    return el(
      'span',
      { class: 'dim' },
      numberField(v, d, (x) => {
        spec.shape[i] = Math.max(0, Math.trunc(x));
        v.save();
        v.render();
      }, { disabled: fixed, title: fixed ? 'fixed by the model' : `symbolic dim ${declared[i] ?? '?'}`, class: 'dim-field' }),
      fixed ? null : el('span', { class: isGuess(v, info.name, i) ? 'dim-name guess' : 'dim-name', title: isGuess(v, info.name, i) ? 'a guess: the model leaves this size open' : '' }, String(declared[i] || '?')),
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
    el('div', { class: 'input-row' }, field('Shape', dims.length ? el('div', { class: 'dims' }, dims) : el('span', { class: 'muted scalar' }, 'scalar'), spec.shape.some((_, i) => isGuess(v, info.name, i)) ? 'set the open sizes' : undefined), field('Source', select(spec.source.kind, SOURCES, (k) => {
      spec.source = sourceFor(k, info);
      v.save();
      v.render();
    }))),
    el('div', { class: 'input-row' }, ...sourceControls(v, info, spec)),
  );
}

export function optionsPanel(v: View): HTMLElement {
  const o = v.state.options;
  const set = (next: Partial<SessionOptionsView>) => {
    Object.assign(o, next);
    v.save();
    v.post({ type: 'load', options: o });
    v.render();
  };
  return el(
    'vscode-collapsible',
    { title: 'Session options', description: `${o.intraOpThreads || 'auto'} threads · optimisation ${o.graphOptimizationLevel} · ${o.executionProvider}`, class: 'options' },
    el(
      'div',
      { class: 'input-row' },
      field('Intra-op threads', numberField(v, o.intraOpThreads, (x) => set({ intraOpThreads: Math.max(0, Math.trunc(x)) })), '0 = onnxruntime decides'),
      field('Graph optimisation', select(o.graphOptimizationLevel, [['all', 'All'], ['extended', 'Extended'], ['basic', 'Basic'], ['disabled', 'Disabled']] as const, (x) => set({ graphOptimizationLevel: x }))),
      field('Execution provider', select(o.executionProvider, v.session.providers.map((p) => [p, p] as const), (x) => set({ executionProvider: x }))),
    ),
  );
}
