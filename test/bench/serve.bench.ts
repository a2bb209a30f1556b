// The V2 server's throughput against onnxruntime-node in-process, on the smallest fixture (hello_deepa.onnx):
//
//   npx tsx test/bench/serve.bench.ts [--seconds 5] [--connections 8] [--model hello_deepa.onnx]
//
// Measured in one run, one after another, on loopback:
//   in-process  onnxruntime-node loaded in this process, `session.run` with 8 calls in flight (the baseline)
//   null HTTP   a Node HTTP server in its own process that reads each body and answers a constant: no JSON
//               parsing, no inference. What a Node server can answer on this machine at all, with autocannon
//               beside it on the same CPUs: the ceiling of any server written in Node here.
//   + JSON.parse  the same, parsing each body with JSON.parse into Float32Arrays: the floor of what a V2 REST
//               server must do per request before any inference (the protocol sends tensors as decimal text).
//   serve       `modelyard serve MODEL --port 0` (the CLI bundle, its worker process), batching on (default)
//   serve -B    the same with --no-batching: one IPC round trip per request
//   binary      the same requests in the binary tensor data extension (a JSON header, then the float32 bytes:
//               9.6 KB instead of 46 KB of decimal text), with and without batching
// The HTTP figures come from autocannon (programmatic API), 8 connections, POST /v2/models/NAME/infer with one
// request body of random float32 values written as JSON numbers (17 significant digits, as Python's json.dumps
// writes numpy's float32 values made Python floats). Every answer is checked to be 200 with one output.
// Goal: serve ≥ 80% of in-process. Prints the figures and the ratios; asserts nothing.
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import os from 'node:os';
import type * as Ort from 'onnxruntime-node';
import { elementCount } from '../../src/core/inference/tensor';
import { spawnModelyard, waitForLine } from '../support/cli';
import { fixture } from '../support/fixtures';
import { inProcessRate } from './inprocess';
import { pseudoRandom } from '../support/inference';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const SECONDS = Number(arg('seconds', '5'));
const CONNECTIONS = Number(arg('connections', '8'));
const MODEL = arg('model', 'hello_deepa.onnx');

async function cannon(url: string, body: string | Buffer, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<{ rps: number; p50: number; p99: number; errors: number }> {
  const opts = { url, method: 'POST' as const, body, headers, connections: CONNECTIONS };
  await autocannon({ ...opts, duration: 1 }); // warm-up: JIT, connections, the worker's first runs
  const r = await autocannon({ ...opts, duration: SECONDS });
  return { rps: r.requests.total / (r.duration || SECONDS), p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx + r.timeouts };
}

const NULL_SERVER = `
const http = require('node:http');
const parse = process.argv[1] === 'parse';
const s = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (parse) for (const i of JSON.parse(Buffer.concat(chunks).toString('utf8')).inputs) new Float32Array(i.data);
    const out = '{"model_name":"m","outputs":[{"name":"y","datatype":"FP32","shape":[1,1],"data":[0.5]}]}';
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': out.length });
    res.end(out);
  });
});
s.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ url: 'http://127.0.0.1:' + s.address().port })));
`;

async function nullServer(body: string, mode: 'null' | 'parse'): Promise<Awaited<ReturnType<typeof cannon>>> {
  const child = spawn(process.execPath, ['-e', NULL_SERVER, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const line = await waitForLine(child, (l) => l.startsWith('{'));
    return await cannon(`${JSON.parse(line).url}/v2/models/m/infer`, body);
  } finally {
    child.kill('SIGTERM');
  }
}

/** The same request in the binary tensor data extension: a JSON header, then the float32 bytes. */
function binaryBody(inputs: { name: string; shape: number[]; data: Float32Array }[]): { body: Buffer; headers: Record<string, string> } {
  const header = Buffer.from(JSON.stringify({ inputs: inputs.map((x) => ({ name: x.name, shape: x.shape, datatype: 'FP32', parameters: { binary_data_size: x.data.byteLength } })) }));
  const body = Buffer.concat([header, ...inputs.map((x) => Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength))]);
  return { body, headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) } };
}

