/**
 * `modelyard quantize`'s arguments, both ways: the parser the CLI runs, and `quantizeArgs`, which turns options into
 * the arguments that parse back to them — what the Quantize panel uses to start the CLI as a child process. A unit
 * test holds the two together.
 */
import { parseArgs } from 'node:util';
import { UserError } from '../../core/errors';
import { MODES, type QuantMode } from '../../core/quantize/types';

export const BLOCK_SIZES = [16, 32, 64, 128, 256] as const;

export interface QuantizeCliOptions {
  model: string;
  mode: QuantMode;
  repo?: string;
  output?: string;
  calibration?: string;
  validation?: string;
  /** NAME=D1,D2,… per input, the sizes of its open dims (random samples, and inputs a sample leaves out). */
  shapes?: string[];
  /** Unset: each form's default (per-channel for static int8, per-tensor for dynamic). */
  perChannel?: boolean;
  exclude?: string[];
  blockSize?: (typeof BLOCK_SIZES)[number];
  symmetric?: boolean;
  method?: 'minmax' | 'percentile';
  percentile?: number;
  sensitivity?: boolean;
  keepIoTypes?: boolean;
  blockOps?: string[];
  minCosine?: number;
  minTop1?: number;
  maxLatencyRatio?: number;
  runs?: number;
  evaluate?: boolean;
  report?: string;
  register?: boolean;
  asVersion?: boolean;
  tagVersion?: string;
  name?: string;
  progress?: 'text' | 'json';
  json?: boolean;
}

export const QUANTIZE_USAGE =
  'modelyard quantize MODEL --mode int8-dynamic|int8-static|int4|int8-weight|fp16|fp32|auto [-o OUT] [--calibration DIR|FILE.modeltest.json] [--validation DIR] [--shape NAME=1,512]... [--per-channel | --per-tensor] [--exclude OP|NODE,…] [--block-size 32] [--asymmetric] [--method minmax|percentile] [--percentile 99.999] [--no-sensitivity] [--min-cosine 0.99] [--min-top1 0.99] [--runs N] [--report FILE] [--register [--name NAME] [--as-version [--tag-version V]]] [--progress text|json] [--json]';

const OPTIONS = {
  json: { type: 'boolean' },
  repo: { type: 'string' },
  mode: { type: 'string' },
  output: { type: 'string', short: 'o' },
  calibration: { type: 'string' },
  validation: { type: 'string' },
  shape: { type: 'string', multiple: true },
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
} as const;

function num(v: string | undefined, what: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new UserError(`${what} takes a number from ${min} to ${max}, not '${v}'.`);
  return n;
}

const list = (v: string | undefined) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);

