// Modelyard's V2 server beside the servers its users would run instead, in one run, on the same machine:
//
//   npx tsx test/bench/serve-peers.bench.ts [--seconds 5] [--models a.onnx,b.onnx] [--concurrency 1,8,32]
//                                           [--servers modelyard,kserve,mlserver]
//   npx tsx test/bench/serve-peers.bench.ts --soak 600      the long soak: modelyard alone, concurrency 32
//
//   modelyard   `modelyard serve MODEL --threads 1` (the CLI bundle: its HTTP process and its inference worker)
//   kserve      KServe 0.21.0's Python model server, one worker, a kserve.Model running onnxruntime
//               (test/bench/peers/kserve_onnx.py)
//   mlserver    MLServer 1.7.1, parallel_workers 0 (inference in the server process), a custom runtime running
//               onnxruntime (test/bench/peers/mlserver_onnx.py): MLServer ships no ONNX runtime
//
// Every server gets the same CPU budget: its whole process tree pinned to CPU 0 (`taskset`), onnxruntime with one
// intra-op thread; the load generator, wrk (C, Debian's), runs pinned to CPU 1, on loopback. Each model is served by
// each server in turn, at concurrency 1, 8 and 32, with V2 JSON bodies (numbers as Python's json writes float32
// values: 17 significant digits) and with the binary tensor data extension where the server takes it; and over gRPC
// (the protocol's GRPCInferenceService, raw_input_contents as Triton's clients send them) with ghz (Go, built from the
// module proxy into the test cache on first use, one connection as gRPC clients keep, pinned to CPU 1). Each cell:
// requests/s, p50 and p99 (wrk's or ghz's), and the server tree's RSS after the load. Every server's first answer is checked
// against onnxruntime-node in-process; a run with any non-2xx answer or socket error is marked.
//
// The baseline, measured in the same run: onnxruntime-node in this process (one intra-op thread) with the same number
// of calls in flight. The goal (issue 13): Modelyard ≥ 1.5× the best peer's requests/s and a p99 no worse than the
// best peer's, at every concurrency, on every model. Prints the table, the ratios and where the goal is not met;
// asserts nothing.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { create, toBinary } from '@bufbuild/protobuf';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { makeFeeds } from '../../src/core/inference/inputs';
import type { Tensor, TensorInfo } from '../../src/core/inference/tensor';
import { ensurePeerServer } from '../../scripts/pyrefs.mjs';
import { cliPath } from '../support/cli';
import { fixture } from '../support/fixtures';
import { inProcessRate } from './inprocess';
import { treeRssMb } from '../support/proc';
import { grpc as grpcJs, V2GrpcClient, v2Protoset } from '../support/grpc';
import { ModelInferRequestSchema, type ModelInferResponse } from '../../src/core/serve/gen/grpc_predict_v2_pb';
import { cacheRoot } from '../../scripts/testenv.mjs';
import { freePort } from '../support/net';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const SECONDS = Number(arg('seconds', process.env.MODELYARD_BENCH_SERVE_SECONDS ?? '5'));
const MODELS = arg('models', 'hello_deepa.onnx,ch_ppocr_mobile_v2.0_cls_infer.onnx,silero_vad_v5.onnx').split(',');
const CONCURRENCY = arg('concurrency', '1,8,32').split(',').map(Number);
const SERVERS = arg('servers', 'modelyard,kserve,mlserver').split(',') as ServerKind[];
const PEERS_DIR = path.join(__dirname, '..', '..', 'test', 'bench', 'peers');
const NODE = process.env.MODELYARD_NODE24 || process.execPath;
const CPUS = os.cpus().length;
/** The server's CPU and the load generator's: apart when there are two or more. */
const SERVER_CPU = '0';
const LOAD_CPU = CPUS > 1 ? '1' : '0';

type ServerKind = 'modelyard' | 'kserve' | 'mlserver';
type Encoding = 'json' | 'binary' | 'grpc';

