// The CLI as users run it, for unit tests: built from source with esbuild into out/cli-dev/<pid>/ (cli.js beside
// inference-worker.js, onnxruntime-node external), so that the tests never depend on dist/, which a parallel
// `npm run build` deletes and rewrites.
import * as esbuild from 'esbuild';
import { spawn, spawnSync, type ChildProcess, type SpawnSyncOptions } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
let built: string | undefined;

/** The path of the freshly built cli.js (built once per test process, removed when it exits). */
export function cliPath(): string {
  if (built) return built;
  const dir = path.join(root, 'out', 'cli-dev', String(process.pid));
  fs.mkdirSync(dir, { recursive: true });
  const common: esbuild.BuildOptions = {
    outdir: dir,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['onnxruntime-node'],
    alias: { 'jsonc-parser': 'jsonc-parser/lib/esm/main.js' }, // as esbuild.mjs: its UMD main does not bundle
    sourcemap: 'inline',
    logLevel: 'warning',
    define: { MODELYARD_VERSION: '"0.1.0"', 'process.env.MODELYARD_RELEASE': '""' },
  };
  esbuild.buildSync({ ...common, entryPoints: { cli: path.join(root, 'src', 'cli', 'main.ts'), 'cli-cloud': path.join(root, 'src', 'cli', 'cloud.ts'), 'grpc-js': path.join(root, 'src', 'cli', 'grpc-js.ts') }, banner: { js: '#!/usr/bin/env node' } });
  esbuild.buildSync({ ...common, entryPoints: { 'inference-worker': path.join(root, 'src', 'core', 'inference', 'worker.ts') } });
  fs.chmodSync(path.join(dir, 'cli.js'), 0o755);
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  built = path.join(dir, 'cli.js');
  return built;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `modelyard ARGS…` to completion. */
export function modelyard(args: string[], opts: SpawnSyncOptions = {}): CliResult {
  const r = spawnSync(process.execPath, [cliPath(), ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
    ...opts,
    env: { ...process.env, MODELYARD_DEBUG: '', ...(opts.env ?? {}) },
  });
  return { code: r.status, signal: r.signal, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Starts `modelyard ARGS…` in the background (serve, or a run to interrupt). */
export function spawnModelyard(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  return spawn(process.execPath, [cliPath(), ...args], { cwd: opts.cwd ?? root, env: { ...process.env, MODELYARD_DEBUG: '', ...(opts.env ?? {}) }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Resolves with the first stdout line of `child` that `match` accepts (rejects when it exits first). */
export function waitForLine(child: ChildProcess, match: (line: string) => boolean, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let err = '';
    const timer = setTimeout(() => done(new Error(`no matching line within ${timeoutMs} ms; stdout: ${buf} stderr: ${err}`)), timeoutMs);
    const onData = (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      for (const l of lines.slice(0, -1)) if (match(l)) return done(undefined, l);
    };
    const onErr = (d: Buffer) => (err += d.toString());
    const onExit = (code: number | null) => done(new Error(`exited (${code}) before the line; stdout: ${buf} stderr: ${err}`));
    const done = (e?: Error, line?: string) => {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.stderr?.off('data', onErr);
      child.off('exit', onExit);
      if (e) reject(e);
      else resolve(line!);
    };
    child.stdout!.on('data', onData);
    child.stderr?.on('data', onErr);
    child.on('exit', onExit);
  });
}

/** Collects everything a child writes, and resolves with it and its exit code when it exits. */
export function collect(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })));
}
