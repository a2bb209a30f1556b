// Background processes recorded by PID (with their start time, so a reused PID is never taken for ours).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { log, mkdirp, paths, sleep } from './common.mjs';

function pidFile(name) {
  return path.join(paths.pids, `${name}.pid`);
}

function startTime(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // field 22 (starttime), counted after the ")" that ends the command name
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return null;
  }
}

export function readPid(name) {
  try {
    return JSON.parse(fs.readFileSync(pidFile(name), 'utf8'));
  } catch {
    return null;
  }
}

/** The recorded PID when that process still runs, else null. */
export function livePid(name) {
  const rec = readPid(name);
  if (!rec) return null;
  const st = startTime(rec.pid);
  if (!st || st !== rec.start) return null;
  try {
    const s = fs.readFileSync(`/proc/${rec.pid}/stat`, 'utf8');
    if (s.slice(s.lastIndexOf(')') + 2).startsWith('Z')) return null;
  } catch {
    return null;
  }
  return rec.pid;
}

export function startProc(name, cmd, args, { env, cwd } = {}) {
  mkdirp(paths.logs);
  mkdirp(paths.pids);
  const logFile = path.join(paths.logs, `${name}.log`);
  const fd = fs.openSync(logFile, 'a');
  fs.writeSync(fd, `\n==== ${new Date().toISOString()} ${cmd} ${args.join(' ')}\n`);
  const child = spawn(cmd, args, {
    env: env ?? process.env,
    cwd: cwd ?? paths.state,
    stdio: ['ignore', fd, fd],
    detached: true, // own session: survives this script, no terminal signals
  });
  fs.closeSync(fd);
  child.unref();
  if (!child.pid) throw new Error(`could not start ${name} (${cmd})`);
  // wait for /proc to show it
  let st = null;
  for (let i = 0; i < 50 && !st; i++) st = startTime(child.pid);
  fs.writeFileSync(pidFile(name), JSON.stringify({ pid: child.pid, start: st, cmd, args }));
  log(`started ${name} (pid ${child.pid}, log ${logFile})`);
  return child.pid;
}

/** SIGTERM, then SIGKILL after `timeoutMs`. Removes the pid file. Returns true when something was stopped. */
export async function stopProc(name, { timeoutMs = 10000, signal = 'SIGTERM' } = {}) {
  const pid = livePid(name);
  fs.rmSync(pidFile(name), { force: true });
  if (!pid) return false;
  return killPid(pid, name, { timeoutMs, signal });
}

export async function killPid(pid, name, { timeoutMs = 10000, signal = 'SIGTERM' } = {}) {
  const st = startTime(pid);
  const alive = () => {
    const now = startTime(pid);
    if (!now || now !== st) return false;
    try {
      const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return !s.slice(s.lastIndexOf(')') + 2).startsWith('Z');
    } catch {
      return false;
    }
  };
  try {
    process.kill(pid, signal);
  } catch {
    return false;
  }
  const t0 = Date.now();
  while (alive() && Date.now() - t0 < timeoutMs) await sleep(100);
  if (alive()) {
    log(`${name} (pid ${pid}) did not stop in ${timeoutMs / 1000} s: SIGKILL`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    const t1 = Date.now();
    while (alive() && Date.now() - t1 < 5000) await sleep(100);
  }
  log(`stopped ${name} (pid ${pid})`);
  return true;
}

/** PIDs of processes whose command line contains `needle` (used to find containerd's shims by our socket path). */
export function pidsWithArg(needle) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (cmdline.split('\0').some((a) => a.includes(needle))) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

export function tcpOpen(port, host = '127.0.0.1', timeoutMs = 1000) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.on('connect', () => done(true));
    s.on('error', () => done(false));
  });
}

export async function waitFor(what, fn, { timeoutMs = 60000, intervalMs = 250, proc } = {}) {
  const t0 = Date.now();
  let last;
  while (Date.now() - t0 < timeoutMs) {
    try {
      const r = await fn();
      if (r) return r;
    } catch (e) {
      last = e;
    }
    if (proc && !livePid(proc)) {
      const logFile = path.join(paths.logs, `${proc}.log`);
      const tail = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-25).join('\n') : '';
      throw new Error(`${proc} exited while waiting for ${what}; end of ${logFile}:\n${tail}`);
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? ` (${last.message})` : ''}`);
}
