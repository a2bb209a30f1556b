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
import { AttributeProto_AttributeType as AT, AttributeProtoSchema, ModelProtoSchema, TensorProto_DataType as DT, ValueInfoProtoSchema, type ModelProto, type NodeProto, type TensorProto } from '../../src/core/onnx/gen/onnx_pb';
import { decodeModel, encodeModel } from '../../src/core/onnx/model';
import { Histogram, calibrate } from '../../src/core/quantize/calibrate';
import { makeNode, makeTensor, QModel } from '../../src/core/quantize/graph';
import { sensitivity } from '../../src/core/quantize/sensitivity';
import { calibrationTargets, ensureNodeNames, quantizeStatic } from '../../src/core/quantize/static';
import type { FormResult, Ranges, StaticOptions } from '../../src/core/quantize/types';
import { makeInput } from '../../src/core/inference/inputs';
import { writeSamples } from '../../scripts/workspace.mjs';
import { fixture } from '../support/fixtures';
import { pseudoRandom, testHost } from '../support/inference';
import { valueInfo } from '../support/onnx-models';
import { onnxCheck, opCounts, runBoth } from '../support/quantize';

const host = testHost();
// Release calls still in the host's queue (runBoth does not wait for them) finish before the worker stops.
after(async () => {
  await host.availableProviders().catch(() => {});
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
      // Flatten between the BN and the Gemm is wrapped too (onnxruntime drops its Q/DQ: it runs on uint8).
      assert.deepEqual(converted(form), ['conv1', 'conv2', 'flatten', 'gemm']);
      const counts = opCounts(q.proto);
      assert.equal(counts.Relu ?? 0, 0);
      assert.equal(counts.Clip ?? 0, 0);
      assert.equal(counts.BatchNormalization ?? 0, 0);
      // On a calibration sample, and on a sample calibration never saw (its output may exceed the calibrated range).
      const seen = (await runBoth(host, bytes, out, convFeeds(1, 3)[0]!)).outputs[0]!.cosine!;
      const unseen = (await runBoth(host, bytes, out, convFeeds(1, 50)[0]!)).outputs[0]!.cosine!;
      if (opset === 9) assert.ok(form.notes.some((n) => n.includes('opset upgraded from 9 to 10')), form.notes.join('\n'));
      if (opset < 13) assert.ok(form.notes.some((n) => n.includes('com.microsoft')));
      assert.ok(q.proto.opsetImport.some((o) => o.domain === 'com.microsoft') === opset < 13);
      assert.ok(seen >= 0.999 && unseen >= 0.98, `cosine ${seen} (calibration sample), ${unseen} (unseen)`);
      const [check] = onnxCheck([out]);
      assert.ok(check!.ok, check!.error ?? '');
      const opt = await optimizedOps(host, out);
      // Both Convs and the Gemm folded: no float Conv or Gemm left, and (Relu absorbed) nothing between them.
      assert.equal(opt.QLinearConv, 2, JSON.stringify(opt));
      assert.equal(opt.QGemm, 1, JSON.stringify(opt));
      assert.equal(opt.Conv ?? 0, 0);
      assert.equal(counts.QuantizeLinear, 5); // X, r1, n2, f2, Y
      assert.equal(counts.DequantizeLinear, 5 + 3 + 3); // activations, weights, biases (conv2 gets the folded BN's)
    });
  }
});

/** X[4,32] → MatMul(W1 32×16) → Relu → h; h → MatMul(W2 16×8) → Y; h × hᵀ (two activations) → S. */
function matmulNet(): ModelProto {
  return modelOf(
    13,
    [
      makeNode('MatMul', ['X', 'w1'], ['m1'], { name: 'mm1' }),
      makeNode('Relu', ['m1'], ['h'], { name: 'relu' }),
      makeNode('MatMul', ['h', 'w2'], ['Y'], { name: 'mm2' }),
      makeNode('Transpose', ['h'], ['ht'], { name: 'transpose' }),
      makeNode('MatMul', ['h', 'ht'], ['S'], { name: 'scores' }),
    ],
    [weight('w1', [32, 16], 21, 0.3), weight('w2', [16, 8], 22, 0.3)],
    [valueInfo('X', DT.FLOAT, [4, 32])],
    [valueInfo('Y', DT.FLOAT, [4, 8]), valueInfo('S', DT.FLOAT, [4, 4])],
  );
}
const mmFeeds = (n: number, seed = 1) => Array.from({ length: n }, (_, i) => ({ X: f32([4, 32], seed + i) }));