async function served(
  file: string,
  body: string | Buffer,
  extra: string[],
  headers?: Record<string, string>,
): Promise<Awaited<ReturnType<typeof cannon>> & { check: string }> {
  const child = spawnModelyard(['serve', file, '--port', '0', '--json', '--name', 'm', ...extra]);
  try {
    const listening = JSON.parse(await waitForLine(child, (l) => l.includes('"listening"')));
    const url = `${listening.url}/v2/models/m/infer`;
    const probe = await fetch(url, { method: 'POST', body, headers: headers ?? { 'content-type': 'application/json' } });
    const answer = (await probe.json()) as { outputs?: { data: number[] }[] };
    if (probe.status !== 200 || answer.outputs?.length !== 1) throw new Error(`the server answered ${probe.status}: ${JSON.stringify(answer).slice(0, 300)}`);
    const r = await cannon(url, body, headers);
    let rest = '';
    child.stdout!.on('data', (d: Buffer) => (rest += d.toString()));
    child.kill('SIGTERM');
    await new Promise((res) => child.once('exit', res));
    const stopped = rest.split('\n').find((l) => l.includes('"stopped"'));
    const s = stopped ? (JSON.parse(stopped) as { served: number; runs: number }) : undefined;
    const batch = s ? `, ${(s.served / s.runs).toFixed(2)} requests per run` : '';
    return { ...r, check: `output ${JSON.stringify(answer.outputs[0]!.data.slice(0, 3))}${batch}` };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const ort: typeof Ort = await import('onnxruntime-node');
  const file = fixture(MODEL);
  const probe = await ort.InferenceSession.create(file);
  const meta = probe.inputMetadata.filter((m) => m.isTensor);
  const inputs = meta.map((m, i) => {
    const shape = (m as unknown as { shape: (number | string)[] }).shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
    const data = pseudoRandom(elementCount(shape), i + 1);
    return { name: m.name, shape, data };
  });
  await probe.release();
  const feeds = Object.fromEntries(inputs.map((x) => [x.name, new ort.Tensor('float32', x.data, x.shape)]));
  const body = JSON.stringify({ inputs: inputs.map((x) => ({ name: x.name, shape: x.shape, datatype: 'FP32', data: Array.from(x.data) })) });

  console.log(`${MODEL}: inputs ${inputs.map((x) => `${x.name} [${x.shape}]`).join(', ')}; request body ${(body.length / 1024).toFixed(1)} KB`);
  console.log(`onnxruntime-node ${ort.env.versions.node}, Node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model}), load ${os.loadavg()[0]!.toFixed(2)}; ${CONNECTIONS} in flight, ${SECONDS} s each`);
  const base = await inProcessRate(ort, file, feeds, { inFlight: CONNECTIONS, seconds: SECONDS, warmupMs: 1000 });
  console.log(`in-process session.run      ${base.toFixed(0).padStart(7)} runs/s   (baseline)`);
  const ceiling = await nullServer(body, 'null');
  console.log(`null HTTP server            ${ceiling.rps.toFixed(0).padStart(7)} req/s    ${((ceiling.rps / base) * 100).toFixed(1).padStart(5)}% of baseline   p50 ${ceiling.p50} ms  p99 ${ceiling.p99} ms  errors ${ceiling.errors}`);
  const parsing = await nullServer(body, 'parse');
  console.log(
    `null HTTP + JSON.parse      ${parsing.rps.toFixed(0).padStart(7)} req/s    ${((parsing.rps / base) * 100).toFixed(1).padStart(5)}% of baseline   ${((parsing.rps / ceiling.rps) * 100).toFixed(1).padStart(5)}% of null HTTP   p50 ${parsing.p50} ms  p99 ${parsing.p99} ms  errors ${parsing.errors}`,
  );
  const binary = binaryBody(inputs);
  for (const [label, extra, bin] of [
    ['modelyard serve (batching)', [], false],
    ['modelyard serve --no-batching', ['--no-batching'], false],
    ['serve, binary tensors', [], true],
    ['serve, binary, no batching', ['--no-batching'], true],
  ] as const) {
    const r = bin ? await served(file, binary.body, [...extra], binary.headers) : await served(file, body, [...extra]);
    console.log(
      `${label.padEnd(28)}${r.rps.toFixed(0).padStart(7)} req/s    ${((r.rps / base) * 100).toFixed(1).padStart(5)}% of baseline   ${((r.rps / ceiling.rps) * 100).toFixed(1).padStart(5)}% of null HTTP   p50 ${r.p50} ms  p99 ${r.p99} ms  errors ${r.errors}  (${r.check})`,
    );
  }
  console.log('goal: modelyard serve ≥ 80% of in-process');
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
