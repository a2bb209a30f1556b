// Modelyard's quantizer beside its Python peers, in one run, on the same models and inputs:
//
//   node out/bench/quantize.bench.cjs --worker dist/inference-worker.js [--quick] [--repeat 2] [--runs 20]
//
// Models (test/bench/quantize-models.ts): generated weight-dominated MLPs (4 × 1024² MatMul, and the same as Gemm
// with transB and bias), a generated CNN (Conv 3×3), and the fixtures hello_deepa (Gemm MLP), PP-OCR cls (Conv,
// opset 9, weights in Constant nodes) and det (Conv, opset 11) on text-like images; 8 calibration and 4 validation
// samples each, written as .npy folders that both sides read.
//
// For each model and form: Modelyard's `quantize()` (the CLI's core, file to file, --no-eval: quantizing only) and
// the peer (onnxruntime.quantization 1.31.1 quantize_dynamic / quantize_static / MatMulNBitsQuantizer,
// onnxconverter-common 1.16.0 float16; their defaults, block 32 and accuracy_level 4 for int4 like ours). Both
// outputs are then measured by the same independent harness (scripts/py/quant_eval.py, onnxruntime in Python,
// 1 thread): cosine, top-1 agreement and interleaved A/B latency against the original, on the validation samples.
//
// Goals (issue 5): ≥ 50 MB/s of fp32 weights; size ≤ 0.27× (int8), ≤ 0.17× (int4), ≤ 0.51× (fp16) on the
// weight-dominated models; latency ≤ 0.65× fp32 for dynamic int8 on MatMul/Gemm models and ≤ 0.8× for static int8
// on Conv models; fidelity and latency at least as good as the peer's for the same form. Prints figures and the
// verdict of each goal; asserts nothing.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InferenceHost } from '../../src/core/inference/host';
import { decodeModel } from '../../src/core/onnx/model';
import { quantize, type FormMode } from '../../src/core/quantize/quantize';
import { benchModels, type BenchModel } from './quantize-models';
import { evalPairs, runPeers, type EvalResult, type PeerJob, type PeerResult } from './quantize-peers';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const QUICK = process.argv.includes('--quick');
const REPEAT = Number(arg('repeat', '2')) as 1 | 2 | 3;
const RUNS = Number(arg('runs', '20'));
const WORKER = path.resolve(arg('worker', path.join('dist', 'inference-worker.js')));

type Mode = Extract<FormMode, 'int8-dynamic' | 'int8-static' | 'int4' | 'fp16'>;

function modesFor(m: BenchModel): Mode[] {
  if (m.kind === 'conv') return ['int8-static', 'fp16'];
  return m.kind === 'matmul' ? ['int8-dynamic', 'int8-static', 'int4', 'fp16'] : ['int8-dynamic', 'int8-static', 'int4', 'fp16'];
}

interface Row {
  model: BenchModel;
  mode: Mode;
  weightMB: number;
  inputBytes: number;
  /** seconds: file to file, calibration included; calibration: the calibration runs' part of it. */
  ours?: { seconds: number; calibration: number; bytes: number; file: string; error?: string; converted: number };
  peer?: PeerResult;
  oursEval?: EvalResult;
  peerEval?: EvalResult;
}

