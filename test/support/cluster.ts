// The test cluster of scripts/cluster.mjs for tests that deploy: brought up (once per process; a test that needs it
// fails, not skips, when it cannot start), Modelyard's serving image built from this checkout on the offline test base
// and pushed to the cluster's loopback registry (by digest, so a pod never runs a stale tag), a bucket in its object
// store, and KServe told to fetch s3:// models with that image (a ClusterStorageContainer: KServe's own storage
// initializer image cannot be pulled here).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { buildServingImage } from '../../src/core/deploy/image/build';
import { decodeModel, encodeModel } from '../../src/core/onnx/model';
import { fixture } from './fixtures';
import { unloadableModel } from './onnx-models';
import { releaseDist } from './release';

export interface TestCluster {
  env: Record<string, string>;
  kubeconfig: string;
  context: string;
  /** The serving image, by digest. */
  image: string;
  bucket: string;
}

let ready: Promise<TestCluster> | undefined;

export function testCluster(): Promise<TestCluster> {
  ready ??= (async () => {
    const cluster = (await import('../../scripts/cluster/index.mjs')) as { up(o: { quiet: boolean }): Promise<unknown>; env(): Record<string, string> };
    await cluster.up({ quiet: true });
    const env = cluster.env();
    const { ensureTestBaseImage } = (await import('../../scripts/images.mjs')) as { ensureTestBaseImage(registry: string): Promise<{ reference: string }> };
    const base = await ensureTestBaseImage(env.MODELYARD_TEST_REGISTRY!);
    const built = await buildServingImage({ base: base.reference, platform: 'linux/amd64', push: `${env.MODELYARD_TEST_REGISTRY}/modelyard/server:test`, distDir: releaseDist() });
    const image = `${env.MODELYARD_TEST_REGISTRY}/modelyard/server@${built.digest}`;
    const s3 = new S3Client({ endpoint: env.MODELYARD_TEST_S3_ENDPOINT, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: env.MODELYARD_TEST_S3_WRITER_ACCESS_KEY!, secretAccessKey: env.MODELYARD_TEST_S3_WRITER_SECRET_KEY! } });
    const bucket = 'deploy-tests';
    await s3.send(new CreateBucketCommand({ Bucket: bucket })).catch((e: { name?: string }) => {
      if (e.name !== 'BucketAlreadyOwnedByYou' && e.name !== 'BucketAlreadyExists') throw e;
    });
    kubectl(env.KUBECONFIG!, ['apply', '-f', '-'], JSON.stringify(storageContainer(image)));
    return { env, kubeconfig: env.KUBECONFIG!, context: env.MODELYARD_TEST_KUBE_CONTEXT!, image, bucket };
  })();
  return ready;
}

/** What the CLI deploys with on the test cluster: the store's writer keys, the reader keys pods get, the kubeconfig. */
export function deployEnv(c: TestCluster): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: c.env.MODELYARD_TEST_S3_WRITER_ACCESS_KEY!,
    AWS_SECRET_ACCESS_KEY: c.env.MODELYARD_TEST_S3_WRITER_SECRET_KEY!,
    MODELYARD_S3_READER_ACCESS_KEY_ID: c.env.MODELYARD_TEST_S3_READER_ACCESS_KEY!,
    MODELYARD_S3_READER_SECRET_ACCESS_KEY: c.env.MODELYARD_TEST_S3_READER_SECRET_KEY!,
    KUBECONFIG: c.kubeconfig,
  };
}

/** A deploy's delivery on the test cluster: the bucket, the store as this machine and as pods reach it, the image. */
export function deliveryArgs(c: TestCluster): string[] {
  return ['--storage', `s3://${c.bucket}/models`, '--s3-endpoint', c.env.MODELYARD_TEST_S3_ENDPOINT!, '--s3-pod-endpoint', c.env.MODELYARD_TEST_S3_POD_ENDPOINT!, '--image', c.image];
}