describe('static QDQ on MatMul', () => {
  for (const perChannel of [false, true]) {
    it(`initializer weights ${perChannel ? 'per-channel (axis 1, one scale per output column)' : 'per-tensor'}, and a MatMul of two activations; onnxruntime forms QLinearMatMul`, async () => {
      const { q, form, out, bytes } = await staticOf(matmulNet(), mmFeeds(6), { perChannel });
      assert.deepEqual(converted(form), ['mm1', 'mm2', 'transpose', 'scores']);
      const dqW1 = q.graph.node.find((n) => n.opType === 'DequantizeLinear' && n.input[0]!.startsWith('w1'))!;
      const scale = q.scopes()[0]!.initializers.get(dqW1.input[1]!)!;
      assert.deepEqual(scale.dims.map(Number), perChannel ? [16] : []);
      assert.equal(dqW1.attribute.find((a) => a.name === 'axis')?.i, perChannel ? 1n : undefined);
      assert.equal(q.graph.initializer.find((t) => t.name === 'w1'), undefined, 'the float weight was pruned');
      const cmp = await runBoth(host, bytes, out, mmFeeds(1, 3)[0]!);
      for (const o of cmp.outputs) assert.ok(o.cosine! >= 0.999, `${o.name}: cosine ${o.cosine}`);
      assert.ok(onnxCheck([out])[0]!.ok);
      const opt = await optimizedOps(host, out);
      assert.equal(opt.QLinearMatMul, 3, JSON.stringify(opt));
      assert.equal(opt.MatMul ?? 0, 0);
    });
  }
});

/**
 * A MobileNetV3 block as PaddleOCR exports it, on X [1, 8, 12, 12]: Conv → BN → hardswish (Add 3, Clip 0..6, Mul,
 * Div 6) → squeeze-excite (GlobalAveragePool → Conv → Relu → Conv → HardSigmoid → Mul) → Conv → Mul by a per-channel
 * constant → Add a scalar (PP-OCRv4's learnable affine) → Add the block's input (residual) → Conv → MaxPool (opset 12
 * and later) → Y.
 */
function seBlock(opset: number): ModelProto {
  const c = (name: string, dims: number[], v: number[]) => makeTensor(name, 'float32', dims, Float32Array.from(v));
  const inits = [
    weight('w1', [8, 8, 3, 3], 61, 0.2),
    makeTensor('bn_scale', 'float32', [8], pseudoRandom(8, 62).map((v) => 1 + 0.3 * v)),
    weight('bn_bias', [8], 63, 0.2),
    weight('bn_mean', [8], 64, 0.1),
    makeTensor('bn_var', 'float32', [8], pseudoRandom(8, 65).map((v) => 1 + 0.3 * v)),
    c('three', [], [3]),
    c('six', [], [6]),
    c('zero', [], [0]),
    weight('se1_w', [4, 8, 1, 1], 66, 0.4),
    weight('se1_b', [4], 67, 0.1),
    weight('se2_w', [8, 4, 1, 1], 68, 0.4),
    weight('se2_b', [8], 69, 0.1),
    weight('w3', [8, 8, 1, 1], 70, 0.3),
    makeTensor('aff_w', 'float32', [1, 8, 1, 1], pseudoRandom(8, 71).map((v) => 1 + 0.5 * v)),
    c('aff_b', [1], [0.05]),
    weight('w4', [8, 8, 3, 3], 72, 0.2),
  ];
  const clip =
    opset >= 11
      ? makeNode('Clip', ['a3', 'zero', 'six'], ['cl'], { name: 'clip' })
      : makeNode('Clip', ['a3'], ['cl'], { name: 'clip', attrs: { min: { float: 0 }, max: { float: 6 } } });
  const nodes = [
    makeNode('Conv', ['X', 'w1'], ['c1'], { name: 'conv1', attrs: { pads: [1, 1, 1, 1] } }),
    makeNode('BatchNormalization', ['c1', 'bn_scale', 'bn_bias', 'bn_mean', 'bn_var'], ['b1'], { name: 'bn1' }),
    makeNode('Add', ['b1', 'three'], ['a3'], { name: 'hs_add' }),
    clip,
    makeNode('Mul', ['b1', 'cl'], ['hm'], { name: 'hs_mul' }),
    makeNode('Div', ['hm', 'six'], ['hs'], { name: 'hs_div' }),
    makeNode('GlobalAveragePool', ['hs'], ['gap'], { name: 'gap' }),
    makeNode('Conv', ['gap', 'se1_w', 'se1_b'], ['s1'], { name: 'se1' }),
    makeNode('Relu', ['s1'], ['s1r'], { name: 'se_relu' }),
    makeNode('Conv', ['s1r', 'se2_w', 'se2_b'], ['s2'], { name: 'se2' }),
    makeNode('HardSigmoid', ['s2'], ['sig'], { name: 'hsig', attrs: { alpha: { float: 0.2 }, beta: { float: 0.5 } } }),
    makeNode('Mul', ['hs', 'sig'], ['se'], { name: 'se_mul' }),
    makeNode('Conv', ['se', 'w3'], ['c3'], { name: 'conv3' }),
    makeNode('Mul', ['aff_w', 'c3'], ['c3m'], { name: 'aff_mul' }),
    makeNode('Add', ['c3m', 'aff_b'], ['c3a'], { name: 'aff_add' }),
    makeNode('Add', ['c3a', 'X'], ['res'], { name: 'residual' }),
    makeNode('Conv', ['res', 'w4'], ['c4'], { name: 'conv4', attrs: { pads: [1, 1, 1, 1] } }),
  ];
  if (opset >= 12) nodes.push(makeNode('MaxPool', ['c4'], ['Y'], { name: 'pool', attrs: { kernel_shape: [2, 2], strides: [2, 2] } }));
  else nodes.at(-1)!.output[0] = 'Y';
  const side = opset >= 12 ? 6 : 12;
  return modelOf(opset, nodes, inits, [valueInfo('X', DT.FLOAT, [1, 8, 12, 12])], [valueInfo('Y', DT.FLOAT, [1, 8, side, side])]);
}
const seFeeds = (n: number, seed = 1) => Array.from({ length: n }, (_, i) => ({ X: f32([1, 8, 12, 12], seed + i, 2) }));

