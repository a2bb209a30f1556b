// The inference path against the ONNX node conformance suite (about 1,850 single-operator models with their inputs
// and expected outputs, written by the onnx package): every case goes through InferenceHost → the worker process →
// onnxruntime-node, its inputs fed, its outputs judged as the onnx backend test runner judges them
// (onnx/backend/test/runner assert_similar_outputs: rtol 1e-3, atol 1e-7 — what every node case declares —, NaN
// equal to NaN, same dtype and shape, strings exactly).
//
//   npx tsx test/conformance/onnx-inference.ts [--only REGEX] [--no-python] [--verbose]
//
// A case that does not pass here is not necessarily Modelyard's fault: onnxruntime lacks kernels, refuses newer IR
// versions, and computes some values differently from the reference. Two references tell these apart:
//   bare    the same onnxruntime-node 1.30, loaded in a child process of this script without Modelyard (session
//           options, feeds and judging identical), over every case, concurrently with the host's run. The host's
//           outputs must equal its outputs to the bit; a case that fails through the host but not bare is
//           Modelyard's bug, a case that fails alike in both is onnxruntime's.
//   python  onnxruntime 1.31.1 from PyPI (onnx_ort_reference.py), on every case that does not pass: whether
//           onnxruntime fails it too, or a newer onnxruntime does better.
// Classes: passed · failed (Modelyard's own errors: a result bare onnxruntime-node does not share — wrong values,
// refused or mangled feeds, a crash of the worker) · onnxruntime's limits (no session, a run error, values off the
// reference, a crash: all shared with bare onnxruntime-node) · not feedable (element types onnxruntime-node has no
// JavaScript tensor for: bfloat16, float8, int4, …) · not generated (sequence, map and optional values, listed by
// the generator). Prints a table, every case outside "passed" with onnxruntime's first line, and a last line
// "inference: N passed, N failed" where failed counts Modelyard's errors only; exit 1 when there are any.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import type * as Ort from 'onnxruntime-node';
import { describeError, firstLine } from '../../src/core/errors';
import { compareTensors, type Tolerances } from '../../src/core/inference/compare';
import { InferenceError, type InferenceHost } from '../../src/core/inference/host';
import type { SessionOptions } from '../../src/core/inference/protocol';
import { isTensorDType, type Tensor } from '../../src/core/inference/tensor';
import { python } from '../support/fixtures';
import { testHost } from '../support/inference';
import { ensureConformanceCases, loadConformanceCases, type ConformanceCase, type NamedTensor } from './cases';

/** onnx/backend/test/case/node: every node case is made with rtol 1e-3, atol 1e-7. No cosine test. */
const TOLERANCES: Tolerances = { rtol: 1e-3, atol: 1e-7, minCosine: -Infinity };
/**
 * One thread per session, in the host, bare and Python alike: single-operator models gain nothing from a thread
 * pool, three processes share two cores, and the bit-for-bit comparison with bare needs the same reduction order.
 */
const SESSION: SessionOptions = { intraOpThreads: 1, interOpThreads: 1, graphOptimizationLevel: 'all' };
const CALL_TIMEOUT_MS = 60_000;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

/** What happened to a case on one path. */
interface Outcome {
  name: string;
  /**
   * pass · wrong (outputs off the expected ones) · load (no session) · run (the run failed) · crash (the process
   * died or hung) · dtype (an element type onnxruntime-node cannot take or give) · refused (Modelyard's own checks
   * refused the call).
   */
  status: 'pass' | 'wrong' | 'load' | 'run' | 'crash' | 'dtype' | 'refused';
  error?: string;
  /** Largest absolute error over the outputs' finite values. */
  maxAbs?: number;
  /** sha1 of every output (name, dtype, shape, bytes), to tell identical results from merely close ones. */
  digest?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Judging outputs (shared by the host and bare paths)

/** onnxruntime's message without what differs between processes and callers: paths, source locations, prefixes. */
function ortLine(message: string): string {
  return firstLine(message)
    .replace(/^Error:\s*/, '')
    .replace(/^onnxruntime could not load \S+?: /, '')
    .replace(/^onnxruntime failed to run the model: /, '')
    .replace(/^\[ONNXRuntimeError\] : \d+ : \w+ : /, '')
    .replace(/^Load model from \S+ failed:\s*/, '')
    .replace(/\/onnxruntime_src\/\S+:\d+ (?:[\w:<>,*& ]+\([^)]*\)(?:::<lambda\(\)>)?(?: const)? )?/g, '')
    .trim();
}

