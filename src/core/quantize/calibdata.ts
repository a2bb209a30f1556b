/**
 * Calibration (and validation) samples for quantization, read the way the Playground and model tests read inputs:
 *
 *   - a folder of files, one sample each (.npy, .json, .png/.jpg, .wav) for the model's data input; the other
 *     inputs get what the Playground gives them (16000 for a sample rate, zeros for a recurrent state);
 *   - a folder of folders, one sample each, holding <input name>.npy / .json / .png / .wav per input;
 *   - a `*.modeltest.json` file: each test's inputs;
 *   - nothing: seeded random samples (reported as such: fidelity on random inputs says less).
 *
 * Every sample is checked against the model's inputs here, so a wrong shape is reported with the sample's name.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { firstLine, UserError } from '../errors';
import { checkFeeds } from '../inference/check';
import { GUESS_ALTERNATIVES, inputRole, makeFeeds, shapeArgument, type DimOverrides, type GuessedDim } from '../inference/inputs';
import { feedsFromJson, parseJson } from '../inference/json';
import { formatShape, type Tensor, type TensorInfo } from '../inference/tensor';
import { INPUT_FILE_EXTENSIONS, inputValue } from '../modeltest/deps';
import { parseModelTestFile, type InputRef } from '../modeltest/format';

export interface SampleSet {
  feeds: Record<string, Tensor>[];
  /** One per sample: the file, folder or test it came from. */
  labels: string[];
  /** Where the samples came from, for the report: "calibration/ (24 files)", "vad.modeltest.json (3 tests)", "random (seed 1…8)". */
  source: string;
  kind: 'folder' | 'tests' | 'random';
  /** Random samples: the open dims whose sizes were guessed (not set by --shape). */
  guessed?: GuessedDim[];
}

export interface SampleOptions {
  max?: number;
  randomCount?: number;
  seed?: number;
  /** Sizes of open dims (--shape), for random samples and for the inputs a sample leaves to their defaults. */
  overrides?: DimOverrides;
}

const HINT_LAYOUT =
  'Give a folder with one file a sample (.npy, .json, .png, .jpg or .wav) for the model\'s data input, or one folder a sample holding <input name>.npy (or .json …) for each input, or a .modeltest.json file.';

/** Samples from `location` (see the file comment), at most `max` of them, each checked against `inputs`. */
export async function loadSamples(location: string | undefined, inputs: readonly TensorInfo[], opts: SampleOptions = {}): Promise<SampleSet> {
  const max = opts.max ?? 64;
  const overrides = opts.overrides ?? {};
  if (!location) return randomSamples(inputs, opts.randomCount ?? 8, opts.seed ?? 1, overrides);
  let stat: fs.Stats;
  try {
    stat = await fsp.stat(location);
  } catch {
    throw new UserError(`the calibration data ${location} does not exist.`, HINT_LAYOUT);
  }
  const set = stat.isDirectory() ? await fromFolder(location, inputs, max, overrides) : location.endsWith('.modeltest.json') ? await fromTests(location, inputs, max, overrides) : undefined;
  if (!set) throw new UserError(`the calibration data ${location} is a file, but not a .modeltest.json file.`, HINT_LAYOUT);
  if (set.feeds.length === 0) throw new UserError(`${location} holds no samples Modelyard can read.`, HINT_LAYOUT);
  set.feeds.forEach((f, i) => checkSample(inputs, f, set.labels[i]!));
  return set;
}

/** Checks a sample, naming it in the error: "calibration sample cal/003.npy: input 'x' has shape …". */
export function checkSample(inputs: readonly TensorInfo[], feeds: Record<string, Tensor>, label: string): void {
  try {
    checkFeeds(inputs, feeds);
  } catch (e) {
    if (e instanceof UserError) {
      throw new UserError(`calibration sample ${label}: ${e.message}`, `${e.hint ? `${e.hint} ` : ''}Every sample must fit the model's inputs.`);
    }
    throw e;
  }
}

async function randomSamples(inputs: readonly TensorInfo[], n: number, seed: number, overrides: DimOverrides): Promise<SampleSet> {
  const feeds: Record<string, Tensor>[] = [];
  let guessed: GuessedDim[] = [];
  for (let i = 0; i < n; i++) {
    const made = await makeFeeds(inputs, { seed: seed + i, overrides });
    feeds.push(made.feeds);
    guessed = made.guessed;
  }
  return { feeds, labels: feeds.map((_, i) => `random #${seed + i}`), source: `random inputs (${n}, seeds ${seed}–${seed + n - 1})`, kind: 'random', guessed };
}

