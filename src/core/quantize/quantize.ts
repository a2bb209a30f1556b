/**
 * Quantization, end to end: read the model (external data included), refuse what cannot be quantized with a reason,
 * run a form (or, in Auto mode, profile the model and try the forms that suit it), write the result beside the
 * original (whole or not at all), then measure it against the original in onnxruntime: sizes, fidelity per output
 * on the calibration or validation samples, latency from interleaved runs, and a verdict against thresholds.
 *
 * Shared by `modelyard quantize` and the editor (which runs the CLI in a child process, so that a long quantization
 * never blocks the extension host and Cancel can simply end it).
 */
import fs from 'node:fs';
import path from 'node:path';
import { firstLine, isCancelled, UserError } from '../errors';
import { compareOutputs, interleavedLatency } from '../inference/compare';
import type { InferenceHost, SessionInfo } from '../inference/host';
import { guessText, shapeOverrides } from '../inference/inputs';
import type { TensorInfo } from '../inference/tensor';
import { dtypeFromOnnx } from '../onnx/dtypes';
import { decodeModel, encodeModel, type ModelProto } from '../onnx/model';
import { TensorProto_DataLocation, type NodeProto, type TensorProto } from '../onnx/gen/onnx_pb';
import { calibrate } from './calibrate';
import { loadSamples, runnableRandomSamples, type SampleSet } from './calibdata';
import { quantizeDynamic, quantizedOps } from './dynamic';
import { convertFp16, convertFp32 } from './fp16';
import { QModel } from './graph';
import { readModelFile, writeModel } from '../onnx/io';
import { sensitivity } from './sensitivity';
import { calibrationTargets, ensureNodeNames, quantizeStatic } from './static';
import { MODE_LABELS, parseExclusions, quantizationCancelled, throwIfCancelled, type Exclusions, type FormResult, type NodeDecision, type QuantMode } from './types';
import { sha256Hex } from '../util/hash';
import { quantizeWeightOnly } from './weightonly';

export type FormMode = Exclude<QuantMode, 'auto'>;