function digest(outputs: Record<string, Tensor>): string {
  const h = crypto.createHash('sha1');
  for (const name of Object.keys(outputs).sort()) {
    const t = outputs[name]!;
    h.update(`${name}\0${t.dtype}\0${t.shape.join(',')}\0`);
    if (Array.isArray(t.data)) for (const s of t.data) h.update(`${s.length}:${s}`);
    else h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return h.digest('hex');
}

/** The outputs of one data set against the expected ones. */
function judge(name: string, expected: NamedTensor[], actual: Record<string, Tensor>): Outcome {
  const reasons: string[] = [];
  let maxAbs = 0;
  for (const e of expected) {
    const a = actual[e.name];
    if (!a) {
      reasons.push(`output '${e.name}' is missing`);
      continue;
    }
    const c = compareTensors(e.name, { dtype: e.dtype, shape: e.shape, data: e.data }, a, TOLERANCES);
    if (c.compared) maxAbs = Math.max(maxAbs, c.maxAbsError);
    if (!c.pass) reasons.push(c.reasons.join('; '));
  }
  return { name, status: reasons.length ? 'wrong' : 'pass', error: reasons.join(' | ') || undefined, maxAbs, digest: digest(actual) };
}

/** Every data set of a case in turn; the first that does not pass decides. */
async function runSets(c: ConformanceCase, once: (inputs: NamedTensor[]) => Promise<{ outputs: Record<string, Tensor> } | { failed: Outcome }>): Promise<Outcome> {
  if (!c.dataSets.length) return { name: c.name, status: 'wrong', error: 'the case has no data set' };
  const digests: string[] = [];
  let maxAbs = 0;
  for (const set of c.dataSets) {
    const r = await once(set.inputs);
    if ('failed' in r) return r.failed;
    const o = judge(c.name, set.outputs, r.outputs);
    digests.push(o.digest!);
    maxAbs = Math.max(maxAbs, o.maxAbs ?? 0);
    if (o.status !== 'pass') return { ...o, digest: digests.join('+') };
  }
  return { name: c.name, status: 'pass', maxAbs, digest: digests.join('+') };
}

const unfeedable = (ts: readonly NamedTensor[]) => ts.filter((t) => !isTensorDType(t.dtype)).map((t) => `${t.name} (${t.dtype})`);

/**
 * onnxruntime-node's refusal of an element type it has no JavaScript tensor for, named by the case's own types:
 * "Unsupported data type: 24" numbers it in onnxruntime's C API enum, which parts from ONNX's after 23 (24 is
 * uint2 there, float8e8m0 in ONNX).
 */
function dtypeLine(message: string, c: ConformanceCase): string | undefined {
  if (!/Unsupported data type: \d+|Tensor\.type is not supported|[Uu]nsupported tensor type/.test(message)) return undefined;
  const types = [...new Set(c.dataSets.flatMap((d) => [...d.inputs, ...d.outputs]).filter((t) => !isTensorDType(t.dtype)).map((t) => t.dtype))];
  return `onnxruntime-node has no tensor for ${types.join(', ') || 'a type of this model'}: ${ortLine(message)}`;
}

// ---------------------------------------------------------------------------------------------------------------
// The host path

async function viaHost(host: InferenceHost, c: ConformanceCase): Promise<Outcome> {
  let id: string;
  try {
    id = (await host.load({ path: c.modelPath }, SESSION, { timeoutMs: CALL_TIMEOUT_MS })).id;
  } catch (e) {
    return failure(c, e, 'load', []);
  }
  try {
    return await runSets(c, async (inputs) => {
      const feeds: Record<string, Tensor> = {};
      for (const t of inputs) feeds[t.name] = { dtype: t.dtype, shape: t.shape, data: t.data };
      try {
        return { outputs: (await host.run(id, feeds, { timeoutMs: CALL_TIMEOUT_MS })).outputs };
      } catch (e) {
        return { failed: failure(c, e, 'run', inputs) };
      }
    });
  } finally {
    await host.release(id);
  }
}

/** A failed host call as an outcome: onnxruntime's error, a dead worker, or a refusal of Modelyard's own checks. */
function failure(c: ConformanceCase, e: unknown, stage: 'load' | 'run', inputs: NamedTensor[]): Outcome {
  const name = c.name;
  const message = describeError(e);
  if (e instanceof InferenceError) {
    if (e.reason === 'onnxruntime') {
      const dtype = dtypeLine(e.message, c);
      return dtype ? { name, status: 'dtype', error: dtype } : { name, status: stage, error: ortLine(e.message) };
    }
    return { name, status: 'crash', error: `${e.reason}: ${e.message}` };
  }
  const odd = unfeedable(inputs);
  if (odd.length) return { name, status: 'dtype', error: `${odd.join(', ')}: Modelyard refuses it: ${message}` };
  return { name, status: e instanceof Error && e.name === 'UserError' ? 'refused' : 'crash', error: message };
}

// ---------------------------------------------------------------------------------------------------------------
// The bare path: this script again, with --bare, in a child process (a native crash must not end the whole run)

async function bareMain(): Promise<void> {
  const ort: typeof Ort = await import('onnxruntime-node');
  const names = new Set(fs.readFileSync(0, 'utf8').split('\n').filter(Boolean));
  const cases = loadConformanceCases(arg('dir') ?? ensureConformanceCases(), (n) => names.has(n));
  const write = (m: object) => new Promise<void>((r) => process.stdout.write(JSON.stringify(m) + '\n', () => r()));
  const opts: Ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: SESSION.intraOpThreads,
    interOpNumThreads: SESSION.interOpThreads,
    graphOptimizationLevel: SESSION.graphOptimizationLevel,
    executionProviders: ['cpu'],
    logSeverityLevel: 4,
  };
  for (const c of cases) {
    await write({ start: c.name });
    let session: Ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(c.modelPath, opts);
    } catch (e) {
      const m = e instanceof Error ? e.message : String(e);
      await write({ name: c.name, status: dtypeLine(m, c) ? 'dtype' : 'load', error: dtypeLine(m, c) ?? ortLine(m) } satisfies Outcome);
      continue;
    }
    const outcome = await runSets(c, async (inputs) => {
      const feeds: Record<string, Ort.Tensor> = {};
      try {
        for (const t of inputs) {
          // onnxruntime-common takes int4 and uint4 as packed bytes in a Uint8Array; other types as they are.
          const data = t.dtype === 'int4' && !Array.isArray(t.data) ? new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) : t.data;
          feeds[t.name] = new ort.Tensor(t.dtype as 'float32', data as Float32Array, t.shape);
        }
      } catch (e) {
        return { failed: { name: c.name, status: 'dtype', error: `${unfeedable(inputs).join(', ') || 'an input'}: onnxruntime-node refuses it: ${ortLine(String(e))}` } };
      }
      try {
        const r = await session.run(feeds);
        const out: Record<string, Tensor> = {};
        for (const [k, t] of Object.entries(r)) out[k] = { dtype: t.type as Tensor['dtype'], shape: [...t.dims], data: t.data as Tensor['data'] };
        return { outputs: out };
      } catch (e) {
        const m = e instanceof Error ? e.message : String(e);
        return { failed: { name: c.name, status: dtypeLine(m, c) ? 'dtype' : 'run', error: dtypeLine(m, c) ?? ortLine(m) } };
      }
    });
    await session.release();
    await write(outcome);
  }
}

