/**
 * The worker-process side of inference: the child process that owns onnxruntime-node (dist/inference-worker.js),
 * forked, watched and replaced here. A WorkerProcess is one child and the requests it has in hand; it turns every way
 * the child can fail (an error from onnxruntime, a crash, a kill, a run past its timeout, a cancellation) into an
 * InferenceError for the one request it concerns. Workers keeps the current child and starts a fresh one after a
 * crash, a kill or a timeout. Tensors cross as V8-serialized messages, large ones through a scratch file
 * (transport.ts). Nothing here throws asynchronously: a dead child is noticed on its `exit` event.
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { UserError, firstLine, markCancelled } from '../errors';
import type { Logger } from '../log';
import type { BenchProgress } from './latency';
import type { Reply, Request, RuntimeInfo, WireError } from './protocol';
import { openSharedFile, SharedFile, SHARED_FD_INDEX } from './transport';

/** How the worker is started. */
export interface WorkerOptions {
  /** The built worker: dist/inference-worker.js beside the extension or CLI bundle. */
  workerPath: string;
  /** Node to start the worker with; default process.execPath (with ELECTRON_RUN_AS_NODE, it is node in VS Code too). */
  execPath?: string;
  /** Node flags for the worker; default none (the parent's, such as a TypeScript loader, do not apply to a bundle). */
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
  /** Large tensors through a scratch file in /dev/shm (transport.ts); default true, false for the IPC channel alone. */
  sharedMemory?: boolean;
}

export type InferenceFailure = 'cancelled' | 'timeout' | 'worker-exit' | 'worker-start' | 'onnxruntime' | 'disposed';

/**
 * A UserError from the inference path, with the kind of failure for callers that treat some apart. One of reason
 * 'cancelled' is core's one cancellation too (errors.ts: isCancelled, instanceof CancelledError).
 */
export class InferenceError extends UserError {
  constructor(
    message: string,
    hint: string | undefined,
    readonly reason: InferenceFailure,
  ) {
    super(message, hint);
    if (reason === 'cancelled') markCancelled(this);
  }
}

/** How long a cancelled benchmark may take to stop at its next run before the worker is killed. */
const CANCEL_GRACE_MS = 2000;
/** How long the worker may take to load onnxruntime-node and say it is ready (a cold disk, a loaded machine). */
const START_TIMEOUT_MS = 60_000;

export function cancelledError(what: string): InferenceError {
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

/** The host was shut down: every call in hand or later fails with this. */
export function disposedError(): InferenceError {
  return new InferenceError('the inference host was shut down.', 'Modelyard is stopping or reloading; run it again afterwards.', 'disposed');
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
export class WorkerProcess {
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
    opts: WorkerOptions,
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

/** The current worker, and a fresh one (the next generation) whenever it is gone. */
export class Workers {
  private current?: WorkerProcess;
  private generation = 0;

  constructor(
    private readonly opts: WorkerOptions,
    private readonly log: Logger,
  ) {}

  /** The worker's pid while one runs. */
  get pid(): number | undefined {
    return this.current?.alive ? this.current.child.pid : undefined;
  }

  /** The worker while it runs (its runtime facts need no new one). */
  get alive(): WorkerProcess | undefined {
    return this.current?.alive ? this.current : undefined;
  }

  /** The running worker, or a new one (the first call, or after a crash, a kill or a timeout). */
  async ensure(): Promise<WorkerProcess> {
    if (this.current?.alive) return this.current.ready.then(() => this.current!);
    if (!fs.existsSync(this.opts.workerPath)) {
      throw new InferenceError(`the inference worker is missing: ${this.opts.workerPath}.`, 'Reinstall Modelyard (or run `npm run build` in a checkout).', 'worker-start');
    }
    const w = new WorkerProcess(++this.generation, this.opts, this.log);
    this.current = w;
    try {
      await w.ready;
    } catch (e) {
      if (this.current === w) this.current = undefined;
      throw e;
    }
    return w;
  }

  /** Stops the worker, if any: what it has in hand rejects with `reason`. */
  async stop(reason: InferenceError): Promise<void> {
    const w = this.current;
    this.current = undefined;
    if (!w) return;
    w.kill(reason);
    await w.exited;
  }
}
