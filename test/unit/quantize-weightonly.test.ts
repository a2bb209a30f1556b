// Weight-only quantization to MatMulNBits (src/core/quantize/weightonly.ts): MatMulNBits's packed layout, the
// graphs and decisions, and what onnxruntime-node 1.30 computes with the result, checked by onnx.checker. The small
// graphs are quantize-dynamic.test.ts's (test/support/linear-models.ts).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { InferenceHost } from '../../src/core/inference/host';
import type { Tensor } from '../../src/core/inference/tensor';
import { TensorProto_DataType as DT, type NodeProto } from '../../src/core/onnx/gen/onnx_pb';
import { decodeModel, encodeModel, tensorFromProto, type ModelProto } from '../../src/core/onnx/model';
import { QModel } from '../../src/core/quantize/graph';
import { type FormResult, type NodeDecision, type WeightOnlyOptions } from '../../src/core/quantize/types';
import { CancelledError } from '../../src/core/errors';
import { quantizeBlockwise, quantizeWeightOnly } from '../../src/core/quantize/weightonly';
import { fixture, python } from '../support/fixtures';
import { FIXTURE_FEEDS, pseudoRandom, testHost } from '../support/inference';
import { matmulChain, model, node, valueInfo } from '../support/onnx-models';
import { weight, f32, mlp, matmul3d, gemms, gemmFeeds, constantWeight, ifBranches, ir3, shared } from '../support/linear-models';
import { onnxCheck, opCounts, runBoth } from '../support/quantize';

const INT4: WeightOnlyOptions = { bits: 4, blockSize: 32 };

/** Quantizes a copy (the original stays for comparison). */
function quantized(build: () => ModelProto, opts: WeightOnlyOptions = INT4): { orig: ModelProto; q: ModelProto; r: FormResult } {
  const qm = new QModel(build());
  const r = quantizeWeightOnly(qm, opts);
  return { orig: build(), q: qm.proto, r };
}

const decision = (r: FormResult, node: string): NodeDecision => {
  const d = r.decisions.find((x) => x.node === node);
  assert.ok(d, `no decision for ${node}: ${r.decisions.map((x) => x.node).join(', ')}`);
  return d;
};

const nbits = (m: ModelProto): NodeProto[] => {
  const out: NodeProto[] = [];
  const walk = (nodes: NodeProto[]): void => {
    for (const n of nodes) {
      if (n.opType === 'MatMulNBits') out.push(n);
      for (const a of n.attribute) if (a.g) walk(a.g.node);
    }
  };
  walk(m.graph!.node);
  return out;
};
const attr = (n: NodeProto, name: string): number | undefined => {
  const a = n.attribute.find((x) => x.name === name);
  return a ? Number(a.i) : undefined;
};

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
 * uniform weights, the hardest case for 4 bits): int4 0.9936–0.9999 (onnxruntime's own quantizer writes the same
 * bytes, see below, so it scores the same), 8-bit ≥ 0.99994; so 0.99 for int4 and 0.9999 for 8-bit.
 */
async function close(orig: ModelProto | Uint8Array, q: ModelProto | Uint8Array, feeds: Record<string, Tensor>, minCosine: number) {
  const r = await runBoth(host, orig, q, feeds);
  for (const o of r.outputs) assert.ok(o.cosine !== null && o.cosine >= minCosine, `output ${o.name}: cosine ${o.cosine} < ${minCosine}`);
  return r.outputs;
}

/** Unpacks MatMulNBits's B and dequantizes it back to W [N, K] (K without its padding). */
function dequantize(b: Uint8Array, scales: Float32Array, zp: Uint8Array | undefined, n: number, k: number, bits: 4 | 8, block: number): Float32Array {
  const blocks = Math.ceil(k / block);
  const blob = (block * bits) / 8;
  const zpRow = Math.ceil((blocks * bits) / 8);
  const w = new Float32Array(n * k);
  for (let c = 0; c < n; c++) {
    for (let i = 0; i < k; i++) {
      const blk = Math.floor(i / block);
      const j = i % block;
      const byte = b[(c * blocks + blk) * blob + (bits === 8 ? j : j >> 1)]!;
      const q = bits === 8 ? byte : (byte >> ((j & 1) * 4)) & 15;
      let z = 1 << (bits - 1);
      if (zp) z = bits === 8 ? zp[c * zpRow + blk]! : (zp[c * zpRow + (blk >> 1)]! >> ((blk & 1) * 4)) & 15;
      w[c * k + i] = (q - z) * scales[c * blocks + blk]!;
    }
  }
  return w;
}

