import type * as z from 'zod/mini';

/**
 * A webview panel's contract: its view type, the messages each side may send, and the initial state the host
 * writes into the page. Both sides validate what they receive against these schemas; a message that does not
 * match is logged and dropped, never acted on.
 */
export interface PanelContract<ToHost extends { type: string }, ToWebview extends { type: string }, Init> {
  viewType: string;
  toHost: z.ZodMiniType<ToHost>;
  toWebview: z.ZodMiniType<ToWebview>;
  initial: z.ZodMiniType<Init>;
}

export type ToHostOf<C> = C extends PanelContract<infer H, infer _W, infer _I> ? H : never;
export type ToWebviewOf<C> = C extends PanelContract<infer _H, infer W, infer _I> ? W : never;
export type InitialOf<C> = C extends PanelContract<infer _H, infer _W, infer I> ? I : never;

/** One handler per message type: the compiler reports a message a panel forgot to handle. */
export type Handlers<M extends { type: string }> = {
  [K in M['type']]: (message: Extract<M, { type: K }>) => void | Promise<void>;
};

export type Validated<T> = { ok: true; value: T } | { ok: false; error: string };

/** Checks an incoming message. Returns a short reason when it does not match; never throws. */
export function validate<T>(schema: z.ZodMiniType<T>, raw: unknown): Validated<T> {
  const r = schema.safeParse(raw);
  if (r.success) return { ok: true, value: r.data };
  const issue = r.error.issues[0];
  const where = issue?.path.length ? issue.path.join('.') : 'message';
  return { ok: false, error: `${where}: ${issue?.message ?? 'invalid'}` };
}

/** JSON for an HTML attribute value: every character that could end the attribute or open a tag is escaped. */
export function jsonForAttribute(value: unknown): string {
  return JSON.stringify(value)
    .replace(/&/g, '&amp;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}