/**
 * Random samples the model runs on. When the first one fails and some open dims were guessed (a one-sample audio
 * chunk, say), the guesses are tried again with the other usual sizes of their kind (GUESS_ALTERNATIVES: 512, 16000,
 * 1024 … samples for audio) until the model runs. When none does, the UserError names each guessed dim, the sizes
 * tried, onnxruntime's complaint, and the --shape that sets it.
 */
export async function runnableRandomSamples(
  inputs: readonly TensorInfo[],
  overrides: DimOverrides,
  run: (feeds: Record<string, Tensor>) => Promise<void>,
  opts: { count?: number; seed?: number } = {},
): Promise<SampleSet> {
  const count = opts.count ?? 8;
  const seed = opts.seed ?? 1;
  const first = await randomSamples(inputs, count, seed, overrides);
  const open = (first.guessed ?? []).filter((g) => g.reason !== 'batch');
  let failure: unknown;
  try {
    await run(first.feeds[0]!);
    return first;
  } catch (e) {
    if (!(e instanceof UserError) || !open.length) throw e;
    failure = e;
  }
  const tries = Math.max(...open.map((g) => GUESS_ALTERNATIVES[g.reason].length));
  const tried: number[][] = [open.map((g) => g.value)];
  for (let k = 0; k < tries; k++) {
    const sizes = open.map((g) => {
      const alts = GUESS_ALTERNATIVES[g.reason].filter((v) => v !== g.value);
      return alts[Math.min(k, alts.length - 1)] ?? g.value;
    });
    if (tried.some((t) => t.every((v, i) => v === sizes[i]))) continue;
    tried.push(sizes);
    const o: DimOverrides = { ...overrides };
    open.forEach((g, i) => (o[g.name ?? `${g.input}:${g.index}`] = sizes[i]!));
    const set = await randomSamples(inputs, 1, seed, o);
    try {
      await run(set.feeds[0]!);
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      continue;
    }
    const all = await randomSamples(inputs, count, seed, o);
    // The dims found so are still guesses: reported as such, with the value that ran.
    return { ...all, guessed: [...(first.guessed ?? []).filter((g) => g.reason === 'batch'), ...open.map((g, i) => ({ ...g, value: sizes[i]! }))] };
  }
  const shapes = first.feeds[0]!;
  const given = new Set(Object.keys(overrides).map((k) => k.slice(0, k.lastIndexOf(':'))));
  const described = inputs
    .filter((i) => shapes[i.name] && i.shape?.some((d) => typeof d !== 'number'))
    .map((i) => {
      const own = open.map((g, k) => [g, k] as const).filter(([g]) => g.input === i.name);
      const why = own.map(([g, k]) => `dim ${g.index}${g.name ? ` (${g.name})` : ''} guessed ${g.value}${g.reason === 'default' ? '' : ` as ${g.reason}`}, also tried ${[...new Set(tried.slice(1).map((t) => t[k]!))].join(', ')}`);
      return `${i.name} ${formatShape(shapes[i.name]!.shape)}${given.has(i.name) ? ' (given by --shape)' : ''}${why.length ? ` (${why.join('; ')})` : ''}`;
    });
  const args = [...new Set(open.map((g) => g.input))].map((name) => `--shape ${shapeArgument(inputs.find((i) => i.name === name)!, shapes[name]!.shape, open)}`);
  throw new UserError(
    `the model does not run on random inputs of these sizes: ${described.join(', ')}. ${firstLine((failure as UserError).message)}`,
    `Set the sizes the model takes (${args.join(' ')}, N its length; in the Quantize panel, Input shapes), or give calibration data (--calibration DIR) whose files have the right size.`,
  );
}

/** The model's one data input (not a sample rate or a state); undefined when it has several or none. */
function dataInput(inputs: readonly TensorInfo[]): TensorInfo | undefined {
  const data = inputs.filter((i) => inputRole(i) === 'data');
  return data.length === 1 ? data[0] : undefined;
}

/** One input of a sample, read as a model test reads it (a file path or a test's reference), its errors naming the sample. */
async function valueFrom(info: TensorInfo, ref: InputRef, baseDir: string, shape: number[] | undefined, label: string): Promise<Tensor> {
  try {
    return await inputValue(ref, info, shape, baseDir);
  } catch (e) {
    if (e instanceof UserError) throw new UserError(`calibration sample ${label}: ${e.message}`, e.hint);
    throw new UserError(`calibration sample ${label} could not be read: ${firstLine(e instanceof Error ? e.message : String(e))}.`, HINT_LAYOUT);
  }
}

/** The other inputs' defaults (sample rate, state), as the Playground makes them. */
async function defaults(inputs: readonly TensorInfo[], except: string[], overrides: DimOverrides): Promise<Record<string, Tensor>> {
  const rest = inputs.filter((i) => !except.includes(i.name));
  return rest.length ? (await makeFeeds(rest, { seed: 1, overrides })).feeds : {};
}