describe('static QDQ beyond Conv: the ops onnxruntime runs in 8 bits stay quantized between the Convs', () => {
  for (const opset of [13, 10]) {
    it(`opset ${opset}: hardswish, squeeze-excite, the affine and the residual become QLinearAdd/Mul/GlobalAveragePool; HardSigmoid stays float`, async () => {
      const { q, form, out, bytes } = await staticOf(seBlock(opset), seFeeds(6), { perChannel: true });
      const by = Object.fromEntries(form.decisions.map((d) => [d.node, d]));
      for (const n of ['conv1', 'hs_add', 'hs_mul', 'gap', 'se1', 'se2', 'se_mul', 'conv3', 'residual', 'conv4']) assert.ok(by[n]?.action === 'converted', `${n}: ${JSON.stringify(by[n])}`);
      assert.match(by.hs_add!.form!, /Clip fused/);
      assert.match(by.hs_mul!.form!, /Div by a constant taken into the scale/);
      assert.match(by.conv3!.form!, /Mul, Add by constants folded/);
      // The last op (its output is the model's) stays float: 8 bits there only add error.
      if (opset >= 12) assert.match(by.pool!.reason, /no quantized node reads its output/);
      const counts = opCounts(q.proto);
      // Folded or absorbed: BN, the Clip, the Div, the affine Mul and Add, the SE Relu.
      for (const op of ['BatchNormalization', 'Clip', 'Div', 'Relu']) assert.equal(counts[op] ?? 0, 0, op);
      assert.equal(counts.Mul, 2); // hs_mul, se_mul
      assert.equal(counts.Add, 2); // hs_add, residual
      const opt = await optimizedOps(host, out);
      assert.equal(opt.QLinearConv, 5, JSON.stringify(opt));
      assert.equal(opt.QLinearAdd, 2, JSON.stringify(opt));
      assert.equal(opt.QLinearMul, 2, JSON.stringify(opt));
      assert.equal(opt.QLinearGlobalAveragePool, 1, JSON.stringify(opt));
      for (const op of ['Conv', 'Add', 'Mul', 'GlobalAveragePool', 'Div', 'Clip']) assert.equal(opt[op] ?? 0, 0, `${op}: ${JSON.stringify(opt)}`);
      // What is left in float: HardSigmoid, with its DQ and Q; the model's input Q and output DQ.
      assert.equal(opt.HardSigmoid, 1);
      assert.equal(opt.QuantizeLinear, 2, JSON.stringify(opt));
      assert.equal(opt.DequantizeLinear, 2, JSON.stringify(opt));
      for (const seed of [3, 50]) {
        const cos = (await runBoth(host, bytes, out, seFeeds(1, seed)[0]!)).outputs[0]!.cosine!;
        assert.ok(cos >= 0.99, `seed ${seed}: cosine ${cos}`);
      }
      const [check] = onnxCheck([out]);
      assert.ok(check!.ok, check!.error ?? '');
    });
  }

  it('a Conv kept float gets no Q after it (onnxruntime would quantize it, with a Round that opset 10 lacks): its readers stay float', async () => {
    // X → conv1 → Relu → conv2 (bias) → Relu → conv3 → Y, opset 10, conv2 kept float (as the sensitivity pass keeps
    // layers). A Q after conv2 (for conv3) with a DQ before it (conv1's output) is the pattern onnxruntime's
    // WeightBiasQuantization rewrites: it quantizes conv2 itself and rounds its bias with Round, which exists from
    // opset 11 ("No Op registered for Round with domain_version of 10"), and it would undo the choice to keep conv2.
    const conv = (i: number, x: string, bias: boolean) => makeNode('Conv', [x, `w${i}`, ...(bias ? [`b${i}`] : [])], [`c${i}`], { name: `conv${i}`, attrs: { pads: [1, 1, 1, 1] } });
    const m = modelOf(
      10,
      [conv(1, 'X', true), makeNode('Relu', ['c1'], ['r1'], { name: 'relu1' }), conv(2, 'r1', true), makeNode('Relu', ['c2'], ['r2'], { name: 'relu2' }), conv(3, 'r2', true), makeNode('Relu', ['c3'], ['Y'], { name: 'relu3' })],
      [weight('w1', [8, 8, 3, 3], 81, 0.2), weight('b1', [8], 82, 0.1), weight('w2', [8, 8, 3, 3], 83, 0.2), weight('b2', [8], 84, 0.1), weight('w3', [8, 8, 3, 3], 85, 0.2), weight('b3', [8], 86, 0.1)],
      [valueInfo('X', DT.FLOAT, [1, 8, 12, 12])],
      [valueInfo('Y', DT.FLOAT, [1, 8, 12, 12])],
    );
    const bytes = encodeModel(m);
    const ranges = await calibrate(bytes, seFeeds(3), host, { method: 'minmax' });
    const qm = new QModel(decodeModel(bytes));
    const f = quantizeStatic(qm, { ranges, perChannel: true, keepFloat: new Set(['conv2']) });
    const out = encodeModel(qm.proto);
    const opt = await optimizedOps(host, out); // the session loads
    const by = Object.fromEntries(f.decisions.map((d) => [d.node, d]));
    assert.equal(by.conv1!.action, 'converted');
    assert.equal(by.conv3!.action, 'kept');
    assert.match(by.conv3!.reason, /comes from conv2, which stays float/);
    assert.equal(opt.Round ?? 0, 0);
    assert.equal(opt.QLinearConv, 1, JSON.stringify(opt));
    assert.ok((await runBoth(host, bytes, out, seFeeds(1, 7)[0]!)).outputs[0]!.cosine! >= 0.999);
  });
});

