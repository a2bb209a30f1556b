// The models of the quantization bench and their inputs, written into a folder (plain Node, no vscode):
//
//   generated  mlp-matmul  4 × (MatMul 1024×1024 + Add bias) with Relu between, X [8, 1024]: 16 MB of fp32
//                          weights, where int8 and int4 pay off most
//              mlp-gemm    the same as Gemm(transB=1, bias)
//              cnn-conv    6 Conv 3×3 (3→64 s2, 64→64, 64→128 s2, 128→128, 128→128 s2, 128→128) + Relu, then
//                          GlobalAveragePool, Flatten and a Gemm 128→10 head, on X [1, 3, 128, 128], opset 13
//   fixtures   hello_deepa.onnx (Gemm MLP), ch_ppocr_mobile_v2.0_cls_infer.onnx (Conv, opset 9, weights in
//              Constant nodes), ch_PP-OCRv4_det_infer.onnx (Conv, opset 11, fed [1, 3, 320, 320])
//
// Each model gets 8 calibration and 4 validation samples: <dir>/<name>/calibration/<NN>/<input>.npy and
// <dir>/<name>/validation/<NN>/<input>.npy, a folder a sample holding a file an input named by its safe name
// (safeName of src/core/quantize/calibdata.ts), the layout Modelyard's calibration reader and
// scripts/py/quant_peers.py, scripts/py/quant_eval.py all read. The generated models' weights and every input are
// seeded: the same bytes in every run. Images are synthetic text (documentImage: lines of glyph-like bitmaps on a
// page), normalised as PaddleOCR feeds each model; the other inputs are uniform in [-1, 1) as FIXTURE_FEEDS gives.
import fs from 'node:fs';
import path from 'node:path';
import { writeNpy } from '../../src/core/inference/npy';
import type { Tensor } from '../../src/core/inference/tensor';
import { AttributeProto_AttributeType as AT, TensorProto_DataType as DT } from '../../src/core/onnx/gen/onnx_pb';
import { decodeModel, encodeModel, type ModelProto } from '../../src/core/onnx/model';
import { safeName } from '../../src/core/quantize/calibdata';
import { fixture } from '../support/fixtures';
import { pseudoRandom } from '../support/inference';
import { floatTensor, model, node, valueInfo } from '../support/onnx-models';

export interface BenchModel {
  name: string;
  /** The model file: in `dir` for generated models, in the fixture cache for the real ones. */
  file: string;
  /** The op that carries the weights. */
  kind: 'matmul' | 'gemm' | 'conv';
  /** Sample folders, each holding <input>.npy per input. */
  calibration: string[];
  validation: string[];
  source: 'generated' | 'fixture';
  /** The default-domain opset of the model. */
  opset: number;
}

export interface BenchModelOptions {
  /** Hidden size of the MLPs (1024 by default; smaller for quick tests). */
  dim?: number;
  /** Rows of the MLPs' input X [batch, dim] (8 by default). */
  batch?: number;
  /** Image side of the CNN (128 by default). */
  side?: number;
  /** Leave the fixture models out (true by default: they are included). */
  fixtures?: boolean;
  calibrationSamples?: number;
  validationSamples?: number;
}

/** An input name as a file name: the calibration reader's own rule. */
export { safeName };

type Feeds = Record<string, Tensor>;

const f32 = (shape: number[], data: Float32Array): Tensor => ({ dtype: 'float32', shape, data });
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const uniform = (shape: number[], seed: number, scale = 1): Tensor => f32(shape, pseudoRandom(size(shape), seed).map((v) => v * scale));

/** Writes one sample folder: <dir>/<input>.npy per input. */
export function writeSample(dir: string, feeds: Feeds): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, t] of Object.entries(feeds)) fs.writeFileSync(path.join(dir, `${safeName(name)}.npy`), writeNpy(t));
  return dir;
}

