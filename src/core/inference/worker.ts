/**
 * The inference worker: a child process that owns onnxruntime-node (built to dist/inference-worker.js, forked by
 * InferenceHost). A native crash, an out-of-memory kill or a run that never ends takes down this process only;
 * the host sees the exit and answers its callers. It serves one request at a time (the host sends one at a time):
 * a run blocks this event loop until onnxruntime returns, so there is nothing to interleave with.
 */
import fs from 'node:fs';
import os from 'node:os';
import { firstLine, isCancelled } from '../errors';
import { benchmarkLoop } from './latency';
import type { LoadedSession, ProviderInfo, Reply, Request, RunReply, SessionOptions, WireError } from './protocol';
import type { Tensor, TensorInfo } from './tensor';
import { alignedData, SharedFile, SHARED_FD_INDEX } from './transport';
import type * as Ort from 'onnxruntime-node';

type OrtModule = typeof Ort;

let ort: OrtModule;
const sessions = new Map<number, Ort.InferenceSession>();
let nextSession = 1;
/** Benchmarks asked to stop (ids of their requests). */
const cancelled = new Set<number>();
/** The scratch file for large tensors, when the host handed one over (transport.ts). */
let shared = new SharedFile(undefined);
/**
 * Input buffers kept from the previous call, by input name: a model is usually run again and again on inputs of
 * the same size, and fresh memory costs page faults (about 1 ms per 5 MB here).
 */
const inputBuffers = new Map<string, Tensor['data']>();

function send(msg: Reply): void {
  process.send!(msg);
}

/** Thrown for a problem this worker finds itself (as opposed to one onnxruntime reports). */
class Refused extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

/**
 * An error from onnxruntime as the host will show it: onnxruntime's first line after our context. Everything a
 * request does is a call into onnxruntime, so its errors are the user's to act on; the stack goes to the log.
 */
function toWire(e: unknown, context: string, hint: string): WireError {
  if (isCancelled(e)) return { message: 'cancelled', user: true, cancelled: true };
  if (e instanceof Refused) return { message: e.message, hint: e.hint, user: true };
  const err = e instanceof Error ? e : new Error(String(e));
  // "…Status Message: /onnxruntime_src/…/element_wise_ops.h:563 void onnxruntime::BroadcastIterator::Init(ptrdiff_t,
  // ptrdiff_t) axis == 1 … Attempting to broadcast": the source location and C++ signature say nothing to a person.
  const line = firstLine(err.message)
    .replace(/^Error:\s*/, '')
    .replace(/\/onnxruntime_src\/\S+:\d+ (?:[\w:<>,*& ]+\([^)]*\)(?:::<lambda\(\)>)?(?: const)? )?/g, '');
  return { message: `${context}: ${line}`, hint, user: true, stack: err.stack };
}

function sessionOptions(o: SessionOptions): Ort.InferenceSession.SessionOptions {
  return {
    executionProviders: (o.executionProviders?.length ? o.executionProviders : ['cpu']) as Ort.InferenceSession.SessionOptions['executionProviders'],
    graphOptimizationLevel: o.graphOptimizationLevel ?? 'all',
    ...(o.intraOpThreads ? { intraOpNumThreads: o.intraOpThreads } : {}),
    ...(o.interOpThreads ? { interOpNumThreads: o.interOpThreads } : {}),
    ...(o.optimizedModelFilePath ? { optimizedModelFilePath: o.optimizedModelFilePath } : {}),
    // Fatal only: onnxruntime's warnings (unused initializers …) are noise to people, and its errors are thrown
    // (they would reach the log twice). A fatal message is what precedes a native abort: the host keeps it.
    logSeverityLevel: 4,
  };
}

function describe(m: Ort.InferenceSession.ValueMetadata): TensorInfo {
  if (!m.isTensor) return { name: m.name };
  return { name: m.name, kind: 'tensor', dtype: m.type as TensorInfo['dtype'], shape: m.shape.map((d) => (d === '' ? null : d)) };
}

