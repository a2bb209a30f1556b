// Static int8 inside If, Loop and Scan bodies (calibration carries each body value's range out; the quantizer
// rewrites every graph), and quantization of models with open audio/sequence dims (guessed sizes the model runs on,
// or an error that names the dim and the --shape that sets it). Generated graphs at opset 18 with a reflect Pad and
// Convs in If branches, a Loop and a Scan; the silero v5 fixture on real speech (jfk.wav). All in the real
// onnxruntime-node, and onnx.checker on the results.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { UserError } from '../../src/core/errors';
import { elementCount, type Tensor } from '../../src/core/inference/tensor';
import { decodeWav, encodeWav } from '../../src/core/inference/wav';
import { AttributeProto_AttributeType as AT, AttributeProtoSchema, GraphProtoSchema, ModelProtoSchema, TensorProto_DataType as DT, type ModelProto, type NodeProto, type TensorProto } from '../../src/core/onnx/gen/onnx_pb';
import { decodeModel, encodeModel } from '../../src/core/onnx/model';
import { calibrate } from '../../src/core/quantize/calibrate';
import { makeNode, makeTensor, QModel } from '../../src/core/quantize/graph';
import { quantize } from '../../src/core/quantize/quantize';
import { calibrationTargets, quantizeStatic } from '../../src/core/quantize/static';
import { fixture } from '../support/fixtures';
import { pseudoRandom, testHost } from '../support/inference';
import { valueInfo } from '../support/onnx-models';
import { onnxCheck, opCounts, runBoth } from '../support/quantize';

const host = testHost();
after(async () => {
  await host.availableProviders().catch(() => {});
  await host.dispose();
});
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-qsub-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const f32 = (shape: number[], seed: number, scale = 1): Tensor => ({ dtype: 'float32', shape, data: pseudoRandom(elementCount(shape), seed).map((v) => v * scale) });
const weight = (name: string, shape: number[], seed: number, scale: number): TensorProto => makeTensor(name, 'float32', shape, pseudoRandom(elementCount(shape), seed).map((v) => v * scale));
const ints = (name: string, values: number[]) => makeTensor(name, 'int64', [values.length], BigInt64Array.from(values, BigInt));
const graphAttr = (name: string, g: Parameters<typeof create<typeof GraphProtoSchema>>[1]) => create(AttributeProtoSchema, { name, type: AT.GRAPH, g: create(GraphProtoSchema, g) });

function modelOf(opset: number, nodes: NodeProto[], inits: TensorProto[], inputs: ReturnType<typeof valueInfo>[], outputs: ReturnType<typeof valueInfo>[]): ModelProto {
  return create(ModelProtoSchema, { irVersion: 10n, producerName: 'modelyard-test', opsetImport: [{ domain: '', version: BigInt(opset) }], graph: { name: 'g', node: nodes, initializer: inits, input: inputs, output: outputs } });
}

/**
 * An audio front end at opset 18, as recent PyTorch exports them: audio [batch, samples] and sr → If (sr = 16000):
 * each branch Unsqueeze → reflect Pad (32 each side: fewer than 33 samples fail) → Conv(1→32, k 64, stride 32) →
 * Relu → Conv(32→32, k 3) → Relu → ReduceMean over time → [batch, 32]. The 16 kHz branch holds its weights in
 * Constant nodes (as silero v5 does), the 8 kHz one as initializers of the branch.
 */