/** A seeded uniform [0, 1) stream (the LCG of pseudoRandom). */
function stream(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export interface DocumentImageOptions {
  /** Glyph height in pixels; by default a random 10–21 (a page) or 2/3 of the height when `line` is set. */
  glyph?: number;
  /** One text line across the image (a crop, as the OCR classifier and recogniser see), not a page of lines. */
  line?: boolean;
  /**
   * 'half': (pixel / 255 − 0.5) / 0.5, PaddleOCR's classifier and recogniser; 'imagenet': (pixel / 255 − mean) / std
   * with ImageNet's mean and std per channel, PaddleOCR's detector.
   */
  norm?: 'half' | 'imagenet';
}

/**
 * A synthetic text image [1, 3, h, w]: a bright, slightly uneven page with lines of dark glyphs (random 7 × 5
 * bitmaps, scaled) grouped into words, and pixel noise, normalised as PaddleOCR feeds its models. Seeded. PaddleOCR's
 * detector finds text in it (about a fifth of the pixels above 0.3 at 320 × 320), where uniform noise or a blank
 * page leave its output all but zero, and cosine on such an output says little.
 */
export function documentImage(h: number, w: number, seed: number, opts: DocumentImageOptions = {}): Tensor {
  const next = stream(seed * 2654435761 + 17);
  const gray = new Float32Array(h * w).fill(0);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) gray[y * w + x] = 232 - 14 * (y / h) - 8 * (x / w);
  const glyphH = opts.glyph ?? (opts.line ? Math.max(7, Math.round((h * 2) / 3)) : 10 + Math.floor(next() * 12));
  const glyphW = Math.max(5, Math.round((glyphH * 5) / 7));
  const drawLine = (top: number) => {
    let x = 2 + Math.floor(next() * Math.max(1, opts.line ? glyphW : 26));
    const end = Math.floor(w * (0.6 + next() * 0.38));
    while (x < end) {
      const letters = 2 + Math.floor(next() * 6);
      for (let k = 0; k < letters && x + glyphW < w; k++) {
        const bits = Array.from({ length: 35 }, () => next() < 0.45);
        for (let gy = 0; gy < glyphH && top + gy < h; gy++) {
          for (let gx = 0; gx < glyphW; gx++) {
            if (bits[Math.floor((gy * 7) / glyphH) * 5 + Math.floor((gx * 5) / glyphW)]) gray[(top + gy) * w + x + gx] = 30;
          }
        }
        x += glyphW + 2;
      }
      x += glyphH;
    }
  };
  if (opts.line) drawLine(Math.max(0, Math.floor((h - glyphH) / 2)));
  else for (let y = 4 + Math.floor(next() * 16); y + glyphH < h; y += glyphH + 6 + Math.floor(next() * 14)) drawLine(y);
  const noise = pseudoRandom(3 * h * w, seed * 7919 + 1);
  const mean = opts.norm === 'imagenet' ? [0.485, 0.456, 0.406] : [0.5, 0.5, 0.5];
  const std = opts.norm === 'imagenet' ? [0.229, 0.224, 0.225] : [0.5, 0.5, 0.5];
  const data = new Float32Array(3 * h * w);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < h * w; i++) {
      const px = Math.min(255, Math.max(0, gray[i]! + 10 * noise[c * h * w + i]!));
      data[c * h * w + i] = (px / 255 - mean[c]!) / std[c]!;
    }
  }
  return f32([1, 3, h, w], data);
}

/** He-uniform weights in [-√(6/fanIn), √(6/fanIn)), seeded. */
function heWeights(name: string, dims: number[], fanIn: number, seed: number) {
  const a = Math.sqrt(6 / fanIn);
  const v = pseudoRandom(size(dims), seed);
  return floatTensor(name, dims, (i) => v[i]! * a);
}

function smallBias(name: string, n: number, seed: number) {
  const v = pseudoRandom(n, seed);
  return floatTensor(name, [n], (i) => v[i]! * 0.05);
}

/** X [batch, dim] → layers × (MatMul or Gemm + bias), Relu between → Y [batch, dim]. */
export function mlp(kind: 'matmul' | 'gemm', layers: number, dim: number, batch: number): ModelProto {
  const nodes = [];
  const inits = [];
  for (let i = 0; i < layers; i++) {
    const x = i ? `r${i}` : 'X';
    const y = i === layers - 1 ? 'Y' : `h${i + 1}`;
    if (kind === 'matmul') {
      inits.push(heWeights(`w${i}`, [dim, dim], dim, 100 + i), smallBias(`b${i}`, dim, 200 + i));
      nodes.push(node('MatMul', [x, `w${i}`], [`m${i}`]), node('Add', [`m${i}`, `b${i}`], [y]));
    } else {
      inits.push(heWeights(`w${i}`, [dim, dim], dim, 100 + i), smallBias(`b${i}`, dim, 200 + i)); // [out, in] with transB
      nodes.push(node('Gemm', [x, `w${i}`, `b${i}`], [y], [{ name: 'transB', type: AT.INT, i: 1n }]));
    }
    if (i < layers - 1) nodes.push(node('Relu', [y], [`r${i + 1}`]));
  }
  return model(
    {
      name: `mlp_${kind}`,
      node: nodes,
      initializer: inits,
      input: [valueInfo('X', DT.FLOAT, [batch, dim])],
      output: [valueInfo('Y', DT.FLOAT, [batch, dim])],
    },
    { irVersion: 8n, opsetImport: [{ domain: '', version: 13n }] },
  );
}

