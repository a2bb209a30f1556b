/**
 * InferenceHost: the parent side of the inference worker. It forks dist/inference-worker.js on first use, loads
 * models there, checks feeds before they leave this process, and turns every way the worker can fail (an error from
 * onnxruntime, a crash, a kill, a run past its timeout, a cancellation) into a UserError for the one call it concerns.
 * Nothing here throws asynchronously: a dead worker is noticed on its `exit` event and replaced on the next call.
 *
 * One request is in the worker at a time (a queue here): onnxruntime-node's run blocks the worker's event loop, so
 * sending more would only hide queueing time inside a run's timeout, and a kill would take innocent calls with it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { UserError, firstLine } from '../errors';
import { nullLogger, type Logger } from '../log';
import type { BenchProgress, BenchResult, BenchSettings } from './bench';
import { checkFeeds, checkOutputNames } from './check';
import type { LoadedSession, ProviderInfo, Reply, Request, RunReply, RuntimeInfo, SessionOptions, WireError } from './protocol';
import { countNonFinite, type NonFinite } from './stats';
import type { Tensor, TensorInfo } from './tensor';
import { openSharedFile, SharedFile, SHARED_FD_INDEX } from './transport';

export type { GraphOptimizationLevel, ProviderInfo, RuntimeInfo, SessionOptions } from './protocol';

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

export interface InferenceHostOptions {
  /** The built worker: dist/inference-worker.js beside the extension or CLI bundle. */
  workerPath: string;
  log?: Logger;
  /** Default for each run (modelyard.inference.timeoutSeconds × 1000); 0 or undefined for none. */
  timeoutMs?: number;
  /** Node to start the worker with; default process.execPath (with ELECTRON_RUN_AS_NODE, it is node in VS Code too). */
  execPath?: string;
  /** Node flags for the worker; default none (the parent's, such as a TypeScript loader, do not apply to a bundle). */
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
  /** Large tensors through a scratch file in /dev/shm (transport.ts); default true, false for the IPC channel alone. */
  sharedMemory?: boolean;
}

export type InferenceFailure = 'cancelled' | 'timeout' | 'worker-exit' | 'worker-start' | 'onnxruntime' | 'disposed';

/** A UserError from the inference path, with the kind of failure for callers that treat some apart (cancelled). */
export class InferenceError extends UserError {
  constructor(
    message: string,
    hint: string | undefined,
    readonly reason: InferenceFailure,
  ) {
    super(message, hint);
  }
}

/** How long a cancelled benchmark may take to stop at its next run before the worker is killed. */
const CANCEL_GRACE_MS = 2000;
/** How long the worker may take to load onnxruntime-node and say it is ready (a cold disk, a loaded machine). */
const START_TIMEOUT_MS = 60_000;

function cancelledError(what: string): InferenceError {
  return new InferenceError(`${what} was cancelled.`, 'Nothing was kept; run it again when you need it.', 'cancelled');
}

function timeoutError(what: string, ms: number): InferenceError {
  const s = +(ms / 1000).toFixed(3);
  return new InferenceError(
    `${what} timed out after ${s} s: the model ran longer than modelyard.inference.timeoutSeconds (${s} s).`,
    'Raise modelyard.inference.timeoutSeconds, or give smaller inputs; the worker was stopped, and the next run starts a fresh one.',
    'timeout',
  );
}

function fromWire(e: WireError, what: string): Error {
  if (e.cancelled) return cancelledError(what);
  if (e.user) return new InferenceError(e.message, e.hint, 'onnxruntime');
  const err = new Error(e.message);
  if (e.stack) err.stack = e.stack;
  return err;
}

interface Pending {
  what: string;
  resolve(v: unknown): void;
  reject(e: Error): void;
  progress(p: BenchProgress): void;
}

interface RequestControl {
  /** Names the call in messages: "running model.onnx". */
  what: string;
  signal?: AbortSignal;
  timeoutMs?: number;
  onProgress?: (p: BenchProgress) => void;
  /** Cancel by asking the worker to stop between runs (a benchmark), killing it only if it does not within a grace period. */
  cooperative?: boolean;
}

