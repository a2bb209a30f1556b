import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CancelledError, isCancelled, UserError } from '../../src/core/errors';
import { InferenceError, type InferenceHost } from '../../src/core/inference/host';
import { readNpy, writeNpy } from '../../src/core/inference/npy';
import type { Tensor } from '../../src/core/inference/tensor';
import type { Logger } from '../../src/core/log';
import { FIXTURES, fixture, python } from '../support/fixtures';
import { FIXTURE_FEEDS, testHost, workerPath } from '../support/inference';
import { encode, model, node, valueInfo } from '../support/onnx-models';
import { AttributeProto_AttributeType as AT, TensorProto_DataType as DT } from '../../src/core/onnx/gen/onnx_pb';

const root = path.resolve(__dirname, '..', '..');
const unhandled: unknown[] = [];
process.on('unhandledRejection', (e) => unhandled.push(e));

let tmp: string;
let host: InferenceHost;
const logged: string[] = [];
const log: Logger = {
  trace() {},
  debug() {},
  info: (m) => logged.push(m),
  warn: (m) => logged.push(m),
  error: (m) => logged.push(String(m)),
};

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-host-'));
  host = testHost({ log });
});
after(async () => {
  await host.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
  assert.deepEqual(unhandled, [], 'no promise rejected without a handler');
});

const f32 = (shape: number[], fill = 0): Tensor => ({ dtype: 'float32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill) });
/** A run of the OCR detector long enough to be stopped in the middle (about 1.5 s on two cores). */
const longDet = () => ({ x: f32([1, 3, 2048, 2048], 0.5) });

async function rejectsWith(p: Promise<unknown>, reason: InferenceError['reason'] | 'user', re: RegExp): Promise<InferenceError | UserError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof UserError, `a UserError, not ${String(e)}`);
    if (reason !== 'user') assert.equal((e as InferenceError).reason, reason, String(e));
    assert.match(e.message, re);
    assert.ok(e.hint, 'a hint names the way out');
    return e;
  }
  assert.fail('expected a rejection');
}