const fmt = (v: number | null | undefined, d = 3) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(d));
const worstCos = (e: EvalResult | undefined) => (e?.ok ? Math.min(...e.outputs.map((o) => o.cosine ?? 1)) : null);
const minTop1 = (e: EvalResult | undefined) => {
  const t = e?.ok ? e.outputs.map((o) => o.top1).filter((x): x is number => x !== null) : [];
  return t.length ? Math.min(...t) : null;
};

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-quantize-bench-'));
  const host = new InferenceHost({ workerPath: WORKER });
  try {
    const models = await benchModels(dir, QUICK ? { dim: 256, side: 64, fixtures: false, calibrationSamples: 4, validationSamples: 2 } : {});
    const rows: Row[] = [];
    for (const m of models) {
      const calDir = path.dirname(m.calibration[0]!);
      const weightMB = weightBytes(m.file) / 1e6;
      for (const mode of modesFor(m)) {
        const row: Row = { model: m, mode, weightMB, inputBytes: fs.statSync(m.file).size };
        const out = path.join(dir, 'modelyard', `${m.name}.${mode}.onnx`);
        try {
          let best = Infinity;
          let last: Awaited<ReturnType<typeof quantize>> | undefined;
          for (let i = 0; i < REPEAT; i++) {
            last = await quantize({
              input: m.file,
              output: out,
              mode,
              host,
              evaluate: false,
              blockSize: 32,
              ...(mode === 'int8-static' ? { calibration: calDir, perChannel: m.kind === 'conv' } : {}),
            });
            // File to file: reading, calibrating, quantizing and writing; not loading the original in onnxruntime
            // for samples (the peer never does), except for static, where calibration needs onnxruntime anyway.
            best = Math.min(best, last.timings.written - last.timings.sessionLoad);
          }
          row.ours = { seconds: best, calibration: last!.calibration?.seconds ?? 0, bytes: last!.output.bytes, file: out, converted: last!.converted };
        } catch (e) {
          row.ours = { seconds: NaN, calibration: 0, bytes: 0, file: out, error: e instanceof Error ? e.message.split('\n')[0]! : String(e), converted: 0 };
        }
        rows.push(row);
      }
    }
    const jobs: PeerJob[] = rows.map((r) => ({
      mode: r.mode,
      input: r.model.file,
      output: path.join(dir, 'peer', `${r.model.name}.${r.mode}.onnx`),
      ...(r.mode === 'int8-static' ? { calibration: r.model.calibration, per_channel: r.model.kind === 'conv' } : {}),
      ...(r.mode === 'int4' ? { block_size: 32, symmetric: true, accuracy_level: 4 } : {}),
    }));
    fs.mkdirSync(path.join(dir, 'peer'), { recursive: true });
    const peers = runPeers(jobs, { repeat: REPEAT });
    rows.forEach((r, i) => (r.peer = peers[i]));
    const pairs = rows.flatMap((r, i) => [
      ...(r.ours && !r.ours.error ? [{ label: `ours:${i}`, a: r.model.file, b: r.ours.file, feeds: r.model.validation }] : []),
      ...(r.peer?.ok ? [{ label: `peer:${i}`, a: r.model.file, b: r.peer.output, feeds: r.model.validation }] : []),
    ]);
    const evals = evalPairs(pairs, { runs: RUNS, threads: 1 });
    for (const e of evals) {
      const [who, i] = (e.label ?? '').split(':');
      if (who === 'ours') rows[Number(i)]!.oursEval = e;
      else rows[Number(i)]!.peerEval = e;
    }
    print(rows);
  } finally {
    await host.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function print(rows: Row[]): void {
  console.log(`\nquantization: Modelyard vs the Python peers (same models, same samples; fidelity and latency by scripts/py/quant_eval.py, 1 thread, ${RUNS} interleaved runs)`);
  const head = ['model', 'form', 'weights', 'MY s', 'MY MB/s*', 'MY size', 'MY cos', 'MY top1', 'MY lat', 'PEER s', 'PEER size', 'PEER cos', 'PEER lat'];
  const lines: string[][] = [head];
  for (const r of rows) {
    const my = r.ours;
    const lat = (e: EvalResult | undefined) => (e?.ok && e.latency ? `${fmt(e.latency.ratio, 2)}×` : '–');
    lines.push([
      r.model.name,
      r.mode,
      `${r.weightMB.toFixed(1)} MB`,
      my?.error ? 'error' : fmt(my?.seconds, 3),
      my?.error ? '–' : fmt(r.weightMB / ((my?.seconds ?? NaN) - (my?.calibration ?? 0)), 0),
      my?.error ? '–' : fmt((my?.bytes ?? 0) / r.inputBytes, 3),
      fmt(worstCos(r.oursEval), 5),
      fmt(minTop1(r.oursEval), 3),
      lat(r.oursEval),
      r.peer?.ok ? fmt(r.peer.seconds, 3) : 'failed',
      r.peer?.ok && r.peer.output_bytes ? fmt(r.peer.output_bytes / r.inputBytes, 3) : '–',
      fmt(worstCos(r.peerEval), 5),
      lat(r.peerEval),
    ]);
  }
  const widths = head.map((_, c) => Math.max(...lines.map((l) => l[c]!.length)));
  for (const l of lines) console.log('  ' + l.map((x, c) => (c < 2 ? x.padEnd(widths[c]!) : x.padStart(widths[c]!))).join('  '));
  console.log('  s: file to file, best of the repeats (static: calibration included, as the peer\'s); *MB/s: fp32 weight MB per second of');
  console.log('  quantizing, file to file without the calibration runs (which depend on the samples, not the weights).');
  for (const r of rows) {
    if (r.ours?.error) console.log(`  Modelyard ${r.model.name} ${r.mode}: ${r.ours.error}`);
    if (r.peer && !r.peer.ok) console.log(`  peer ${r.model.name} ${r.mode}: ${r.peer.error}`);
    if (r.peerEval && !r.peerEval.ok) console.log(`  peer eval ${r.model.name} ${r.mode}: ${r.peerEval.error}`);
    if (r.oursEval && !r.oursEval.ok) console.log(`  Modelyard eval ${r.model.name} ${r.mode}: ${r.oursEval.error}`);
  }

  // Goals.
  const weighty = rows.filter((r) => r.model.source === 'generated' && r.model.kind !== 'conv' && r.ours && !r.ours.error);
  const goal = (name: string, ok: boolean | null, detail: string) => console.log(`  ${ok === null ? '–' : ok ? 'met    ' : 'NOT MET'}  ${name}: ${detail}`);
  console.log('\ngoals');
  const speed = weighty.map((r) => r.weightMB / (r.ours!.seconds - r.ours!.calibration));
  goal('≥ 50 MB/s of fp32 weights (weight-dominated models, every form)', speed.length ? Math.min(...speed) >= 50 : null, speed.length ? `min ${Math.min(...speed).toFixed(0)} MB/s, max ${Math.max(...speed).toFixed(0)} MB/s` : 'no data');
  for (const [mode, limit] of [['int8-dynamic', 0.27], ['int8-static', 0.27], ['int4', 0.17], ['fp16', 0.51]] as const) {
    const xs = weighty.filter((r) => r.mode === mode).map((r) => r.ours!.bytes / r.inputBytes);
    goal(`size ≤ ${limit}× (${mode}, weight-dominated)`, xs.length ? Math.max(...xs) <= limit : null, xs.map((x) => x.toFixed(3)).join(', ') || 'no data');
  }
  const lat = (mode: Mode, kinds: string[], limit: number) => {
    const xs = rows.filter((r) => r.mode === mode && kinds.includes(r.model.kind) && r.oursEval?.ok && r.oursEval.latency?.ratio).map((r) => [r.model.name, r.oursEval!.latency!.ratio!] as const);
    goal(`latency ≤ ${limit}× fp32 (${mode}, ${kinds.join('/')} models)`, xs.length ? xs.every(([, x]) => x <= limit) : null, xs.map(([n, x]) => `${n} ${x.toFixed(2)}×`).join(', ') || 'no data');
  };
  lat('int8-dynamic', ['matmul', 'gemm'], 0.65);
  lat('int8-static', ['conv'], 0.8);
  // Only where the peer really converted the model: a peer that leaves it as it was (int4 on Gemm) is not a peer.
  const peerNoop = rows.filter((r) => r.peer?.ok && (r.peer.output_bytes ?? 0) >= 0.95 * r.inputBytes && r.mode !== 'int8-static');
  const vsPeer = rows.filter((r) => r.oursEval?.ok && r.peerEval?.ok && !peerNoop.includes(r));
  if (peerNoop.length) console.log(`  (not compared: the peer left ${peerNoop.map((r) => `${r.model.name} ${r.mode}`).join(', ')} unchanged)`);
  const fidelityWorse = vsPeer.filter((r) => (worstCos(r.oursEval) ?? 1) < (worstCos(r.peerEval) ?? 1) - 1e-4);
  goal('fidelity ≥ the peer’s (worst cosine, same form, same samples)', vsPeer.length ? fidelityWorse.length === 0 : null, fidelityWorse.length ? `worse on ${fidelityWorse.map((r) => `${r.model.name} ${r.mode} (${fmt(worstCos(r.oursEval), 4)} vs ${fmt(worstCos(r.peerEval), 4)})`).join(', ')}` : `${vsPeer.length} pairs`);
  // Latency: within 10% of the peer's, or better (single-digit-ms models on shared cores move by that much).
  const slower = vsPeer.filter((r) => (r.oursEval!.latency?.ratio ?? 1) > (r.peerEval!.latency?.ratio ?? 1) * 1.1);
  goal('latency ≤ the peer’s (within 10%)', vsPeer.length ? slower.length === 0 : null, slower.length ? `slower on ${slower.map((r) => `${r.model.name} ${r.mode} (${fmt(r.oursEval!.latency!.ratio, 2)}× vs ${fmt(r.peerEval!.latency!.ratio, 2)}×)`).join(', ')}` : `${vsPeer.length} pairs`);
  const peerFailed = rows.filter((r) => r.peer && !r.peer.ok);
  if (peerFailed.length) console.log(`  (the peer failed on ${peerFailed.map((r) => `${r.model.name} ${r.mode}`).join(', ')}; Modelyard on ${rows.filter((r) => r.ours?.error).length})`);
}

/** fp32 bytes of initializers and Constant values (what the MB/s figure divides). */
function weightBytes(file: string): number {
  const m = decodeModel(fs.readFileSync(file));
  let n = 0;
  const visit = (g: NonNullable<typeof m.graph>): void => {
    for (const t of g.initializer) if (t.dataType === 1) n += t.rawData.length || t.floatData.length * 4;
    for (const node of g.node) {
      for (const a of node.attribute) {
        if (node.opType === 'Constant' && a.t && a.t.dataType === 1) n += a.t.rawData.length || a.t.floatData.length * 4;
        if (a.g) visit(a.g);
        for (const sg of a.graphs) visit(sg);
      }
    }
  };
  visit(m.graph!);
  return n;
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