describe('quantizeBlockwise: MatMulNBits layout', () => {
  it('4-bit symmetric: low nibble first, the largest magnitude on the end of the range, zero padding on the default zero point', () => {
    // W [N = 2, K = 40], block 16: 3 blocks a column, the last one 8 values and 8 of padding.
    const n = 2;
    const k = 40;
    const w = pseudoRandom(n * k, 5);
    w[0] = 2; // column 0, block 0: the largest magnitude, positive
    w[1] = 0;
    const r = quantizeBlockwise(w, n, k, 4, 16, true)!;
    assert.deepEqual([r.blocks, r.blobSize, r.b.length, r.scales.length, r.zeroPoints], [3, 8, 2 * 3 * 8, 6, undefined]);
    assert.equal(r.scales[0], -0.25, 'scale m / −8');
    assert.equal(r.b[0], 0x80, 'w[0] → 0 (low nibble), w[1] → 8 (high nibble)');
    assert.deepEqual([...r.b.subarray(2 * 8 + 4, 3 * 8)], [0x88, 0x88, 0x88, 0x88], 'padding of column 0, block 2');
    const back = dequantize(r.b, r.scales, undefined, n, k, 4, 16);
    for (let c = 0; c < n; c++) {
      for (let i = 0; i < k; i++) {
        const s = Math.abs(r.scales[c * 3 + Math.floor(i / 16)]!);
        assert.ok(Math.abs(back[c * k + i]! - w[c * k + i]!) <= s / 2 + 1e-6 || Math.abs(back[c * k + i]! - w[c * k + i]!) <= s + 1e-6, `w[${c}, ${i}]`);
      }
    }
  });

  it('4-bit asymmetric: zero points packed two a byte, each column on its own bytes; error within half a step', () => {
    const n = 3;
    const k = 80; // 5 blocks of 16: 3 zero-point bytes a column
    const w = pseudoRandom(n * k, 6).map((v) => v + 0.3);
    const r = quantizeBlockwise(w, n, k, 4, 16, false)!;
    assert.equal(r.zeroPoints!.length, 3 * 3);
    assert.equal(r.zeroPoints![2]! >> 4, 8, 'the spare high nibble of a column’s last byte: 8, as onnxruntime writes it');
    const back = dequantize(r.b, r.scales, r.zeroPoints, n, k, 4, 16);
    for (let i = 0; i < n * k; i++) assert.ok(Math.abs(back[i]! - w[i]!) <= r.scales[Math.floor(i / 16)]! / 2 + 1e-6, `w[${i}]`);
  });

  it('8-bit: one byte a value, default zero point 128; asymmetric zero points one a block; NaN refused', () => {
    const w = pseudoRandom(2 * 64, 7);
    const sym = quantizeBlockwise(w, 2, 64, 8, 32, true)!;
    assert.equal(sym.blobSize, 32);
    const back = dequantize(sym.b, sym.scales, undefined, 2, 64, 8, 32);
    for (let i = 0; i < w.length; i++) assert.ok(Math.abs(back[i]! - w[i]!) <= Math.abs(sym.scales[Math.floor(i / 32)]!) + 1e-7);
    const asym = quantizeBlockwise(w, 2, 64, 8, 32, false)!;
    assert.equal(asym.zeroPoints!.length, 4);
    const back2 = dequantize(asym.b, asym.scales, asym.zeroPoints, 2, 64, 8, 32);
    for (let i = 0; i < w.length; i++) assert.ok(Math.abs(back2[i]! - w[i]!) <= asym.scales[Math.floor(i / 32)]! / 2 + 1e-7);
    w[5] = NaN;
    assert.equal(quantizeBlockwise(w, 2, 64, 8, 32, true), undefined);
    assert.equal(quantizeBlockwise(w, 2, 64, 4, 32, false), undefined);
  });
});