describe('static QDQ: what stays float, and why', () => {
  it('exclusions, keepFloat, missing ranges and subgraph nodes are kept with their reasons; int8 activations still form QLinearConv', async () => {
    const m = convNet(13);
    const bytes = encodeModel(m);
    const ranges = await calibrate(bytes, convFeeds(3), host, { method: 'minmax' });
    const qm = new QModel(decodeModel(bytes));
    // Excluded op types and nodes kept by the sensitivity pass are not calibrated at all.
    assert.deepEqual(calibrationTargets(qm, { exclude: { opTypes: new Set(['Gemm']), nodeNames: new Set() }, keepFloat: new Set(['conv2']) }), ['X', 'r1']);
    const f = quantizeStatic(qm, { ranges, exclude: { opTypes: new Set(['Gemm']), nodeNames: new Set() }, keepFloat: new Set(['conv2']), activationType: 'int8' });
    const by = Object.fromEntries(f.decisions.map((d) => [d.node, d]));
    assert.equal(by.conv1!.action, 'converted');
    assert.match(by.conv2!.reason, /sensitivity/);
    assert.match(by.gemm!.reason, /op type Gemm is on the exclusion list/);
    const counts = opCounts(qm.proto);
    assert.equal(counts.BatchNormalization, 1, 'a kept Conv keeps its BatchNormalization');
    const zp = qm.scopes()[0]!.initializers.get('X_zero_point')!;
    assert.equal(zp.dataType, DT.INT8);
    const out = encodeModel(qm.proto);
    assert.equal((await optimizedOps(host, out)).QLinearConv, 1);
    assert.ok((await runBoth(host, bytes, out, convFeeds(1, 2)[0]!)).outputs[0]!.cosine! >= 0.999);

    const partial: Ranges = new Map(ranges);
    partial.delete('X');
    const q2 = new QModel(decodeModel(bytes));
    const f2 = quantizeStatic(q2, { ranges: partial });
    const conv1 = f2.decisions.find((d) => d.node === 'conv1')!;
    assert.equal(conv1.action, 'kept');
    assert.match(conv1.reason, /no calibrated range for 'X'/);
    assert.deepEqual(converted(f2), ['conv2', 'flatten', 'gemm']);
  });

  it('a MatMul inside an If branch is reported as kept; the main graph is still quantized', () => {
    const branch = (name: string) => ({ name, node: [makeNode('MatMul', ['X', 'w1'], [`${name}_y`], { name: `${name}_mm` })], output: [valueInfo(`${name}_y`, DT.FLOAT, [4, 16])] });
    const m = matmulNet();
    m.graph!.input.push(create(ValueInfoProtoSchema, valueInfo('cond', DT.BOOL, [])));
    m.graph!.node.push(makeNode('If', ['cond'], ['Z'], { name: 'if' }));
    const ifNode = m.graph!.node.at(-1)!;
    for (const b of ['then', 'else']) ifNode.attribute.push(create(AttributeProtoSchema, { name: `${b}_branch`, type: AT.GRAPH, g: branch(b) }));
    const qm = new QModel(m);
    const ranges: Ranges = new Map(['X', 'h', 'ht', 'Y', 'S'].map((k) => [k, { min: -1, max: 1 }]));
    const f = quantizeStatic(qm, { ranges });
    const sub = f.decisions.filter((d) => d.graph !== 'main');
    assert.deepEqual(sub.map((d) => [d.node, d.action, d.graph]), [['then_mm', 'kept', 'if/then_branch'], ['else_mm', 'kept', 'if/else_branch']]);
    assert.match(sub[0]!.reason, /subgraph/);
    assert.deepEqual(converted(f), ['mm1', 'mm2', 'transpose', 'scores']);
    // The branches still read the float weight: it was not pruned.
    assert.ok(qm.graph.initializer.some((t) => t.name === 'w1'));
  });

  it('ensureNodeNames names unnamed nodes deterministically', () => {
    const a = new QModel(matmulNet());
    for (const n of a.graph.node) n.name = '';
    const b = new QModel(decodeModel(encodeModel(a.proto)));
    assert.equal(ensureNodeNames(a), 5);
    ensureNodeNames(b);
    assert.deepEqual(a.graph.node.map((n) => n.name), b.graph.node.map((n) => n.name));
    assert.equal(a.graph.node[0]!.name, 'MatMul_0');
    assert.equal(ensureNodeNames(a), 0);
  });
});

