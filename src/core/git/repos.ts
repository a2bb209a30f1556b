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
  // Two calls: `--abbrev-ref` would apply to every argument after it, so it cannot share a call with HEAD's sha.
  const [rev, sym] = await Promise.all([
    run(git, ['rev-parse', '--is-shallow-repository', '--verify', '-q', 'HEAD'], { cwd: root, log, okCodes: [1, 128] }),
    run(git, ['symbolic-ref', '--short', '-q', 'HEAD'], { cwd: root, log, okCodes: [1, 128] }),
  ]);
  const [shallow, head] = rev.stdout.trim().split('\n');
  const branch = sym.code === 0 ? sym.stdout.trim() || undefined : undefined;
  return {
    root,
    ...(branch ? { branch } : {}),
    ...(head && /^[0-9a-f]{40,64}$/.test(head) ? { head } : {}),
    // symbolic-ref fails only when HEAD is detached.
    detached: sym.code !== 0,
    shallow: shallow === 'true',
  };
}
