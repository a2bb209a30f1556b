/**
 * Two models (two files, or two versions of one) on identical inputs: how far apart their outputs are, how much
 * faster one is, and a verdict against tolerances with the reasons. The reference is A: relative tolerances scale
 * with A's values, as numpy.isclose(b, a) does.
 */
import type { DType } from '../onnx/dtypes';
import { median } from './latency';
import type { HostRunOptions, InferenceHost, Source } from './host';
import { makeFeeds } from './inputs';
import type { SessionOptions } from './protocol';
import { formatShape, isFloatDType, toFloat64, type Tensor } from './tensor';

export interface Tolerances {
  /** Absolute tolerance: |b − a| ≤ atol + rtol·|a| passes. */
  atol: number;
  rtol: number;
  /** Lowest cosine similarity accepted for float outputs. */
  minCosine: number;
}

export const DEFAULT_TOLERANCES: Tolerances = { atol: 1e-4, rtol: 1e-3, minCosine: 0.999 };

export interface OutputComparison {
  /** The output's name in A (and in B, unless nameB says otherwise). */
  name: string;
  /** B's name for it, when the outputs were matched by position because their names differ. */
  nameB?: string;
  dtypeA: DType;
  dtypeB: DType;
  shapeA: number[];
  shapeB: number[];
  /** Values were compared (same element count, both numeric or both strings). */
  compared: boolean;
  count: number;
  /** Values outside atol + rtol·|a|, NaN in one but not the other included. */
  mismatches: number;
  maxAbsError: number;
  /** Where the largest absolute error is (flat, row-major). */
  maxAbsIndex: number;
  /** |a − b| / max(|a|, |b|) per value: 0 when equal, at most 2; max and mean over the finite pairs. */
  maxRelError: number;
  meanRelError: number;
  /** Over the finite pairs; 1 when both are all zeros. Null for non-float outputs. */
  cosine: number | null;
  nanA: number;
  nanB: number;
  /** For float outputs whose last dim is > 1 (class scores): how often both put the same index on top. */
  top1?: { agreement: number; rows: number };
  pass: boolean;
  reasons: string[];
}

export interface ComparisonReport {
  outputs: OutputComparison[];
  onlyInA: string[];
  onlyInB: string[];
  /** Medians of onnxruntime's run time in the worker; ratio is B / A (below 1: B is faster). */
  latency?: { a: number; b: number; ratio: number; runs: number };
  tolerances: Tolerances;
  verdict: { pass: boolean; reasons: string[] };
}

const fmt = (v: number) => (Number.isFinite(v) ? +v.toPrecision(3) : String(v));