describe('the same bytes as onnxruntime’s quantizer', () => {
  it('MatMulNBitsQuantizer (Python onnxruntime) writes the same B, scales and zero points, 4-bit and 8-bit, symmetric or not', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-nbits-'));
    try {
      fs.writeFileSync(path.join(dir, 'mlp.onnx'), encodeModel(mlp()));
      // K (64, 96) a whole number of blocks: in a padded last block onnxruntime leaves 0 bytes where Modelyard
      // writes the zero point (both multiply A's zero padding; Modelyard's dequantize to exactly 0).
      const configs: WeightOnlyOptions[] = [
        { bits: 4, blockSize: 32, symmetric: true },
        { bits: 4, blockSize: 32, symmetric: false },
        { bits: 8, blockSize: 32, symmetric: true },
        { bits: 8, blockSize: 16, symmetric: false },
      ];
      const script = [
        'import json, sys, onnx, logging',
        'logging.disable(logging.CRITICAL)',
        'from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer, DefaultWeightOnlyQuantConfig',
        'd = sys.argv[1]',
        'for i, c in enumerate(json.loads(sys.argv[2])):',
        '    cfg = DefaultWeightOnlyQuantConfig(block_size=c["blockSize"], is_symmetric=c["symmetric"], accuracy_level=4, bits=c["bits"])',
        '    q = MatMulNBitsQuantizer(onnx.load(d + "/mlp.onnx"), algo_config=cfg)',
        '    q.process()',
        '    onnx.save(q.model.model, f"{d}/q{i}.onnx")',
      ].join('\n');
      const r = spawnSync(python(), ['-c', script, dir, JSON.stringify(configs)], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      configs.forEach((c, i) => {
        const theirs = decodeModel(fs.readFileSync(path.join(dir, `q${i}.onnx`))).graph!.initializer;
        const ours = quantized(() => mlp(), c).q.graph!.initializer;
        assert.deepEqual(ours.map((t) => t.name).sort(), theirs.map((t) => t.name).sort(), `${JSON.stringify(c)}: the same initializers`);
        for (const t of theirs) {
          const o = ours.find((x) => x.name === t.name)!;
          const a = tensorFromProto(t).data as Uint8Array | Float32Array;
          const b = tensorFromProto(o).data as Uint8Array | Float32Array;
          assert.deepEqual(Buffer.from(b.buffer, b.byteOffset, b.byteLength), Buffer.from(a.buffer, a.byteOffset, a.byteLength), `${JSON.stringify(c)}: ${t.name}`);
        }
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('quantizeWeightOnly on small graphs', () => {
  it('MatMul chain, int4 block 32: MatMulNBits with K, N, bits, block_size, accuracy_level 4; float weights gone', async () => {
    const { orig, q, r } = quantized(() => mlp());
    assert.deepEqual(opCounts(q), { MatMulNBits: 3, Relu: 2 });
    const [first] = nbits(q);
    assert.equal(first!.domain, 'com.microsoft');
    assert.deepEqual(['K', 'N', 'bits', 'block_size', 'accuracy_level'].map((a) => attr(first!, a)), [64, 96, 4, 32, 4]);
    assert.equal(first!.input.length, 3, 'symmetric: no zero points');
    const b = q.graph!.initializer.find((t) => t.name === first!.input[1])!;
    assert.deepEqual(b.dims.map(Number), [96, 2, 16]);
    assert.ok(q.opsetImport.some((o) => o.domain === 'com.microsoft'));
    assert.ok(!q.graph!.initializer.some((t) => /^W\d$/.test(t.name)));
    assert.match(decision(r, 'mm1').form!, /^MatMulNBits 4-bit block 32 \(symmetric, accuracy_level 4\)$/);
    await close(orig, q, { X: f32([8, 64], 5) }, 0.99);
    assert.deepEqual(onnxCheck([q]).map((c) => c.error), [null]);
  });

  it('asymmetric int4 block 16, int8 block 64 symmetric and asymmetric, accuracy_level 0: all run and agree', async () => {
    const variants: [WeightOnlyOptions, number][] = [
      [{ bits: 4, blockSize: 16, symmetric: false }, 0.99],
      [{ bits: 8, blockSize: 64 }, 0.9999],
      [{ bits: 8, blockSize: 128, symmetric: false }, 0.9999],
      [{ bits: 4, blockSize: 32, accuracyLevel: 0 }, 0.99],
    ];
    const checked: ModelProto[] = [];
    for (const [opts, min] of variants) {
      const { orig, q } = quantized(() => mlp(), opts);
      const n = nbits(q)[0]!;
      assert.equal(n.input.length, opts.symmetric === false ? 4 : 3);
      assert.equal(attr(n, 'accuracy_level'), opts.accuracyLevel ?? 4);
      await close(orig, q, { X: f32([8, 64], 5) }, min);
      checked.push(q);
    }
    assert.deepEqual(onnxCheck(checked).map((c) => c.error), [null, null, null, null]);
  });

  it('MatMul with 3-D activations [batch, seq, K]', async () => {
    const { orig, q } = quantized(matmul3d);
    assert.equal(opCounts(q).MatMulNBits, 1);
    await close(orig, q, { X: f32([2, 5, 48], 6) }, 0.99);
    assert.deepEqual(onnxCheck([q]).map((c) => c.error), [null]);
  });

  it('Gemm: transB as stored, alpha in the scales, a constant beta·C in the bias input, a computed one in an Add, transA by a Transpose, K padded', async () => {
    const { orig, q, r } = quantized(gemms);
    const ops = opCounts(q);
    assert.deepEqual(ops, { MatMulNBits: 4, Transpose: 1, Mul: 1, Add: 1 });
    const byName = new Map(nbits(q).map((n) => [n.name.replace(/_Q4$/, ''), n]));
    assert.equal(byName.get('g1')!.input.length, 6, 'bias input');
    assert.equal(byName.get('g1')!.input[3], '', 'symmetric: no zero points before the bias');
    assert.equal(byName.get('g3')!.input.length, 6);
    assert.equal(byName.get('g4')!.input.length, 3);
    assert.deepEqual([attr(byName.get('g1')!, 'K'), attr(byName.get('g1')!, 'N')], [40, 24]);
    const b1 = q.graph!.initializer.find((t) => t.name === byName.get('g1')!.input[1])!;
    assert.deepEqual(b1.dims.map(Number), [24, 2, 16], 'K 40 padded to two blocks of 32');
    assert.match(decision(r, 'g1').reason, /alpha 0\.5 folded into the weight scale/);
    // The biases are large next to the products: a bias input that onnxruntime ignored would show.
    const outs = await close(orig, q, gemmFeeds(), 0.99);
    assert.equal(outs.length, 4);
    assert.deepEqual(onnxCheck([q]).map((c) => c.error), [null]);
  });

  it('a weight in a Constant node, and MatMuls inside If branches (outer-scope weight, branch Constant)', async () => {
    const c = quantized(constantWeight);
    assert.equal(opCounts(c.q).Constant, undefined);
    await close(c.orig, c.q, { X: f32([3, 32], 7) }, 0.99);
    const f = quantized(ifBranches);
    assert.equal(decision(f.r, 'mm_then').graph, 'if/then_branch');
    assert.equal(decision(f.r, 'mm_else').action, 'converted');
    assert.equal(opCounts(f.q).MatMulNBits, 2);
    for (const cond of [true, false]) await close(f.orig, f.q, { X: f32([3, 32], 8), cond: { dtype: 'bool', shape: [], data: new Uint8Array([cond ? 1 : 0]) } }, 0.99);
    assert.deepEqual(onnxCheck([c.q, f.q]).map((x) => x.error), [null, null]);
  });

  it('IR 3 at opset 9: MatMulNBits there too, new initializers declared as graph inputs', async () => {
    const { orig, q } = quantized(ir3);
    assert.deepEqual(opCounts(q), { MatMulNBits: 2 });
    const inputs = new Set(q.graph!.input.map((i) => i.name));
    for (const t of q.graph!.initializer) assert.ok(inputs.has(t.name), `${t.name} is a graph input`);
    await close(orig, q, { X: f32([2, 32], 9) }, 0.99);
    const chain = quantized(() => mlp(9));
    await close(chain.orig, chain.q, { X: f32([8, 64], 5) }, 0.99);
    assert.deepEqual(onnxCheck([q, chain.q]).map((c) => c.error), [null, null]);
  });

  it('a shared weight is quantized once; a weight also read by a float node stays; activation × activation is kept', async () => {
    const { orig, q, r } = quantized(shared);
    assert.equal(decision(r, 'mm_act').reason, 'weight is computed (activation × activation)');
    const nodes = nbits(q);
    assert.equal(nodes.length, 3);
    assert.equal(nodes[0]!.input[1], nodes[1]!.input[1]);
    assert.equal(nodes[0]!.input[2], nodes[1]!.input[2], 'and its scales');
    const names = q.graph!.initializer.map((t) => t.name);
    assert.ok(!names.includes('W'));
    assert.ok(names.includes('W3'));
    await close(orig, q, { X: f32([32, 32], 10), Z: f32([32, 32], 11) }, 0.99);
    assert.deepEqual(onnxCheck([q]).map((c) => c.error), [null]);
  });

  it('Conv is kept with its reason; bad options are refused; cancellation stops it', () => {
    const conv = () =>
      model({
        name: 'conv',
        node: [{ ...node('Conv', ['IMG', 'K'], ['Y']), name: 'conv' }],
        initializer: [weight('K', [4, 3, 3, 3], 81)],
        input: [valueInfo('IMG', DT.FLOAT, [1, 3, 8, 8])],
        output: [valueInfo('Y', DT.FLOAT)],
      });
    const { r } = quantized(conv);
    assert.equal(decision(r, 'conv').action, 'kept');
    assert.match(decision(r, 'conv').reason, /MatMulNBits quantizes MatMul weights only; int8-static quantizes Conv/);
    assert.throws(() => quantizeWeightOnly(new QModel(mlp()), { bits: 3 as 4, blockSize: 32 }), /4 or 8 bits/);
    assert.throws(() => quantizeWeightOnly(new QModel(mlp()), { bits: 4, blockSize: 24 as 32 }), /block size 24/);
    assert.throws(() => quantizeWeightOnly(new QModel(mlp()), { bits: 4, blockSize: 32, accuracyLevel: 7 }), /accuracy level 7/);
    const ac = new AbortController();
    ac.abort();
    assert.throws(() => quantizeWeightOnly(new QModel(mlp()), { ...INT4, signal: ac.signal }), CancelledError);
  });

  it('a weight-dominated model shrinks to ≤ 0.17× with int4 (matmulChain(4, 512))', async () => {
    const before = encodeModel(matmulChain(4, 512)).length;
    const qm = new QModel(matmulChain(4, 512));
    quantizeWeightOnly(qm, INT4);
    const after = encodeModel(qm.proto);
    assert.ok(after.length / before <= 0.17, `size ratio ${(after.length / before).toFixed(3)}`);
    await close(matmulChain(4, 512), after, { X: f32([2, 512], 12) }, 0.999);
  });
});

describe('quantizeWeightOnly on fixture models', () => {
  it('hello_deepa int4: three Gemms to MatMulNBits, ≤ 0.2× the size, the score within 2e-2', async () => {
    const bytes = fs.readFileSync(fixture('hello_deepa.onnx'));
    const qm = new QModel(decodeModel(bytes));
    const r = quantizeWeightOnly(qm, INT4);
    assert.equal(r.decisions.filter((d) => d.action === 'converted').length, 3);
    const out = encodeModel(qm.proto);
    assert.ok(out.length / bytes.length <= 0.2, `size ratio ${out.length / bytes.length}`);
    const cmp = await runBoth(host, bytes, out, FIXTURE_FEEDS['hello_deepa.onnx']!());
    // One sigmoid score: the absolute error is what counts (measured 4.9e-3).
    assert.ok(cmp.outputs[0]!.maxAbsError <= 2e-2, `max abs error ${cmp.outputs[0]!.maxAbsError}`);
    assert.deepEqual(onnxCheck([out]).map((c) => c.error), [null]);
  });
});
