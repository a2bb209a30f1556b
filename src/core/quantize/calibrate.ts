/**
 * Calibration for static quantization: the range of each activation that static.ts will quantize, measured by
 * running calibration samples through the real onnxruntime-node (the same runtime that will run the quantized
 * model).
 *
 * The model is augmented, as onnxruntime.quantization's calibrate.py does: for MinMax each measured value gets a
 * ReduceMin and a ReduceMax whose scalar results become the graph's outputs (so a 1×64×160×160 activation costs two
 * floats across the process boundary, not 6.5 MB); for the percentile method the values themselves become outputs
 * and feed a histogram here. The original outputs are dropped from the augmented model: nothing reads them, and
 * onnxruntime can prune what only they needed.
 *
 * A value inside an If, Loop or Scan body cannot be a graph output, so its min and max are carried out instead (see
 * SubgraphRanges): an If gets two more outputs from each branch, a Loop or Scan two more loop-carried values that
 * keep the running min and max over the iterations. Such values are calibrated by MinMax whatever the method.
 *
 *   MinMax      the overall min and max over all samples (calibrate.py's MinMaxCalibrater, no moving average).
 *   percentile  HistogramCalibrater's 'percentile' with symmetric = false, its default: a 2048-bin histogram of x
 *               over [−T, T] (T the largest |x| seen, bins added at both ends as T grows), and the range cuts
 *               (100 − p)/2 % of the values off each end, clipped to the seen min and max.
 */
import { create } from '@bufbuild/protobuf';
import { isCancelled, UserError } from '../errors';
import { checkFeeds } from '../inference/check';
import type { InferenceHost } from '../inference/host';
import type { Tensor } from '../inference/tensor';
import { TensorProto_DataType as DT, ValueInfoProtoSchema } from '../onnx/gen/onnx_pb';
import { decodeModel, encodeModel } from '../onnx/model';
import { subgraphsOf } from '../onnx/io';
import { attrInt, makeNode, makeTensor, QModel, toFloat32, type Scope } from './graph';
import { minMax } from './math';
import { calibrationTargets } from './static';
import { quantizationCancelled, throwIfCancelled, type Ranges } from './types';

export interface CalibrateOptions {
  method: 'minmax' | 'percentile';
  /** For 'percentile': the share of values the range keeps, in %. Default 99.999 (calibrate.py's). */
  percentile?: number;
  /** The values to measure; default calibrationTargets(model) with no exclusions. */
  tensors?: string[];
  /** One per sample, to name it in errors ("text-line.png"); default its position ("#3"). */
  labels?: string[];
  signal?: AbortSignal;
  /** Called after each sample with the number done. */
  progress?: (done: number) => void;
}

const BINS = 2048;

