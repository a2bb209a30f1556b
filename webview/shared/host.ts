import type * as z from 'zod/mini';
import { validate } from '../../src/shared/contract';

interface VsCodeApi<S> {
  postMessage(message: unknown): void;
  getState(): S | undefined;
  setState(state: S): S;
}
declare function acquireVsCodeApi<S>(): VsCodeApi<S>;

/** Persisted webview state is versioned: a state of another version is dropped, not misread. */
export interface Persisted<T> {
  __v: number;
  data: T;
}

/** The webview's side of a panel contract: typed, validated messages and versioned persisted state. */
export class Host<ToHost extends { type: string }, ToWebview extends { type: string }, State> {
  private readonly api = acquireVsCodeApi<Persisted<State>>();

  constructor(
    private readonly toWebview: z.ZodMiniType<ToWebview>,
    private readonly stateVersion: number,
  ) {}

  post(message: ToHost): void {
    this.api.postMessage(message);
  }

  /** Listens to the host; messages that do not match the contract are dropped with a console warning. */
  listen(handler: (message: ToWebview) => void): void {
    window.addEventListener('message', (event: MessageEvent<unknown>) => {
      const v = validate(this.toWebview, event.data);
      if (!v.ok) {
        console.warn(`[modelyard] dropped a malformed message from the extension: ${v.error}`);
        return;
      }
      handler(v.value);
    });
  }

  get state(): State | undefined {
    const s = this.api.getState();
    return s && s.__v === this.stateVersion ? s.data : undefined;
  }

  set state(data: State) {
    this.api.setState({ __v: this.stateVersion, data });
  }
}

/** Reads the initial state the host wrote into `#app[data-initial]`; undefined when missing or malformed. */
export function readInitial<T>(schema: z.ZodMiniType<T>): T | undefined {
  const raw = document.getElementById('app')?.dataset.initial;
  if (!raw) return undefined;
  try {
    const v = validate(schema, JSON.parse(raw));
    return v.ok ? v.value : undefined;
  } catch {
    return undefined;
  }
}

export type Child = Node | string | number | null | undefined | false;

/** Builds DOM without innerHTML: text is always text. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Record<string, string | boolean | number | undefined>,
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K];
export function el(tag: string, attrs?: Record<string, string | boolean | number | undefined>, ...children: (Child | Child[])[]): HTMLElement;
export function el(tag: string, attrs?: Record<string, string | boolean | number | undefined>, ...children: (Child | Child[])[]): HTMLElement {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === false) continue;
    node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(typeof c === 'object' ? c : String(c));
  }
  return node;
}
