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
import { makeNode, QModel, toFloat32 } from './graph';
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
  const scope = m.scopes()[0]!;
  const targets = (opts.tensors ?? calibrationTargets(m, {})).filter((t) => {
    const type = scope.elemType(t);
    return type === undefined || type === DT.FLOAT || type === DT.FLOAT16;
  });
  const ranges: Ranges = new Map();
  if (!targets.length) return ranges;
  for (const t of targets) {
    if (!scope.defines(t)) throw new UserError(`calibration was asked to measure '${t}', which the model's main graph does not define.`, 'Name values the main graph computes (node outputs or graph inputs).');
  }

  // Augment: outputs name → (target, what it carries).
  const outputs = new Map<string, { target: string; kind: 'min' | 'max' | 'value' }>();
  const g = m.graph;
  const original = g.output;
  g.output = [];
  const declare = (name: string) => g.output.push(create(ValueInfoProtoSchema, { name, type: { value: { case: 'tensorType', value: { elemType: scope.elemType(name) ?? DT.FLOAT } } } }));
  // Graph inputs are measured from the feeds themselves.
  const fromFeeds = targets.filter((t) => scope.inputs.has(t));
  for (const t of targets) {
    if (scope.inputs.has(t)) continue;
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
    if (opts.method === 'minmax') {
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
