/**
 * Registering a quantized model in one step: declare it in dvc.yaml as a new artifact ("vad-int8", its path the file
 * quantize wrote), commit exactly that file and dvc.yaml, and create GTO's registration tag with the lineage (source
 * version, commit, settings, fidelity) in the tag message. GTO, DVC and their CI actions read the result like any
 * other registration.
 *
 * Nothing is half done: dvc.yaml with uncommitted changes is refused before anything is touched, and a failed commit
 * puts dvc.yaml back and unstages what was staged.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { firstLine, UserError } from '../errors';
import type { Logger } from '../log';
import { loadRegistry } from '../registry/registry';
import { isVersion } from '../registry/semver';
import { isValidArtifact } from '../registry/tags';
import { gitIdentity, register, suggestVersion } from '../registry/write';
import { run } from '../util/proc';
import type { QuantizeReport } from './quantize';
import { lineage } from './report';
import { MODE_LABELS } from './types';

export interface RegisterQuantizedOptions {
  /** The new artifact's name; default "<source name>-<form>" ("vad-int8"). */
  name?: string;
  /** The source's registry name, when it came from the registry. */
  sourceName?: string;
  /** "vad@v1.2.0", for the lineage. */
  sourceRef?: string;
  sourceCommit?: string;
  /** Default: the source's version when the source was one (vad@v1.2.0 → vad-int8@v1.2.0), else v0.0.1. */
  version?: string;
  log?: Logger;
}

const SUFFIX: Record<QuantizeReport['mode'], string> = { 'int8-dynamic': 'int8', 'int8-static': 'int8', int4: 'int4', 'int8-weight': 'int8w', fp16: 'fp16', fp32: 'fp32' };

export function quantizedName(sourceName: string, mode: QuantizeReport['mode']): string {
  const base = sourceName.includes(':') ? sourceName.slice(sourceName.lastIndexOf(':') + 1) : sourceName;
  return `${base}-${SUFFIX[mode]}`;
}

/**
 * What registering as a new model needs, checked before any work is done (the CLI asks before it quantizes): git
 * knows who you are, and dvc.yaml at the repository's root has no uncommitted edits (they would be committed with
 * the declaration).
 */
export async function checkCanRegister(root: string, log?: Logger): Promise<void> {
  await gitIdentity(root, log);
  const dirty = await run('git', ['status', '--porcelain', '--', 'dvc.yaml'], { cwd: root, log });
  if (dirty.stdout.trim()) {
    throw new UserError('dvc.yaml has uncommitted changes.', 'Commit or discard them first, so that registering commits only the quantized model and its declaration.');
  }
}