/** Compares one output of A with the same output of B. */
export function compareTensors(name: string, a: Tensor, b: Tensor, tol: Tolerances = DEFAULT_TOLERANCES): OutputComparison {
  const base: OutputComparison = {
    name,
    dtypeA: a.dtype,
    dtypeB: b.dtype,
    shapeA: [...a.shape],
    shapeB: [...b.shape],
    compared: false,
    count: a.data.length,
    mismatches: 0,
    maxAbsError: 0,
    maxAbsIndex: -1,
    maxRelError: 0,
    meanRelError: 0,
    cosine: null,
    nanA: 0,
    nanB: 0,
    pass: true,
    reasons: [],
  };
  const fail = (why: string) => {
    base.pass = false;
    base.reasons.push(`output '${name}': ${why}`);
  };
  if (a.dtype !== b.dtype) fail(`dtype ${a.dtype} in A, ${b.dtype} in B`);
  if (formatShape(a.shape) !== formatShape(b.shape)) fail(`shape ${formatShape(a.shape)} in A, ${formatShape(b.shape)} in B`);
  if (a.data.length !== b.data.length) return base;
  if (a.dtype === 'string' || b.dtype === 'string') {
    if (a.dtype !== b.dtype) return base;
    const sa = a.data as string[];
    const sb = b.data as string[];
    base.compared = true;
    base.mismatches = sa.reduce((n, s, i) => n + (s === sb[i] ? 0 : 1), 0);
    if (base.mismatches) fail(`${base.mismatches} of ${base.count} strings differ`);
    return base;
  }
  const x = toFloat64(a)!;
  const y = toFloat64(b)!;
  base.compared = true;
  let relSum = 0;
  let finite = 0;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < x.length; i++) {
    const u = x[i]!;
    const v = y[i]!;
    if (Number.isNaN(u)) base.nanA++;
    if (Number.isNaN(v)) base.nanB++;
    if (!Number.isFinite(u) || !Number.isFinite(v)) {
      if (!Object.is(u, v)) base.mismatches++; // NaN against NaN, +Inf against +Inf: equal
      continue;
    }
    const abs = Math.abs(u - v);
    if (abs > base.maxAbsError || base.maxAbsIndex < 0) {
      base.maxAbsError = abs;
      base.maxAbsIndex = i;
    }
    const denom = Math.max(Math.abs(u), Math.abs(v));
    const rel = denom === 0 ? 0 : abs / denom;
    if (rel > base.maxRelError) base.maxRelError = rel;
    relSum += rel;
    finite++;
    if (abs > tol.atol + tol.rtol * Math.abs(u)) base.mismatches++;
    dot += u * v;
    na += u * u;
    nb += v * v;
  }
  base.meanRelError = finite ? relSum / finite : 0;
  const floats = isFloatDType(a.dtype) && isFloatDType(b.dtype);
  if (floats) base.cosine = na === 0 && nb === 0 ? 1 : na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
  if (base.mismatches) {
    fail(`${base.mismatches} of ${base.count} values differ by more than atol ${tol.atol} + rtol ${tol.rtol}·|a| (max abs error ${fmt(base.maxAbsError)} at index ${base.maxAbsIndex}, max rel ${fmt(base.maxRelError)})`);
  }
  if (base.cosine !== null && base.cosine < tol.minCosine) fail(`cosine similarity ${fmt(base.cosine)} is below ${tol.minCosine}`);
  const last = a.shape[a.shape.length - 1] ?? 0;
  if (floats && last > 1 && a.data.length % last === 0) base.top1 = top1Agreement(x, y, last);
  return base;
}

function argmax(v: Float64Array, from: number, width: number): number {
  let best = from;
  for (let i = from + 1; i < from + width; i++) if (v[i]! > v[best]! || Number.isNaN(v[best]!)) best = i;
  return best - from;
}

function top1Agreement(x: Float64Array, y: Float64Array, width: number): { agreement: number; rows: number } {
  const rows = x.length / width;
  let same = 0;
  for (let r = 0; r < rows; r++) if (argmax(x, r * width, width) === argmax(y, r * width, width)) same++;
  return { agreement: rows ? same / rows : 1, rows };
}

/**
 * Compares every output of A with B's: by name, or, when the names differ but the counts agree (a re-export
 * renamed them), by position.
 */
export function compareOutputs(a: Record<string, Tensor>, b: Record<string, Tensor>, tol: Tolerances = DEFAULT_TOLERANCES): Pick<ComparisonReport, 'outputs' | 'onlyInA' | 'onlyInB'> {
  const namesA = Object.keys(a);
  const namesB = Object.keys(b);
  const common = namesA.filter((n) => n in b);
  if (common.length === 0 && namesA.length === namesB.length && namesA.length > 0) {
    return {
      outputs: namesA.map((n, i) => ({ ...compareTensors(n, a[n]!, b[namesB[i]!]!, tol), nameB: namesB[i]! })),
      onlyInA: [],
      onlyInB: [],
    };
  }
  return {
    outputs: common.map((n) => compareTensors(n, a[n]!, b[n]!, tol)),
    onlyInA: namesA.filter((n) => !(n in b)),
    onlyInB: namesB.filter((n) => !(n in a)),
  };
}

export interface CompareOptions extends Pick<HostRunOptions, 'signal' | 'timeoutMs'> {
  tolerances?: Partial<Tolerances>;
  /** Timed runs of each model for the latency ratio, interleaved A, B, A, B …; default 5, 0 for none. */
  runs?: number;
  /**
   * B's own feeds, when they must differ from A's: a version whose inputs were renamed or retyped, or a
   * sensitivity check (A on x, B on x plus noise). Default: A's.
   */
  feedsB?: Record<string, Tensor>;
}

