/** Reading a model's bytes and history from git, without a checkout. Git LFS pointers are recognised and smudged. */
import { UserError, firstLine } from '../errors';
import type { Logger } from '../log';
import { run, runBytes } from '../util/proc';

export interface LfsPointer {
  oid: string;
  size: number;
}

const LFS_HEADER = 'version https://git-lfs.github.com/spec/v1';

/** Parses a Git LFS pointer file (https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md). */
export function parseLfsPointer(data: Buffer | string): LfsPointer | undefined {
  if (data.length > 1024) return undefined;
  const text = typeof data === 'string' ? data : data.toString('utf8');
  if (!text.startsWith(LFS_HEADER)) return undefined;
  const oid = /^oid sha256:([0-9a-f]{64})$/m.exec(text)?.[1];
  const size = /^size (\d+)$/m.exec(text)?.[1];
  return oid && size ? { oid, size: Number(size) } : undefined;
}

function spec(commit: string, path: string): string {
  if (!/^[0-9a-f]{40,64}$/.test(commit)) throw new Error(`not a commit sha: ${commit}`);
  return `${commit}:${path}`;
}

export interface BlobInfo {
  /** The size of the model: the LFS object's size for a pointer. */
  size: number;
  /** The size of what git stores (the pointer, for LFS). */
  storedSize: number;
  lfs?: LfsPointer;
}

/** Size of a file at a commit, and whether git stores it as an LFS pointer. */
export async function blobInfo(root: string, commit: string, path: string, log?: Logger): Promise<BlobInfo> {
  const r = await run('git', ['cat-file', '-s', spec(commit, path)], { cwd: root, log, okCodes: [128] });
  if (r.code !== 0) throw new UserError(`${path} does not exist at commit ${commit.slice(0, 8)}.`, 'The model may have been moved or renamed since.');
  const storedSize = Number(r.stdout.trim());
  if (storedSize <= 1024) {
    const b = await run('git', ['cat-file', 'blob', spec(commit, path)], { cwd: root, log });
    const lfs = parseLfsPointer(b.stdout);
    if (lfs) return { size: lfs.size, storedSize, lfs };
  }
  return { size: storedSize, storedSize };
}

/** Reads a file's bytes at a commit. An LFS pointer is smudged through git-lfs (which must be installed). */
export async function readBlob(root: string, commit: string, path: string, log?: Logger): Promise<Buffer> {
  const raw = (await runBytes('git', ['cat-file', 'blob', spec(commit, path)], { cwd: root, log })).stdout;
  const lfs = parseLfsPointer(raw);
  if (!lfs) return raw;
  const probe = await run('git', ['lfs', 'version'], { cwd: root, log, okCodes: [1, 128] }).catch(() => undefined);
  if (!probe || probe.code !== 0) {
    throw new UserError(
      `${path} is stored with Git LFS (${lfs.size} bytes), and git-lfs is not installed.`,
      'Install Git LFS (https://git-lfs.com, or your package manager: git-lfs), run `git lfs install`, and try again.',
    );
  }
  try {
    const data = (await runBytes('git', ['lfs', 'smudge', '--', path], { cwd: root, log, input: raw })).stdout;
    if (parseLfsPointer(data)) throw new Error('git lfs smudge returned the pointer');
    return data;
  } catch (e) {
    throw new UserError(
      `the LFS object of ${path} at ${commit.slice(0, 8)} could not be fetched: ${firstLine(e instanceof Error ? e.message : String(e))}`,
      'Run `git lfs fetch` (the remote must be reachable), then try again.',
    );
  }
}

export interface FileCommit {
  commit: string;
  author: string;
  authorEmail: string;
  /** Seconds since the epoch (author date). */
  date: number;
  subject: string;
  /** Size at that commit; undefined where the commit deleted the file. */
  size?: number;
}

/** The commits that changed a file, newest first, each with the file's size then (one git log, one cat-file batch). */
export async function fileHistory(root: string, path: string, opts: { log?: Logger; max?: number } = {}): Promise<FileCommit[]> {
  const r = await run('git', ['log', `--max-count=${opts.max ?? 500}`, '--format=%H%x00%an%x00%ae%x00%at%x00%s', '--', path], { cwd: root, log: opts.log, okCodes: [128] });
  if (r.code !== 0) return [];
  const commits = r.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [commit, author, authorEmail, date, subject] = line.split('\0');
      return { commit: commit!, author: author!, authorEmail: authorEmail!, date: Number(date), subject: subject ?? '' } as FileCommit;
    });
  if (!commits.length) return commits;
  const sizes = await run('git', ['cat-file', '--batch-check=%(objectsize)'], {
    cwd: root,
    log: opts.log,
    input: Buffer.from(commits.map((c) => `${c.commit}:${path}\n`).join('')),
  });
  sizes.stdout
    .split('\n')
    .forEach((line, i) => {
      const c = commits[i];
      if (c && /^\d+$/.test(line)) c.size = Number(line);
    });
  return commits;
}
