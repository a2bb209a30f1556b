import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { compareModels, compareOutputs, compareSessions, compareTensors, DEFAULT_TOLERANCES } from '../../src/core/inference/compare';
import type { InferenceHost } from '../../src/core/inference/host';
import type { Tensor } from '../../src/core/inference/tensor';
import { fixture } from '../support/fixtures';
import { FIXTURE_FEEDS, testHost } from '../support/inference';

const t = (shape: number[], values: number[]): Tensor => ({ dtype: 'float32', shape, data: new Float32Array(values) });

describe('compareTensors', () => {
  it('identical outputs: no error, cosine 1, full top-1 agreement, pass', () => {
    const a = t([2, 3], [0.1, 0.7, 0.2, 0.5, 0.4, 0.1]);
    const c = compareTensors('probs', a, a);
    assert.equal(c.pass, true);
    assert.equal(c.maxAbsError, 0);
    assert.equal(c.maxRelError, 0);
    assert.equal(c.cosine, 1);
    assert.deepEqual(c.top1, { agreement: 1, rows: 2 });
    assert.deepEqual(c.reasons, []);
  });

  it('measures abs/rel errors and cosine, and fails past atol + rtol·|a|', () => {
    const a = t([1, 4], [1, 2, 3, 4]);
    const b = t([1, 4], [1, 2, 3.5, 4]);
    const c = compareTensors('y', a, b);
    assert.equal(c.maxAbsError, 0.5);
    assert.equal(c.maxAbsIndex, 2);
    assert.ok(Math.abs(c.maxRelError - 0.5 / 3.5) < 1e-7);
    assert.ok(Math.abs(c.meanRelError - 0.5 / 3.5 / 4) < 1e-7);
    assert.equal(c.mismatches, 1);
    assert.equal(c.pass, false);
    assert.match(c.reasons[0]!, /^output 'y': 1 of 4 values differ by more than atol 0\.0001 \+ rtol 0\.001·\|a\| \(max abs error 0\.5 at index 2/);
    assert.deepEqual(c.top1, { agreement: 1, rows: 1 });
    assert.equal(compareTensors('y', a, b, { atol: 0.6, rtol: 0, minCosine: 0.99 }).pass, true);
    const flipped = compareTensors('y', a, t([1, 4], [4, 3, 2, 1]), { atol: 10, rtol: 0, minCosine: 0.99 });
    assert.equal(flipped.pass, false);
    assert.match(flipped.reasons.join(), /cosine similarity 0\.667 is below 0\.99/);
    assert.deepEqual(flipped.top1, { agreement: 0, rows: 1 });
  });

  it('reports shape and dtype mismatches, NaN where the other has a number, and exact integer comparisons', () => {
    const shape = compareTensors('y', t([2, 2], [1, 2, 3, 4]), t([4], [1, 2, 3, 4]));
    assert.deepEqual(shape.reasons, ["output 'y': shape [2,2] in A, [4] in B"]);
    assert.equal(shape.compared, true);
    const dtype = compareTensors('y', t([2], [1, 2]), { dtype: 'float16', shape: [2], data: new Uint16Array([0x3c00, 0x4000]) });
    assert.deepEqual(dtype.reasons, ["output 'y': dtype float32 in A, float16 in B"]);
    assert.equal(dtype.maxAbsError, 0, 'values still compared');
    const count = compareTensors('y', t([2], [1, 2]), t([3], [1, 2, 3]));
    assert.equal(count.compared, false);
    const nan = compareTensors('y', t([3], [1, NaN, NaN]), t([3], [1, 2, NaN]));
    assert.equal(nan.mismatches, 1, 'NaN against NaN is equal');
    assert.equal(nan.nanA, 2);
    assert.equal(nan.nanB, 1);
    const ints = compareTensors('ids', { dtype: 'int64', shape: [2], data: new BigInt64Array([1n, 5n]) }, { dtype: 'int64', shape: [2], data: new BigInt64Array([1n, 6n]) }, { atol: 0, rtol: 0, minCosine: 0 });
    assert.equal(ints.mismatches, 1);
    assert.equal(ints.cosine, null);
    assert.equal(ints.top1, undefined);
    const strs = compareTensors('s', { dtype: 'string', shape: [2], data: ['a', 'b'] }, { dtype: 'string', shape: [2], data: ['a', 'c'] });
    assert.match(strs.reasons[0]!, /1 of 2 strings differ/);
  });

  it('compareOutputs matches by name, by position when all names changed, and lists the unmatched', () => {
    const x = t([1], [1]);
    assert.deepEqual(compareOutputs({ a: x, b: x }, { a: x, c: x }).onlyInA, ['b']);
    assert.deepEqual(compareOutputs({ a: x, b: x }, { a: x, c: x }).onlyInB, ['c']);
    const renamed = compareOutputs({ logits: x }, { output_0: x });
    assert.equal(renamed.outputs[0]!.nameB, 'output_0');
    assert.equal(renamed.outputs[0]!.pass, true);
  });
});

describe('compareModels and compareSessions', () => {
  let host: InferenceHost;
  before(() => {
    host = testHost();
  });
  after(() => host.dispose());

  it('a model against itself: identical, the verdict passes, latency ratio near 1', async () => {
    const r = await compareModels(host, { path: fixture('ch_ppocr_mobile_v2.0_cls_infer.onnx') }, { bytes: fs.readFileSync(fixture('ch_ppocr_mobile_v2.0_cls_infer.onnx')), key: 'same' }, {
      feeds: FIXTURE_FEEDS['ch_ppocr_mobile_v2.0_cls_infer.onnx']!(),
      runs: 5,
    });
    assert.deepEqual(r.verdict, { pass: true, reasons: [] });
    assert.equal(r.outputs.length, 1);
    assert.equal(r.outputs[0]!.maxAbsError, 0);
    assert.equal(r.outputs[0]!.cosine, 1);
    assert.deepEqual(r.outputs[0]!.top1, { agreement: 1, rows: 1 });
    assert.ok(r.latency && r.latency.ratio > 0.3 && r.latency.ratio < 3, JSON.stringify(r.latency));
    assert.deepEqual(r.tolerances, DEFAULT_TOLERANCES);
    assert.equal(host.session('s1'), undefined, 'sessions released');
  });

  it('makes its own seeded inputs when none are given', async () => {
    const r = await compareModels(host, { path: fixture('hello_deepa.onnx') }, { path: fixture('hello_deepa.onnx') }, { runs: 0 });
    assert.equal(r.verdict.pass, true);
    assert.deepEqual(r.feeds['onnx::Flatten_0']!.shape, [1, 25, 96]);
    assert.equal(r.latency, undefined);
  });

  it('a perturbed input to one side fails the verdict, with the reasons', async () => {
    const feeds = FIXTURE_FEEDS['silero_vad_v5.onnx']!();
    const noisy = { ...feeds, input: { ...feeds.input!, data: (feeds.input!.data as Float32Array).map((v, i) => v + (i % 2 ? 0.3 : -0.3)) } };
    const model = { path: fixture('silero_vad_v5.onnx') };
    const same = await compareModels(host, model, model, { feeds, runs: 1, tolerances: { atol: 0, rtol: 0, minCosine: 1 } });
    assert.equal(same.verdict.pass, true, 'exactly equal: even zero tolerances pass');
    const r = await compareModels(host, model, model, { feeds, feedsB: noisy, runs: 1 });
    assert.equal(r.verdict.pass, false);
    const state = r.outputs.find((o) => o.name === 'stateN')!;
    assert.ok(state.mismatches > 0 && state.maxAbsError > 1e-3);
    assert.ok(r.verdict.reasons.some((why) => /^output 'stateN': \d+ of 256 values differ by more than atol/.test(why)), r.verdict.reasons.join('\n'));
  });

  it('compareSessions on loaded sessions: two thread settings of one model agree', async () => {
    const file = fixture('ch_PP-OCRv4_rec_infer.onnx');
    const a = await host.load({ path: file }, { intraOpThreads: 1 });
    const b = await host.load({ path: file }, { intraOpThreads: 2, graphOptimizationLevel: 'basic' });
    const r = await compareSessions(host, a.id, b.id, FIXTURE_FEEDS['ch_PP-OCRv4_rec_infer.onnx']!(), { runs: 2 });
    assert.equal(r.verdict.pass, true, r.verdict.reasons.join('\n'));
    const out = r.outputs[0]!;
    assert.deepEqual(out.shapeA, [1, 40, 6625]);
    assert.equal(out.top1!.rows, 40);
    assert.equal(out.top1!.agreement, 1);
    assert.equal(r.latency!.runs, 2);
    await host.release(a.id);
    await host.release(b.id);
  });

  it('two different models on the same inputs: the verdict fails, naming the outputs', async () => {
    // The v5 and legacy VAD models share `input` and `sr`; their other inputs and outputs differ.
    const v5 = await host.load({ path: fixture('silero_vad_v5.onnx') });
    const legacy = await host.load({ path: fixture('silero_vad_legacy.onnx') });
    const feedsA = FIXTURE_FEEDS['silero_vad_v5.onnx']!();
    const ra = await host.run(v5.id, feedsA);
    const rb = await host.run(legacy.id, FIXTURE_FEEDS['silero_vad_legacy.onnx']!());
    const c = compareOutputs(ra.outputs, rb.outputs);
    assert.deepEqual(c.onlyInA, ['stateN']);
    assert.deepEqual(c.onlyInB.sort(), ['cn', 'hn']);
    assert.equal(c.outputs[0]!.name, 'output');
    await host.release(v5.id);
    await host.release(legacy.id);
  });
});
