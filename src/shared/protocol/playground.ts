import * as z from 'zod/mini';
import type { PanelContract } from '../contract';

/**
 * The Playground panel: one model (a file, or a version of one from the registry) run in the inference worker on
 * inputs the user builds, benchmarked, compared with another model or version, and checked against a remote Open
 * Inference Protocol (KServe V2) endpoint. Tensors never cross into the webview whole: only their statistics and
 * first values do; the host keeps the last outputs to save them.
 */

const str = z.string().check(z.maxLength(4096));
const name = z.string().check(z.minLength(1), z.maxLength(512));
const text = z.string().check(z.maxLength(1_000_000));
const finite = z.number().check(z.refine(Number.isFinite, { message: 'not a finite number' }));
const count = z.int().check(z.minimum(0), z.maximum(1_000_000_000));
const dim = z.union([z.number(), z.string().check(z.maxLength(256)), z.null()]);

export const dtypeSchema = z.string().check(z.regex(/^[a-z0-9]{2,16}$/));

export const tensorInfoSchema = z.object({
  name,
  dtype: z.optional(dtypeSchema),
  shape: z.optional(z.array(dim).check(z.maxLength(64))),
  kind: z.optional(z.enum(['tensor', 'sequence', 'map', 'optional', 'sparse'])),
  doc: z.optional(str),
});

/** Where an input's values come from. Files are picked by the host (an open dialog) and named by path. */
export const inputSourceSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('random'),
    seed: z.int(),
    distribution: z.enum(['uniform', 'normal']),
    min: finite,
    max: finite,
    mean: finite,
    std: finite,
  }),
  z.object({ kind: z.literal('zeros') }),
  z.object({ kind: z.literal('ones') }),
  z.object({ kind: z.literal('json'), text }),
  z.object({ kind: z.literal('npy'), path: str }),
  z.object({
    kind: z.literal('image'),
    path: str,
    layout: z.enum(['NCHW', 'NHWC']),
    channelOrder: z.enum(['RGB', 'BGR']),
    scale: finite,
    mean: z.array(finite).check(z.maxLength(4)),
    std: z.array(finite).check(z.maxLength(4)),
  }),
  z.object({ kind: z.literal('wav'), path: str, sampleRate: z.optional(z.int().check(z.minimum(1000), z.maximum(384_000))) }),
]);

/** The random source the Playground starts an input with: a small range of integers, or uniform floats in [-1, 1). */
export function randomSourceFor(dtype: string | undefined): Extract<z.infer<typeof inputSourceSchema>, { kind: 'random' }> {
  const integer = !!dtype && !/^float(16|32|64)$/.test(dtype);
  return { kind: 'random', seed: 0, distribution: 'uniform', min: integer ? 0 : -1, max: dtype === 'bool' ? 1 : integer ? 10 : 1, mean: 0, std: 1 };
}

export const inputSpecSchema = z.object({
  shape: z.array(z.int().check(z.minimum(0), z.maximum(2 ** 31))).check(z.maxLength(64)),
  source: inputSourceSchema,
});

export const sessionOptionsSchema = z.object({
  intraOpThreads: z.int().check(z.minimum(0), z.maximum(256)),
  graphOptimizationLevel: z.enum(['disabled', 'basic', 'extended', 'all']),
  executionProvider: z.string().check(z.maxLength(64)),
});

export const statsSchema = z.object({
  count,
  min: z.nullable(z.number()),
  max: z.nullable(z.number()),
  mean: z.nullable(z.number()),
  std: z.nullable(z.number()),
  nan: count,
  inf: count,
});

export const outputViewSchema = z.object({
  name,
  dtype: dtypeSchema,
  shape: z.array(z.number()).check(z.maxLength(64)),
  stats: z.optional(statsSchema),
  first: z.array(z.union([z.number(), z.string().check(z.maxLength(256))])).check(z.maxLength(64)),
  topK: z.optional(z.array(z.object({ index: count, value: z.number() })).check(z.maxLength(20))),
});