/** Execution providers onnxruntime-node does not offer on this platform are refused by name, before it fails obscurely. */
function checkProviders(asked: readonly string[] | undefined): void {
  const offered = providers().map((p) => p.name);
  const unknown = (asked ?? []).filter((ep) => !offered.includes(ep));
  if (unknown.length) {
    throw new Refused(
      `execution provider${unknown.length > 1 ? 's' : ''} ${unknown.map((ep) => `'${ep}'`).join(', ')} ${unknown.length > 1 ? 'are' : 'is'} not offered by onnxruntime-node on this platform (it offers ${offered.join(', ')}).`,
      "Choose one it offers, or 'cpu'.",
    );
  }
}

async function load(r: Extract<Request, { op: 'load' }>): Promise<LoadedSession> {
  checkProviders(r.options.executionProviders);
  const t0 = performance.now();
  const opts = sessionOptions(r.options);
  const s = 'path' in r.source ? await ort.InferenceSession.create(r.source.path, opts) : await ort.InferenceSession.create(r.source.bytes, opts);
  const loadMs = performance.now() - t0;
  const id = nextSession++;
  sessions.set(id, s);
  return { session: id, inputs: s.inputMetadata.map(describe), outputs: s.outputMetadata.map(describe), loadMs };
}

function session(id: number): Ort.InferenceSession {
  const s = sessions.get(id);
  if (!s) throw new Error(`no session ${id} in this worker`);
  return s;
}

function toOrt(feeds: Record<string, Tensor>): Record<string, Ort.Tensor> {
  const out: Record<string, Ort.Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) out[name] = new ort.Tensor(t.dtype as 'float32', alignedData(t.data) as Float32Array, t.shape);
  return out;
}

function fromOrt(results: Ort.InferenceSession.ReturnType): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(results)) out[name] = { dtype: t.type as Tensor['dtype'], shape: [...t.dims], data: t.data as Tensor['data'] };
  return out;
}

async function run(r: Extract<Request, { op: 'run' }>): Promise<RunReply> {
  const start = performance.now();
  const s = session(r.session);
  const feeds = toOrt(shared.unpack(r.feeds, inputBuffers));
  const t0 = performance.now();
  const results = r.outputs?.length ? await s.run(feeds, r.outputs) : await s.run(feeds);
  const ms = performance.now() - t0;
  const outputs = shared.pack(fromOrt(results));
  return { outputs, ms, workerMs: performance.now() - start };
}

async function bench(r: Extract<Request, { op: 'bench' }>) {
  const s = session(r.session);
  const feeds = toOrt(shared.unpack(r.feeds, inputBuffers));
  const fetches = r.outputs?.length ? r.outputs : s.outputNames;
  const once = async () => {
    const t0 = performance.now();
    await s.run(feeds, fetches);
    return performance.now() - t0;
  };
  try {
    return await benchmarkLoop(once, r.settings, {
      onProgress: (progress) => send({ kind: 'progress', id: r.id, progress }),
      shouldStop: () => cancelled.has(r.id),
      progressEveryMs: r.progressEveryMs,
    });
  } finally {
    cancelled.delete(r.id);
  }
}

async function release(r: Extract<Request, { op: 'release' }>): Promise<null> {
  const s = sessions.get(r.session);
  sessions.delete(r.session);
  await s?.release();
  return null;
}

function providers(): ProviderInfo[] {
  const list = (ort as unknown as { listSupportedBackends?: () => ProviderInfo[] }).listSupportedBackends?.() ?? [{ name: 'cpu', bundled: true }];
  return list.map((b) => ({ name: b.name, bundled: b.bundled }));
}