async function fromFolder(dir: string, inputs: readonly TensorInfo[], max: number, overrides: DimOverrides): Promise<SampleSet> {
  const entries = (await fsp.readdir(dir, { withFileTypes: true })).filter((e) => !e.name.startsWith('.')).sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
  const folders = entries.filter((e) => e.isDirectory());
  const isSample = (name: string) => INPUT_FILE_EXTENSIONS.includes(path.extname(name).toLowerCase());
  const files = entries.filter((e) => e.isFile() && isSample(e.name));
  const feeds: Record<string, Tensor>[] = [];
  const labels: string[] = [];
  const rel = (p: string) => path.join(path.basename(dir), path.relative(dir, p));
  if (folders.length && !files.length) {
    for (const f of folders.slice(0, max)) {
      const sampleDir = path.join(dir, f.name);
      const inside = await fsp.readdir(sampleDir);
      const sample: Record<string, Tensor> = {};
      for (const info of inputs) {
        const file = inside.find((n) => path.parse(n).name === info.name || path.parse(n).name === safeName(info.name));
        if (file && isSample(file)) {
          sample[info.name] = await valueFrom(info, path.join(sampleDir, file), sampleDir, undefined, rel(path.join(sampleDir, file)));
        }
      }
      const data = inputs.filter((i) => inputRole(i) === 'data' && !(i.name in sample));
      if (data.length) {
        throw new UserError(
          `calibration sample ${rel(sampleDir)} has no file for input ${data.map((i) => `'${i.name}'`).join(', ')}.`,
          `Put ${data.map((i) => `${safeName(i.name)}.npy`).join(', ')} (or .json, .png, .wav) in each sample folder.`,
        );
      }
      Object.assign(sample, await defaults(inputs, Object.keys(sample), overrides));
      feeds.push(sample);
      labels.push(rel(sampleDir));
    }
    return { feeds, labels, source: `${path.basename(dir)}/ (${feeds.length} sample folders)`, kind: 'folder' };
  }
  const data = dataInput(inputs);
  for (const f of files.slice(0, max)) {
    const file = path.join(dir, f.name);
    const ext = path.extname(f.name).toLowerCase();
    if (!data) {
      if (ext !== '.json') {
        throw new UserError(
          `calibration sample ${rel(file)} is one ${ext} file, but the model has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}).`,
          'Use one folder a sample with a file for each input, or a JSON file {"input name": value, …} a sample.',
        );
      }
      let sample: Record<string, Tensor>;
      try {
        sample = feedsFromJson(parseJson(await fsp.readFile(file, 'utf8'), rel(file)), inputs);
      } catch (e) {
        if (e instanceof UserError) throw new UserError(`calibration sample ${rel(file)}: ${e.message}`, e.hint);
        throw e;
      }
      Object.assign(sample, await defaults(inputs, Object.keys(sample), overrides));
      feeds.push(sample);
    } else {
      const sample = { [data.name]: await valueFrom(data, file, dir, undefined, rel(file)) };
      Object.assign(sample, await defaults(inputs, [data.name], overrides));
      feeds.push(sample);
    }
    labels.push(rel(file));
  }
  return { feeds, labels, source: `${path.basename(dir)}/ (${feeds.length} files)`, kind: 'folder' };
}

async function fromTests(file: string, inputs: readonly TensorInfo[], max: number, overrides: DimOverrides): Promise<SampleSet> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    throw new UserError(`${file} could not be read: ${firstLine((e as Error).message)}.`, 'Check the path.');
  }
  const { spec } = parseModelTestFile(text, file);
  const baseDir = path.dirname(file);
  const feeds: Record<string, Tensor>[] = [];
  const labels: string[] = [];
  for (const t of spec.tests.slice(0, max)) {
    const label = `${path.basename(file)} › ${t.name}`;
    const sample: Record<string, Tensor> = {};
    for (const info of inputs) {
      const ref = t.inputs[info.name];
      if (ref === undefined) continue;
      sample[info.name] = await valueFrom(info, ref, baseDir, t.shapes?.[info.name], label);
    }
    Object.assign(sample, await defaults(inputs, Object.keys(sample), overrides));
    feeds.push(sample);
    labels.push(label);
  }
  return { feeds, labels, source: `${path.basename(file)} (${feeds.length} tests)`, kind: 'tests' };
}

/** An input name as a file name: ONNX names may hold '/', ':' and the like. */
export function safeName(name: string): string {
  return name.replace(/[^\w.-]+/g, '_');
}
