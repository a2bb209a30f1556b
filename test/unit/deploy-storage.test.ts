// Model delivery (src/core/deploy/storage) against real parts: the SeaweedFS S3 server and the single-node Kubernetes
// cluster of scripts/cluster.mjs (REFERENCE.md §9, §12), the CLI as users run it, the real inference worker.
//
// The cluster-backed cases start the cluster when it is down (`node scripts/cluster.mjs up`, idempotent) and FAIL
// when it cannot start: they are never skipped. MODELYARD_CLUSTER_SCRIPT names another copy of the script.
import {
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  AbortMultipartUploadCommand,
  ListObjectsV2Command,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { CoreV1Api } from '@kubernetes/client-node';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import util from 'node:util';
import { UserError } from '../../src/core/errors';
import type { InferenceHost } from '../../src/core/inference/host';
import { tensorToJson } from '../../src/core/inference/json';
import type { Tensor } from '../../src/core/inference/tensor';
import { inferRemote } from '../../src/core/serve/client';
import { isLayoutSource, modelInFolder, resolveServingSource, s3ConfigFromEnv } from '../../src/core/deploy/storage/layout';
import { claimSize, inPodCommands, MANAGED_BY, uploadModelToPvc } from '../../src/core/deploy/storage/pvc';
import { modelKey, parseS3Uri, storageUri } from '../../src/core/deploy/storage/keys';
import { downloadModel, s3Client, uploadModel, type S3Config } from '../../src/core/deploy/storage/s3';
import { collect, modelyard, spawnModelyard, waitForLine } from '../support/cli';
import { fixture } from '../support/fixtures';
import { FIXTURE_FEEDS, testHost } from '../support/inference';
import { freePort } from '../support/net';

const root = path.resolve(__dirname, '..', '..');
const MiB = 2 ** 20;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const tmp = (name: string) => fs.mkdtempSync(path.join(os.tmpdir(), `modelyard-storage-${name}-`));
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

// ---------------------------------------------------------------------------------------------------------------
// The test cluster

type ClusterEnv = Record<string, string>;
let clusterEnv: ClusterEnv | undefined;

function clusterScript(): string {
  const candidates = [process.env.MODELYARD_CLUSTER_SCRIPT, path.join(root, 'scripts', 'cluster.mjs')].filter((p): p is string => !!p);
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error(`the test cluster's script is missing (looked for ${candidates.join(', ')}): these cases need it and fail without it`);
  return found;
}

/** The cluster's variables; starts it first when it is down. Throws (the cases fail) when it cannot start. */
function cluster(): ClusterEnv {
  if (clusterEnv) return clusterEnv;
  const script = clusterScript();
  const status = spawnSync(process.execPath, [script, 'status'], { encoding: 'utf8', timeout: 120_000 });
  if (status.status !== 0) {
    const up = spawnSync(process.execPath, [script, 'up'], { encoding: 'utf8', timeout: 40 * 60_000, maxBuffer: 256 * MiB, stdio: ['ignore', 'pipe', 'pipe'] });
    if (up.status !== 0) throw new Error(`the test cluster could not start (node ${script} up: exit ${up.status ?? up.signal}): ${(up.stderr || up.stdout || '').slice(-3000)}`);
  }
  const env = spawnSync(process.execPath, [script, 'env', '--json'], { encoding: 'utf8', timeout: 60_000 });
  if (env.status !== 0) throw new Error(`node ${script} env --json failed: ${env.stderr}`);
  clusterEnv = JSON.parse(env.stdout) as ClusterEnv;
  for (const k of ['KUBECONFIG', 'MODELYARD_TEST_S3_ENDPOINT', 'MODELYARD_TEST_S3_WRITER_ACCESS_KEY', 'MODELYARD_TEST_S3_WRITER_SECRET_KEY', 'MODELYARD_TEST_S3_READER_ACCESS_KEY', 'MODELYARD_TEST_S3_READER_SECRET_KEY']) {
    assert.ok(clusterEnv[k], `the cluster's env has no ${k}`);
  }
  return clusterEnv;
}

const writer = (): S3Config => {
  const e = cluster();
  return { endpoint: e.MODELYARD_TEST_S3_ENDPOINT!, region: e.MODELYARD_TEST_S3_REGION || 'us-east-1', accessKeyId: e.MODELYARD_TEST_S3_WRITER_ACCESS_KEY!, secretAccessKey: e.MODELYARD_TEST_S3_WRITER_SECRET_KEY! };
};
const reader = (): S3Config => {
  const e = cluster();
  return { endpoint: e.MODELYARD_TEST_S3_ENDPOINT!, region: e.MODELYARD_TEST_S3_REGION || 'us-east-1', accessKeyId: e.MODELYARD_TEST_S3_READER_ACCESS_KEY!, secretAccessKey: e.MODELYARD_TEST_S3_READER_SECRET_KEY! };
};

/** The environment KServe gives a storage initializer or a predictor: the reader's keys, S3_ENDPOINT without scheme. */
function kserveEnv(c: S3Config): NodeJS.ProcessEnv {
  const u = new URL(c.endpoint);
  return { AWS_ACCESS_KEY_ID: c.accessKeyId, AWS_SECRET_ACCESS_KEY: c.secretAccessKey, S3_ENDPOINT: u.host, S3_USE_HTTPS: u.protocol === 'https:' ? '1' : '0', AWS_REGION: c.region ?? 'us-east-1', AWS_ENDPOINT_URL: '' };
}

/** A bucket of this run, emptied and removed at the end. */
async function makeBucket(client: S3Client): Promise<string> {
  const bucket = `modelyard-test-${process.pid}-${Date.now().toString(36)}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

async function dropBucket(client: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const l = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
    if (!l.Contents?.length) break;
    await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: l.Contents.map((o) => ({ Key: o.Key! })) } }));
  }
  const u = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  for (const x of u.Uploads ?? []) await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: x.Key!, UploadId: x.UploadId! }));
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
}

async function objectBytes(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

/** The failure of `p`, which must reject. */
async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  assert.fail('expected a failure');
}

/** Every way an error could be shown (message, hint, stack, JSON, inspect) must leave `secret` out. */
function assertNoSecret(e: unknown, secret: string): void {
  const shown = [String(e), (e as Error).stack ?? '', (e as UserError).hint ?? '', JSON.stringify(e), util.inspect(e, { depth: 8, showHidden: true })].join('\n');
  assert.ok(!shown.includes(secret), 'the secret key appears in the error');
}

const v2Input = (name: string, t: Tensor) => ({ name, shape: t.shape, datatype: 'FP32', data: tensorToJson(t).data });

let host: InferenceHost | undefined;
const inference = () => (host ??= testHost());
after(async () => {
  await host?.dispose();
});

/** The outputs of a local run of a fixture, to compare a server's answer with. */
async function localRun(file: string, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  const h = inference();
  const s = await h.load({ path: file });
  try {
    return (await h.run(s.id, feeds)).outputs;
  } finally {
    await h.release(s.id);
  }
}

function assertSameTensor(a: Tensor, b: Tensor, what: string): void {
  assert.deepEqual(a.shape, b.shape, what);
  assert.deepEqual(Array.from(a.data as Float32Array), Array.from(b.data as Float32Array), what);
}

// ---------------------------------------------------------------------------------------------------------------

describe('storage: names, keys and layouts (no cluster)', () => {
  const sha = 'ab'.repeat(32);

  it('parses s3:// URIs and refuses what is not one', () => {
    assert.deepEqual(parseS3Uri('s3://models'), { bucket: 'models', prefix: '' });
    assert.deepEqual(parseS3Uri('s3://models/team/a/'), { bucket: 'models', prefix: 'team/a' });
    for (const bad of ['http://x/y', 's3://', 's3://Bad_Bucket/x', 's3://ab', 's3://models/a/../b', 's3://models/a//b']) assert.throws(() => parseS3Uri(bad), UserError, bad);
  });

  it('gives content-addressed keys in the runtime layout and the storageUri a runtime gets', () => {
    assert.equal(modelKey('team', sha, 'vad'), `team/vad/sha256/${sha}/vad/1/model.onnx`);
    assert.equal(modelKey('', sha, 'vad'), `vad/sha256/${sha}/vad/1/model.onnx`);
    assert.equal(storageUri({ bucket: 'models', prefix: 'team' }, sha, 'vad'), `s3://models/team/vad/sha256/${sha}`);
    assert.throws(() => modelKey('team', sha, '../x'), UserError);
    assert.throws(() => modelKey('team', 'nothex', 'vad'));
  });

  it('sizes a new claim from the model with headroom', () => {
    assert.equal(claimSize(1), '128Mi');
    assert.equal(claimSize(100 * MiB), '320Mi');
    assert.equal(claimSize(2 * 1024 * MiB), `${Math.ceil((4096 + 64) / 64) * 64}Mi`);
  });

  it('reads S3 settings from the environment as KServe passes them, never showing the secret', () => {
    assert.deepEqual(s3ConfigFromEnv({ AWS_ACCESS_KEY_ID: 'AK', AWS_SECRET_ACCESS_KEY: 'SK', S3_ENDPOINT: 'minio.kubeflow:9000', S3_USE_HTTPS: '0' }), {
      endpoint: 'http://minio.kubeflow:9000',
      region: 'us-east-1',
      accessKeyId: 'AK',
      secretAccessKey: 'SK',
    });
    assert.equal(s3ConfigFromEnv({ AWS_ACCESS_KEY_ID: 'AK', AWS_SECRET_ACCESS_KEY: 'SK', S3_ENDPOINT: 'store:443' }).endpoint, 'https://store:443');
    const both = s3ConfigFromEnv({ AWS_ACCESS_KEY_ID: 'AK', AWS_SECRET_ACCESS_KEY: 'SK', AWS_ENDPOINT_URL: 'http://10.244.0.1:8333', S3_ENDPOINT: 'ignored:1', AWS_REGION: 'eu-west-1' });
    assert.equal(both.endpoint, 'http://10.244.0.1:8333');
    assert.equal(both.region, 'eu-west-1');
    assert.equal(s3ConfigFromEnv({ AWS_ACCESS_KEY_ID: 'AK', AWS_SECRET_ACCESS_KEY: 'SK', S3_REGION: 'x-1' }).endpoint, 'https://s3.x-1.amazonaws.com');
    const e = (() => {
      try {
        s3ConfigFromEnv({ AWS_ACCESS_KEY_ID: 'AK', S3_ENDPOINT: 'x:1' });
      } catch (err) {
        return err as UserError;
      }
      assert.fail('missing secret accepted');
    })();
    assert.ok(e instanceof UserError);
    assert.match(e.message, /AWS_SECRET_ACCESS_KEY is not set/);
  });

  it('finds the one model of a folder in each runtime layout, named by its folder', () => {
    const d = tmp('layout');
    try {
      const put = (rel: string) => {
        fs.mkdirSync(path.dirname(path.join(d, rel)), { recursive: true });
        fs.writeFileSync(path.join(d, rel), 'x');
      };
      put('kserve/vad/1/model.onnx');
      put('kserve/vad/2/model.onnx');
      assert.deepEqual(modelInFolder(path.join(d, 'kserve')), { file: path.join(d, 'kserve/vad/2/model.onnx'), name: 'vad' });
      assert.deepEqual(modelInFolder(path.join(d, 'kserve', 'vad')), { file: path.join(d, 'kserve/vad/2/model.onnx'), name: 'vad' });
      put('flat/wakeword/model.onnx');
      assert.deepEqual(modelInFolder(path.join(d, 'flat', 'wakeword')), { file: path.join(d, 'flat/wakeword/model.onnx'), name: 'wakeword' });
      put('two/a/1/model.onnx');
      put('two/b/1/model.onnx');
      assert.throws(() => modelInFolder(path.join(d, 'two')), /holds 2 models \(a, b\)/);
      fs.mkdirSync(path.join(d, 'empty'));
      assert.throws(() => modelInFolder(path.join(d, 'empty')), /no model in a layout a runtime reads/);
      assert.ok(isLayoutSource(path.join(d, 'kserve')));
      assert.ok(isLayoutSource('s3://b/x'));
      assert.ok(!isLayoutSource(path.join(d, 'kserve/vad/1/model.onnx')));
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });

  it('resolves a serving source: an .onnx path (named <name> in <name>/1/model.onnx) and a folder', async () => {
    const d = tmp('source');
    try {
      fs.mkdirSync(path.join(d, 'hello', '1'), { recursive: true });
      fs.copyFileSync(fixture('hello_deepa.onnx'), path.join(d, 'hello', '1', 'model.onnx'));
      assert.deepEqual(await resolveServingSource(d), { file: path.join(d, 'hello', '1', 'model.onnx'), name: 'hello' });
      assert.deepEqual(await resolveServingSource(path.join(d, 'hello', '1', 'model.onnx')), { file: path.join(d, 'hello', '1', 'model.onnx'), name: 'hello' });
      assert.deepEqual(await resolveServingSource(fixture('hello_deepa.onnx')), { file: fixture('hello_deepa.onnx'), name: 'hello_deepa' });
      await assert.rejects(resolveServingSource(path.join(d, 'nope')), /does not exist/);
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });

  for (const tool of ['node', 'sh'] as const) {
    it(`the copy pod's ${tool} commands write exactly the model's bytes, check them, and rename (run here, outside a pod)`, () => {
      const mount = tmp(`pod-${tool}`);
      try {
        const bytes = randomBytes(3 * MiB + 17);
        const rel = { sha256: sha256(bytes), servedName: 'm' };
        const run = (cmd: string[], input?: Buffer, mayFail = false) => {
          const argv = cmd[0] === 'node' ? [process.execPath, ...cmd.slice(1)] : cmd;
          const r = spawnSync(argv[0]!, argv.slice(1), { input: input ?? Buffer.alloc(0), encoding: 'utf8' });
          if (!mayFail) assert.equal(r.status, 0, r.stderr);
          return r.stdout;
        };
        const c = inPodCommands(tool, mount, rel, bytes.length);
        assert.match(run(c.probe), /^size=-\nfree=\d+\n$/);
        // More bytes than the model on stdin: exactly the model's are kept.
        run(c.write, Buffer.concat([bytes, Buffer.from('trailing')]));
        assert.equal(run(c.verify), `size=${bytes.length}\nsha256=${rel.sha256}\nrenamed\n`);
        assert.deepEqual(fs.readFileSync(path.join(mount, 'm', rel.sha256, 'm', '1', 'model.onnx')), bytes);
        assert.match(run(c.probe), new RegExp(`^size=${bytes.length}\\n`));
        // A short copy is found out and removed, never renamed.
        const other = inPodCommands(tool, mount, { sha256: 'cd'.repeat(32), servedName: 'm' }, bytes.length);
        run(other.write, bytes.subarray(0, 1000), true);
        assert.doesNotMatch(run(other.verify), /renamed/);
        assert.ok(!fs.existsSync(path.join(mount, 'm', 'cd'.repeat(32), 'm', '1', 'model.onnx.part')));
        assert.ok(!fs.existsSync(path.join(mount, 'm', 'cd'.repeat(32), 'm', '1', 'model.onnx')));
      } finally {
        fs.rmSync(mount, { recursive: true, force: true });
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------

describe('S3 uploads and downloads against SeaweedFS', () => {
  let client: S3Client;
  let bucket: string;
  let uri: string;
  const hello = () => fs.readFileSync(fixture('hello_deepa.onnx'));

  before(async () => {
    client = s3Client(writer());
    bucket = await makeBucket(client);
    uri = `s3://${bucket}/models`;
  });
  after(async () => {
    if (bucket) await dropBucket(client, bucket);
    client?.destroy();
  });

  it('uploads a model once: the second upload sends nothing (HEAD), a different model uploads', async (t) => {
    const bytes = hello();
    const sha = sha256(bytes);
    const progress: number[] = [];
    const first = await uploadModel({ config: writer(), uri, sha256: sha, servedName: 'hello', bytes, onProgress: (d) => progress.push(d) });
    assert.equal(first.uploaded, bytes.length);
    assert.equal(first.skipped, false);
    assert.equal(first.parts, 0);
    assert.equal(first.key, `models/hello/sha256/${sha}/hello/1/model.onnx`);
    assert.equal(first.storageUri, `s3://${bucket}/models/hello/sha256/${sha}`);
    assert.equal(progress.at(-1), bytes.length);
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: first.key }));
    assert.equal(head.Metadata?.sha256, sha);
    assert.equal(head.ContentLength, bytes.length);
    assert.deepEqual(await objectBytes(client, bucket, first.key), bytes);

    const second = await uploadModel({ config: writer(), uri, sha256: sha, servedName: 'hello', file: fixture('hello_deepa.onnx') });
    assert.equal(second.uploaded, 0);
    assert.equal(second.skipped, true);

    const vad = fs.readFileSync(fixture('silero_vad_v5.onnx'));
    const third = await uploadModel({ config: writer(), uri, sha256: sha256(vad), servedName: 'vad', file: fixture('silero_vad_v5.onnx') });
    assert.equal(third.uploaded, vad.length);
    assert.equal(third.skipped, false);
    assert.notEqual(third.storageUri, first.storageUri);
    t.diagnostic(`hello_deepa ${bytes.length} B: first upload ${first.ms} ms, second (HEAD only) ${second.ms} ms; silero_vad_v5 ${vad.length} B: ${third.ms} ms`);
  });

  it('resumes a multipart upload killed halfway: only the missing parts are sent, and the object is the model', async (t) => {
    const dir = tmp('multipart');
    try {
      const partSize = 8 * MiB;
      const bytes = randomBytes(40 * MiB);
      const file = path.join(dir, 'big.onnx');
      fs.writeFileSync(file, bytes);
      const sha = sha256(bytes);
      const opts = { uri, sha256: sha, servedName: 'big', file, partSize, multipartThreshold: 16 * MiB };

      // The first run, in a child process, is SIGKILLed once two of its five parts are through.
      const code = `
        const { uploadModel } = require(${JSON.stringify(path.join(root, 'src/core/deploy/storage/s3.ts'))});
        const o = JSON.parse(process.env.UPLOAD_OPTIONS);
        uploadModel({ ...o, config: JSON.parse(process.env.UPLOAD_CONFIG), concurrency: 1, onProgress: (d, t) => process.stdout.write('progress ' + d + ' ' + t + '\\n') })
          .then((r) => process.stdout.write('done ' + JSON.stringify(r) + '\\n'), (e) => { process.stderr.write(String(e) + '\\n'); process.exit(1); });`;
      const t0 = performance.now();
      const child = spawn(process.execPath, ['--import', 'tsx', '-e', code], {
        cwd: root,
        env: { ...process.env, UPLOAD_OPTIONS: JSON.stringify(opts), UPLOAD_CONFIG: JSON.stringify(writer()) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const exited = collect(child);
      const line = await waitForLine(child, (l) => l.startsWith('progress ') && Number(l.split(' ')[1]) >= 2 * partSize, 120_000);
      child.kill('SIGKILL');
      const killed = await exited;
      const killedMs = performance.now() - t0;
      assert.equal(killed.signal, 'SIGKILL', `the child finished before it was killed: ${killed.stdout}`);
      assert.doesNotMatch(killed.stdout, /^done /m);
      t.diagnostic(`killed after ${line.split(' ')[1]} of ${bytes.length} bytes (${secs(killedMs)})`);

      const unfinished = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: modelKey('models', sha, 'big') }));
      assert.equal(unfinished.Uploads?.length, 1, 'the killed run left its upload unfinished');

      const resumed = await uploadModel({ ...opts, config: writer() });
      assert.equal(resumed.resumed, true);
      assert.equal(resumed.parts, 5);
      assert.ok(resumed.reused >= 2 * partSize, `kept ${resumed.reused} bytes`);
      assert.ok(resumed.uploaded < bytes.length, `sent ${resumed.uploaded} of ${bytes.length} bytes`);
      assert.ok(resumed.uploaded > 0);
      assert.equal(resumed.uploaded + resumed.reused, bytes.length);
      assert.equal(resumed.reused % partSize, 0);
      const stored = await objectBytes(client, bucket, resumed.key);
      assert.equal(sha256(stored), sha);
      assert.equal((await client.send(new HeadObjectCommand({ Bucket: bucket, Key: resumed.key }))).Metadata?.sha256, sha);
      const left = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: resumed.key }));
      assert.equal(left.Uploads?.length ?? 0, 0);
      t.diagnostic(`resumed in ${resumed.ms} ms: sent ${resumed.uploaded / MiB} MiB, kept ${resumed.reused / MiB} MiB of ${bytes.length / MiB} MiB from the killed run`);

      const again = await uploadModel({ ...opts, config: writer() });
      assert.deepEqual([again.skipped, again.uploaded], [true, 0]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('resending a part whose ETag is not the MD5 of the local part, keeping the one that matches', async () => {
    const partSize = 8 * MiB;
    const bytes = randomBytes(3 * partSize - 5);
    const sha = sha256(bytes);
    const key = modelKey('models', sha, 'parts');
    // An earlier upload of the same key holds a wrong part 1 and the right part 2.
    const up = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, Metadata: { sha256: sha } }));
    await client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: up.UploadId, PartNumber: 1, Body: randomBytes(partSize) }));
    await client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: up.UploadId, PartNumber: 2, Body: bytes.subarray(partSize, 2 * partSize) }));
    const r = await uploadModel({ config: writer(), uri, sha256: sha, servedName: 'parts', bytes, partSize, multipartThreshold: 16 * MiB });
    assert.equal(r.resumed, true);
    assert.equal(r.reused, partSize);
    assert.equal(r.uploaded, bytes.length - partSize);
    assert.deepEqual(await objectBytes(client, bucket, key), bytes);
  });

  it('stops at once on a signal and resumes later', async () => {
    const partSize = 8 * MiB;
    const bytes = randomBytes(4 * partSize);
    const sha = sha256(bytes);
    const ac = new AbortController();
    const e = await failure(
      uploadModel({ config: writer(), uri, sha256: sha, servedName: 'sig', bytes, partSize, concurrency: 1, onProgress: (d) => d >= partSize && ac.abort(), signal: ac.signal }),
    );
    assert.match(String(e), /cancelled/);
    const r = await uploadModel({ config: writer(), uri, sha256: sha, servedName: 'sig', bytes, partSize });
    assert.ok(r.resumed && r.reused >= partSize && r.uploaded <= 3 * partSize, JSON.stringify(r));
    assert.equal(sha256(await objectBytes(client, bucket, r.key)), sha);
  });

  it('says what is wrong with the keys — wrong secret, unknown key id, read-only keys — naming the endpoint and key id, never the secret', async () => {
    const bytes = hello();
    const sha = sha256(bytes);
    const good = writer();
    const wrongSecret = { ...good, secretAccessKey: 'x' + good.secretAccessKey.slice(1, -1) + 'y' };
    const e1 = await failure(uploadModel({ config: wrongSecret, uri, sha256: sha, servedName: 'keys', bytes }));
    assert.ok(e1 instanceof UserError, String(e1));
    assert.match(e1.message, /SignatureDoesNotMatch/);
    assert.ok(e1.message.includes(good.endpoint) && e1.message.includes(good.accessKeyId), e1.message);
    assert.match(e1.hint!, /Check the keys/);
    assertNoSecret(e1, wrongSecret.secretAccessKey);
    assertNoSecret(e1, good.secretAccessKey);

    const unknown = { ...good, accessKeyId: 'AKNOSUCHKEY000000000' };
    const e2 = await failure(uploadModel({ config: unknown, uri, sha256: sha, servedName: 'keys', bytes }));
    assert.ok(e2 instanceof UserError, String(e2));
    assert.match(e2.message, /does not know the access key id 'AKNOSUCHKEY000000000' \(InvalidAccessKeyId\)/);
    assert.ok(e2.message.includes(good.endpoint));
    assert.match(e2.hint!, /Check the keys/);
    assertNoSecret(e2, good.secretAccessKey);

    const e3 = await failure(uploadModel({ config: reader(), uri, sha256: sha, servedName: 'keys', bytes }));
    assert.ok(e3 instanceof UserError, String(e3));
    assert.match(e3.message, /may not upload to .* \(access denied\)/);
    assertNoSecret(e3, reader().secretAccessKey);
    const scratch = tmp('keys');
    const e4 = await failure(downloadModel(`s3://${bucket}/models`, scratch, wrongSecret));
    fs.rmSync(scratch, { recursive: true, force: true });
    assert.match(e4.message, /SignatureDoesNotMatch/);
    assertNoSecret(e4, wrongSecret.secretAccessKey);
  });

  it('names a missing bucket and the fix, and does not create it', async () => {
    const missing = `modelyard-missing-${process.pid}`;
    for (const bytes of [hello(), randomBytes(17 * MiB)]) {
      const e = await failure(uploadModel({ config: writer(), uri: `s3://${missing}/m`, sha256: sha256(bytes), servedName: 'x', bytes }));
      assert.ok(e instanceof UserError, String(e));
      assert.equal(e.message, `the bucket '${missing}' does not exist at ${writer().endpoint}.`);
      assert.match(e.hint!, /Create it .* s3 mb s3:\/\/modelyard-missing-/);
    }
    await assert.rejects(client.send(new HeadBucketCommand({ Bucket: missing })), (err: { $metadata?: { httpStatusCode?: number } }) => err.$metadata?.httpStatusCode === 404);
  });

  it('downloads what it uploaded: <name>/1/model.onnx under the storageUri, atomically, sha256 checked, kept when there', async (t) => {
    const bytes = hello();
    const sha = sha256(bytes);
    const up = await uploadModel({ config: writer(), uri, sha256: sha, servedName: 'hello', bytes });
    const dest = tmp('download');
    try {
      const t0 = performance.now();
      const r = await downloadModel(up.storageUri, dest, reader());
      const ms = performance.now() - t0;
      assert.deepEqual({ ...r }, { file: path.join(dest, 'hello', '1', 'model.onnx'), name: 'hello', size: bytes.length, sha256: sha, uri: `s3://${bucket}/${up.key}`, downloaded: true });
      assert.deepEqual(fs.readFileSync(r.file), bytes);
      assert.deepEqual(fs.readdirSync(path.dirname(r.file)), ['model.onnx'], 'no temporary file is left');
      const again = await downloadModel(up.storageUri, dest, reader());
      assert.equal(again.downloaded, false);
      // The object itself, and a prefix holding several models.
      const direct = await downloadModel(`s3://${bucket}/${up.key}`, path.join(dest, 'direct'), reader());
      assert.equal(direct.name, 'hello');
      const several = await failure(downloadModel(`s3://${bucket}/models`, path.join(dest, 'several'), reader()));
      assert.match(several.message, /holds \d+ \.onnx files and no single|holds \d+ models/);
      const empty = await failure(downloadModel(`s3://${bucket}/nothing-here`, path.join(dest, 'x'), reader()));
      assert.match(empty.message, /nothing is stored under/);
      t.diagnostic(`download of ${bytes.length} B: ${ms.toFixed(0)} ms`);
    } finally {
      fs.rmSync(dest, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('the serving side in the CLI: fetch-model and serve s3:// against SeaweedFS, with KServe-style credentials', () => {
  let client: S3Client;
  let bucket: string;
  let helloUri: string;
  let recUri: string;

  before(async () => {
    client = s3Client(writer());
    bucket = await makeBucket(client);
    const hello = fs.readFileSync(fixture('hello_deepa.onnx'));
    helloUri = (await uploadModel({ config: writer(), uri: `s3://${bucket}/serving`, sha256: sha256(hello), servedName: 'hello', bytes: hello })).storageUri;
    const rec = fs.readFileSync(fixture('ch_PP-OCRv4_rec_infer.onnx'));
    recUri = (await uploadModel({ config: writer(), uri: `s3://${bucket}/serving`, sha256: sha256(rec), servedName: 'rec', bytes: rec })).storageUri;
  });
  after(async () => {
    if (bucket) await dropBucket(client, bucket);
    client?.destroy();
  });

  it('fetch-model SRC DEST writes DEST/<name>/1/model.onnx (a KServe storage initializer)', () => {
    const dest = tmp('fetch');
    try {
      const r = modelyard(['fetch-model', helloUri, dest, '--json'], { env: { ...kserveEnv(reader()), MODELYARD_EVENTS: 'stderr' } });
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.file, path.join(dest, 'hello', '1', 'model.onnx'));
      assert.deepEqual(fs.readFileSync(out.file), fs.readFileSync(fixture('hello_deepa.onnx')));
      assert.ok(r.stderr.split('\n').some((l) => l.startsWith('{"event":"progress"')), r.stderr);
      assert.ok(!r.stderr.includes(reader().secretAccessKey));
      // The same destination again: kept, not downloaded.
      const again = modelyard(['fetch-model', helloUri, dest], { env: kserveEnv(reader()) });
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /^Already there: s3:\/\//);
    } finally {
      fs.rmSync(dest, { recursive: true, force: true });
    }
  });

  it('fetch-model: help, and one clear line for what it refuses', (t) => {
    const scratch = tmp('refuse');
    t.after(() => fs.rmSync(scratch, { recursive: true, force: true }));
    const help = modelyard(['fetch-model', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /fetch-model SRC DEST/);
    assert.match(modelyard(['--help']).stdout, /fetch-model SRC DEST/);
    const notS3 = modelyard(['fetch-model', fixture('hello_deepa.onnx'), scratch]);
    assert.equal(notS3.code, 1);
    assert.match(notS3.stderr, /^modelyard: fetch-model takes an s3:\/\/ URI/);
    const noKeys = modelyard(['fetch-model', helloUri, scratch], { env: { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' } });
    assert.equal(noKeys.code, 1);
    assert.match(noKeys.stderr, /no S3 credentials: AWS_ACCESS_KEY_ID is not set/);
    const wrong = modelyard(['fetch-model', helloUri, scratch], { env: { ...kserveEnv(reader()), AWS_SECRET_ACCESS_KEY: 'not-the-secret' } });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /SignatureDoesNotMatch.*Check the keys/);
    assert.equal(wrong.stderr.trim().split('\n').length, 1);
  });

  it('serve s3://… downloads with the environment credentials, is ready, and infers what a local run gives', async (t) => {
    const feeds = FIXTURE_FEEDS['hello_deepa.onnx']!();
    const local = await localRun(fixture('hello_deepa.onnx'), feeds);
    const cache = tmp('serve-cache');
    const t0 = performance.now();
    const child = spawnModelyard(['serve', helloUri, '--port', '0', '--json'], { env: { ...kserveEnv(reader()), TMPDIR: cache } });
    const done = collect(child);
    try {
      const listening = JSON.parse(await waitForLine(child, (l) => l.startsWith('{'), 120_000));
      t.diagnostic(`serve s3:// listening after ${secs(performance.now() - t0)}`);
      assert.equal(listening.model, 'hello');
      const url = listening.url as string;
      assert.equal((await fetch(`${url}/v2/health/ready`)).status, 200);
      assert.equal((await fetch(`${url}/v2/models/hello/ready`)).status, 200);
      const r = await fetch(`${url}/v2/models/hello/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: [v2Input('onnx::Flatten_0', feeds['onnx::Flatten_0']!)] }) });
      assert.equal(r.status, 200);
      const remote = await inferRemote(url, 'hello', feeds);
      assertSameTensor(remote.outputs['39']!, local['39']!, 'output 39');
    } finally {
      child.kill('SIGTERM');
      const r = await done;
      assert.equal(r.code, 0, r.stderr);
      fs.rmSync(cache, { recursive: true, force: true });
    }
  });

  it('serve: before the model is loaded, health neither answers live nor ready; once it answers, the model is ready', async () => {
    const port = await freePort();
    const cache = tmp('serve-health');
    const child = spawnModelyard(['serve', recUri, '--port', String(port), '--json'], { env: { ...kserveEnv(reader()), TMPDIR: cache } });
    const done = collect(child);
    const seen: string[] = [];
    try {
      for (let i = 0; ; i++) {
        assert.ok(i < 3000, 'never ready');
        const [live, ready] = await Promise.all(
          ['live', 'ready'].map((p) =>
            fetch(`http://127.0.0.1:${port}/v2/health/${p}`).then(
              (res) => String(res.status),
              (e: { cause?: { code?: string } }) => e.cause?.code ?? 'error',
            ),
          ),
        );
        seen.push(`${live}/${ready}`);
        if (ready === '200') break;
        await new Promise((r) => setTimeout(r, 20));
      }
      // Everything before the first 200 was "nobody listens": no early 200 and no other answer.
      assert.ok(seen.length > 1, `polled ${seen.length} times`);
      for (const s of seen.slice(0, -1)) assert.equal(s, 'ECONNREFUSED/ECONNREFUSED');
      assert.equal(seen.at(-1), '200/200');
      assert.equal((await fetch(`http://127.0.0.1:${port}/v2/models/rec/ready`)).status, 200);
    } finally {
      child.kill('SIGTERM');
      assert.equal((await done).code, 0);
      fs.rmSync(cache, { recursive: true, force: true });
    }
  });

  it('serve DIR: a folder in the runtime layout (as fetch-model writes it) is served under its folder name', async () => {
    const dest = tmp('serve-dir');
    try {
      assert.equal(modelyard(['fetch-model', helloUri, dest], { env: kserveEnv(reader()) }).code, 0);
      const child = spawnModelyard(['serve', dest, '--port', '0', '--json']);
      const done = collect(child);
      try {
        const listening = JSON.parse(await waitForLine(child, (l) => l.startsWith('{')));
        assert.equal(listening.model, 'hello');
      } finally {
        child.kill('SIGTERM');
        assert.equal((await done).code, 0);
      }
    } finally {
      fs.rmSync(dest, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('serve: SIGTERM lets the request in flight finish', () => {
  it(
    'answers a request that is being computed when SIGTERM arrives, then exits 0',
    async (t) => {
      const file = fixture('ch_PP-OCRv4_det_infer.onnx');
      const child = spawnModelyard(['serve', file, '--port', '0', '--json', '--threads', '1']);
      const done = collect(child);
      let settled = false;
      try {
        const { url, model } = JSON.parse(await waitForLine(child, (l) => l.startsWith('{')));
        const x = new Float32Array(1 * 3 * 960 * 960).fill(0.5);
        const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3, 960, 960], datatype: 'FP32', parameters: { binary_data_size: x.byteLength } }], parameters: { binary_data_output: true } }));
        const send = () =>
          fetch(`${url}/v2/models/${model}/infer`, {
            method: 'POST',
            headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
            body: Buffer.concat([header, Buffer.from(x.buffer)]),
          });
        const t0 = performance.now();
        assert.equal((await send()).status, 200);
        const oneRun = performance.now() - t0;
        t.diagnostic(`one 960x960 detection: ${oneRun.toFixed(0)} ms`);
        const inFlight = send().then(
          async (res) => ({ status: res.status, bytes: (await res.arrayBuffer()).byteLength }),
          (e: Error) => ({ status: 0, error: `${e.message} ${String((e as { cause?: unknown }).cause)}` }),
        );
        await new Promise((r) => setTimeout(r, Math.max(100, oneRun / 3)));
        child.kill('SIGTERM');
        const answer = await inFlight;
        settled = true;
        assert.equal(answer.status, 200, JSON.stringify(answer));
        assert.equal((await done).code, 0);
      } finally {
        if (!settled || child.exitCode === null) child.kill('SIGKILL');
        await done;
      }
    },
  );
});

// ---------------------------------------------------------------------------------------------------------------

describe('PVC delivery through the API server, on the test cluster', () => {
  let core: CoreV1Api;
  let k8s: typeof import('@kubernetes/client-node');
  let namespace: string;
  let pvName: string;
  let hostDir: string;
  const claim = 'models';
  const storageClass = `modelyard-test-${process.pid}`;

  before(async () => {
    const env = cluster();
    k8s = await import('@kubernetes/client-node');
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(env.KUBECONFIG!);
    core = kc.makeApiClient(k8s.CoreV1Api);
    namespace = `modelyard-storage-${process.pid}`;
    pvName = `modelyard-storage-${process.pid}`;
    hostDir = tmp('pv');
    await core.createNamespace({ body: { metadata: { name: namespace, labels: { ...MANAGED_BY } } } });
    // No dynamic provisioner on the test cluster: a hostPath volume, bound to the claim the code will create.
    await core.createPersistentVolume({
      body: {
        metadata: { name: pvName, labels: { ...MANAGED_BY } },
        spec: {
          capacity: { storage: '1Gi' },
          accessModes: ['ReadWriteOnce'],
          storageClassName: storageClass,
          persistentVolumeReclaimPolicy: 'Retain',
          hostPath: { path: hostDir, type: 'Directory' },
          claimRef: { namespace, name: claim },
        },
      },
    });
    // Pods need the namespace's default ServiceAccount, which the controller-manager adds a moment later.
    for (let i = 0; ; i++) {
      const sa = await core.readNamespacedServiceAccount({ name: 'default', namespace }).catch(() => undefined);
      if (sa) break;
      assert.ok(i < 120, 'no default ServiceAccount in the test namespace');
      await new Promise((r) => setTimeout(r, 500));
    }
  });
  after(async () => {
    if (!core) return;
    await core.deleteNamespace({ name: namespace }).catch(() => undefined);
    await core.deletePersistentVolume({ name: pvName }).catch(() => undefined);
    if (hostDir) fs.rmSync(hostDir, { recursive: true, force: true });
  });

  /** Reads a file of the claim back through a pod of its own: its sha256 and size. */
  async function readBack(rel: string): Promise<{ sha256: string; size: number }> {
    const pod = await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { generateName: 'readback-', labels: { ...MANAGED_BY } },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          containers: [{ name: 'c', image: cluster().MODELYARD_TEST_BUSYBOX_IMAGE!, command: ['sh', '-c', `sha256sum /m/${rel}; stat -c %s /m/${rel}`], volumeMounts: [{ name: 'm', mountPath: '/m', readOnly: true }] }],
          volumes: [{ name: 'm', persistentVolumeClaim: { claimName: claim, readOnly: true } }],
        },
      },
    });
    const name = pod.metadata!.name!;
    for (let i = 0; ; i++) {
      const p = await core.readNamespacedPod({ name, namespace });
      if (p.status?.phase === 'Succeeded') break;
      assert.notEqual(p.status?.phase, 'Failed', JSON.stringify(p.status));
      assert.ok(i < 240, `the read-back pod did not finish: ${JSON.stringify(p.status)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const log = await core.readNamespacedPodLog({ name, namespace });
    await core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 });
    const [line, size] = log.trim().split('\n');
    return { sha256: line!.split(/\s+/)[0]!, size: Number(size) };
  }

  async function copyPodsLeft(): Promise<number> {
    for (let i = 0; i < 60; i++) {
      const pods = await core.listNamespacedPod({ namespace, labelSelector: 'app.kubernetes.io/managed-by=modelyard,app.kubernetes.io/component=model-copy' });
      if (!pods.items.length) return 0;
      await new Promise((r) => setTimeout(r, 500));
    }
    return (await core.listNamespacedPod({ namespace, labelSelector: 'app.kubernetes.io/component=model-copy' })).items.length;
  }

  it('creates the claim, copies the model through a pod, checks it there, and skips it the second time', async (t) => {
    const env = cluster();
    const file = fixture('ch_PP-OCRv4_rec_infer.onnx');
    const bytes = fs.readFileSync(file);
    const sha = sha256(bytes);
    const progress: number[] = [];
    const first = await uploadModelToPvc({
      kubeconfig: env.KUBECONFIG!,
      namespace,
      claim,
      storageClass,
      sha256: sha,
      servedName: 'rec',
      file,
      image: env.MODELYARD_TEST_BUSYBOX_IMAGE!,
      tool: 'sh',
      onProgress: (d) => progress.push(d),
    });
    assert.equal(first.storageUri, `pvc://${claim}/rec/${sha}`);
    assert.equal(first.path, `rec/${sha}/rec/1/model.onnx`);
    assert.equal(first.claimCreated, true);
    assert.equal(first.uploaded, bytes.length);
    assert.equal(first.skipped, false);
    assert.equal(progress.at(-1), bytes.length);
    const pvc = await core.readNamespacedPersistentVolumeClaim({ name: claim, namespace });
    assert.equal(pvc.metadata?.labels?.['app.kubernetes.io/managed-by'], 'modelyard');
    assert.equal(pvc.spec?.resources?.requests?.storage, claimSize(bytes.length));
    assert.equal(pvc.status?.phase, 'Bound');
    assert.equal(await copyPodsLeft(), 0, 'the copy pod is deleted');

    // Read back through another pod, and on the volume's host folder.
    assert.deepEqual(await readBack(first.path), { sha256: sha, size: bytes.length });
    assert.deepEqual(fs.readFileSync(path.join(hostDir, first.path)), bytes);
    assert.ok(!fs.existsSync(path.join(hostDir, `${first.path}.part`)));

    const second = await uploadModelToPvc({ kubeconfig: env.KUBECONFIG!, namespace, claim, storageClass, sha256: sha, servedName: 'rec', bytes, image: env.MODELYARD_TEST_BUSYBOX_IMAGE!, tool: 'sh' });
    assert.deepEqual([second.skipped, second.uploaded, second.claimCreated], [true, 0, false]);

    const vad = fs.readFileSync(fixture('silero_vad_v5.onnx'));
    const third = await uploadModelToPvc({ kubeconfig: env.KUBECONFIG!, namespace, claim, sha256: sha256(vad), servedName: 'vad', bytes: vad, image: env.MODELYARD_TEST_BUSYBOX_IMAGE!, tool: 'sh' });
    assert.equal(third.uploaded, vad.length);
    assert.deepEqual(fs.readFileSync(path.join(hostDir, third.path)), vad);
    assert.equal(await copyPodsLeft(), 0);
    t.diagnostic(`PP-OCRv4 rec ${bytes.length} B into the claim: ${secs(first.ms)} (pod start, copy, sha256 in the pod, delete); again (found by its sha256): ${secs(second.ms)}; silero_vad_v5 ${vad.length} B: ${secs(third.ms)}`);
  });

  it("copies with the node form of the commands in an image with node (the serving image's Node base)", async (t) => {
    const env = cluster();
    // The serving image is built by the deployment's image work; its Node base is in the loopback registry then.
    const registry = env.MODELYARD_TEST_REGISTRY ?? '127.0.0.1:5000';
    let image = process.env.MODELYARD_TEST_NODE_IMAGE;
    if (!image) {
      const tags = await fetch(`http://${registry}/v2/modelyard/node-base/tags/list`).then((r) => (r.ok ? (r.json() as Promise<{ tags?: string[] }>) : undefined), () => undefined);
      if (tags?.tags?.length) image = `${registry}/modelyard/node-base:${tags.tags.includes('24.21.0') ? '24.21.0' : tags.tags[0]}`;
    }
    if (!image) return t.skip(`no image with node in ${registry} (modelyard/node-base) and MODELYARD_TEST_NODE_IMAGE unset`);
    const bytes = fs.readFileSync(fixture('hello_deepa.onnx'));
    const sha = sha256(bytes);
    const r = await uploadModelToPvc({ kubeconfig: env.KUBECONFIG!, namespace, claim, sha256: sha, servedName: 'hello', bytes, image, tool: 'node' });
    assert.deepEqual([r.uploaded, r.skipped], [bytes.length, false]);
    assert.deepEqual(await readBack(r.path), { sha256: sha, size: bytes.length });
    const again = await uploadModelToPvc({ kubeconfig: env.KUBECONFIG!, namespace, claim, sha256: sha, servedName: 'hello', bytes, image, tool: 'node' });
    assert.equal(again.skipped, true);
    assert.equal(await copyPodsLeft(), 0);
    t.diagnostic(`${image}: ${bytes.length} B in ${secs(r.ms)}`);
  });

  it('says why the copy pod cannot start: an image that cannot be pulled, a claim that nothing binds', async () => {
    const env = cluster();
    const bytes = fs.readFileSync(fixture('hello_deepa.onnx'));
    const badImage = await failure(
      uploadModelToPvc({ kubeconfig: env.KUBECONFIG!, namespace, claim, sha256: sha256(bytes), servedName: 'hello', bytes, image: `${env.MODELYARD_TEST_REGISTRY ?? '127.0.0.1:5000'}/no-such-image:none`, tool: 'sh', startTimeoutMs: 90_000 }),
    );
    assert.ok(badImage instanceof UserError, String(badImage));
    assert.match(badImage.message, /the copy pod cannot start: (ErrImagePull|ImagePullBackOff)/);
    const unbound = await failure(
      uploadModelToPvc({ kubeconfig: env.KUBECONFIG!, namespace, claim: 'nothing-binds-this', storageClass: `${storageClass}-none`, sha256: sha256(bytes), servedName: 'hello', bytes, image: env.MODELYARD_TEST_BUSYBOX_IMAGE!, tool: 'sh', startTimeoutMs: 8_000 }),
    );
    assert.ok(unbound instanceof UserError, String(unbound));
    assert.match(unbound.message, /did not start within 8 s/);
    assert.match(unbound.hint!, /The claim nothing-binds-this is not bound/);
    assert.equal(await copyPodsLeft(), 0, 'failed copy pods are deleted too');
  });
});
