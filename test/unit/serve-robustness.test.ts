// `modelyard serve` held under faults and load, in the real CLI process with its real inference worker (issue 13,
// item 5, short forms; the long soak is in test/bench/serve-peers.bench.ts):
//   - a fuzz of the REST endpoint with malformed bodies, wrong types, huge shapes and truncated binary payloads
//     (fast-check): each answered with a 4xx and an error, the server up and answering after all of them;
//   - the inference worker killed in the middle of a request: that request gets a 503 that says so, the next one
//     is answered by a fresh worker;
//   - the limits: more requests than --max-inflight get 503 with Retry-After, a body over --max-body-mb gets 413;
//   - a soak at concurrency 32 (autocannon): no error, and the process tree's memory flat once warm.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import autocannon from 'autocannon';
import fc from 'fast-check';
import { pseudoRandom } from '../support/inference';
import { descendants, treeRssMb } from '../support/proc';
import { post, serve, type Served } from '../support/serve';
import { cliPath } from '../support/cli';
import { fixture } from '../support/fixtures';

const HELLO_INPUT = 'onnx::Flatten_0';
const helloData = Array.from(pseudoRandom(2400, 3));
const helloBody = () => JSON.stringify({ inputs: [{ name: HELLO_INPUT, shape: [1, 25, 96], datatype: 'FP32', data: helloData }] });

describe('serve under malformed requests (fuzz)', () => {
  let s: Served;
  before(async () => {
    s = await serve('hello_deepa.onnx');
  });
  after(async () => {
    assert.equal(await s.stop(), 0, 'the server stops cleanly after the fuzz');
  });

  /** A request that may be anything from valid to garbage: each part valid or wrong on its own. */
  const anyInput = fc.record(
    {
      name: fc.oneof(fc.constant(HELLO_INPUT), fc.string({ maxLength: 12 }), fc.integer()),
      shape: fc.oneof(
        fc.constant([1, 25, 96]),
        fc.array(fc.integer({ min: -3, max: 2 ** 31 }), { maxLength: 5 }),
        fc.constant([100_000, 100_000, 100_000]),
        fc.constant([2 ** 53, 2]),
        fc.constant('1,25,96'),
      ),
      datatype: fc.oneof(fc.constant('FP32'), fc.constantFrom('FP16', 'FP64', 'INT8', 'INT64', 'BOOL', 'BYTES', 'fp32', '', 'NOPE'), fc.integer()),
      data: fc.oneof(
        fc.constant(helloData),
        fc.array(fc.oneof(fc.double({ noNaN: true }), fc.string({ maxLength: 3 }), fc.constant(null), fc.boolean()), { maxLength: 30 }),
        fc.constant(helloData.slice(0, 100)),
        fc.constant([[helloData.slice(0, 96)]]),
        fc.jsonValue({ maxDepth: 2 }),
      ),
    },
    { requiredKeys: [] },
  );
  const jsonRequests = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null'),
    fc.record({ inputs: fc.array(anyInput, { maxLength: 3 }), outputs: fc.option(fc.jsonValue({ maxDepth: 2 })), id: fc.option(fc.jsonValue({ maxDepth: 1 })) }).map((r) => JSON.stringify(r)),
    fc.integer({ min: 0, max: 40_000 }).map((cut) => helloBody().slice(0, cut)),
    fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
  );

  it('answers every malformed JSON request with a 4xx and an error, and stays up', async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(jsonRequests, async (body) => {
        const r = await post(s.infer, body);
        seen.set(r.status, (seen.get(r.status) ?? 0) + 1);
        if (r.status === 200) return; // a valid request, by chance
        assert.ok(r.status >= 400 && r.status < 500, `status ${r.status} for ${body.slice(0, 300)}: ${r.text.slice(0, 300)}`);
        assert.equal(typeof (JSON.parse(r.text) as { error?: unknown }).error, 'string', r.text);
      }),
      { numRuns: 300, seed: 20261206 },
    );
    assert.equal((await post(s.infer, helloBody())).status, 200, 'a valid request after the fuzz');
    assert.ok((seen.get(400) ?? 0) > 100, `mostly 400s: ${JSON.stringify([...seen])}`);
  });

  it('answers malformed binary requests (header lengths, sizes, truncated payloads) with a 4xx, and stays up', async () => {
    const x = new Float32Array(pseudoRandom(2400, 5));
    const binary = fc.record({
      size: fc.oneof(fc.constant(x.byteLength), fc.integer({ min: -10, max: 20_000 }), fc.constant('9600'), fc.constant(2 ** 40)),
      shape: fc.oneof(fc.constant([1, 25, 96]), fc.constant([1_000_000, 1_000_000]), fc.array(fc.nat(50), { maxLength: 4 })),
      cut: fc.integer({ min: 0, max: x.byteLength }),
      headerLength: fc.oneof(fc.constant('exact'), fc.constant('-1'), fc.constant('abc'), fc.integer({ min: 0, max: 20_000 }).map(String)),
      datatype: fc.constantFrom('FP32', 'FP16', 'INT64', 'BYTES'),
    });
    await fc.assert(
      fc.asyncProperty(binary, async (b) => {
        const header = Buffer.from(JSON.stringify({ inputs: [{ name: HELLO_INPUT, shape: b.shape, datatype: b.datatype, parameters: { binary_data_size: b.size } }] }));
        const body = Buffer.concat([header, Buffer.from(x.buffer, 0, b.cut)]);
        const r = await post(s.infer, body, { 'content-type': 'application/octet-stream', 'inference-header-content-length': b.headerLength === 'exact' ? String(header.length) : b.headerLength });
        if (r.status === 200) return;
        assert.ok(r.status >= 400 && r.status < 500, `status ${r.status} for ${JSON.stringify(b)}: ${r.text.slice(0, 300)}`);
      }),
      { numRuns: 150, seed: 20261206 },
    );
    assert.equal((await post(s.infer, helloBody())).status, 200);
    const live = await fetch(`${s.url}/v2/health/live`);
    assert.equal(live.status, 200);
  });
});

