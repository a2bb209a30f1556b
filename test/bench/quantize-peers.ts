// The Python peers of Modelyard's quantizer, typed, for the quantization bench (plain Node, no vscode): runPeers
// quantizes with onnxruntime.quantization and onnxconverter_common (scripts/py/quant_peers.py), evalPairs measures
// any original/quantized pair in Python onnxruntime (scripts/py/quant_eval.py). Both run in the reference venv of
// python() (onnx 1.23.2, onnxruntime 1.31.1, onnxconverter-common 1.16.0), one Python process a call.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { python } from '../support/fixtures';

const root = path.resolve(__dirname, '..', '..');

export type PeerMode = 'int8-dynamic' | 'int8-static' | 'int4' | 'fp16';

export interface PeerJob {
  mode: PeerMode;
  input: string;
  output: string;
  /** int8-static: sample folders (<input>.npy per input), .npz files, or folders of either. */
  calibration?: string[];
  /** int8-dynamic, int8-static; the peer's default (false) when omitted. */
  per_channel?: boolean;
  /** int4; the peer's default (128) when omitted. */
  block_size?: number;
  /** int4; the peer's default (false: asymmetric, with zero points) when omitted. */
  symmetric?: boolean;
  /** int4: MatMulNBits accuracy_level 0–4; the peer's default (none: fp32 compute) when omitted. */
  accuracy_level?: number;
  /**
   * int8-*: run onnxruntime's quant_pre_process first (timed apart), with its defaults or these keyword arguments
   * (e.g. { skip_symbolic_shape: true }); false when omitted.
   */
  preprocess?: boolean | Record<string, unknown>;
}

export interface PeerResult {
  mode: PeerMode;
  input: string;
  output: string;
  ok: boolean;
  /** The exception's type and first line. */
  error: string | null;
  /** Wall time of the peer's call, file to file, best of `runs`. */
  seconds: number | null;
  runs: number[];
  input_bytes: number | null;
  output_bytes: number | null;
  /** fp32 initializer and Constant bytes of the input. */
  weight_bytes: number | null;
  preprocessed: boolean;
  preprocess_seconds: number | null;
  /** Op type → count in the output's main graph ("com.microsoft:MatMulNBits" outside the default domain). */
  ops: Record<string, number> | null;
  /** Default-domain opsets of the input and the output (the peers may raise it). */
  input_opset: number | null;
  output_opset: number | null;
  /** The distinct warnings the peers logged or raised during the job (at most 20, then "... and N more"). */
  warnings: string[];
}

export interface PeerOptions {
  /** Runs of each quantize call, the best is reported: 1–3 (1). */
  repeat?: 1 | 2 | 3;
  /** Pay imports and first-call costs before the jobs (true). */
  warmup?: boolean;
  /** Milliseconds for the whole Python process (30 minutes). */
  timeoutMs?: number;
}

export interface EvalPair {
  label?: string;
  /** The original. */
  a: string;
  /** The quantized model. */
  b: string;
  /** Sample folders (<input>.npy per input) or .npz files. */
  feeds: string[];
}

export interface EvalOptions {
  /** Interleaved A/B latency rounds after the warm-up (20). */
  runs?: number;
  warmup?: number;
  /** Intra-op threads of both sessions (1). */
  threads?: number;
  timeoutMs?: number;
}

export interface OutputFidelity {
  name: string;
  /** A's output shape (first sample). */
  shape: number[];
  cosine: number | null;
  max_abs: number | null;
  mean_abs: number | null;
  /** Share of rows whose argmax over the last axis agrees; null when that axis has size 1. */
  top1: number | null;
  top1_rows: number;
  error?: string;
}

export interface EvalResult {
  label: string | null;
  a: string;
  b: string;
  ok: boolean;
  error: string | null;
  samples: number;
  load_ms: { a: number; b: number } | null;
  outputs: OutputFidelity[];
  /** Medians of interleaved runs, ratio = b_ms / a_ms; the same from the fastest runs (steadier on shared cores). */
  latency: { runs: number; a_ms: number; b_ms: number; ratio: number | null; a_min_ms: number; b_min_ms: number; ratio_min: number | null } | null;
}

