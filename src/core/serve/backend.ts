/**
 * The V2 server's backend over an InferenceHost: inference stays in the worker process, and concurrent requests are
 * batched along dim 0 when the model allows it.
 *
 * Why batch: the host runs one request at a time, each an IPC round trip (about 0.15 ms on a small model, more than
 * onnxruntime's run of it). Requests that arrive while a run is in flight wait; when it returns, those waiting are
 * concatenated along dim 0 and run once, and each gets its slice of the outputs. Under load the batch grows by
 * itself; alone, a request runs at once (no timer, no added latency).
 *
 * When the model allows: every input and output has dim 0 either open (a batch dim) or fixed at 1. Fixed at 1 is
 * what many exporters write; such a model is loaded a second time with dim 0 declared open (a copy of its bytes,
 * value_info dropped). Either way batching is only turned on after a check at load time: three requests of random
 * values, run one by one on the model as it is and together as one batch, must agree output by output (shape, and
 * values within 1e-5 + 1e-4·|x|). A model whose outputs do not follow the batch (a reduction over dim 0, a Reshape
 * with a fixed 1 inside) fails the check and is served one request at a time.
 */
import fs from 'node:fs';
import { describeError } from '../errors';
import { checkFeeds, checkOutputNames } from '../inference/check';
import { compareTensors } from '../inference/compare';
import type { InferenceHost, SessionInfo, Source } from '../inference/host';
import { makeFeeds } from '../inference/inputs';
import type { SessionOptions } from '../inference/protocol';
import { allocData, elementCount, type Tensor, type TensorData, type TensorInfo } from '../inference/tensor';
import type { Logger } from '../log';
import { decodeModel, encodeModel } from '../onnx/model';
import { ServeMetrics } from './metrics';
import type { V2Backend } from './v2';

export interface HostBackendOptions {
  name: string;
  version: string;
  sessionOptions?: SessionOptions;
  /** Batch concurrent requests when the model allows it (default true). */
  batching?: boolean;
  /** Largest number of batch rows in one run (default 64). */
  maxBatch?: number;
  timeoutMs?: number;
  log?: Logger;
  /** Where runs, queueing and batch sizes are counted (default: a new ServeMetrics, as `metrics`). */
  metrics?: ServeMetrics;
}

export interface BatchingInfo {
  enabled: boolean;
  /** Why not, or how: "dim 0 is open", "dim 0 fixed at 1, loaded again with it open". */
  reason: string;
}

export interface HostBackend extends V2Backend {
  batching: BatchingInfo;
  /** Runs done and requests answered (requests / runs is the mean batch). */
  readonly stats: { runs: number; requests: number };
  metrics: ServeMetrics;
  close(): Promise<void>;
}

interface Pending {
  feeds: Record<string, Tensor>;
  outputs?: string[];
  /** Requests batch together only with equal keys: the same shapes past dim 0, the same outputs asked for. */
  key: string;
  rows: number;
  /** performance.now() when it was queued. */
  queued: number;
  resolve(v: Record<string, Tensor>): void;
  reject(e: unknown): void;
}

const TOLERANCE = { atol: 1e-5, rtol: 1e-4, minCosine: 0 };
/** Models above this size are not loaded a second time for batching (it doubles their memory in the worker). */
const MAX_RELAX_BYTES = 256 * 2 ** 20;

const isOpen = (d: number | string | null | undefined) => typeof d !== 'number' || d < 0;

/** Whether dim 0 of every input and output is open or 1; 'open' when no fixed 1 is among them. */
function batchDims(inputs: TensorInfo[], outputs: TensorInfo[]): 'open' | 'fixed1' | string {
  for (const t of [...inputs, ...outputs]) {
    if (!t.dtype || !t.shape) return `'${t.name}' is not a tensor of known rank`;
    if (t.shape.length === 0) return `'${t.name}' is a scalar`;
  }
  const all = [...inputs, ...outputs].map((t) => t.shape![0]);
  const fixed = all.filter((d) => !isOpen(d));
  if (fixed.some((d) => d !== 1)) return 'dim 0 is fixed at a size other than 1';
  return fixed.length ? 'fixed1' : 'open';
}