describe('InferenceHost on the fixture models', () => {
  for (const m of FIXTURES) {
    it(`loads and runs ${m.file}`, async () => {
      const s = await host.load({ path: fixture(m.file) }, { intraOpThreads: 1 });
      assert.equal(s.reused, false);
      assert.ok(s.loadMs > 0);
      assert.deepEqual(s.providers, ['cpu']);
      const feeds = FIXTURE_FEEDS[m.file]!();
      assert.deepEqual(s.inputs.map((i) => i.name).sort(), Object.keys(feeds).sort());
      const r = await host.run(s.id, feeds);
      assert.deepEqual(Object.keys(r.outputs).sort(), s.outputs.map((o) => o.name).sort());
      for (const [name, t] of Object.entries(r.outputs)) {
        assert.equal(t.dtype, 'float32', name);
        assert.equal(t.data.length, t.shape.reduce((a, b) => a * b, 1));
        assert.ok(t.data instanceof Float32Array);
      }
      assert.deepEqual(r.nonFinite, {});
      assert.ok(r.ms > 0 && r.workerMs >= r.ms && r.wallMs >= r.workerMs);
      await host.release(s.id);
    });
  }

  it('describes inputs as the model declares them: symbolic names, unknown dims as null', async () => {
    const legacy = await host.load({ path: fixture('silero_vad_legacy.onnx') });
    assert.deepEqual(legacy.inputs, [
      { name: 'input', kind: 'tensor', dtype: 'float32', shape: ['batch', 'sequence'] },
      { name: 'sr', kind: 'tensor', dtype: 'int64', shape: [] },
      { name: 'h', kind: 'tensor', dtype: 'float32', shape: [2, 'batch', 64] },
      { name: 'c', kind: 'tensor', dtype: 'float32', shape: [2, 'batch', 64] },
    ]);
    const v5 = await host.load({ path: fixture('silero_vad_v5.onnx') });
    assert.deepEqual(v5.inputs[0]!.shape, [null, null]);
    await host.release(legacy.id);
    await host.release(v5.id);
  });

  it('agrees with onnxruntime in Python on the same inputs (through .npy files)', async () => {
    const models = ['hello_deepa.onnx', 'silero_vad_v5.onnx', 'ch_ppocr_mobile_v2.0_cls_infer.onnx'];
    const script = `
import sys, os, numpy as np, onnxruntime as ort
model, d = sys.argv[1], sys.argv[2]
s = ort.InferenceSession(model, providers=['CPUExecutionProvider'])
feeds = {i.name: np.load(os.path.join(d, 'in_' + i.name.replace(':', '_') + '.npy')) for i in s.get_inputs()}
for o, v in zip(s.get_outputs(), s.run(None, feeds)):
    np.save(os.path.join(d, 'out_' + o.name.replace(':', '_') + '.npy'), v)
`;
    for (const file of models) {
      const dir = fs.mkdtempSync(path.join(tmp, 'py-'));
      const feeds = FIXTURE_FEEDS[file]!();
      for (const [name, t] of Object.entries(feeds)) fs.writeFileSync(path.join(dir, `in_${name.replace(/:/g, '_')}.npy`), writeNpy(t));
      execFileSync(python(), ['-c', script, fixture(file), dir]);
      const s = await host.load({ path: fixture(file) });
      const r = await host.run(s.id, feeds);
      for (const [name, t] of Object.entries(r.outputs)) {
        const ref = readNpy(fs.readFileSync(path.join(dir, `out_${name.replace(/:/g, '_')}.npy`)));
        assert.deepEqual(t.shape, ref.shape, `${file} ${name}`);
        const a = ref.data as Float32Array;
        const worst = (t.data as Float32Array).reduce((m, v, i) => Math.max(m, Math.abs(v - a[i]!) - 1e-4 * Math.abs(a[i]!)), 0);
        assert.ok(worst <= 1e-5, `${file} ${name}: off by ${worst}`);
      }
      await host.release(s.id);
    }
  });

  it('reuses a session for the same source and options, and reloads a changed file', async () => {
    const file = path.join(tmp, 'wake.onnx');
    fs.copyFileSync(fixture('hello_deepa.onnx'), file);
    const before = logged.filter((l) => l.includes('loaded')).length;
    const a = await host.load({ path: file }, { intraOpThreads: 1 });
    const b = await host.load({ path: path.relative(process.cwd(), file) }, { intraOpThreads: 1 });
    assert.equal(b.id, a.id);
    assert.equal(b.reused, true);
    assert.equal(logged.filter((l) => l.includes('loaded')).length, before + 1, 'onnxruntime loaded it once');
    const c = await host.load({ path: file }, { intraOpThreads: 2 });
    assert.notEqual(c.id, a.id, 'other options, another session');
    // Concurrent loads of one model wait for the first instead of loading twice.
    const [d, e] = await Promise.all([host.load({ path: file }, { graphOptimizationLevel: 'basic' }), host.load({ path: file }, { graphOptimizationLevel: 'basic' })]);
    assert.equal(d.id, e.id);
    // Released as often as loaded, the session is gone.
    await host.release(a.id);
    assert.ok(host.session(a.id), 'one reference left');
    await host.release(b.id);
    assert.equal(host.session(a.id), undefined);
    await rejectsWith(host.run(a.id, {}), 'user', /session s\d+ is not loaded/);
    const t = fs.statSync(file).mtime;
    fs.utimesSync(file, t, new Date(t.getTime() + 5000));
    const f = await host.load({ path: file }, { intraOpThreads: 2 });
    assert.notEqual(f.id, c.id, 'a changed file is another model');
    for (const s of [c, d, e, f]) await host.release(s.id);
  });

  it('loads from bytes under a key (a version read from git)', async () => {
    const bytes = fs.readFileSync(fixture('hello_deepa.onnx'));
    const a = await host.load({ bytes, key: 'abc123:models/wake.onnx', label: 'wake.onnx@v1.0.0' });
    const b = await host.load({ bytes, key: 'abc123:models/wake.onnx' });
    assert.equal(a.id, b.id);
    assert.equal(a.label, 'wake.onnx@v1.0.0');
    const r = await host.run(a.id, FIXTURE_FEEDS['hello_deepa.onnx']!());
    assert.deepEqual(r.outputs['39']!.shape, [1, 1]);
    await host.release(a.id);
    await host.release(b.id);
  });

  it('returns only the outputs asked for', async () => {
    const s = await host.load({ path: fixture('silero_vad_legacy.onnx') });
    const r = await host.run(s.id, FIXTURE_FEEDS['silero_vad_legacy.onnx']!(), { outputs: ['output'] });
    assert.deepEqual(Object.keys(r.outputs), ['output']);
    await rejectsWith(host.run(s.id, FIXTURE_FEEDS['silero_vad_legacy.onnx']!(), { outputs: ['out'] }), 'user', /'out' is not an output of the model; its outputs are output, hn, cn/);
    await host.release(s.id);
  });

  it('counts NaN and Inf in the outputs', async () => {
    const s = await host.load({ path: fixture('hello_deepa.onnx') });
    const r = await host.run(s.id, { 'onnx::Flatten_0': f32([1, 25, 96], NaN) });
    assert.deepEqual(r.nonFinite, { '39': { nan: 1, inf: 0 } });
    assert.deepEqual(JSON.parse(JSON.stringify(r)).nonFinite, { '39': { nan: 1, inf: 0 } }, 'serialisable');
    await host.release(s.id);
  });

  it('gives the same outputs through the shared scratch file and through the IPC channel alone', async () => {
    const plain = testHost({ sharedMemory: false });
    try {
      // The recogniser's output (1 MB) and the classifier's input (110 KB) are above INLINE_MAX_BYTES.
      for (const file of ['ch_PP-OCRv4_rec_infer.onnx', 'ch_ppocr_mobile_v2.0_cls_infer.onnx']) {
        const feeds = FIXTURE_FEEDS[file]!();
        const a = await host.load({ path: fixture(file) });
        const b = await plain.load({ path: fixture(file) });
        const ra = await host.run(a.id, feeds);
        const rb = await plain.run(b.id, feeds);
        for (const [name, t] of Object.entries(ra.outputs)) assert.deepEqual(t, rb.outputs[name], `${file} ${name}`);
        // Twice, with the worker's reused input buffers.
        const again = await host.run(a.id, { x: f32(feeds.x!.shape, 0.25) });
        assert.notDeepEqual(again.outputs, ra.outputs);
        await host.release(a.id);
      }
    } finally {
      await plain.dispose();
    }
  });

  it('gives the bits onnxruntime gives in-process, wherever a feed lands in the message (it feeds aligned memory)', async () => {
    // ReduceSum sums in another order on data that does not start on a 16-byte boundary. A feed arrives in the
    // worker as a view into the IPC message, at an offset that moves with the length of its name: names of 1 to 16
    // characters put it at every offset modulo 16.
    const ort = await import('onnxruntime-node');
    const n = 1000;
    const data = new Float32Array(n).map((_, i) => Math.sin(i * 12.9898) * 43758.5453 - Math.floor(Math.sin(i * 12.9898) * 43758.5453) - 0.5);
    const options = { intraOpThreads: 1, interOpThreads: 1 };
    for (let len = 1; len <= 16; len++) {
      const name = 'x'.repeat(len);
      const bytes = encode(model({ name: 'sum', node: [node('ReduceSum', [name], ['y'])], input: [valueInfo(name, DT.FLOAT, [n])], output: [valueInfo('y', DT.FLOAT, [1])] }));
      const s = await host.load({ bytes, key: `reduce-sum-${len}` }, options);
      const viaHost = (await host.run(s.id, { [name]: { dtype: 'float32', shape: [n], data } })).outputs.y!.data as Float32Array;
      const bare = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
      const inProcess = (await bare.run({ [name]: new ort.Tensor('float32', data.slice(), [n]) })).y!.data as Float32Array;
      assert.equal(viaHost[0], inProcess[0], `feed named ${name}`);
      await bare.release();
      await host.release(s.id);
    }
  });

  it('serves concurrent calls one at a time, each with its own result', async () => {
    const a = await host.load({ path: fixture('hello_deepa.onnx') });
    const b = await host.load({ path: fixture('silero_vad_v5.onnx') });
    const xs = [0, 0.5, 1, -1];
    const results = await Promise.all(xs.flatMap((v) => [host.run(a.id, { 'onnx::Flatten_0': f32([1, 25, 96], v) }), host.run(b.id, FIXTURE_FEEDS['silero_vad_v5.onnx']!())]));
    const alone = await host.run(a.id, { 'onnx::Flatten_0': f32([1, 25, 96], 1) });
    assert.deepEqual(results[4]!.outputs, alone.outputs);
    assert.deepEqual(results[1]!.outputs.output, results[3]!.outputs.output);
    await host.release(a.id);
    await host.release(b.id);
  });

  it('reports the runtime and the execution providers', async () => {
    const info = await host.runtimeInfo();
    assert.equal(info.ortVersion, '1.30.0');
    assert.equal(info.pid, host.pid);
    assert.ok(info.cpus >= 1);
    const providers = await host.availableProviders();
    assert.ok(providers.some((p) => p.name === 'cpu' && p.bundled));
  });
});

