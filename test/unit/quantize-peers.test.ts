// The quantization bench's Python side on small models (MLPs of 64, a CNN on 32 × 32): every peer mode runs and
// writes a model onnxruntime loads, a failing job does not stop the others, and the evaluation measures what it
// should (an unchanged model is exact; the peers stay close). The full-size bench is test/bench/quantize-*.ts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { benchModels, safeName, type BenchModel } from '../bench/quantize-models';
import { evalPairs, peerJobs, runPeers, type PeerJob, type PeerResult } from '../bench/quantize-peers';

// onnxruntime 1.31.1's MatMulNBitsQuantizer imports onnx_ir, which its wheel does not declare: without it in the
// reference venv the int4 peer fails, and says so.
const INT4_UNAVAILABLE = /No module named 'onnx_ir'/;

describe('quantization peers (Python onnxruntime, onnxconverter-common)', () => {
  let dir: string;
  let models: BenchModel[];
  let jobs: PeerJob[];
  let results: PeerResult[];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-peers-'));
    models = await benchModels(dir, { dim: 64, side: 32, fixtures: false, calibrationSamples: 4, validationSamples: 2 });
    jobs = models.flatMap((m) => peerJobs(m, path.join(dir, 'out')));
    jobs.splice(1, 0, { mode: 'int8-dynamic', input: path.join(dir, 'missing.onnx'), output: path.join(dir, 'out', 'missing.onnx') });
    results = runPeers(jobs);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes the models and their samples, one folder a sample with <input>.npy', () => {
    assert.deepEqual(
      models.map((m) => [m.name, m.kind, m.opset]),
      [
        ['mlp-matmul', 'matmul', 13],
        ['mlp-gemm', 'gemm', 13],
        ['cnn-conv', 'conv', 13],
      ],
    );
    for (const m of models) {
      assert.ok(fs.statSync(m.file).size > 0);
      assert.equal(m.calibration.length, 4);
      assert.equal(m.validation.length, 2);
      for (const s of [...m.calibration, ...m.validation]) assert.deepEqual(fs.readdirSync(s), ['X.npy']);
    }
    assert.equal(safeName('onnx::Flatten_0'), 'onnx_Flatten_0');
  });

  it('runs every job, reports each, and a failing one does not stop the rest', (t) => {
    assert.equal(results.length, jobs.length);
    const missing = results[1]!;
    assert.equal(missing.ok, false);
    assert.match(missing.error!, /No such file|not found|FileNotFoundError/);
    for (const r of results.filter((_, i) => i !== 1)) {
      if (r.mode === 'int4' && !r.ok && INT4_UNAVAILABLE.test(r.error ?? '')) {
        t.diagnostic(`int4 peer unavailable: ${r.error}`);
        continue;
      }
      assert.equal(r.ok, true, `${r.mode} ${r.input}: ${r.error}`);
      assert.ok(r.seconds! > 0 && r.runs.length === 1);
      assert.ok(r.weight_bytes! > 0 && r.output_bytes! > 0 && r.input_bytes! > r.weight_bytes!);
      assert.ok(fs.existsSync(r.output));
    }
    const mlp = results.filter((r) => r.input === models[0]!.file && r.ok);
    const ops = Object.fromEntries(mlp.map((r) => [r.mode, r.ops!]));
    assert.equal(ops['int8-dynamic']!.MatMulInteger, 4);
    assert.ok(ops['int8-static']!.QuantizeLinear! > 0);
    assert.equal(ops['int8-static']!.MatMul, 4, 'QDQ: the MatMuls stay, between DequantizeLinear nodes');
    assert.equal(ops['fp16']!.Cast, 2, 'keep_io_types: a Cast at the input and at the output');
    if (ops['int4']) assert.equal(ops['int4']['com.microsoft:MatMulNBits'], 4);
    // int8 weights are a quarter of fp32; the fp32 biases and the quantization parameters add a little at this size.
    for (const r of mlp.filter((x) => x.mode.startsWith('int8'))) assert.ok(r.output_bytes! < 0.35 * r.input_bytes!, `${r.mode}: ${r.output_bytes} of ${r.input_bytes}`);
  });

  it('evaluates original against quantized in onnxruntime: exact on the same model, close for the peers', () => {
    const ok = results.filter((r) => r.ok);
    const feeds = (file: string) => models.find((m) => m.file === file)!.validation;
    const pairs = [
      { label: 'same', a: models[0]!.file, b: models[0]!.file, feeds: feeds(models[0]!.file) },
      ...ok.map((r) => ({ label: `${path.basename(r.input)} ${r.mode}`, a: r.input, b: r.output, feeds: feeds(r.input) })),
      { label: 'broken', a: models[0]!.file, b: path.join(dir, 'missing.onnx'), feeds: feeds(models[0]!.file) },
    ];
    const ev = evalPairs(pairs, { runs: 3, warmup: 1 });
    assert.equal(ev.length, pairs.length);
    const same = ev[0]!;
    assert.equal(same.ok, true, same.error ?? '');
    assert.equal(same.samples, 2);
    assert.deepEqual(same.outputs.map((o) => [o.name, o.shape, o.cosine, o.max_abs, o.top1, o.top1_rows]), [['Y', [8, 64], 1, 0, 1, 16]]);
    assert.equal(same.latency!.runs, 3);
    for (const e of ev.slice(1, -1)) {
      assert.equal(e.ok, true, `${e.label}: ${e.error}`);
      const o = e.outputs[0]!;
      assert.ok(o.cosine! > (e.label!.endsWith('int4') ? 0.98 : 0.995), `${e.label}: cosine ${o.cosine}`);
      assert.ok(e.latency!.a_ms > 0 && e.latency!.b_ms > 0 && e.latency!.ratio! > 0);
    }
    assert.equal(ev.at(-1)!.ok, false);
    assert.ok(ev.at(-1)!.error);
  });
});
