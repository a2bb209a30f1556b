// int8 dynamic quantization (src/core/quantize/dynamic.ts): the graphs it writes, the decisions it reports, and
// what onnxruntime-node 1.30 makes of the result (the same outputs within int8 error, the DynamicQuantizeMatMul
// fusion), checked by onnx.checker.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { InferenceHost } from '../../src/core/inference/host';
import type { Tensor } from '../../src/core/inference/tensor';
import { create } from '@bufbuild/protobuf';
import { TensorProto_DataType as DT, ValueInfoProtoSchema } from '../../src/core/onnx/gen/onnx_pb';
import { decodeModel, encodeModel, type ModelProto } from '../../src/core/onnx/model';
import { quantizedOps, quantizeDynamic } from '../../src/core/quantize/dynamic';
import { QModel } from '../../src/core/quantize/graph';
import { type DynamicOptions, type FormResult, type NodeDecision } from '../../src/core/quantize/types';
import { CancelledError } from '../../src/core/errors';
import { fixture } from '../support/fixtures';
import { FIXTURE_FEEDS, testHost } from '../support/inference';
import { matmulChain, model, node, valueInfo } from '../support/onnx-models';
import { named, weight, f32, mlp, matmul3d, gemms, gemmFeeds, constantWeight, ifBranches, ir3, shared } from '../support/linear-models';
import { onnxCheck, opCounts, runBoth } from '../support/quantize';

/** Nodes a form must keep, each for its own reason. */
function keptCases(): ModelProto {
  const half = { name: 'W16', dims: [16n, 8n], dataType: DT.FLOAT16, rawData: new Uint8Array(16 * 8 * 2) };
  return model({
    name: 'kept',
    node: [
      named('conv', node('Conv', ['IMG', 'K'], ['conv_y'])),
      named('mm_f16', node('MatMul', ['X16', 'W16'], ['Y16'])),
      named('mm_3d_weight', node('MatMul', ['X', 'W3D'], ['Y3'])),
      node('DequantizeLinear', ['Wq', 'Ws'], ['Wdq']),
      named('mm_qdq', node('MatMul', ['X', 'Wdq'], ['Yq'])),
      named('mm_excluded', node('MatMul', ['X', 'W'], ['Ye'])),
    ],
    initializer: [
      weight('K', [4, 3, 3, 3], 81),
      half,
      weight('W3D', [2, 16, 8], 82),
      { name: 'Wq', dims: [16n, 8n], dataType: DT.INT8, rawData: new Uint8Array(128) },
      { name: 'Ws', dims: [], dataType: DT.FLOAT, rawData: new Uint8Array(new Float32Array([0.1]).buffer) },
      weight('W', [16, 8], 83),
    ],
    input: [valueInfo('IMG', DT.FLOAT, [1, 3, 8, 8]), valueInfo('X16', DT.FLOAT16, [2, 16]), valueInfo('X', DT.FLOAT, [2, 16])],
    output: [valueInfo('conv_y', DT.FLOAT), valueInfo('Y16', DT.FLOAT16), valueInfo('Y3', DT.FLOAT), valueInfo('Yq', DT.FLOAT), valueInfo('Ye', DT.FLOAT)],
  });
}

// ---------------------------------------------------------------------------------------------------------------

/** Quantizes a copy (the original stays for comparison). */
function quantized(build: () => ModelProto, opts: DynamicOptions = {}): { orig: ModelProto; q: ModelProto; r: FormResult } {
  const qm = new QModel(build());
  const r = quantizeDynamic(qm, opts);
  return { orig: build(), q: qm.proto, r };
}

const decision = (r: FormResult, node: string): NodeDecision => {
  const d = r.decisions.find((x) => x.node === node);
  assert.ok(d, `no decision for ${node}: ${r.decisions.map((x) => x.node).join(', ')}`);
  return d;
};

const initializerNames = (m: ModelProto): string[] => m.graph!.initializer.map((t) => t.name);

let host: InferenceHost;
before(() => {
  host = testHost();
});
after(async () => {
  await host.availableProviders(); // queued behind the releases runBoth does not wait for
  await host.dispose();
});

/**
 * Runs both and checks every output's cosine; returns the comparisons. Measured on the small graphs (random
 * uniform weights): ≥ 0.99995 for every output, per-tensor or per-channel, so 0.9999 is asked.
 */