type RequestBody = Request extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/** One child process and the requests it has in hand. */
class WorkerProcess {
  readonly child: ChildProcess;
  readonly ready: Promise<RuntimeInfo>;
  alive = true;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly tail: string[] = [];
  private fatal?: WireError;
  private starting = true;
  private killedWith?: InferenceError;
  readonly exited: Promise<void>;
  /** The scratch file for large tensors; its fd is closed here once the worker is gone. */
  shared: SharedFile;

  constructor(
    readonly generation: number,
    opts: InferenceHostOptions,
    private readonly log: Logger,
  ) {
    const t0 = performance.now();
    const fd = opts.sharedMemory === false ? undefined : openSharedFile();
    this.shared = new SharedFile(fd);
    this.child = fork(opts.workerPath, [], {
      serialization: 'advanced',
      // The scratch file goes to the worker as fd 4 (SHARED_FD_INDEX).
      stdio: fd === undefined ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe', 'ipc', fd],
      execPath: opts.execPath,
      execArgv: opts.execArgv ?? [],
      env: { ...(opts.env ?? process.env), ELECTRON_RUN_AS_NODE: '1', MODELYARD_SHARED_FD: fd === undefined ? '' : String(SHARED_FD_INDEX) },
    });
    this.ready = new Promise<RuntimeInfo>((resolve, reject) => {
      this.settleReady = (r) => (r instanceof Error ? reject(r) : resolve(r));
    });
    this.ready.catch(() => {}); // awaited by the caller that started us; never an unhandled rejection
    const startTimer = setTimeout(
      () => this.kill(new InferenceError(`the inference worker did not start within ${START_TIMEOUT_MS / 1000} s.`, 'The machine may be overloaded; try again, and see Show Log.', 'worker-start')),
      START_TIMEOUT_MS,
    );
    startTimer.unref();
    this.ready.then(
      () => clearTimeout(startTimer),
      () => clearTimeout(startTimer),
    );
    let exited!: () => void;
    this.exited = new Promise((r) => (exited = r));
    for (const stream of [this.child.stdout, this.child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (text: string) => this.output(text));
      stream?.on('error', () => {});
      (stream as unknown as { unref?: () => void } | null)?.unref?.();
    }
    this.child.on('message', (m: Reply) => {
      if (m.kind === 'ready') {
        if (!m.shared && this.shared.fd !== undefined) {
          this.shared.close();
          this.shared = new SharedFile(undefined);
        }
        this.starting = false;
        this.updateRef();
        log.info(`[inference] worker pid ${this.child.pid} ready in ${(performance.now() - t0).toFixed(0)} ms (onnxruntime-node ${m.runtime.ortVersion})`);
        this.settleReady(m.runtime);
      } else if (m.kind === 'fatal') {
        this.fatal = m.error;
      } else if (m.kind === 'progress') {
        this.pending.get(m.id)?.progress(m.progress);
      } else {
        const p = this.pending.get(m.id);
        if (m.kind === 'ok') p?.resolve(m.result);
        else {
          if (m.error.stack) log.debug(`[inference] worker error stack: ${m.error.stack}`);
          p?.reject(fromWire(m.error, p.what));
        }
      }
    });
    this.child.on('error', (e) => {
      // Spawning failed (no pid), or a kill or send did; the exit event, if any, settles the rest.
      log.warn(`[inference] worker process error: ${e.message}`);
      if (this.child.pid === undefined) this.onExit(null, null, e.message);
    });
    this.child.on('exit', (code, signal) => {
      this.onExit(code, signal);
      this.shared.close();
      exited();
    });
    if (this.child.pid === undefined) {
      this.shared.close();
      exited();
    }
    this.updateRef();
  }

  /** Resolves or rejects `ready`: once the worker has said so, or has died first. */
  private settleReady!: (r: RuntimeInfo | Error) => void;