async function handle(r: Request): Promise<void> {
  if (r.op === 'cancel') {
    cancelled.add(r.target);
    return;
  }
  try {
    let result: Extract<Reply, { kind: 'ok' }>['result'];
    if (r.op === 'load') result = await load(r);
    else if (r.op === 'run') result = await run(r);
    else if (r.op === 'bench') result = await bench(r);
    else if (r.op === 'release') result = await release(r);
    else result = providers();
    send({ kind: 'ok', id: r.id, result });
  } catch (e) {
    const eps = r.op === 'load' ? (r.options.executionProviders ?? []).filter((ep) => ep !== 'cpu') : [];
    const error =
      r.op === 'load'
        ? toWire(
            e,
            `onnxruntime could not load ${r.label}`,
            eps.length
              ? `The execution provider ${eps.join(', ')} may be unusable here (CUDA and TensorRT need their libraries, WebGPU a GPU adapter): try 'cpu'. Otherwise check that the file is an ONNX model onnxruntime-node supports.`
              : 'Check that the file is an ONNX model, and that onnxruntime-node supports its opset and operators (Show Environment names the version).',
          )
        : toWire(e, 'onnxruntime failed to run the model', 'The inputs passed the checks on names, types and shapes; check their values (indices in range, sizes the model computes from them), or run the model in Python to compare.');
    send({ kind: 'error', id: r.id, error });
  }
}

async function main(): Promise<void> {
  if (!process.send) {
    console.error('inference-worker: start me with child_process.fork (an IPC channel is needed).');
    process.exit(2);
  }
  // Node 24 (code-server's, and desktop VS Code's next) has a global Float16Array. onnxruntime-common then wraps
  // float16 data in one, which onnxruntime-node 1.30's binding reads as empty ("not enough space: expected N, got 0").
  // Without it, float16 tensors travel as Uint16Array, as on Node 20.
  delete (globalThis as { Float16Array?: unknown }).Float16Array;
  try {
    ort = await import('onnxruntime-node');
  } catch (e) {
    const error: WireError = {
      message: `onnxruntime-node could not be loaded: ${firstLine(e instanceof Error ? e.message : String(e))}`,
      hint: 'Reinstall Modelyard (onnxruntime-node ships beside it in node_modules); Show Environment checks it.',
      user: true,
    };
    process.send({ kind: 'fatal', error } satisfies Reply, () => process.exit(1));
    return;
  }
  if (process.env.MODELYARD_SHARED_FD === String(SHARED_FD_INDEX)) {
    try {
      if (fs.fstatSync(SHARED_FD_INDEX).isFile()) shared = new SharedFile(SHARED_FD_INDEX);
    } catch {
      // not inherited after all: tensors take the IPC channel
    }
  }
  // A bug here must not leave the host guessing: one line it can quote, then the exit it will report.
  const die = (e: unknown) => {
    process.stderr.write(`inference worker failed: ${firstLine(e instanceof Error ? (e.stack ?? e.message) : String(e))}\n`);
    process.exit(70);
  };
  process.on('uncaughtException', die);
  process.on('unhandledRejection', die);
  // The parent is gone (crashed, or quit without disposing): nothing will ever ask again.
  process.on('disconnect', () => process.exit(0));
  // Ctrl-C in a terminal reaches the whole process group: the parent decides (a server drains its requests in flight,
  // which need this worker), then disconnects or stops it.
  process.on('SIGINT', () => undefined);
  process.on('message', (r: Request) => void handle(r));
  send({
    kind: 'ready',
    shared: shared.fd !== undefined,
    runtime: {
      ortVersion: ort.env.versions.node ?? '?',
      ortCommonVersion: ort.env.versions.common,
      node: process.version,
      platform: process.platform,
      arch: process.arch,
      pid: process.pid,
      cpus: os.availableParallelism?.() ?? os.cpus().length,
      location: ortLocation(),
    },
  });
}

/** Where onnxruntime-node was loaded from: Show Environment names it, so that a user can tell which copy runs. */
function ortLocation(): string {
  try {
    return require.resolve('onnxruntime-node');
  } catch {
    return '?';
  }
}

void main();
