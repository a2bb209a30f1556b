// The inference worker for tests in plain Node: built from source with esbuild once per test process, so that the
// unit tests never depend on dist/ (which a parallel `npm run build` deletes and rewrites).
import * as esbuild from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { InferenceHost, type InferenceHostOptions } from '../../src/core/inference/host';
import { elementCount, type Tensor } from '../../src/core/inference/tensor';

const root = path.resolve(__dirname, '..', '..');
let built: string | undefined;

/**
 * The path of a freshly built inference worker. Each process builds into its own folder under out/test-worker/
 * (node --test runs test files in parallel processes; the folder must stay inside the repository so that
 * onnxruntime-node resolves from node_modules), and removes it when it exits.
 */
export function workerPath(): string {
  if (built) return built;
  const dir = path.join(root, 'out', 'test-worker', String(process.pid));
  fs.mkdirSync(dir, { recursive: true });
  esbuild.buildSync({
    entryPoints: { 'inference-worker': path.join(root, 'src', 'core', 'inference', 'worker.ts') },
    outdir: dir,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['onnxruntime-node'],
    sourcemap: 'inline',
    logLevel: 'warning',
  });
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  built = path.join(dir, 'inference-worker.js');
  return built;
}

/** A host on the test build of the worker. */
export function testHost(opts: Partial<InferenceHostOptions> = {}): InferenceHost {
  return new InferenceHost({ workerPath: workerPath(), ...opts });
}

type Feeds = Record<string, Tensor>;

/** A reproducible float32 array in [-1, 1) (a small LCG: the same values in every process). */
export function pseudoRandom(n: number, seed = 1): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 31 - 1;
  }
  return a;
}

const f32 = (shape: number[], seed = 1, scale = 1): Tensor => ({ dtype: 'float32', shape, data: pseudoRandom(elementCount(shape), seed).map((v) => v * scale) });
const zeros = (shape: number[]): Tensor => ({ dtype: 'float32', shape, data: new Float32Array(elementCount(shape)) });
const sr16k: Tensor = { dtype: 'int64', shape: [], data: new BigInt64Array([16000n]) };

/**
 * Realistic feeds for each fixture model: the OCR models at the sizes PaddleOCR feeds them (det at 640×640), the
 * VAD models a 512-sample chunk at 16 kHz with a zero state, the wake-word MLP one window of embeddings.
 */
export const FIXTURE_FEEDS: Record<string, () => Feeds> = {
  'ch_ppocr_mobile_v2.0_cls_infer.onnx': () => ({ x: f32([1, 3, 48, 192]) }),
  'ch_PP-OCRv4_det_infer.onnx': () => ({ x: f32([1, 3, 640, 640]) }),
  'ch_PP-OCRv4_rec_infer.onnx': () => ({ x: f32([1, 3, 48, 320]) }),
  'silero_vad_legacy.onnx': () => ({ input: f32([1, 512], 2, 0.1), sr: sr16k, h: zeros([2, 1, 64]), c: zeros([2, 1, 64]) }),
  'silero_vad_v5.onnx': () => ({ input: f32([1, 512], 2, 0.1), state: zeros([2, 1, 128]), sr: sr16k }),
  'hello_deepa.onnx': () => ({ 'onnx::Flatten_0': f32([1, 25, 96]) }),
};