  private output(text: string): void {
    for (const line of text.split(/\r?\n/)) {
      if (!line.trim()) continue;
      this.tail.push(line);
      if (this.tail.length > 20) this.tail.shift();
      this.log.warn(`[inference] worker: ${line}`);
    }
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null, spawnError?: string): void {
    if (!this.alive && this.pending.size === 0 && !this.starting) {
      this.log.info(`[inference] worker pid ${this.child.pid} ended (${signal ?? `exit ${code}`})`);
      return;
    }
    this.alive = false;
    const how = spawnError ?? (signal ? `signal ${signal}` : `exit code ${code}`);
    this.log.warn(`[inference] worker pid ${this.child.pid ?? '?'} stopped (${how})${this.tail.length ? `; its last output: ${this.tail.slice(-5).join(' | ')}` : ''}`);
    if (this.starting) {
      this.starting = false;
      const msg = this.fatal?.message ?? `the inference worker could not start (${how})${this.lastLine() ? `: ${this.lastLine()}` : ''}.`;
      this.settleReady(new InferenceError(msg, this.fatal?.hint ?? 'Check that onnxruntime-node is installed beside Modelyard (Show Environment), and see Show Log.', 'worker-start'));
    }
    for (const p of [...this.pending.values()]) p.reject(this.killedWith ?? exitError(how, signal, p.what, this.lastLine()));
  }

  /**
   * The worker's most telling last line of output: not a native stack frame ("3: 0xb8d0a3 node::Abort()"), not a JS
   * one ("at …", or "2: listOnTimeout (node:internal/timers:581:17)" as Node's abort report writes them), not the
   * report's "----- JavaScript stack trace -----" headings, not Node's version banner, which follow the message on
   * a crash.
   */
  private lastLine(): string | undefined {
    const told = this.tail.filter((l) => !/^\s*(\d+: 0x|\d+: .*:\d+:\d+\)?$|at |#\d+ |Node\.js v\d|\^+$|-{3,} .* -{3,}$)/.test(l));
    const l = told[told.length - 1];
    return l ? firstLine(l).trim().slice(0, 300) : undefined;
  }

  /** Keeps the parent alive only while the worker has work: a CLI that forgets dispose() still exits. */
  private updateRef(): void {
    const busy = this.starting || this.pending.size > 0;
    const ch = this.child.channel as { ref?: () => void; unref?: () => void } | null | undefined;
    if (busy) {
      this.child.ref();
      ch?.ref?.();
    } else {
      this.child.unref();
      ch?.unref?.();
    }
  }

  /** Stops the process at once; every request in hand rejects with `reason`. */
  kill(reason: InferenceError): void {
    if (!this.alive) return;
    this.alive = false;
    this.killedWith = reason;
    this.log.info(`[inference] stopping worker pid ${this.child.pid}: ${reason.message}`);
    for (const p of [...this.pending.values()]) p.reject(reason);
    if (this.starting) {
      this.starting = false;
      this.settleReady(reason);
    }
    try {
      this.child.ref(); // an idle worker is unreferenced: without this, the parent could exit before seeing it go
      this.child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }

  request<T>(body: RequestBody, ctl: RequestControl): Promise<T> {
    if (!this.alive) return Promise.reject(exitError('not running', null, ctl.what, undefined));
    if (ctl.signal?.aborted) return Promise.reject(cancelledError(ctl.what));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let grace: NodeJS.Timeout | undefined;
      const arm = () => {
        if (!ctl.timeoutMs) return;
        clearTimeout(timer);
        timer = setTimeout(() => this.kill(timeoutError(ctl.what, ctl.timeoutMs!)), ctl.timeoutMs);
      };
      const onAbort = () => {
        if (!ctl.cooperative) return this.kill(cancelledError(ctl.what));
        this.send({ op: 'cancel', id: 0, target: id }, () => {});
        grace = setTimeout(() => this.kill(cancelledError(ctl.what)), CANCEL_GRACE_MS);
      };
      const done = () => {
        clearTimeout(timer);
        clearTimeout(grace);
        ctl.signal?.removeEventListener('abort', onAbort);
        this.pending.delete(id);
        this.updateRef();
      };
      this.pending.set(id, {
        what: ctl.what,
        resolve: (v) => {
          done();
          resolve(v as T);
        },
        reject: (e) => {
          done();
          reject(e);
        },
        progress: (p) => {
          arm();
          try {
            ctl.onProgress?.(p);
          } catch (e) {
            this.log.warn(`[inference] a progress callback threw: ${String(e)}`);
          }
        },
      });
      this.updateRef();
      ctl.signal?.addEventListener('abort', onAbort, { once: true });
      arm();
      this.send({ ...body, id } as Request, (err) => {
        const p = this.pending.get(id);
        if (err && p) p.reject(new InferenceError(`the inference worker could not be reached while ${ctl.what}: ${err.message}.`, 'The next call starts a fresh worker.', 'worker-exit'));
      });
    });
  }

