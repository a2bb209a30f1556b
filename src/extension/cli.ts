import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import type { Readable } from 'node:stream';
import * as vscode from 'vscode';
import { CancelledError, UserError } from '../core/errors';
import { CLI_EVENTS_ENV, CLI_EVENTS_FD, parseCliEvent, type CliEvent, type CliEventOf } from '../shared/cli/events';

/** How a `modelyard` child process ended. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Standard output: the verb's result (JSON with --json). */
  stdout: string;
  ms: number;
}

export interface CliOptions {
  cwd?: string;
  /** Cancelling ends the process (SIGTERM, then SIGKILL after 5 s); the run then rejects with CancelledError. */
  token?: vscode.CancellationToken;
  /** Each event of the channel (src/shared/cli/events.ts), validated. */
  onEvent?: (e: CliEvent) => void;
  /** Keep standard output for the result (default); false for a server whose stdout is not read. */
  collectStdout?: boolean;
  /** Standard output as it comes (a stream of log lines), besides collecting it. */
  onStdout?: (text: string) => void;
  /** Variables added to (or, undefined, removed from) the extension host's environment for this child. */
  env?: Record<string, string | undefined>;
}

/** A running `modelyard` child process. */
export interface CliProcess {
  readonly pid: number | undefined;
  /** Resolves when it exits with one of `okCodes` (default 0) and reported no error; rejects with the verb's own error (UserError, CancelledError). */
  readonly done: Promise<CliResult>;
  /** Ends it: SIGTERM, then SIGKILL after 5 s. Resolves when it has exited. */
  stop(): Promise<void>;
}

/**
 * Runs the extension's own CLI (dist/cli.js, the same core the `modelyard` command runs) as a child process on the
 * extension host's Node, so long work never blocks the extension host and stopping it is ending the process. The
 * child reports on the one event channel (file descriptor 3, JSON lines validated against the shared schema);
 * standard error goes to the log; the log also records each process's pid, exit code and duration.
 */
export class Cli {
  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  /** Runs a verb to its end. Exit codes in `okCodes` (default 0) resolve; a failure rejects with its message. */
  async run(args: readonly string[], opts: CliOptions & { okCodes?: number[] } = {}): Promise<CliResult> {
    return this.start(args, opts, opts.okCodes).done;
  }

  /** Starts a verb that runs until stopped (a server) or until it ends. */
  start(args: readonly string[], opts: CliOptions = {}, okCodes: number[] = [0]): CliProcess {
    const cli = vscode.Uri.joinPath(this.extensionUri, 'dist', 'cli.js').fsPath;
    const t0 = performance.now();
    const label = `modelyard ${args[0] ?? ''}`;
    const child: ChildProcess = spawn(process.execPath, [cli, ...args], {
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      env: childEnv(opts.env),
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      windowsHide: true,
    });
    this.log.info(`[cli] ${label} started (pid ${child.pid}): ${args.map(quote).join(' ')}`);
    let error: CliEventOf<'error'> | undefined = undefined as CliEventOf<'error'> | undefined;
    let cancelled = false;
    readline.createInterface({ input: child.stdio[CLI_EVENTS_FD] as Readable }).on('line', (line) => {
      const v = parseCliEvent(line);
      if (!v.ok) {
        this.log.warn(`[cli] ${label} (pid ${child.pid}): dropped an event line that is not in the contract (${v.error})`);
        return;
      }
      if (v.value.event === 'error') error = v.value;
      opts.onEvent?.(v.value);
    });
    readline.createInterface({ input: child.stderr! }).on('line', (line) => this.log.info(`[cli ${child.pid}] ${line}`));
    let stdout = '';
    child.stdout!.setEncoding('utf8').on('data', (t: string) => {
      if (opts.collectStdout !== false) stdout += t;
      opts.onStdout?.(t);
    });

    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: Error }>((resolve) => {
      child.once('error', (e) => resolve({ code: null, signal: null, spawnError: e }));
      child.once('close', (code, signal) => resolve({ code, signal }));
    });
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    };
    const sub = opts.token?.onCancellationRequested(() => {
      cancelled = true;
      void stop();
    });
    const done = exited.then(({ code, signal, spawnError }) => {
      sub?.dispose();
      const ms = performance.now() - t0;
      this.log.info(`[cli] ${label} (pid ${child.pid}) ${signal ? `ended by ${signal}` : `exited ${code}`} after ${ms.toFixed(0)} ms`);
      if (spawnError) throw new UserError(`Modelyard's command-line tool could not start: ${spawnError.message}.`, 'Reinstall the extension.');
      // The verb's own words on a cancellation are kept: a deploy stopped mid-rollout says what the cluster is left with.
      if (cancelled || code === 130 || error?.cancelled) throw error?.cancelled ? new CancelledError(error.message, error.hint) : new CancelledError();
      // An error event wins over the exit code: exit 1 is also a verb's "ran, and the answer is no" (a failed gate).
      if (error && !error.internal) throw new UserError(error.message, error.hint);
      if (code !== null && okCodes.includes(code) && !error) return { code, signal, stdout, ms };
      throw new Error(`${label} ${error ? `failed: ${error.message}` : `stopped unexpectedly (${signal ?? `exit ${code}`})`}`);
    });
    return { pid: child.pid, done, stop };
  }
}

function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra, ELECTRON_RUN_AS_NODE: '1', [CLI_EVENTS_ENV]: `fd:${CLI_EVENTS_FD}` };
  for (const [k, v] of Object.entries(extra)) if (v === undefined) delete env[k];
  return env;
}

function quote(a: string): string {
  return /^[\w@#%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}
