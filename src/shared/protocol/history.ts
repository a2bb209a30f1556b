import * as z from 'zod/mini';
import { HISTORY_LIMITS, type HistoryView } from '../../core/registry/history';
import type { PanelContract } from '../contract';

export { describeEvent, shortVersion, type HistoryAction, type HistoryEvent, type HistoryView } from '../../core/registry/history';

const str = z.string().check(z.maxLength(HISTORY_LIMITS.text));
/** A full commit sha (SHA-1 or SHA-256): never anything git could read as an option or a revision expression. */
const sha = z.string().check(z.regex(/^[0-9a-f]{40}$|^[0-9a-f]{64}$/));

export const historyActionSchema = z.enum(['register', 'deregister', 'assign', 'unassign', 'deprecate', 'create']);

export const historyEventSchema = z.object({
  date: z.string().check(z.maxLength(64)),
  action: historyActionSchema,
  version: z.optional(str),
  stage: z.optional(str),
  author: str,
  authorEmail: str,
  message: z.string().check(z.maxLength(HISTORY_LIMITS.message)),
  tag: str,
  commit: sha,
});

export const historyViewSchema = z.object({
  repoRoot: str,
  model: z.object({
    name: str,
    path: z.optional(str),
    description: z.optional(str),
    type: z.optional(str),
    latest: z.optional(str),
    deprecated: z.boolean(),
    stages: z
      .record(str, str)
      .check(z.refine((r) => Object.keys(r).length <= HISTORY_LIMITS.stages, { message: `more than ${HISTORY_LIMITS.stages} stages` })),
  }),
  events: z.array(historyEventSchema).check(z.maxLength(HISTORY_LIMITS.events)),
  omittedEvents: z.number(),
  problems: z.array(z.object({ tag: str, reason: str })).check(z.maxLength(HISTORY_LIMITS.problems)),
});

// The schema must describe exactly the core's type: these lines stop compiling when either drifts. The first
// alone would let a schema narrower than the type through (an action missing from the enum), hence the second.
const _sameShape: z.ZodMiniType<HistoryView> = historyViewSchema;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _exact: Same<z.infer<typeof historyViewSchema>, HistoryView> = true;
void _sameShape;
void _exact;

/** Which model of which repository a History panel shows. */
export const historyTargetSchema = z.object({ root: str, model: str, include: z.optional(str) });

export const historyToHost = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }),
  z.object({ type: z.literal('refresh') }),
  z.object({ type: z.literal('copyTag'), tag: str }),
  z.object({ type: z.literal('openCommit'), commit: sha }),
  z.object({ type: z.literal('showLog') }),
]);

export const historyToWebview = z.discriminatedUnion('type', [
  z.object({ type: z.literal('history'), history: historyViewSchema }),
  z.object({ type: z.literal('error'), message: str, hint: z.optional(str) }),
]);

export const historyInitial = z.object({ target: historyTargetSchema, history: z.optional(historyViewSchema) });

/** The version of the webview's persisted state; a state of another version is dropped, not misread. */
export const HISTORY_STATE_VERSION = 1;

/** The part of the webview's persisted state the host reads to restore a panel after a reload. */
export const historyPersisted = z.object({
  __v: z.literal(HISTORY_STATE_VERSION),
  data: z.object({ target: historyTargetSchema }),
});

export type HistoryTarget = z.infer<typeof historyTargetSchema>;
export type HistoryToHost = z.infer<typeof historyToHost>;
export type HistoryToWebview = z.infer<typeof historyToWebview>;
export type HistoryInitial = z.infer<typeof historyInitial>;

export const historyContract: PanelContract<HistoryToHost, HistoryToWebview, HistoryInitial> = {
  viewType: 'modelyard.history',
  toHost: historyToHost,
  toWebview: historyToWebview,
  initial: historyInitial,
};
