/**
 * How many CPUs this process may use, for `modelyard serve --processes auto`: the CPU quota of its cgroup (what a
 * container's `resources.limits.cpu` becomes), not the machine's CPU count, which a container sees whole. cgroup v2
 * (cpu.max "QUOTA PERIOD" or "max PERIOD", the smallest along the path from the process's cgroup to the root) or v1
 * (cpu.cfs_quota_us / cpu.cfs_period_us); the quota rounded up (1.5 CPUs → 2 processes, each then throttled a
 * little, rather than one that leaves half a CPU idle), and never more than the CPUs the process may run on
 * (os.availableParallelism: its affinity, e.g. taskset).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface CpuBudget {
  cpus: number;
  /** Where the figure comes from, for the log: "cgroup v2 quota 1.5 CPUs (/sys/fs/cgroup/cpu.max)", "4 CPUs (no quota)". */
  from: string;
}

function read(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

type Quota = { cpus: number; file: string } | undefined;

/** The process's cgroup path in a hierarchy: "0::/a/b" for v2 (controllers ""), "4:cpu,cpuacct:/a/b" for v1. */
function cgroupPath(proc: string, controller: (list: string[]) => boolean): string | undefined {
  for (const line of (read(path.join(proc, 'self', 'cgroup')) ?? '').split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m && controller(m[1] ? m[1].split(',') : [])) return m[2];
  }
  return undefined;
}

/**
 * The smallest quota along the path from `dir` up to `root`, `parse` reading one level's files. Inside a container
 * with its own cgroup namespace the process's path is "/" and the limit sits at the root.
 */
function smallest(root: string, rel: string, parse: (dir: string) => Quota): Quota {
  let dir = path.join(root, rel);
  if (!dir.startsWith(root) || !fs.existsSync(dir)) dir = root;
  let best: Quota;
  for (;;) {
    const q = parse(dir);
    if (q && (!best || q.cpus < best.cpus)) best = q;
    if (dir.length <= root.length) return best;
    dir = path.dirname(dir);
  }
}

function quotaV2(root: string, proc: string): Quota {
  const rel = cgroupPath(proc, (list) => list.length === 0);
  if (rel === undefined || !fs.existsSync(path.join(root, 'cgroup.controllers'))) return undefined;
  return smallest(root, rel, (dir) => {
    const file = path.join(dir, 'cpu.max');
    const m = /^(\d+|max)\s+(\d+)$/.exec(read(file) ?? '');
    return m && m[1] !== 'max' && Number(m[2]) > 0 ? { cpus: Number(m[1]) / Number(m[2]), file } : undefined;
  });
}

function quotaV1(root: string, proc: string): Quota {
  const rel = cgroupPath(proc, (list) => list.includes('cpu')) ?? '/';
  for (const ctl of ['cpu', 'cpu,cpuacct', 'cpuacct,cpu']) {
    const base = path.join(root, ctl);
    if (!fs.existsSync(path.join(base, 'cpu.cfs_quota_us'))) continue;
    return smallest(base, rel, (dir) => {
      const file = path.join(dir, 'cpu.cfs_quota_us');
      const quota = Number(read(file));
      const period = Number(read(path.join(dir, 'cpu.cfs_period_us')));
      return quota > 0 && period > 0 ? { cpus: quota / period, file } : undefined;
    });
  }
  return undefined;
}

export function cpuBudget(opts: { cgroupRoot?: string; procRoot?: string; available?: number } = {}): CpuBudget {
  const root = opts.cgroupRoot ?? '/sys/fs/cgroup';
  const available = opts.available ?? os.availableParallelism();
  const proc = opts.procRoot ?? '/proc';
  const q = quotaV2(root, proc) ?? quotaV1(root, proc);
  if (!q) return { cpus: available, from: `${available} CPU${available === 1 ? '' : 's'} (no cgroup CPU quota: every CPU this process may use; a CPU limit or --processes N sets fewer)` };
  const cpus = Math.max(1, Math.min(available, Math.ceil(q.cpus - 1e-9)));
  return { cpus, from: `cgroup CPU quota ${+q.cpus.toFixed(2)} CPU${q.cpus === 1 ? '' : 's'} (${q.file})${cpus < Math.ceil(q.cpus - 1e-9) ? `, ${available} CPUs available` : ''}` };
}
