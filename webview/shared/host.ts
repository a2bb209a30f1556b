import type * as z from 'zod/mini';
import { responseEnvelope, validate, type ParamsOf, type RequestMap, type ResultOf } from '../../src/shared/contract';

interface VsCodeApi<S> {
  postMessage(message: unknown): void;
  getState(): S | undefined;
  setState(state: S): S;
}
declare function acquireVsCodeApi<S>(): VsCodeApi<S>;

/** Persisted webview state is versioned: a state of another version is dropped, not misread. */
export interface Persisted<T> {
  __v: number;
  data: T | undefined;
  /** What the host restores the panel from after a reload (#app[data-restore]); kept whatever the version. */
  restore?: unknown;
}

/** A request's answer that is an error: the message and hint the host gave. */
export class RequestError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** The webview's side of a panel contract: typed, validated messages and versioned persisted state. */
export class Host<ToHost extends { type: string }, ToWebview extends { type: string }, State, Requests extends RequestMap = RequestMap> {
  private readonly api = acquireVsCodeApi<Persisted<State>>();
  private readonly restore: unknown;
  private nextRequest = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; result: z.ZodMiniType<unknown> }>();

  constructor(
    private readonly toWebview: z.ZodMiniType<ToWebview>,
    private readonly stateVersion: number,
    private readonly requests?: Requests,
  ) {
    const raw = document.getElementById('app')?.dataset.restore;
    try {
      this.restore = raw ? JSON.parse(raw) : undefined;
    } catch {
      this.restore = undefined;
    }
    // The restore key is persisted at once, so a panel closed by a reload before its first state change comes back.
    if (this.restore !== undefined) {
      const s = this.api.getState();
      this.api.setState({ __v: s?.__v ?? this.stateVersion, data: s?.data, restore: this.restore });
    }
    window.addEventListener('message', (event: MessageEvent<unknown>) => {
      const r = validate(responseEnvelope, event.data);
      if (!r.ok) return;
      const p = this.pending.get(r.value.id);
      if (!p) return;
      this.pending.delete(r.value.id);
      if (!r.value.ok) return p.reject(new RequestError(r.value.error.message, r.value.error.hint));
      const v = validate(p.result, r.value.result);
      if (v.ok) p.resolve(v.value);
      else p.reject(new RequestError(`the host's answer does not match the contract: ${v.error}`));
    });
  }

  post(message: ToHost): void {
    this.api.postMessage(message);
  }

  /** Asks the host and awaits its answer (a picker, a confirmation): params and result checked against the contract. */
  request<M extends keyof Requests & string>(method: M, params: ParamsOf<Requests[M]>): Promise<ResultOf<Requests[M]>> {
    const spec = this.requests?.[method];
    if (!spec) return Promise.reject(new RequestError(`'${method}' is not a request of this panel.`));
    const id = this.nextRequest++;
    return new Promise<ResultOf<Requests[M]>>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, result: spec.result as z.ZodMiniType<unknown> });
      this.api.postMessage({ type: 'request', id, method, params });
    });
  }

  /** Listens to the host; messages that do not match the contract are dropped with a console warning. */
  listen(handler: (message: ToWebview) => void): void {
    window.addEventListener('message', (event: MessageEvent<unknown>) => {
      if ((event.data as { type?: unknown } | null)?.type === 'response') return;
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
    this.api.setState({ __v: this.stateVersion, data, ...(this.restore !== undefined ? { restore: this.restore } : {}) });
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