/** The CLI's arguments (after the verb) as options; a UserError names what is wrong. */
export function parseQuantizeArgs(args: readonly string[]): QuantizeCliOptions {
  const { values: v, positionals } = parseArgs({ args: [...args], options: OPTIONS, allowPositionals: true, strict: true });
  if (positionals.length !== 1) throw new UserError('wrong number of arguments.', `Usage: ${QUANTIZE_USAGE}`);
  const mode = v.mode as QuantMode | undefined;
  if (!mode) throw new UserError('--mode is required.', `Modes: ${MODES.join(', ')}. Try --mode auto.`);
  if (!MODES.includes(mode)) throw new UserError(`'${mode}' is not a quantization mode.`, `Modes: ${MODES.join(', ')}.`);
  const method = v.method;
  if (method !== undefined && method !== 'minmax' && method !== 'percentile') throw new UserError(`--method takes minmax or percentile, not '${method}'.`);
  const block = num(v['block-size'], '--block-size', 16, 256);
  if (block !== undefined && !(BLOCK_SIZES as readonly number[]).includes(block)) throw new UserError(`--block-size takes 16, 32, 64, 128 or 256, not ${block}.`);
  if (v['per-channel'] && v['per-tensor']) throw new UserError('give --per-channel or --per-tensor, not both.');
  const progress = v.progress ?? 'text';
  if (progress !== 'text' && progress !== 'json') throw new UserError(`--progress takes text or json, not '${progress}'.`);
  const keepIo = v['keep-io-types'];
  if (keepIo !== undefined && keepIo !== 'true' && keepIo !== 'false') throw new UserError(`--keep-io-types takes true or false, not '${keepIo}'.`);
  const exclude = (v.exclude ?? []).flatMap((e) => list(e));
  const o: QuantizeCliOptions = { model: positionals[0]!, mode };
  const set = <K extends keyof QuantizeCliOptions>(k: K, value: QuantizeCliOptions[K] | undefined) => {
    if (value !== undefined) o[k] = value;
  };
  set('repo', v.repo);
  set('output', v.output);
  set('calibration', v.calibration);
  set('validation', v.validation);
  set('shapes', v.shape?.length ? v.shape : undefined);
  set('perChannel', v['per-channel'] ? true : v['per-tensor'] ? false : undefined);
  set('exclude', exclude.length ? exclude : undefined);
  set('blockSize', block as QuantizeCliOptions['blockSize']);
  set('symmetric', v.asymmetric ? false : undefined);
  set('method', method);
  set('percentile', num(v.percentile, '--percentile', 50, 100));
  set('sensitivity', v['no-sensitivity'] ? false : undefined);
  set('keepIoTypes', keepIo === 'false' ? false : undefined);
  set('blockOps', v['block-ops'] !== undefined ? list(v['block-ops']) : undefined);
  set('minCosine', num(v['min-cosine'], '--min-cosine', -1, 1));
  set('minTop1', num(v['min-top1'], '--min-top1', 0, 1));
  set('maxLatencyRatio', num(v['max-latency-ratio'], '--max-latency-ratio', 0, 1000));
  set('runs', num(v.runs, '--runs', 0, 10_000));
  set('evaluate', v['no-eval'] ? false : undefined);
  set('report', v.report);
  set('register', v.register || undefined);
  set('asVersion', v['as-version'] || undefined);
  set('tagVersion', v['tag-version']);
  set('name', v.name);
  set('progress', v.progress !== undefined ? progress : undefined);
  set('json', v.json || undefined);
  return o;
}

/** The arguments (after the verb) that parseQuantizeArgs reads back as `o`. */
export function quantizeArgs(o: QuantizeCliOptions): string[] {
  const a: string[] = [o.model, '--mode', o.mode];
  const opt = (flag: string, value: string | number | undefined) => {
    if (value !== undefined) a.push(flag, String(value));
  };
  const flag = (name: string, on: boolean | undefined) => {
    if (on) a.push(name);
  };
  opt('--repo', o.repo);
  opt('--output', o.output);
  opt('--calibration', o.calibration);
  opt('--validation', o.validation);
  for (const sh of o.shapes ?? []) opt('--shape', sh);
  flag('--per-channel', o.perChannel === true);
  flag('--per-tensor', o.perChannel === false);
  if (o.exclude?.length) opt('--exclude', o.exclude.join(','));
  opt('--block-size', o.blockSize);
  flag('--asymmetric', o.symmetric === false);
  opt('--method', o.method);
  opt('--percentile', o.percentile);
  flag('--no-sensitivity', o.sensitivity === false);
  if (o.keepIoTypes === false) opt('--keep-io-types', 'false');
  if (o.blockOps) opt('--block-ops', o.blockOps.join(','));
  opt('--min-cosine', o.minCosine);
  opt('--min-top1', o.minTop1);
  opt('--max-latency-ratio', o.maxLatencyRatio);
  opt('--runs', o.runs);
  flag('--no-eval', o.evaluate === false);
  opt('--report', o.report);
  flag('--register', o.register);
  flag('--as-version', o.asVersion);
  opt('--tag-version', o.tagVersion);
  opt('--name', o.name);
  opt('--progress', o.progress);
  flag('--json', o.json);
  return a;
}
