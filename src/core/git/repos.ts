import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log';
import { run } from '../util/proc';

export interface RepositoryInfo {
  /** Absolute path of the work tree's top level. */
  root: string;
  /** Current branch, or undefined on a detached HEAD or before the first commit. */
  branch?: string;
  head?: string;
  detached: boolean;
  shallow: boolean;
}

const SKIP = new Set(['node_modules', '.git', '.hg', '.svn', 'dist', 'out', '.venv', 'venv', '__pycache__']);

/**
 * The git repositories that hold the given folders: each folder's enclosing repository, and repositories nested
 * below it up to `maxDepth` folders deep (`node_modules` and the like skipped). Sorted, without duplicates.
 */
export async function findRepositories(
  folders: readonly string[],
  opts: { log?: Logger; maxDepth?: number; git?: string } = {},
): Promise<RepositoryInfo[]> {
  const git = opts.git ?? 'git';
  const roots = new Set<string>();
  for (const folder of folders) {
    const top = await enclosingRepository(folder, git, opts.log);
    if (top) roots.add(top);
    for (const nested of await nestedRepositories(folder, opts.maxDepth ?? 3)) roots.add(nested);
  }
  const infos = await Promise.all([...roots].sort().map((r) => describeRepository(r, git, opts.log)));
  return infos;
}

async function enclosingRepository(folder: string, git: string, log?: Logger): Promise<string | undefined> {
  const r = await run(git, ['rev-parse', '--show-toplevel'], { cwd: folder, log, okCodes: [128] });
  return r.code === 0 ? path.resolve(r.stdout.trim()) : undefined;
}

async function nestedRepositories(folder: string, maxDepth: number): Promise<string[]> {
  const found: string[] = [];
  async function walk(dir: string, depth: number): Promise<void> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    if (depth > 0 && entries.some((e) => e.name === '.git')) found.push(path.resolve(dir));
    if (depth >= maxDepth) return;
    await Promise.all(
      entries.filter((e) => e.isDirectory() && !SKIP.has(e.name)).map((e) => walk(path.join(dir, e.name), depth + 1)),
    );
  }
  await walk(folder, 0);
  return found;
}

async function describeRepository(root: string, git: string, log?: Logger): Promise<RepositoryInfo> {
  const r = await run(git, ['rev-parse', '--abbrev-ref', 'HEAD', 'HEAD', '--is-shallow-repository'], {
    cwd: root,
    log,
    okCodes: [128],
  });
  const [abbrev, head, shallow] = r.stdout.trim().split('\n');
  if (r.code !== 0 || !head || head === 'HEAD') {
    // No commit yet: HEAD does not resolve.
    const b = await run(git, ['symbolic-ref', '--short', '-q', 'HEAD'], { cwd: root, log, okCodes: [1, 128] });
    return { root, branch: b.stdout.trim() || undefined, detached: false, shallow: false };
  }
  return {
    root,
    branch: abbrev === 'HEAD' ? undefined : abbrev,
    head,
    detached: abbrev === 'HEAD',
    shallow: shallow === 'true',
  };
}