function audioIf(): ModelProto {
  const branch = (tag: string, seed: number, constants: boolean) => {
    const ws = [weight(`${tag}_w1`, [32, 1, 64], seed, 0.2), weight(`${tag}_b1`, [32], seed + 1, 0.05), weight(`${tag}_w2`, [32, 32, 3], seed + 2, 0.1), weight(`${tag}_b2`, [32], seed + 3, 0.05)];
    const node: NodeProto[] = constants ? ws.map((w) => makeNode('Constant', [], [w.name], { name: `${w.name}_const`, attrs: { value: w } })) : [];
    node.push(
      makeNode('Unsqueeze', ['audio', 'axis1'], [`${tag}_u`], { name: `${tag}/unsqueeze` }),
      makeNode('Pad', [`${tag}_u`, 'pads'], [`${tag}_p`], { name: `${tag}/pad`, attrs: { mode: 'reflect' } }),
      makeNode('Conv', [`${tag}_p`, `${tag}_w1`, `${tag}_b1`], [`${tag}_c1`], { name: `${tag}/conv1`, attrs: { strides: [32], kernel_shape: [64] } }),
      makeNode('Relu', [`${tag}_c1`], [`${tag}_r1`], { name: `${tag}/relu1` }),
      makeNode('Conv', [`${tag}_r1`, `${tag}_w2`, `${tag}_b2`], [`${tag}_c2`], { name: `${tag}/conv2`, attrs: { pads: [1, 1], kernel_shape: [3] } }),
      makeNode('Relu', [`${tag}_c2`], [`${tag}_r2`], { name: `${tag}/relu2` }),
      makeNode('ReduceMean', [`${tag}_r2`, 'axis2'], [`${tag}_out`], { name: `${tag}/mean`, attrs: { keepdims: 0 } }),
    );
    return { name: tag, node, initializer: constants ? [] : ws, output: [valueInfo(`${tag}_out`, DT.FLOAT, ['batch', 32])] };
  };
  const iff = makeNode('If', ['is16k'], ['features'], { name: 'rate_switch' });
  iff.attribute.push(graphAttr('then_branch', branch('hi', 21, true)), graphAttr('else_branch', branch('lo', 41, false)));
  return modelOf(
    18,
    [makeNode('Equal', ['sr', 'k16000'], ['is16k'], { name: 'is_16k' }), iff],
    [makeTensor('k16000', 'int64', [], new BigInt64Array([16000n])), ints('axis1', [1]), ints('axis2', [2]), ints('pads', [0, 0, 32, 0, 0, 32])],
    [valueInfo('audio', DT.FLOAT, ['batch', 'samples']), valueInfo('sr', DT.INT64, [])],
    [valueInfo('features', DT.FLOAT, ['batch', 32])],
  );
}

/** x [1,4,8] → Loop ×3 { v → Conv(4→4, k 3, weights of the main graph) → Relu } → y: the range grows each turn. */
function convLoop(): ModelProto {
  const body = {
    name: 'body',
    node: [
      makeNode('Conv', ['v', 'lw', 'lb'], ['lc'], { name: 'loop/conv', attrs: { pads: [1, 1], kernel_shape: [3] } }),
      makeNode('Relu', ['lc'], ['v_next'], { name: 'loop/relu' }),
      makeNode('Identity', ['cond_in'], ['cond_out'], { name: 'loop/cond' }),
    ],
    input: [valueInfo('iter', DT.INT64, []), valueInfo('cond_in', DT.BOOL, []), valueInfo('v', DT.FLOAT, [1, 4, 8])],
    output: [valueInfo('cond_out', DT.BOOL, []), valueInfo('v_next', DT.FLOAT, [1, 4, 8])],
  };
  const loop = makeNode('Loop', ['trips', '', 'x'], ['y'], { name: 'repeat' });
  loop.attribute.push(graphAttr('body', body));
  return modelOf(18, [loop], [makeTensor('trips', 'int64', [], new BigInt64Array([3n])), weight('lw', [4, 4, 3], 61, 0.6), weight('lb', [4], 62, 0.3)], [valueInfo('x', DT.FLOAT, [1, 4, 8])], [valueInfo('y', DT.FLOAT, [1, 4, 8])]);
}

/** The same three turns unrolled into the main graph: r1, r2, r3 are the Loop's v_next of each turn. */
function convUnrolled(): ModelProto {
  const nodes: NodeProto[] = [];
  let v = 'x';
  for (let i = 1; i <= 3; i++) {
    nodes.push(makeNode('Conv', [v, 'lw', 'lb'], [`c${i}`], { name: `conv${i}`, attrs: { pads: [1, 1], kernel_shape: [3] } }), makeNode('Relu', [`c${i}`], [`r${i}`], { name: `relu${i}` }));
    v = `r${i}`;
  }
  return modelOf(18, nodes, [weight('lw', [4, 4, 3], 61, 0.6), weight('lb', [4], 62, 0.3)], [valueInfo('x', DT.FLOAT, [1, 4, 8])], [valueInfo('r3', DT.FLOAT, [1, 4, 8])]);
}