describe('calibration', () => {
  it('percentile: the histogram keeps the central share of values, as calibrate.py computes it', () => {
    const h = new Histogram();
    const x = Float32Array.from({ length: 10000 }, (_, i) => i);
    h.add(x.subarray(0, 5000));
    h.add(x.subarray(5000)); // widens the histogram
    const r = h.range(99)!;
    assert.ok(Math.abs(r.min - 50) < 10 && Math.abs(r.max - 9950) < 10, JSON.stringify(r));
    assert.deepEqual(h.range(100), { min: 0, max: 9999 });
  });

  it('percentile ranges lie within the MinMax ones', async () => {
    const bytes = encodeModel(convNet(13));
    const mm = await calibrate(bytes, convFeeds(3), host, { method: 'minmax' });
    const pc = await calibrate(bytes, convFeeds(3), host, { method: 'percentile', percentile: 99.9 });
    assert.deepEqual([...pc.keys()], [...mm.keys()]);
    for (const [k, r] of pc) assert.ok(r.min >= mm.get(k)!.min - 1e-6 && r.max <= mm.get(k)!.max + 1e-6 && r.max - r.min < mm.get(k)!.max - mm.get(k)!.min, k);
  });

  it('a calibration sample of the wrong shape is named in a UserError with the way out, and the session is released', async () => {
    const bytes = encodeModel(convNet(13));
    const feeds = [...convFeeds(1), { X: f32([1, 3, 32, 32], 5) }];
    await assert.rejects(calibrate(bytes, feeds, host, { method: 'minmax', labels: ['a.npy', 'b.npy'] }), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /^calibration input 'X' has shape \[1, ?3, ?32, ?32\] but the model expects \[1, ?3, ?16, ?16\]/);
      assert.match(e.message, /calibration sample b\.npy/);
      assert.match(e.hint ?? '', /X: float32 \[1,3,16,16\]/);
      return true;
    });
    const cancelled = new AbortController();
    cancelled.abort();
    await assert.rejects(calibrate(bytes, convFeeds(1), host, { method: 'minmax', signal: cancelled.signal }), /cancelled/);
  });
});