/**
 * Runs a child that reads one item a line on stdin and prints {"start": name} then the outcome of each, restarting
 * it after the item in progress when it dies (that item is recorded as a crash).
 */
async function streamed(label: string, cmd: string, args: string[], items: string[], nameOf: (item: string) => string, env: NodeJS.ProcessEnv = process.env): Promise<{ results: Map<string, Outcome>; info: Record<string, unknown> }> {
  const results = new Map<string, Outcome>();
  const info: Record<string, unknown> = {};
  let rest = items;
  while (rest.length) {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    let current: string | undefined;
    const tail: string[] = [];
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      for (const l of s.split('\n')) if (l.trim() && !/npm warn/.test(l)) tail.push(l.trim());
      tail.splice(0, Math.max(0, tail.length - 10));
    });
    child.stdin.on('error', () => {});
    child.stdin.end(rest.join('\n') + '\n');
    // A case that hangs is stopped, and counts as a crash of that path.
    let hung = false;
    let watchdog: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        hung = true;
        child.kill('SIGKILL');
      }, CALL_TIMEOUT_MS * 2);
    };
    arm();
    const lines = readline.createInterface({ input: child.stdout });
    lines.on('line', (l) => {
      arm();
      let m: Record<string, unknown>;
      try {
        m = JSON.parse(l);
      } catch {
        return;
      }
      if (typeof m.start === 'string') current = m.start;
      else if (typeof m.name === 'string') {
        results.set(m.name, m as unknown as Outcome);
        current = undefined;
      } else Object.assign(info, m);
    });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.on('close', (c, s) => r([c, s])));
    clearTimeout(watchdog);
    const told = hung ? `no answer within ${(CALL_TIMEOUT_MS * 2) / 1000} s` : tail.filter((l) => !/^\s*(at |\d+: 0x|#\d+ |Node\.js v)/.test(l)).at(-1);
    if (current !== undefined) results.set(current, { name: current, status: 'crash', error: `${label} died (${signal ?? `exit ${code}`})${told ? `: ${told}` : ''}` });
    const left = rest.filter((i) => !results.has(nameOf(i)));
    if (left.length === rest.length) throw new Error(`${label} ended (${signal ?? `exit ${code}`}) before any case${told ? `: ${told}` : ''}`);
    rest = left;
  }
  return { results, info };
}

