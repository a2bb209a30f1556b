/** `modelyard quantize`: the same core as the editor's Quantize Model… command. */
import path from 'node:path';
import { UserError } from '../core/errors';
import type { Logger } from '../core/log';
import { quantize, type Progress, type QuantizeReport } from '../core/quantize/quantize';
import { checkCanRegister, registerQuantized, registerQuantizedVersion } from '../core/quantize/register';
import { gitIdentity } from '../core/registry/write';
import { reportToText } from '../core/quantize/report';
import { CancelledError, MODES, type QuantMode } from '../core/quantize/types';
import { writeAtomic } from '../core/util/files';
import { parse } from './inference';
import { gitRoot, interruptSignal, resolveModel, withHost } from './model';

type Out = (s: string) => void;

export const QUANTIZE_USAGE =
  'modelyard quantize MODEL --mode int8-dynamic|int8-static|int4|int8-weight|fp16|fp32|auto [-o OUT] [--calibration DIR|FILE.modeltest.json] [--validation DIR] [--per-channel | --per-tensor] [--exclude OP|NODE,…] [--block-size 32] [--asymmetric] [--method minmax|percentile] [--percentile 99.999] [--no-sensitivity] [--min-cosine 0.99] [--min-top1 0.99] [--runs N] [--report FILE] [--register [--name NAME] [--as-version [--tag-version V]]] [--progress text|json] [--json]';

function num(v: string | undefined, what: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new UserError(`${what} takes a number from ${min} to ${max}, not '${v}'.`);
  return n;
}

