// float16 conversion (src/core/quantize/fp16.ts) and element-type inference (elemtypes.ts): generated graphs for each
// case the converter must get right, run in the real onnxruntime-node and checked by onnx.checker; the fixture models
// end to end (size, fidelity, the way back to float32), and onnxconverter-common's converter side by side.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { InferenceHost } from '../../src/core/inference/host';
import type { Tensor } from '../../src/core/inference/tensor';
import { AttributeProto_AttributeType as AT, TensorProto_DataType as DT, type GraphProto, type ModelProto, type NodeProto } from '../../src/core/onnx/gen/onnx_pb';
import { decodeModel, encodeModel } from '../../src/core/onnx/model';
import { inferElemTypes } from '../../src/core/quantize/elemtypes';
import { convertFp16, convertFp32, floatsToHalf } from '../../src/core/quantize/fp16';
import { subgraphsOf } from '../../src/core/onnx/io';
import { halfArrayToFloat, QModel } from '../../src/core/quantize/graph';
import type { FormResult, Fp16Options } from '../../src/core/quantize/types';
import { fixture, python } from '../support/fixtures';
import { FIXTURE_FEEDS, pseudoRandom, testHost } from '../support/inference';
import { floatTensor, model, node, valueInfo } from '../support/onnx-models';
import { onnxCheck, opCounts, runBoth } from '../support/quantize';

type GraphInit = Parameters<typeof model>[0];
type AttrInit = NonNullable<Parameters<typeof node>[3]>[number];

const ai = (name: string, i: number): AttrInit => ({ name, type: AT.INT, i: BigInt(i) });
const ag = (name: string, g: GraphInit): AttrInit => ({ name, type: AT.GRAPH, g });
const wave = (scale = 0.2, k = 0.37) => (i: number) => Math.sin(i * k + 1) * scale;
const int64 = (name: string, values: number[], dims = [values.length]) => ({ name, dims: dims.map(BigInt), dataType: DT.INT64, int64Data: values.map(BigInt) });
const f32 = (shape: number[], seed = 1, scale = 1): Tensor => ({ dtype: 'float32', shape, data: pseudoRandom(shape.reduce((a, b) => a * b, 1), seed).map((v) => v * scale) });

/** Converts a copy of `m`; returns the converted model and the form's result. */
function fp16(m: ModelProto, opts: Fp16Options = {}): { out: ModelProto; r: FormResult } {
  const q = new QModel(decodeModel(encodeModel(m)));
  const r = convertFp16(q, opts);
  return { out: q.proto, r };
}

function fp32(m: ModelProto): { out: ModelProto; r: FormResult } {
  const q = new QModel(decodeModel(encodeModel(m)));
  const r = convertFp32(q);
  return { out: q.proto, r };
}

const initType = (g: GraphProto, name: string): number | undefined => g.initializer.find((t) => t.name === name)?.dataType;
const ioType = (vs: GraphProto['input'], name: string): number | undefined => {
  const v = vs.find((x) => x.name === name);
  return v?.type?.value.case === 'tensorType' ? v.type.value.value.elemType : undefined;
};
const producer = (g: GraphProto, name: string): NodeProto | undefined => g.node.find((n) => n.output.includes(name));
const byOp = (g: GraphProto, op: string): NodeProto[] => g.node.filter((n) => n.opType === op);
const castTo = (n: NodeProto | undefined): number | undefined => (n?.opType === 'Cast' ? Number(n.attribute.find((a) => a.name === 'to')!.i) : undefined);

/** Every output of the converted model agrees with the original's (cosine for floats, exactly for integers). */
async function assertSameOutputs(host: InferenceHost, a: ModelProto, b: ModelProto, feeds: Record<string, Tensor>, minCosine = 0.999) {
  const r = await runBoth(host, a, b, feeds);
  for (const o of r.outputs) {
    if (o.cosine === null) assert.equal(o.maxAbsError, 0, `output ${o.name}`);
    else assert.ok(o.cosine >= minCosine, `output ${o.name}: cosine ${o.cosine}`);
  }
  return r;
}

// Every converted model goes through onnx.checker once, at the end (one Python process for all).
const toCheck: { label: string; model: ModelProto | string }[] = [];
const check = (label: string, m: ModelProto) => toCheck.push({ label, model: m });

let host: InferenceHost;
before(() => {
  host = testHost();
});
after(async () => {
  // runBoth releases its sessions without waiting: let those messages go before shutting the worker down.
  await new Promise((r) => setTimeout(r, 200));
  host.dispose();
});