// ---------------------------------------------------------------------------------------------------------------
// Classes and the report

type Verdict = 'passed' | 'modelyard' | 'ort-load' | 'ort-run' | 'ort-wrong' | 'ort-crash' | 'dtype';

interface Judged {
  name: string;
  verdict: Verdict;
  host: Outcome;
  bare?: Outcome;
  py?: Outcome;
  /** Why a case is Modelyard's failure. */
  why?: string;
}

/** The host's outcome held against bare onnxruntime-node's: shared failures are onnxruntime's, the rest Modelyard's. */
function classify(host: Outcome, bare: Outcome | undefined, py: Outcome | undefined): Judged {
  const j = (verdict: Verdict, why?: string): Judged => ({ name: host.name, verdict, host, bare, py, why });
  if (!bare) {
    // No bare result (it could not run the case at all): Python decides.
    if (host.status === 'pass') return j('passed');
    if (host.status === 'dtype') return j('dtype');
    if (host.status === 'refused') return j('modelyard', `Modelyard refused the call: ${host.error}`);
    if (py?.status === 'pass') return j('modelyard', 'fails through the host, passes in Python onnxruntime (no bare result)');
    return j(host.status === 'load' ? 'ort-load' : host.status === 'wrong' ? 'ort-wrong' : host.status === 'crash' ? 'ort-crash' : 'ort-run');
  }
  if (host.status === 'pass') {
    if (bare.status === 'pass' && bare.digest !== host.digest) return j('modelyard', 'passes, but its outputs differ in bits from bare onnxruntime-node');
    return j('passed');
  }
  if (bare.status === 'pass') return j('modelyard', `bare onnxruntime-node passes it; through the host: ${host.status}`);
  switch (host.status) {
    case 'dtype':
      return bare.status === 'dtype' ? j('dtype') : j('modelyard', `Modelyard refuses an element type; bare onnxruntime-node: ${bare.status}`);
    case 'load':
      return bare.status === 'load' ? j('ort-load') : j('modelyard', `no session through the host; bare onnxruntime-node: ${bare.status}`);
    case 'run':
      return bare.status === 'run' ? j('ort-run') : j('modelyard', `run error through the host; bare onnxruntime-node: ${bare.status}`);
    case 'wrong':
      if (bare.status === 'wrong' && bare.digest === host.digest) return j('ort-wrong');
      return j('modelyard', bare.status === 'wrong' ? 'wrong values that differ from bare onnxruntime-node’s' : `wrong values; bare onnxruntime-node: ${bare.status}`);
    case 'crash':
      return bare.status === 'crash' ? j('ort-crash') : j('modelyard', `the host failed (${host.error}); bare onnxruntime-node: ${bare.status}`);
    default:
      return j('modelyard', `Modelyard refused the call: ${host.error}`);
  }
}