/** Ranges of the activations static quantization needs, over every calibration sample. */
export async function calibrate(
  model: Uint8Array,
  feeds: Iterable<Record<string, Tensor>> | AsyncIterable<Record<string, Tensor>>,
  host: InferenceHost,
  opts: CalibrateOptions,
): Promise<Ranges> {
  const percentile = opts.percentile ?? 99.999;
  if (opts.method === 'percentile' && !(percentile > 0 && percentile <= 100)) {
    throw new UserError(`the calibration percentile ${percentile} is not in (0, 100].`, 'Give a percentile such as 99.999 (the share of values the range keeps).');
  }
  const m = new QModel(decodeModel(model));
  const scopes = m.scopes();
  const main = scopes[0]!;
  // Each value is measured in the graph that defines it: the main graph, or an If/Loop/Scan body.
  const home = new Map<string, Scope>();
  const targets: string[] = [];
  for (const t of opts.tensors ?? calibrationTargets(m, {})) {
    const s = scopes.find((x) => x.producers.has(t) || x.inputs.has(t));
    if (!s) throw new UserError(`calibration was asked to measure '${t}', which the model does not compute.`, 'Name values the model computes (node outputs or graph inputs).');
    const type = s.elemType(t);
    if (type !== undefined && type !== DT.FLOAT && type !== DT.FLOAT16) continue;
    home.set(t, s);
    targets.push(t);
  }
  const ranges: Ranges = new Map();
  if (!targets.length) return ranges;

  // Augment: outputs name → (target, what it carries).
  const outputs = new Map<string, { target: string; kind: 'min' | 'max' | 'value' }>();
  const g = m.graph;
  const original = g.output;
  g.output = [];
  const declare = (name: string, elemType = main.elemType(name) ?? DT.FLOAT) => g.output.push(create(ValueInfoProtoSchema, { name, type: { value: { case: 'tensorType', value: { elemType } } } }));
  // Graph inputs are measured from the feeds themselves.
  const fromFeeds = targets.filter((t) => home.get(t) === main && main.inputs.has(t));
  // Values inside subgraphs: their min and max, carried out to the main graph (the values themselves cannot leave).
  const inner = new SubgraphRanges(m);
  const byMinMax = new Set<string>();
  for (const t of targets) {
    const s = home.get(t)!;
    if (s !== main) {
      const out = inner.expose(s, t);
      if (!out) continue; // a body of an op whose values cannot be carried out: stays unmeasured, so float
      byMinMax.add(t);
      declare(out.min, DT.FLOAT);
      declare(out.max, DT.FLOAT);
      outputs.set(out.min, { target: t, kind: 'min' });
      outputs.set(out.max, { target: t, kind: 'max' });
      continue;
    }
    if (main.inputs.has(t)) continue;
    if (opts.method === 'minmax') {
      for (const [op, kind] of [['ReduceMin', 'min'], ['ReduceMax', 'max']] as const) {
        // keepdims = 1 (as calibrate.py): ReduceMin/Max over no axes with keepdims 0 fails on zero-sized dims.
        const out = m.names.fresh(`${t}_${op}`);
        g.node.push(makeNode(op, [t], [out], { name: m.names.fresh(`${out}_node`), attrs: { keepdims: 1 } }));
        declare(out);
        outputs.set(out, { target: t, kind });
      }
    } else if (!outputs.has(t)) {
      declare(t);
      outputs.set(t, { target: t, kind: 'value' });
    }
  }

  // Only graph inputs to measure: the model still needs an output to run.
  if (!g.output.length) g.output = original;
  const acc = new Map<string, { min: number; max: number }>();
  const hists = new Map<string, Histogram>();
  const session = await host.load({ bytes: encodeModel(m.proto), key: `calibrate-${Date.now()}-${Math.random()}`, label: 'the calibration model' }, {}, { signal: opts.signal });
  let count = 0;
  try {
    for await (const feed of feeds) {
      throwIfCancelled(opts.signal);
      const label = opts.labels?.[count] ?? `#${count + 1}`;
      try {
        checkFeeds(session.inputs, feed);
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
        throw new UserError(
          `calibration ${e.message.replace(/[.]$/, '')} (calibration sample ${label}).`,
          `Give calibration samples shaped as the model's inputs (${session.inputs.map((i) => `${i.name}: ${i.dtype ?? i.kind} [${(i.shape ?? []).map((d) => (typeof d === 'number' ? d : 'null')).join(',')}]`).join('; ')}), or remove this sample. ${e.hint ?? ''}`.trim(),
        );
      }
      let result;
      try {
        result = await host.run(session.id, feed, { signal: opts.signal });
      } catch (e) {
        if (isCancelled(e)) throw quantizationCancelled();
        if (e instanceof UserError) throw new UserError(`calibration sample ${label} failed: ${e.message}`, e.hint);
        throw e;
      }
      const measured: [string, { target: string; kind: 'min' | 'max' | 'value' }, Tensor][] = [];
      for (const [name, t] of Object.entries(result.outputs)) {
        const o = outputs.get(name);
        if (o) measured.push([name, o, t]);
      }
      for (const t of fromFeeds) {
        if (opts.method === 'percentile') measured.push([t, { target: t, kind: 'value' }, feed[t]!]);
        else for (const kind of ['min', 'max'] as const) measured.push([t, { target: t, kind }, feed[t]!]);
      }
      for (const [, o, t] of measured) {
        const data = toFloat32(t);
        if (!data) continue;
        if (o.kind === 'value') {
          let h = hists.get(o.target);
          if (!h) hists.set(o.target, (h = new Histogram()));
          h.add(data);
        } else {
          // A Reduce output holds one value; a graph input fed directly holds them all.
          const v = data.length === 1 ? data[0]! : o.kind === 'min' ? minMax(data).min : minMax(data).max;
          if (data.length === 0 || Number.isNaN(v)) continue;
          const r = acc.get(o.target) ?? { min: Infinity, max: -Infinity };
          if (o.kind === 'min') r.min = Math.min(r.min, v);
          else r.max = Math.max(r.max, v);
          acc.set(o.target, r);
        }
      }
      count++;
      opts.progress?.(count);
    }
  } finally {
    await host.release(session.id);
  }
  if (!count) throw new UserError('calibration got no samples.', 'Give at least one calibration sample (a few dozen typical inputs are best).');
  for (const t of targets) {
    if (opts.method === 'minmax' || byMinMax.has(t)) {
      const r = acc.get(t);
      if (r && Number.isFinite(r.min) && Number.isFinite(r.max)) ranges.set(t, r);
    } else {
      const r = hists.get(t)?.range(percentile);
      if (r) ranges.set(t, r);
    }
  }
  return ranges;
}

