// int8 static QDQ quantization (src/core/quantize/static.ts), its calibration (calibrate.ts) and sensitivity pass
// (sensitivity.ts), on small generated graphs and on the OCR fixtures, run in the real onnxruntime-node: structure,
// fidelity against float, onnx.checker, and the fusions onnxruntime makes of the Q/DQ groups (QLinearConv …).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { UserError } from '../../src/core/errors';
import type { InferenceHost } from '../../src/core/inference/host';
import { elementCount, type Tensor } from '../../src/core/inference/tensor';
import { create } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataType as DT, type ModelProto, type NodeProto, type TensorProto } from '../../src/core/onnx/gen/onnx_pb';
import { decodeModel, encodeModel } from '../../src/core/onnx/model';
import { Histogram, calibrate } from '../../src/core/quantize/calibrate';
import { makeNode, makeTensor, QModel } from '../../src/core/quantize/graph';
import { sensitivity } from '../../src/core/quantize/sensitivity';
import { calibrationTargets, ensureNodeNames, quantizeStatic } from '../../src/core/quantize/static';
import type { FormResult, Ranges, StaticOptions } from '../../src/core/quantize/types';
import { pseudoRandom, testHost } from '../support/inference';
import { valueInfo } from '../support/onnx-models';
import { onnxCheck, opCounts, runBoth } from '../support/quantize';

const host = testHost();
// Release calls still in the host's queue (runBoth does not wait for them) finish before the worker stops.
after(async () => {
  await host.runtimeInfo().catch(() => {});
  await host.dispose();
});

const f32 = (shape: number[], seed: number, scale = 1): Tensor => ({ dtype: 'float32', shape, data: pseudoRandom(elementCount(shape), seed).map((v) => v * scale) });
const weight = (name: string, shape: number[], seed: number, scale: number): TensorProto => makeTensor(name, 'float32', shape, pseudoRandom(elementCount(shape), seed).map((v) => v * scale));

function modelOf(opset: number, nodes: NodeProto[], inits: TensorProto[], inputs: ReturnType<typeof valueInfo>[], outputs: ReturnType<typeof valueInfo>[]): ModelProto {
  return create(ModelProtoSchema, {
    irVersion: 8n,
    producerName: 'modelyard-test',
    opsetImport: [{ domain: '', version: BigInt(opset) }],
    graph: { name: 'g', node: nodes, initializer: inits, input: inputs, output: outputs },
  });
}

/**
 * X[1,3,16,16] → Conv(3→8, bias) → Relu (Clip 0..6 for opset ≥ 11) → Conv(8→8, stride 2, no bias) → BatchNormalization
 * → Flatten → Gemm(512→10, transB, bias) → Y. `constantWeight`: the first Conv's weight in a Constant node, as
 * the PaddleOCR exports have them.
 */
function convNet(opset: number, opts: { constantWeight?: boolean } = {}): ModelProto {
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  const w1 = weight('w1', [8, 3, 3, 3], 11, 0.4);
  if (opts.constantWeight) nodes.push(makeNode('Constant', [], ['w1'], { name: 'w1_const', attrs: { value: w1 } }));
  else inits.push(w1);
  inits.push(weight('b1', [8], 12, 0.1), weight('w2', [8, 8, 3, 3], 13, 0.25), weight('wg', [10, 512], 14, 0.08), weight('bg', [10], 15, 0.1));
  inits.push(makeTensor('bn_scale', 'float32', [8], pseudoRandom(8, 16).map((v) => 1 + 0.5 * v)));
  inits.push(weight('bn_bias', [8], 17, 0.2), weight('bn_mean', [8], 18, 0.1));
  inits.push(makeTensor('bn_var', 'float32', [8], pseudoRandom(8, 19).map((v) => 1 + 0.5 * v)));
  nodes.push(makeNode('Conv', ['X', 'w1', 'b1'], ['c1'], { name: 'conv1', attrs: { pads: [1, 1, 1, 1], kernel_shape: [3, 3] } }));
  if (opset >= 11) {
    inits.push(makeTensor('zero', 'float32', [], new Float32Array([0])), makeTensor('six', 'float32', [], new Float32Array([6])));
    nodes.push(makeNode('Clip', ['c1', 'zero', 'six'], ['r1'], { name: 'clip1' }));
  } else nodes.push(makeNode('Relu', ['c1'], ['r1'], { name: 'relu1' }));
  nodes.push(makeNode('Conv', ['r1', 'w2'], ['c2'], { name: 'conv2', attrs: { pads: [1, 1, 1, 1], strides: [2, 2] } }));
  nodes.push(makeNode('BatchNormalization', ['c2', 'bn_scale', 'bn_bias', 'bn_mean', 'bn_var'], ['n2'], { name: 'bn2' }));
  nodes.push(makeNode('Flatten', ['n2'], ['f2'], { name: 'flatten' }));
  nodes.push(makeNode('Gemm', ['f2', 'wg', 'bg'], ['Y'], { name: 'gemm', attrs: { transB: 1 } }));
  return modelOf(opset, nodes, inits, [valueInfo('X', DT.FLOAT, [1, 3, 16, 16])], [valueInfo('Y', DT.FLOAT, [1, 10])]);
}