const num = (v: number | undefined) => (v === undefined ? '?' : +v.toPrecision(3));

function pyNote(py: Outcome | undefined): string {
  if (!py) return 'Python onnxruntime: not run (the case passes on both paths)';
  if (py.status === 'pass') return 'Python onnxruntime: passes';
  if (py.status === 'wrong') return `Python onnxruntime: wrong too (max abs error ${num(py.maxAbs)})`;
  return `Python onnxruntime: ${py.status === 'load' ? 'no session' : py.status}: ${ortLine(py.error ?? '').slice(0, 160)}`;
}

/** Cases grouped by a key (onnxruntime's line), printed as the key and the names under it. */
function printGroups(rows: Judged[], key: (r: Judged) => string, note: (rs: Judged[]) => string): void {
  const groups = new Map<string, Judged[]>();
  for (const r of rows) groups.set(key(r), [...(groups.get(key(r)) ?? []), r]);
  for (const [k, rs] of [...groups].sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]))) {
    console.log(`    ${rs.length.toString().padStart(4)} × ${k.slice(0, 240)}`);
    console.log(`           ${note(rs)}`);
    console.log(wrap(rs.map((r) => r.name), 11));
  }
}

function wrap(words: string[], indent: number, width = 118): string {
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line && line.length + w.length + 1 > width - indent) {
      lines.push(line);
      line = '';
    }
    line += (line ? ' ' : '') + w;
  }
  if (line) lines.push(line);
  return lines.map((l) => ' '.repeat(indent) + l).join('\n');
}

function pyTally(rs: Judged[]): string {
  const count = (st: Outcome['status']) => rs.filter((r) => r.py?.status === st).length;
  const labels: [Outcome['status'], string][] = [
    ['pass', 'passes'],
    ['load', 'no session'],
    ['run', 'run error'],
    ['wrong', 'wrong'],
    ['crash', 'crash'],
  ];
  const parts = labels.filter(([st]) => count(st)).map(([st, label]) => `${label} ${count(st)}`);
  const notRun = rs.filter((r) => !r.py).length;
  if (notRun) parts.push(`not run ${notRun}`);
  const failing = rs.filter((r) => r.py && r.py.status !== 'pass' && r.py.status !== 'wrong');
  const same = failing.filter((r) => ortLine(r.py!.error ?? '') === r.host.error).length;
  // Python's own words when they differ from the host's (the most frequent line).
  const other = new Map<string, number>();
  for (const r of failing) if (ortLine(r.py!.error ?? '') !== r.host.error) other.set(ortLine(r.py!.error ?? ''), (other.get(ortLine(r.py!.error ?? '')) ?? 0) + 1);
  const top = [...other].sort((a, b) => b[1] - a[1])[0];
  const py = `Python onnxruntime: ${parts.join(', ')}${same ? ` (the same message: ${same})` : ''}${top ? `; it says: ${top[0].slice(0, 160)}` : ''}`;
  // Bare onnxruntime-node's words, where Modelyard refused first (an element type) or said it otherwise.
  const bare = [...new Set(rs.filter((r) => r.bare?.error && r.bare.error !== r.host.error).map((r) => r.bare!.error!))];
  return bare.length ? `bare onnxruntime-node says: ${bare[0]!.slice(0, 200)}${bare.length > 1 ? ` (and ${bare.length - 1} other lines)` : ''}\n           ${py}` : py;
}