/** A namespace of a test file's own, emptied first (a crashed run may have left one). */
export function freshNamespace(c: TestCluster, ns: string): void {
  kubectl(c.kubeconfig, ['delete', 'namespace', ns, '--ignore-not-found', '--wait=true']);
  kubectl(c.kubeconfig, ['create', 'namespace', ns]);
}

/** KServe fetches s3:// models with Modelyard's image (`fetch-model SRC DEST`, KServe's storage-initializer contract). */
export function storageContainer(image: string) {
  return {
    apiVersion: 'serving.kserve.io/v1alpha1',
    kind: 'ClusterStorageContainer',
    metadata: { name: 'modelyard-s3' },
    spec: {
      container: { name: 'storage-initializer', image, command: ['node', '/opt/modelyard/dist/cli.js', 'fetch-model'], resources: { requests: { cpu: '100m', memory: '100Mi' }, limits: { memory: '1Gi' } } },
      supportedUriFormats: [{ prefix: 's3://' }],
    },
  };
}

/** kubectl with the cluster's admin kubeconfig (Debian's kubectl: only for setting up and looking, never for what is tested). */
export function kubectl(kubeconfig: string, args: string[], input?: string): string {
  const r = spawnSync('kubectl', ['--kubeconfig', kubeconfig, ...args], { input: input ?? '', encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The release CLI (the one inside the image) with this process's Node, the cluster's S3 keys in its environment. */
export function modelyardAsync(args: string[], env: NodeJS.ProcessEnv, onStderr?: (text: string, kill: (signal: NodeJS.Signals) => void) => void): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(releaseDist(), 'cli.js'), ...args], { env: { ...process.env, MODELYARD_DEBUG: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      onStderr?.(String(d), (s) => child.kill(s));
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
      onStderr?.(String(d), (s) => child.kill(s));
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * A model repository for deploy tests: wake@v1.0.0 (hello_deepa) and wake@v1.1.0 (one bias moved: other outputs,
 * the same interface), and broken@v1.0.0, a model onnxruntime cannot load (an operator of an unknown domain, which
 * pre-flight cannot know about).
 */
export function makeDeployRepo(): string {
  const repo = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-deploy-'));
  const git = (...args: string[]) =>
    execFileSync('git', args, { cwd: repo, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' } }).trim();
  fs.mkdirSync(path.join(repo, 'models'));
  git('init', '-q', '-b', 'main');
  fs.copyFileSync(fixture('hello_deepa.onnx'), path.join(repo, 'models', 'wake.onnx'));
  fs.writeFileSync(
    path.join(repo, 'models', 'broken.onnx'),
    unloadableModel(),
  );
  fs.writeFileSync(path.join(repo, 'dvc.yaml'), 'artifacts:\n  wake:\n    path: models/wake.onnx\n    type: model\n  broken:\n    path: models/broken.onnx\n    type: model\n');
  git('add', '.');
  git('commit', '-q', '-m', 'v1');
  git('tag', '-a', 'wake@v1.0.0', '-m', 'first');
  git('tag', '-a', 'broken@v1.0.0', '-m', 'unloadable');
  const buf = fs.readFileSync(path.join(repo, 'models', 'wake.onnx'));
  // v1.1.0: the same network with one bias moved (other outputs, same interface).
  const m = decodeModel(buf);
  const bias = m.graph!.initializer.find((t) => t.dataType === 1 && t.dims.length === 1 && Number(t.dims[0]) === 1)!;
  const f = bias.rawData.length ? new Float32Array(new Uint8Array(bias.rawData).buffer) : Float32Array.from(bias.floatData);
  f[0] = f[0]! + 0.25;
  if (bias.rawData.length) bias.rawData = new Uint8Array(f.buffer);
  else bias.floatData = Array.from(f);
  fs.writeFileSync(path.join(repo, 'models', 'wake.onnx'), encodeModel(m));
  git('commit', '-q', '-am', 'v2');
  git('tag', '-a', 'wake@v1.1.0', '-m', 'second');
  return repo;
}