/** s [1,16], xs [5,1,16] → Scan { s' = Relu(MatMul(s, W) + x_t) } → final s and every s'. */
function matmulScan(): ModelProto {
  const body = {
    name: 'step',
    node: [
      makeNode('MatMul', ['s_in', 'sw'], ['sm'], { name: 'scan/matmul' }),
      makeNode('Add', ['sm', 'x_t'], ['sa'], { name: 'scan/add' }),
      makeNode('Relu', ['sa'], ['s_out'], { name: 'scan/relu' }),
      makeNode('Identity', ['s_out'], ['y_t'], { name: 'scan/copy' }),
    ],
    input: [valueInfo('s_in', DT.FLOAT, [1, 16]), valueInfo('x_t', DT.FLOAT, [1, 16])],
    output: [valueInfo('s_out', DT.FLOAT, [1, 16]), valueInfo('y_t', DT.FLOAT, [1, 16])],
  };
  const scan = makeNode('Scan', ['s0', 'xs'], ['s_final', 'ys'], { name: 'steps', attrs: { num_scan_inputs: 1 } });
  scan.attribute.push(graphAttr('body', body));
  return modelOf(18, [scan], [weight('sw', [16, 16], 71, 0.3)], [valueInfo('s0', DT.FLOAT, [1, 16]), valueInfo('xs', DT.FLOAT, [5, 1, 16])], [valueInfo('s_final', DT.FLOAT, [1, 16]), valueInfo('ys', DT.FLOAT, [5, 1, 16])]);
}

const audioFeeds = (n: number, sr: number, seed = 1) => Array.from({ length: n }, (_, i) => ({ audio: f32([1, 512], seed + i, 0.5), sr: { dtype: 'int64', shape: [], data: new BigInt64Array([BigInt(sr)]) } as Tensor }));

async function staticOf(m: ModelProto, feeds: Record<string, Tensor>[]) {
  const bytes = encodeModel(m);
  const ranges = await calibrate(bytes, feeds, host, { method: 'minmax' });
  const q = new QModel(decodeModel(bytes));
  const form = quantizeStatic(q, { ranges, perChannel: true });
  return { bytes, ranges, form, out: encodeModel(q.proto) };
}

let optCount = 0;
async function optimizedOps(bytes: Uint8Array): Promise<Record<string, number>> {
  const file = path.join(dir, `opt-${optCount++}.onnx`);
  const s = await host.load({ bytes, key: `opt-${Math.random()}` }, { optimizedModelFilePath: file });
  try {
    return opCounts(decodeModel(fs.readFileSync(file)));
  } finally {
    await host.release(s.id);
  }
}