function runPython(script: string, data: unknown, args: string[], timeoutMs: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-peers-'));
  try {
    const file = path.join(dir, 'in.json');
    fs.writeFileSync(file, JSON.stringify(data));
    const r = spawnSync(python(), [path.join(root, 'scripts', 'py', script), file, ...args], {
      encoding: 'utf8',
      maxBuffer: 256 << 20,
      timeout: timeoutMs,
      // One thread for numpy's BLAS: the peers and the bench share the cores with the TypeScript side.
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' },
    });
    if (r.error) throw new Error(`${script}: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`${script} exited with ${r.status ?? r.signal}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
    return r.stdout;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Quantizes with the Python peers, every job in one process, in order. A job that fails reports ok false and its
 * error; only a failure of the process itself (no venv, a crash) throws.
 */
export function runPeers(jobs: PeerJob[], opts: PeerOptions = {}): PeerResult[] {
  if (!jobs.length) return [];
  const args = ['--repeat', String(opts.repeat ?? 1), ...(opts.warmup === false ? [] : ['--warmup'])];
  const out = runPython('quant_peers.py', jobs, args, opts.timeoutMs ?? 30 * 60_000);
  const results = out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as PeerResult);
  if (results.length !== jobs.length) throw new Error(`quant_peers.py printed ${results.length} results for ${jobs.length} jobs`);
  return results;
}

/**
 * Runs each original (a) and quantized (b) model on the same feeds in Python onnxruntime and compares them: per
 * output cosine, max and mean abs error, top-1 agreement; latency from interleaved runs. A pair that fails reports
 * ok false and its error.
 */
export function evalPairs(pairs: EvalPair[], opts: EvalOptions = {}): EvalResult[] {
  if (!pairs.length) return [];
  const args = ['--runs', String(opts.runs ?? 20), '--warmup', String(opts.warmup ?? 2), '--threads', String(opts.threads ?? 1)];
  const out = runPython('quant_eval.py', pairs, args, opts.timeoutMs ?? 30 * 60_000);
  const results = JSON.parse(out.trim().split('\n').at(-1)!) as EvalResult[];
  if (results.length !== pairs.length) throw new Error(`quant_eval.py printed ${results.length} results for ${pairs.length} pairs`);
  return results;
}

/**
 * The jobs of every peer mode that applies to a model: int4 only where MatMul carries the weights (the peer leaves
 * Gemm and Conv alone), block size 32 unless told. Outputs go to <outDir>/<name>.peer-<mode>[-pre].onnx.
 */
export function peerJobs(
  m: { name: string; file: string; kind: 'matmul' | 'gemm' | 'conv'; calibration: string[] },
  outDir: string,
  extra: Partial<Pick<PeerJob, 'per_channel' | 'block_size' | 'accuracy_level' | 'preprocess'>> = {},
): PeerJob[] {
  const modes: PeerMode[] = m.kind === 'matmul' ? ['int8-dynamic', 'int8-static', 'int4', 'fp16'] : ['int8-dynamic', 'int8-static', 'fp16'];
  return modes.map((mode) => ({
    mode,
    input: m.file,
    output: path.join(outDir, `${m.name}.peer-${mode}${extra.preprocess ? '-pre' : ''}.onnx`),
    ...(mode === 'int8-static' ? { calibration: m.calibration } : {}),
    ...(mode === 'int4' ? { block_size: extra.block_size ?? 32, ...(extra.accuracy_level !== undefined ? { accuracy_level: extra.accuracy_level } : {}) } : {}),
    ...(mode.startsWith('int8') && extra.per_channel !== undefined ? { per_channel: extra.per_channel } : {}),
    ...(mode.startsWith('int8') && extra.preprocess ? { preprocess: extra.preprocess } : {}),
  }));
}
