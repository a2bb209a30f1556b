/**
 * What the inference verbs of the CLI share: an InferenceHost that is always disposed, `--input`/`--shape` turned
 * into feeds, and Ctrl-C turned into a clean cancellation (exit 130). MODEL arguments are resolved by
 * core/registry/modelRef.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../core/errors';
import { InferenceHost } from '../core/inference/host';
import { makeFeeds, shapeOverrides, type InputSource, type MadeFeeds } from '../core/inference/inputs';
import { writeNpy } from '../core/inference/npy';
import type { Tensor, TensorInfo } from '../core/inference/tensor';
import type { Logger } from '../core/log';
import { summarizeBytes, summarizeFile, type ModelSummary } from '../core/onnx/summary';
import type { ModelRef } from '../core/registry/modelRef';
import { writeAtomic } from '../core/util/files';

/** Exit code of a run stopped by Ctrl-C (128 + SIGINT), as shells report it. */
export const EXIT_CANCELLED = 130;

/** The model's summary, from its file (weights never read) or its bytes. */
export async function summarize(m: ModelRef): Promise<ModelSummary> {
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