/** The model's bytes with dim 0 of its inputs and outputs declared open, or undefined when that cannot be done here. */
function relaxedBytes(source: Source, inputs: TensorInfo[], outputs: TensorInfo[]): Uint8Array | undefined {
  let bytes: Uint8Array;
  if ('bytes' in source) bytes = source.bytes;
  else {
    if (fs.statSync(source.path).size > MAX_RELAX_BYTES) return undefined;
    bytes = fs.readFileSync(source.path);
  }
  if (bytes.length > MAX_RELAX_BYTES) return undefined;
  const m = decodeModel(bytes);
  const g = m.graph!;
  // External data is resolved against the file's folder; a copy in memory would lose it.
  if (g.initializer.some((t) => t.dataLocation === 1)) return undefined;
  const names = new Set([...inputs, ...outputs].map((t) => t.name));
  for (const v of [...g.input, ...g.output]) {
    if (!names.has(v.name)) continue;
    const dim = v.type?.value.case === 'tensorType' ? v.type.value.value.shape?.dim[0] : undefined;
    if (!dim) return undefined;
    dim.value = { case: 'dimParam', value: 'modelyard_batch' };
  }
  g.valueInfo = [];
  return encodeModel(m);
}

function concat(tensors: Tensor[]): Tensor {
  const first = tensors[0]!;
  const rows = tensors.reduce((n, t) => n + t.shape[0]!, 0);
  const shape = [rows, ...first.shape.slice(1)];
  const count = elementCount(shape);
  if (first.dtype === 'string') return { dtype: 'string', shape, data: tensors.flatMap((t) => t.data as string[]) };
  const data = allocData(first.dtype, count) as Exclude<TensorData, string[]>;
  let at = 0;
  for (const t of tensors) {
    (data as Float32Array).set(t.data as Float32Array, at);
    at += t.data.length;
  }
  return { dtype: first.dtype, shape, data };
}

function slice(t: Tensor, from: number, rows: number): Tensor {
  const per = t.shape[0] ? t.data.length / t.shape[0] : 0;
  const data = Array.isArray(t.data) ? t.data.slice(from * per, (from + rows) * per) : (t.data as Float32Array).subarray(from * per, (from + rows) * per);
  return { dtype: t.dtype, shape: [rows, ...t.shape.slice(1)], data: data as TensorData };
}