interface Pass {
  judged: Judged[];
  hostMs: number;
  bareMs: number;
  pyMs: number;
  pyVersion?: string;
  /** Cases that did not pass on one path or the other (Python ran on these). */
  notPassed: number;
}

/** The host over `cases`, bare onnxruntime-node over the same in a child process meanwhile, then Python on the rest. */
async function runPass(host: InferenceHost, dir: string, cases: ConformanceCase[], withPython: boolean): Promise<Pass> {
  const t0 = performance.now();
  const bareArgs = [...process.execArgv, path.resolve(__filename), '--bare', '--dir', dir];
  const bareRun = streamed('bare onnxruntime-node', process.execPath, bareArgs, cases.map((c) => c.name), (n) => n).then((r) => ({ ...r, ms: performance.now() - t0 }));
  const hostResults = new Map<string, Outcome>();
  for (const c of cases) {
    const o = await viaHost(host, c);
    hostResults.set(c.name, o);
    if (flag('verbose')) console.log(`  ${c.name}: ${o.status}${o.error ? ` — ${o.error.slice(0, 200)}` : ''}`);
  }
  const hostMs = performance.now() - t0;
  const bare = await bareRun;
  const t1 = performance.now();
  const notPassed = cases.filter((c) => hostResults.get(c.name)?.status !== 'pass' || bare.results.get(c.name)?.status !== 'pass');
  let py = { results: new Map<string, Outcome>(), info: {} as Record<string, unknown> };
  if (withPython && notPassed.length) {
    // Python only informs (bare onnxruntime-node decides what is Modelyard's): without it, the run goes on.
    try {
      py = await streamed('python onnxruntime', python(), [path.join(__dirname, 'onnx_ort_reference.py')], notPassed.map((c) => path.dirname(c.modelPath)), (d) => path.basename(d));
    } catch (e) {
      console.log(`Python onnxruntime cross-check skipped: ${describeError(e)}`);
    }
  }
  return {
    judged: cases.map((c) => classify(hostResults.get(c.name)!, bare.results.get(c.name), py.results.get(c.name))),
    hostMs,
    bareMs: bare.ms,
    pyMs: performance.now() - t1,
    pyVersion: (py.info.versions as { onnxruntime?: string } | undefined)?.onnxruntime,
    notPassed: notPassed.length,
  };
}

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function table(judged: Judged[], extra: [string, number, string][], pyVersion: string | undefined): void {
  const by = (v: Verdict) => judged.filter((j) => j.verdict === v);
  const pyPasses = (v: Verdict) => {
    const n = by(v).filter((j) => j.py?.status === 'pass').length;
    return n ? `; ${n} pass in Python onnxruntime ${pyVersion}` : '';
  };
  const rows: [string, number, string][] = [
    ['passed', by('passed').length, 'outputs within rtol 1e-3, atol 1e-7 of the expected ones'],
    ['failed: Modelyard’s own errors', by('modelyard').length, 'a result bare onnxruntime-node does not share'],
    ['onnxruntime: no session', by('ort-load').length, `session creation fails, in bare onnxruntime-node too${pyPasses('ort-load')}`],
    ['onnxruntime: run error', by('ort-run').length, `the run fails, in bare onnxruntime-node too${pyPasses('ort-run')}`],
    ['onnxruntime: values off the reference', by('ort-wrong').length, `the same bits in bare onnxruntime-node${pyPasses('ort-wrong')}`],
    ['onnxruntime: crash', by('ort-crash').length, 'the process dies, bare onnxruntime-node too'],
    ['not feedable by onnxruntime-node', by('dtype').length, 'element types without a JavaScript tensor (bfloat16, float8, int4 …)'],
    ...extra,
  ];
  console.log(`  ${'class'.padEnd(40)} ${'cases'.padStart(5)}`);
  for (const [label, n, about] of rows) console.log(`  ${label.padEnd(40)} ${String(n).padStart(5)}   ${about}`);
  console.log(`  ${'total'.padEnd(40)} ${String(rows.reduce((t, r) => t + r[1], 0)).padStart(5)}`);
  const both = judged.filter((j) => j.host.digest && j.bare?.digest);
  const identical = both.filter((j) => j.host.digest === j.bare!.digest).length;
  console.log(`  outputs through the host identical to bare onnxruntime-node's, to the bit: ${identical} of the ${both.length} cases both ran`);
}

