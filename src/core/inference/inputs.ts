/**
 * Inputs for a model from what a person has at hand: nothing (random, zeros, ones), JSON, a .npy file, an image,
 * a WAV file. Symbolic dims are resolved first (resolveShape), with the guesses reported so that the UI can show
 * them and ask. Every source ends as a Tensor of the input's dtype, or a UserError that says what to change.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { UserError, firstLine } from '../errors';
import { decodeImage, imageLayout, pixelsToTensor, resizeBilinear, type Layout, type PixelOptions } from './image';
import { parseJson, tensorFromJson } from './json';
import { readNpy } from './npy';
import { elementCount, floatToHalf, formatShape, fromNumbers, isBigIntDType, isFloatDType, type Tensor, type TensorInfo } from './tensor';
import { decodeWav, resampleLinear } from './wav';

/** The default of modelyard.inference.maxInputElements: 50 million values (200 MB of float32). */
export const DEFAULT_MAX_INPUT_ELEMENTS = 50_000_000;

export interface InputLimits {
  maxElements: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Shapes

/**
 * Sizes for dims the model leaves open. A key is a dim's symbolic name ("batch", shared by every input that uses
 * it), its position in one input ("x:2"), or, for resolveShape alone, its bare position ("2").
 */
export type DimOverrides = Record<string, number>;

export interface GuessedDim {
  input: string;
  index: number;
  /** The symbolic name, or null for a dim the model leaves unnamed. */
  name: string | null;
  value: number;
  /**
   * batch 1; image size 224; audio: the samples of a float waveform input (512, a 32 ms chunk at 16 kHz, for a model
   * that also takes a sample rate, as streaming VADs do; else 16000, one second); sequence: a token or frame count
   * (128); default 1.
   */
  reason: 'batch' | 'image size' | 'audio' | 'sequence' | 'default';
}

export interface ResolvedShape {
  shape: number[];
  /** Dims no override decided: what was chosen and why, for the UI to show and offer to change. */
  guessed: GuessedDim[];
}

export interface ResolveDefaults {
  /** For open dims that are neither batch nor image size; default 1. */
  defaultDim?: number;
  /** Height and width of an image-like input (rank 4, 1 or 3 channels) left open; default 224. */
  imageSize?: number;
  /** The model also takes a sample rate (set by resolveShapes): its waveform input is a streaming chunk. */
  sampleRateInput?: boolean;
}

/**
 * The usual sizes of each kind of guessed dim, the guess among them: what else to try when the model will not run at
 * the guess (common chunk and window lengths for audio, common context lengths for sequences).
 */
export const GUESS_ALTERNATIVES: Record<GuessedDim['reason'], readonly number[]> = {
  batch: [1],
  'image size': [224, 320, 640, 32],
  audio: [512, 16000, 1024, 1280, 4000, 8000, 256],
  sequence: [128, 16, 64, 256, 512],
  default: [1, 16, 128, 512, 16000],
};

const AUDIO_NAME = /audio|wav|waveform|pcm|speech|signal|^samples?$|num_?samples|input_values/i;
const SEQUENCE_NAME = /seq|token|length|^len$|time|frames|steps|words/i;

const BATCH_NAME = /^(n|b|bs|batch|batch_?size|batches|num_?batch(es)?|unk__\d+)$|batch/i;

function checkSize(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 1) throw new UserError(`the size given for ${what} must be a whole number from 1, not ${v}.`, 'Fix the dim sizes and try again.');
  return v;
}

