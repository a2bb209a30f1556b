// A model over 2 GB, as the CLI meets it: 2.3 GB of float32 weights in external data (no single ONNX file can be
// that large). Converted to float16 (1.15 GB, one file), back to float32 (2.3 GB: written with external data beside
// it), checked by onnx.checker, and run in onnxruntime against the original. About a minute and 8 GB of disk; the
// test says so and skips when the temporary folder has less room.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { StringStringEntryProtoSchema, TensorProto_DataLocation } from '../../src/core/onnx/gen/onnx_pb';
import { encodeModel } from '../../src/core/onnx/model';
import type { QuantizeReport } from '../../src/core/quantize/quantize';
import { modelyard } from '../support/cli';
import { model, node, valueInfo } from '../support/onnx-models';
import { onnxCheck } from '../support/quantize';

const DIM = 12_000;
const LAYERS = 4; // 4 × 12,000² floats = 2.3 GB
const NEEDED = 8e9;

let dir: string;
const free = (() => {
  try {
    const s = fs.statfsSync(os.tmpdir());
    return s.bavail * s.bsize;
  } catch {
    return 0;
  }
})();
const skip = free < NEEDED ? `needs ${(NEEDED / 1e9).toFixed(0)} GB free in ${os.tmpdir()}, has ${(free / 1e9).toFixed(1)} GB` : false;

/** X[1, DIM] → LAYERS MatMuls with DIM × DIM weights kept in `big.onnx.data`. */
function writeBigModel(file: string): number {
  const data = `${path.basename(file)}.data`;
  const fd = fs.openSync(path.join(path.dirname(file), data), 'w');
  const w = new Float32Array(DIM * DIM);
  const inits = [];
  let offset = 0;
  try {
    for (let l = 0; l < LAYERS; l++) {
      // Small values with a spread (a multiplicative hash), so every layer keeps the activations in range.
      for (let i = 0; i < w.length; i++) w[i] = ((((i + l) * 2654435761) >>> 0) % 2001 - 1000) * (1 / (1000 * Math.sqrt(DIM)));
      fs.writeSync(fd, new Uint8Array(w.buffer), 0, w.byteLength, offset);
      inits.push({
        name: `w${l}`,
        dims: [BigInt(DIM), BigInt(DIM)],
        dataType: 1,
        dataLocation: TensorProto_DataLocation.EXTERNAL,
        externalData: [
          create(StringStringEntryProtoSchema, { key: 'location', value: data }),
          create(StringStringEntryProtoSchema, { key: 'offset', value: String(offset) }),
          create(StringStringEntryProtoSchema, { key: 'length', value: String(w.byteLength) }),
        ],
      });
      offset += w.byteLength;
    }
  } finally {
    fs.closeSync(fd);
  }
  const m = model({
    name: 'big',
    node: Array.from({ length: LAYERS }, (_, l) => node('MatMul', [l ? `h${l}` : 'X', `w${l}`], [l === LAYERS - 1 ? 'Y' : `h${l + 1}`])),
    initializer: inits,
    input: [valueInfo('X', 1, [1, DIM])],
    output: [valueInfo('Y', 1, [1, DIM])],
  });
  fs.writeFileSync(file, encodeModel(m));
  return offset;
}

function report(r: ReturnType<typeof modelyard>): QuantizeReport {
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as QuantizeReport;
}

function output(r: ReturnType<typeof modelyard>): Float32Array {
  assert.equal(r.code, 0, r.stderr);
  const o = JSON.parse(r.stdout) as { outputs: { name: string; data: number[] }[] };
  return Float32Array.from(o.outputs[0]!.data.flat(Infinity as 1) as number[]);
}

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb);
}

describe('a model over 2 GB (external data)', { skip, timeout: 600_000 }, () => {
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-big-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('converts 2.3 GB to float16 and back, writing external data past the limit, and both run like the original', () => {
    const big = path.join(dir, 'big.onnx');
    const bytes = writeBigModel(big);
    assert.ok(bytes > 2 ** 31, `${bytes} bytes of weights`);
    const opts = { timeout: 300_000, maxBuffer: 64 << 20 };

    const half = report(modelyard(['quantize', big, '--mode', 'fp16', '--no-eval', '--json', '-o', path.join(dir, 'half.onnx')], opts));
    assert.equal(half.output.externalData, undefined, '1.15 GB fits one file');
    assert.ok(half.sizeRatio > 0.49 && half.sizeRatio < 0.51, `×${half.sizeRatio}`);

    const back = report(modelyard(['quantize', path.join(dir, 'half.onnx'), '--mode', 'fp32', '--no-eval', '--json', '-o', path.join(dir, 'back.onnx')], opts));
    assert.equal(back.output.externalData, 'back.onnx.data', '2.3 GB goes to external data beside the model');
    assert.ok(fs.statSync(path.join(dir, 'back.onnx')).size < 1 << 20, 'the .onnx itself stays small');
    assert.ok(fs.statSync(path.join(dir, 'back.onnx.data')).size >= bytes);
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
    assert.deepEqual(onnxCheck([path.join(dir, 'back.onnx')]).map((c) => c.error), [null]);

    const run = (file: string) => output(modelyard(['run', file, '--input', 'X=random:7', '--json'], opts));
    const y = run(big);
    const y16 = run(path.join(dir, 'half.onnx'));
    const y32 = run(path.join(dir, 'back.onnx'));
    assert.ok(cosine(y, y16) > 0.999, `fp16: cosine ${cosine(y, y16)}`);
    assert.ok(cosine(y, y32) > 0.999, `fp16 → fp32: cosine ${cosine(y, y32)}`);
  });
});
