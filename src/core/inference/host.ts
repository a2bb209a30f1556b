/**
 * InferenceHost: the sessions the extension and the CLI use. It loads models in the inference worker (started on
 * first use and replaced after a crash, a kill or a timeout: worker-process.ts), keeps them by source and options so
 * that the same model loads once, loads them again in a fresh worker, and checks feeds before they leave this
 * process. Every failure of a call is a UserError for that call (an InferenceError from the worker's side).
 *
 * One request is in the worker at a time (a queue here): onnxruntime-node's run blocks the worker's event loop, so
 * sending more would only hide queueing time inside a run's timeout, and a kill would take innocent calls with it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors';
import { nullLogger, type Logger } from '../log';
import { checkFeeds, checkOutputNames } from './check';
import type { BenchProgress, BenchResult, BenchSettings } from './latency';
import type { LoadedSession, ProviderInfo, RunReply, RuntimeInfo, SessionOptions } from './protocol';
import { countNonFinite, type NonFinite } from './stats';
import type { Tensor, TensorInfo } from './tensor';
import { cancelledError, disposedError, Workers, type WorkerOptions, type WorkerProcess } from './worker-process';

export type { GraphOptimizationLevel, ProviderInfo, RuntimeInfo, SessionOptions } from './protocol';
export { InferenceError, type InferenceFailure } from './worker-process';

/** A model to load: a file (onnxruntime reads it, external data beside it included), or bytes named by a stable key. */
export type Source = { path: string } | { bytes: Uint8Array; key: string; label?: string };

export interface SessionInfo {
  /** The host's id for the session; stays valid across worker restarts until released. */
  id: string;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  /** Time onnxruntime took to create the session (parse, optimise, allocate), in the worker. */
  loadMs: number;
  /** The execution providers asked for, in order of preference. */
  providers: string[];
  /** The path, or the bytes' label or key: how messages name the model. */
  label: string;
  /** Answered by an earlier load with the same source and options (nothing was reloaded). */
  reused: boolean;
}

export interface HostRunOptions {
  /** Only these outputs (default: all). */
  outputs?: string[];
  signal?: AbortSignal;
  /** Overrides the host's timeout for this call; 0 for none. */
  timeoutMs?: number;
}

export interface RunResult {
  outputs: Record<string, Tensor>;
  /** onnxruntime's run alone (in the worker). */
  ms: number;
  /** The request inside the worker: the run, and turning tensors from and into messages. */
  workerMs: number;
  /** From sending the request to having the outputs here: the worker's part plus the IPC. */
  wallMs: number;
  /**
   * Outputs holding NaN or ±Infinity, with their counts (empty when all are finite). Counted on first read: a
   * caller that never looks (the V2 server) does not pay for a pass over every output.
   */
  readonly nonFinite: Record<string, NonFinite>;
}

/** Adds `nonFinite` as an enumerable getter that counts once: JSON.stringify and spreads still see it. */
function withNonFinite(r: Omit<RunResult, 'nonFinite'>): RunResult {
  let counted: Record<string, NonFinite> | undefined;
  return Object.defineProperty(r, 'nonFinite', {
    enumerable: true,
    get() {
      if (!counted) {
        counted = {};
        for (const [name, t] of Object.entries(r.outputs)) {
          const c = countNonFinite(t);
          if (c.nan || c.inf) counted[name] = c;
        }
      }
      return counted;
    },
  }) as RunResult;
}

export interface HostBenchOptions extends BenchSettings {
  outputs?: string[];
  signal?: AbortSignal;
  /** Longest a single run may take (the benchmark as a whole is bounded by its budget). */
  timeoutMs?: number;
  onProgress?: (p: BenchProgress) => void;
}

export interface InferenceHostOptions extends WorkerOptions {
  log?: Logger;
  /** Default for each run (modelyard.inference.timeoutSeconds × 1000); 0 or undefined for none. */
  timeoutMs?: number;
}

interface SessionRecord {
  id: string;
  key: string;
  label: string;
  source: { path: string } | { bytes: Uint8Array };
  options: SessionOptions;
  info: Omit<SessionInfo, 'reused'>;
  refs: number;
  /** The worker generation and its session number, while the session is loaded there. */
  gen?: number;
  wid?: number;
}