export async function quantizeCommand(args: string[], out: Out, log: Logger): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      mode: { type: 'string' },
      output: { type: 'string', short: 'o' },
      calibration: { type: 'string' },
      validation: { type: 'string' },
      'per-channel': { type: 'boolean' },
      'per-tensor': { type: 'boolean' },
      exclude: { type: 'string', multiple: true },
      'block-size': { type: 'string' },
      asymmetric: { type: 'boolean' },
      method: { type: 'string' },
      percentile: { type: 'string' },
      'no-sensitivity': { type: 'boolean' },
      'keep-io-types': { type: 'string' },
      'block-ops': { type: 'string' },
      'min-cosine': { type: 'string' },
      'min-top1': { type: 'string' },
      'max-latency-ratio': { type: 'string' },
      runs: { type: 'string' },
      report: { type: 'string' },
      register: { type: 'boolean' },
      'as-version': { type: 'boolean' },
      'tag-version': { type: 'string' },
      name: { type: 'string' },
      progress: { type: 'string' },
      'no-eval': { type: 'boolean' },
    },
    [1, 1],
    QUANTIZE_USAGE,
  );
  const mode = values.mode as QuantMode | undefined;
  if (!mode) throw new UserError('--mode is required.', `Modes: ${MODES.join(', ')}. Try --mode auto.`);
  if (!MODES.includes(mode)) throw new UserError(`'${mode}' is not a quantization mode.`, `Modes: ${MODES.join(', ')}.`);
  const method = values.method as string | undefined;
  if (method !== undefined && method !== 'minmax' && method !== 'percentile') throw new UserError(`--method takes minmax or percentile, not '${method}'.`);
  const block = num(values['block-size'] as string | undefined, '--block-size', 16, 256);
  if (block !== undefined && ![16, 32, 64, 128, 256].includes(block)) throw new UserError(`--block-size takes 16, 32, 64, 128 or 256, not ${block}.`);
  if (values['per-channel'] && values['per-tensor']) throw new UserError('give --per-channel or --per-tensor, not both.');
  const progressMode = (values.progress as string | undefined) ?? 'text';
  if (progressMode !== 'text' && progressMode !== 'json') throw new UserError(`--progress takes text or json, not '${progressMode}'.`);

  const repo = values.repo as string | undefined;
  const model = await resolveModel(positionals[0]!, { repo, log });
  const input = model.path ?? model.file;
  if (!input) throw new UserError(`${model.label} has no file in the working tree to write beside.`, 'Give -o OUT.');
  const output = values.output ? path.resolve(values.output as string) : undefined;
  // What --register needs is checked first: a refusal after minutes of calibration would waste them.
  let registerRoot: string | undefined;
  if (values.register) {
    registerRoot = await gitRoot(path.dirname(output ?? input), log);
    if (!registerRoot) throw new UserError(`${output ?? input} is not in a git repository.`, 'Run inside the model repository to --register.');
    if (values['as-version']) await gitIdentity(registerRoot, log);
    else await checkCanRegister(registerRoot, log);
  }
  const stop = interruptSignal();
  const onProgress = (p: Progress) => {
    if (progressMode === 'json') process.stderr.write(JSON.stringify({ event: 'progress', ...p }) + '\n');
    else if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${p.message}${p.fraction !== undefined ? ` (${Math.round(p.fraction * 100)}%)` : ''}`);
  };
  let report: QuantizeReport;
  try {
    report = await withHost(log, (host) =>
      quantize({
        input,
        ...(model.bytes ? { bytes: model.bytes } : {}),
        label: model.label,
        ...(output ? { output } : {}),
        mode,
        // Unset: each form's default (per-channel for static int8, per-tensor for dynamic, as onnxruntime's fusions prefer).
        ...(values['per-channel'] ? { perChannel: true } : values['per-tensor'] ? { perChannel: false } : {}),
        exclude: ((values.exclude as string[] | undefined) ?? []).flatMap((e) => e.split(',')).filter(Boolean),
        ...(block ? { blockSize: block as 32 } : {}),
        ...(values.asymmetric ? { symmetric: false } : {}),
        ...(method ? { calibrationMethod: method as 'minmax' } : {}),
        ...(values.percentile ? { percentile: num(values.percentile as string, '--percentile', 50, 100) } : {}),
        ...(values['no-sensitivity'] ? { sensitivity: false } : {}),
        ...(values['keep-io-types'] === 'false' ? { keepIoTypes: false } : {}),
        ...(values['block-ops'] ? { blockOps: (values['block-ops'] as string).split(',').filter(Boolean) } : {}),
        ...(values.calibration ? { calibration: path.resolve(values.calibration as string) } : {}),
        ...(values.validation ? { validation: path.resolve(values.validation as string) } : {}),
        thresholds: {
          ...(values['min-cosine'] ? { minCosine: num(values['min-cosine'] as string, '--min-cosine', -1, 1) } : {}),
          ...(values['min-top1'] ? { minTop1: num(values['min-top1'] as string, '--min-top1', 0, 1) } : {}),
          ...(values['max-latency-ratio'] ? { maxLatencyRatio: num(values['max-latency-ratio'] as string, '--max-latency-ratio', 0, 1000) } : {}),
        },
        ...(values.runs !== undefined ? { latencyRuns: num(values.runs as string, '--runs', 0, 10_000) } : {}),
        ...(values['no-eval'] ? { evaluate: false } : {}),
        host,
        signal: stop.signal,
        progress: onProgress,
      }),
    );
  } catch (e) {
    // The editor runs this verb as a child process: it reads the error as one JSON line, message and hint apart.
    if (progressMode === 'json' && e instanceof UserError) process.stderr.write(JSON.stringify({ event: 'error', message: e.message, hint: e.hint, cancelled: e instanceof CancelledError }) + '\n');
    throw e;
  } finally {
    stop.dispose();
    if (progressMode === 'text' && process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  }
  if (values.report) await writeAtomic(path.resolve(values.report as string), JSON.stringify(report, null, 2) + '\n');
  let registered: { tag: string; name: string; version: string } | undefined;
  if (values.register) {
    const root = registerRoot!;
    const sourceRef = model.version ? `${model.registryName}@${model.version}` : model.label;
    const asVersion = values['tag-version'] as string | undefined;
    if (values['as-version']) {
      const name = (values.name as string | undefined) ?? model.registryName;
      if (!name) throw new UserError('--as-version needs the model to register a version of.', 'Give MODEL as a registry reference (name@v1.2.0), or --name NAME.');
      registered = await registerQuantizedVersion(root, report, { name, ...(asVersion ? { version: asVersion } : {}), sourceRef, ...(model.commit ? { sourceCommit: model.commit } : {}), log });
    } else {
      registered = await registerQuantized(root, report, {
        ...(values.name ? { name: values.name as string } : {}),
        ...(model.registryName ? { sourceName: model.registryName } : {}),
        sourceRef,
        ...(model.commit ? { sourceCommit: model.commit } : {}),
        log,
      });
    }
  }
  if (values.json) out(JSON.stringify({ ...report, ...(registered ? { registered } : {}) }, null, 2) + '\n');
  else out(reportToText(report) + (registered ? `registered ${registered.name}@${registered.version} (tag ${registered.tag})\n` : ''));
  return report.verdict.pass ? 0 : 1;
}

export const QUANTIZE_HELP = `Quantization (MODEL: a file or a registry reference; the result is written beside the original, never over it):
  quantize MODEL --mode MODE [-o OUT] [--calibration DIR|FILE.modeltest.json] [--per-channel|--per-tensor]
                 [--exclude OP|NODE,…] [--report FILE] [--register [--name NAME | --as-version]] [--json]
                                       MODE: int8-dynamic (MatMul/Gemm), int8-static (QDQ, calibrated),
                                       int4 or int8-weight (MatMulNBits), fp16, fp32 (fp16 back to float),
                                       auto (profile the model, try the forms that suit it, keep the best
                                       that passes the fidelity gate). Prints sizes, fidelity per output
                                       against the original, latency from interleaved runs, what was
                                       converted or left alone and why; exit 1 when the gate fails.
                                       More: --validation DIR, --method minmax|percentile, --percentile P,
                                       --no-sensitivity, --block-size 16..256, --asymmetric,
                                       --keep-io-types false, --block-ops OP,…, --min-cosine X (0.99),
                                       --min-top1 X (0.99), --max-latency-ratio X, --runs N (10),
                                       --progress json (JSON lines on stderr), --no-eval (write, do not
                                       measure). --register: commit the result with a dvc.yaml entry as a
                                       new model (NAME-int8 …) and tag it with its lineage; with
                                       --as-version, tag it as the next version of MODEL itself (or
                                       --tag-version V): a commit on top of HEAD holds the quantized bytes
                                       at the model's path; the branch and the working tree stay as they are.
`;
