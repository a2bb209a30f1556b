/** The local-testing verbs of the CLI: inspect, run, bench, compare. */
import { parseArgs } from 'node:util';
import { UserError } from '../core/errors';
import type { BenchResult, SweepEntry } from '../core/inference/bench';
import { sweepThreads } from '../core/inference/bench';
import { compareSessions, DEFAULT_TOLERANCES, type ComparisonReport } from '../core/inference/compare';
import { guessText, makeFeeds, shapeOverrides, type GuessedDim } from '../core/inference/inputs';
import { tensorToJson } from '../core/inference/json';
import { tensorStats } from '../core/inference/stats';
import { formatShape, type Tensor } from '../core/inference/tensor';
import type { Logger } from '../core/log';
import { summaryToText } from '../core/onnx/report';
import { resolveModel } from '../core/registry/modelRef';
import { feedsFor, inputSources, summarize, withHost, writeOutputs, interruptSignal } from './model';

type Out = (s: string) => void;

type OptionSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>;

export function parse<T extends OptionSpec>(args: string[], options: T, positionals: [number, number], usage: string) {
  const r = parseArgs({ args, options: { json: { type: 'boolean' }, repo: { type: 'string' }, ...options }, allowPositionals: true, strict: true });
  if (r.positionals.length < positionals[0] || r.positionals.length > positionals[1]) throw new UserError('wrong number of arguments.', `Usage: ${usage}`);
  return r;
}

/**
 * A whole-number option (digits only) from `min` (to `max`); a UserError names the option, the range and the value,
 * with `hint` as its way out when there is more to say.
 */
export function positiveInt(v: string | undefined, what: string, min = 1, max = Infinity, hint?: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n < min || n > max) throw new UserError(`${what} takes a whole number from ${min}${max < Infinity ? ` to ${max}` : ''}, not '${v}'.`, hint);
  return n;
}

function nonNegative(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UserError(`${what} takes a number of 0 or more, not '${v}'.`);
  return n;
}

const num = (v: number | null | undefined, digits = 4) => (v === null || v === undefined ? '-' : Number.isInteger(v) ? String(v) : String(+v.toPrecision(digits)));

function guessesText(guessed: GuessedDim[]): string {
  if (!guessed.length) return '';
  return `note: open dims guessed: ${guessed.map(guessText).join(', ')}; set them with --shape NAME=D1,D2,…\n`;
}

// ---------------------------------------------------------------------------------------------------------------

export async function inspectCommand(args: string[], out: Out, log: Logger): Promise<number> {
  const { values, positionals } = parse(args, {}, [1, 1], 'modelyard inspect MODEL [--repo DIR] [--json]');
  const model = await resolveModel(positionals[0]!, { repo: values.repo as string | undefined, log });
  const s = await summarize(model);
  out(values.json ? JSON.stringify(s, null, 2) + '\n' : summaryToText(s));
  return 0;
}

// ---------------------------------------------------------------------------------------------------------------

const RUN_USAGE =
  'modelyard run MODEL [--input NAME=FILE.npy|FILE.json|FILE.png|FILE.wav|random[:SEED]|zeros|ones]... [--shape NAME=1,3,224,224]... [--output-dir DIR] [--threads N] [--json]';

function outputRows(outputs: Record<string, Tensor>): string {
  const lines: string[] = [];
  for (const [name, t] of Object.entries(outputs)) {
    const s = tensorStats(t, 8);
    lines.push(`${name}  ${t.dtype} ${formatShape(t.shape)}`);
    if (s.min !== null) lines.push(`  min ${num(s.min)}  max ${num(s.max)}  mean ${num(s.mean)}  std ${num(s.std)}${s.nan ? `  NaN ${s.nan}` : ''}${s.inf ? `  Inf ${s.inf}` : ''}`);
    else if (s.nan || s.inf) lines.push(`  NaN ${s.nan}  Inf ${s.inf}`);
    lines.push(`  values ${s.first.map((v) => (typeof v === 'number' ? num(v, 6) : JSON.stringify(v))).join(', ')}${s.count > s.first.length ? `, … (${s.count} in all)` : ''}`);
  }
  return lines.join('\n') + '\n';
}

