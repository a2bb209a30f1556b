import * as z from 'zod/mini';
import type { PanelContract } from '../contract';

/**
 * The Quantize panel: pick a form and its options (or Auto), calibration data, run it with progress and Cancel, read
 * the report (sizes, fidelity per output, latency, what was converted or left alone and why, the verdict), and for
 * a registry version register the result in one click.
 */

const str = z.string().check(z.maxLength(4096));
const name = z.string().check(z.minLength(1), z.maxLength(512));
const finiteOrNull = z.nullable(z.number());
const count = z.int().check(z.minimum(0), z.maximum(1_000_000_000));

export const quantModes = ['auto', 'int8-dynamic', 'int8-static', 'int4', 'int8-weight', 'fp16', 'fp32'] as const;
export const formModes = ['int8-dynamic', 'int8-static', 'int4', 'int8-weight', 'fp16', 'fp32'] as const;

export const quantizeOptionsSchema = z.object({
  mode: z.enum(quantModes),
  perChannel: z.boolean(),
  /** Comma-separated op types or node names. */
  exclude: z.string().check(z.maxLength(8192)),
  blockSize: z.union([z.literal(16), z.literal(32), z.literal(64), z.literal(128), z.literal(256)]),
  symmetric: z.boolean(),
  method: z.enum(['minmax', 'percentile']),
  sensitivity: z.boolean(),
  keepIoTypes: z.boolean(),
  /** A folder or a .modeltest.json file; empty for random inputs. */
  calibration: str,
  /** Per input with open dims, its sizes as typed ("1,512"); empty or absent: guessed (--shape NAME=…). */
  shapes: z.optional(z.record(name, z.string().check(z.maxLength(256)))),
});

export const decisionGroupSchema = z.object({
  action: z.enum(['converted', 'kept']),
  opType: name,
  form: z.optional(str),
  reason: str,
  count,
  nodes: z.array(str).check(z.maxLength(64)),
});

export const reportViewSchema = z.object({
  mode: z.enum(formModes),
  requestedMode: z.enum(quantModes),
  source: z.object({ label: str, bytes: z.number() }),
  output: z.object({ file: str, bytes: z.number() }),
  sizeRatio: z.number(),
  seconds: z.number(),
  mbPerSecond: z.nullable(z.number()),
  calibration: z.optional(z.object({ source: str, samples: count, method: str, seconds: z.number() })),
  fidelity: z.object({
    samples: count,
    source: str,
    kind: z.enum(['folder', 'tests', 'random']),
    worstCosine: finiteOrNull,
    outputs: z.array(z.object({ name, cosine: finiteOrNull, maxAbsError: finiteOrNull, top1: z.optional(z.number()), pass: z.boolean(), reasons: z.array(str).check(z.maxLength(16)) })).check(z.maxLength(256)),
  }),
  latency: z.optional(z.object({ originalMs: z.number(), quantizedMs: z.number(), ratio: z.number(), runs: count })),
  converted: count,
  kept: count,
  groups: z.array(decisionGroupSchema).check(z.maxLength(512)),
  notes: z.array(str).check(z.maxLength(64)),
  thresholds: z.object({ minCosine: z.number(), minTop1: z.number(), maxLatencyRatio: z.optional(z.number()) }),
  verdict: z.object({ pass: z.boolean(), reasons: z.array(str).check(z.maxLength(64)) }),
  profile: z.object({ kind: z.enum(['matmul-heavy', 'conv-heavy', 'mixed', 'small']), weightBytes: z.number(), matmulBytes: z.number(), convBytes: z.number() }),
  sensitivity: z.optional(z.object({ keptFloat: z.array(str).check(z.maxLength(512)) })),
  auto: z.optional(
    z.object({
      chosen: z.enum(formModes),
      why: str,
      candidates: z
        .array(
          z.object({
            mode: z.enum(formModes),
            sizeRatio: z.number(),
            worstCosine: finiteOrNull,
            latencyRatio: finiteOrNull,
            pass: z.boolean(),
            reasons: z.array(str).check(z.maxLength(16)),
            error: z.optional(str),
          }),
        )
        .check(z.maxLength(16)),
    }),
  ),
});

export const quantizeInitial = z.object({
  model: z.object({ label: str, uri: str, detail: str }),
  /** Set when the model is a registry version: the result can be registered as a new artifact. */
  registry: z.optional(z.object({ suggestedName: name, versionOf: z.optional(z.object({ name, next: name })) })),
  defaults: z.object({ mode: z.enum(quantModes), minCosine: z.number(), minTop1: z.number(), output: str }),
  /** Model test files of the workspace that could serve as calibration data. */
  testFiles: z.array(str).check(z.maxLength(64)),
  /** The inputs with open dims: declared type and shape ("float32 [?, samples]"), and the sizes random inputs would take. */
  openInputs: z.optional(z.array(z.object({ name, declared: str, guess: str, why: str })).check(z.maxLength(256))),
});

export const quantizeToHost = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }),
  z.object({ type: z.literal('start'), options: quantizeOptionsSchema }),
  z.object({ type: z.literal('cancel') }),
  /** as 'model': a new artifact named `name`; as 'version': version `name` of the source's own model. */
  z.object({ type: z.literal('register'), as: z.enum(['model', 'version']), name }),
  z.object({ type: z.literal('openOutput') }),
  z.object({ type: z.literal('saveReport') }),
  z.object({ type: z.literal('compare') }),
]);

export const quantizeToWebview = z.discriminatedUnion('type', [
  z.object({ type: z.literal('progress'), message: str, fraction: z.optional(z.number()) }),
  z.object({ type: z.literal('report'), report: reportViewSchema }),
  z.object({ type: z.literal('error'), message: str, hint: z.optional(str) }),
  z.object({ type: z.literal('cancelled') }),
  z.object({ type: z.literal('registered'), name, version: name, tag: str }),
]);

export type QuantizeOptionsView = z.infer<typeof quantizeOptionsSchema>;
export type ReportView = z.infer<typeof reportViewSchema>;
export type DecisionGroupView = z.infer<typeof decisionGroupSchema>;
export type QuantizeInitial = z.infer<typeof quantizeInitial>;
export type QuantizeToHost = z.infer<typeof quantizeToHost>;
export type QuantizeToWebview = z.infer<typeof quantizeToWebview>;

/** Calls the webview awaits: a file or folder picked in VS Code's dialog (null when dismissed). */
export const quantizeRequests = {
  pickCalibration: { params: z.object({ kind: z.enum(['folder', 'tests']) }), result: z.nullable(str) },
};

/** What the panel is restored from after a reload: the model's URI. */
export const quantizeRestore = z.object({ uri: str });

export const quantizeContract: PanelContract<QuantizeToHost, QuantizeToWebview, QuantizeInitial, typeof quantizeRequests> = {
  viewType: 'modelyard.quantize',
  toHost: quantizeToHost,
  toWebview: quantizeToWebview,
  initial: quantizeInitial,
  requests: quantizeRequests,
};