describe('InferenceHost refuses bad feeds before onnxruntime sees them', () => {
  let legacy: string;
  let rec: string;
  before(async () => {
    legacy = (await host.load({ path: fixture('silero_vad_legacy.onnx') })).id;
    rec = (await host.load({ path: fixture('ch_PP-OCRv4_rec_infer.onnx') })).id;
  });
  after(async () => {
    await host.release(legacy);
    await host.release(rec);
  });
  const vad = () => FIXTURE_FEEDS['silero_vad_legacy.onnx']!();

  it('names missing and unknown inputs, with what the model expects', async () => {
    const { sr: _sr, ...noSr } = vad();
    await rejectsWith(host.run(legacy, noSr), 'user', /^input 'sr' is missing: the model expects input \(float32 \[batch,sequence\]\), sr \(int64 \[\]\), h \(float32 \[2,batch,64\]\), c \(float32 \[2,batch,64\]\)\.$/);
    await rejectsWith(host.run(legacy, { ...vad(), state: f32([1]) }), 'user', /^'state' is not an input of the model; its inputs are input \(float32/);
  });

  it('names a dtype mismatch', async () => {
    await rejectsWith(host.run(legacy, { ...vad(), sr: { dtype: 'float32', shape: [], data: new Float32Array([16000]) } }), 'user', /^input 'sr' is float32 but the model expects int64\.$/);
    await rejectsWith(host.run(legacy, { ...vad(), sr: { dtype: 'int64', shape: [], data: new Float32Array([1]) as unknown as BigInt64Array } }), 'user', /input 'sr' says int64 but its data is a Float32Array/);
  });

  it('names an element type onnxruntime-node has no tensor for (int4, bfloat16 …), rather than blaming the data', async () => {
    const bytes = encode(
      model({
        name: 'int4',
        node: [node('Cast', ['x'], ['y'], [{ name: 'to', type: AT.INT, i: BigInt(DT.FLOAT) }])],
        input: [valueInfo('x', DT.INT4, [4])],
        output: [valueInfo('y', DT.FLOAT, [4])],
      }),
    );
    const s = await host.load({ bytes, key: 'int4-input' });
    assert.equal(s.inputs[0]!.dtype, 'int4');
    await rejectsWith(host.run(s.id, { x: { dtype: 'int4', shape: [4], data: new Int8Array(2) } }), 'user', /^input 'x' is int4, an element type onnxruntime-node has no tensor for \(it takes float32, .*string\)\.$/);
    await host.release(s.id);
  });

  it('names a rank or dim mismatch against the declared shape; symbolic dims take any size from 1', async () => {
    await rejectsWith(host.run(rec, { x: f32([1, 3, 48]) }), 'user', /^input 'x' has shape \[1,3,48\] but the model expects \[p2o\.DynamicDimension\.0,3,48,p2o\.DynamicDimension\.1\]: 3 dims where the model expects 4\.$/);
    await rejectsWith(host.run(rec, { x: f32([1, 3, 32, 100]) }), 'user', /has shape \[1,3,32,100\] but the model expects \[p2o\.DynamicDimension\.0,3,48,p2o\.DynamicDimension\.1\]: dim 2 must be 48\./);
    await rejectsWith(host.run(rec, { x: f32([0, 3, 48, 100]) }), 'user', /dim 0 \(p2o\.DynamicDimension\.0\) must be at least 1/);
    const r = await host.run(rec, { x: f32([2, 3, 48, 64]) });
    assert.equal(r.outputs['softmax_11.tmp_0']!.shape[0], 2);
  });

  it('names a data length that does not fit the shape', async () => {
    await rejectsWith(host.run(legacy, { ...vad(), h: { dtype: 'float32', shape: [2, 1, 64], data: new Float32Array(100) } }), 'user', /^input 'h' holds 100 values but its shape \[2,1,64\] needs 128\.$/);
    await rejectsWith(host.run(legacy, { ...vad(), h: { dtype: 'float32', shape: [2, -1, 64], data: new Float32Array(128) } }), 'user', /-1 is not a size/);
  });
});

describe('InferenceHost when onnxruntime or the worker fails', () => {
  let det: string;
  before(async () => {
    det = (await host.load({ path: fixture('ch_PP-OCRv4_det_infer.onnx') })).id;
  });
  after(() => host.release(det));

  it('turns onnxruntime load errors into UserErrors with its first line', async () => {
    const junk = path.join(tmp, 'junk.onnx');
    fs.writeFileSync(junk, 'this is not a model');
    await rejectsWith(host.load({ path: junk }), 'onnxruntime', /^onnxruntime could not load .*junk\.onnx: .*(protobuf|Protobuf|parsing)/);
    const script = `
import sys, onnx
from onnx import helper, TensorProto
x = helper.make_tensor_value_info('x', TensorProto.FLOAT, [1])
y = helper.make_tensor_value_info('y', TensorProto.FLOAT, [1])
g = helper.make_graph([helper.make_node('Relu', ['x'], ['y'])], 'g', [x], [y])
m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 99)])
m.ir_version = 10
onnx.save(m, sys.argv[1])
g2 = helper.make_graph([helper.make_node('NoSuchOp', ['x'], ['y'])], 'g', [x], [y])
m2 = helper.make_model(g2, opset_imports=[helper.make_opsetid('', 17)])
m2.ir_version = 8
onnx.save(m2, sys.argv[2])
`;
    const opset = path.join(tmp, 'opset99.onnx');
    const op = path.join(tmp, 'nosuchop.onnx');
    execFileSync(python(), ['-c', script, opset, op]);
    const e = await rejectsWith(host.load({ path: opset }), 'onnxruntime', /^onnxruntime could not load .*opset99\.onnx: .*(opset|Opset).*99/);
    assert.doesNotMatch(e.message, /\n/);
    assert.match(e.hint!, /opset and operators/);
    await rejectsWith(host.load({ path: op }), 'onnxruntime', /^onnxruntime could not load .*nosuchop\.onnx: .*NoSuchOp/);
    await rejectsWith(host.load({ path: path.join(tmp, 'missing.onnx') }), 'user', /^the model file .*missing\.onnx does not exist\.$/);
  });

  it('refuses execution providers onnxruntime-node does not offer, and explains one that fails', async () => {
    await rejectsWith(host.load({ path: fixture('hello_deepa.onnx') }, { executionProviders: ['bogus'] }), 'onnxruntime', /^execution provider 'bogus' is not offered by onnxruntime-node on this platform \(it offers cpu/);
    const cuda = (await host.availableProviders()).find((p) => p.name === 'cuda');
    if (cuda && !cuda.bundled) {
      const e = await rejectsWith(host.load({ path: fixture('hello_deepa.onnx') }, { executionProviders: ['cuda'] }), 'onnxruntime', /^onnxruntime could not load .*hello_deepa\.onnx: .*Cuda/i);
      assert.match(e.hint!, /CUDA and TensorRT need their libraries.*try 'cpu'/);
    }
  });

  it('turns onnxruntime run errors into UserErrors, without its source paths', async () => {
    const e = await rejectsWith(host.run(det, { x: f32([1, 3, 33, 33]) }), 'onnxruntime', /^onnxruntime failed to run the model: Non-zero status code returned while running Add node/);
    assert.doesNotMatch(e.message, /onnxruntime_src/);
    const r = await host.run(det, { x: f32([1, 3, 64, 64]) });
    assert.deepEqual(r.outputs['sigmoid_0.tmp_0']!.shape, [1, 1, 64, 64]);
  });

  it('cancels a run by stopping the worker; the next run starts a fresh one', async () => {
    const pid = (await host.runtimeInfo()).pid;
    const ac = new AbortController();
    const t0 = performance.now();
    const p = host.run(det, longDet(), { signal: ac.signal });
    setTimeout(() => ac.abort(), 300);
    const e = await rejectsWith(p, 'cancelled', /^running .*ch_PP-OCRv4_det_infer\.onnx was cancelled\.$/);
    assert.ok(performance.now() - t0 < 1200, 'rejected at once, not when the run ended');
    assert.ok(isCancelled(e) && e instanceof CancelledError, 'a cancelled run is core\'s one cancellation');
    const r = await host.run(det, { x: f32([1, 3, 64, 64]) });
    assert.deepEqual(r.outputs['sigmoid_0.tmp_0']!.shape, [1, 1, 64, 64]);
    assert.notEqual(host.pid, pid);
    assert.ok(logged.some((l) => /reloading .*det_infer/.test(l)), 'the session was loaded again in the new worker');
  });

  it('rejects a call cancelled while it waits in the queue, without touching the worker', async () => {
    const pid = (await host.runtimeInfo()).pid;
    const first = host.run(det, { x: f32([1, 3, 256, 256]) });
    const ac = new AbortController();
    const second = host.run(det, { x: f32([1, 3, 64, 64]) }, { signal: ac.signal });
    ac.abort();
    await rejectsWith(second, 'cancelled', /cancelled/);
    await first;
    assert.equal(host.pid, pid);
    const already = new AbortController();
    already.abort();
    await rejectsWith(host.run(det, { x: f32([1, 3, 64, 64]) }, { signal: already.signal }), 'cancelled', /cancelled/);
  });

  it('times out a run that takes longer than allowed, naming the setting', async () => {
    const t0 = performance.now();
    await rejectsWith(host.run(det, longDet(), { timeoutMs: 300 }), 'timeout', /^running .*det_infer\.onnx timed out after 0\.3 s: the model ran longer than modelyard\.inference\.timeoutSeconds \(0\.3 s\)\.$/);
    assert.ok(performance.now() - t0 < 1200);
    const r = await host.run(det, { x: f32([1, 3, 64, 64]) }, { timeoutMs: 30_000 });
    assert.ok(r.ms > 0);
  });

  it('reports a worker killed mid-run (SIGKILL, as the OOM killer does) and recovers', async () => {
    const p = host.run(det, longDet());
    await new Promise((r) => setTimeout(r, 400));
    process.kill(host.pid!, 'SIGKILL');
    const e = await rejectsWith(p, 'worker-exit', /^the inference worker stopped \(signal SIGKILL\) while running .*det_infer\.onnx/);
    assert.match(e.hint!, /memory/);
    const r = await host.run(det, { x: f32([1, 3, 64, 64]) });
    assert.ok(r.ms > 0);
  });

  it('reports a native abort (SIGABRT) of the worker', async () => {
    const p = host.run(det, longDet());
    await new Promise((r) => setTimeout(r, 300));
    process.kill(host.pid!, 'SIGABRT');
    const e = await rejectsWith(p, 'worker-exit', /^the inference worker stopped \(signal SIGABRT\) while running/);
    assert.match(e.hint!, /crashed/);
    assert.ok((await host.run(det, { x: f32([1, 3, 64, 64]) })).ms > 0);
  });
});

describe('InferenceHost start-up and shutdown', () => {
  it('names a missing worker bundle', async () => {
    const h = testHost({ workerPath: path.join(tmp, 'nope.js') });
    await rejectsWith(h.runtimeInfo(), 'worker-start', /^the inference worker is missing: .*nope\.js\.$/);
    await h.dispose();
  });

  it('names a worker that dies before it is ready, with its last words', async () => {
    const bad = path.join(tmp, 'dies.js');
    fs.writeFileSync(bad, "console.error('cannot open libonnxruntime.so.1'); process.exit(3);");
    const h = testHost({ workerPath: bad });
    await rejectsWith(h.runtimeInfo(), 'worker-start', /^the inference worker could not start \(exit code 3\): cannot open libonnxruntime\.so\.1\.$/);
    await h.dispose();
    const fatal = path.join(tmp, 'fatal.js');
    fs.writeFileSync(fatal, "process.send({ kind: 'fatal', error: { message: 'onnxruntime-node could not be loaded: gone', hint: 'Reinstall Modelyard.', user: true } }, () => process.exit(1));");
    const h2 = testHost({ workerPath: fatal });
    const e = await rejectsWith(h2.load({ path: fixture('hello_deepa.onnx') }), 'worker-start', /^onnxruntime-node could not be loaded: gone$/);
    assert.equal(e.hint, 'Reinstall Modelyard.');
    await h2.dispose();
  });

  it('quotes the telling line of a worker that dies mid-call, not its stack frames', async () => {
    const dies = path.join(tmp, 'aborts.js');
    fs.writeFileSync(
      dies,
      `process.send({ kind: 'ready', shared: false, runtime: { ortVersion: '1.30.0', ortCommonVersion: '1.30.0', node: process.version, platform: process.platform, arch: process.arch, pid: process.pid, cpus: 1 } });
process.on('message', () => {
  process.stderr.write("terminate called after throwing an instance of 'Ort::Exception'\\n  what():  std::bad_alloc\\n 1: 0xb8d0a3 node::Abort() [node]\\nNode.js v20.20.2\\n");
  setTimeout(() => process.exit(134), 50);
});`,
    );
    const h = testHost({ workerPath: dies, log });
    const e = await rejectsWith(h.load({ path: fixture('hello_deepa.onnx') }), 'worker-exit', /^the inference worker stopped \(exit code 134\) while loading .*hello_deepa\.onnx; it said: what\(\): {2}std::bad_alloc\.$/);
    assert.match(e.hint!, /onnxruntime crashed/);
    assert.ok(logged.some((l) => /worker: terminate called after throwing/.test(l)), 'the worker output is in the log');
    await h.dispose();
  });

  it('quotes the line before a native abort, not the JavaScript stack trace Node prints after it', async () => {
    const dies = path.join(tmp, 'node-abort.js');
    fs.writeFileSync(
      dies,
      `process.send({ kind: 'ready', shared: false, runtime: { ortVersion: '1.30.0', ortCommonVersion: '1.30.0', node: process.version, platform: process.platform, arch: process.arch, pid: process.pid, cpus: 1 } });
process.on('message', () => setTimeout(() => {
  process.stderr.write('onnxruntime fatal: the graph could not be partitioned\\n', () => process.abort());
}, 1));`,
    );
    const h = testHost({ workerPath: dies, log });
    await rejectsWith(h.load({ path: fixture('hello_deepa.onnx') }), 'worker-exit', /^the inference worker stopped \(signal SIGABRT\) while loading .*; it said: onnxruntime fatal: the graph could not be partitioned\.$/);
    await h.dispose();
  });

  it('rejects calls in flight and later ones once disposed', async () => {
    const h = testHost();
    const s = await h.load({ path: fixture('ch_PP-OCRv4_det_infer.onnx') });
    const p = rejectsWith(h.run(s.id, longDet()), 'disposed', /^the inference host was shut down\.$/);
    await new Promise((r) => setTimeout(r, 200));
    await h.dispose();
    await p;
    await rejectsWith(h.load({ path: fixture('hello_deepa.onnx') }), 'disposed', /shut down/);
  });

  it('does not keep a CLI alive when it forgets dispose()', () => {
    const script = `
const { InferenceHost } = require('./src/core/inference/host');
const h = new InferenceHost({ workerPath: ${JSON.stringify(workerPath())} });
h.load({ path: ${JSON.stringify(fixture('hello_deepa.onnx'))} }).then((s) => h.run(s.id, { 'onnx::Flatten_0': { dtype: 'float32', shape: [1, 25, 96], data: new Float32Array(2400) } })).then((r) => console.log('ran', r.outputs['39'].shape.join('x')));
`;
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: root, encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /ran 1x1/);
    assert.ok(Date.now() - t0 < 15_000);
  });
});
