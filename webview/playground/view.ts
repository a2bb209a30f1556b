// What the Playground's tabs share: the state main.ts keeps, the session it was told about, and the controls and
// boxes more than one tab shows.
import type { BenchView, CompareView, InputSpec, ModelRef, PlaygroundTab, PlaygroundToHost, PlaygroundToWebview, RunView, SessionOptionsView, TensorInfoView, playgroundRequests } from '../../src/shared/protocol/playground';
import { button, textfield } from '../shared/controls';
import { el, type Host } from '../shared/host';

/** What the webview keeps across hides and reloads (versioned by Host). */
export interface State {
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

/** What the host said about the session and the work in hand: not kept, told again after a reload. */
export interface Session {
  inputs?: TensorInfoView[];
  outputs: TensorInfoView[];
  providers: string[];
  loadMs?: number;
  error?: { message: string; hint?: string };
  busy?: { what: string; detail?: string };
  lastError?: { what: string; message: string; hint?: string };
  progress?: { done: number; total: number };
  serving: string | null;
  guessed: { input: string; index: number; reason: string }[];
}

/** The page as the tabs see it. */
export interface View {
  readonly state: State;
  readonly session: Session;
  /** Keeps the state. */
  save(): void;
  /** Draws the page again. */
  render(): void;
  post(m: PlaygroundToHost): void;
  /** Asks the host and awaits the answer (a picker). */
  request: Host<PlaygroundToHost, PlaygroundToWebview, State, typeof playgroundRequests>['request'];
}

/** Changes part of the state: kept, and shown. */
export function setter<T extends object>(v: View, part: T): (next: Partial<T>) => void {
  return (next) => {
    Object.assign(part, next);
    v.save();
    v.render();
  };
}

/** A text field for a number: a finite entry goes to `onChange`, anything else is drawn over with the old value. */
export function numberField(v: View, value: number, onChange: (n: number) => void, attrs: Record<string, string | boolean | number | undefined> = {}): HTMLElement {
  return textfield(value, (text) => {
    const n = Number(text);
    if (text.trim() !== '' && Number.isFinite(n)) onChange(n);
    else v.render();
  }, { inputmode: 'decimal', ...attrs });
}

/** The last error, in the tab of the work that failed. */
export function errorBox(v: View, what: string): HTMLElement | null {
  const e = v.session.lastError;
  if (!e || e.what !== what) return null;
  return el(
    'div',
    { class: 'error-box', role: 'alert' },
    el('vscode-icon', { name: 'error' }),
    el('div', {}, el('div', {}, e.message), e.hint ? el('div', { class: 'hint' }, e.hint) : null),
    button('Show Log', () => v.post({ type: 'showLog' }), { id: 'show-log', secondary: true }),
  );
}

/** The inputs as the host takes them: a spec for each of the model's inputs. */
export function feeds(v: View): Record<string, InputSpec> {
  return Object.fromEntries((v.session.inputs ?? []).map((i) => [i.name, v.state.specs[i.name]!]));
}

/** Starts a piece of work: the last error goes, the request goes to the host. */
export function start(v: View, m: PlaygroundToHost): void {
  v.session.lastError = undefined;
  v.post(m);
}
