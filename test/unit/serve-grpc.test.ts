// `modelyard serve --grpc-port`: the Open Inference Protocol's gRPC service, in the real CLI process with its real
// inference worker (issue 13, item 3, and item 5's gRPC fuzz):
//   - NVIDIA Triton's Python client (tritonclient[grpc] on grpcio's C core, test venv from PyPI) checks health and
//     metadata and runs the models: its answers equal the REST server's for the same inputs;
//   - typed contents and raw contents both ways, int64 scalars included (silero v5's sample rate);
//   - each malformed request gets the gRPC code that says whose fault it is, with a message that says what;
//   - a fuzz (fast-check) of arbitrary bytes, mutated messages, huge shapes and truncated raw contents: never OK for
//     garbage, never INTERNAL, the server answering after;
//   - the shared limits, the worker killed under a call, and SIGTERM with a call in flight.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { after, before, describe, it } from 'node:test';
import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { ModelInferRequestSchema, type ModelInferResponse } from '../../src/core/serve/gen/grpc_predict_v2_pb';
import { pseudoRandom } from '../support/inference';
import { descendants } from '../support/proc';
import { post, serve, type Served } from '../support/serve';
import { grpc, V2GrpcClient } from '../support/grpc';
import { ensureTritonClient } from '../../scripts/pyrefs.mjs';
import { CMD } from '../../src/core/deploy/image/build';
import { spawnModelyard } from '../support/cli';
import { fixture } from '../support/fixtures';

const HELLO_INPUT = 'onnx::Flatten_0';
const helloData = Array.from(pseudoRandom(2400, 3));
const f32bytes = (xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);

/** What the REST server answers for a request: each output's values, as numbers. */
async function restAnswer(s: Served, inputs: unknown[]): Promise<Record<string, number[]>> {
  const r = await post(s.infer, JSON.stringify({ inputs }));
  assert.equal(r.status, 200, r.text);
  const body = JSON.parse(r.text) as { outputs: { name: string; data: number[] }[] };
  return Object.fromEntries(body.outputs.map((o) => [o.name, o.data]));
}

function rawOutputs(r: ModelInferResponse): Record<string, number[]> {
  return Object.fromEntries(
    r.outputs.map((o, i) => {
      const b = r.rawOutputContents[i]!;
      assert.equal(o.datatype, 'FP32');
      return [o.name, Array.from(new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)))];
    }),
  );
}

function assertClose(got: Record<string, number[]>, want: Record<string, number[]>, what: string): void {
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), what);
  for (const [k, w] of Object.entries(want)) {
    assert.equal(got[k]!.length, w.length, `${what}: ${k}`);
    for (let i = 0; i < w.length; i++) assert.ok(Math.abs(got[k]![i]! - w[i]!) <= 1e-6 * Math.max(1, Math.abs(w[i]!)), `${what}: ${k}[${i}] ${got[k]![i]} vs ${w[i]}`);
  }
}

const TRITON_SCRIPT = String.raw`
import json, sys
import numpy as np
import tritonclient.grpc as g
address, model = sys.argv[1], sys.argv[2]
req = json.load(sys.stdin)
c = g.InferenceServerClient(address)
out = {"live": c.is_server_live(), "ready": c.is_server_ready(), "model_ready": c.is_model_ready(model)}
meta = c.get_model_metadata(model, as_json=True)
out["inputs"] = [(i["name"], i["datatype"], [int(d) for d in i.get("shape", [])]) for i in meta["inputs"]]
out["server"] = c.get_server_metadata(as_json=True)["name"]
inputs = []
for x in req:
    dt = {"FP32": np.float32, "INT64": np.int64}[x["datatype"]]
    i = g.InferInput(x["name"], x["shape"], x["datatype"])
    i.set_data_from_numpy(np.array(x["data"], dtype=dt).reshape(x["shape"]))
    inputs.append(i)
r = c.infer(model, inputs)
out["outputs"] = {o.name: r.as_numpy(o.name).astype(np.float64).ravel().tolist() for o in r.get_response().outputs}
try:
    c.infer("nope", inputs)
except Exception as e:
    out["unknown_model"] = [e.status(), e.message()]
print(json.dumps(out))
`;