export const runViewSchema = z.object({
  id: count,
  at: str,
  ms: z.number(),
  inputs: z.array(z.object({ name, shape: z.array(z.number()).check(z.maxLength(64)), source: str })).check(z.maxLength(256)),
  outputs: z.array(outputViewSchema).check(z.maxLength(256)),
});

export const benchViewSchema = z.object({
  threads: z.int(),
  runs: count,
  warmup: count,
  p50: z.number(),
  p90: z.number(),
  p99: z.number(),
  mean: z.number(),
  std: z.number(),
  min: z.number(),
  max: z.number(),
  throughput: z.number(),
  histogram: z.array(z.object({ from: z.number(), to: z.number(), count })).check(z.maxLength(200)),
});

export const compareOutputSchema = z.object({
  name,
  shapeA: z.array(z.number()).check(z.maxLength(64)),
  shapeB: z.array(z.number()).check(z.maxLength(64)),
  maxAbs: z.nullable(z.number()),
  maxRel: z.nullable(z.number()),
  cosine: z.nullable(z.number()),
  top1Agreement: z.optional(z.nullable(z.number())),
  ok: z.boolean(),
  note: z.optional(str),
});

export const compareViewSchema = z.object({
  a: str,
  b: str,
  outputs: z.array(compareOutputSchema).check(z.maxLength(256)),
  latencyA: z.number(),
  latencyB: z.number(),
  verdict: z.object({ ok: z.boolean(), reasons: z.array(str).check(z.maxLength(256)) }),
  tolerances: z.object({ atol: z.number(), rtol: z.number(), minCosine: z.number() }),
});

export const errorViewSchema = z.object({ message: str, hint: z.optional(str) });

export const modelRefSchema = z.object({
  /** What the title and the card show: "hello_deepa.onnx", "wakeword@v1.2.0". */
  label: str,
  /** The model's URI: file:, or modelyard-git: for a version read from git. */
  uri: str,
  detail: z.optional(str),
});

export const playgroundTab = z.enum(['run', 'benchmark', 'compare', 'remote']);

export const playgroundToHost = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }),
  z.object({ type: z.literal('load'), options: sessionOptionsSchema }),
  z.object({ type: z.literal('run'), inputs: z.record(name, inputSpecSchema), options: sessionOptionsSchema }),
  z.object({ type: z.literal('cancel') }),
  z.object({ type: z.literal('saveOutputs'), run: count, format: z.enum(['npy', 'json']) }),
  z.object({
    type: z.literal('benchmark'),
    inputs: z.record(name, inputSpecSchema),
    options: sessionOptionsSchema,
    warmup: z.int().check(z.minimum(0), z.maximum(10_000)),
    runs: z.int().check(z.minimum(1), z.maximum(1_000_000)),
    budgetMs: z.optional(z.int().check(z.minimum(100), z.maximum(3_600_000))),
    threads: z.array(z.int().check(z.minimum(1), z.maximum(256))).check(z.maxLength(16)),
  }),
  z.object({ type: z.literal('saveBenchmark') }),
  z.object({
    type: z.literal('compare'),
    inputs: z.record(name, inputSpecSchema),
    options: sessionOptionsSchema,
    tolerances: z.object({ atol: finite, rtol: finite, minCosine: finite }),
  }),
  z.object({ type: z.literal('remote'), url: z.url().check(z.maxLength(2048)), model: name, inputs: z.record(name, inputSpecSchema), options: sessionOptionsSchema }),
  z.object({ type: z.literal('serve') }),
  z.object({ type: z.literal('copy'), text }),
  z.object({ type: z.literal('showLog') }),
]);