/** The options as a canonical string: equal settings, equal key. */
function optionsKey(o: SessionOptions): string {
  return JSON.stringify([o.intraOpThreads ?? 0, o.interOpThreads ?? 0, o.graphOptimizationLevel ?? 'all', o.executionProviders?.length ? o.executionProviders : ['cpu'], o.optimizedModelFilePath ?? '']);
}

export class InferenceHost {
  private readonly workers: Workers;
  private queue: Promise<void> = Promise.resolve();
  private readonly records = new Map<string, SessionRecord>();
  private readonly byKey = new Map<string, SessionRecord>();
  private nextId = 1;
  private disposed = false;
  private readonly log: Logger;

  constructor(private readonly opts: InferenceHostOptions) {
    this.log = opts.log ?? nullLogger;
    this.workers = new Workers(opts, this.log);
  }

  /** The worker's pid while one runs (for diagnostics and tests). */
  get pid(): number | undefined {
    return this.workers.pid;
  }

  /** Loads a model, or returns the session already loaded from the same source with the same options. */
  async load(source: Source, options: SessionOptions = {}, ctl: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<SessionInfo> {
    const spec = this.describeSource(source);
    const key = `${spec.key}\n${optionsKey(options)}`;
    const reuse = (): SessionInfo | undefined => {
      const rec = this.byKey.get(key);
      if (!rec) return undefined;
      rec.refs++;
      return { ...rec.info, reused: true };
    };
    return (
      reuse() ??
      this.exclusive(ctl.signal, async () => {
        const again = reuse(); // the same model, asked for while an earlier load of it waited in the queue
        if (again) return again;
        const w = await this.workers.ensure();
        const r = await w.request<LoadedSession>({ op: 'load', source: spec.source, options, label: spec.label }, { what: `loading ${spec.label}`, signal: ctl.signal, timeoutMs: ctl.timeoutMs });
        const id = `s${this.nextId++}`;
        const info = { id, inputs: r.inputs, outputs: r.outputs, loadMs: r.loadMs, providers: options.executionProviders?.length ? [...options.executionProviders] : ['cpu'], label: spec.label };
        const rec: SessionRecord = { id, key, label: spec.label, source: spec.source, options: { ...options }, info, refs: 1, gen: w.generation, wid: r.session };
        this.records.set(id, rec);
        this.byKey.set(key, rec);
        this.log.info(`[inference] loaded ${spec.label} in ${r.loadMs.toFixed(0)} ms as ${id}`);
        return { ...info, reused: false };
      })
    );
  }

  /** What was loaded under this id, or undefined once released. */
  session(id: string): SessionInfo | undefined {
    const rec = this.records.get(id);
    return rec && { ...rec.info, reused: false };
  }

  /** Runs a session on feeds checked against its inputs first. */
  async run(id: string, feeds: Record<string, Tensor>, opts: HostRunOptions = {}): Promise<RunResult> {
    const rec = this.record(id);
    checkFeeds(rec.info.inputs, feeds);
    checkOutputNames(rec.info.outputs, opts.outputs);
    return this.exclusive(opts.signal, async () => {
      const w = await this.workers.ensure();
      const wid = await this.ensureSession(w, rec, opts.signal);
      const t0 = performance.now();
      const r = await w.request<RunReply>(
        { op: 'run', session: wid, feeds: w.shared.pack(feeds), outputs: opts.outputs },
        { what: `running ${rec.label}`, signal: opts.signal, timeoutMs: opts.timeoutMs ?? this.opts.timeoutMs },
      );
      const outputs = w.shared.unpack(r.outputs);
      const wallMs = performance.now() - t0;
      this.log.trace(`[inference] ran ${id} in ${r.ms.toFixed(2)} ms (${wallMs.toFixed(2)} ms with IPC)`);
      return withNonFinite({ outputs, ms: r.ms, workerMs: r.workerMs, wallMs });
    });
  }

  /** Benchmarks a session inside the worker (see bench.ts): the latencies are onnxruntime's, without IPC. */
  async bench(id: string, feeds: Record<string, Tensor>, opts: HostBenchOptions = {}): Promise<BenchResult> {
    const rec = this.record(id);
    checkFeeds(rec.info.inputs, feeds);
    checkOutputNames(rec.info.outputs, opts.outputs);
    const settings: BenchSettings = { warmup: opts.warmup, runs: opts.runs, budgetMs: opts.budgetMs, bins: opts.bins };
    const timeoutMs = opts.timeoutMs ?? this.opts.timeoutMs;
    return this.exclusive(opts.signal, async () => {
      const w = await this.workers.ensure();
      const wid = await this.ensureSession(w, rec, opts.signal);
      return w.request<BenchResult>(
        { op: 'bench', session: wid, feeds: w.shared.pack(feeds), outputs: opts.outputs, settings, progressEveryMs: timeoutMs ? Math.min(100, timeoutMs / 4) : 100 },
        { what: `benchmarking ${rec.label}`, signal: opts.signal, timeoutMs, onProgress: opts.onProgress, cooperative: true },
      );
    });
  }

  /** Drops one reference to a session; the last one frees it in the worker. */
  async release(id: string): Promise<void> {
    const rec = this.records.get(id);
    if (!rec || --rec.refs > 0) return;
    this.records.delete(id);
    this.byKey.delete(rec.key);
    const w = this.workers.alive;
    if (!w || rec.gen !== w.generation || rec.wid === undefined) return;
    const wid = rec.wid;
    await this.exclusive(undefined, async () => {
      if (w.alive) await w.request({ op: 'release', session: wid }, { what: `releasing ${rec.label}` }).catch((e) => this.log.warn(`[inference] release of ${id}: ${String(e)}`));
    });
  }

  /** The execution providers onnxruntime-node offers on this machine. */
  async availableProviders(): Promise<ProviderInfo[]> {
    return this.exclusive(undefined, async () => (await this.workers.ensure()).request<ProviderInfo[]>({ op: 'providers' }, { what: 'listing execution providers' }));
  }

  /** Versions and machine facts, as the worker sees them (starts it when needed; never waits behind a run). */
  async runtimeInfo(): Promise<RuntimeInfo> {
    const w = this.workers.alive;
    if (w) return w.ready;
    return this.exclusive(undefined, async () => (await this.workers.ensure()).ready);
  }

  /** Stops the worker; calls in progress or queued reject, and later calls too. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.workers.stop(disposedError());
  }

  private record(id: string): SessionRecord {
    const rec = this.records.get(id);
    if (!rec) throw new UserError(`session ${id} is not loaded (it was released, or never loaded here).`, 'Load the model again.');
    return rec;
  }

  private describeSource(source: Source): { key: string; label: string; source: SessionRecord['source'] } {
    if ('path' in source) {
      const abs = path.resolve(source.path);
      let st: fs.Stats;
      try {
        st = fs.statSync(abs);
      } catch {
        throw new UserError(`the model file ${abs} does not exist.`, 'Check the path; it may have been moved or deleted.');
      }
      if (!st.isFile()) throw new UserError(`${abs} is not a file.`, 'Give the path of an .onnx file.');
      // A changed file is a different model: its size and modification time are part of the key.
      return { key: `path:${abs}:${st.size}:${st.mtimeMs}`, label: abs, source: { path: abs } };
    }
    if (!(source.bytes instanceof Uint8Array) || source.bytes.length === 0) throw new UserError(`the model ${source.label ?? source.key} is empty.`, 'Check where its bytes come from.');
    return { key: `bytes:${source.key}`, label: source.label ?? source.key, source: { bytes: source.bytes } };
  }

  /**
   * Runs `fn` when every call queued before it has settled. A call cancelled while it waits rejects at once and
   * never reaches the worker.
   */
  private exclusive<T>(signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    if (this.disposed) return Promise.reject(disposedError());
    const before = this.queue;
    let release!: () => void;
    this.queue = new Promise<void>((r) => (release = r));
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(cancelledError('the call'));
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
      void before.then(async () => {
        signal?.removeEventListener('abort', onAbort);
        try {
          if (signal?.aborted) return;
          if (this.disposed) throw disposedError();
          resolve(await fn());
        } catch (e) {
          reject(e);
        } finally {
          release();
        }
      });
    });
  }

  /** The session's number in this worker, loading it again when the worker is newer than the session. */
  private async ensureSession(w: WorkerProcess, rec: SessionRecord, signal?: AbortSignal): Promise<number> {
    if (rec.gen === w.generation && rec.wid !== undefined) return rec.wid;
    this.log.info(`[inference] reloading ${rec.label} (${rec.id}) in a fresh worker`);
    const r = await w.request<LoadedSession>({ op: 'load', source: rec.source, options: rec.options, label: rec.label }, { what: `loading ${rec.label}`, signal });
    rec.gen = w.generation;
    rec.wid = r.session;
    return r.session;
  }
}
