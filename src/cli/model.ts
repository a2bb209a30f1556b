/**
 * What the inference verbs of the CLI share: a MODEL argument resolved to bytes or a path (a file, or a registry
 * reference read from git without a checkout), an InferenceHost that is always disposed, `--input`/`--shape` turned
 * into feeds, and Ctrl-C turned into a clean cancellation (exit 130).
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../core/errors';
import { InferenceError, InferenceHost, type Source } from '../core/inference/host';
import { makeFeeds, type DimOverrides, type InputSource, type MadeFeeds } from '../core/inference/inputs';
import { writeNpy } from '../core/inference/npy';
import { formatShape, type Tensor, type TensorInfo } from '../core/inference/tensor';
import type { Logger } from '../core/log';
import { summarizeBytes, summarizeFile, type ModelSummary } from '../core/onnx/summary';
import { CancelledError } from '../core/quantize/types';
import { readBlob } from '../core/registry/blobs';
import { loadRegistry, resolveRef } from '../core/registry/registry';
import { writeAtomic } from '../core/util/files';
import { run } from '../core/util/proc';

/** Exit code of a run stopped by Ctrl-C (128 + SIGINT), as shells report it. */
export const EXIT_CANCELLED = 130;

export interface ResolvedModel {
  source: Source;
  /** How messages name it: the path as given, or name@version. */
  label: string;
  /** The served name: the file's base name without .onnx, or the registry name. */
  name: string;
  /** A registry version ("v1.2.3"), else undefined. */
  version?: string;
  bytes?: Uint8Array;
  path?: string;
  /** For a registry reference: the model file's place in the working tree (outputs are written beside it). */
  file?: string;
  /** For a registry reference: the model's registry name, and the commit the version points at. */
  registryName?: string;
  commit?: string;
}

/** The git repository a registry reference is resolved in: --repo, or the one holding `cwd`. */
export async function gitRoot(dir: string, log: Logger): Promise<string | undefined> {
  if (!fs.existsSync(dir)) throw new UserError(`${dir} does not exist.`, 'Give --repo the folder of a git repository.');
  const r = await run('git', ['rev-parse', '--show-toplevel'], { cwd: dir, log, okCodes: [128] }).catch(() => undefined);
  return r && r.code === 0 ? r.stdout.trim() : undefined;
}

/**
 * MODEL as a user gives it: an existing file; otherwise a registry reference (name, name@v1.2.3, name@latest,
 * name#stage) in the repository of `repo` (default: the current folder), read from git.
 */
export async function resolveModel(arg: string, opts: { repo?: string; cwd?: string; log: Logger }): Promise<ResolvedModel> {
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
  const root = await gitRoot(opts.repo ?? cwd, opts.log);
  if (!root) {
    throw new UserError(
      `${arg} is not a file, and ${opts.repo ?? 'the current folder'} is not in a git repository where it could name a registered model.`,
      'Give the path of an .onnx file, or run inside the model repository (or pass --repo DIR).',
    );
  }
  const reg = await loadRegistry(root, { log: opts.log });
  const r = await resolveRef(reg, arg, opts.log);
  if (!r.path) throw new UserError(`${r.model.name} has no model file in ${root}.`, 'Declare its path in dvc.yaml (artifacts: NAME: path: …).');
  const bytes = await readBlob(root, r.commit, r.path, opts.log);
  const label = `${r.model.name}@${r.version?.version ?? r.commit.slice(0, 8)}`;
  return {
    source: { bytes, key: `git:${root}:${r.commit}:${r.path}`, label },
    label,
    name: r.model.name.replace(/[:/]/g, '-'),
    ...(r.version ? { version: r.version.version } : {}),
    bytes,
    file: path.join(root, r.path),
    registryName: r.model.name,
    commit: r.commit,
  };
}

/** The model's summary, from its file (weights never read) or its bytes. */
export async function summarize(m: ResolvedModel): Promise<ModelSummary> {
  if (m.bytes) return summarizeBytes(m.bytes, m.label);
  return summarizeFile(m.path!);
}

/** Runs `fn` with a fresh InferenceHost on the worker beside this bundle, and always disposes it. */
export async function withHost<T>(log: Logger, fn: (host: InferenceHost) => Promise<T>): Promise<T> {
  const host = new InferenceHost({ workerPath: path.join(__dirname, 'inference-worker.js'), log });
  try {
    return await fn(host);
  } finally {
    await host.dispose();
  }
}

/**
 * An AbortSignal that Ctrl-C (SIGINT) or SIGTERM fires; the command then rejects with a cancelled InferenceError,
 * which main() turns into exit 130. A second Ctrl-C exits at once.
 */
