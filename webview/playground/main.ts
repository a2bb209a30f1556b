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
import { playgroundInitial, playgroundRequests, playgroundToWebview, type PlaygroundTab, type PlaygroundToHost, type PlaygroundToWebview } from '../../src/shared/protocol/playground';
import { Host, el, readInitial } from '../shared/host';
import { benchTab } from './benchmark';
import { compareTab } from './compare';
import { header } from './header';
import { ensureSpecs, inputCard, optionsPanel } from './inputs';
import { remoteTab } from './remote';
import { runTab } from './run';
import type { Session, State, View } from './view';
import '../shared/base.css';
import '../shared/page.css';
import '../shared/grid.css';
import './style.css';

const STATE_VERSION = 1;
const host = new Host<PlaygroundToHost, PlaygroundToWebview, State, typeof playgroundRequests>(playgroundToWebview, STATE_VERSION, playgroundRequests);
const app = document.getElementById('app')!;
const initial = readInitial(playgroundInitial);

function modelName(label: string): string {
  return label.replace(/\.onnx$/i, '').replace(/[^A-Za-z0-9_.-]+/g, '-') || 'model';
}

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
if (initial?.remote) Object.assign(state.remote, { url: initial.remote.url, model: initial.remote.model, result: undefined });

const session: Session = { outputs: [], providers: ['cpu'], busy: { what: 'load' }, serving: initial?.defaults.serveUrl ?? null, guessed: [] };

const view: View = {
  state,
  session,
  save: () => {
    host.state = state;
  },
  render,
  post: (m) => host.post(m),
  request: (method, params) => host.request(method, params),
};

/** The tabs, each with its module; the one shown is kept. */
const TABS: [PlaygroundTab, string, (v: View) => HTMLElement][] = [
  ['run', 'Run', runTab],
  ['benchmark', 'Benchmark', benchTab],
  ['compare', 'Compare', compareTab],
  ['remote', 'Remote', remoteTab],
];

function tabs(): HTMLElement {
  const t = el(
    'vscode-tabs',
    { 'selected-index': TABS.findIndex(([id]) => id === state.tab), panel: true },
    TABS.flatMap(([id, title, body]) => [el('vscode-tab-header', { slot: 'header', 'data-tab': id }, title), el('vscode-tab-panel', {}, body(view))]),
  );
  t.addEventListener('vsc-tabs-select', (e: Event) => {
    const i = (e as CustomEvent<{ selectedIndex: number }>).detail.selectedIndex;
    state.tab = TABS[i]?.[0] ?? 'run';
    view.save();
  });
  return t;
}

function render(): void {
  const body: Node[] = [header(view)];
  if (session.inputs) {
    body.push(
      el('section', { class: 'inputs' }, el('h2', {}, 'Inputs'), session.inputs.length ? session.inputs.map((i) => inputCard(view, i)) : el('p', { class: 'muted' }, 'This model takes no inputs.')),
      optionsPanel(view),
      tabs(),
    );
  } else if (!session.error) {
    body.push(el('p', { class: 'placeholder' }, 'Loading the model in the inference process…'));
  }
  app.replaceChildren(...body);
}

host.listen((m) => {
  switch (m.type) {
    case 'session':
      session.inputs = m.inputs;
      session.outputs = m.outputs;
      session.providers = m.providers.length ? m.providers : ['cpu'];
      if (!session.providers.includes(state.options.executionProvider)) state.options.executionProvider = session.providers[0]!;
      session.loadMs = m.loadMs;
      session.error = undefined;
      session.guessed = m.guessed;
      ensureSpecs(view, m.shapes, m.sources);
      view.save();
      break;
    case 'sessionError':
      session.error = m.error;
      session.busy = undefined;
      break;
    case 'busy':
      session.busy = { what: m.what, ...(m.detail ? { detail: m.detail } : {}) };
      session.progress = undefined;
      break;
    case 'idle':
      session.busy = undefined;
      session.progress = undefined;
      break;
    case 'run':
      state.runs = [m.run, ...state.runs.filter((r) => r.id !== m.run.id)].slice(0, 20);
      state.selectedRun = m.run.id;
      view.save();
      break;
    case 'error':
      session.lastError = { what: m.what, ...m.error };
      break;
    case 'benchProgress':
      session.progress = { done: m.done, total: m.total };
      break;
    case 'benchmark':
      state.bench.results = m.results;
      view.save();
      break;
    case 'compareTarget':
      state.compare.target = m.target;
      state.compare.result = undefined;
      view.save();
      break;
    case 'compare':
      state.compare.result = m.result;
      view.save();
      break;
    case 'remote':
      state.remote.result = m.result;
      view.save();
      break;
    case 'serving':
      session.serving = m.url;
      if (m.url) state.remote.url = m.url;
      view.save();
      break;
    case 'remoteEndpoint':
      Object.assign(state.remote, { url: m.url, model: m.model, result: undefined });
      state.tab = 'remote';
      view.save();
      break;
  }
  render();
});

view.save();
render();
view.post({ type: 'ready' });