describe('serve when its inference worker dies', () => {
  it('a request in flight when the worker is killed gets a 503 that says so; the next one is answered by a fresh worker', async (t) => {
    // PP-OCRv4 det on a 960×960 image: long enough a run to kill the worker in the middle of it.
    const s = await serve('ch_PP-OCRv4_det_infer.onnx');
    try {
      const x = new Float32Array(3 * 960 * 960).fill(0.5);
      const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3, 960, 960], datatype: 'FP32', parameters: { binary_data_size: x.byteLength } }], parameters: { binary_data_output: true } }));
      const send = () => post(s.infer, Buffer.concat([header, Buffer.from(x.buffer)]), { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) });
      const t0 = performance.now();
      assert.equal((await send()).status, 200);
      const oneRun = performance.now() - t0;
      const workers = descendants(s.child.pid!);
      assert.equal(workers.length, 1, `one inference worker under the server: ${workers.join(', ')}`);
      const inFlight = send();
      await new Promise((r) => setTimeout(r, Math.max(50, oneRun / 3)));
      process.kill(workers[0]!, 'SIGKILL');
      const failed = await inFlight;
      t.diagnostic(`one run ${oneRun.toFixed(0)} ms; the request in flight: ${failed.status} ${failed.text.slice(0, 200)}`);
      assert.equal(failed.status, 503, failed.text);
      assert.equal(failed.headers.get('retry-after'), '1');
      assert.match((JSON.parse(failed.text) as { error: string }).error, /worker/i);
      const next = await send();
      assert.equal(next.status, 200, next.text.slice(0, 300));
      const now = descendants(s.child.pid!);
      assert.equal(now.length, 1);
      assert.notEqual(now[0], workers[0], 'a fresh worker');
      assert.equal((await fetch(`${s.url}/v2/health/ready`)).status, 200);
    } finally {
      assert.equal(await s.stop(), 0);
    }
  });
});

