/**
 * The ways a model test's inputs and expected outputs become tensors, and how it runs: shared by `modelyard test`
 * and the Testing view, so that both read a test file the same way.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { UserError, firstLine } from '../errors';
import type { InferenceHost } from '../inference/host';
import { makeInput, resolveShape, type InputSource } from '../inference/inputs';
import { parseJson, tensorFromJson } from '../inference/json';
import { readNpy } from '../inference/npy';
import type { Tensor, TensorInfo } from '../inference/tensor';
import type { InputRef } from './format';
import type { ModelTestDeps } from './runner';

/** The file extensions an input given as a path may have (sourceOf tells them apart). */
export const INPUT_FILE_EXTENSIONS = ['.npy', '.json', '.png', '.jpg', '.jpeg', '.wav'];

/** The inference source for an input reference; `{json}` names a JSON file still to read. */
export function sourceOf(ref: InputRef, baseDir: string, info: TensorInfo): InputSource | { json: string } {
  const abs = (p: string) => path.resolve(baseDir, p);
  if (typeof ref === 'string') {
    const ext = path.extname(ref).toLowerCase();
    if (ext === '.npy') return { kind: 'npy', path: abs(ref) };
    if (ext === '.json') return { json: abs(ref) };
    if (ext === '.wav') return { kind: 'wav', path: abs(ref) };
    if (['.png', '.jpg', '.jpeg'].includes(ext)) return { kind: 'image', path: abs(ref) };
    throw new UserError(`input '${info.name}': ${ref} is not a .npy, .json, .png, .jpg or .wav file.`);
  }
  if ('npy' in ref) return { kind: 'npy', path: abs(ref.npy) };
  if ('json' in ref) return { json: abs(ref.json) };
  if ('value' in ref) return { kind: 'json', text: JSON.stringify(ref.value) };
  if ('image' in ref) {
    const { image, ...pix } = ref;
    return { kind: 'image', path: abs(image), ...pix };
  }
  if ('wav' in ref) return { kind: 'wav', path: abs(ref.wav), ...(ref.sampleRate ? { sampleRate: ref.sampleRate } : {}) };
  if ('random' in ref) {
    const r = ref.random;
    return { kind: 'random', seed: r.seed, distribution: r.distribution, low: r.min, high: r.max, mean: r.mean, std: r.std };
  }
  if ('zeros' in ref) return { kind: 'zeros' };
  return { kind: 'ones' };
}

/**
 * The value of an input reference (a JSON file read here), at `shape` or the shape the model declares. Model tests
 * read their inputs with it, and quantization its calibration samples.
 */
export async function inputValue(ref: InputRef, info: TensorInfo, shape: number[] | undefined, baseDir: string): Promise<Tensor> {
  let source = sourceOf(ref, baseDir, info);
  if ('json' in source) {
    let text: string;
    try {
      text = await fsp.readFile(source.json, 'utf8');
    } catch (e) {
      throw new UserError(`input '${info.name}': ${source.json} could not be read: ${firstLine((e as Error).message)}.`, 'Check the path (relative to the test file).');
    }
    source = { kind: 'json', text };
  }
  return (await makeInput(info, shape ?? resolveShape(info).shape, source)).tensor;
}

/** An expected output from a .npy or .json file; a missing file says how to write it. */
export async function readExpected(file: string): Promise<Tensor> {
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(file);
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new UserError(
      missing ? `the expected output ${file} does not exist.` : `${file} could not be read: ${firstLine((e as Error).message)}.`,
      missing ? 'Run `modelyard test --update` to write it from the model’s current outputs.' : 'Check the file.',
    );
  }
  if (file.toLowerCase().endsWith('.json')) return tensorFromJson(parseJson(bytes.toString('utf8'), file));
  return readNpy(bytes, path.basename(file));
}

/** The runner's dependencies for a session loaded in `host`. */
export function modelTestDeps(host: InferenceHost, id: string, inputs: TensorInfo[], outputs: TensorInfo[], signal: AbortSignal): ModelTestDeps {
  return {
    inputs,
    outputs,
    input: inputValue,
    async expected(ref) {
      if ('file' in ref) return readExpected(ref.file);
      return tensorFromJson(ref.value, { ...(ref.dtype ? { dtype: ref.dtype } : {}), ...(ref.shape ? { shape: ref.shape } : {}) });
    },
    async run(feeds) {
      const r = await host.run(id, feeds, { signal });
      return { outputs: r.outputs, ms: r.ms };
    },
  };
}
