/**
 * The Playground's work, without `vscode`: the webview's input specs turned into tensors, outputs, benchmarks and
 * comparisons turned into the views its schema allows. Bundled in dist/heavy.js.
 */
import { UserError } from '../../core/errors';
import type { BenchResult } from '../../core/inference/bench';
import type { ComparisonReport } from '../../core/inference/compare';
import { inputRole, makeFeeds, makeInput, type InputSource as CoreSource } from '../../core/inference/inputs';
import { tensorStats, topK } from '../../core/inference/stats';
import { isFloatDType, type Tensor, type TensorInfo } from '../../core/inference/tensor';
import { randomSourceFor, type BenchView, type CompareView, type InputSource, type InputSpec, type OutputView, type RunView } from '../../shared/protocol/playground';

/** The first source the Playground offers for an input (see inputRole). */
export function suggestedSource(info: TensorInfo): InputSource {
  const role = inputRole(info);
  if (role === 'sample-rate') return { kind: 'json', text: '16000' };
  if (role === 'state') return { kind: 'zeros' };
  return randomSourceFor(info.dtype);
}

/** The core's source for a webview source. */
export function coreSource(s: InputSource): CoreSource {
  switch (s.kind) {
    case 'random':
      return s.distribution === 'uniform'
        ? { kind: 'random', distribution: 'uniform', low: s.min, high: s.max, seed: s.seed }
        : { kind: 'random', distribution: 'normal', mean: s.mean, std: s.std, seed: s.seed };
    case 'zeros':
    case 'ones':
      return { kind: s.kind };
    case 'json':
      return { kind: 'json', text: s.text };
    case 'npy':
    case 'image':
    case 'wav':
      if (!s.path) throw new UserError(`no ${s.kind === 'npy' ? '.npy' : s.kind === 'image' ? 'image' : 'WAV'} file is chosen.`, 'Choose one with "Choose File…" under the input.');
      if (s.kind === 'npy') return { kind: 'npy', path: s.path };
      if (s.kind === 'wav') return { kind: 'wav', path: s.path, ...(s.sampleRate ? { sampleRate: s.sampleRate } : {}) };
      return { kind: 'image', path: s.path, layout: s.layout, channelOrder: s.channelOrder, scale: s.scale, mean: s.mean, std: s.std };
  }
}

export function describeSource(s: InputSource): string {
  switch (s.kind) {
    case 'random':
      return s.distribution === 'uniform' ? `random U(${s.min}, ${s.max}) seed ${s.seed}` : `random N(${s.mean}, ${s.std}) seed ${s.seed}`;
    case 'zeros':
    case 'ones':
    case 'json':
      return s.kind;
    default:
      return `${s.kind} ${s.path.split(/[\\/]/).pop()}`;
  }
}

/** Feeds from the webview's specs, every input of the model. Notes say what was done (resized, resampled …). */
export async function feedsFromSpecs(inputs: readonly TensorInfo[], specs: Record<string, InputSpec>, maxElements: number): Promise<{ feeds: Record<string, Tensor>; notes: string[] }> {
  const feeds: Record<string, Tensor> = {};
  const notes: string[] = [];
  for (const info of inputs) {
    const spec = specs[info.name];
    if (!spec) throw new UserError(`input '${info.name}' has no value.`, 'Set its source in the Inputs section.');
    const made = await makeInput(info, spec.shape, coreSource(spec.source), { maxElements });
    feeds[info.name] = made.tensor;
    for (const n of made.notes) notes.push(`${info.name}: ${n}`);
  }
  return { feeds, notes };
}

/**
 * Feeds for another model's inputs from this model's feeds: an input of the same name, dtype and a shape that fits
 * takes the same tensor; any other is made as makeFeeds makes it, with the open dims it shares by name taken from
 * the given feeds.
 */