describe('serve over gRPC', () => {
  let hello: Served;
  let silero: Served;
  let client: V2GrpcClient;
  const sileroInputs = [
    { name: 'input', shape: [1, 512], datatype: 'FP32', data: Array.from(pseudoRandom(512, 7), (v) => v * 0.2) },
    { name: 'state', shape: [2, 1, 128], datatype: 'FP32', data: new Array<number>(256).fill(0) },
    { name: 'sr', shape: [], datatype: 'INT64', data: [16000] },
  ];
  const helloInputs = [{ name: HELLO_INPUT, shape: [1, 25, 96], datatype: 'FP32', data: helloData }];

  before(async () => {
    [hello, silero] = await Promise.all([serve('hello_deepa.onnx', ['--grpc-port', '0']), serve('silero_vad_v5.onnx', ['--grpc-port', '0'])]);
    client = new V2GrpcClient(hello.grpc!);
  });
  after(async () => {
    client.close();
    assert.equal(await hello.stop(), 0);
    assert.equal(await silero.stop(), 0);
  });

  it("answers Triton's Python client: health, metadata, and outputs equal to the REST server's", async (t) => {
    const py = ensureTritonClient();
    for (const [s, inputs, inputMeta] of [
      [hello, helloInputs, [[HELLO_INPUT, 'FP32', [1, 25, 96]]]],
      [silero, sileroInputs, [['input', 'FP32', [-1, -1]], ['state', 'FP32', [2, -1, 128]], ['sr', 'INT64', []]]],
    ] as const) {
      const r = spawnSync(py, ['-c', TRITON_SCRIPT, s.grpc!, 'm'], { input: JSON.stringify(inputs), encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      const got = JSON.parse(r.stdout) as { live: boolean; ready: boolean; model_ready: boolean; inputs: unknown; server: string; outputs: Record<string, number[]>; unknown_model: [string, string] };
      t.diagnostic(`${s.grpc}: ${JSON.stringify({ ...got, outputs: Object.keys(got.outputs) })}`);
      assert.deepEqual([got.live, got.ready, got.model_ready, got.server], [true, true, true, 'modelyard']);
      assert.deepEqual(got.inputs, inputMeta);
      assertClose(got.outputs, await restAnswer(s, [...inputs]), `Triton client against REST on ${s.grpc}`);
      assert.deepEqual(got.unknown_model, ['StatusCode.NOT_FOUND', "unknown model 'nope': this server serves 'm'"]);
    }
  });

  it('takes typed contents and answers with typed contents; raw in, raw out', async () => {
    const want = await restAnswer(hello, helloInputs);
    const typed = await client.call('modelInfer', { modelName: 'm', id: 'a1', inputs: [{ name: HELLO_INPUT, datatype: 'FP32', shape: [1n, 25n, 96n], contents: { fp32Contents: helloData } }] });
    assert.equal(typed.code, grpc.status.OK, typed.details);
    assert.equal(typed.value!.id, 'a1');
    assert.equal(typed.value!.rawOutputContents.length, 0);
    assertClose(Object.fromEntries(typed.value!.outputs.map((o) => [o.name, o.contents!.fp32Contents])), want, 'typed');
    assert.deepEqual(typed.value!.outputs.map((o) => o.shape), [[1n, 1n]]);
    const raw = await client.call('modelInfer', { modelName: 'm', modelVersion: '1', inputs: [{ name: HELLO_INPUT, datatype: 'FP32', shape: [1n, 25n, 96n] }], rawInputContents: [f32bytes(helloData)] });
    assert.equal(raw.code, grpc.status.OK, raw.details);
    assertClose(rawOutputs(raw.value!), want, 'raw');

    // int64 in int64_contents, and only the output asked for.
    const s = new V2GrpcClient(silero.grpc!);
    try {
      const r = await s.call('modelInfer', {
        modelName: 'm',
        inputs: [
          { name: 'input', datatype: 'FP32', shape: [1n, 512n], contents: { fp32Contents: sileroInputs[0]!.data } },
          { name: 'state', datatype: 'FP32', shape: [2n, 1n, 128n], contents: { fp32Contents: sileroInputs[1]!.data } },
          { name: 'sr', datatype: 'INT64', shape: [], contents: { int64Contents: [16000n] } },
        ],
        outputs: [{ name: 'output' }],
      });
      assert.equal(r.code, grpc.status.OK, r.details);
      const all = await restAnswer(silero, sileroInputs);
      assertClose(Object.fromEntries(r.value!.outputs.map((o) => [o.name, o.contents!.fp32Contents])), { output: all.output! }, 'silero typed');
    } finally {
      s.close();
    }
  });

  it('answers health and metadata, and UNIMPLEMENTED for the repository calls', async () => {
    assert.deepEqual((await client.call('serverLive', {})).value?.live, true);
    assert.deepEqual((await client.call('serverReady', {})).value?.ready, true);
    assert.deepEqual((await client.call('modelReady', { name: 'm', version: '1' })).value?.ready, true);
    assert.equal((await client.call('modelReady', { name: 'm', version: '7' })).code, grpc.status.NOT_FOUND);
    const meta = await client.call('modelMetadata', { name: 'm' });
    assert.deepEqual(
      meta.value!.inputs.map((i) => [i.name, i.datatype, i.shape]),
      [[HELLO_INPUT, 'FP32', [1n, 25n, 96n]]],
    );
    assert.equal(meta.value!.platform, 'onnxruntime_onnx');
    const load = await client.call('repositoryModelLoad', { modelName: 'other' });
    assert.equal(load.code, grpc.status.UNIMPLEMENTED);
    assert.match(load.details, /serves one model, 'm', loaded at start/);
  });

  it('says what is wrong with a request, with the code of whose fault it is', async () => {
    const good = { name: HELLO_INPUT, datatype: 'FP32', shape: [1n, 25n, 96n], contents: { fp32Contents: helloData } };
    const cases: [string, MessageInitShape<typeof ModelInferRequestSchema>, grpc.status, RegExp][] = [
      ['unknown model', { modelName: 'x', inputs: [good] }, grpc.status.NOT_FOUND, /unknown model 'x': this server serves 'm'/],
      ['unknown version', { modelName: 'm', modelVersion: '2', inputs: [good] }, grpc.status.NOT_FOUND, /unknown version '2' of 'm': it has 1/],
      ['no inputs', { modelName: 'm' }, grpc.status.INVALID_ARGUMENT, /no inputs/],
      ['unknown input', { modelName: 'm', inputs: [{ ...good, name: 'y' }] }, grpc.status.INVALID_ARGUMENT, /unexpected input 'y': the model's inputs are onnx::Flatten_0/],
      ['wrong datatype', { modelName: 'm', inputs: [{ ...good, datatype: 'INT32', contents: { intContents: [1] } }] }, grpc.status.INVALID_ARGUMENT, /is INT32 but the model expects FP32/],
      ['wrong contents field', { modelName: 'm', inputs: [{ ...good, contents: { fp64Contents: helloData } }] }, grpc.status.INVALID_ARGUMENT, /values go in contents.fp32_contents, but the request fills contents.fp64_contents/],
      ['too few values', { modelName: 'm', inputs: [{ ...good, contents: { fp32Contents: helloData.slice(1) } }] }, grpc.status.INVALID_ARGUMENT, /has 2399 values but its shape \[1,25,96\] needs 2400/],
      ['no values', { modelName: 'm', inputs: [{ ...good, contents: undefined }] }, grpc.status.INVALID_ARGUMENT, /has no contents/],
      ['negative dim', { modelName: 'm', inputs: [{ ...good, shape: [-1n, 2400n] }] }, grpc.status.INVALID_ARGUMENT, /"shape" of non-negative integers/],
      ['raw and typed', { modelName: 'm', inputs: [good], rawInputContents: [f32bytes(helloData)] }, grpc.status.INVALID_ARGUMENT, /both contents and raw_input_contents/],
      ['raw short', { modelName: 'm', inputs: [{ ...good, contents: undefined }], rawInputContents: [f32bytes(helloData).subarray(4)] }, grpc.status.INVALID_ARGUMENT, /has 9596 bytes of binary data but its shape \[1,25,96\] of FP32 needs 9600/],
      ['raw count', { modelName: 'm', inputs: [{ ...good, contents: undefined }], rawInputContents: [f32bytes(helloData), f32bytes([1])] }, grpc.status.INVALID_ARGUMENT, /1 inputs but 2 raw_input_contents/],
      ['unknown output', { modelName: 'm', inputs: [good], outputs: [{ name: 'z' }] }, grpc.status.INVALID_ARGUMENT, /unknown output 'z': the model's outputs are 39/],
      ['shape the model refuses', { modelName: 'm', inputs: [{ ...good, shape: [1n, 2400n] }] }, grpc.status.INVALID_ARGUMENT, /./],
    ];
    for (const [what, req, code, message] of cases) {
      const r = await client.call('modelInfer', req);
      assert.equal(grpc.status[r.code], grpc.status[code], `${what}: ${r.details}`);
      assert.match(r.details, message, what);
    }
    const garbage = await client.raw('modelInfer', new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0x0f]));
    assert.equal(garbage.code, grpc.status.INVALID_ARGUMENT);
    assert.match(garbage.details, /not a valid inference.ModelInferRequest message/);
  });

  it('fuzz: garbage and mutated requests never answer OK or INTERNAL, and the server stays up', async () => {
    const valid = toBinary(ModelInferRequestSchema, create(ModelInferRequestSchema, { modelName: 'm', inputs: [{ name: HELLO_INPUT, datatype: 'FP32', shape: [1n, 25n, 96n] }], rawInputContents: [f32bytes(helloData)] }));
    const dim = fc.oneof(fc.bigInt({ min: -3n, max: 2n ** 40n }), fc.constant(25n), fc.constant(2n ** 63n - 1n), fc.constant(-(2n ** 63n)));
    const message = fc
      .record({
        modelName: fc.oneof(fc.constant('m'), fc.string({ maxLength: 8 })),
        modelVersion: fc.oneof(fc.constant(''), fc.constant('1'), fc.string({ maxLength: 3 })),
        inputs: fc.array(
          fc.record({
            name: fc.oneof(fc.constant(HELLO_INPUT), fc.string({ maxLength: 8 })),
            datatype: fc.constantFrom('FP32', 'FP16', 'FP64', 'INT8', 'INT64', 'UINT64', 'BOOL', 'BYTES', '', 'fp32', 'NOPE'),
            shape: fc.oneof(fc.constant<bigint[]>([1n, 25n, 96n]), fc.array(dim, { maxLength: 5 })),
            contents: fc.option(
              fc.record(
                {
                  fp32Contents: fc.oneof(fc.constant(helloData), fc.array(fc.float(), { maxLength: 50 })),
                  int64Contents: fc.array(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), { maxLength: 10 }),
                  boolContents: fc.array(fc.boolean(), { maxLength: 10 }),
                  bytesContents: fc.array(fc.uint8Array({ maxLength: 6 }), { maxLength: 4 }),
                  intContents: fc.array(fc.integer(), { maxLength: 10 }),
                },
                { requiredKeys: [] },
              ),
              { nil: undefined },
            ),
          }),
          { maxLength: 3 },
        ),
        rawInputContents: fc.array(fc.oneof(fc.constant(f32bytes(helloData)), fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 0, max: 9600 }).map((n) => f32bytes(helloData).subarray(0, n))), { maxLength: 3 }),
        outputs: fc.array(fc.record({ name: fc.oneof(fc.constant('39'), fc.string({ maxLength: 4 })) }), { maxLength: 2 }),
      })
      .map((m) => toBinary(ModelInferRequestSchema, create(ModelInferRequestSchema, m)));
    const bytes = fc.oneof(
      message,
      fc.uint8Array({ maxLength: 300 }),
      fc.integer({ min: 0, max: valid.length - 1 }).map((n) => valid.subarray(0, n)),
      fc.tuple(fc.integer({ min: 0, max: valid.length - 1 }), fc.integer({ min: 0, max: 255 })).map(([i, v]) => {
        const b = valid.slice();
        b[i] = v;
        return b;
      }),
    );
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(bytes, async (b) => {
        const r = await client.raw('modelInfer', b);
        seen.set(grpc.status[r.code], (seen.get(grpc.status[r.code]) ?? 0) + 1);
        if (r.code === grpc.status.OK) return; // a valid request, by chance (a flipped byte in the data)
        assert.ok([grpc.status.INVALID_ARGUMENT, grpc.status.NOT_FOUND].includes(r.code), `${grpc.status[r.code]} for ${Buffer.from(b).toString('hex').slice(0, 200)}: ${r.details}`);
        assert.ok(r.details.length > 0);
      }),
      { numRuns: 300, seed: 20261206 },
    );
    assert.ok((seen.get('INVALID_ARGUMENT') ?? 0) > 150, JSON.stringify([...seen]));
    assert.equal((await client.raw('modelInfer', valid)).code, grpc.status.OK, 'a valid request after the fuzz');
    assert.equal((await post(hello.infer, JSON.stringify({ inputs: helloInputs }))).status, 200, 'REST answers too');
  });
});