export async function runCommand(args: string[], out: Out, log: Logger): Promise<number> {
  const { values, positionals } = parse(
    args,
    { input: { type: 'string', multiple: true }, shape: { type: 'string', multiple: true }, 'output-dir': { type: 'string' }, threads: { type: 'string' } },
    [1, 1],
    RUN_USAGE,
  );
  const threads = positiveInt(values.threads as string | undefined, '--threads');
  const model = await resolveModel(positionals[0]!, { repo: values.repo as string | undefined, log });
  const stop = interruptSignal();
  try {
    return await withHost(log, async (host) => {
      const s = await host.load(model.source, threads ? { intraOpThreads: threads } : {}, { signal: stop.signal });
      const made = await feedsFor(s.inputs, { input: values.input as string[] | undefined, shape: values.shape as string[] | undefined });
      const r = await host.run(s.id, made.feeds, { signal: stop.signal });
      const written = values['output-dir'] ? await writeOutputs(values['output-dir'] as string, r.outputs) : [];
      if (values.json) {
        const result = {
          model: model.label,
          ms: +r.ms.toFixed(3),
          inputs: Object.entries(made.feeds).map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, source: made.notes[name] ?? [] })),
          guessed: made.guessed,
          outputs: Object.entries(r.outputs).map(([name, t]) => tensorToJson(t, name)),
          ...(written.length ? { written } : {}),
        };
        out(JSON.stringify(result) + '\n');
      } else {
        out(guessesText(made.guessed));
        out(outputRows(r.outputs));
        out(`ran in ${r.ms.toFixed(2)} ms${written.length ? `; wrote ${written.join(', ')}` : ''}\n`);
      }
      return 0;
    });
  } finally {
    stop.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------------------

const BENCH_USAGE = 'modelyard bench MODEL [--runs N] [--warmup N] [--budget SECONDS] [--threads N[,N…]] [--input …] [--shape …] [--json]';

function benchJson(r: BenchResult) {
  const { latencies, ...rest } = r;
  void latencies;
  return rest;
}

function benchLine(r: BenchResult): string {
  const f = (v: number) => v.toFixed(3);
  return `runs ${r.runs} (+${r.warmup} warm-up)  p50 ${f(r.p50)} ms  p90 ${f(r.p90)} ms  p99 ${f(r.p99)} ms  mean ${f(r.mean)} ± ${f(r.std)} ms  min ${f(r.min)}  max ${f(r.max)}  ${r.throughput.toFixed(1)} runs/s`;
}

export async function benchCommand(args: string[], out: Out, log: Logger): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      runs: { type: 'string' },
      warmup: { type: 'string' },
      budget: { type: 'string' },
      threads: { type: 'string' },
      input: { type: 'string', multiple: true },
      shape: { type: 'string', multiple: true },
    },
    [1, 1],
    BENCH_USAGE,
  );
  const runs = positiveInt(values.runs as string | undefined, '--runs');
  const warmup = positiveInt(values.warmup as string | undefined, '--warmup', 0);
  const budget = nonNegative(values.budget as string | undefined, '--budget');
  const threadText = values.threads as string | undefined;
  const threads = threadText === undefined ? [] : threadText.split(',').map((t) => positiveInt(t.trim(), '--threads')!);
  const settings = { ...(runs !== undefined ? { runs } : {}), ...(warmup !== undefined ? { warmup } : {}), ...(budget !== undefined ? { budgetMs: budget * 1000 } : {}) };
  const model = await resolveModel(positionals[0]!, { repo: values.repo as string | undefined, log });
  const stop = interruptSignal();
  try {
    return await withHost(log, async (host) => {
      const s = await host.load(model.source, threads.length === 1 ? { intraOpThreads: threads[0] } : {}, { signal: stop.signal });
      const made = await feedsFor(s.inputs, { input: values.input as string[] | undefined, shape: values.shape as string[] | undefined });
      if (threads.length > 1) {
        await host.release(s.id);
        const sweep: SweepEntry[] = await sweepThreads(host, model.source, made.feeds, threads, { ...settings, signal: stop.signal });
        if (values.json) out(JSON.stringify({ model: model.label, sweep: sweep.map((e) => ({ threads: e.threads, loadMs: e.loadMs, ...benchJson(e.result) })) }) + '\n');
        else {
          out(guessesText(made.guessed));
          const best = Math.min(...sweep.map((e) => e.result.p50));
          for (const e of sweep) out(`threads ${String(e.threads).padStart(3)}  ${benchLine(e.result)}${e.result.p50 === best ? '  ← fastest' : ''}\n`);
        }
        return 0;
      }
      const r = await host.bench(s.id, made.feeds, { ...settings, signal: stop.signal });
      if (values.json) out(JSON.stringify({ model: model.label, threads: threads[0] ?? null, loadMs: s.loadMs, ...benchJson(r) }) + '\n');
      else {
        out(guessesText(made.guessed));
        out(`${model.label}: ${benchLine(r)}\n`);
      }
      return 0;
    });
  } finally {
    stop.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------------------

const COMPARE_USAGE = 'modelyard compare A B [--input …] [--shape …] [--atol X] [--rtol X] [--min-cosine X] [--runs N] [--json]';

function compareText(r: ComparisonReport, a: string, b: string): string {
  const lines = [`A ${a}`, `B ${b}`];
  for (const o of r.outputs) {
    const name = o.nameB ? `${o.name} / ${o.nameB}` : o.name;
    lines.push(
      `${o.pass ? 'ok  ' : 'FAIL'} ${name}  ${o.dtypeA} ${formatShape(o.shapeA)}${o.compared ? `  max abs ${num(o.maxAbsError, 3)}  max rel ${num(o.maxRelError, 3)}${o.cosine !== null ? `  cosine ${num(o.cosine, 7)}` : ''}${o.top1 ? `  top-1 ${(o.top1.agreement * 100).toFixed(1)}%` : ''}  mismatches ${o.mismatches}/${o.count}` : ''}`,
    );
  }
  if (r.latency) lines.push(`latency  A ${r.latency.a.toFixed(3)} ms  B ${r.latency.b.toFixed(3)} ms  B/A ${r.latency.ratio.toFixed(2)}× (median of ${r.latency.runs})`);
  const t = r.tolerances;
  if (r.verdict.pass) lines.push(`PASS within atol ${t.atol}, rtol ${t.rtol}, min cosine ${t.minCosine}`);
  else lines.push(`FAIL (atol ${t.atol}, rtol ${t.rtol}, min cosine ${t.minCosine}):`, ...r.verdict.reasons.map((x) => `  - ${x}`));
  return lines.join('\n') + '\n';
}

export async function compareCommand(args: string[], out: Out, log: Logger): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      input: { type: 'string', multiple: true },
      shape: { type: 'string', multiple: true },
      atol: { type: 'string' },
      rtol: { type: 'string' },
      'min-cosine': { type: 'string' },
      runs: { type: 'string' },
      seed: { type: 'string' },
      threads: { type: 'string' },
    },
    [2, 2],
    COMPARE_USAGE,
  );
  const tolerances = {
    atol: nonNegative(values.atol as string | undefined, '--atol') ?? DEFAULT_TOLERANCES.atol,
    rtol: nonNegative(values.rtol as string | undefined, '--rtol') ?? DEFAULT_TOLERANCES.rtol,
    minCosine: nonNegative(values['min-cosine'] as string | undefined, '--min-cosine') ?? DEFAULT_TOLERANCES.minCosine,
  };
  const runs = positiveInt(values.runs as string | undefined, '--runs', 0);
  const seed = values.seed === undefined ? undefined : positiveInt(values.seed as string, '--seed', 0);
  const threads = positiveInt(values.threads as string | undefined, '--threads');
  const repo = values.repo as string | undefined;
  const a = await resolveModel(positionals[0]!, { repo, log });
  const b = await resolveModel(positionals[1]!, { repo, log });
  const stop = interruptSignal();
  try {
    return await withHost(log, async (host) => {
      const options = threads ? { intraOpThreads: threads } : {};
      const sa = await host.load(a.source, options, { signal: stop.signal });
      const sb = await host.load(b.source, options, { signal: stop.signal });
      const sources = await inputSources((values.input as string[] | undefined) ?? [], sa.inputs);
      const made = await makeFeeds(sa.inputs, { sources, overrides: shapeOverrides((values.shape as string[] | undefined) ?? [], sa.inputs), seed });
      const r = await compareSessions(host, sa.id, sb.id, made.feeds, { tolerances, runs, signal: stop.signal });
      if (values.json) out(JSON.stringify({ a: a.label, b: b.label, ...r }) + '\n');
      else out(guessesText(made.guessed) + compareText(r, a.label, b.label));
      return r.verdict.pass ? 0 : 1;
    });
  } finally {
    stop.dispose();
  }
}