interface Cell {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

interface Row {
  server: ServerKind;
  encoding: Encoding;
  cells: Map<number, Cell>;
  rssMb: number;
  note?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Requests

const V2_TYPES: Partial<Record<Tensor['dtype'], string>> = { float32: 'FP32', int64: 'INT64', int32: 'INT32', float64: 'FP64', uint8: 'UINT8', int8: 'INT8', bool: 'BOOL' };

/** A float32 as Python's json.dumps writes a numpy float32 made a Python float: the shortest repr of the double. */
function jsonNumber(v: number | bigint): string {
  return typeof v === 'bigint' ? v.toString() : String(v);
}

function jsonBody(feeds: Record<string, Tensor>): string {
  const inputs = Object.entries(feeds).map(([name, t]) => `{"name":${JSON.stringify(name)},"shape":${JSON.stringify(t.shape)},"datatype":"${V2_TYPES[t.dtype]}","data":[${Array.from(t.data as ArrayLike<number | bigint>, jsonNumber).join(',')}]}`);
  return `{"inputs":[${inputs.join(',')}]}`;
}

function binaryBody(feeds: Record<string, Tensor>): { body: Buffer; headerLength: number } {
  const entries = Object.entries(feeds);
  const header = Buffer.from(
    JSON.stringify({ inputs: entries.map(([name, t]) => ({ name, shape: t.shape, datatype: V2_TYPES[t.dtype], parameters: { binary_data_size: (t.data as ArrayBufferView).byteLength } })) }),
  );
  const parts = entries.map(([, t]) => {
    const v = t.data as ArrayBufferView;
    return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  });
  return { body: Buffer.concat([header, ...parts]), headerLength: header.length };
}

// ---------------------------------------------------------------------------------------------------------------
// Processes

function pinned(cpu: string, cmd: string, args: string[]): [string, string[]] {
  return CPUS > 1 ? ['taskset', ['-c', cpu, cmd, ...args]] : [cmd, args];
}

interface Started {
  child: ChildProcess;
  url: string;
  /** host:port of its gRPC server. */
  grpc: string;
  stop(): Promise<void>;
}

async function waitReady(url: string, child: ChildProcess, log: () => string, timeoutMs = 120_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`exited (${child.exitCode}) before it was ready: ${log().slice(-1500)}`);
    try {
      const r = await fetch(`${url}/v2/models/m/ready`);
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`not ready within ${timeoutMs / 1000} s: ${log().slice(-1500)}`);
}

async function startServer(kind: ServerKind, model: string): Promise<Started> {
  const port = await freePort();
  const grpc = await freePort();
  let cmd: string;
  let args: string[];
  let cwd: string | undefined;
  const env: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: '1', PYTHONUNBUFFERED: '1' };
  if (kind === 'modelyard') {
    cmd = NODE;
    args = [cliPath(), 'serve', model, '--port', String(port), '--grpc-port', String(grpc), '--name', 'm', '--threads', '1'];
  } else if (kind === 'kserve') {
    cmd = ensurePeerServer('kserve') as string;
    args = [path.join(PEERS_DIR, 'kserve_onnx.py'), model, '--name', 'm', '--threads', '1', '--http_port', String(port), '--grpc_port', String(grpc), '--workers', '1'];
  } else {
    const py = ensurePeerServer('mlserver') as string;
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-mlserver-'));
    fs.writeFileSync(path.join(cwd, 'settings.json'), JSON.stringify({ http_port: port, grpc_port: grpc, metrics_port: await freePort(), parallel_workers: 0, debug: false }));
    fs.writeFileSync(path.join(cwd, 'model-settings.json'), JSON.stringify({ name: 'm', implementation: 'mlserver_onnx.OnnxRuntime', parameters: { uri: model, extra: { threads: 1 } } }));
    cmd = path.join(path.dirname(py), 'mlserver');
    args = ['start', cwd];
    env.PYTHONPATH = PEERS_DIR;
  }
  const [c, a] = pinned(SERVER_CPU, cmd, args);
  // The server's output goes to a file, not a pipe: while wrk runs (spawnSync) nothing here reads a pipe, and a
  // server that logs would block on a full one.
  const logFile = path.join(os.tmpdir(), `modelyard-peer-${kind}-${process.pid}-${port}.log`);
  const fd = fs.openSync(logFile, 'w');
  const child = spawn(c, a, { cwd, env, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const out = () => {
    try {
      return fs.readFileSync(logFile, 'utf8').slice(-20_000);
    } catch {
      return '';
    }
  };
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const gone = new Promise((r) => child.once('exit', r));
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(t);
    }
    if (cwd) fs.rmSync(cwd, { recursive: true, force: true });
    fs.rmSync(logFile, { force: true });
  };
  try {
    await waitReady(url, child, out);
  } catch (e) {
    await stop();
    throw e;
  }
  return { child, url, grpc: `127.0.0.1:${grpc}`, stop };
}