describe('serve over gRPC under faults and limits', () => {
  const det = (n: number) => {
    const x = new Float32Array(3 * n * n).fill(0.5);
    return { modelName: 'm', inputs: [{ name: 'x', datatype: 'FP32', shape: [1n, 3n, BigInt(n), BigInt(n)] }], rawInputContents: [new Uint8Array(x.buffer)] };
  };

  it('the worker killed under a call: UNAVAILABLE that says so, and the next call is answered', async () => {
    const s = await serve('ch_PP-OCRv4_det_infer.onnx', ['--grpc-port', '0']);
    const c = new V2GrpcClient(s.grpc!);
    try {
      const t0 = performance.now();
      assert.equal((await c.call('modelInfer', det(960))).code, grpc.status.OK);
      const oneRun = performance.now() - t0;
      const workers = descendants(s.child.pid!);
      const inFlight = c.call('modelInfer', det(960));
      await new Promise((r) => setTimeout(r, Math.max(50, oneRun / 3)));
      process.kill(workers[0]!, 'SIGKILL');
      const failed = await inFlight;
      assert.equal(grpc.status[failed.code], 'UNAVAILABLE', failed.details);
      assert.match(failed.details, /worker/i);
      assert.equal((await c.call('modelInfer', det(960))).code, grpc.status.OK);
    } finally {
      c.close();
      assert.equal(await s.stop(), 0);
    }
  });

  it('--max-inflight counts both protocols; a message over --max-body-mb is RESOURCE_EXHAUSTED; SIGTERM lets a call in flight finish', async () => {
    const s = await serve('ch_PP-OCRv4_det_infer.onnx', ['--grpc-port', '0', '--max-inflight', '2', '--max-body-mb', '16', '--no-batching']);
    const c = new V2GrpcClient(s.grpc!);
    try {
      const answers = await Promise.all(Array.from({ length: 8 }, () => c.call('modelInfer', det(320))));
      const codes = answers.map((a) => grpc.status[a.code]);
      assert.ok(codes.filter((x) => x === 'OK').length >= 2 && codes.includes('UNAVAILABLE'), codes.join(' '));
      assert.match(answers.find((a) => a.code === grpc.status.UNAVAILABLE)!.details, /2 inference requests in flight, its limit \(--max-inflight\)/);
      // Two REST requests in flight (about 0.5 s each, one after the other) fill the same gate.
      const x = new Float32Array(3 * 960 * 960).fill(0.5);
      const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3, 960, 960], datatype: 'FP32', parameters: { binary_data_size: x.byteLength } }] }));
      const rest = () => post(s.infer, Buffer.concat([header, Buffer.from(x.buffer)]), { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) });
      const busy = [rest(), rest()];
      await new Promise((r) => setTimeout(r, 150));
      const refused = await c.call('modelInfer', det(320));
      assert.equal(grpc.status[refused.code], 'UNAVAILABLE', refused.details);
      assert.deepEqual((await Promise.all(busy)).map((r) => r.status), [200, 200]);
      const big = await c.call('modelInfer', det(1200)); // 17.3 MB
      assert.equal(grpc.status[big.code], 'RESOURCE_EXHAUSTED', big.details);
      const metrics = await (await fetch(`${s.url}/metrics`)).text();
      assert.match(metrics, /modelyard_inference_requests_total\{model="m",version="1",status="success"\} ([4-9]|10)\n/);

      const inFlight = c.call('modelInfer', det(960));
      await new Promise((r) => setTimeout(r, 100));
      s.child.kill('SIGTERM');
      const last = await inFlight;
      assert.equal(last.code, grpc.status.OK, last.details);
      assert.equal(await s.stop(), 0);
    } finally {
      c.close();
      await s.stop();
    }
  });
});