  private send(msg: Request, cb: (err: Error | null) => void): void {
    try {
      this.child.send(msg, cb);
    } catch (e) {
      cb(e instanceof Error ? e : new Error(String(e)));
    }
  }
}

function exitError(how: string, signal: NodeJS.Signals | null, what: string, lastLine: string | undefined): InferenceError {
  const hint =
    signal === 'SIGKILL'
      ? 'Something killed it: most often the system, when memory runs out (try smaller inputs). The next call starts a fresh worker.'
      : 'onnxruntime crashed on this model or input; Show Log has the worker’s last output. The next call starts a fresh worker.';
  return new InferenceError(`the inference worker stopped (${how}) while ${what}${lastLine ? `; it said: ${lastLine}` : ''}.`, hint, 'worker-exit');
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
  private worker?: WorkerProcess;
  private starting?: Promise<WorkerProcess>;
  private generation = 0;
  private queue: Promise<void> = Promise.resolve();
  private readonly records = new Map<string, SessionRecord>();
  private readonly byKey = new Map<string, SessionRecord>();
  private nextId = 1;
  private disposed = false;
  private readonly log: Logger;

  constructor(private readonly opts: InferenceHostOptions) {
    this.log = opts.log ?? nullLogger;
  }

  /** The worker's pid while one runs (for diagnostics and tests). */
  get pid(): number | undefined {
    return this.worker?.alive ? this.worker.child.pid : undefined;
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
        const w = await this.ensureWorker();
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
      const w = await this.ensureWorker();
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
      const w = await this.ensureWorker();
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
    const w = this.worker;
    if (!w?.alive || rec.gen !== w.generation || rec.wid === undefined) return;
    const wid = rec.wid;
    await this.exclusive(undefined, async () => {
      if (w.alive) await w.request({ op: 'release', session: wid }, { what: `releasing ${rec.label}` }).catch((e) => this.log.warn(`[inference] release of ${id}: ${String(e)}`));
    });
  }

  /** The execution providers onnxruntime-node offers on this machine. */
  async availableProviders(): Promise<ProviderInfo[]> {
    return this.exclusive(undefined, async () => (await this.ensureWorker()).request<ProviderInfo[]>({ op: 'providers' }, { what: 'listing execution providers' }));
  }

  /** Versions and machine facts, as the worker sees them (starts it when needed; never waits behind a run). */
  async runtimeInfo(): Promise<RuntimeInfo> {
    if (this.worker?.alive) return this.worker.ready;
    return this.exclusive(undefined, async () => (await this.ensureWorker()).ready);
  }

  /** Stops the worker; calls in progress or queued reject, and later calls too. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const w = this.worker;
    this.worker = undefined;
    if (!w) return;
    w.kill(new InferenceError('the inference host was shut down.', 'Modelyard is stopping or reloading; run it again afterwards.', 'disposed'));
    await w.exited;
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
    if (this.disposed) return Promise.reject(new InferenceError('the inference host was shut down.', 'Modelyard is stopping or reloading; run it again afterwards.', 'disposed'));
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
          if (this.disposed) throw new InferenceError('the inference host was shut down.', 'Modelyard is stopping or reloading; run it again afterwards.', 'disposed');
          resolve(await fn());
        } catch (e) {
          reject(e);
        } finally {
          release();
        }
      });
    });
  }

  /** The running worker, or a new one (the first call, or after a crash, a kill or a timeout). */
  private async ensureWorker(): Promise<WorkerProcess> {
    if (this.worker?.alive) return this.worker.ready.then(() => this.worker!);
    if (!fs.existsSync(this.opts.workerPath)) {
      throw new InferenceError(`the inference worker is missing: ${this.opts.workerPath}.`, 'Reinstall Modelyard (or run `npm run build` in a checkout).', 'worker-start');
    }
    const w = new WorkerProcess(++this.generation, this.opts, this.log);
    this.worker = w;
    try {
      await w.ready;
    } catch (e) {
      if (this.worker === w) this.worker = undefined;
      throw e;
    }
    return w;
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