/** calibrate.py's HistogramCollector.collect_value and compute_percentile (symmetric = false). */
export class Histogram {
  private hist = new Float64Array(0);
  /** The bins span [−threshold, threshold]. */
  private threshold = 0;
  private min = Infinity;
  private max = -Infinity;
  private total = 0;

  add(x: Float32Array): void {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) return; // empty, or all NaN/Infinity: nothing to learn
    this.min = Math.min(this.min, lo);
    this.max = Math.max(this.max, hi);
    const t = Math.max(Math.abs(lo), Math.abs(hi));
    if (!this.hist.length) {
      this.hist = new Float64Array(BINS);
      this.threshold = t;
    } else if (t > this.threshold) {
      // Widen by whole bins of the old width on both sides, so the old counts keep their places.
      const old = this.hist;
      if (this.threshold === 0) {
        this.hist = new Float64Array(old.length);
        this.hist[this.hist.length >> 1]! += old.reduce((a, b) => a + b, 0);
        this.threshold = t;
      } else {
        const stride = (2 * this.threshold) / old.length;
        const grow = Math.floor((t - this.threshold) / stride) + 1;
        this.hist = new Float64Array(old.length + 2 * grow);
        this.hist.set(old, grow);
        this.threshold += grow * stride;
      }
    }
    const n = this.hist.length;
    const T = this.threshold;
    if (T === 0) {
      this.hist[n >> 1]! += x.length;
    } else {
      const k = n / (2 * T);
      for (let i = 0; i < x.length; i++) {
        const v = x[i]!;
        if (!Number.isFinite(v)) continue;
        let b = Math.floor((v + T) * k);
        if (b >= n) b = n - 1; // the top edge belongs to the last bin, as in numpy.histogram
        else if (b < 0) b = 0;
        this.hist[b]! += 1;
      }
    }
    this.total += x.length;
  }

  /** The range keeping `percentile` % of the values, cutting the rest equally from both ends. */
  range(percentile: number): { min: number; max: number } | undefined {
    if (!this.total || !this.hist.length) return undefined;
    if (percentile >= 100) return { min: this.min, max: this.max };
    const n = this.hist.length;
    const sum = this.hist.reduce((a, b) => a + b, 0);
    const cut = (100 - percentile) / 200;
    const edge = (i: number) => -this.threshold + (2 * this.threshold * i) / n;
    // numpy.searchsorted(cdf, v): the first bin whose cumulative share reaches v.
    const search = (v: number) => {
      let c = 0;
      for (let i = 0; i < n; i++) {
        c += this.hist[i]!;
        if (c / sum >= v) return i;
      }
      return n - 1;
    };
    const lo = Math.max(edge(search(cut)), this.min);
    const hi = Math.min(edge(search(1 - cut)), this.max);
    return { min: Math.fround(lo), max: Math.fround(hi) };
  }
}

/**
 * Carries the min and max of values inside If/Loop/Scan bodies out to the main graph, as float [1] values:
 *
 *   If     both branches get two more outputs: the branch that computes the value its ReduceMin/ReduceMax, the
 *          other +∞/−∞ (a branch not taken measures nothing), and the If two more outputs;
 *   Loop   two more loop-carried values, starting at +∞/−∞, each iteration taking Min/Max with the value's;
 *   Scan   the same, as two more state variables (opset 9 and later).
 *
 * A value in a body nested deeper goes out one graph at a time. Bodies of other ops (none in the ONNX domain today)
 * are left alone: their values stay unmeasured.
 */
class SubgraphRanges {
  private readonly consts: { shape: string; posInf: string; negInf: string };

  constructor(private readonly m: QModel) {
    const g = m.graph;
    const add = (base: string, t: (name: string) => ReturnType<typeof makeTensor>) => {
      const name = m.names.fresh(base);
      g.initializer.push(t(name));
      return name;
    };
    this.consts = {
      shape: add('calibration_shape_1', (n) => makeTensor(n, 'int64', [1], new BigInt64Array([1n]))),
      posInf: add('calibration_pos_inf', (n) => makeTensor(n, 'float32', [1], new Float32Array([Infinity]))),
      negInf: add('calibration_neg_inf', (n) => makeTensor(n, 'float32', [1], new Float32Array([-Infinity]))),
    };
  }