describe('floatsToHalf', () => {
  it('matches NumPy astype(float16) bit for bit (ties, subnormals, overflow, NaN payloads) and clamps like onnxconverter-common', () => {
    const n = 1 << 20;
    const bits = new Uint32Array(n);
    let s = 7;
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      bits[i] = s;
    }
    // Exact ties and their neighbours at every exponent (the rounding cases), and the edges of the ranges.
    let k = 0;
    for (let e = 90; e < 160; e++) {
      for (const low of [0x1000, 0x0fff, 0x1001, 0x3000, 0x0000]) for (const sign of [0, 0x80000000]) bits[k++] = (sign | (e << 23) | (k % 7 << 13) | low) >>> 0;
    }
    for (const v of [0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffffffff, 0x477fe000, 0x477ff000, 0x477fefff, 0x33000000, 0x33000001, 0x387fffff, 0x38800000]) bits[k++] = v;
    const floats = new Float32Array(bits.buffer);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-fp16-'));
    try {
      fs.writeFileSync(path.join(dir, 'in.bin'), floats);
      const py = 'import numpy as np, sys; a = np.fromfile(sys.argv[1], dtype=np.float32); a.astype(np.float16).tofile(sys.argv[2])';
      const r = spawnSync(python(), ['-W', 'ignore', '-c', py, path.join(dir, 'in.bin'), path.join(dir, 'out.bin')], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const want = new Uint16Array(new Uint8Array(fs.readFileSync(path.join(dir, 'out.bin'))).buffer);
      const { half } = floatsToHalf(floats);
      let diff = 0;
      for (let i = 0; i < n; i++) if (half[i] !== want[i]) diff++;
      assert.equal(diff, 0, `${diff} of ${n} differ from NumPy`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const c = floatsToHalf(new Float32Array([0, 1e-9, -5e-8, 2e-7, 3e4, -1e5, Infinity, NaN, -0.5]), { min: 1e-7, max: 1e4 });
    assert.deepEqual([c.raised, c.lowered], [2, 2]);
    const back = halfArrayToFloat(c.half);
    assert.deepEqual([back[0], back[6], back[8]], [0, Infinity, -0.5]);
    assert.ok(back[1]! > 0 && back[2]! < 0 && Math.abs(back[1]!) === Math.abs(back[2]!), 'tiny values keep their sign and become ±1e-7, not 0');
    assert.deepEqual([back[4], back[5]], [10000, -10000]);
    assert.ok(Number.isNaN(back[7]));
  });

  it('converts ≥ 50 MB of float32 per second', (t) => {
    const a = pseudoRandom(8 << 20, 3).map((v) => v * 0.05);
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      floatsToHalf(a, { min: 1e-7, max: 1e4 });
      best = Math.min(best, performance.now() - t0);
    }
    const mbs = a.byteLength / 1e6 / (best / 1000);
    t.diagnostic(`floatsToHalf with clamping: ${mbs.toFixed(0)} MB/s`);
    assert.ok(mbs >= 50, `${mbs.toFixed(0)} MB/s`);
  });
});

describe('inferElemTypes', () => {
  /** A graph with one node of each special rule, and If/Loop/Scan bodies. */
  function zoo(): ModelProto {
    const body = (name: string, fill: number): GraphInit => ({
      name,
      node: [node('Constant', [], [`${name}_c`], [{ name: 'value', type: AT.TENSOR, t: floatTensor('', [3], () => fill) }]), node('Add', ['X', `${name}_c`], [`${name}_y`])],
      output: [valueInfo(`${name}_y`, DT.FLOAT)],
    });
    const loopBody: GraphInit = {
      name: 'loop',
      node: [node('Identity', ['lc'], ['lc_out']), node('Mul', ['lv', 'lv'], ['lv_out']), node('Cast', ['li'], ['li_f'], [ai('to', DT.FLOAT)])],
      input: [valueInfo('li', DT.INT64, []), valueInfo('lc', DT.BOOL, []), { name: 'lv' }],
      output: [{ name: 'lc_out' }, { name: 'lv_out' }, { name: 'li_f' }],
    };
    const scanBody: GraphInit = {
      name: 'scan',
      node: [node('Add', ['ss', 'sx'], ['ss_out']), node('Shape', ['sx'], ['sx_shape'])],
      input: [{ name: 'ss' }, { name: 'sx' }],
      output: [{ name: 'ss_out' }, { name: 'sx_shape' }],
    };
    return model({
      name: 'zoo',
      input: [valueInfo('X', DT.FLOAT, [3]), valueInfo('I', DT.INT64, [3]), valueInfo('B', DT.BOOL, [3]), valueInfo('U', DT.UINT8, [3, 3]), valueInfo('cond', DT.BOOL, [])],
      initializer: [
        int64('K', [2]),
        int64('trip', [2], []),
        floatTensor('start', [], () => 0),
        floatTensor('limit', [], () => 3),
        floatTensor('delta', [], () => 1),
        floatTensor('scale', [], () => 0.1),
        { name: 'zp8', dims: [], dataType: DT.INT8, int32Data: [0] },
      ],
      node: [
        node('Shape', ['X'], ['sh']),
        node('Size', ['X'], ['sz']),
        node('NonZero', ['X'], ['nz']),
        node('ArgMax', ['X'], ['am']),
        node('Less', ['X', 'X'], ['lt']),
        node('Not', ['B'], ['nb']),
        node('IsNaN', ['X'], ['isnan']),
        node('Cast', ['I'], ['ci'], [ai('to', DT.FLOAT)]),
        node('CastLike', ['I', 'X'], ['cl']),
        node('ConstantOfShape', ['sh'], ['cos_default']),
        node('ConstantOfShape', ['sh'], ['cos_i32'], [{ name: 'value', type: AT.TENSOR, t: { dims: [1n], dataType: DT.INT32, int32Data: [3] } }]),
        node('Constant', [], ['c_float'], [{ name: 'value_float', type: AT.FLOAT, f: 1 }]),
        node('Constant', [], ['c_ints'], [{ name: 'value_ints', type: AT.INTS, ints: [1n, 2n] }]),
        node('Where', ['B', 'I', 'I'], ['wh']),
        node('TopK', ['X', 'K'], ['tk_v', 'tk_i']),
        node('Dropout', ['X'], ['dr', 'dr_mask']),
        node('Range', ['start', 'limit', 'delta'], ['rg']),
        node('RandomNormalLike', ['X'], ['rnl']),
        node('RandomUniform', [], ['ru'], [ai('dtype', DT.DOUBLE), { name: 'shape', type: AT.INTS, ints: [2n] }]),
        node('EyeLike', ['U'], ['ey'], [ai('dtype', DT.INT32)]),
        node('QuantizeLinear', ['X', 'scale', 'zp8'], ['q8']),
        node('QuantizeLinear', ['X', 'scale'], ['qu8']),
        node('DequantizeLinear', ['q8', 'scale', 'zp8'], ['dq']),
        node('DynamicQuantizeLinear', ['X'], ['dy', 'dy_scale', 'dy_zp']),
        node('MatMulInteger', ['U', 'U'], ['mmi']),
        node('If', ['cond'], ['y_if'], [ag('then_branch', body('then', 1)), ag('else_branch', body('else', 2))]),
        node('Loop', ['trip', 'cond', 'X'], ['loop_v', 'loop_scan'], [ag('body', loopBody)]),
        node('Scan', ['X', 'U'], ['scan_s', 'scan_shapes'], [ag('body', scanBody), ai('num_scan_inputs', 1)]),
      ],
      output: [valueInfo('y_if', DT.FLOAT)],
    });
  }

  /** {name: elem_type} from onnx.shape_inference over every graph of each model. */
  function pythonTypes(paths: string[]): Record<string, Record<string, number>> {
    const py = `
import json, sys, onnx
from onnx import shape_inference
out = {}
for p in sys.argv[1:]:
    m = shape_inference.infer_shapes(onnx.load(p))
    types = {}
    def walk(g):
        for v in list(g.input) + list(g.output) + list(g.value_info):
            if v.type.HasField('tensor_type') and v.type.tensor_type.elem_type:
                types[v.name] = v.type.tensor_type.elem_type
        for n in g.node:
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH: walk(a.g)
                for sg in a.graphs: walk(sg)
    walk(m.graph)
    out[p] = types
print(json.dumps(out))`;
    const r = spawnSync(python(), ['-W', 'ignore', '-c', py, ...paths], { encoding: 'utf8', maxBuffer: 64 << 20 });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, Record<string, number>>;
  }

  it('agrees with onnx shape inference on every value both know, on every fixture and a graph of special rules, and knows every value', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-types-'));
    try {
      const zooPath = path.join(dir, 'zoo.onnx');
      fs.writeFileSync(zooPath, encodeModel(zoo()));
      const files = [...Object.keys(FIXTURE_FEEDS).map(fixture), zooPath];
      const ref = pythonTypes(files);
      for (const file of files) {
        const m = new QModel(decodeModel(fs.readFileSync(file)));
        const ours = inferElemTypes(m);
        const label = path.basename(file);
        const theirs = Object.entries(ref[file]!);
        assert.ok(theirs.length > 10, label);
        for (const [name, t] of theirs) assert.equal(ours.get(name), t, `${label}: '${name}'`);
        // Every node output of every graph has a type (shape inference may not know all; the rules do).
        const missing: string[] = [];
        const walk = (g: GraphProto) => {
          for (const n of g.node) {
            for (const o of n.output) if (o && !ours.has(o)) missing.push(o);
            for (const sg of subgraphsOf(n)) walk(sg.graph);
          }
        };
        walk(m.graph);
        assert.deepEqual(missing, [], label);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the special rules: shapes int64, comparisons bool, Cast/CastLike, ConstantOfShape, quantization, control flow', () => {
    const t = inferElemTypes(new QModel(zoo()));
    const want: Record<string, number> = {
      sh: DT.INT64, sz: DT.INT64, nz: DT.INT64, am: DT.INT64, lt: DT.BOOL, nb: DT.BOOL, isnan: DT.BOOL, ci: DT.FLOAT, cl: DT.FLOAT,
      cos_default: DT.FLOAT, cos_i32: DT.INT32, c_float: DT.FLOAT, c_ints: DT.INT64, wh: DT.INT64, tk_v: DT.FLOAT, tk_i: DT.INT64,
      dr: DT.FLOAT, dr_mask: DT.BOOL, rg: DT.FLOAT, rnl: DT.FLOAT, ru: DT.DOUBLE, ey: DT.INT32, q8: DT.INT8, qu8: DT.UINT8, dq: DT.FLOAT,
      dy: DT.UINT8, dy_scale: DT.FLOAT, dy_zp: DT.UINT8, mmi: DT.INT32, y_if: DT.FLOAT, then_y: DT.FLOAT, lv: DT.FLOAT, lv_out: DT.FLOAT,
      loop_v: DT.FLOAT, loop_scan: DT.FLOAT, ss: DT.FLOAT, sx: DT.UINT8, scan_s: DT.FLOAT, scan_shapes: DT.INT64,
    };
    for (const [name, type] of Object.entries(want)) assert.equal(t.get(name), type, name);
  });
});

describe('convertFp16 on generated graphs', () => {
  /** X → Conv → Relu → Reshape (int64 shape) → MatMul → Add → Y. */
  const chain = (): ModelProto =>
    model({
      name: 'chain',
      input: [valueInfo('X', DT.FLOAT, [1, 3, 8, 8])],
      output: [valueInfo('Y', DT.FLOAT, [1, 10])],
      initializer: [floatTensor('W', [4, 3, 3, 3], wave()), floatTensor('B', [4], wave(0.1)), int64('shape', [1, 256]), floatTensor('W2', [256, 10], wave(0.1, 0.11)), floatTensor('B2', [10], wave(0.5))],
      node: [
        { ...node('Conv', ['X', 'W', 'B'], ['c'], [{ name: 'pads', type: AT.INTS, ints: [1n, 1n, 1n, 1n] }]), name: 'conv' },
        { ...node('Relu', ['c'], ['r']), name: 'relu' },
        node('Reshape', ['r', 'shape'], ['f']),
        node('MatMul', ['f', 'W2'], ['mm']),
        node('Add', ['mm', 'B2'], ['Y']),
      ],
    });

  it('a Conv/MatMul/Add chain: float16 weights, int64 shape untouched, float32 inputs and outputs with one Cast each', async () => {
    const orig = chain();
    const { out, r } = fp16(orig);
    const g = out.graph!;
    for (const w of ['W', 'B', 'W2', 'B2']) assert.equal(initType(g, w), DT.FLOAT16, w);
    assert.equal(initType(g, 'shape'), DT.INT64);
    assert.equal(ioType(g.input, 'X'), DT.FLOAT);
    assert.equal(ioType(g.output, 'Y'), DT.FLOAT);
    assert.equal(opCounts(out).Cast, 2);
    assert.equal(castTo(producer(g, 'Y')), DT.FLOAT, 'the output keeps its name, written by a Cast to float');
    assert.equal(castTo(g.node.find((n) => n.input[0] === 'X')), DT.FLOAT16);
    assert.deepEqual(
      r.decisions.filter((d) => d.action === 'kept'),
      [],
    );
    assert.deepEqual(
      r.decisions.find((d) => d.opType === 'Conv'),
      { node: '1 node', opType: 'Conv', graph: 'main', action: 'converted', form: 'float16', reason: 'weights and values converted to float16' },
    );
    assert.match(r.notes.join('\n'), /4 float32 weights converted to float16/);
    await assertSameOutputs(host, orig, out, { X: f32([1, 3, 8, 8]) });
    check('chain', out);
  });

  it('keepIoTypes false: float16 inputs and outputs, no Cast at all', async () => {
    const orig = chain();
    const { out, r } = fp16(orig, { keepIoTypes: false });
    assert.equal(ioType(out.graph!.input, 'X'), DT.FLOAT16);
    assert.equal(ioType(out.graph!.output, 'Y'), DT.FLOAT16);
    assert.equal(opCounts(out).Cast, undefined);
    assert.match(r.notes.join('\n'), /feed float16 tensors/);
    const x = f32([1, 3, 8, 8]);
    const a = await host.load({ bytes: encodeModel(orig), key: 'chain-fp32' });
    const b = await host.load({ bytes: encodeModel(out), key: 'chain-fp16-io' });
    const ya = (await host.run(a.id, { X: x })).outputs.Y!;
    const yb = (await host.run(b.id, { X: { dtype: 'float16', shape: x.shape, data: floatsToHalf(x.data as Float32Array).half } })).outputs.Y!;
    await host.release(a.id);
    await host.release(b.id);
    assert.equal(yb.dtype, 'float16');
    const fb = halfArrayToFloat(yb.data as Uint16Array);
    (ya.data as Float32Array).forEach((v, i) => assert.ok(Math.abs(v - fb[i]!) < 0.02 * (1 + Math.abs(v)), `Y[${i}]: ${v} vs ${fb[i]}`));
    check('chain keepIoTypes false', out);
  });

  it("Resize stays float32, and so does the light Mul that computes its scales (float16 scales would change the output's size)", async () => {
    const orig = model({
      name: 'resize',
      input: [valueInfo('X', DT.FLOAT, [1, 2, 4, 4])],
      output: [valueInfo('Y', DT.FLOAT, [1, 2, 8, 8])],
      initializer: [floatTensor('W', [2, 2, 1, 1], wave()), floatTensor('s1', [4], (i) => (i < 2 ? 1 : 2)), floatTensor('k', [1], () => 0.5)],
      node: [
        node('Conv', ['X', 'W'], ['c']),
        node('Constant', [], ['s0'], [{ name: 'value_floats', type: AT.FLOATS, floats: [1, 1, 1, 1] }]),
        { ...node('Mul', ['s0', 's1'], ['scales']), name: 'scales_mul' },
        { ...node('Resize', ['c', '', 'scales'], ['rz'], [{ name: 'mode', type: AT.STRING, s: new TextEncoder().encode('linear') }]), name: 'resize' },
        node('Mul', ['rz', 'k'], ['Y']),
      ],
    });
    const { out, r } = fp16(orig);
    const g = out.graph!;
    const resize = byOp(g, 'Resize')[0]!;
    assert.equal(resize.input[2], 'scales', 'the scales come straight from the float32 Mul');
    assert.equal(initType(g, 's1'), DT.FLOAT);
    assert.equal(initType(g, 'W'), DT.FLOAT16);
    assert.equal(initType(g, 'k'), DT.FLOAT16);
    assert.equal(castTo(producer(g, resize.input[0]!)), DT.FLOAT);
    assert.equal(castTo(g.node.find((n) => n.input[0] === 'rz')), DT.FLOAT16);
    const kept = Object.fromEntries(r.decisions.filter((d) => d.action === 'kept').map((d) => [d.node, d.reason]));
    assert.match(kept.resize!, /block list/);
    assert.match(kept.scales_mul!, /only float32 nodes read its results \(Resize resize\)/);
    await assertSameOutputs(host, orig, out, { X: f32([1, 2, 4, 4]) });
    check('resize', out);
  });

  /** Conv → BatchNormalization with variances near 1e7 → Relu. */
  const bn = (): ModelProto =>
    model({
      name: 'bn',
      input: [valueInfo('X', DT.FLOAT, [1, 4, 6, 6])],
      output: [valueInfo('Y', DT.FLOAT, [1, 4, 6, 6])],
      initializer: [
        floatTensor('W', [4, 4, 3, 3], wave(50)),
        floatTensor('scale', [4], () => 1.5),
        floatTensor('bias', [4], wave()),
        floatTensor('mean', [4], (i) => 100 * i),
        floatTensor('var', [4], (i) => 1e7 * (i + 1)),
      ],
      node: [
        node('Conv', ['X', 'W'], ['c'], [{ name: 'pads', type: AT.INTS, ints: [1n, 1n, 1n, 1n] }]),
        { ...node('BatchNormalization', ['c', 'scale', 'bias', 'mean', 'var'], ['b']), name: 'bn' },
        node('Relu', ['b'], ['Y']),
      ],
    });

  it('BatchNormalization stays float32 with its parameters (keepBatchNorm), and converts when asked, its variances clamped', async () => {
    const orig = bn();
    const { out, r } = fp16(orig);
    const g = out.graph!;
    for (const p of ['scale', 'bias', 'mean', 'var']) assert.equal(initType(g, p), DT.FLOAT, p);
    assert.equal(initType(g, 'W'), DT.FLOAT16);
    assert.deepEqual(
      r.decisions.filter((d) => d.action === 'kept').map((d) => [d.node, d.reason]),
      [['bn', 'BatchNormalization stays float32 (keepBatchNorm): its running variances can overflow float16']],
    );
    await assertSameOutputs(host, orig, out, { X: f32([1, 4, 6, 6]) }, 0.9999);
    check('bn kept', out);

    const converted = fp16(orig, { keepBatchNorm: false });
    for (const p of ['scale', 'bias', 'mean', 'var']) assert.equal(initType(converted.out.graph!, p), DT.FLOAT16, p);
    assert.match(converted.r.notes.join('\n'), /clamped 4 weight values into ±\[1e-7, 10000\] before converting \(0 tiny ones raised, 4 large ones lowered\)/);
    check('bn converted', converted.out);
  });

  it('a blocked TopK and Range between converted nodes: Casts on their float edges only, never on int64 K or indices', async () => {
    const orig = model({
      name: 'blocked',
      input: [valueInfo('X', DT.FLOAT, [2, 8])],
      output: [valueInfo('Y', DT.FLOAT, [2, 3]), valueInfo('idx', DT.INT64, [2, 3])],
      initializer: [floatTensor('W', [8, 8], wave(1, 0.77)), int64('K', [3]), floatTensor('start', [], () => 0), floatTensor('limit', [], () => 3), floatTensor('delta', [], () => 1)],
      node: [
        node('MatMul', ['X', 'W'], ['h']),
        { ...node('TopK', ['h', 'K'], ['vals', 'idx']), name: 'topk' },
        node('Cast', ['idx'], ['idxf'], [ai('to', DT.FLOAT)]),
        node('Add', ['vals', 'idxf'], ['s']),
        { ...node('Range', ['start', 'limit', 'delta'], ['rg']), name: 'range' },
        node('Add', ['s', 'rg'], ['Y']),
      ],
    });
    const { out, r } = fp16(orig);
    const g = out.graph!;
    const topk = byOp(g, 'TopK')[0]!;
    assert.equal(castTo(producer(g, topk.input[0]!)), DT.FLOAT);
    assert.equal(topk.input[1], 'K');
    assert.equal(initType(g, 'K'), DT.INT64);
    assert.deepEqual(topk.output, ['vals', 'idx']);
    assert.equal(ioType(g.output, 'idx'), DT.INT64);
    assert.equal(castTo(producer(g, 'idxf')), DT.FLOAT16, 'the Cast to float inside the converted region casts to float16');
    for (const w of ['start', 'limit', 'delta']) assert.equal(initType(g, w), DT.FLOAT, w);
    assert.equal(castTo(g.node.find((n) => n.input[0] === 'rg')), DT.FLOAT16);
    // X in, h to float32, vals and rg back to float16, Y out: five Casts added to the model's own one.
    assert.equal(opCounts(out).Cast, 6);
    assert.deepEqual(
      r.decisions.filter((d) => d.action === 'kept').map((d) => d.node),
      ['topk', 'range'],
    );
    await assertSameOutputs(host, orig, out, { X: f32([2, 8]) });
    check('blocked', out);
  });

  /** If whose branches hold Constant weights and read an outer weight W. */
  const ifModel = (): ModelProto =>
    model({
      name: 'if',
      input: [valueInfo('X', DT.FLOAT, [4]), valueInfo('cond', DT.BOOL, [])],
      output: [valueInfo('Y', DT.FLOAT, [4])],
      initializer: [floatTensor('W', [4], wave(2)), floatTensor('B', [4], wave(0.3))],
      node: [
        node('If', ['cond'], ['y_if'], [
          ag('then_branch', {
            name: 'then',
            node: [node('Constant', [], ['ct'], [{ name: 'value', type: AT.TENSOR, t: floatTensor('', [4], wave(1, 0.5)) }]), node('Add', ['X', 'ct'], ['t1']), node('Mul', ['t1', 'W'], ['then_out'])],
            output: [valueInfo('then_out', DT.FLOAT, [4])],
          }),
          ag('else_branch', {
            name: 'else',
            node: [node('Constant', [], ['ce'], [{ name: 'value_floats', type: AT.FLOATS, floats: [0.5, -1, 2, 3] }]), node('Sub', ['X', 'ce'], ['e1']), node('Add', ['e1', 'W'], ['else_out'])],
            output: [valueInfo('else_out', DT.FLOAT, [4])],
          }),
        ]),
        node('Add', ['y_if', 'B'], ['Y']),
      ],
    });

  it('If branches: their Constant weights and the outer weight they read become float16, their outputs are declared float16', async () => {
    const orig = ifModel();
    const { out } = fp16(orig);
    const g = out.graph!;
    assert.equal(initType(g, 'W'), DT.FLOAT16);
    const iff = byOp(g, 'If')[0]!;
    const [then, els] = [iff.attribute[0]!.g!, iff.attribute[1]!.g!];
    assert.equal(producer(then, 'ct')!.attribute[0]!.t!.dataType, DT.FLOAT16);
    assert.equal(producer(els, 'ce')!.attribute[0]!.t!.dataType, DT.FLOAT16, 'value_floats became a float16 tensor');
    assert.equal(ioType(then.output, 'then_out'), DT.FLOAT16);
    assert.equal(ioType(els.output, 'else_out'), DT.FLOAT16);
    assert.equal(opCounts(out).Cast, 2, 'one Cast for X (read in both branches), one for Y');
    for (const cond of [true, false]) await assertSameOutputs(host, orig, out, { X: f32([4], 3), cond: { dtype: 'bool', shape: [], data: new Uint8Array([cond ? 1 : 0]) } });
    check('if', out);
  });

  it('a weight read by a converted and a blocked node: a float16 copy when small, Cast back when large', async () => {
    // MatMuls, since a light Add would rather stay float32 with its blocked reader.
    const big = [1024, 1025];
    const orig = model({
      name: 'shared',
      input: [valueInfo('X', DT.FLOAT, [4, 4]), valueInfo('X2', DT.FLOAT, [1, 1024])],
      output: [valueInfo('Y', DT.FLOAT, [4, 4]), valueInfo('Y2', DT.FLOAT, big)],
      initializer: [floatTensor('S', [4, 4], wave()), floatTensor('L', big, wave(1, 0.013))],
      node: [node('MatMul', ['X', 'S'], ['a']), node('Max', ['a', 'S'], ['Y']), node('MatMul', ['X2', 'L'], ['b']), node('Min', ['b', 'L'], ['Y2'])],
    });
    const { out, r } = fp16(orig);
    const g = out.graph!;
    const [add, max, add2, min] = [g.node.find((n) => n.output[0] === 'a')!, byOp(g, 'Max')[0]!, g.node.find((n) => n.output[0] === 'b')!, byOp(g, 'Min')[0]!];
    assert.equal(max.input[1], 'S');
    assert.equal(initType(g, 'S'), DT.FLOAT);
    assert.equal(initType(g, add.input[1]!), DT.FLOAT16);
    assert.notEqual(add.input[1], 'S');
    assert.equal(add2.input[1], 'L');
    assert.equal(initType(g, 'L'), DT.FLOAT16);
    assert.equal(castTo(producer(g, min.input[1]!)), DT.FLOAT);
    assert.match(r.notes.join('\n'), /2 weights read by both converted and float32 nodes: 1 kept in float32 with a float16 copy, 1 converted and Cast back/);
    await assertSameOutputs(host, orig, out, { X: f32([4, 4]), X2: f32([1, 1024], 5) });
    check('shared', out);
  });

  it('unknown domains and excluded nodes stay float32 with a reason; the model still runs', async () => {
    const orig = model(
      {
        name: 'ms',
        input: [valueInfo('X', DT.FLOAT, [2, 4])],
        output: [valueInfo('Y', DT.FLOAT, [2, 4])],
        initializer: [floatTensor('W', [4, 4], wave()), floatTensor('B', [4], wave(0.1))],
        node: [node('MatMul', ['X', 'W'], ['h']), { ...node('Gelu', ['h'], ['gl'], [], 'com.microsoft'), name: 'gelu' }, { ...node('Add', ['gl', 'B'], ['a']), name: 'add' }, node('Relu', ['a'], ['Y'])],
      },
      { opsetImport: [{ domain: '', version: 21n }, { domain: 'com.microsoft', version: 1n }] },
    );
    const { out, r } = fp16(orig, { exclude: { opTypes: new Set(), nodeNames: new Set(['add']) } });
    const kept = Object.fromEntries(r.decisions.filter((d) => d.action === 'kept').map((d) => [d.node, d.reason]));
    assert.match(kept.gelu!, /op com\.microsoft\.Gelu: Modelyard does not know whether it takes float16/);
    assert.equal(kept.add, 'excluded: node add is on the exclusion list');
    assert.equal(initType(out.graph!, 'B'), DT.FLOAT);
    assert.equal(initType(out.graph!, 'W'), DT.FLOAT16);
    await assertSameOutputs(host, orig, out, { X: f32([2, 4]) });
    check('unknown domain', out);
  });

  it('refuses a float16 model, and convertFp32 refuses a float32 one; reports progress; honours cancellation', () => {
    const { out } = fp16(chain());
    assert.throws(() => fp16(out), { name: 'UserError', message: /^the model's weights are already float16/, hint: /fp32/ });
    assert.throws(() => fp32(chain()), { name: 'UserError', message: /no float16 weights or values/ });
    const seen: number[] = [];
    fp16(chain(), { progress: (f) => seen.push(f) });
    assert.equal(seen.at(-1), 1);
    const ac = new AbortController();
    ac.abort();
    assert.throws(() => fp16(chain(), { signal: ac.signal }), { name: 'UserError', message: /cancelled/ });
  });

  it('back to float32: the same graph as before, weights rounded to float16 exactly', async () => {
    for (const make of [chain, ifModel, bn]) {
      const orig = make();
      const { out: half } = fp16(orig, { clamp: false });
      const { out: back, r } = fp32(half);
      assert.deepEqual(opCounts(back), opCounts(orig), `${orig.graph!.name}: ${r.notes.join('; ')}`);
      for (const t of orig.graph!.initializer) {
        if (t.dataType !== DT.FLOAT) continue;
        const b = back.graph!.initializer.find((x) => x.name === t.name)!;
        assert.equal(b.dataType, DT.FLOAT);
        const want = halfArrayToFloat(floatsToHalf(new Float32Array(new Uint8Array(t.rawData).buffer)).half);
        const got = new Float32Array(new Uint8Array(b.rawData).buffer);
        // Weights kept in float32 (BatchNorm's) come back untouched, the others exactly at their float16 rounding.
        const kept = make === bn && t.name !== 'W';
        assert.deepEqual(got, kept ? new Float32Array(new Uint8Array(t.rawData).buffer) : want, t.name);
      }
      assert.equal(ioType(back.graph!.input, 'X'), DT.FLOAT);
      check(`${orig.graph!.name} back to fp32`, back);
    }
  });

  it('onnx.checker (full check) accepts every converted model', () => {
    const results = onnxCheck(toCheck.map((c) => c.model));
    const bad = results.map((r, i) => (r.ok ? '' : `${toCheck[i]!.label}: ${r.error}`)).filter(Boolean);
    assert.deepEqual(bad, []);
  });
});

describe('convertFp16 on the fixture models', () => {
  const FILES = Object.keys(FIXTURE_FEEDS);
  /** Size bound per fixture: half the weights plus the graph, which stays (silero v5's graph is 6% of its file, cls keeps 35 BatchNorms in float32). */
  const MAX_RATIO: Record<string, number> = {
    'ch_PP-OCRv4_det_infer.onnx': 0.51,
    'ch_PP-OCRv4_rec_infer.onnx': 0.51,
    'silero_vad_legacy.onnx': 0.51,
    'hello_deepa.onnx': 0.51,
    'silero_vad_v5.onnx': 0.54,
    'ch_ppocr_mobile_v2.0_cls_infer.onnx': 0.6,
  };
  const converted = new Map<string, { orig: Uint8Array; half: Uint8Array; back: Uint8Array }>();

  it('every fixture converts, runs in onnxruntime-node close to float32, and shrinks to about half', async (t) => {
    for (const file of FILES) {
      const orig = fs.readFileSync(fixture(file));
      const q = new QModel(decodeModel(orig));
      convertFp16(q);
      const half = encodeModel(q.proto);
      const ratio = half.length / orig.length;
      const r = await assertSameOutputs(host, decodeModel(orig), q.proto, FIXTURE_FEEDS[file]!(), 0.99);
      t.diagnostic(`${file}: size ×${ratio.toFixed(3)}, cosine ${r.outputs.map((o) => `${o.name} ${o.cosine?.toFixed(5)}`).join(', ')}`);
      assert.ok(ratio <= MAX_RATIO[file]!, `${file}: ×${ratio.toFixed(3)}`);
      const b = new QModel(decodeModel(half));
      convertFp32(b);
      converted.set(file, { orig, half, back: encodeModel(b.proto) });
    }
  });

  it('onnx.checker (full check) accepts each converted fixture and its way back to float32', () => {
    const list = [...converted].flatMap(([file, c]) => [{ file: `${file} fp16`, bytes: c.half }, { file: `${file} back`, bytes: c.back }]);
    const results = onnxCheck(list.map((l) => l.bytes));
    assert.deepEqual(results.map((r, i) => (r.ok ? '' : `${list[i]!.file}: ${r.error}`)).filter(Boolean), []);
  });

  it('back to float32: the original graph (no Cast left over) within float16 precision of the original outputs', async () => {
    for (const [file, c] of converted) {
      const orig = decodeModel(c.orig);
      const back = decodeModel(c.back);
      const [a, b] = [opCounts(orig), opCounts(back)];
      // The float16 direction also drops the no-op Casts some exporters leave (silero v5 casts float to float).
      for (const op of Object.keys({ ...a, ...b })) if (op !== 'Cast') assert.equal(b[op], a[op], `${file}: ${op}`);
      assert.ok((b.Cast ?? 0) <= (a.Cast ?? 0), `${file}: ${b.Cast} Casts, ${a.Cast} before`);
      for (const i of back.graph!.input) assert.equal(ioType(back.graph!.input, i.name), ioType(orig.graph!.input, i.name), `${file}: input ${i.name}`);
      await assertSameOutputs(host, orig, back, FIXTURE_FEEDS[file]!(), 0.99);
    }
  });

  /** 60 chunks of 512 samples at 16 kHz: 12 chunks of a voiced, vowel-like sound (pulses through formant filters), then 4 of faint noise. */
  function speechLike(chunks: number, size = 512, sr = 16000): Float32Array[] {
    let s = 12345;
    const noise = () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s / 2 ** 31 - 1;
    };
    const formants = [700, 1220, 2600].map((f, k) => ({ f, bw: 80 + 40 * k, y1: 0, y2: 0 }));
    let phase = 0;
    const out: Float32Array[] = [];
    for (let c = 0; c < chunks; c++) {
      const voiced = c % 16 < 12;
      const a = new Float32Array(size);
      for (let i = 0; i < size; i++) {
        const time = (c * size + i) / sr;
        phase += (130 + 30 * Math.sin(2 * Math.PI * 3 * time)) / sr;
        let x = voiced ? 0.02 * noise() : 0.003 * noise();
        if (voiced && phase >= 1) {
          phase -= 1;
          x += 1;
        }
        let y = 0;
        for (const r of formants) {
          const R = Math.exp((-Math.PI * r.bw) / sr);
          const v = x + 2 * R * Math.cos((2 * Math.PI * r.f) / sr) * r.y1 - R * R * r.y2;
          r.y2 = r.y1;
          r.y1 = v;
          y += v;
        }
        a[i] = voiced ? 0.15 * y : x;
      }
      out.push(a);
    }
    return out;
  }

  /** Speech probabilities over the chunks, the recurrent state carried from one chunk to the next. */
  async function vadProbs(bytes: Uint8Array, legacy: boolean, chunks: Float32Array[]): Promise<number[]> {
    const s = await host.load({ bytes, key: `vad-${Math.random()}` });
    const zeros = (shape: number[]): Tensor => ({ dtype: 'float32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
    let state: Record<string, Tensor> = legacy ? { h: zeros([2, 1, 64]), c: zeros([2, 1, 64]) } : { state: zeros([2, 1, 128]) };
    const probs: number[] = [];
    for (const chunk of chunks) {
      const r = await host.run(s.id, { input: { dtype: 'float32', shape: [1, 512], data: chunk }, sr: { dtype: 'int64', shape: [], data: new BigInt64Array([16000n]) }, ...state });
      probs.push((r.outputs.output!.data as Float32Array)[0]!);
      state = legacy ? { h: r.outputs.hn!, c: r.outputs.cn! } : { state: r.outputs.stateN! };
    }
    await host.release(s.id);
    return probs;
  }

  it('VAD: over 60 chunks with the state carried, at most 1% of speech decisions flip (and clamping is what keeps them)', async (t) => {
    const chunks = speechLike(60);
    for (const [file, legacy] of [
      ['silero_vad_v5.onnx', false],
      ['silero_vad_legacy.onnx', true],
    ] as const) {
      const c = converted.get(file)!;
      const a = await vadProbs(c.orig, legacy, chunks);
      const b = await vadProbs(c.half, legacy, chunks);
      const flips = a.filter((p, i) => p > 0.5 !== b[i]! > 0.5).length;
      const speech = a.filter((p) => p > 0.5).length;
      const maxDiff = Math.max(...a.map((p, i) => Math.abs(p - b[i]!)));
      let unclamped = '';
      if (legacy) {
        const q = new QModel(decodeModel(c.orig));
        convertFp16(q, { clamp: false });
        const u = await vadProbs(encodeModel(q.proto), legacy, chunks);
        unclamped = `; without clamping ${a.filter((p, i) => p > 0.5 !== u[i]! > 0.5).length} flips`;
      }
      t.diagnostic(`${file}: ${speech}/60 chunks speech, ${flips} flips, max |Δp| ${maxDiff.toFixed(4)}${unclamped}`);
      assert.ok(speech >= 10 && speech <= 55, `${file}: the signal should give both decisions (${speech} speech)`);
      assert.ok(flips <= 0.01 * chunks.length, `${file}: ${flips} flips`);
    }
  });

  it('det: cosine at least as good as onnxconverter-common (which converts BatchNormalization)', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-occ-'));
    try {
      const out = path.join(dir, 'det_occ.onnx');
      const py = `
import sys, warnings, onnx
warnings.simplefilter('ignore')
from onnxconverter_common import float16
onnx.save(float16.convert_float_to_float16(onnx.load(sys.argv[1]), keep_io_types=True), sys.argv[2])`;
      const r = spawnSync(python(), ['-c', py, fixture('ch_PP-OCRv4_det_infer.onnx'), out], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const c = converted.get('ch_PP-OCRv4_det_infer.onnx')!;
      const feeds = FIXTURE_FEEDS['ch_PP-OCRv4_det_infer.onnx']!();
      const ours = (await runBoth(host, c.orig, c.half, feeds)).outputs[0]!;
      const theirs = (await runBoth(host, c.orig, new Uint8Array(fs.readFileSync(out)), feeds)).outputs[0]!;
      t.diagnostic(`det cosine: Modelyard ${ours.cosine}, onnxconverter-common ${theirs.cosine}; max abs error ${ours.maxAbsError} vs ${theirs.maxAbsError}; size ${c.half.length} vs ${fs.statSync(out).size} bytes`);
      assert.ok(ours.cosine! >= 0.99);
      assert.ok(ours.cosine! >= theirs.cosine! - 1e-6, `${ours.cosine} < ${theirs.cosine}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the whole conversion runs at ≥ 50 MB of weights per second', (t) => {
    const big = encodeModel((() => {
      const m = model({
        name: 'big',
        input: [valueInfo('X', DT.FLOAT, [1, 1024])],
        output: [valueInfo('Y', DT.FLOAT, [1, 1024])],
        initializer: [0, 1, 2, 3].map((i) => floatTensor(`w${i}`, [1024, 1024], wave(0.1, 0.01 + i))),
        node: [0, 1, 2, 3].map((i) => node('MatMul', [i ? `h${i}` : 'X', `w${i}`], [i === 3 ? 'Y' : `h${i + 1}`])),
      });
      return m;
    })());
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const q = new QModel(decodeModel(big));
      const t0 = performance.now();
      convertFp16(q);
      best = Math.min(best, performance.now() - t0);
    }
    const mbs = 16.8 / (best / 1000);
    t.diagnostic(`convertFp16 on 16.8 MB of MatMul weights: ${best.toFixed(0)} ms, ${mbs.toFixed(0)} MB/s`);
    assert.ok(mbs >= 50, `${mbs.toFixed(0)} MB/s`);
  });
});
