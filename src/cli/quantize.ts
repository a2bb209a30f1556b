/** `modelyard quantize`: the same core as the editor's Quantize Model… command. */
import path from 'node:path';
import { UserError } from '../core/errors';
import type { Logger } from '../core/log';
import { quantize, type Progress, type QuantizeReport } from '../core/quantize/quantize';
import { checkCanRegister, registerQuantized, registerQuantizedVersion } from '../core/quantize/register';
import { gitIdentity } from '../core/registry/write';
import { reportToText } from '../core/quantize/report';
import { writeAtomic } from '../core/util/files';
import { parseQuantizeArgs } from '../shared/cli/quantize';
import { cliEvents } from './events';
import { gitRoot, resolveModel } from '../core/registry/modelRef';
import { interruptSignal, withHost } from './model';

type Out = (s: string) => void;

export async function quantizeCommand(args: string[], out: Out, log: Logger): Promise<number> {
  const o = parseQuantizeArgs(args);
  const progressMode = o.progress ?? 'text';
  const model = await resolveModel(o.model, { ...(o.repo ? { repo: o.repo } : {}), log });
  const input = model.path ?? model.file;
  if (!input) throw new UserError(`${model.label} has no file in the working tree to write beside.`, 'Give -o OUT.');
  const output = o.output ? path.resolve(o.output) : undefined;
  // What --register needs is checked first: a refusal after minutes of calibration would waste them.
  let registerRoot: string | undefined;
  if (o.register) {
    registerRoot = await gitRoot(path.dirname(output ?? input), log);
    if (!registerRoot) throw new UserError(`${output ?? input} is not in a git repository.`, 'Run inside the model repository to --register.');
    if (o.asVersion) await gitIdentity(registerRoot, log);
    else await checkCanRegister(registerRoot, log);
  }
  const stop = interruptSignal();
  const events = cliEvents({ stderr: progressMode === 'json' });
  const onProgress = (p: Progress) => {
    if (events.active) events.emit({ event: 'progress', message: p.message, ...(p.fraction !== undefined ? { fraction: p.fraction } : {}) });
    if (progressMode === 'text' && process.stderr.isTTY) process.stderr.write(`\r\x1b[K${p.message}${p.fraction !== undefined ? ` (${Math.round(p.fraction * 100)}%)` : ''}`);
  };
  let report: QuantizeReport;
  try {
    report = await withHost(log, (host) =>
      quantize({
        input,
        ...(model.bytes ? { bytes: model.bytes } : {}),
        label: model.label,
        ...(output ? { output } : {}),
        mode: o.mode,
        ...(o.perChannel !== undefined ? { perChannel: o.perChannel } : {}),
        exclude: o.exclude ?? [],
        ...(o.blockSize ? { blockSize: o.blockSize as 32 } : {}),
        ...(o.symmetric === false ? { symmetric: false } : {}),
        ...(o.method ? { calibrationMethod: o.method } : {}),
        ...(o.percentile !== undefined ? { percentile: o.percentile } : {}),
        ...(o.sensitivity === false ? { sensitivity: false } : {}),
        ...(o.keepIoTypes === false ? { keepIoTypes: false } : {}),
        ...(o.blockOps ? { blockOps: o.blockOps } : {}),
        ...(o.calibration ? { calibration: path.resolve(o.calibration) } : {}),
        ...(o.validation ? { validation: path.resolve(o.validation) } : {}),
        ...(o.shapes ? { shapes: o.shapes } : {}),
        thresholds: {
          ...(o.minCosine !== undefined ? { minCosine: o.minCosine } : {}),
          ...(o.minTop1 !== undefined ? { minTop1: o.minTop1 } : {}),
          ...(o.maxLatencyRatio !== undefined ? { maxLatencyRatio: o.maxLatencyRatio } : {}),
        },
        ...(o.runs !== undefined ? { latencyRuns: o.runs } : {}),
        ...(o.evaluate === false ? { evaluate: false } : {}),
        host,
        signal: stop.signal,
        progress: onProgress,
      }),
    );
  } finally {
    stop.dispose();
    if (progressMode === 'text' && process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  }
  if (o.report) await writeAtomic(path.resolve(o.report), JSON.stringify(report, null, 2) + '\n');
  let registered: { tag: string; name: string; version: string } | undefined;
  if (o.register) {
    const root = registerRoot!;
    const sourceRef = model.version ? `${model.registryName}@${model.version}` : model.label;
    const asVersion = o.tagVersion;
    if (o.asVersion) {
      const name = o.name ?? model.registryName;
      if (!name) throw new UserError('--as-version needs the model to register a version of.', 'Give MODEL as a registry reference (name@v1.2.0), or --name NAME.');
      registered = await registerQuantizedVersion(root, report, { name, ...(asVersion ? { version: asVersion } : {}), sourceRef, ...(model.commit ? { sourceCommit: model.commit } : {}), log });
    } else {
      registered = await registerQuantized(root, report, {
        ...(o.name ? { name: o.name } : {}),
        ...(model.registryName ? { sourceName: model.registryName } : {}),
        sourceRef,
        ...(model.commit ? { sourceCommit: model.commit } : {}),
        log,
      });
    }
  }
  if (o.json) out(JSON.stringify({ ...report, ...(registered ? { registered } : {}) }, null, 2) + '\n');
  else out(reportToText(report) + (registered ? `registered ${registered.name}@${registered.version} (tag ${registered.tag})\n` : ''));
  return report.verdict.pass ? 0 : 1;
}

export const QUANTIZE_HELP = `Quantization (MODEL: a file or a registry reference; the result is written beside the original, never over it):
  quantize MODEL --mode MODE [-o OUT] [--calibration DIR|FILE.modeltest.json] [--per-channel|--per-tensor]
                 [--shape NAME=1,512]... [--exclude OP|NODE,…] [--report FILE]
                 [--register [--name NAME | --as-version]] [--json]
                                       MODE: int8-dynamic (MatMul/Gemm), int8-static (QDQ, calibrated),
                                       int4 or int8-weight (MatMulNBits), fp16, fp32 (fp16 back to float),
                                       auto (profile the model, try the forms that suit it, keep the best
                                       that passes the fidelity gate). Prints sizes, fidelity per output
                                       against the original, latency from interleaved runs, what was
                                       converted or left alone and why; exit 1 when the gate fails.
                                       Without data, random inputs: open dims are guessed (batch 1,
                                       audio 512 or 16000 samples, sequences 128 …), guessed again if
                                       the model refuses them; --shape sets them.
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