/** 6 Conv 3×3 + Relu, GlobalAveragePool, Flatten, Gemm 128→10 on X [1, 3, side, side], opset 13. */
export function cnn(side: number): ModelProto {
  const convs: [number, number, number][] = [
    [3, 64, 2],
    [64, 64, 1],
    [64, 128, 2],
    [128, 128, 1],
    [128, 128, 2],
    [128, 128, 1],
  ];
  const nodes = [];
  const inits = [];
  let x = 'X';
  convs.forEach(([cin, cout, stride], i) => {
    inits.push(heWeights(`conv${i}.w`, [cout, cin, 3, 3], cin * 9, 300 + i), smallBias(`conv${i}.b`, cout, 400 + i));
    nodes.push(
      node('Conv', [x, `conv${i}.w`, `conv${i}.b`], [`c${i}`], [
        { name: 'kernel_shape', type: AT.INTS, ints: [3n, 3n] },
        { name: 'pads', type: AT.INTS, ints: [1n, 1n, 1n, 1n] },
        { name: 'strides', type: AT.INTS, ints: [BigInt(stride), BigInt(stride)] },
      ]),
      node('Relu', [`c${i}`], [`r${i}`]),
    );
    x = `r${i}`;
  });
  inits.push(heWeights('fc.w', [10, 128], 128, 500), smallBias('fc.b', 10, 501));
  nodes.push(
    node('GlobalAveragePool', [x], ['gap']),
    node('Flatten', ['gap'], ['flat'], [{ name: 'axis', type: AT.INT, i: 1n }]),
    node('Gemm', ['flat', 'fc.w', 'fc.b'], ['Y'], [{ name: 'transB', type: AT.INT, i: 1n }]),
  );
  return model(
    {
      name: 'cnn_conv',
      node: nodes,
      initializer: inits,
      input: [valueInfo('X', DT.FLOAT, [1, 3, side, side])],
      output: [valueInfo('Y', DT.FLOAT, [1, 10])],
    },
    { irVersion: 8n, opsetImport: [{ domain: '', version: 13n }] },
  );
}

interface Spec {
  name: string;
  kind: BenchModel['kind'];
  source: BenchModel['source'];
  /** Read from the file when not given. */
  opset?: number;
  file: () => string;
  /** The feeds of sample `seed` (calibration seeds 1…, validation seeds 1001…). */
  feeds: (seed: number) => Feeds;
}

/**
 * Writes the benchmark models and their calibration and validation samples into `dir` (created if needed) and
 * lists them. The fixture models stay where fixture() keeps them; only their samples are written.
 */
export async function benchModels(dir: string, opts: BenchModelOptions = {}): Promise<BenchModel[]> {
  const dim = opts.dim ?? 1024;
  const side = opts.side ?? 128;
  const batch = opts.batch ?? 8;
  const write = (name: string, m: ModelProto) => () => {
    const file = path.join(dir, name, `${name}.onnx`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, encodeModel(m));
    return file;
  };
  const specs: Spec[] = [
    { name: 'mlp-matmul', kind: 'matmul', source: 'generated', opset: 13, file: write('mlp-matmul', mlp('matmul', 4, dim, batch)), feeds: (s) => ({ X: uniform([batch, dim], s) }) },
    { name: 'mlp-gemm', kind: 'gemm', source: 'generated', opset: 13, file: write('mlp-gemm', mlp('gemm', 4, dim, batch)), feeds: (s) => ({ X: uniform([batch, dim], s) }) },
    { name: 'cnn-conv', kind: 'conv', source: 'generated', opset: 13, file: write('cnn-conv', cnn(side)), feeds: (s) => ({ X: documentImage(side, side, s) }) },
  ];
  if (opts.fixtures !== false) {
    specs.push(
      // One window of 25 embeddings of 96, as FIXTURE_FEEDS gives it.
      { name: 'hello_deepa', kind: 'gemm', source: 'fixture', file: () => fixture('hello_deepa.onnx'), feeds: (s) => ({ 'onnx::Flatten_0': uniform([1, 25, 96], s) }) },
      // A text-line crop as PaddleOCR's classifier is fed: 48 × 192.
      { name: 'ppocr-cls', kind: 'conv', source: 'fixture', file: () => fixture('ch_ppocr_mobile_v2.0_cls_infer.onnx'), feeds: (s) => ({ x: documentImage(48, 192, s, { line: true }) }) },
      // A page at 320 × 320 (FIXTURE_FEEDS uses 640: a quarter of the work per run for the bench).
      { name: 'ppocr-det', kind: 'conv', source: 'fixture', file: () => fixture('ch_PP-OCRv4_det_infer.onnx'), feeds: (s) => ({ x: documentImage(320, 320, s, { norm: 'imagenet' }) }) },
    );
  }
  const nCal = opts.calibrationSamples ?? 8;
  const nVal = opts.validationSamples ?? 4;
  const out: BenchModel[] = [];
  for (const s of specs) {
    const file = s.file();
    const samples = (what: string, n: number, seed0: number) =>
      Array.from({ length: n }, (_, i) => writeSample(path.join(dir, s.name, what, String(i).padStart(2, '0')), s.feeds(seed0 + i)));
    out.push({
      name: s.name,
      file,
      kind: s.kind,
      source: s.source,
      opset: s.opset ?? opsetOf(file),
      calibration: samples('calibration', nCal, 1),
      validation: samples('validation', nVal, 1001),
    });
  }
  return out;
}

/** The default-domain opset of a model file. */
function opsetOf(file: string): number {
  const m = decodeModel(fs.readFileSync(file), path.basename(file));
  return Number(m.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0);
}