/** Runs two loaded sessions on the same feeds and compares them. */
export async function compareSessions(host: InferenceHost, idA: string, idB: string, feeds: Record<string, Tensor>, opts: CompareOptions = {}): Promise<ComparisonReport> {
  const tolerances = { ...DEFAULT_TOLERANCES, ...opts.tolerances };
  const run = { signal: opts.signal, timeoutMs: opts.timeoutMs };
  const feedsB = opts.feedsB ?? feeds;
  const ra = await host.run(idA, feeds, run);
  const rb = await host.run(idB, feedsB, run);
  const report: ComparisonReport = { ...compareOutputs(ra.outputs, rb.outputs, tolerances), tolerances, verdict: { pass: true, reasons: [] } };
  const runs = opts.runs ?? 5;
  if (runs > 0) report.latency = await interleavedLatency(host, idA, idB, feeds, feedsB, runs, run);
  report.verdict = verdict(report);
  return report;
}

/**
 * Medians of onnxruntime's run time for A and B, timed A, B, A, B … so that drift (thermal, other load) hits both
 * alike, after `warmup` untimed runs of each. The ratio is B / A (below 1: B is faster).
 */
export async function interleavedLatency(
  host: InferenceHost,
  idA: string,
  idB: string,
  feedsA: Record<string, Tensor>,
  feedsB: Record<string, Tensor>,
  runs: number,
  opts: Pick<HostRunOptions, 'signal' | 'timeoutMs'> & { warmup?: number } = {},
): Promise<{ a: number; b: number; ratio: number; runs: number }> {
  const run = { signal: opts.signal, timeoutMs: opts.timeoutMs };
  for (let i = 0; i < (opts.warmup ?? 0); i++) {
    await host.run(idA, feedsA, run);
    await host.run(idB, feedsB, run);
  }
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < runs; i++) {
    ta.push((await host.run(idA, feedsA, run)).ms);
    tb.push((await host.run(idB, feedsB, run)).ms);
  }
  const a = median(ta);
  const b = median(tb);
  return { a, b, ratio: a > 0 ? b / a : NaN, runs };
}

/**
 * The verdict on compared outputs: every output's reasons, and the outputs only one side has. `names` says what the
 * sides are in those reasons (a local run and a remote endpoint's answer, for instance).
 */
export function verdict(r: Pick<ComparisonReport, 'outputs' | 'onlyInA' | 'onlyInB'>, names?: { a: string; b: string }): ComparisonReport['verdict'] {
  const reasons = r.outputs.flatMap((o) => o.reasons);
  for (const n of r.onlyInA) reasons.push(`output '${n}' is only in ${names?.a ?? 'A'}`);
  for (const n of r.onlyInB) reasons.push(`output '${n}' is only in ${names?.b ?? 'B'}`);
  if (r.outputs.length === 0 && reasons.length === 0) reasons.push(names ? `${names.a} and ${names.b} have no output in common` : 'the models have no output in common');
  return { pass: reasons.length === 0, reasons };
}

/**
 * Loads two models, runs them on the same feeds (given, or made from A's inputs: random values with a fixed seed,
 * see makeFeeds) and compares them. Both sessions are released afterwards.
 */
export async function compareModels(
  host: InferenceHost,
  a: Source,
  b: Source,
  opts: CompareOptions & { feeds?: Record<string, Tensor>; sessionOptions?: SessionOptions; seed?: number } = {},
): Promise<ComparisonReport & { feeds: Record<string, Tensor> }> {
  const sa = await host.load(a, opts.sessionOptions, { signal: opts.signal });
  try {
    const sb = await host.load(b, opts.sessionOptions, { signal: opts.signal });
    try {
      const feeds = opts.feeds ?? (await makeFeeds(sa.inputs, { seed: opts.seed })).feeds;
      return { ...(await compareSessions(host, sa.id, sb.id, feeds, opts)), feeds };
    } finally {
      await host.release(sb.id);
    }
  } finally {
    await host.release(sa.id);
  }
}