export async function createHostBackend(host: InferenceHost, source: Source, opts: HostBackendOptions): Promise<HostBackend> {
  const log = opts.log;
  const main: SessionInfo = await host.load(source, opts.sessionOptions);
  let batched: SessionInfo | undefined;
  const batching: BatchingInfo = { enabled: false, reason: 'turned off' };
  const runOpts = { timeoutMs: opts.timeoutMs };

  if (opts.batching !== false) {
    const dims = batchDims(main.inputs, main.outputs);
    if (dims !== 'open' && dims !== 'fixed1') batching.reason = dims;
    else {
      try {
        let candidate: SessionInfo = main;
        if (dims === 'fixed1') {
          const relaxed = relaxedBytes(source, main.inputs, main.outputs);
          if (!relaxed) throw new Error('the model could not be loaded again with dim 0 open (too large, or external data)');
          const key = 'path' in source ? `batched:${source.path}` : `batched:${source.key}`;
          candidate = await host.load({ bytes: relaxed, key, label: `${main.label} (batched)` }, opts.sessionOptions);
        }
        const why = await checkBatching(host, main, candidate);
        if (why) {
          if (candidate !== main) await host.release(candidate.id);
          batching.reason = why;
        } else {
          batched = candidate;
          batching.enabled = true;
          batching.reason = dims === 'open' ? 'dim 0 is open' : 'dim 0 fixed at 1 by the model, loaded again with it open';
        }
      } catch (e) {
        batching.reason = describeError(e);
      }
    }
  }
  log?.info(`[serve] batching ${batching.enabled ? 'on' : 'off'}: ${batching.reason}`);

  const maxBatch = Math.max(1, opts.maxBatch ?? 64);
  const queue: Pending[] = [];
  const stats = { runs: 0, requests: 0 };
  const metrics = opts.metrics ?? new ServeMetrics(opts.name, opts.version);
  let pumping = false;

  const runOne = async (p: Pending) => {
    try {
      stats.runs++;
      const t0 = performance.now();
      const outputs = (await host.run(main.id, p.feeds, { outputs: p.outputs, ...runOpts })).outputs;
      const t1 = performance.now();
      metrics.run(p.rows);
      metrics.request((t0 - p.queued) / 1000, (t1 - t0) / 1000);
      p.resolve(outputs);
    } catch (e) {
      p.reject(e);
    }
  };

  const runGroup = async (group: Pending[]) => {
    const feeds: Record<string, Tensor> = {};
    for (const name of Object.keys(group[0]!.feeds)) feeds[name] = concat(group.map((p) => p.feeds[name]!));
    const rows = group.reduce((n, p) => n + p.rows, 0);
    let outputs: Record<string, Tensor>;
    const t0 = performance.now();
    try {
      stats.runs++;
      outputs = (await host.run(batched!.id, feeds, { outputs: group[0]!.outputs, ...runOpts })).outputs;
    } catch (e) {
      // One request's values may be what onnxruntime refused: each gets its own answer.
      log?.debug(`[serve] a batch of ${group.length} failed (${describeError(e)}); running them one by one`);
      for (const p of group) await runOne(p);
      return;
    }
    if (Object.values(outputs).some((t) => t.shape[0] !== rows)) {
      batching.enabled = false;
      batching.reason = 'an output did not follow the batch';
      log?.warn(`[serve] batching turned off: an output's dim 0 is not the batch's ${rows} rows`);
      for (const p of group) await runOne(p);
      return;
    }
    const seconds = (performance.now() - t0) / 1000;
    metrics.run(rows);
    let at = 0;
    for (const p of group) {
      metrics.request((t0 - p.queued) / 1000, seconds);
      const mine: Record<string, Tensor> = {};
      for (const [name, t] of Object.entries(outputs)) mine[name] = slice(t, at, p.rows);
      at += p.rows;
      p.resolve(mine);
    }
  };

  const pump = async () => {
    if (pumping) return;
    pumping = true;
    try {
      while (queue.length) {
        const first = queue.shift()!;
        if (!batching.enabled || queue.length === 0) {
          await runOne(first);
          continue;
        }
        const group = [first];
        let rows = first.rows;
        for (let k = 0; k < queue.length && rows < maxBatch; ) {
          const p = queue[k]!;
          if (p.key === first.key && rows + p.rows <= maxBatch) {
            group.push(p);
            rows += p.rows;
            queue.splice(k, 1);
          } else k++;
        }
        if (group.length === 1) await runOne(first);
        else await runGroup(group);
      }
    } finally {
      pumping = false;
    }
  };

  return {
    name: opts.name,
    version: opts.version,
    inputs: main.inputs,
    outputs: main.outputs,
    batching,
    stats,
    metrics,
    infer(feeds, outputs) {
      // Each request is checked alone, so that a bad one gets its own 400 and never reaches a batch.
      checkFeeds(main.inputs, feeds);
      checkOutputNames(main.outputs, outputs);
      stats.requests++;
      const shapes = main.inputs.map((i) => feeds[i.name]!.shape.slice(1).join(','));
      const key = `${shapes.join(';')}|${outputs?.join(',') ?? '*'}`;
      const rows = main.inputs.length ? feeds[main.inputs[0]!.name]!.shape[0] ?? 1 : 1;
      const sameRows = main.inputs.every((i) => feeds[i.name]!.shape[0] === rows);
      return new Promise((resolve, reject) => {
        queue.push({ feeds, outputs, key: sameRows ? key : `${key}|${Math.random()}`, rows, queued: performance.now(), resolve, reject });
        void pump();
      });
    },
    async close() {
      if (batched && batched !== main) await host.release(batched.id).catch(() => {});
      await host.release(main.id).catch(() => {});
    },
  };
}

/** Three requests of random values, one by one on `one` and as one batch on `many`: undefined when they agree. */
async function checkBatching(host: InferenceHost, one: SessionInfo, many: SessionInfo): Promise<string | undefined> {
  const singles: Record<string, Tensor>[] = [];
  const overrides: Record<string, number> = {};
  for (const i of one.inputs) overrides[`${i.name}:0`] = 1;
  for (const seed of [11, 22, 33]) singles.push((await makeFeeds(one.inputs, { seed, overrides })).feeds);
  const expected = [];
  for (const f of singles) expected.push((await host.run(one.id, f)).outputs);
  const feeds: Record<string, Tensor> = {};
  for (const i of one.inputs) feeds[i.name] = concat(singles.map((f) => f[i.name]!));
  let got: Record<string, Tensor>;
  try {
    got = (await host.run(many.id, feeds)).outputs;
  } catch (e) {
    return `a batch of 3 did not run (${describeError(e)})`;
  }
  for (const [name, t] of Object.entries(got)) {
    if (t.shape[0] !== singles.length) return `output '${name}' has dim 0 of ${t.shape[0]} for a batch of 3`;
    for (let k = 0; k < singles.length; k++) {
      const c = compareTensors(name, expected[k]![name]!, slice(t, k, 1), TOLERANCE);
      if (!c.pass) return `a batch of 3 disagreed with single runs: ${c.reasons[0]}`;
    }
  }
  return undefined;
}