export async function registerQuantized(root: string, report: QuantizeReport, opts: RegisterQuantizedOptions = {}): Promise<{ tag: string; name: string; version: string; commit: string }> {
  const log = opts.log;
  const stem = path.basename(report.source.file).replace(/\.onnx$/i, '').replace(/[^\w-]+/g, '-');
  const name = opts.name ?? quantizedName(opts.sourceName ?? stem, report.mode);
  if (!isValidArtifact(name) || name.includes(':')) {
    throw new UserError(`'${name}' is not a valid model name.`, 'Use letters, digits, "-" and "_" (GTO\'s rule).');
  }
  const rel = path.relative(root, report.output.file).split(path.sep).join('/');
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new UserError(`${report.output.file} is outside the repository ${root}.`, 'Write the quantized model inside the repository (beside the original) to register it.');
  }
  await gitIdentity(root, log);
  const reg = await loadRegistry(root, { log });
  const existing = reg.models.find((m) => m.name === name);
  if (existing?.entry && existing.entry.path !== rel) {
    throw new UserError(`${name} is already declared for ${existing.entry.path}, not ${rel}.`, 'Give another name for the quantized model.');
  }
  const sourceVersion = /@(v[^@#]+)$/.exec(opts.sourceRef ?? '')?.[1];
  let version = opts.version ?? (sourceVersion && isVersion(sourceVersion) ? sourceVersion : suggestVersion(reg, name));
  if (existing?.state?.versions.some((v) => v.version === version)) version = suggestVersion(reg, name);

  await checkCanRegister(root, log);
  const dvcFile = path.join(root, 'dvc.yaml');
  let before: string | undefined;
  try {
    before = await fs.readFile(dvcFile, 'utf8');
  } catch {
    before = undefined;
  }
  const { parseDocument } = await import('yaml');
  const doc = parseDocument(before ?? '');
  if (doc.errors.length) throw new UserError(`dvc.yaml cannot be parsed: ${firstLine(doc.errors[0]!.message)}.`, 'Fix dvc.yaml first.');
  if (!doc.hasIn(['artifacts', name])) {
    const sourceDesc = opts.sourceRef ?? report.source.label;
    doc.setIn(['artifacts', name], doc.createNode({ path: rel, type: 'model', desc: `${MODE_LABELS[report.mode]} of ${sourceDesc}`, labels: ['quantized', report.mode] }));
  }
  const paths = [rel, ...(report.output.externalData ? [path.posix.join(path.posix.dirname(rel), report.output.externalData)] : []), 'dvc.yaml'];
  const subject = `Quantize ${opts.sourceRef ?? report.source.label} → ${name} (${report.mode})`;
  try {
    await fs.writeFile(dvcFile, doc.toString());
    await run('git', ['add', '--', ...paths], { cwd: root, log });
    await run('git', ['commit', '-q', '-m', subject, '-m', lineage(report, { ref: opts.sourceRef, commit: opts.sourceCommit }), '--only', '--', ...paths], { cwd: root, log });
  } catch (e) {
    if (before === undefined) await fs.rm(dvcFile, { force: true });
    else await fs.writeFile(dvcFile, before);
    await run('git', ['reset', '-q', '--', ...paths], { cwd: root, log, okCodes: [1] }).catch(() => undefined);
    throw e instanceof UserError ? e : new UserError(`the quantized model could not be committed: ${firstLine(e instanceof Error ? e.message : String(e))}.`, 'Check the repository (hooks, permissions), then register again.');
  }
  const commit = (await run('git', ['rev-parse', 'HEAD'], { cwd: root, log })).stdout.trim();
  const r = await register(root, name, {
    version,
    ref: commit,
    message: `Register ${name}@${version}\n\n${lineage(report, { ref: opts.sourceRef, commit: opts.sourceCommit })}`,
    ...(log ? { log } : {}),
  });
  return { tag: r.tag, name, version, commit };
}

export interface RegisterVersionOptions {
  /** The registered model the result becomes a version of. */
  name: string;
  /** Default: the next patch version. */
  version?: string;
  sourceRef?: string;
  sourceCommit?: string;
  log?: Logger;
}

/**
 * Registers the result as a new version of an existing model, without touching the working tree or the branch: a
 * commit on top of HEAD holding the quantized bytes at the model's path (through git's clean filters, so Git LFS
 * stores them as it stores the original) is made with git's plumbing, and the version tag points at it. The float
 * original stays what the branch and the working tree hold; the version is reachable through its tag (push tags to
 * share it), and reading it from the registry gives the quantized bytes.
 */
export async function registerQuantizedVersion(root: string, report: QuantizeReport, opts: RegisterVersionOptions): Promise<{ tag: string; name: string; version: string; commit: string }> {
  const log = opts.log;
  await gitIdentity(root, log);
  const reg = await loadRegistry(root, { log });
  const model = reg.models.find((m) => m.name === opts.name);
  if (!model?.entry) throw new UserError(`${opts.name} is not a model of ${root} with a file path.`, 'Register the result as a new model instead.');
  const target = model.entry.path;
  const version = opts.version ?? suggestVersion(reg, opts.name);
  const head = await run('git', ['rev-parse', '--verify', '-q', 'HEAD^{commit}'], { cwd: root, log, okCodes: [1] });
  if (head.code !== 0) throw new UserError(`${root} has no commits yet.`, 'Commit the model first.');
  const parent = head.stdout.trim();
  const files: [string, string][] = [[report.output.file, target]];
  if (report.output.externalData) files.push([path.join(path.dirname(report.output.file), report.output.externalData), path.posix.join(path.posix.dirname(target), report.output.externalData)]);
  const gitDir = (await run('git', ['rev-parse', '--absolute-git-dir'], { cwd: root, log })).stdout.trim();
  const index = path.join(gitDir, `modelyard-index-${process.pid}-${Date.now()}`);
  const env = { ...process.env, GIT_INDEX_FILE: index };
  try {
    await run('git', ['read-tree', parent], { cwd: root, log, env });
    for (const [file, at] of files) {
      const blob = (await run('git', ['hash-object', '-w', `--path=${at}`, '--', file], { cwd: root, log })).stdout.trim();
      await run('git', ['update-index', '--add', '--cacheinfo', `100644,${blob},${at}`], { cwd: root, log, env });
    }
    const tree = (await run('git', ['write-tree'], { cwd: root, log, env })).stdout.trim();
    const lines = lineage(report, { ref: opts.sourceRef, commit: opts.sourceCommit });
    const commit = (
      await run('git', ['commit-tree', tree, '-p', parent, '-m', `Quantize ${opts.sourceRef ?? report.source.label} → ${opts.name}@${version} (${report.mode})`, '-m', lines], { cwd: root, log })
    ).stdout.trim();
    const r = await register(root, opts.name, { version, ref: commit, message: `Register ${opts.name}@${version}\n\n${lines}`, ...(log ? { log } : {}) });
    return { tag: r.tag, name: opts.name, version, commit };
  } finally {
    await fs.rm(index, { force: true });
  }
}