describe('sensitivity', () => {
  it('finds the layer before a Log (a mel front end in miniature) and keeps only it in float', async () => {
    // X → mm1 → h; h² → mm2 (columns from 1e-3 to 1e3: a power spectrum) → p; log(p + 1e-6) → mm3 → Y. Quantizing
    // p per tensor zeroes its small columns, and the Log turns that into large errors.
    const w2 = new Float32Array(64 * 32);
    const r = pseudoRandom(64 * 32, 31);
    for (let i = 0; i < 64; i++) for (let j = 0; j < 32; j++) w2[i * 32 + j] = (Math.abs(r[i * 32 + j]!) + 0.1) * 10 ** (-4 + (6 * j) / 31);
    const m = modelOf(
      13,
      [
        makeNode('MatMul', ['X', 'w1'], ['h'], { name: 'mm1' }),
        makeNode('Mul', ['h', 'h'], ['sq'], { name: 'square' }),
        makeNode('MatMul', ['sq', 'w2'], ['p'], { name: 'mm2' }),
        makeNode('Add', ['p', 'eps'], ['pe'], { name: 'add_eps' }),
        makeNode('Log', ['pe'], ['lg'], { name: 'log' }),
        makeNode('MatMul', ['lg', 'w3'], ['Y'], { name: 'mm3' }),
      ],
      [weight('w1', [64, 64], 30, 0.3), makeTensor('w2', 'float32', [64, 32], w2), makeTensor('eps', 'float32', [], new Float32Array([1e-6])), weight('w3', [32, 16], 32, 0.3)],
      [valueInfo('X', DT.FLOAT, [1, 64])],
      [valueInfo('Y', DT.FLOAT, [1, 16])],
    );
    const bytes = encodeModel(m);
    const feeds = Array.from({ length: 4 }, (_, i) => ({ X: f32([1, 64], 40 + i) }));
    const ranges = await calibrate(bytes, feeds, host, { method: 'minmax' });
    let builds = 0;
    const build = (keepFloat: ReadonlySet<string>) => {
      builds++;
      const q = new QModel(decodeModel(bytes));
      quantizeStatic(q, { ranges, keepFloat });
      return encodeModel(q.proto);
    };
    const fractions: number[] = [];
    const s = await sensitivity(bytes, build, ['mm1', 'mm2', 'mm3'], feeds, host, { minCosine: 0.99, progress: (f) => fractions.push(f) });
    assert.equal(s.ranking[0]!.node, 'mm2', JSON.stringify(s.ranking));
    assert.deepEqual(s.keepFloat, ['mm2']);
    assert.ok(s.cosine >= 0.99, String(s.cosine));
    assert.ok(builds <= 3 + 3, `${builds} builds`); // full, one per candidate, the search
    assert.equal(fractions.at(-1), 1);
    // The fully quantized model did fail the gate.
    const full = await runBoth(host, bytes, build(new Set()), feeds[0]!);
    assert.ok(full.outputs[0]!.cosine! < 0.99, String(full.outputs[0]!.cosine));
  });
});