const convFeeds = (n: number, seed = 1) => Array.from({ length: n }, (_, i) => ({ X: f32([1, 3, 16, 16], seed + i) }));

/** Calibrates, quantizes a copy, and returns both with the decisions. */
async function staticOf(m: ModelProto, feeds: Record<string, Tensor>[], opts: Partial<StaticOptions> & { method?: 'minmax' | 'percentile' } = {}) {
  const bytes = encodeModel(m);
  const ranges = await calibrate(bytes, feeds, host, { method: opts.method ?? 'minmax' });
  const q = new QModel(decodeModel(bytes));
  const form = quantizeStatic(q, { ranges, ...opts });
  return { bytes, ranges, q, form, out: encodeModel(q.proto) };
}

let optCount = 0;
/** The op counts of the graph onnxruntime optimizes the model into (its QDQ fusions included). */
async function optimizedOps(h: InferenceHost, bytes: Uint8Array): Promise<Record<string, number>> {
  const file = path.join(os.tmpdir(), `modelyard-opt-${process.pid}-${optCount++}.onnx`);
  const s = await h.load({ bytes, key: `opt-${Math.random()}` }, { optimizedModelFilePath: file });
  try {
    return opCounts(decodeModel(fs.readFileSync(file)));
  } finally {
    await h.release(s.id);
    fs.rmSync(file, { force: true });
  }
}

const converted = (f: FormResult) => f.decisions.filter((d) => d.action === 'converted').map((d) => d.node);

describe('static QDQ on a generated Conv → Relu → Conv → BN → Gemm', () => {
  for (const opset of [13, 11, 9]) {
    it(`opset ${opset}: calibrates, quantizes, runs close to float, passes onnx.checker, and onnxruntime forms QLinearConv`, async () => {
      const m = convNet(opset, { constantWeight: opset === 9 });
      const { q, form, out, bytes } = await staticOf(m, convFeeds(8), { perChannel: true });
      assert.deepEqual(converted(form), ['conv1', 'conv2', 'gemm']);
      const counts = opCounts(q.proto);
      console.log(opset, counts, form.notes);
      assert.equal(counts.Relu ?? 0, 0);
      assert.equal(counts.Clip ?? 0, 0);
      assert.equal(counts.BatchNormalization ?? 0, 0);
      // On a calibration sample, and on a sample calibration never saw (its output may exceed the calibrated range).
      const seen = (await runBoth(host, bytes, out, convFeeds(1, 3)[0]!)).outputs[0]!.cosine!;
      const unseen = (await runBoth(host, bytes, out, convFeeds(1, 50)[0]!)).outputs[0]!.cosine!;
      console.log(opset, seen, unseen);
      assert.ok(seen >= 0.999 && unseen >= 0.98, `cosine ${seen} (calibration sample), ${unseen} (unseen)`);
      const [check] = onnxCheck([out]);
      assert.ok(check!.ok, check!.error ?? '');
      const opt = await optimizedOps(host, out);
      console.log(opset, opt);
      assert.ok((opt.QLinearConv ?? 0) >= 2, JSON.stringify(opt));
    });
  }
});