describe("the serving image's command", () => {
  it('serves REST and gRPC from as many processes as CPUs, with the log as JSON lines on stderr and nothing else on stdout, and says when it stops', async () => {
    // The image's CMD (src/core/deploy/image/build.ts) with free ports instead of 8080 and 8081.
    const args = CMD.map((a, i) => (CMD[i - 1] === '--port' || CMD[i - 1] === '--grpc-port' ? '0' : a === '/mnt/models' ? fixture('hello_deepa.onnx') : a)).map((a) => (a === '0.0.0.0' ? '127.0.0.1' : a));
    const child = spawnModelyard(args);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    // Whole lines only: a read may end inside one.
    const lines = () => stderr.slice(0, stderr.lastIndexOf('\n') + 1).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { time: string; level: string; component: string; msg: string });
    // Listening: the one process's gRPC line, or the primary's line once every process listens.
    const n = os.availableParallelism();
    const listening = () => lines().some((l) => (n > 1 ? / server processes listen at / : /over gRPC/).test(l.msg));
    for (let i = 0; i < 600 && !listening(); i++) await new Promise((r) => setTimeout(r, 100));
    const rest = lines().find((l) => / at http:\/\/127\.0\.0\.1:\d+\/v2\/models\/hello_deepa$/.test(l.msg));
    assert.ok(rest, stderr);
    const c = new V2GrpcClient(/over gRPC at (\S+)/.exec(lines().find((l) => l.msg.includes('over gRPC'))!.msg)![1]!);
    try {
      const r = await c.call('modelInfer', { modelName: 'hello_deepa', inputs: [{ name: HELLO_INPUT, datatype: 'FP32', shape: [1n, 25n, 96n] }], rawInputContents: [f32bytes(helloData)] });
      assert.equal(r.code, grpc.status.OK, r.details);
    } finally {
      c.close();
    }
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    assert.equal(stdout, '', 'stdout stays quiet');
    const all = lines();
    assert.ok(all.every((l) => !Number.isNaN(Date.parse(l.time)) && ['info', 'warn', 'error'].includes(l.level)), stderr);
    const serveLines = all.filter((l) => l.component === 'serve').map((l) => l.msg);
    // --processes auto: as many server processes as this machine gives (no CPU quota here), each saying it stops,
    // then the primary with the total.
    if (n > 1) assert.match(serveLines[0]!, new RegExp(`^${n} server processes \\(${n} CPUs \\(no cgroup CPU quota`));
    assert.equal(serveLines.filter((l) => l.startsWith('stopping: not ready any more')).length, n, stderr);
    assert.equal(serveLines.at(-1), 'stopped after 1 request', stderr);
  });
});
