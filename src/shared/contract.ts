import * as z from 'zod/mini';

/** A call the webview makes and awaits: the schema of its parameters and of its result. */
export interface RequestSpec<P = unknown, R = unknown> {
  params: z.ZodMiniType<P>;
  result: z.ZodMiniType<R>;
}
export type RequestMap = Record<string, RequestSpec>;
export type ParamsOf<S> = S extends RequestSpec<infer P, infer _R> ? P : never;
export type ResultOf<S> = S extends RequestSpec<infer _P, infer R> ? R : never;

/**
 * A webview panel's contract: its view type, the messages each side may send, the initial state the host writes
 * into the page, and the requests the webview may make and await (a picker's answer, a confirmation). Both sides
 * validate what they receive against these schemas; a message that does not match is logged and dropped, never
 * acted on.
 */
export interface PanelContract<ToHost extends { type: string }, ToWebview extends { type: string }, Init, Requests extends RequestMap = RequestMap> {
  viewType: string;
  toHost: z.ZodMiniType<ToHost>;
  toWebview: z.ZodMiniType<ToWebview>;
  initial: z.ZodMiniType<Init>;
  requests?: Requests;
}

/** The envelope of a request (webview → host) and of its response (host → webview), correlated by id. */
export const requestEnvelope = z.object({ type: z.literal('request'), id: z.int().check(z.minimum(0)), method: z.string().check(z.maxLength(128)), params: z.unknown() });
export const responseEnvelope = z.discriminatedUnion('ok', [
  z.object({ type: z.literal('response'), id: z.int(), ok: z.literal(true), result: z.unknown() }),
  z.object({ type: z.literal('response'), id: z.int(), ok: z.literal(false), error: z.object({ message: z.string().check(z.maxLength(4096)), hint: z.optional(z.string().check(z.maxLength(4096))) }) }),
]);
export type RequestEnvelope = z.infer<typeof requestEnvelope>;
export type ResponseEnvelope = z.infer<typeof responseEnvelope>;

/** The handlers of a contract's requests: one per method, each answering its result type. */
export type RequestHandlers<Q extends RequestMap> = { [M in keyof Q]: (params: ParamsOf<Q[M]>) => Promise<ResultOf<Q[M]>> };

export type ToHostOf<C> = C extends PanelContract<infer H, infer _W, infer _I, infer _Q> ? H : never;
export type ToWebviewOf<C> = C extends PanelContract<infer _H, infer W, infer _I, infer _Q> ? W : never;
export type InitialOf<C> = C extends PanelContract<infer _H, infer _W, infer I, infer _Q> ? I : never;
export type RequestsOf<C> = C extends PanelContract<infer _H, infer _W, infer _I, infer Q> ? Q : never;

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