export function interruptSignal(): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const onSignal = () => {
    if (ac.signal.aborted) process.exit(EXIT_CANCELLED);
    process.stderr.write('\nmodelyard: stopping… (Ctrl-C again to quit at once)\n');
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: ac.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

export function isCancelled(e: unknown): boolean {
  return (e instanceof InferenceError && e.reason === 'cancelled') || e instanceof CancelledError;
}

// ---------------------------------------------------------------------------------------------------------------
// --input and --shape

/** One --input SPEC as a source: FILE.npy|.json|.png|.jpg|.wav, random[:SEED], zeros, ones. */
export async function parseInputSpec(spec: string, cwd = process.cwd()): Promise<InputSource> {
  const random = /^random(?::(-?\d+))?$/.exec(spec);
  if (random) return { kind: 'random', ...(random[1] !== undefined ? { seed: Number(random[1]) } : {}) };
  if (spec === 'zeros') return { kind: 'zeros' };
  if (spec === 'ones') return { kind: 'ones' };
  const file = path.resolve(cwd, spec);
  const ext = path.extname(spec).toLowerCase();
  if (!['.npy', '.json', '.png', '.jpg', '.jpeg', '.wav'].includes(ext)) {
    throw new UserError(`'${spec}' is not an input: give FILE.npy, FILE.json, FILE.png, FILE.jpg, FILE.wav, random[:SEED], zeros or ones.`);
  }
  if (!fs.existsSync(file)) throw new UserError(`the input file ${spec} does not exist.`, 'Check the path.');
  if (ext === '.npy') return { kind: 'npy', path: file };
  if (ext === '.wav') return { kind: 'wav', path: file };
  if (ext === '.json') return { kind: 'json', text: await fsp.readFile(file, 'utf8') };
  return { kind: 'image', path: file };
}

/** `--input NAME=SPEC` (or `--input SPEC` for a model with one input) for each input named. */
export async function inputSources(specs: readonly string[], inputs: readonly TensorInfo[]): Promise<Record<string, InputSource>> {
  const out: Record<string, InputSource> = {};
  const names = inputs.map((i) => i.name);
  for (const s of specs) {
    const eq = s.indexOf('=');
    let name: string | undefined;
    let spec = s;
    if (eq > 0 && names.includes(s.slice(0, eq))) {
      name = s.slice(0, eq);
      spec = s.slice(eq + 1);
    } else if (eq > 0 && !fs.existsSync(s)) {
      throw new UserError(`--input ${s}: the model has no input '${s.slice(0, eq)}' (its inputs: ${names.join(', ')}).`, 'Write --input NAME=FILE with one of those names.');
    } else if (names.length === 1) {
      name = names[0]!;
    } else {
      throw new UserError(`--input ${s} does not say which input it is for; the model has ${names.length} inputs (${names.join(', ')}).`, 'Write --input NAME=FILE.');
    }
    if (out[name]) throw new UserError(`input '${name}' is given twice.`);
    out[name] = await parseInputSpec(spec);
  }
  return out;
}

/** `--shape NAME=1,3,224,224` as dim overrides ("NAME:i"), checked against each input's rank. */
export function shapeOverrides(specs: readonly string[], inputs: readonly TensorInfo[]): DimOverrides {
  const out: DimOverrides = {};
  for (const s of specs) {
    const m = /^(.+)=(\d+(?:\s*[,x]\s*\d+)*)$/.exec(s.trim());
    if (!m) throw new UserError(`--shape ${s} is not NAME=D1,D2,… (for example x=1,3,224,224).`);
    const name = m[1]!;
    const info = inputs.find((i) => i.name === name);
    if (!info) throw new UserError(`--shape ${s}: the model has no input '${name}' (its inputs: ${inputs.map((i) => i.name).join(', ')}).`);
    const dims = m[2]!.split(/\s*[,x]\s*/).map(Number);
    if (info.shape && info.shape.length !== dims.length) {
      throw new UserError(`--shape ${s}: input '${name}' has ${info.shape.length} dims ${formatShape(info.shape)}, not ${dims.length}.`, 'Give one size per dim.');
    }
    dims.forEach((d, i) => (out[`${name}:${i}`] = d));
  }
  return out;
}

export async function feedsFor(inputs: readonly TensorInfo[], values: { input?: string[]; shape?: string[] }): Promise<MadeFeeds> {
  return makeFeeds(inputs, { sources: await inputSources(values.input ?? [], inputs), overrides: shapeOverrides(values.shape ?? [], inputs) });
}

// ---------------------------------------------------------------------------------------------------------------
// Files

/** A file name for an output ("logits/0:1" → "logits_0_1.npy"). */
export function outputFileName(name: string): string {
  return `${name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '_') || 'output'}.npy`;
}

export async function writeOutputs(dir: string, outputs: Record<string, Tensor>): Promise<string[]> {
  const written: string[] = [];
  const used = new Set<string>();
  for (const [name, t] of Object.entries(outputs)) {
    let file = outputFileName(name);
    for (let i = 2; used.has(file); i++) file = outputFileName(`${name}_${i}`);
    used.add(file);
    const full = path.join(dir, file);
    await writeAtomic(full, writeNpy(t));
    written.push(full);
  }
  return written;
}
