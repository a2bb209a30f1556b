import { spawn } from 'node:child_process';
import { UserError, firstLine } from '../errors';
import type { Logger } from '../log';

export interface RunOptions {
  cwd?: string;
  log?: Logger;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Exit codes that are answers, not failures (for example 1 from `git rev-parse` outside a repository). */
  okCodes?: number[];
  signal?: AbortSignal;
  /** Called with each piece of stderr as it arrives (progress output), besides collecting it. */
  onStderr?: (text: string) => void;
  /** Bytes written to the program's standard input (closed after them); without it, stdin is closed at once. */
  input?: Buffer;
  /** Receives standard output as it arrives, instead of collecting it (stdout is then returned empty). */
  onStdout?: (chunk: Buffer) => void;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/**
 * Runs a program without a shell and logs its pid, exit code and duration. A missing program is a UserError that
 * names it; a non-zero exit not in okCodes throws with the program's first line of stderr.
 */
export async function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await runBytes(cmd, args, opts);
  return { stdout: r.stdout.toString('utf8'), stderr: r.stderr, code: r.code };
}

/** As run(), with standard output kept as bytes (model files, binary blobs). */
export function runBytes(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<{ stdout: Buffer; stderr: string; code: number }> {
  const t0 = performance.now();
  const label = `${cmd} ${args.join(' ')}`;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      windowsHide: true,
      signal: opts.signal,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    if (opts.input) child.stdin!.end(opts.input);
    child.stdout!.on('data', opts.onStdout ?? ((b: Buffer) => out.push(b)));
    child.stderr!.on('data', (b: Buffer) => {
      err.push(b);
      opts.onStderr?.(b.toString('utf8'));
    });
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) {
      timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    }
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const ms = performance.now() - t0;
      opts.log?.debug(`[proc] ${label} → ${e.code ?? e.message} (${ms.toFixed(1)} ms)`);
      if (e.code === 'ENOENT') {
        reject(new UserError(`'${cmd}' was not found on PATH.`, `Install ${cmd}, or add it to PATH, and try again.`));
      } else {
        reject(e);
      }
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      const ms = performance.now() - t0;
      const stdout = Buffer.concat(out);
      const stderr = Buffer.concat(err).toString('utf8');
      opts.log?.debug(`[proc] ${label} (pid ${child.pid}) → exit ${code ?? sig} in ${ms.toFixed(1)} ms`);
      if (code === null) {
        reject(new Error(`${cmd} was stopped (${sig ?? 'signal'})${opts.timeoutMs ? ` after ${opts.timeoutMs} ms` : ''}`));
        return;
      }
      if (code !== 0 && !(opts.okCodes ?? []).includes(code)) {
        reject(new Error(`${label} failed (exit ${code}): ${firstLine(stderr) || firstLine(stdout.subarray(0, 1024).toString('utf8'))}`));
        return;
      }
      resolve({ stdout, stderr, code });
    });
  });
}