describe('serve limits', () => {
  it('more requests than --max-inflight get 503 with Retry-After, a body over --max-body-mb gets 413; the rest are answered', async () => {
    const s = await serve('ch_PP-OCRv4_det_infer.onnx', ['--max-inflight', '2', '--max-body-mb', '2', '--no-batching']);
    try {
      const x = new Float32Array(3 * 320 * 320).fill(0.25);
      const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3, 320, 320], datatype: 'FP32', parameters: { binary_data_size: x.byteLength } }], parameters: { binary_data_output: true } }));
      const send = () => post(s.infer, Buffer.concat([header, Buffer.from(x.buffer)]), { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) });
      const answers = await Promise.all(Array.from({ length: 8 }, send));
      const ok = answers.filter((a) => a.status === 200).length;
      const busy = answers.filter((a) => a.status === 503);
      assert.equal(ok + busy.length, 8, answers.map((a) => a.status).join(' '));
      assert.ok(ok >= 2 && busy.length >= 1, `answered ${ok}, refused ${busy.length}`);
      assert.equal(busy[0]!.headers.get('retry-after'), '1');
      assert.match(busy[0]!.text, /2 inference requests in flight, its limit \(--max-inflight\)/);
      const big = await post(s.infer, Buffer.alloc(3 * 2 ** 20, 32), { 'content-type': 'application/json' });
      assert.equal(big.status, 413);
      assert.match(big.text, /is 3145728 bytes, more than the 2097152 this server accepts/);
      assert.equal((await send()).status, 200, 'answered again once the load is gone');
      const metrics = await (await fetch(`${s.url}/metrics`)).text();
      assert.match(metrics, new RegExp(`modelyard_inference_requests_total\\{model="m",version="1",status="failure"\\} ${busy.length + 1}\\n`));
    } finally {
      assert.equal(await s.stop(), 0);
    }
  });
});

describe('serve batching bound', () => {
  it('--max-batch caps the rows of each run, under load that would batch more', async () => {
    const s = await serve('hello_deepa.onnx', ['--max-batch', '4']);
    try {
      const r = await autocannon({ url: s.infer, method: 'POST', body: helloBody(), headers: { 'content-type': 'application/json' }, connections: 32, duration: 3 });
      assert.equal(r.errors + r.non2xx, 0);
      const text = await (await fetch(`${s.url}/metrics`)).text();
      const bucket = (le: string) => Number(new RegExp(`modelyard_batch_size_bucket\\{model="m",version="1",le="${le}"\\} (\\d+)`).exec(text)?.[1]);
      const runs = Number(/modelyard_batch_size_count\{model="m",version="1"\} (\d+)/.exec(text)?.[1]);
      assert.ok(runs > 0 && bucket('4') === runs, `every run within 4 rows: ${bucket('4')} of ${runs}`);
      assert.ok(bucket('2') < runs, `and batches were made (${runs - bucket('2')} runs of 3–4 rows)`);
    } finally {
      assert.equal(await s.stop(), 0);
    }
    const bad = spawnSync(process.execPath, [cliPath(), 'serve', fixture('hello_deepa.onnx'), '--max-batch', '0'], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--max-batch takes a whole number from 1 to 1024, not '0'/);
  });
});

describe('serve soak (short form)', () => {
  it('35 s at concurrency 32: no error, every answer 200, and the memory flat once warm', async (t) => {
    const s = await serve('hello_deepa.onnx');
    try {
      const samples: number[] = [];
      const timer = setInterval(() => samples.push(treeRssMb(s.child.pid!)), 1000);
      const r = await autocannon({ url: s.infer, method: 'POST', body: helloBody(), headers: { 'content-type': 'application/json' }, connections: 32, duration: 35 });
      clearInterval(timer);
      // Warm: after about 20 s the heap has grown to its working size (V8 lets it grow 5× past what a full
      // collection leaves: src/cli/serve.ts). Then the mean of seconds 20–24 against the mean of the last 5.
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const warm = mean(samples.slice(20, 25));
      const late = mean(samples.slice(-5));
      t.diagnostic(`${r.requests.total} requests (${(r.requests.total / 35).toFixed(0)}/s), p99 ${r.latency.p99} ms; RSS ${samples.map((x) => x.toFixed(0)).join(' ')} MB`);
      assert.equal(r.errors + r.timeouts + r.non2xx, 0, `errors ${r.errors}, timeouts ${r.timeouts}, non-2xx ${r.non2xx}`);
      assert.ok(r.requests.total > 20_000, `${r.requests.total} requests`);
      assert.ok(late <= warm * 1.1 + 10, `memory grew from ${warm.toFixed(0)} MB to ${late.toFixed(0)} MB once warm`);
    } finally {
      assert.equal(await s.stop(), 0);
    }
  });
});