async function close(orig: ModelProto | Uint8Array, q: ModelProto | Uint8Array, feeds: Record<string, Tensor>, minCosine: number) {
  const r = await runBoth(host, orig, q, feeds);
  for (const o of r.outputs) assert.ok(o.cosine !== null && o.cosine >= minCosine, `output ${o.name}: cosine ${o.cosine} < ${minCosine}`);
  return r.outputs;
}

/** The op counts of onnxruntime's optimized graph for a model (what it really runs). */
async function optimizedOps(m: ModelProto): Promise<Record<string, number>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-dq-'));
  try {
    const file = path.join(dir, 'optimized.onnx');
    const s = await host.load({ bytes: encodeModel(m), key: `opt-${Math.random()}` }, { optimizedModelFilePath: file });
    await host.release(s.id);
    return opCounts(decodeModel(fs.readFileSync(file)));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('quantizeDynamic on small graphs', () => {
  it('MatMul chain: DynamicQuantizeLinear+MatMulInteger per node, float weights gone, outputs within int8 error, fused by onnxruntime', async () => {
    const { orig, q, r } = quantized(() => mlp());
    const ops = opCounts(q);
    assert.deepEqual(
      { dql: ops.DynamicQuantizeLinear, mmi: ops.MatMulInteger, cast: ops.Cast, mul: ops.Mul, matmul: ops.MatMul },
      { dql: 3, mmi: 3, cast: 3, mul: 6, matmul: undefined },
    );
    for (const n of ['mm0', 'mm1', 'mm2']) {
      const d = decision(r, n);
      assert.equal(d.action, 'converted');
      assert.equal(d.graph, 'main');
      assert.match(d.form!, /DynamicQuantizeLinear\+MatMulInteger \(int8 per-tensor/);
    }
    assert.ok(!initializerNames(q).some((n) => /^W\d$/.test(n)), 'float weights pruned');
    const wq = q.graph!.initializer.filter((t) => t.dataType === DT.INT8 && t.dims.length === 2);
    assert.equal(wq.length, 3);
    await close(orig, q, { X: f32([8, 64], 5) }, 0.9999);
    const optimized = await optimizedOps(q);
    assert.equal(optimized.DynamicQuantizeMatMul, 3, `fused: ${JSON.stringify(optimized)}`);
    assert.equal(optimized.MatMulInteger, undefined);
    assert.equal(optimized.DynamicQuantizeLinear, undefined);
    assert.deepEqual(onnxCheck([q]).map((c) => c.error), [null]);
  });

  it('per-channel: one scale and zero point per output column, still fused', async () => {
    const { orig, q, r } = quantized(() => mlp(), { perChannel: true });
    assert.match(decision(r, 'mm1').form!, /per-channel/);
    const scales = q.graph!.initializer.filter((t) => t.dataType === DT.FLOAT && t.dims.length === 1).map((t) => Number(t.dims[0]));
    assert.deepEqual(scales.sort((a, b) => a - b), [32, 96, 96]);
    await close(orig, q, { X: f32([8, 64], 5) }, 0.9999);
    assert.equal((await optimizedOps(q)).DynamicQuantizeMatMul, 3);
    assert.deepEqual(onnxCheck([q]).map((c) => c.error), [null]);
  });

  it('MatMul with 3-D activations [batch, seq, K]', async () => {
    const { orig, q } = quantized(matmul3d);
    assert.equal(opCounts(q).MatMulInteger, 1);
    await close(orig, q, { X: f32([2, 5, 48], 6) }, 0.9999);
    assert.equal((await optimizedOps(q)).DynamicQuantizeMatMul, 1);
    assert.deepEqual(onnxCheck([q]).map((c) => c.error), [null]);
  });

  it('Gemm: transB stored as [K, N], alpha in the scale, beta·C as a fusable bias, computed C scaled, transA by a Transpose', async () => {
    const { orig, q, r } = quantized(gemms);
    const ops = opCounts(q);
    assert.equal(ops.Gemm, undefined);
    assert.equal(ops.MatMulInteger, 4);
    assert.equal(ops.Transpose, 1, 'transA');
    assert.equal(ops.Add, 3, 'C1, C2, C3');
    assert.equal(ops.Mul, 2 * 4 + 1, 'two a node, and beta × C2');
    const w1 = q.graph!.initializer.find((t) => t.name.startsWith('W1_') && t.dataType === DT.INT8 && t.dims.length === 2)!;
    assert.deepEqual(w1.dims.map(Number), [40, 24], 'W1 [N, K] stored as [K, N]');
    const c1 = q.graph!.initializer.find((t) => t.name.startsWith('C1_bias'))!;
    const c1orig = orig.graph!.initializer.find((t) => t.name === 'C1')!;
    assert.equal(new Float32Array(c1.rawData.slice().buffer)[3], 2 * new Float32Array(c1orig.rawData.slice().buffer)[3]!, 'beta folded into C');
    const c3 = q.graph!.initializer.find((t) => t.name.startsWith('C3_bias'))!;
    assert.deepEqual(c3.dims.map(Number), [8], '[1, N] bias reshaped to [N]');
    assert.match(decision(r, 'g1').reason, /transB folded.*alpha 0\.5 folded into the weight scale.*beta 2 applied to C/);
    assert.match(decision(r, 'g2').reason, /transA by a Transpose/);
    const outs = await close(orig, q, gemmFeeds(), 0.9999);
    assert.equal(outs.length, 4);
    // g1, g3 and g4 read the same X: onnxruntime's common-subexpression elimination merges their three
    // DynamicQuantizeLinear nodes into one, so they fuse into MatMulIntegerToFloat (the same integer kernel, X
    // quantized once); g2 reads its own Transpose and fuses all the way.
    const optimized = await optimizedOps(q);
    assert.deepEqual(
      { dqmm: optimized.DynamicQuantizeMatMul, mmitf: optimized.MatMulIntegerToFloat, dql: optimized.DynamicQuantizeLinear, mmi: optimized.MatMulInteger, add: optimized.Add },
      { dqmm: 1, mmitf: 3, dql: 1, mmi: undefined, add: 1 },
      'constant biases fused; the computed C stays an Add',
    );
    assert.deepEqual(onnxCheck([q]).map((c) => c.error), [null]);
  });

  it('a weight in a Constant node: quantized into an initializer, the Constant node dropped', async () => {
    const { orig, q, r } = quantized(constantWeight);
    assert.equal(decision(r, 'mm').action, 'converted');
    assert.equal(opCounts(q).Constant, undefined);
    await close(orig, q, { X: f32([3, 32], 7) }, 0.9999);
    assert.deepEqual(onnxCheck([q]).map((c) => c.error), [null]);
  });

  it('MatMul inside If branches: an outer-scope weight and a branch Constant, both converted and fused', async () => {
    const { orig, q, r } = quantized(ifBranches);
    assert.equal(decision(r, 'mm_then').graph, 'if/then_branch');
    assert.equal(decision(r, 'mm_then').action, 'converted');
    assert.equal(decision(r, 'mm_else').graph, 'if/else_branch');
    assert.equal(decision(r, 'mm_else').action, 'converted');
    assert.equal(opCounts(q).MatMulInteger, 2);
    assert.ok(!initializerNames(q).includes('W_outer'));
    for (const cond of [true, false]) await close(orig, q, { X: f32([3, 32], 8), cond: { dtype: 'bool', shape: [], data: new Uint8Array([cond ? 1 : 0]) } }, 0.9999);
    assert.equal((await optimizedOps(q)).DynamicQuantizeMatMul, 2);
    assert.deepEqual(onnxCheck([q]).map((c) => c.error), [null]);
  });

  it('IR 3 (initializers are graph inputs) at opset 9: the contrib DynamicQuantizeMatMul, new initializers declared as inputs', async () => {
    const { orig, q, r } = quantized(ir3);
    const ops = opCounts(q);
    assert.deepEqual(ops, { DynamicQuantizeMatMul: 2 });
    const g = q.graph!.node.find((n) => n.name.startsWith('g_'))!;
    assert.equal(g.domain, 'com.microsoft');
    assert.equal(g.input.length, 5, 'the constant bias rides in the bias input');
    assert.ok(q.opsetImport.some((o) => o.domain === 'com.microsoft'));
    assert.match(r.notes.join('\n'), /opset 9 is below 11.*com\.microsoft\.DynamicQuantizeMatMul/);
    const inputs = new Set(q.graph!.input.map((i) => i.name));
    for (const t of q.graph!.initializer) assert.ok(inputs.has(t.name), `${t.name} is a graph input`);
    assert.ok(!inputs.has('W') && !inputs.has('W2'), 'the float weights are gone, inputs too');
    await close(orig, q, { X: f32([2, 32], 9) }, 0.9999);
    assert.deepEqual(onnxCheck([q]).map((c) => c.error), [null]);
  });

  it('opset 9 MatMul chain and Gemms: the contrib op (constant [N] biases in its bias input), and the same outputs', async () => {
    const { orig, q } = quantized(() => mlp(9));
    assert.equal(opCounts(q).DynamicQuantizeMatMul, 3);
    assert.equal(opCounts(q).DynamicQuantizeLinear, undefined);
    await close(orig, q, { X: f32([8, 64], 5) }, 0.9999);
    const g = quantized(() => gemms(9));
    assert.deepEqual(opCounts(g.q), { DynamicQuantizeMatMul: 3, Transpose: 1, Mul: 1, Add: 1 }, 'only the computed C2 needs an Add');
    await close(g.orig, g.q, gemmFeeds(), 0.9999);
    assert.deepEqual(onnxCheck([q, g.q]).map((c) => c.error), [null, null]);
  });

  it('a shared weight is quantized once; a weight also read by a float node stays; activation × activation is kept', async () => {
    const { orig, q, r } = quantized(shared);
    assert.equal(decision(r, 'mm_act').action, 'kept');
    assert.equal(decision(r, 'mm_act').reason, 'weight is computed (activation × activation)');
    const mmi = q.graph!.node.filter((n) => n.opType === 'MatMulInteger');
    assert.equal(mmi.length, 3);
    assert.equal(mmi[0]!.input[1], mmi[1]!.input[1], 'W quantized once, read by both');
    assert.equal(q.graph!.initializer.filter((t) => t.dataType === DT.INT8 && t.dims.length === 2).length, 2);
    const names = initializerNames(q);
    assert.ok(!names.includes('W'));
    assert.ok(names.includes('W3'), 'W3 stays for the Add');
    assert.equal(q.graph!.node.filter((n) => n.opType === 'DynamicQuantizeLinear').length, 3, 'one DynamicQuantizeLinear a node');
    await close(orig, q, { X: f32([32, 32], 10), Z: f32([32, 32], 11) }, 0.9999);
    assert.equal((await optimizedOps(q)).DynamicQuantizeMatMul, 3);
    assert.deepEqual(onnxCheck([q]).map((c) => c.error), [null]);
  });

  it('keeps Conv (and says why), float16, non-2-D and DequantizeLinear weights, and excluded nodes', () => {
    const { q, r } = quantized(keptCases, { exclude: { opTypes: new Set(), nodeNames: new Set(['mm_excluded']) } });
    assert.equal(r.decisions.filter((d) => d.action === 'converted').length, 0);
    assert.match(decision(r, 'conv').reason, /ConvInteger runs 1\.2–1\.4× slower .* int8-static quantizes Conv/);
    assert.equal(decision(r, 'mm_f16').reason, 'weight is float16');
    assert.equal(decision(r, 'mm_3d_weight').reason, 'weight is not 2-D (shape [2, 16, 8])');
    assert.equal(decision(r, 'mm_qdq').reason, 'already quantized: the weight comes from DequantizeLinear');
    assert.equal(decision(r, 'mm_excluded').reason, 'excluded: node mm_excluded is on the exclusion list');
    assert.match(r.notes.join('\n'), /1 Conv node\(s\) kept in float/);
    assert.match(r.notes.join('\n'), /already quantized in part \(1 DequantizeLinear\)/);
    assert.equal(q.graph!.node.length, 6, 'nothing rewritten');
    const byType = quantized(keptCases, { exclude: { opTypes: new Set(['Conv', 'MatMul']), nodeNames: new Set() } }).r;
    assert.equal(decision(byType, 'conv').reason, 'excluded: op type Conv is on the exclusion list');
    assert.equal(decision(byType, 'mm_f16').reason, 'excluded: op type MatMul is on the exclusion list');
  });

  it('a graph input with a default value (IR ≥ 4) is not a constant', () => {
    const { r } = quantized(() => {
      const m = mlp();
      m.graph!.input.push(create(ValueInfoProtoSchema, valueInfo('W1', DT.FLOAT, [96, 96])));
      return m;
    });
    assert.match(decision(r, 'mm1').reason, /graph input with a default value/);
    assert.equal(decision(r, 'mm0').action, 'converted');
  });

  it('quantizedOps counts quantization ops in every graph; a quantized model is not quantized again', () => {
    assert.deepEqual(quantizedOps(new QModel(mlp())), {});
    const { q } = quantized(ifBranches);
    assert.deepEqual(quantizedOps(new QModel(q)), { DynamicQuantizeLinear: 2, MatMulInteger: 2 });
    const again = new QModel(q);
    const r = quantizeDynamic(again);
    assert.equal(r.decisions.length, 0);
    assert.match(r.notes.join('\n'), /already quantized in part/);
  });

  it('reports progress to 1 and stops when cancelled', () => {
    const seen: number[] = [];
    quantizeDynamic(new QModel(mlp()), { progress: (f) => seen.push(f) });
    assert.equal(seen.at(-1), 1);
    assert.ok(seen.every((f, i) => i === 0 || f >= seen[i - 1]!));
    const ac = new AbortController();
    ac.abort();
    assert.throws(() => quantizeDynamic(new QModel(mlp()), { signal: ac.signal }), CancelledError);
  });

  it('a weight-dominated model shrinks to ≤ 0.27× (matmulChain(4, 512))', async () => {
    const before = encodeModel(matmulChain(4, 512)).length;
    const qm = new QModel(matmulChain(4, 512));
    quantizeDynamic(qm);
    const after = encodeModel(qm.proto);
    const ratio = after.length / before;
    assert.ok(ratio <= 0.27, `size ratio ${ratio.toFixed(3)}`);
    await close(matmulChain(4, 512), after, { X: f32([2, 512], 12) }, 0.9999);
  });
});

describe('quantizeDynamic on fixture models', () => {
  it('hello_deepa (Gemm MLP, opset 13): three Gemms converted and fused, the score within 2e-3', async () => {
    const bytes = fs.readFileSync(fixture('hello_deepa.onnx'));
    const qm = new QModel(decodeModel(bytes));
    const r = quantizeDynamic(qm);
    assert.equal(r.decisions.filter((d) => d.action === 'converted' && d.opType === 'Gemm').length, 3);
    const out = encodeModel(qm.proto);
    assert.ok(out.length / bytes.length < 0.3, `size ratio ${out.length / bytes.length}`);
    const cmp = await runBoth(host, bytes, out, FIXTURE_FEEDS['hello_deepa.onnx']!());
    // One sigmoid score: cosine says nothing, the absolute error does (measured 4.2e-4).
    assert.ok(cmp.outputs[0]!.maxAbsError <= 2e-3, `max abs error ${cmp.outputs[0]!.maxAbsError}`);
    assert.equal((await optimizedOps(qm.proto)).DynamicQuantizeMatMul, 3);
    assert.deepEqual(onnxCheck([out]).map((c) => c.error), [null]);
  });

  it('PP-OCRv4 rec (opset 9, weights in Constant nodes): MatMuls to DynamicQuantizeMatMul, Convs kept, same characters', async () => {
    const bytes = fs.readFileSync(fixture('ch_PP-OCRv4_rec_infer.onnx'));
    const qm = new QModel(decodeModel(bytes));
    const r = quantizeDynamic(qm);
    const converted = r.decisions.filter((d) => d.action === 'converted');
    assert.equal(converted.length, 9);
    assert.ok(converted.every((d) => d.form!.startsWith('com.microsoft.DynamicQuantizeMatMul')));
    assert.equal(r.decisions.filter((d) => d.opType === 'Conv' && d.action === 'kept').length, 38);
    assert.equal(r.decisions.filter((d) => d.reason === 'weight is computed (activation × activation)').length, 4, 'attention products');
    const out = encodeModel(qm.proto);
    const cmp = await runBoth(host, bytes, out, FIXTURE_FEEDS['ch_PP-OCRv4_rec_infer.onnx']!());
    const o = cmp.outputs[0]!;
    // Measured: cosine 0.99973, every position's top-1 character the same.
    assert.ok(o.cosine! >= 0.999, `cosine ${o.cosine}`);
    assert.equal(o.top1!.agreement, 1);
    assert.ok(out.length / bytes.length < 0.75);
    assert.deepEqual(onnxCheck([out]).map((c) => c.error), [null]);
  });
});