export async function feedsFor(inputs: readonly TensorInfo[], given: Record<string, Tensor>, maxElements: number): Promise<Record<string, Tensor>> {
  const fits = (info: TensorInfo, t: Tensor) =>
    info.dtype === t.dtype && (!info.shape || (info.shape.length === t.shape.length && info.shape.every((d, i) => typeof d !== 'number' || d <= 0 || d === t.shape[i])));
  const out: Record<string, Tensor> = {};
  const rest: TensorInfo[] = [];
  for (const info of inputs) {
    const t = given[info.name];
    if (t && fits(info, t)) out[info.name] = t;
    else rest.push(info);
  }
  if (!rest.length) return out;
  // Sizes of named open dims (batch …) as the given feeds have them, so that a state's batch matches the audio's.
  const overrides: Record<string, number> = {};
  for (const info of inputs) {
    const t = given[info.name];
    info.shape?.forEach((d, i) => {
      if (typeof d === 'string' && d && t && t.shape[i] !== undefined) overrides[d] = t.shape[i]!;
    });
  }
  const made = await makeFeeds(rest, { overrides, limits: { maxElements } });
  return { ...out, ...made.feeds };
}

const finiteOrNull = (x: number | null | undefined) => (x === undefined || x === null || !Number.isFinite(x) ? null : x);

/** What the outputs table shows of one output: never the whole tensor. */
export function outputView(name: string, t: Tensor): OutputView {
  const s = tensorStats(t, 12);
  const classes = t.shape.at(-1) ?? 0;
  const scores = isFloatDType(t.dtype) && classes > 1 && classes <= 100_000;
  return {
    name,
    dtype: t.dtype,
    shape: t.shape,
    stats: { count: s.count, min: finiteOrNull(s.min), max: finiteOrNull(s.max), mean: finiteOrNull(s.mean), std: finiteOrNull(s.std), nan: s.nan, inf: s.inf },
    first: s.first.map((v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)),
    ...(scores ? { topK: topK(t, 5).map((e) => ({ index: e.index, value: e.value })) } : {}),
  };
}

export function runView(id: number, ms: number, inputs: readonly TensorInfo[], specs: Record<string, InputSpec>, outputs: Record<string, Tensor>): RunView {
  return {
    id,
    at: new Date().toISOString(),
    ms,
    inputs: inputs.map((i) => ({ name: i.name, shape: specs[i.name]?.shape ?? [], source: specs[i.name] ? describeSource(specs[i.name]!.source) : '' })),
    outputs: Object.entries(outputs).map(([n, t]) => outputView(n, t)),
  };
}

export function benchView(threads: number, r: BenchResult): BenchView {
  return {
    threads,
    runs: r.runs,
    warmup: r.warmup,
    p50: r.p50,
    p90: r.p90,
    p99: r.p99,
    mean: r.mean,
    std: r.std,
    min: r.min,
    max: r.max,
    throughput: r.throughput,
    histogram: r.histogram.map((b) => ({ from: b.from, to: b.to, count: b.count })),
  };
}

export function compareView(a: string, b: string, r: ComparisonReport): CompareView {
  const num = (x: number) => (Number.isFinite(x) ? x : null);
  return {
    a,
    b,
    outputs: [
      ...r.outputs.map((o) => ({
        name: o.nameB && o.nameB !== o.name ? `${o.name} ↔ ${o.nameB}` : o.name,
        shapeA: o.shapeA,
        shapeB: o.shapeB,
        maxAbs: o.compared ? num(o.maxAbsError) : null,
        maxRel: o.compared ? num(o.maxRelError) : null,
        cosine: o.cosine === null ? null : num(o.cosine),
        ...(o.top1 ? { top1Agreement: o.top1.agreement } : {}),
        ok: o.pass,
        // The reasons are listed under the verdict; the row says how many values differ.
        ...(o.mismatches ? { note: `${o.mismatches} of ${o.count} values differ` } : !o.compared ? { note: 'not comparable' } : {}),
      })),
    ],
    latencyA: r.latency?.a ?? 0,
    latencyB: r.latency?.b ?? 0,
    verdict: { ok: r.verdict.pass, reasons: r.verdict.reasons.slice(0, 50) },
    tolerances: r.tolerances,
  };
}