describe('static int8 inside If, Loop and Scan bodies', () => {
  it('If at opset 18: the Convs of the branch the samples take are calibrated there, quantized, and folded into QLinearConv; the other branch stays float, and says why', async () => {
    const m = audioIf();
    const targets = calibrationTargets(new QModel(m), {});
    assert.ok(targets.includes('hi_c1') || targets.includes('hi_r1'), `targets inside the branches: ${targets.join(', ')}`);
    const { ranges, form, out, bytes } = await staticOf(m, audioFeeds(6, 16000));
    assert.ok(ranges.has('hi_r1') && ranges.has('hi_r2'), 'values of the 16 kHz branch measured');
    assert.ok(!ranges.has('lo_r1'), 'the 8 kHz branch never ran: nothing measured there');
    assert.ok(ranges.get('hi_r1')!.min >= 0 && ranges.get('hi_r1')!.max > 0);
    const conv = (tag: string) => form.decisions.filter((d) => d.opType === 'Conv' && d.node.startsWith(tag));
    assert.deepEqual(conv('hi/').map((d) => [d.node, d.action, d.graph]), [
      ['hi/conv1', 'converted', 'rate_switch/then_branch'],
      ['hi/conv2', 'converted', 'rate_switch/then_branch'],
    ]);
    assert.deepEqual(conv('lo/').map((d) => d.action), ['kept', 'kept']);
    assert.match(conv('lo/')[0]!.reason, /no calibrated range .*the samples may not reach this subgraph/);
    assert.ok(form.notes.some((n) => /2 Conv\/MatMul\/Gemm nodes inside If\/Loop\/Scan bodies quantized/.test(n)), form.notes.join(' | '));
    // The float weights of the converted branch were Constant nodes: they are gone, int8 ones in their place.
    assert.equal(opCounts(decodeModel(out)).Constant ?? 0, 0);
    assert.ok((await optimizedOps(out)).QLinearConv! >= 2, 'onnxruntime folds the groups inside the branch');
    for (const feeds of [...audioFeeds(2, 16000, 100), ...audioFeeds(1, 8000, 200)]) {
      const r = await runBoth(host, bytes, out, feeds);
      assert.ok(r.outputs[0]!.cosine! > 0.99, `cosine ${r.outputs[0]!.cosine} at ${feeds.sr.data[0]} Hz`);
    }
    assert.deepEqual(onnxCheck([out]).map((c) => c.error), [null]);
  });

  it('Loop: a body value is measured over every turn (the same ranges as the turns unrolled), quantized, and folded', async () => {
    const feeds = Array.from({ length: 4 }, (_, i) => ({ x: f32([1, 4, 8], 80 + i) }));
    const { ranges, form, out, bytes } = await staticOf(convLoop(), feeds);
    const unrolled = await calibrate(encodeModel(convUnrolled()), feeds, host, { method: 'minmax', tensors: ['x', 'r1', 'r2', 'r3'] });
    const over = (names: string[]) => ({ min: Math.min(...names.map((n) => unrolled.get(n)!.min)), max: Math.max(...names.map((n) => unrolled.get(n)!.max)) });
    const close = (a: { min: number; max: number }, b: { min: number; max: number }, what: string) =>
      assert.ok(Math.abs(a.min - b.min) <= 1e-5 * (1 + Math.abs(b.min)) && Math.abs(a.max - b.max) <= 1e-5 * (1 + Math.abs(b.max)), `${what}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    close(ranges.get('v')!, over(['x', 'r1', 'r2']), "the body input 'v' (x, then each turn's output)");
    close(ranges.get('v_next')!, over(['r1', 'r2', 'r3']), "the body output 'v_next'");
    assert.deepEqual(form.decisions.filter((d) => d.action === 'converted').map((d) => [d.node, d.graph]), [['loop/conv', 'repeat/body']]);
    assert.equal((await optimizedOps(out)).QLinearConv, 1);
    const r = await runBoth(host, bytes, out, { x: f32([1, 4, 8], 99) });
    assert.ok(r.outputs[0]!.cosine! > 0.99, `cosine ${r.outputs[0]!.cosine}`);
    assert.deepEqual(onnxCheck([out]).map((c) => c.error), [null]);
  });

  it('Scan: the MatMul of the step is calibrated over the sequence, quantized, and folded into QLinearMatMul', async () => {
    const feeds = Array.from({ length: 4 }, (_, i) => ({ s0: f32([1, 16], 90 + i), xs: f32([5, 1, 16], 95 + i) }));
    const { ranges, form, out, bytes } = await staticOf(matmulScan(), feeds);
    assert.ok(ranges.has('s_in') && ranges.has('sm'), [...ranges.keys()].join(', '));
    assert.deepEqual(form.decisions.filter((d) => d.opType === 'MatMul').map((d) => [d.action, d.graph]), [['converted', 'steps/body']]);
    assert.equal((await optimizedOps(out)).QLinearMatMul, 1);
    const r = await runBoth(host, bytes, out, { s0: f32([1, 16], 123), xs: f32([5, 1, 16], 124) });
    for (const o of r.outputs) assert.ok(o.cosine! > 0.99, `${o.name}: cosine ${o.cosine}`);
    assert.deepEqual(onnxCheck([out]).map((c) => c.error), [null]);
  });
});

describe('quantize with open audio and sequence dims', () => {
  const write = (name: string, m: ModelProto) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, encodeModel(m));
    return file;
  };

  it('[batch, samples] with a sample rate beside it: Auto runs on 512-sample random chunks (a one-sample one fails the reflect Pad) and says what it guessed', async () => {
    const input = write('audio-if.onnx', audioIf());
    const r = await quantize({ input, mode: 'auto', host, latencyRuns: 2 });
    assert.ok(r.verdict.pass, r.verdict.reasons.join('; '));
    assert.ok(r.auto!.candidates.some((c) => c.mode === 'int8-static' && c.pass), JSON.stringify(r.auto!.candidates));
    assert.ok(r.notes.some((n) => n.includes('audio[1] (samples) = 512')), r.notes.join(' | '));
    const s = await quantize({ input, mode: 'int8-static', host, latencyRuns: 0 });
    assert.deepEqual(s.decisions.filter((d) => d.opType === 'Conv' && d.action === 'converted').map((d) => d.node), ['hi/conv1', 'hi/conv2']);
  });

  it('a length none of the usual sizes fit: the error names the dim, the sizes tried and the --shape that sets it; with --shape it runs', async () => {
    // [batch, samples] → Reshape [-1, 21, 21] → MatMul: only multiples of 441 samples run. No sample rate input:
    // the first guess is one second at 16 kHz.
    const m = modelOf(
      18,
      [makeNode('Reshape', ['audio', 'grid'], ['sq'], { name: 'square' }), makeNode('MatMul', ['sq', 'mw'], ['y'], { name: 'mix' })],
      [ints('grid', [-1, 21, 21]), weight('mw', [21, 21], 5, 0.2)],
      [valueInfo('audio', DT.FLOAT, ['batch', 'samples'])],
      [valueInfo('y', DT.FLOAT, [null, 21, 21])],
    );
    const input = write('audio-441.onnx', m);
    await assert.rejects(quantize({ input, mode: 'int8-dynamic', host, latencyRuns: 0 }), (e: unknown) => {
      assert.ok(e instanceof UserError, String(e));
      assert.match(e.message, /does not run on random inputs of these sizes: audio \[1,16000\] \(dim 1 \(samples\) guessed 16000 as audio, also tried 512, 1024, 1280, 4000, 8000, 256\)/);
      assert.match(e.message, /Reshape/);
      assert.doesNotMatch(e.message + e.hint, /calibrat(e|ion) badly/);
      assert.match(e.hint ?? '', /--shape audio=1,N/);
      return true;
    });
    const r = await quantize({ input, mode: 'int8-dynamic', host, latencyRuns: 0, shapes: ['audio=1,441'] });
    assert.ok(r.verdict.pass, r.verdict.reasons.join('; '));
    assert.ok(!r.notes.some((n) => n.includes('guessed')), 'nothing left to guess');
  });
});

describe('silero v5 on real speech', () => {
  it('static int8 converts Convs inside its If branches and passes the fidelity gate on speech it was not calibrated on', async () => {
    // jfk.wav: 11 s of speech at 16 kHz, cut into 512-sample chunks; even ones calibrate, odd ones validate.
    const audio = decodeWav(fs.readFileSync(fixture('jfk.wav')), 'jfk.wav');
    assert.equal(audio.sampleRate, 16000);
    const cal = path.join(dir, 'speech-cal');
    const val = path.join(dir, 'speech-val');
    fs.mkdirSync(cal);
    fs.mkdirSync(val);
    const step = Math.floor(audio.samples.length / 32 / 512) * 512;
    for (let k = 0; k < 32; k++) {
      const chunk = audio.samples.slice(k * step, k * step + 512);
      fs.writeFileSync(path.join(k % 2 ? val : cal, `${String(k).padStart(2, '0')}.wav`), encodeWav([chunk], 16000));
    }
    const r = await quantize({ input: fixture('silero_vad_v5.onnx'), output: path.join(dir, 'vad.int8.onnx'), mode: 'int8-static', calibration: cal, validation: val, host, latencyRuns: 2 });
    const inBranches = r.decisions.filter((d) => d.opType === 'Conv' && d.action === 'converted' && d.graph !== 'main');
    assert.ok(inBranches.length >= 1, JSON.stringify(r.decisions.filter((d) => d.opType === 'Conv')));
    assert.ok(r.verdict.pass, r.verdict.reasons.join('; '));
    assert.ok(r.fidelity.worstCosine! >= 0.99);
    assert.equal(r.fidelity.samples, 16);
    // The 8 kHz branch never ran on 16 kHz speech: its Convs stay float for that reason.
    assert.ok(r.decisions.some((d) => d.opType === 'Conv' && d.graph.includes('else_branch') && /may not reach this subgraph/.test(d.reason)));
  });
});
