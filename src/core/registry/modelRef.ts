/**
 * The one way to turn what a user names as a model into bytes and identity: a path to an .onnx file, or a registry
 * reference (`name`, `name@v1.2.3`, `name@latest`, `name#stage`, or `name@<commit>`) read from git without a
 * checkout. The CLI's verbs, the editor's commands (through their CLI child processes or directly) and deployment
 * all resolve models here.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors';
import type { Source } from '../inference/host';
import type { Logger } from '../log';
import { sha256Hex } from '../util/hash';
import { run } from '../util/proc';
import { readBlob } from './blobs';
import { findModel, loadRegistry, resolveRef, type Registry } from './registry';

export interface ModelRef {
  /** How messages name it: the path as given, or name@version (name@abcdef12 for an unregistered commit). */
  label: string;
  /** The served name: the file's base name without .onnx, or the registry name (":" and "/" made "-"). */
  name: string;
  /** What the inference worker loads: the file by path, or the bytes read from git. */
  source: Source;
  /** A registry version ("v1.2.3"), else undefined. */
  version?: string;
  /** For a registry reference: the commit the reference names. */
  commit?: string;
  /** For a registry reference: the git repository, the model's registry name, and its path in the repository. */
  root?: string;
  registryName?: string;
  relPath?: string;
  /** For a registry reference: the model file's place in the working tree (outputs are written beside it). */
  file?: string;
  /** A file given by path. */
  path?: string;
  /** The bytes, when read from git. */
  bytes?: Uint8Array;
  /** sha256 of the model file, hex; known at once for bytes from git, computed by modelSha256 for a path. */
  sha256?: string;
}

/** The git repository a registry reference is resolved in: the one holding `dir`. */
export async function gitRoot(dir: string, log: Logger): Promise<string | undefined> {
  if (!fs.existsSync(dir)) throw new UserError(`${dir} does not exist.`, 'Give --repo the folder of a git repository.');
  const r = await run('git', ['rev-parse', '--show-toplevel'], { cwd: dir, log, okCodes: [128] }).catch(() => undefined);
  return r && r.code === 0 ? r.stdout.trim() : undefined;
}

const COMMIT_REF = /^(?<name>[^@#]+)@(?<commit>[0-9a-f]{40}|[0-9a-f]{64})$/;

/**
 * MODEL as a user gives it: an existing file; otherwise a registry reference in the repository of `repo` (default:
 * the current folder), read from git. `registry` reuses a registry already loaded for that repository.
 */
export async function resolveModel(arg: string, opts: { repo?: string; cwd?: string; log: Logger; registry?: Registry }): Promise<ModelRef> {
  const cwd = opts.cwd ?? process.cwd();
  const file = path.resolve(cwd, arg);
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(file);
  } catch {
    st = undefined;
  }
  if (st) {
    if (!st.isFile()) throw new UserError(`${arg} is a folder, not a model file.`, 'Give the path of an .onnx file.');
    return { source: { path: file }, label: arg, name: path.basename(file).replace(/\.onnx$/i, '') || 'model', path: file };
  }
  const looksLikePath = /\.onnx$/i.test(arg) || arg.startsWith('.') || path.isAbsolute(arg) || arg.includes(path.sep + path.sep);
  if (looksLikePath) throw new UserError(`the model file ${arg} does not exist.`, 'Check the path, or give a registry reference (name, name@v1.2.3, name#stage).');
  const root = opts.registry?.root ?? (await gitRoot(opts.repo ?? cwd, opts.log));
  if (!root) {
    throw new UserError(
      `${arg} is not a file, and ${opts.repo ?? 'the current folder'} is not in a git repository where it could name a registered model.`,
      'Give the path of an .onnx file, or run inside the model repository (or pass --repo DIR).',
    );
  }
  const reg = opts.registry ?? (await loadRegistry(root, { log: opts.log }));
  const byCommit = COMMIT_REF.exec(arg)?.groups;
  const r = byCommit ? await atCommit(reg, byCommit.name!, byCommit.commit!, opts.log) : await resolveRef(reg, arg, opts.log);
  if (!r.path) throw new UserError(`${r.model.name} has no model file in ${root}.`, 'Declare its path in dvc.yaml (artifacts: NAME: path: …).');
  const bytes = await readBlob(root, r.commit, r.path, opts.log);
  const label = `${r.model.name}@${r.version?.version ?? r.commit.slice(0, 8)}`;
  return {
    source: { bytes, key: `git:${root}:${r.commit}:${r.path}`, label },
    label,
    name: r.model.name.replace(/[:/]/g, '-'),
    ...(r.version ? { version: r.version.version } : {}),
    commit: r.commit,
    root,
    registryName: r.model.name,
    relPath: r.path,
    file: path.join(root, r.path),
    bytes,
    sha256: sha256Hex(bytes),
  };
}

/** `name@<commit>`: the model's file at that commit, named by its version when one is registered there. */
async function atCommit(reg: Registry, name: string, commit: string, log: Logger) {
  const model = findModel(reg, name);
  const ok = await run('git', ['cat-file', '-e', `${commit}^{commit}`], { cwd: reg.root, log, okCodes: [1, 128] });
  if (ok.code !== 0) throw new UserError(`${reg.root} has no commit ${commit.slice(0, 12)}.`, 'Fetch it, or name a registered version (name@v1.2.3).');
  const version = model.state?.versions.find((v) => v.commit === commit && v.registered && v.active);
  return { model, commit, path: model.entry?.path, ...(version ? { version } : {}) };
}

/** The model file's sha256: the one read from git, or the file's, streamed (a model may be larger than memory). */
export async function modelSha256(m: ModelRef): Promise<string> {
  if (m.sha256) return m.sha256;
  const h = createHash('sha256');
  for await (const chunk of fs.createReadStream(m.path!)) h.update(chunk as Buffer);
  m.sha256 = h.digest('hex');
  return m.sha256;
}