export interface Thresholds {
  /** Worst output cosine similarity accepted (float outputs). */
  minCosine: number;
  /** Lowest top-1 agreement accepted, for outputs with a class axis. */
  minTop1: number;
  /** Highest latency ratio quantized/original accepted; undefined: latency is reported, not judged. */
  maxLatencyRatio?: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = { minCosine: 0.99, minTop1: 0.99 };

export interface QuantizeSettings {
  mode: QuantMode;
  perChannel?: boolean;
  /** Op types or node names kept in float. */
  exclude?: string[];
  /** int4 / int8-weight. */
  blockSize?: 16 | 32 | 64 | 128 | 256;
  symmetric?: boolean;
  /** int8-static. */
  calibrationMethod?: 'minmax' | 'percentile';
  percentile?: number;
  /** int8-static: keep the layers that hurt fidelity most in float until the gate passes. Default true. */
  sensitivity?: boolean;
  /** fp16. */
  keepIoTypes?: boolean;
  blockOps?: string[];
  keepBatchNorm?: boolean;
  clamp?: boolean;
}

export interface QuantizeRequest extends QuantizeSettings {
  /** The model file (its external data beside it). */
  input: string;
  /** The model's bytes when they do not come from `input` (a registry version read from git); `input` names it. */
  bytes?: Uint8Array;
  /** What to call the source in reports ("vad@v1.2.0"); default the file name. */
  label?: string;
  /** Where to write; default beside the input, "<name>.<mode>.onnx". Never the input itself. */
  output?: string;
  /** Calibration data: a folder or a .modeltest.json file (see calibdata.ts). Also the validation samples. */
  calibration?: string;
  /** Validation data when it differs from the calibration data. */
  validation?: string;
  /** Sizes of the model's open dims, as `--shape NAME=D1,D2,…` (for random samples and defaulted inputs). */
  shapes?: string[];
  thresholds?: Partial<Thresholds>;
  /** Interleaved timed runs of each model for the latency ratio. Default 10; 0 skips latency. */
  latencyRuns?: number;
  /** Measure fidelity and latency against the original (default true); false writes the result and stops (CI, benchmarks). */
  evaluate?: boolean;
  host: InferenceHost;
  signal?: AbortSignal;
  progress?: (p: Progress) => void;
}

export interface Progress {
  stage: 'read' | 'calibrate' | 'quantize' | 'sensitivity' | 'write' | 'evaluate' | 'auto';
  message: string;
  /** 0..1 within the whole job, when known. */
  fraction?: number;
}

export interface OutputFidelity {
  name: string;
  /** Worst over the samples. */
  cosine: number | null;
  maxAbsError: number;
  /** Mean over the samples, for outputs with a class axis. */
  top1?: number;
  pass: boolean;
  reasons: string[];
}

export interface Profile {
  kind: 'matmul-heavy' | 'conv-heavy' | 'mixed' | 'small';
  weightBytes: number;
  /** Float weight bytes read by MatMul/Gemm, by Conv/ConvTranspose, by anything else. */
  matmulBytes: number;
  convBytes: number;
  otherBytes: number;
  ops: Record<string, number>;
  opset: number;
}

export interface Candidate {
  mode: FormMode;
  sizeRatio: number;
  worstCosine: number | null;
  minTop1: number | null;
  latencyRatio: number | null;
  pass: boolean;
  reasons: string[];
  /** Set when the form could not run at all. */
  error?: string;
}

export interface QuantizeReport {
  version: 1;
  mode: FormMode;
  requestedMode: QuantMode;
  /** What produced it, for the tag message and for running it again. */
  settings: QuantizeSettings & { tool: string };
  source: { file: string; label: string; bytes: number; sha256: string; weightBytes: number };
  output: { file: string; bytes: number; sha256: string; externalData?: string };
  sizeRatio: number;
  /** Seconds spent in the form itself, and fp32 weight megabytes per second. */
  seconds: number;
  mbPerSecond: number;
  /** Where the time went, in seconds: from the start until the file was written, of which loading the original in onnxruntime (for samples and fidelity). */
  timings: { written: number; sessionLoad: number };
  calibration?: { source: string; samples: number; method: string; seconds: number };
  sensitivity?: { keptFloat: string[]; ranking: { node: string; cosine: number }[] };
  fidelity: { samples: number; source: string; kind: SampleSet['kind']; outputs: OutputFidelity[]; worstCosine: number | null };
  latency?: { originalMs: number; quantizedMs: number; ratio: number; runs: number };
  decisions: NodeDecision[];
  converted: number;
  kept: number;
  notes: string[];
  thresholds: Thresholds;
  verdict: { pass: boolean; reasons: string[] };
  profile: Profile;
  auto?: { candidates: Candidate[]; chosen: FormMode; why: string };
}

const EXT: Record<FormMode, string> = { 'int8-dynamic': 'int8', 'int8-static': 'int8-static', int4: 'int4', 'int8-weight': 'int8-weight', fp16: 'fp16', fp32: 'fp32' };

/** The default output path: beside the input, "<name>.<form>.onnx". */
export function defaultOutput(input: string, mode: QuantMode): string {
  const base = path.basename(input).replace(/\.onnx$/i, '');
  return path.join(path.dirname(input), `${base}.${mode === 'auto' ? 'auto' : EXT[mode]}.onnx`);
}

/** `file`, or the first of "name-2.onnx", "name-3.onnx" … that does not exist yet. */
export function freePath(file: string): string {
  if (!fs.existsSync(file)) return file;
  const ext = path.extname(file);
  const stem = file.slice(0, file.length - ext.length);
  for (let i = 2; ; i++) if (!fs.existsSync(`${stem}-${i}${ext}`)) return `${stem}-${i}${ext}`;
}

export async function quantize(req: QuantizeRequest): Promise<QuantizeReport> {
  const signal = req.signal;
  const progress = req.progress ?? (() => undefined);
  const thresholds: Thresholds = { ...DEFAULT_THRESHOLDS, ...req.thresholds };
  const label = req.label ?? path.basename(req.input);
  // Auto names its output after the form it chose, once it has chosen.
  let output = path.resolve(req.output ?? defaultOutput(req.input, req.mode));
  if (!req.bytes && path.resolve(req.input) === output) {
    throw new UserError(`the output ${output} is the model itself.`, 'Quantization never writes over the original: choose another output file.');
  }

  const tStart = performance.now();
  progress({ stage: 'read', message: `Reading ${label}`, fraction: 0 });
  const bytes = req.bytes ?? (await readModelFile(req.input));
  const baseDir = path.dirname(path.resolve(req.input));
  const decode = () => new QModel(decodeModel(bytes, label), baseDir);
  const probe = decode();
  const sourceSha = sha256Hex(bytes);
  const sourceBytes = bytes.length + externalBytes(probe);
  const already = quantizedOps(probe);
  const alreadyList = Object.entries(already);
  if (alreadyList.length && req.mode !== 'fp32') {
    throw new UserError(
      `${label} is already quantized: it holds ${alreadyList.map(([op, n]) => `${n} ${op}`).join(', ')}.`,
      'Quantize the float original instead (quantizing twice loses fidelity twice), or pick fp16 → fp32 for a float16 model.',
    );
  }
  const profile = profileModel(probe);
  const exclude = parseExclusions(req.exclude, new Set(Object.keys(profile.ops)));
  const known = nodeNames(probe);
  const unknownNames = [...exclude.nodeNames].filter((n) => !known.has(n));
  if (unknownNames.length) {
    throw new UserError(
      `--exclude names ${unknownNames.map((n) => `'${n}'`).join(', ')}, which ${unknownNames.length > 1 ? 'are' : 'is'} neither an op type of the model nor a node name.`,
      `The model's op types: ${Object.keys(profile.ops).sort().join(', ')}.`,
    );
  }

  // Samples: calibration (static) and validation (every form's fidelity). Without data, seeded random inputs.
  // The original in onnxruntime, loaded on first use: fidelity needs it, a run with evaluate: false never does.
  let loaded: Promise<SessionInfo> | undefined;
  let sessionLoad = 0;
  const session = () =>
    (loaded ??= (async () => {
      const t = performance.now();
      const s = await req.host.load(req.bytes ? { bytes, key: `quantize-src-${sourceSha}`, label } : { path: path.resolve(req.input) }, undefined, { signal });
      sessionLoad = (performance.now() - t) / 1000;
      return s;
    })());
  try {
    const inputs = graphInputs(probe);
    const overrides = shapeOverrides(req.shapes ?? [], inputs);
    const calibration = req.calibration ? await loadSamples(req.calibration, inputs, { overrides }) : undefined;
    // Without data, random samples at sizes the model runs on: a guessed open dim the model refuses is guessed again.
    const validation = req.validation
      ? await loadSamples(req.validation, inputs, { overrides })
      : (calibration ??
        (await runnableRandomSamples(inputs, overrides, async (feeds) => {
          await req.host.run((await session()).id, feeds, { signal });
        })));
    const classes = classOutputs(probe);
    // Everything read from the model to check it is read by now: the first form takes that copy to edit (decoding
    // a large model again costs a second walk of its bytes), later ones (Auto, sensitivity) decode their own.
    let unused: QModel | undefined = probe;
    const fresh = () => {
      const m = unused ?? decode();
      unused = undefined;
      return m;
    };
    const ctx: Ctx = { req, bytes, fresh, exclude, thresholds, calibration, validation, session, classOutputs: classes, progress, label, baseDir };

    let result: Built;
    let auto: QuantizeReport['auto'];
    if (req.mode === 'auto') {
      ({ result, auto } = await runAuto(ctx, profile));
    } else {
      result = await build(ctx, req.mode);
    }
    throwIfCancelled(signal);
    // Without -o, an earlier result is never replaced either: "vad.int8.onnx", then "vad.int8-2.onnx" …
    if (!req.output) output = freePath(path.resolve(defaultOutput(req.input, result.mode)));

    progress({ stage: 'write', message: `Writing ${path.basename(output)}`, fraction: 0.8 });
    const written = await writeModel(result.model, output);
    const writtenAt = (performance.now() - tStart) / 1000;
    // A result that is not measured (cancelled, or the measurement failed) is not left behind as if it were one: the
    // file (and its external data) goes, and the message says so and how to keep it unmeasured.
    const discard = () =>
      Promise.all([output, ...(written.externalData ? [path.join(path.dirname(output), written.externalData)] : [])].map((f) => fs.promises.rm(f, { force: true })));
    let evaluation: Evaluation;
    try {
      throwIfCancelled(signal);
      progress({ stage: 'evaluate', message: 'Measuring fidelity and latency against the original', fraction: 0.85 });
      evaluation = result.evaluation ?? (req.evaluate === false ? { outputs: [], worstCosine: null, sampleCosines: [], reasons: [] } : await evaluate(ctx, { path: output }, req.latencyRuns ?? 10));
    } catch (e) {
      await discard();
      if (isCancelled(e)) throw e;
      throw new UserError(
        `${path.basename(output)} was written and then removed: measuring it against the original failed: ${firstLine(e instanceof Error ? e.message : String(e))}`,
        `An unmeasured model is not kept beside the original. To keep it anyway, run again with --no-eval (it is written to ${output}, not measured).`,
      );
    }
    const weightBytes = profile.weightBytes;
    const verdictReasons = [...evaluation.reasons];
    const report: QuantizeReport = {
      version: 1,
      mode: result.mode,
      requestedMode: req.mode,
      settings: { ...settingsOf(req), mode: result.mode, tool: 'modelyard' },
      source: { file: req.input, label, bytes: sourceBytes, sha256: sourceSha, weightBytes },
      output: { file: output, bytes: written.bytes, sha256: written.sha256, ...(written.externalData ? { externalData: written.externalData } : {}) },
      sizeRatio: written.bytes / sourceBytes,
      seconds: result.seconds,
      mbPerSecond: result.seconds > 0 ? weightBytes / 1e6 / result.seconds : Infinity,
      timings: { written: writtenAt, sessionLoad },
      ...(result.calibration ? { calibration: result.calibration } : {}),
      ...(result.sensitivity ? { sensitivity: result.sensitivity } : {}),
      fidelity: { samples: req.evaluate === false ? 0 : validation.feeds.length, source: req.evaluate === false ? 'not measured (--no-eval)' : validation.source, kind: validation.kind, outputs: evaluation.outputs, worstCosine: evaluation.worstCosine },
      ...(evaluation.latency ? { latency: evaluation.latency } : {}),
      decisions: result.form.decisions,
      converted: result.form.decisions.filter((d) => d.action === 'converted').reduce((n, d) => n + countOf(d), 0),
      kept: result.form.decisions.filter((d) => d.action === 'kept').length,
      notes: [
        ...result.form.notes,
        ...(validation.kind === 'random' ? ['Fidelity was measured on random inputs: give calibration or validation data for a figure that means more.'] : []),
        ...(validation.guessed?.some((g) => g.reason !== 'batch') ? [`The random inputs' open dims were guessed: ${validation.guessed.map(guessText).join(', ')}; set them with --shape NAME=D1,D2,….`] : []),
      ],
      thresholds,
      verdict: { pass: verdictReasons.length === 0, reasons: verdictReasons },
      profile,
      ...(auto ? { auto } : {}),
    };
    if (report.converted === 0) {
      report.verdict.pass = false;
      report.verdict.reasons.unshift('no node was converted: the output is the original model re-encoded');
    }
    progress({ stage: 'evaluate', message: 'Done', fraction: 1 });
    return report;
  } finally {
    if (loaded) await req.host.release((await loaded).id).catch(() => undefined);
  }
}

interface Ctx {
  req: QuantizeRequest;
  bytes: Uint8Array;
  fresh: () => QModel;
  exclude: Exclusions;
  thresholds: Thresholds;
  calibration?: SampleSet;
  validation: SampleSet;
  session: () => Promise<SessionInfo>;
  /** Outputs whose top-1 agreement the gate judges: class scores (see classOutputs); for others it is only shown. */
  classOutputs: ReadonlySet<string>;
  progress: (p: Progress) => void;
  label: string;
  baseDir: string;
}

interface Built {
  mode: FormMode;
  model: ModelProto;
  form: FormResult;
  seconds: number;
  calibration?: QuantizeReport['calibration'];
  sensitivity?: QuantizeReport['sensitivity'];
  /** Auto mode measured it already. */
  evaluation?: Evaluation;
}

/** A decision summarising several nodes ("37 nodes") counts as that many. */
function countOf(d: NodeDecision): number {
  const m = /^(\d+) nodes?$/.exec(d.node);
  return m ? Number(m[1]) : 1;
}

function settingsOf(req: QuantizeRequest): QuantizeSettings {
  const keys: (keyof QuantizeSettings)[] = ['mode', 'perChannel', 'exclude', 'blockSize', 'symmetric', 'calibrationMethod', 'percentile', 'sensitivity', 'keepIoTypes', 'blockOps', 'keepBatchNorm', 'clamp'];
  const out: Record<string, unknown> = {};
  for (const k of keys) if (req[k] !== undefined) out[k] = req[k];
  return out as unknown as QuantizeSettings;
}

/** Runs one form on a fresh copy of the model. */
async function build(ctx: Ctx, mode: FormMode): Promise<Built> {
  const { req } = ctx;
  const common = { exclude: ctx.exclude, signal: req.signal, progress: (f: number) => ctx.progress({ stage: 'quantize', message: `Quantizing (${MODE_LABELS[mode]})`, fraction: 0.2 + 0.5 * f }) };
  ctx.progress({ stage: 'quantize', message: `Quantizing (${MODE_LABELS[mode]})`, fraction: 0.2 });
  const t0 = performance.now();
  const m = ctx.fresh();
  switch (mode) {
    case 'int8-dynamic':
      return done(mode, m, quantizeDynamic(m, { ...common, perChannel: req.perChannel }), t0);
    case 'int4':
    case 'int8-weight':
      return done(mode, m, quantizeWeightOnly(m, { ...common, bits: mode === 'int4' ? 4 : 8, blockSize: req.blockSize ?? 32, symmetric: req.symmetric ?? true }), t0);
    case 'fp16':
      return done(
        mode,
        m,
        convertFp16(m, { ...common, keepIoTypes: req.keepIoTypes ?? true, blockOps: req.blockOps, keepBatchNorm: req.keepBatchNorm ?? true, ...(req.clamp === false ? { clamp: false as const } : {}) }),
        t0,
      );
    case 'fp32':
      return done(mode, m, convertFp32(m, common), t0);
    case 'int8-static':
      return buildStatic(ctx);
  }
}

function done(mode: FormMode, m: QModel, form: FormResult, t0: number): Built {
  return { mode, model: m.proto, form, seconds: (performance.now() - t0) / 1000 };
}

async function buildStatic(ctx: Ctx): Promise<Built> {
  const { req } = ctx;
  const samples = ctx.calibration ?? ctx.validation;
  const method = req.calibrationMethod ?? 'minmax';
  ctx.progress({ stage: 'calibrate', message: `Calibrating on ${samples.source}`, fraction: 0.1 });
  const named = ctx.fresh();
  ensureNodeNames(named);
  const namedBytes = encodeModel(named.proto);
  const keepNone: ReadonlySet<string> = new Set();
  const t0 = performance.now();
  const ranges = await calibrate(namedBytes, samples.feeds, req.host, {
    method,
    ...(req.percentile ? { percentile: req.percentile } : {}),
    tensors: calibrationTargets(named, { exclude: ctx.exclude, keepFloat: keepNone }),
    signal: req.signal,
    progress: (n) => ctx.progress({ stage: 'calibrate', message: `Calibrating: sample ${n} of ${samples.feeds.length}`, fraction: 0.1 + (0.1 * n) / samples.feeds.length }),
  });
  const calSeconds = (performance.now() - t0) / 1000;
  const make = (keepFloat: ReadonlySet<string>) => {
    const m = new QModel(decodeModel(namedBytes, ctx.label), ctx.baseDir);
    // Per-channel unless asked otherwise: per-tensor int8 weights lose text in an OCR recogniser that per-channel keeps.
    const form = quantizeStatic(m, { ranges, perChannel: req.perChannel ?? true, exclude: ctx.exclude, keepFloat, signal: req.signal });
    return { m, form };
  };
  const t1 = performance.now();
  let { m, form } = make(keepNone);
  let seconds = (performance.now() - t1) / 1000;
  let sens: Built['sensitivity'];
  if (req.sensitivity !== false && req.evaluate !== false) {
    // Measure first; only a model that fails the fidelity gate pays for the sensitivity pass.
    const first = await evaluate(ctx, { bytes: encodeModel(m.proto), key: `static-${Math.random()}` }, 0);
    if (first.worstCosine !== null && first.worstCosine < ctx.thresholds.minCosine) {
      ctx.progress({ stage: 'sensitivity', message: `Worst cosine ${first.worstCosine.toFixed(4)}: finding the layers that hurt fidelity most`, fraction: 0.5 });
      // The layers with weights: ranking every quantized Add and Mul too would triple the runs for little gain.
      const layers = new Set(['Conv', 'ConvTranspose', 'MatMul', 'Gemm']);
      const candidates = form.decisions.filter((d) => d.action === 'converted' && layers.has(d.opType)).map((d) => d.node);
      // The samples that suffered most: a pass on the first few may miss the one that fails the gate (a VAD's state
      // after a near-silent chunk).
      const worstFirst = first.sampleCosines.map((c, i) => [c, i] as const).sort((x, y) => x[0] - y[0]).slice(0, 8);
      let s: Awaited<ReturnType<typeof sensitivity>>;
      try {
        s = await sensitivity(namedBytes, (keep) => encodeModel(make(keep).m.proto), candidates, worstFirst.map(([, i]) => ctx.validation.feeds[i]!), req.host, {
          minCosine: ctx.thresholds.minCosine,
          // At most half the layers float in a large model; a small one (a VAD's six Convs) may keep all but one.
          maxKeep: candidates.length <= 8 ? Math.max(1, candidates.length - 1) : Math.ceil(candidates.length / 2),
          signal: req.signal,
          progress: (f) => ctx.progress({ stage: 'sensitivity', message: 'Sensitivity pass', fraction: 0.5 + 0.25 * f }),
        });
      } catch (e) {
        if (isCancelled(e)) throw e;
        // The fully quantized model stands; the report says why no layer was kept float.
        form.notes.push(`The sensitivity pass could not finish (${firstLine(e instanceof Error ? e.message : String(e))}); every layer stays quantized.`);
        s = { ranking: [], keepFloat: [], cosine: first.worstCosine };
      }
      sens = { keptFloat: s.keepFloat, ranking: s.ranking.slice(0, 20) };
      if (s.keepFloat.length) {
        const t2 = performance.now();
        ({ m, form } = make(new Set(s.keepFloat)));
        seconds += (performance.now() - t2) / 1000;
        form.notes.push(`The sensitivity pass kept ${s.keepFloat.length} layer(s) in float: ${s.keepFloat.join(', ')} (worst cosine ${first.worstCosine.toFixed(4)} → ${s.cosine.toFixed(4)}).`);
      } else {
        form.notes.push(`The sensitivity pass found no layer whose float version lifts the worst cosine (${first.worstCosine.toFixed(4)}) to ${ctx.thresholds.minCosine}.`);
      }
    }
  }
  return {
    mode: 'int8-static',
    model: m.proto,
    form,
    seconds,
    calibration: { source: samples.source, samples: samples.feeds.length, method: method === 'percentile' ? `percentile ${req.percentile ?? 99.999}` : 'MinMax', seconds: calSeconds },
    ...(sens ? { sensitivity: sens } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Auto

async function runAuto(ctx: Ctx, profile: Profile): Promise<{ result: Built; auto: NonNullable<QuantizeReport['auto']> }> {
  const tries: FormMode[] =
    profile.kind === 'conv-heavy'
      ? profile.matmulBytes > 0
        ? ['int8-static', 'int8-dynamic', 'fp16']
        : ['int8-static', 'fp16']
      : profile.kind === 'matmul-heavy'
        ? ['int8-dynamic', 'int4', 'int8-static', 'fp16']
        : profile.kind === 'mixed'
          ? ['int8-static', 'int8-dynamic', 'fp16']
          : ['fp16'];
  const candidates: Candidate[] = [];
  const built = new Map<FormMode, Built>();
  for (const [i, mode] of tries.entries()) {
    throwIfCancelled(ctx.req.signal);
    ctx.progress({ stage: 'auto', message: `Auto: trying ${MODE_LABELS[mode]} (${i + 1} of ${tries.length})`, fraction: 0.1 + (0.6 * i) / tries.length });
    try {
      const b = await build(ctx, mode);
      const bytes = encodeModel(b.model);
      const ev = await evaluate(ctx, { bytes, key: `auto-${mode}-${Math.random()}` }, Math.min(ctx.req.latencyRuns ?? 10, 10));
      b.evaluation = ev;
      built.set(mode, b);
      const top1s = ev.outputs.map((o) => o.top1).filter((x): x is number => x !== undefined);
      candidates.push({
        mode,
        sizeRatio: bytes.length / (ctx.bytes.length || 1),
        worstCosine: ev.worstCosine,
        minTop1: top1s.length ? Math.min(...top1s) : null,
        latencyRatio: ev.latency?.ratio ?? null,
        pass: ev.reasons.length === 0 && b.form.decisions.some((d) => d.action === 'converted'),
        reasons: b.form.decisions.some((d) => d.action === 'converted') ? ev.reasons : ['no node was converted'],
      });
    } catch (e) {
      if (isCancelled(e)) throw quantizationCancelled();
      candidates.push({ mode, sizeRatio: 1, worstCosine: null, minTop1: null, latencyRatio: null, pass: false, reasons: [], error: firstLine(e instanceof Error ? e.message : String(e)) });
    }
  }
  // The best passing form: the lowest size × latency product (a form that is smaller and faster wins; fp16, which
  // halves the size but does not run faster on CPU, wins only when no int8/int4 form passes).
  const score = (c: Candidate) => c.sizeRatio * (c.latencyRatio ?? 1);
  const passing = candidates.filter((c) => c.pass).sort((a, b) => score(a) - score(b));
  const chosen = passing[0];
  if (!chosen) {
    const lines = candidates.map((c) => `${c.mode}: ${c.error ?? c.reasons.join('; ')}`);
    throw new UserError(
      `Auto found no form that passes the fidelity gate (cosine ≥ ${ctx.thresholds.minCosine}): ${lines.join(' | ')}.`,
      'Give calibration data from real inputs (random inputs calibrate badly), exclude the layers that suffer, or lower modelyard.quantize.minCosine.',
    );
  }
  const why = `${MODE_LABELS[chosen.mode]}: passes the gate (worst cosine ${chosen.worstCosine?.toFixed(4) ?? 'n/a'}) with size ×${chosen.sizeRatio.toFixed(2)}${chosen.latencyRatio !== null ? ` and latency ×${chosen.latencyRatio.toFixed(2)}` : ''}, the best size × latency of the ${passing.length} passing form(s); the model is ${profile.kind}.`;
  return { result: built.get(chosen.mode)!, auto: { candidates, chosen: chosen.mode, why } };
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluation

interface Evaluation {
  outputs: OutputFidelity[];
  worstCosine: number | null;
  /** Each validation sample's worst output cosine, in sample order (1 where no output has one). */
  sampleCosines: number[];
  latency?: QuantizeReport['latency'];
  reasons: string[];
}

async function evaluate(ctx: Ctx, quantized: { path: string } | { bytes: Uint8Array; key: string }, runs: number): Promise<Evaluation> {
  const { host, signal } = ctx.req;
  const source = await ctx.session();
  const q = await host.load(quantized, undefined, { signal });
  try {
    const acc = new Map<string, { cos: number | null; maxAbs: number; top1: number[]; reasons: Set<string> }>();
    const sampleCosines: number[] = [];
    for (const feeds of ctx.validation.feeds) {
      throwIfCancelled(signal);
      const a = await host.run(source.id, feeds, { signal });
      const b = await host.run(q.id, feeds, { signal });
      const cmp = compareOutputs(a.outputs, b.outputs, { atol: Infinity, rtol: Infinity, minCosine: -1 });
      sampleCosines.push(Math.min(1, ...cmp.outputs.map((o) => (o.cosine === null ? 1 : Number.isNaN(o.cosine) ? -1 : o.cosine))));
      for (const o of cmp.outputs) {
        let e = acc.get(o.name);
        if (!e) acc.set(o.name, (e = { cos: null, maxAbs: 0, top1: [], reasons: new Set() }));
        if (o.cosine !== null) e.cos = e.cos === null ? o.cosine : Math.min(e.cos, o.cosine);
        if (Number.isFinite(o.maxAbsError)) e.maxAbs = Math.max(e.maxAbs, o.maxAbsError);
        else e.reasons.add(`output '${o.name}' has values that are not finite`);
        if (o.top1) e.top1.push(o.top1.agreement);
        if (!o.compared) e.reasons.add(`output '${o.name}' changed shape or type (${o.dtypeA} [${o.shapeA}] → ${o.dtypeB} [${o.shapeB}])`);
      }
      for (const n of cmp.onlyInA) acc.set(n, { cos: null, maxAbs: Infinity, top1: [], reasons: new Set([`output '${n}' is missing from the quantized model`]) });
    }
    const outputs: OutputFidelity[] = [...acc].map(([name, e]) => {
      const top1 = e.top1.length ? e.top1.reduce((s, x) => s + x, 0) / e.top1.length : undefined;
      const reasons = [...e.reasons];
      if (e.cos !== null && e.cos < ctx.thresholds.minCosine) reasons.push(`output '${name}': cosine ${e.cos.toFixed(4)} < ${ctx.thresholds.minCosine}`);
      if (top1 !== undefined && ctx.classOutputs.has(name) && top1 < ctx.thresholds.minTop1) reasons.push(`output '${name}': top-1 agreement ${(top1 * 100).toFixed(1)}% < ${(ctx.thresholds.minTop1 * 100).toFixed(1)}%`);
      return { name, cosine: e.cos, maxAbsError: e.maxAbs, ...(top1 !== undefined ? { top1 } : {}), pass: reasons.length === 0, reasons };
    });
    const cosines = outputs.map((o) => o.cosine).filter((c): c is number => c !== null);
    const reasons = outputs.flatMap((o) => o.reasons);
    let latency: Evaluation['latency'];
    if (runs > 0) {
      throwIfCancelled(signal);
      const feeds = ctx.validation.feeds[0]!;
      const t = await interleavedLatency(host, source.id, q.id, feeds, feeds, runs, { signal, warmup: 1 });
      latency = { originalMs: t.a, quantizedMs: t.b, ratio: t.ratio, runs };
      if (ctx.thresholds.maxLatencyRatio !== undefined && latency.ratio > ctx.thresholds.maxLatencyRatio) {
        reasons.push(`latency ratio ${latency.ratio.toFixed(2)} > ${ctx.thresholds.maxLatencyRatio}`);
      }
    }
    return { outputs, worstCosine: cosines.length ? Math.min(...cosines) : null, sampleCosines, ...(latency ? { latency } : {}), reasons };
  } finally {
    await host.release(q.id);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Profile

/** What kind of model this is, by where its float weight bytes go. */
export function profileModel(m: QModel): Profile {
  const ops: Record<string, number> = {};
  let matmulBytes = 0;
  let convBytes = 0;
  let otherBytes = 0;
  const counted = new Set<TensorProto>();
  const scopes = m.scopes();
  for (const s of scopes) {
    for (const n of s.graph.node) {
      ops[n.opType] = (ops[n.opType] ?? 0) + 1;
      for (const input of n.input) {
        const w = input ? s.weight(input, m.irVersion) : undefined;
        if (!w || counted.has(w.proto) || !isFloat(w.proto)) continue;
        counted.add(w.proto);
        const b = tensorBytes(w.proto);
        if (n.opType === 'MatMul' || n.opType === 'Gemm') matmulBytes += b;
        else if (n.opType === 'Conv' || n.opType === 'ConvTranspose') convBytes += b;
        else otherBytes += b;
      }
    }
  }
  // Float weights nobody reads directly (e.g. behind an Identity) still count toward the total.
  for (const s of scopes) for (const t of s.graph.initializer) if (!counted.has(t) && isFloat(t)) otherBytes += tensorBytes(t);
  const weightBytes = matmulBytes + convBytes + otherBytes;
  const kind: Profile['kind'] =
    weightBytes < 16_384 ? 'small' : matmulBytes >= 0.6 * weightBytes ? 'matmul-heavy' : convBytes >= 0.6 * weightBytes ? 'conv-heavy' : 'mixed';
  return { kind, weightBytes, matmulBytes, convBytes, otherBytes, ops, opset: m.opset('') };
}

function isFloat(t: TensorProto): boolean {
  return t.dataType === 1 || t.dataType === 10 || t.dataType === 11 || t.dataType === 16;
}

/** A tensor's data bytes, wherever they are kept. */
function tensorBytes(t: TensorProto): number {
  if (t.dataLocation === TensorProto_DataLocation.EXTERNAL) return Number(t.externalData.find((e) => e.key === 'length')?.value ?? 0);
  if (t.rawData.length) return t.rawData.length;
  // float_data holds float32, double_data float64, int32_data the bits of float16/bfloat16 (one a value).
  return t.floatData.length * 4 + t.doubleData.length * 8 + t.int32Data.length * 2;
}

/**
 * The outputs that hold class scores, where top-1 agreement means something: those a Softmax, LogSoftmax, Gemm or
 * MatMul produces (through reshapes), or named like scores (prob, logit, score, class, label, pred). A recurrent
 * state or an embedding has a last axis too, but its argmax is noise: the report shows it, the gate ignores it.
 */
export function classOutputs(m: QModel): Set<string> {
  const producers = new Map<string, NodeProto>();
  for (const n of m.graph.node) for (const o of n.output) producers.set(o, n);
  const passThrough = new Set(['Identity', 'Reshape', 'Flatten', 'Transpose', 'Squeeze', 'Unsqueeze', 'Cast']);
  const out = new Set<string>();
  for (const o of m.graph.output) {
    let n = producers.get(o.name);
    for (let hops = 0; n && passThrough.has(n.opType) && hops < 8; hops++) n = producers.get(n.input[0] ?? '');
    if ((n && ['Softmax', 'LogSoftmax', 'Gemm', 'MatMul'].includes(n.opType)) || /prob|logit|score|class|label|pred/i.test(o.name)) out.add(o.name);
  }
  return out;
}

/** The model's inputs as onnxruntime reports them (graph inputs that are not initializers), from the graph itself. */
export function graphInputs(m: QModel): TensorInfo[] {
  const inits = new Set(m.graph.initializer.map((t) => t.name));
  return m.graph.input
    .filter((i) => !inits.has(i.name))
    .map((i): TensorInfo => {
      const t = i.type?.value;
      if (t?.case !== 'tensorType') return { name: i.name, kind: t?.case === 'sequenceType' ? 'sequence' : t?.case === 'mapType' ? 'map' : t?.case === 'optionalType' ? 'optional' : 'sparse' };
      const dtype = dtypeFromOnnx(t.value.elemType);
      const shape = t.value.shape?.dim.map((d) => (d.value.case === 'dimValue' ? Number(d.value.value) : d.value.case === 'dimParam' ? d.value.value : null));
      return { name: i.name, kind: 'tensor', ...(dtype ? { dtype } : {}), ...(shape ? { shape } : {}) };
    });
}

function nodeNames(m: QModel): Set<string> {
  const out = new Set<string>();
  for (const s of m.scopes()) for (const n of s.graph.node) if (n.name) out.add(n.name);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------

/** Bytes of external data the model reads. */
function externalBytes(m: QModel): number {
  let n = 0;
  for (const s of m.scopes()) for (const t of s.graph.initializer) if (t.dataLocation === TensorProto_DataLocation.EXTERNAL) n += tensorBytes(t);
  return n;
}