// ---------------------------------------------------------------------------------------------------------------
// Load

const LUA = `
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = os.getenv("BENCH_TYPE")
local h = os.getenv("BENCH_HEADER_LENGTH")
if h and h ~= "" then wrk.headers["Inference-Header-Content-Length"] = h end
`;

/** wrk's latency in ms ("412.00us", "1.20ms", "2.01s"). */
function wrkMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(v.trim());
  if (!m) return NaN;
  const x = Number(m[1]);
  return m[2] === 'us' ? x / 1000 : m[2] === 'ms' ? x : m[2] === 's' ? x * 1000 : x * 60_000;
}

function wrk(url: string, connections: number, seconds: number, bodyFile: string, type: string, headerLength?: number): Cell {
  const script = path.join(path.dirname(bodyFile), 'post.lua');
  if (!fs.existsSync(script)) fs.writeFileSync(script, LUA);
  const [c, a] = pinned(LOAD_CPU, 'wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-s', script, url]);
  const r = spawnSync(c, a, { encoding: 'utf8', env: { ...process.env, BENCH_BODY: bodyFile, BENCH_TYPE: type, BENCH_HEADER_LENGTH: headerLength ? String(headerLength) : '' }, timeout: (seconds + 30) * 1000 });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr || r.stdout}`);
  const out = r.stdout;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const p50 = wrkMs(/ 50%\s+(\S+)/.exec(out)?.[1] ?? '');
  const p99 = wrkMs(/ 99%\s+(\S+)/.exec(out)?.[1] ?? '');
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = non2xx + (sock ? sock.slice(1).reduce((s, x) => s + Number(x), 0) : 0);
  if (!(rps > 0)) throw new Error(`wrk measured nothing: ${out.trim().split('\n').slice(-6).join(' | ')}`);
  return { rps, p50, p99, errors };
}

const GHZ_VERSION = 'v0.120.0';

/** ghz, built with `go install` into the test cache (Go from the module proxy, as the test cluster's binaries). */
function ensureGhz(): string | { missing: string } {
  const dir = path.join(cacheRoot(), `ghz-${GHZ_VERSION}`);
  const bin = path.join(dir, 'ghz');
  if (fs.existsSync(bin)) return bin;
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.status !== 0) return { missing: 'go is not on PATH (ghz, the gRPC load generator, is built with it)' };
  const goCache = path.join(cacheRoot(), 'go');
  console.log(`building ghz ${GHZ_VERSION} (go install, once)…`);
  const r = spawnSync('go', ['install', `github.com/bojand/ghz/cmd/ghz@${GHZ_VERSION}`], {
    encoding: 'utf8',
    env: { ...process.env, GOBIN: dir, GOMODCACHE: path.join(goCache, 'mod'), GOCACHE: path.join(goCache, 'build'), GOFLAGS: '-mod=mod' },
    timeout: 900_000,
  });
  if (r.status !== 0 || !fs.existsSync(bin)) return { missing: `go install ghz failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' ')}` };
  return bin;
}

/** The ModelInferRequest for the feeds, every input's bytes in raw_input_contents. */
function grpcRequest(feeds: Record<string, Tensor>): Uint8Array {
  const entries = Object.entries(feeds);
  return toBinary(
    ModelInferRequestSchema,
    create(ModelInferRequestSchema, {
      modelName: 'm',
      inputs: entries.map(([name, t]) => ({ name, datatype: V2_TYPES[t.dtype], shape: t.shape.map(BigInt) })),
      rawInputContents: entries.map(([, t]) => {
        const v = t.data as ArrayBufferView;
        return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      }),
    }),
  );
}

function ghz(ghzBin: string, address: string, connections: number, seconds: number, protoset: string, requestFile: string): Cell {
  const [c, a] = pinned(LOAD_CPU, ghzBin, [
    '--insecure',
    '--protoset', protoset,
    '--call', 'inference.GRPCInferenceService/ModelInfer',
    '--binary-file', requestFile,
    '-c', String(connections),
    '-z', `${seconds}s`,
    '--cpus', '1',
    '-O', 'json',
    address,
  ]);
  const r = spawnSync(c, a, { encoding: 'utf8', timeout: (seconds + 60) * 1000, maxBuffer: 64 << 20 });
  if (r.status !== 0 && !r.stdout.trim().startsWith('{')) throw new Error(`ghz failed: ${(r.stderr || r.stdout).slice(0, 400)}`);
  const j = JSON.parse(r.stdout) as { rps: number; latencyDistribution?: { percentage: number; latency: number }[]; errorDistribution?: Record<string, number> };
  const at = (p: number) => (j.latencyDistribution?.find((d) => d.percentage === p)?.latency ?? NaN) / 1e6;
  // The calls in flight when the duration ends fail as ghz closes its connection under them: not the server's errors.
  const errors = Object.entries(j.errorDistribution ?? {}).reduce((n, [message, k]) => (/use of closed network connection|context canceled/.test(message) ? n : n + k), 0);
  if (!(j.rps > 0)) throw new Error(`ghz measured nothing: ${r.stdout.slice(0, 300)}`);
  return { rps: j.rps, p50: at(50), p99: at(99), errors };
}

/** The first output of a gRPC answer (raw or typed contents). */
function firstGrpcOutput(r: ModelInferResponse): Float32Array {
  const raw = r.rawOutputContents[0];
  if (raw) return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  return Float32Array.from(r.outputs[0]!.contents!.fp32Contents);
}

// ---------------------------------------------------------------------------------------------------------------
// The baseline and the check

function maxDiff(got: Float32Array, expected: Float32Array): number {
  if (got.length !== expected.length) throw new Error(`answered ${got.length} values for the first output, not ${expected.length}`);
  let max = 0;
  for (let i = 0; i < got.length; i++) max = Math.max(max, Math.abs(got[i]! - expected[i]!));
  return max;
}

/** The first output of a server's gRPC answer against in-process: the largest absolute difference. */
async function checkGrpc(address: string, request: Uint8Array, expected: Float32Array): Promise<number> {
  const c = new V2GrpcClient(address);
  try {
    const r = await c.raw('modelInfer', request);
    if (r.code !== grpcJs.status.OK) throw new Error(`answered ${grpcJs.status[r.code]}: ${r.details.slice(0, 300)}`);
    return maxDiff(firstGrpcOutput(r.value as ModelInferResponse), expected);
  } finally {
    c.close();
  }
}

/** The first output of a server's answer (JSON or binary) against in-process: the largest absolute difference. */
async function check(url: string, body: Buffer | string, headers: Record<string, string>, expected: Float32Array): Promise<number> {
  const r = await fetch(`${url}/v2/models/m/infer`, { method: 'POST', body, headers });
  const buf = Buffer.from(await r.arrayBuffer());
  if (r.status !== 200) throw new Error(`answered ${r.status}: ${buf.toString('utf8', 0, 400)}`);
  const hl = r.headers.get('inference-header-content-length');
  const head = JSON.parse(buf.toString('utf8', 0, hl ? Number(hl) : buf.length)) as { outputs: { data?: number[]; parameters?: { binary_data_size?: number } }[] };
  const first = head.outputs[0]!;
  const got = first.data ? Float32Array.from(first.data.flat(Infinity as 1) as number[]) : new Float32Array(buf.buffer.slice(buf.byteOffset + Number(hl), buf.byteOffset + Number(hl) + first.parameters!.binary_data_size!));
  return maxDiff(got, expected);
}

// ---------------------------------------------------------------------------------------------------------------

const fmtRps = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '-');
const fmtMs = (x: number) => (Number.isFinite(x) ? (x < 10 ? x.toFixed(2) : x.toFixed(1)) : '-');

async function benchModel(ort: typeof Ort, name: string, work: string, ghzBin: string | { missing: string }): Promise<{ rows: Row[]; base: Map<number, number> }> {
  const file = fixture(name);
  const probe = await ort.InferenceSession.create(file);
  const infos: TensorInfo[] = probe.inputNames.map((n, i) => {
    const m = probe.inputMetadata[i] as unknown as { type: string; shape: (number | string)[] };
    return { name: n, dtype: m.type as Tensor['dtype'], shape: m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : typeof d === 'string' ? d : null)), kind: 'tensor' };
  });
  const { feeds, guessed } = await makeFeeds(infos, { seed: 7 });
  const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, new ort.Tensor(t.dtype as 'float32', t.data as Float32Array, t.shape)]));
  const expected = (await probe.run(ortFeeds))[probe.outputNames[0]!]!.data as Float32Array;
  await probe.release();
  const json = jsonBody(feeds);
  const bin = binaryBody(feeds);
  const jsonFile = path.join(work, `${name}.json`);
  const binFile = path.join(work, `${name}.bin`);
  fs.writeFileSync(jsonFile, json);
  fs.writeFileSync(binFile, bin.body);
  const grpcMessage = grpcRequest(feeds);
  const grpcFile = path.join(work, `${name}.grpc.bin`);
  fs.writeFileSync(grpcFile, grpcMessage);
  const protoset = path.join(work, 'grpc_predict_v2.protoset');
  if (!fs.existsSync(protoset)) fs.writeFileSync(protoset, v2Protoset());
  console.log(
    `\n${name}: ${Object.entries(feeds).map(([k, t]) => `${k} ${t.dtype} [${t.shape}]`).join(', ')}${guessed.length ? ` (open dims: ${guessed.map((g) => `${g.input}[${g.index}]=${g.value}`).join(', ')})` : ''}; body ${(json.length / 1024).toFixed(1)} KB JSON, ${(bin.body.length / 1024).toFixed(1)} KB binary`,
  );
  const base = new Map<number, number>();
  for (const c of CONCURRENCY) base.set(c, await inProcessRate(ort, file, ortFeeds, { inFlight: c, seconds: SECONDS, warmupMs: 500, sessionOptions: { intraOpNumThreads: 1, interOpNumThreads: 1 } }));
  console.log(`  in-process session.run (1 thread): ${CONCURRENCY.map((c) => `${fmtRps(base.get(c)!)} runs/s at ${c} in flight`).join(', ')}`);

  const rows: Row[] = [];
  for (const kind of SERVERS) {
    let s: Started;
    try {
      s = await startServer(kind, file);
    } catch (e) {
      console.log(`  ${kind}: did not start: ${e instanceof Error ? e.message.split('\n').slice(-3).join(' ') : e}`);
      continue;
    }
    try {
      for (const encoding of ['json', 'binary', 'grpc'] as Encoding[]) {
        const row: Row = { server: kind, encoding, cells: new Map(), rssMb: 0 };
        if (encoding === 'grpc') {
          if (typeof ghzBin !== 'string') {
            row.note = `not measured: ${ghzBin.missing}`;
            rows.push(row);
            continue;
          }
          try {
            const diff = await checkGrpc(s.grpc, grpcMessage, expected);
            if (diff > 1e-3) row.note = `first output differs from in-process by ${diff.toExponential(2)}`;
          } catch (e) {
            row.note = `not measured: ${e instanceof Error ? e.message.slice(0, 160) : e}`;
            rows.push(row);
            continue;
          }
          for (const c of CONCURRENCY) {
            ghz(ghzBin, s.grpc, c, 1, protoset, grpcFile); // warm-up
            row.cells.set(c, ghz(ghzBin, s.grpc, c, SECONDS, protoset, grpcFile));
            row.rssMb = Math.max(row.rssMb, treeRssMb(s.child.pid!));
          }
          rows.push(row);
          continue;
        }
        const headers: Record<string, string> = encoding === 'json' ? { 'content-type': 'application/json' } : { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(bin.headerLength) };
        try {
          const diff = await check(s.url, encoding === 'json' ? json : bin.body, headers, expected);
          if (diff > 1e-3) row.note = `first output differs from in-process by ${diff.toExponential(2)}`;
        } catch (e) {
          // A peer without the binary extension: MLServer closes the connection on such a body.
          row.note = encoding === 'binary' ? `does not take the binary tensor extension (${e instanceof Error ? e.message.slice(0, 120) : e})` : `not measured: ${e instanceof Error ? e.message.slice(0, 160) : e}`;
          rows.push(row);
          continue;
        }
        for (const c of CONCURRENCY) {
          const url = `${s.url}/v2/models/m/infer`;
          wrk(url, c, 1, encoding === 'json' ? jsonFile : binFile, headers['content-type']!, encoding === 'binary' ? bin.headerLength : undefined); // warm-up
          row.cells.set(c, wrk(url, c, SECONDS, encoding === 'json' ? jsonFile : binFile, headers['content-type']!, encoding === 'binary' ? bin.headerLength : undefined));
          row.rssMb = Math.max(row.rssMb, treeRssMb(s.child.pid!));
        }
        rows.push(row);
      }
    } finally {
      await s.stop();
    }
  }
  return { rows, base };
}

function report(name: string, rows: Row[], base: Map<number, number>): string[] {
  const misses: string[] = [];
  const head = `  ${'server'.padEnd(20)}${CONCURRENCY.map((c) => `c=${c}: req/s  p50  p99`.padStart(30)).join('')}   RSS`;
  console.log(head);
  for (const r of rows) {
    const label = `${r.server} ${r.encoding}`.padEnd(20);
    if (!r.cells.size) {
      console.log(`  ${label}${r.note ?? ''}`);
      continue;
    }
    const cells = CONCURRENCY.map((c) => {
      const x = r.cells.get(c)!;
      return `${fmtRps(x.rps).padStart(9)} ${fmtMs(x.p50).padStart(7)} ${fmtMs(x.p99).padStart(7)} ms${x.errors ? ` ✗${x.errors}` : ''}`.padStart(30);
    }).join('');
    console.log(`  ${label}${cells}   ${r.rssMb.toFixed(0)} MB${r.note ? `  (${r.note})` : ''}`);
  }
  for (const encoding of ['json', 'binary', 'grpc'] as Encoding[]) {
    const mine = rows.find((r) => r.server === 'modelyard' && r.encoding === encoding && r.cells.size);
    const peers = rows.filter((r) => r.server !== 'modelyard' && r.encoding === encoding && r.cells.size);
    if (!mine) continue;
    const parts = CONCURRENCY.map((c) => {
      const m = mine.cells.get(c)!;
      const inproc = `${((m.rps / base.get(c)!) * 100).toFixed(0)}% of in-process`;
      if (!peers.length) return `c=${c}: ${inproc}, no peer takes ${encoding}`;
      const best = peers.reduce((a, b) => (b.cells.get(c)!.rps > a.cells.get(c)!.rps ? b : a));
      const b = best.cells.get(c)!;
      const ratio = m.rps / b.rps;
      const p99 = m.p99 / b.p99;
      if (ratio < 1.5) misses.push(`${name} ${encoding} c=${c}: ×${ratio.toFixed(2)} the best peer's (${best.server}) requests/s`);
      if (p99 > 1) misses.push(`${name} ${encoding} c=${c}: p99 ${fmtMs(m.p99)} ms against ${best.server}'s ${fmtMs(b.p99)} ms`);
      return `c=${c}: ×${ratio.toFixed(2)} ${best.server}'s req/s, p99 ×${p99.toFixed(2)}, ${inproc}`;
    });
    console.log(`  modelyard ${encoding}: ${parts.join('; ')}`);
  }
  return misses;
}