/** Concrete sizes for every dim of an input: fixed dims as declared, open ones from overrides or defaults. */
export function resolveShape(info: TensorInfo, overrides: DimOverrides = {}, defaults: ResolveDefaults = {}): ResolvedShape {
  if (!info.shape) {
    throw new UserError(`input '${info.name}' declares no shape, so none can be made up for it.`, 'Give its value as JSON or a .npy file.');
  }
  const dims = info.shape;
  const guessed: GuessedDim[] = [];
  const channelsFirst = dims.length === 4 && (dims[1] === 1 || dims[1] === 3);
  const channelsLast = dims.length === 4 && (dims[3] === 1 || dims[3] === 3);
  const shape = dims.map((d, i) => {
    const byIndex = overrides[`${info.name}:${i}`] ?? overrides[String(i)];
    if (typeof d === 'number' && d >= 0) {
      if (byIndex !== undefined && byIndex !== d) throw new UserError(`dim ${i} of input '${info.name}' is fixed at ${d} by the model, not ${byIndex}.`, 'Leave fixed dims as they are.');
      return d;
    }
    const name = typeof d === 'string' && d !== '' ? d : null;
    const given = byIndex ?? (name !== null ? overrides[name] : undefined);
    if (given !== undefined) return checkSize(given, name ? `dim '${name}'` : `dim ${i} of input '${info.name}'`);
    const guess = (value: number, reason: GuessedDim['reason']) => (guessed.push({ input: info.name, index: i, name, value, reason }), value);
    if ((name !== null && BATCH_NAME.test(name)) || (i === 0 && dims.length >= 2)) return guess(1, 'batch');
    if ((channelsFirst && i >= 2) || (channelsLast && (i === 1 || i === 2))) return guess(defaults.imageSize ?? 224, 'image size');
    const float = !!info.dtype && isFloatDType(info.dtype);
    // The samples of a waveform: the last dim of a float data input of rank 1 to 3, in a model that takes a sample
    // rate too, or named so (a one-sample chunk makes a Conv or a reflect Pad fail).
    if (float && i === dims.length - 1 && dims.length <= 3 && inputRole(info) === 'data' && (defaults.sampleRateInput || AUDIO_NAME.test(info.name) || (name !== null && AUDIO_NAME.test(name)))) {
      return guess(defaults.sampleRateInput ? 512 : 16000, 'audio');
    }
    // A sequence: named so, or the open length of token ids [batch, sequence].
    if (dims.length >= 2 && ((name !== null && SEQUENCE_NAME.test(name)) || (!float && (info.dtype === 'int64' || info.dtype === 'int32') && dims.length === 2))) return guess(128, 'sequence');
    return guess(defaults.defaultDim ?? 1, 'default');
  });
  return { shape, guessed };
}

/**
 * Shapes for all inputs at once, so that a symbolic dim shared by several inputs ("batch" in both `input` and
 * `h`) gets one size: the first input's guess for it is given to the others.
 */
export function resolveShapes(inputs: readonly TensorInfo[], overrides: DimOverrides = {}, defaults: ResolveDefaults = {}): { shapes: Record<string, number[]>; guessed: GuessedDim[] } {
  const shared: DimOverrides = { ...overrides };
  const shapes: Record<string, number[]> = {};
  const guessed: GuessedDim[] = [];
  const withRate = { ...defaults, sampleRateInput: defaults.sampleRateInput ?? inputs.some((i) => inputRole(i) === 'sample-rate') };
  for (const info of inputs) {
    if (!info.dtype || !info.shape) continue;
    const r = resolveShape(info, shared, withRate);
    shapes[info.name] = r.shape;
    for (const g of r.guessed) {
      guessed.push(g);
      if (g.name !== null) shared[g.name] = g.value;
    }
  }
  return { shapes, guessed };
}

/**
 * `--shape NAME=D1,D2,…` arguments as overrides by position ("x:2"), each checked against the model's inputs:
 * a name it lacks, or a count of dims it does not have, is a UserError that says which.
 */
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

/** A guessed dim for people: "input[1] (samples) = 512". */
export function guessText(g: GuessedDim): string {
  return `${g.input}[${g.index}]${g.name ? ` (${g.name})` : ''} = ${g.value}`;
}