function details(judged: Judged[]): void {
  const by = (v: Verdict) => judged.filter((j) => j.verdict === v);
  const failed = by('modelyard');
  if (failed.length) {
    console.log(`\nFAILED — Modelyard's own errors (${failed.length}):`);
    for (const j of failed) {
      console.log(`  ${j.name}: ${j.why}`);
      console.log(`      host: ${j.host.status}${j.host.error ? ` — ${j.host.error.slice(0, 300)}` : ''}${j.host.maxAbs !== undefined ? ` (max abs error ${num(j.host.maxAbs)})` : ''}`);
      if (j.bare) console.log(`      bare: ${j.bare.status}${j.bare.error ? ` — ${j.bare.error.slice(0, 200)}` : ''}`);
      console.log(`      ${pyNote(j.py)}`);
    }
  }
  if (by('ort-wrong').length) {
    console.log(`\nonnxruntime: values off the reference (${by('ort-wrong').length}; the same bits through the host and bare):`);
    for (const j of by('ort-wrong')) {
      console.log(`  ${j.name}: max abs error ${num(j.host.maxAbs)} — ${(j.host.error ?? '').slice(0, 220)}`);
      console.log(`      ${pyNote(j.py)}`);
    }
  }
  for (const [v, title] of [
    ['ort-run', 'onnxruntime: run error'],
    ['ort-crash', 'onnxruntime: crash'],
    ['ort-load', 'onnxruntime: no session, by its first line'],
    ['dtype', 'not feedable by onnxruntime-node'],
  ] as const) {
    const rows = by(v);
    if (!rows.length) continue;
    console.log(`\n${title} (${rows.length}):`);
    printGroups(rows, (r) => r.host.error ?? '?', pyTally);
  }
}

async function main(): Promise<number> {
  const t0 = performance.now();
  const only = arg('only');
  const withPython = !flag('no-python');
  const dir = ensureConformanceCases();
  const filter = only ? (n: string) => new RegExp(only).test(n) : undefined;
  const cases = loadConformanceCases(dir, filter);
  const notGenerated = Object.entries(JSON.parse(fs.readFileSync(path.join(dir, 'skipped.json'), 'utf8')) as Record<string, string>).filter(([n]) => !filter || filter(n));
  const loadMs = performance.now() - t0;

  const host = testHost({ timeoutMs: CALL_TIMEOUT_MS });
  let main: Pass;
  let runtime: string;
  try {
    runtime = (await host.runtimeInfo()).ortVersion;
    main = await runPass(host, dir, cases, withPython);
  } finally {
    await host.dispose();
  }

  console.log(
    `ONNX node conformance suite (onnx ${path.basename(dir).replace('onnx-node-cases-', '')}) through InferenceHost → worker → onnxruntime-node ${runtime}: ` +
      `${cases.length} cases, +${notGenerated.length} not generated; bare onnxruntime-node ${runtime} beside it; Python onnxruntime ${main.pyVersion ?? '(not run)'} on the ${main.notPassed} that did not pass`,
  );
  console.log(
    `  ${s(performance.now() - t0)} in all: cases read ${s(loadMs)}, host ${s(main.hostMs)} (bare alongside, ${s(main.bareMs)}), Python ${s(main.pyMs)}`,
  );
  console.log('');
  table(main.judged, [['not generated', notGenerated.length, 'sequence, map or optional inputs or outputs (skipped.json)']], main.pyVersion);
  details(main.judged);
  if (notGenerated.length) {
    console.log(`\nnot generated (${notGenerated.length}): ${notGenerated[0]![1]}`);
    console.log(wrap(notGenerated.map(([n]) => n), 4));
  }

  const failed = main.judged.filter((j) => j.verdict === 'modelyard').length;
  console.log(`inference: ${main.judged.filter((j) => j.verdict === 'passed').length} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

if (process.argv.includes('--bare')) {
  bareMain().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(2);
    },
  );
} else {
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(e);
      process.exit(2);
    },
  );
}