/**
 * The long soak: `modelyard serve` on hello_deepa at concurrency 32 for `seconds` (wrk, JSON), the process tree's RSS
 * sampled every 10 s. Prints the requests, errors, p99, and the RSS each minute with its change after the first.
 */
async function soak(seconds: number): Promise<void> {
  const file = fixture('hello_deepa.onnx');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-soak-'));
  const bodyFile = path.join(work, 'body.json');
  const probe = (await import('onnxruntime-node')).InferenceSession;
  const session = await probe.create(file);
  const m = session.inputMetadata[0] as unknown as { shape: (number | string)[] };
  const infos: TensorInfo[] = [{ name: session.inputNames[0]!, dtype: 'float32', shape: m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : null)), kind: 'tensor' }];
  await session.release();
  fs.writeFileSync(bodyFile, jsonBody((await makeFeeds(infos, { seed: 7 })).feeds));
  fs.writeFileSync(path.join(work, 'post.lua'), LUA);
  const s = await startServer('modelyard', file);
  try {
    const samples: number[] = [];
    const [c, a] = pinned(LOAD_CPU, 'wrk', ['-t1', '-c32', `-d${seconds}s`, '--latency', '-s', path.join(work, 'post.lua'), `${s.url}/v2/models/m/infer`]);
    const w = spawn(c, a, { env: { ...process.env, BENCH_BODY: bodyFile, BENCH_TYPE: 'application/json', BENCH_HEADER_LENGTH: '' }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    w.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setInterval(() => samples.push(treeRssMb(s.child.pid!)), 10_000);
    await new Promise((r) => w.once('exit', r));
    clearInterval(timer);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
    const total = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
    const p99 = wrkMs(/ 99%\s+(\S+)/.exec(out)?.[1] ?? '');
    const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
    const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    const errors = non2xx + (sock ? sock.slice(1).reduce((x, y) => x + Number(y), 0) : 0);
    // Each minute when the soak lasts two or more (the first minute is the warm-up), else every 10 s.
    const long = samples.length >= 12;
    const shown = long ? samples.filter((_, i) => (i + 1) % 6 === 0) : samples;
    const first = shown[0] ?? NaN;
    const last = samples.at(-1) ?? NaN;
    console.log(`\nsoak: modelyard serve hello_deepa.onnx, ${seconds} s at concurrency 32 (JSON), pinned as above`);
    console.log(`  ${total} requests, ${fmtRps(rps)} req/s, p99 ${fmtMs(p99)} ms, errors ${errors}`);
    console.log(
      `  RSS ${long ? 'each minute' : 'every 10 s'}: ${shown.map((x) => x.toFixed(0)).join(' ')} MB; from the ${long ? 'first minute' : 'first sample'} to the end ${last >= first ? '+' : ''}${(last - first).toFixed(0)} MB (${(((last - first) / first) * 100).toFixed(1)}%)`,
    );
  } finally {
    await s.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (spawnSync('wrk', ['--version']).error) {
    console.log('  skipped: wrk is not installed (Debian package wrk)');
    return;
  }
  const soakSeconds = Number(arg('soak', '0'));
  if (soakSeconds > 0) return soak(soakSeconds);
  const ort: typeof Ort = await import('onnxruntime-node');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-peers-'));
  console.log(
    `servers: ${SERVERS.join(', ')}; each pinned to CPU ${SERVER_CPU} with one onnxruntime thread, wrk and ghz on CPU ${LOAD_CPU}; ${SECONDS} s a cell; Node ${spawnSync(NODE, ['--version'], { encoding: 'utf8' }).stdout.trim()} for modelyard; ${CPUS} CPUs (${os.cpus()[0]?.model})`,
  );
  const ghzBin = ensureGhz();
  if (typeof ghzBin !== 'string') console.log(`gRPC not measured: ${ghzBin.missing}`);
  const misses: string[] = [];
  try {
    for (const m of MODELS) {
      const { rows, base } = await benchModel(ort, m, work, ghzBin);
      misses.push(...report(m, rows, base));
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  console.log(`\ngoal: modelyard ≥ 1.5× the best peer's requests/s and p99 no worse, at every concurrency, on every model`);
  console.log(misses.length ? `not met:\n${misses.map((m) => `  - ${m}`).join('\n')}` : 'met everywhere');
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
