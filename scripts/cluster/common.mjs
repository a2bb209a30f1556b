// Shared helpers of the test cluster: paths, logging, running commands.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function cacheRoot() {
  return process.env.MODELYARD_CACHE || path.join(os.homedir(), '.cache', 'modelyard-test');
}

export const paths = {
  get root() {
    return path.join(cacheRoot(), 'cluster');
  },
  get state() {
    return path.join(cacheRoot(), 'cluster', 'state');
  },
  get go() {
    return path.join(cacheRoot(), 'go');
  },
  get logs() {
    return path.join(this.state, 'logs');
  },
  get pids() {
    return path.join(this.state, 'pids');
  },
  get pki() {
    return path.join(this.state, 'pki');
  },
  get data() {
    return path.join(this.state, 'data');
  },
  get run() {
    return path.join(this.state, 'run');
  },
};

let quiet = false;
export function setQuiet(q) {
  quiet = q;
}

export function log(msg) {
  if (!quiet) process.stderr.write(`[cluster] ${msg}\n`);
}

export function fmtMs(ms) {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const whole = Math.round(s);
  return `${Math.floor(whole / 60)} min ${whole % 60} s (${whole} s)`;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs a command synchronously; throws with its output on failure unless `allowFail`. */
export function sh(cmd, args, opts = {}) {
  const { allowFail = false, input, env, cwd, inherit = false, timeout } = opts;
  const r = spawnSync(cmd, args, {
    input,
    env: env ?? process.env,
    cwd,
    timeout,
    maxBuffer: 256 * 1024 * 1024,
    encoding: 'utf8',
    stdio: inherit ? ['ignore', 'inherit', 'inherit'] : ['pipe', 'pipe', 'pipe'],
  });
  if ((r.status !== 0 || r.error) && !allowFail) {
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-30).join('\n');
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`})\n${out}`);
  }
  return { ok: r.status === 0 && !r.error, status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Runs a command asynchronously, output appended to `logFile`; resolves on exit 0, rejects otherwise. */
export function shLogged(cmd, args, { env, cwd, logFile }) {
  return new Promise((resolve, reject) => {
    const fd = fs.openSync(logFile, 'a');
    fs.writeSync(fd, `\n$ ${cmd} ${args.join(' ')}\n`);
    const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', fd, fd] });
    child.on('error', (e) => {
      fs.closeSync(fd);
      reject(e);
    });
    child.on('exit', (code, sig) => {
      fs.closeSync(fd);
      if (code === 0) resolve();
      else {
        const tail = fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-25).join('\n');
        reject(new Error(`${cmd} ${args.slice(0, 3).join(' ')}… failed (exit ${code ?? sig}); see ${logFile}\n${tail}`));
      }
    });
  });
}

export function which(cmd) {
  return sh('sh', ['-c', `command -v ${cmd}`], { allowFail: true }).stdout.trim() || null;
}

export function mkdirp(p, mode) {
  fs.mkdirSync(p, { recursive: true, mode });
  return p;
}

export function writeFile(p, content, mode = 0o644) {
  mkdirp(path.dirname(p));
  fs.writeFileSync(p, content, { mode });
  fs.chmodSync(p, mode);
  return p;
}

export function isRoot() {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}