  /** The main-graph names of `t`'s min and max (float [1]), or undefined when its body cannot carry them out. */
  expose(scope: Scope, t: string): { min: string; max: string } | undefined {
    if (!this.carries(scope)) return undefined;
    const names = this.m.names;
    const g = scope.graph;
    let v = t;
    if (scope.elemType(t) !== DT.FLOAT) {
      v = names.fresh(`${t}_as_float`);
      g.node.push(makeNode('Cast', [t], [v], { name: names.fresh(`${v}_node`), attrs: { to: DT.FLOAT } }));
    }
    const reduce = (op: 'ReduceMin' | 'ReduceMax') => {
      const r = names.fresh(`${t}_${op}`);
      const out = names.fresh(`${r}_1`);
      g.node.push(makeNode(op, [v], [r], { name: names.fresh(`${r}_node`), attrs: { keepdims: 1 } }));
      g.node.push(makeNode('Reshape', [r, this.consts.shape], [out], { name: names.fresh(`${out}_node`) }));
      return out;
    };
    return this.out(scope, reduce('ReduceMin'), reduce('ReduceMax'));
  }

  /** Whether every body from `scope` out to the main graph can carry values out. */
  private carries(scope: Scope): boolean {
    for (let s: Scope | undefined = scope; s?.parent; s = s.parent) {
      const p = s.owner!;
      const ok = p.domain === '' && (p.opType === 'If' || p.opType === 'Loop' || (p.opType === 'Scan' && this.m.opset('') >= 9));
      if (!ok) return false;
    }
    return true;
  }

  private out(scope: Scope, min: string, max: string): { min: string; max: string } {
    if (!scope.parent) return { min, max };
    const p = scope.owner!;
    const names = this.m.names;
    const g = scope.graph;
    const outer = { min: names.fresh(`${min}_out`), max: names.fresh(`${max}_out`) };
    if (p.opType === 'If') {
      for (const b of subgraphsOf(p)) {
        if (b.graph === g) {
          b.graph.output.push(floatOne(min), floatOne(max));
        } else {
          // The branch not holding the value: +∞ and −∞, which measure nothing.
          const lo = names.fresh(`${min}_untaken`);
          const hi = names.fresh(`${max}_untaken`);
          b.graph.node.push(makeNode('Identity', [this.consts.posInf], [lo], { name: names.fresh(`${lo}_node`) }));
          b.graph.node.push(makeNode('Identity', [this.consts.negInf], [hi], { name: names.fresh(`${hi}_node`) }));
          b.graph.output.push(floatOne(lo), floatOne(hi));
        }
      }
      p.output.push(outer.min, outer.max);
    } else {
      // Loop: inputs (M, cond, carried…), body inputs (iteration, cond, carried…), body outputs (cond, carried…,
      // scan outputs…), outputs (carried…, scan outputs…). Scan: state variables first in all four.
      const loop = p.opType === 'Loop';
      const carried = loop ? p.input.length - 2 : p.input.length - attrInt(p, 'num_scan_inputs', 0);
      const bodyIn = loop ? 2 + carried : carried;
      const bodyOut = loop ? 1 + carried : carried;
      const prev = { min: names.fresh(`${min}_so_far`), max: names.fresh(`${max}_so_far`) };
      const next = { min: names.fresh(`${min}_running`), max: names.fresh(`${max}_running`) };
      g.input.splice(bodyIn, 0, floatOne(prev.min), floatOne(prev.max));
      g.node.push(makeNode('Min', [prev.min, min], [next.min], { name: names.fresh(`${next.min}_node`) }));
      g.node.push(makeNode('Max', [prev.max, max], [next.max], { name: names.fresh(`${next.max}_node`) }));
      g.output.splice(bodyOut, 0, floatOne(next.min), floatOne(next.max));
      p.input.splice(bodyIn, 0, this.consts.posInf, this.consts.negInf);
      while (p.output.length < carried) p.output.push('');
      p.output.splice(carried, 0, outer.min, outer.max);
    }
    return this.out(scope.parent, outer.min, outer.max);
  }
}

/** A float [1] value's declaration. */
function floatOne(name: string) {
  return create(ValueInfoProtoSchema, { name, type: { value: { case: 'tensorType', value: { elemType: DT.FLOAT, shape: { dim: [{ value: { case: 'dimValue', value: 1n } }] } } } } });
}
