import * as z from 'zod/mini';
import { validate, type Validated } from '../contract';

/**
 * The one event channel of the `modelyard` CLI: what a child process tells the editor (or a CI script) while it
 * works. Each event is one line of JSON on the channel. The editor starts the CLI with `MODELYARD_EVENTS=fd:3` and
 * reads file descriptor 3 (see src/extension/cli.ts); `MODELYARD_EVENTS=stderr` (or a verb's `--progress json`)
 * writes the same lines to standard error for scripts. Standard output keeps the verb's result (`--json`), standard
 * error its human-readable log; nobody scrapes either.
 *
 * Every line is validated on arrival against this schema; a line that does not match is logged and dropped.
 */

const text = z.string().check(z.maxLength(16_384));
const count = z.number().check(z.minimum(0));

/** An event of the cluster about a rollout's pods or workload. */
export const clusterEventSchema = z.object({ at: z.number(), type: text, reason: text, message: text, object: text, count: z.number() });

/** One row of the Deployments view: a deployment Modelyard made, or (managed false) another InferenceService. */
export const deploymentItemSchema = z.object({
  name: text,
  namespace: text,
  /** InferenceService or Deployment. */
  kind: text,
  managed: z.boolean(),
  model: z.optional(text),
  version: z.optional(text),
  sha256: z.optional(text),
  /** The registry stage the deploy was recorded as. */
  stage: z.optional(text),
  /** The version deployed before this one ("name@v1.0.0"): what a rollback returns to. */
  previous: z.optional(text),
  ready: z.optional(z.int().check(z.minimum(0))),
  desired: z.optional(z.int().check(z.minimum(0))),
  /** ready, progressing, failed, or what the cluster says. */
  state: text,
});
export type DeploymentItem = z.infer<typeof deploymentItemSchema>;

/** `metrics --watch`: the serving containers' figures over the last interval (null where not measurable). */
export const metricsEventSchema = z.object({
  event: z.literal('metrics'),
  at: z.number(),
  /** Seconds the figures cover. */
  seconds: z.number(),
  rps: z.nullable(z.number()),
  errorsPerSecond: z.nullable(z.number()),
  p50Ms: z.nullable(z.number()),
  p99Ms: z.nullable(z.number()),
  /** The mean latency of successful requests (all a runtime without a histogram, such as Triton, gives). */
  meanMs: z.optional(z.nullable(z.number())),
  /** Pods scraped. */
  pods: z.int().check(z.minimum(0)),
  /** Whose metrics these are: Modelyard's runtime, Triton's, or none found. */
  source: z.enum(['modelyard', 'triton', 'none']),
  message: z.optional(text),
});
export type MetricsEvent = z.infer<typeof metricsEventSchema>;

export const cliEventSchema = z.discriminatedUnion('event', [
  /** Work under way: a message and, when known, how far along (0..1). */
  z.object({ event: z.literal('progress'), message: text, fraction: z.optional(z.number().check(z.minimum(0), z.maximum(1))) }),
  /** `serve`: the model is loaded and the server listens (grpc: host:port of the gRPC server, with --grpc-port). */
  z.object({ event: z.literal('listening'), url: text, model: text, version: text, grpc: z.optional(text) }),
  /** `serve`: requests answered since the last such event, per status, with their mean time. */
  z.object({ event: z.literal('request'), status: z.int(), ms: count, count: z.int().check(z.minimum(1)) }),
  /** `serve`: stopped after a signal, before exit 0. */
  z.object({ event: z.literal('stopped'), served: count, runs: count, batching: z.boolean() }),
  /** Deploy: a step of the deploy or a phase of the rollout, with the pods as they are now. */
  z.object({
    event: z.literal('phase'),
    phase: z.enum(['resolve', 'preflight', 'upload', 'diff', 'apply', 'record', 'scheduled', 'pulling', 'loading', 'ready', 'smoke', 'done', 'failed', 'waiting', 'reconnecting', 'stopped']),
    message: text,
    at: z.number(),
    pods: z.optional(
      z
        .array(z.object({ name: text, phase: text, ready: z.boolean(), restarts: z.int().check(z.minimum(0)), reason: z.optional(text) }))
        .check(z.maxLength(256)),
    ),
    /** The cluster's events about the rollout so far (the last 50), oldest first. */
    events: z.optional(z.array(clusterEventSchema).check(z.maxLength(100))),
  }),
  /** Deploy: why the rollout failed, in plain words, with the fix and the last log lines. */
  z.object({ event: z.literal('failure'), kind: text, title: text, detail: text, fix: text, pod: z.optional(text), logs: z.optional(z.array(text).check(z.maxLength(50))) }),
  /**
   * `deployments --watch`: what runs now on a context, sent again on every change the cluster's watch reports; `state`
   * 'reconnecting' while the API server does not answer (the items are then the last ones seen).
   */
  z.object({
    event: z.literal('deployments'),
    context: text,
    server: text,
    /** The namespace watched, or null for all of them. */
    namespace: z.nullable(text),
    state: z.enum(['live', 'reconnecting']),
    message: z.optional(text),
    items: z.array(deploymentItemSchema).check(z.maxLength(2000)),
  }),
  metricsEventSchema,
  /** The verb failed: message and hint apart, and whether it was a cancellation or an internal error. */
  z.object({ event: z.literal('error'), message: text, hint: z.optional(text), cancelled: z.optional(z.boolean()), internal: z.optional(z.boolean()) }),
]);

export type CliEvent = z.infer<typeof cliEventSchema>;
export type CliEventOf<K extends CliEvent['event']> = Extract<CliEvent, { event: K }>;

/** Where the CLI writes its events: the environment variable, and its values. */
export const CLI_EVENTS_ENV = 'MODELYARD_EVENTS';
/** The file descriptor the editor reads events from. */
export const CLI_EVENTS_FD = 3;

/** One line of the channel, parsed and checked. */
export function parseCliEvent(line: string): Validated<CliEvent> {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  return validate(cliEventSchema, raw);
}

/** An event as its line on the channel (without the newline). */
export function formatCliEvent(e: CliEvent): string {
  return JSON.stringify(e);
}