/** The --shape argument that sets an input's open dims, with `value` where a guessed dim was ("input=1,N"). */
export function shapeArgument(info: TensorInfo, shape: readonly number[], guessed: readonly GuessedDim[], value = 'N'): string {
  return `${info.name}=${shape.map((d, i) => (guessed.some((g) => g.input === info.name && g.index === i && g.reason !== 'batch') ? value : d)).join(',')}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Sources

export type InputSource =
  | {
      kind: 'random';
      /** Default uniform. */
      distribution?: 'uniform' | 'normal';
      /** Uniform range [low, high): floats default [0, 1); integers [0, 100), uint8 [0, 256), int8 [-128, 128). */
      low?: number;
      high?: number;
      /** Normal distribution; default mean 0, std 1 (rounded for integer types). */
      mean?: number;
      std?: number;
      /** Same seed, same values; default 42 (mixed with the input's name so that inputs differ). */
      seed?: number;
    }
  | { kind: 'zeros' }
  | { kind: 'ones' }
  | { kind: 'fill'; value: number }
  | { kind: 'json'; text: string }
  | { kind: 'npy'; path: string }
  | ({
      kind: 'image';
      path: string;
      /** Default: from the shape (channels of 1, 3 or 4 first, else last). */
      layout?: Layout;
      /** 'shape' (default): resize to the input's H×W; 'source': keep the image's size where the model leaves H, W open. */
      fit?: 'shape' | 'source';
    } & PixelOptions)
  | {
      kind: 'wav';
      path: string;
      /** Resample to this rate (Hz) first; default: the file's rate, unchanged. */
      sampleRate?: number;
      /** 'source' (default when the model leaves the length open): every sample; 'shape': pad or cut to the shape. */
      fit?: 'shape' | 'source';
    };

export interface MadeInput {
  tensor: Tensor;
  /** What was done, for people: "resized 640×480 → 224×224", "mixed 2 channels to mono" … */
  notes: string[];
}

function checkLimit(info: TensorInfo, shape: readonly number[], limits: InputLimits): void {
  const n = elementCount(shape);
  if (n > limits.maxElements) {
    throw new UserError(
      `input '${info.name}' would hold ${n.toLocaleString('en-US')} values (${formatShape(shape)}), above the limit of ${limits.maxElements.toLocaleString('en-US')} (modelyard.inference.maxInputElements).`,
      'Give smaller sizes for its open dims, or raise modelyard.inference.maxInputElements.',
    );
  }
}

async function readInputFile(file: string, info: TensorInfo, what: string): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch (e) {
    throw new UserError(`the ${what} for input '${info.name}' could not be read: ${firstLine(e instanceof Error ? e.message : String(e))}.`, 'Check the path.');
  }
}

/** A value for one input, from a source, at a resolved shape (see resolveShape; files bring their own shapes). */
export async function makeInput(info: TensorInfo, shape: number[], source: InputSource, limits: InputLimits = { maxElements: DEFAULT_MAX_INPUT_ELEMENTS }): Promise<MadeInput> {
  const dtype = info.dtype;
  if (!dtype) throw new UserError(`input '${info.name}' is a ${info.kind ?? 'non-tensor value'}; Modelyard makes tensors only.`, 'Run this model from code that builds the value.');
  switch (source.kind) {
    case 'random':
      checkLimit(info, shape, limits);
      return { tensor: randomTensor(info.name, dtype, shape, source), notes: [describeRandom(dtype, source)] };
    case 'zeros':
    case 'ones':
    case 'fill': {
      checkLimit(info, shape, limits);
      const v = source.kind === 'zeros' ? 0 : source.kind === 'ones' ? 1 : source.value;
      return { tensor: fromNumbers(dtype, shape, new Float64Array(elementCount(shape)).fill(v)), notes: [] };
    }
    case 'json': {
      const t = tensorFromJson(parseJson(source.text, `the JSON for input '${info.name}'`), { name: info.name, dtype, shape });
      checkLimit(info, t.shape, limits);
      return { tensor: t, notes: [] };
    }
    case 'npy': {
      const bytes = await readInputFile(source.path, info, '.npy file');
      const t = readNpy(bytes, path.basename(source.path));
      checkLimit(info, t.shape, limits);
      if (t.dtype !== dtype) {
        throw new UserError(`${path.basename(source.path)} holds ${t.dtype} but input '${info.name}' is ${dtype}.`, `Save it with a.astype(np.${dtype === 'bool' ? 'bool_' : dtype}).`);
      }
      return { tensor: t, notes: [`${path.basename(source.path)}: ${t.dtype} ${formatShape(t.shape)}`] };
    }
    case 'image':
      return imageInput(info, shape, source, limits);
    case 'wav':
      return wavInput(info, shape, source, limits);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Random values

/** mulberry32: a tiny, fast 32-bit generator with a good spread; the same seed gives the same values everywhere. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hashName(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

function integerRange(dtype: Tensor['dtype']): [number, number] {
  if (dtype === 'bool') return [0, 2];
  if (dtype === 'uint8') return [0, 256];
  if (dtype === 'int8') return [-128, 128];
  return [0, 100];
}

function describeRandom(dtype: Tensor['dtype'], s: Extract<InputSource, { kind: 'random' }>): string {
  if (s.distribution === 'normal') return `random normal, mean ${s.mean ?? 0}, std ${s.std ?? 1}, seed ${s.seed ?? 42}`;
  const [lo, hi] = isFloatDType(dtype) ? [s.low ?? 0, s.high ?? 1] : [s.low ?? integerRange(dtype)[0], s.high ?? integerRange(dtype)[1]];
  return `random uniform in [${lo}, ${hi}), seed ${s.seed ?? 42}`;
}

function randomTensor(name: string, dtype: Tensor['dtype'], shape: number[], s: Extract<InputSource, { kind: 'random' }>): Tensor {
  const rand = seededRandom((s.seed ?? 42) ^ hashName(name));
  const n = elementCount(shape);
  const float = isFloatDType(dtype);
  const [lo, hi] = float ? [s.low ?? 0, s.high ?? 1] : [s.low ?? integerRange(dtype)[0], s.high ?? integerRange(dtype)[1]];
  const normal = () => {
    // Box–Muller: two uniforms to one normal value.
    const u = 1 - rand();
    return (s.mean ?? 0) + (s.std ?? 1) * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  };
  const next = s.distribution === 'normal' ? normal : () => lo + (hi - lo) * rand();
  if (dtype === 'string') return { dtype, shape, data: Array.from({ length: n }, () => `s${Math.floor(next())}`) };
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = float ? next() : Math.floor(next());
  return fromNumbers(dtype, shape, values);
}

// ---------------------------------------------------------------------------------------------------------------
// Images

async function imageInput(info: TensorInfo, shape: number[], s: Extract<InputSource, { kind: 'image' }>, limits: InputLimits): Promise<MadeInput> {
  const dtype = info.dtype!;
  const at = imageLayout(shape, s.layout);
  const C = at ? shape[at.c]! : 0;
  if (!at || ![1, 3, 4].includes(C)) {
    throw new UserError(
      `input '${info.name}' (${formatShape(info.shape)}) does not look like an image: an image takes 1, 3 or 4 channels, first or last, in 3 or 4 dims.`,
      'Choose another source for this input, or set the layout (NCHW or NHWC) if the channels are there.',
    );
  }
  if (dtype === 'string' || isBigIntDType(dtype)) throw new UserError(`input '${info.name}' is ${dtype}; images go into float or 8-bit inputs.`, 'Choose another source for this input.');
  const bytes = await readInputFile(s.path, info, 'image');
  const name = path.basename(s.path);
  const img = decodeImage(bytes, name);
  const notes = [`${name}: ${img.width}×${img.height}`];
  const out = [...shape];
  if (s.fit === 'source') {
    if (typeof info.shape?.[at.h] !== 'number') out[at.h] = img.height;
    if (typeof info.shape?.[at.w] !== 'number') out[at.w] = img.width;
  }
  checkLimit(info, out, limits);
  const H = out[at.h]!;
  const W = out[at.w]!;
  const sized = resizeBilinear(img, W, H);
  if (sized !== img) notes.push(`resized to ${W}×${H} (bilinear)`);
  const integer = !isFloatDType(dtype);
  const pix: PixelOptions = { ...s, scale: s.scale ?? (integer ? 1 : 1 / 255) };
  const values = new Float64Array(elementCount(out));
  pixelsToTensor(sized, out, at, values, pix);
  notes.push(
    `${at.layout}, ${C === 1 ? 'grayscale' : s.channelOrder === 'BGR' ? 'BGR' : 'RGB'}${C === 4 ? 'A' : ''}, ×${+pix.scale!.toPrecision(4)}` +
      (s.mean ? `, mean ${JSON.stringify(s.mean)}` : '') +
      (s.std ? `, std ${JSON.stringify(s.std)}` : ''),
  );
  if (at.n >= 0 && out[at.n]! > 1) notes.push(`the same image in all ${out[at.n]} batch entries`);
  return { tensor: toDType(dtype, out, values), notes };
}

const INT_LIMITS: Partial<Record<Tensor['dtype'], [number, number]>> = {
  bool: [0, 1],
  uint8: [0, 255],
  int8: [-128, 127],
  uint16: [0, 65535],
  int16: [-32768, 32767],
  uint32: [0, 4294967295],
  int32: [-2147483648, 2147483647],
};

/** Float values as the input's dtype: float32 without a second pass, integers rounded and clamped to their range. */
function toDType(dtype: Tensor['dtype'], shape: number[], values: Float64Array): Tensor {
  if (dtype === 'float64') return { dtype, shape, data: values };
  if (dtype === 'float32') return { dtype, shape, data: Float32Array.from(values) };
  if (dtype === 'float16') return { dtype, shape, data: Uint16Array.from(values, floatToHalf) };
  const [lo, hi] = INT_LIMITS[dtype] ?? [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER];
  const clamped = values.map((v) => Math.min(hi, Math.max(lo, Math.round(v))));
  return fromNumbers(dtype, shape, clamped);
}

// ---------------------------------------------------------------------------------------------------------------
// Audio

async function wavInput(info: TensorInfo, shape: number[], s: Extract<InputSource, { kind: 'wav' }>, limits: InputLimits): Promise<MadeInput> {
  const dtype = info.dtype!;
  if (!isFloatDType(dtype) && dtype !== 'int16') throw new UserError(`input '${info.name}' is ${dtype}; audio goes into float (or int16) inputs.`, 'Choose another source for this input.');
  if (shape.length === 0) throw new UserError(`input '${info.name}' is a scalar; audio needs at least one dim.`, 'Choose another source for this input.');
  const bytes = await readInputFile(s.path, info, 'WAV file');
  const name = path.basename(s.path);
  const audio = decodeWav(bytes, name);
  const notes = [`${name}: ${audio.sampleRate} Hz, ${audio.channels} channel${audio.channels > 1 ? 's' : ''}, ${audio.bits}-bit ${audio.encoding}, ${(audio.samples.length / audio.sampleRate).toFixed(2)} s`];
  if (audio.channels > 1) notes.push(`mixed ${audio.channels} channels to mono`);
  let samples = audio.samples;
  if (s.sampleRate && s.sampleRate !== audio.sampleRate) {
    samples = resampleLinear(samples, audio.sampleRate, s.sampleRate);
    notes.push(`resampled ${audio.sampleRate} → ${s.sampleRate} Hz (linear)`);
  }
  // The samples fill the last dim; the dims before it (batch, channel) take consecutive chunks.
  const last = shape.length - 1;
  const rows = elementCount(shape.slice(0, last));
  const open = typeof info.shape?.[last] !== 'number';
  const out = [...shape];
  if ((s.fit ?? (open ? 'source' : 'shape')) === 'source' && open) out[last] = Math.max(1, Math.ceil(samples.length / rows));
  checkLimit(info, out, limits);
  const total = elementCount(out);
  if (samples.length < total) notes.push(`padded with ${total - samples.length} zero samples to ${formatShape(out)}`);
  if (samples.length > total) notes.push(`cut to the first ${total} samples of ${samples.length} (${formatShape(out)})`);
  const values = new Float64Array(total);
  values.set(samples.subarray(0, total));
  if (dtype === 'int16') for (let i = 0; i < total; i++) values[i] = values[i]! * 32767;
  return { tensor: toDType(dtype, out, values), notes };
}

// ---------------------------------------------------------------------------------------------------------------
// Whole feeds

export interface MakeFeedsOptions {
  overrides?: DimOverrides;
  defaults?: ResolveDefaults;
  /** Sources by input name; the others get an automatic one (see makeFeeds). */
  sources?: Record<string, InputSource>;
  seed?: number;
  limits?: InputLimits;
}

export interface MadeFeeds {
  feeds: Record<string, Tensor>;
  guessed: GuessedDim[];
  /** Per input: what its value is ("random uniform …", "16000 (a sample rate)", file notes). */
  notes: Record<string, string[]>;
}

const SAMPLE_RATE_NAME = /^(sr|sample_?rate|sampling_?rate)$/i;
const STATE_NAME = /state|^h0?$|^c0?$|hidden|cell|cache|past/i;

/** What an input is for, by its name and type: a sample rate (fed 16000), a recurrent state (zeros), or data. */
export function inputRole(info: TensorInfo): 'sample-rate' | 'state' | 'data' {
  if (info.dtype && !isFloatDType(info.dtype) && info.dtype !== 'string' && info.dtype !== 'bool' && SAMPLE_RATE_NAME.test(info.name)) return 'sample-rate';
  if (STATE_NAME.test(info.name)) return 'state';
  return 'data';
}

/**
 * Feeds for every input of a model: the given sources, else 16000 for an integer input named like a sample rate
 * (sr, sample_rate), zeros for a recurrent state (state, h, c, hidden, cache, past …), random values for the rest.
 */
export async function makeFeeds(inputs: readonly TensorInfo[], opts: MakeFeedsOptions = {}): Promise<MadeFeeds> {
  const fromFile = (name: string) => ['json', 'npy'].includes(opts.sources?.[name]?.kind ?? '');
  const resolved = resolveShapes(inputs, opts.overrides, opts.defaults);
  const shapes = resolved.shapes;
  // A JSON or .npy value brings its own shape: what was guessed for that input does not matter.
  const guessed = resolved.guessed.filter((g) => !fromFile(g.input));
  const feeds: Record<string, Tensor> = {};
  const notes: Record<string, string[]> = {};
  for (const info of inputs) {
    let source = opts.sources?.[info.name];
    const extra: string[] = [];
    if (!source) {
      const role = inputRole(info);
      if (role === 'sample-rate') {
        source = { kind: 'fill', value: 16000 };
        extra.push('16000 (a sample rate, by its name)');
      } else if (role === 'state') {
        source = { kind: 'zeros' };
        extra.push('zeros (a recurrent state, by its name)');
      } else source = { kind: 'random', seed: opts.seed };
    }
    const made = await makeInput(info, shapes[info.name] ?? [], source, opts.limits);
    feeds[info.name] = made.tensor;
    notes[info.name] = [...extra, ...made.notes];
  }
  return { feeds, guessed, notes };
}
