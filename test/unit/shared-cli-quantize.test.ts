// The Quantize panel starts `modelyard quantize` with arguments made by quantizeArgs; the CLI reads them with
// parseQuantizeArgs. Both live in src/shared/cli/quantize.ts, and this holds them together: what is built parses
// back to the same options, for every option.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseQuantizeArgs, quantizeArgs, type QuantizeCliOptions } from '../../src/shared/cli/quantize';

const CASES: QuantizeCliOptions[] = [
  { model: 'models/vad.onnx', mode: 'auto' },
  { model: 'models/vad.onnx', mode: 'int8-static', shapes: ['input=1,576', 'state=2,1,128'] },
  { model: 'wake@v1.2.0', repo: '/repo with space', mode: 'int8-static', perChannel: true, calibration: 'cal/', method: 'percentile', percentile: 99.99, sensitivity: false, json: true },
  { model: 'x.onnx', mode: 'int8-dynamic', perChannel: false, exclude: ['MatMul', '/enc/conv0'], minCosine: 0.995, minTop1: 0.9, maxLatencyRatio: 1.2, runs: 0, evaluate: false },
  { model: 'x.onnx', mode: 'int4', blockSize: 64, symmetric: false, output: 'out/x.int4.onnx', report: 'r.json', progress: 'json' },
  { model: 'x.onnx', mode: 'fp16', keepIoTypes: false, blockOps: ['Resize', 'TopK'], validation: 'val/' },
  { model: 'wake#prod', mode: 'int8-weight', register: true, asVersion: true, tagVersion: 'v2.0.0', name: 'wake' },
];

describe('quantize arguments', () => {
  for (const o of CASES) {
    it(`round-trips ${JSON.stringify(o)}`, () => {
      assert.deepEqual(parseQuantizeArgs(quantizeArgs(o)), o);
    });
  }

  it('refuses what the CLI refuses, by name', () => {
    assert.throws(() => parseQuantizeArgs(['x.onnx']), /--mode is required/);
    assert.throws(() => parseQuantizeArgs(['x.onnx', '--mode', 'int3']), /'int3' is not a quantization mode/);
    assert.throws(() => parseQuantizeArgs(['x.onnx', '--mode', 'int4', '--block-size', '48']), /--block-size takes 16, 32, 64, 128 or 256, not 48/);
    assert.throws(() => parseQuantizeArgs(['x.onnx', '--mode', 'auto', '--per-channel', '--per-tensor']), /not both/);
    assert.throws(() => parseQuantizeArgs(['x.onnx', '--mode', 'auto', '--min-cosine', '2']), /--min-cosine takes a number from -1 to 1/);
    assert.throws(() => parseQuantizeArgs(['x.onnx', 'y.onnx', '--mode', 'auto']), /wrong number of arguments/);
    assert.throws(() => parseQuantizeArgs(['x.onnx', '--mode', 'auto', '--bogus']), /Unknown option '--bogus'/);
    assert.throws(() => parseQuantizeArgs(['x.onnx', '--mode', 'auto', '--shape']), /--shape/);
  });
});