export const playgroundToWebview = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('session'),
    inputs: z.array(tensorInfoSchema).check(z.maxLength(1024)),
    outputs: z.array(tensorInfoSchema).check(z.maxLength(1024)),
    providers: z.array(z.string().check(z.maxLength(64))).check(z.maxLength(32)),
    loadMs: z.number(),
    /** A concrete shape for each input: declared dims kept, symbolic ones resolved (batch → 1 …). */
    shapes: z.record(name, z.array(z.int()).check(z.maxLength(64))),
    /** A first source for each input: 16000 for a sample rate, zeros for a recurrent state, random otherwise. */
    sources: z.record(name, inputSourceSchema),
    /** Open dims whose size was guessed rather than known: the webview asks for them. */
    guessed: z.array(z.object({ input: name, index: z.int(), reason: z.enum(['batch', 'image size', 'audio', 'sequence', 'default']) })).check(z.maxLength(4096)),
  }),
  z.object({ type: z.literal('sessionError'), error: errorViewSchema }),
  z.object({ type: z.literal('busy'), what: z.enum(['load', 'run', 'benchmark', 'compare', 'remote']), detail: z.optional(str) }),
  z.object({ type: z.literal('idle') }),
  z.object({ type: z.literal('run'), run: runViewSchema }),
  z.object({ type: z.literal('error'), what: z.enum(['run', 'benchmark', 'compare', 'remote']), error: errorViewSchema }),
  z.object({ type: z.literal('benchProgress'), done: count, total: count }),
  z.object({ type: z.literal('benchmark'), results: z.array(benchViewSchema).check(z.maxLength(16)) }),
  z.object({ type: z.literal('compareTarget'), target: modelRefSchema }),
  z.object({ type: z.literal('compare'), result: compareViewSchema }),
  z.object({ type: z.literal('remote'), url: str, result: compareViewSchema }),
  z.object({ type: z.literal('serving'), url: z.nullable(str) }),
  /** Point the Remote tab at an endpoint (a deployment, through a local proxy to its cluster). */
  z.object({ type: z.literal('remoteEndpoint'), url: str, model: name }),
]);

export const playgroundInitial = z.object({
  model: modelRefSchema,
  tab: playgroundTab,
  compareTarget: z.optional(modelRefSchema),
  defaults: z.object({ threads: z.int(), maxInputElements: z.int(), serveUrl: z.nullable(str) }),
  /** The endpoint the Remote tab starts with (a deployment), instead of a local server. */
  remote: z.optional(z.object({ url: str, model: name })),
});

export type TensorInfoView = z.infer<typeof tensorInfoSchema>;
export type InputSource = z.infer<typeof inputSourceSchema>;
export type InputSpec = z.infer<typeof inputSpecSchema>;
export type SessionOptionsView = z.infer<typeof sessionOptionsSchema>;
export type OutputView = z.infer<typeof outputViewSchema>;
export type RunView = z.infer<typeof runViewSchema>;
export type BenchView = z.infer<typeof benchViewSchema>;
export type CompareView = z.infer<typeof compareViewSchema>;
export type ModelRef = z.infer<typeof modelRefSchema>;
export type PlaygroundTab = z.infer<typeof playgroundTab>;

/** What a Playground is restored from after a reload: the model's URI and the tab it opened on. */
export const playgroundRestore = z.object({ uri: z.string().check(z.maxLength(4096)), tab: playgroundTab });
export type PlaygroundToHost = z.infer<typeof playgroundToHost>;
export type PlaygroundToWebview = z.infer<typeof playgroundToWebview>;
export type PlaygroundInitial = z.infer<typeof playgroundInitial>;

/** Calls the webview awaits: a file picked for an input, another model picked to compare with (null: dismissed). */
export const playgroundRequests = {
  pickFile: { params: z.object({ input: name, kind: z.enum(['npy', 'image', 'wav', 'json']) }), result: z.nullable(str) },
  pickCompareTarget: { params: z.object({}), result: z.nullable(modelRefSchema) },
};

export const playgroundContract: PanelContract<PlaygroundToHost, PlaygroundToWebview, PlaygroundInitial, typeof playgroundRequests> = {
  viewType: 'modelyard.playground',
  toHost: playgroundToHost,
  toWebview: playgroundToWebview,
  initial: playgroundInitial,
  requests: playgroundRequests,
};