describe('static QDQ on the OCR fixtures', () => {
  /** Calibrates on `cal`, quantizes per channel, and checks fidelity, onnx.checker and the QLinearConv fusion. */
  async function fixtureRun(file: string, cal: Record<string, Tensor>[], probe: Record<string, Tensor>, minCosine: number) {
    const bytes = new Uint8Array(fs.readFileSync(fixture(file)));
    const t0 = performance.now();
    const ranges = await calibrate(bytes, cal, host, { method: 'minmax' });
    const calMs = performance.now() - t0;
    const q = new QModel(decodeModel(bytes));
    ensureNodeNames(q);
    const form = quantizeStatic(q, { ranges, perChannel: true });
    const out = encodeModel(q.proto);
    const cmp = await runBoth(host, bytes, out, probe);
    const opt = await optimizedOps(host, out);
    const convs = form.decisions.filter((d) => d.opType === 'Conv');
    console.log(`${file}: cosine ${cmp.outputs.map((o) => o.cosine?.toFixed(5)).join(', ')}; calibration ${calMs.toFixed(0)} ms on ${cal.length}; size ${(out.length / bytes.length).toFixed(3)}; QLinearConv ${opt.QLinearConv} of ${convs.length} Conv; ${form.notes.join(' | ')}`);
    for (const o of cmp.outputs) assert.ok(o.cosine! >= minCosine, `${o.name}: cosine ${o.cosine}`);
    assert.ok(convs.every((d) => d.action === 'converted'), JSON.stringify(convs.filter((d) => d.action === 'kept')));
    assert.equal(opt.QLinearConv, convs.length, JSON.stringify(opt));
    assert.equal(opt.Conv ?? 0, 0);
    const [check] = onnxCheck([out]);
    assert.ok(check!.ok, check!.error ?? '');
    return { q, form, out, bytes, cmp, opt, ranges };
  }

  it('cls (opset 9, weights in Constant nodes): raised to opset 10, every Conv folded into QLinearConv, output close to float', async () => {
    const cal = Array.from({ length: 4 }, (_, i) => ({ x: f32([1, 3, 48, 192], 100 + i) }));
    const { form, opt, bytes, ranges } = await fixtureRun('ch_ppocr_mobile_v2.0_cls_infer.onnx', cal, { x: f32([1, 3, 48, 192], 100) }, 0.99);
    assert.ok(form.notes.some((n) => n.includes('opset upgraded from 9 to 10')));
    // The hardswish and squeeze-excite ops between the Convs run in 8 bits; the Divs by 6 went into DQ scales. Left
    // float: the HardSigmoids (no 8-bit kernel) and the last block's ops, which lead to an opset-10 MaxPool (8-bit
    // MaxPool needs opset 12), so their output has no quantized reader.
    assert.deepEqual([opt.QLinearAdd, opt.QLinearMul, opt.QLinearGlobalAveragePool, opt.HardSigmoid], [24, 26, 9, 9], JSON.stringify(opt));
    assert.ok((opt.Div ?? 0) <= 1 && (opt.Add ?? 0) <= 2 && (opt.Mul ?? 0) <= 1, JSON.stringify(opt));
    // Every Conv but one float, as the sensitivity pass tries them: each model loads (a float Conv with a Q after it
    // would get onnxruntime's Round, which opset 10 lacks).
    const named = new QModel(decodeModel(bytes));
    ensureNodeNames(named);
    const convs = named.graph.node.filter((n) => n.opType === 'Conv').map((n) => n.name);
    for (const one of convs.filter((_, i) => i % 6 === 0)) {
      const q = new QModel(decodeModel(bytes));
      ensureNodeNames(q);
      quantizeStatic(q, { ranges, perChannel: true, keepFloat: new Set(convs.filter((c) => c !== one)) });
      // (The one Conv stays float too when it reads a float Conv's output directly.)
      const o = await optimizedOps(host, encodeModel(q.proto));
      assert.ok((o.QLinearConv ?? 0) <= 1 && !o.Round, `${one}: ${JSON.stringify(o)}`);
    }
  });

  it('det (opset 11) at 320×320 on the text-line image: every Conv folded, the probability map close to float', async () => {
    // Random noise is no probe for det: its probability map is ~0 everywhere, and a cosine of near-zeros says nothing.
    const x = await textLine([1, 3, 320, 320], { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
    const { opt } = await fixtureRun('ch_PP-OCRv4_det_infer.onnx', [{ x }, { x: flipW(x) }], { x }, 0.99);
    // Each Conv's scale and shift folded into it; the hardswish, squeeze-excite and neck Adds and Muls in 8 bits;
    // the Divs in DQ scales; the Resizes run on uint8. Left float: HardSigmoid, and the head after its ConvTranspose.
    assert.deepEqual([opt.QLinearAdd, opt.QLinearMul, opt.QLinearGlobalAveragePool, opt.QLinearConcat], [59, 34, 10, 1], JSON.stringify(opt));
    for (const op of ['Div', 'Clip', 'Mul', 'GlobalAveragePool']) assert.equal(opt[op] ?? 0, 0, `${op}: ${JSON.stringify(opt)}`);
  });

  it('rec (opset 9) per-channel: close to float, and with the layers the sensitivity pass keeps float it reads the text-line PNG as float does', async () => {
    const x = await textLine([1, 3, 48, 192], { mean: [0.5], std: [0.5] });
    const { cmp } = await fixtureRun('ch_PP-OCRv4_rec_infer.onnx', [{ x }, { x: flipW(x) }], { x }, 0.96);
    const name = Object.keys(cmp.a)[0]!;
    const a = ctcDecode(cmp.a[name]!);
    console.log(`rec CTC: float [${a.join(' ')}], int8 [${ctcDecode(cmp.b[name]!).join(' ')}]`);
    assert.ok(a.length > 0);
    // Fully quantized, the synthetic strokes sit near CTC decision boundaries (the sequence differs). The sensitivity
    // pass, as the orchestrator runs it (the layers with weights as candidates, at most half of them kept), finds
    // the layers to keep float (about 16 s here).
    const bytes = new Uint8Array(fs.readFileSync(fixture('ch_PP-OCRv4_rec_infer.onnx')));
    const ranges = await calibrate(bytes, [{ x }, { x: flipW(x) }], host, { method: 'minmax' });
    const make = (keep: ReadonlySet<string>) => {
      const q = new QModel(decodeModel(bytes));
      return { q, form: quantizeStatic(q, { ranges, perChannel: true, keepFloat: keep }) };
    };
    const layers = make(new Set()).form.decisions.filter((d) => d.action === 'converted' && ['Conv', 'MatMul', 'Gemm'].includes(d.opType)).map((d) => d.node);
    const s = await sensitivity(bytes, (k) => encodeModel(make(k).q.proto), layers, [{ x }], host, { minCosine: 0.995, maxKeep: Math.ceil(layers.length / 2) });
    assert.ok(s.keepFloat.length > 0 && s.keepFloat.length <= Math.ceil(layers.length / 2), JSON.stringify(s.keepFloat));
    const { q, form } = make(new Set(s.keepFloat));
    assert.equal(form.decisions.filter((d) => d.action === 'kept' && /sensitivity/.test(d.reason)).length, s.keepFloat.length);
    const kept = await runBoth(host, bytes, encodeModel(q.proto), { x });
    assert.ok(kept.outputs[0]!.cosine! >= 0.995, String(kept.outputs[0]!.cosine));
    assert.deepEqual(ctcDecode(kept.b[name]!), a);
  });
});

let samples: string | undefined;
/** samples/text-line.png (scripts/workspace.mjs) as a tensor of `shape`, normalized as the model wants. */
async function textLine(shape: number[], norm: { mean: number[]; std: number[] }): Promise<Tensor> {
  if (!samples) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-samples-'));
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    await writeSamples(dir);
    samples = path.join(dir, 'samples', 'text-line.png');
  }
  const info = { name: 'x', dtype: 'float32' as const, shape: [1, 3, null, null] };
  return (await makeInput(info, shape, { kind: 'image', path: samples, ...norm })).tensor;
}

/** The image mirrored left to right: a second calibration sample with the same statistics. */
function flipW(t: Tensor): Tensor {
  const w = t.shape.at(-1)!;
  const d = t.data as Float32Array;
  return { ...t, data: d.map((_, i) => d[i - (i % w) + w - 1 - (i % w)]!) };
}

/** Greedy CTC: the argmax class of each time step, repeats merged and blanks (class 0) dropped. */
function ctcDecode(t: Tensor): number[] {
  const [, steps, classes] = t.shape as [number, number, number];
  const d = t.data as Float32Array;
  const out: number[] = [];
  let prev = -1;
  for (let s = 0; s < steps; s++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (d[s * classes + c]! > d[s * classes + best]!) best = c;
    if (best !== prev && best !== 0) out.push(best);
    prev = best;
  }
  return out;
}
