// Deployment on the test cluster (scripts/cluster.mjs), each figure beside a baseline of the same run:
//  - `modelyard deploy` of a registered version to the smoke test passed, split into its phases (plain path);
//  - a re-deploy of the unchanged version (nothing uploaded);
//  - Modelyard's own cost of a rolling update (resolve, pre-flight with its permission checks, dry-run diff, upload
//    check, lease, server-side apply, following the rollout) beside `kubectl apply --server-side` + `kubectl rollout
//    status` of the same objects, interleaved; the goal is within 1.2×, with the smoke test on top.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { kubectl, makeDeployRepo, testCluster } from '../support/cluster';

const RUNS = Number(process.env.MODELYARD_BENCH_DEPLOY_RUNS ?? 3);
const NS = 'deploy-bench';
const node24 = process.env.MODELYARD_NODE24 ?? process.execPath;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  const c = await testCluster();
  const repo = makeDeployRepo();
  const env = { ...process.env, KUBECONFIG: c.kubeconfig, AWS_ACCESS_KEY_ID: c.env.MODELYARD_TEST_S3_WRITER_ACCESS_KEY, AWS_SECRET_ACCESS_KEY: c.env.MODELYARD_TEST_S3_WRITER_SECRET_KEY, MODELYARD_S3_READER_ACCESS_KEY_ID: c.env.MODELYARD_TEST_S3_READER_ACCESS_KEY, MODELYARD_S3_READER_SECRET_ACCESS_KEY: c.env.MODELYARD_TEST_S3_READER_SECRET_KEY };
  const cli = path.join(process.cwd(), 'dist', 'cli.js');
  const deploy = (ref: string, name: string, ...extra: string[]) => {
    const t0 = performance.now();
    const r = spawnSync(node24, [cli, 'deploy', ref, '--repo', repo, '--context', c.context, '-n', NS, '--plain', '--name', name, '--storage', `s3://${c.bucket}/bench`, '--s3-endpoint', c.env.MODELYARD_TEST_S3_ENDPOINT!, '--s3-pod-endpoint', c.env.MODELYARD_TEST_S3_POD_ENDPOINT!, '--image', c.image, '--json', ...extra], { env, encoding: 'utf8', maxBuffer: 64 << 20 });
    const wall = performance.now() - t0;
    if (r.status !== 0) throw new Error(`modelyard deploy ${ref} exited ${r.status}: ${r.stderr}`);
    return { wall, result: JSON.parse(r.stdout) as { uploadedBytes: number; ms: Record<string, number> } };
  };
  kubectl(c.kubeconfig, ['delete', 'namespace', NS, '--ignore-not-found', '--wait=true']);
  kubectl(c.kubeconfig, ['create', 'namespace', NS]);
  try {
    console.log(`deployment (test/bench/deploy.bench.ts; plain path, hello_deepa 316 KB, ${RUNS} interleaved runs)`);
    const first = deploy('wake@v1.0.0', 'bench-first', '--stage', 'bench');
    const phases = Object.entries(first.result.ms).map(([k, v]) => `${k} ${s(v)}`).join(', ');
    console.log(`  first deploy to the smoke test passed: ${s(first.wall)} wall (${phases}), ${first.result.uploadedBytes} bytes uploaded`);
    const again = deploy('wake@v1.0.0', 'bench-first', '--stage', 'bench');
    console.log(`  re-deploy of the unchanged version:     ${s(again.wall)} wall, ${again.result.uploadedBytes} bytes uploaded`);

    // The same objects for kubectl: what Modelyard applied for each version, under another name.
    const manifests: string[] = [];
    for (const v of ['v1.1.0', 'v1.0.0']) {
      deploy(`wake@${v}`, 'bench-objects', '--no-smoke', '--no-record');
      const objs = ['deployment', 'service'].map((k) => JSON.parse(kubectl(c.kubeconfig, ['get', k, 'bench-objects', '-n', NS, '-o', 'json'])) as { metadata: Record<string, unknown>; spec: Record<string, unknown> });
      const file = path.join(repo, `kubectl-${v}.json`);
      const items = objs.map((o) => {
        const meta = o.metadata as { labels?: Record<string, string>; annotations?: Record<string, string> };
        // Another object of the same pods: its name and the labels that select its pods change; the model, its
        // storage and the served name (the container's arguments, the probes) stay.
        const relabel = (x: unknown) =>
          JSON.parse(JSON.stringify(x).replaceAll('"modelyard.dev/deployment":"bench-objects"', '"modelyard.dev/deployment":"bench-kubectl"').replaceAll('"app.kubernetes.io/name":"bench-objects"', '"app.kubernetes.io/name":"bench-kubectl"')) as Record<string, unknown>;
        // Only Modelyard's annotations: the controllers' own (a Deployment's revision) are theirs to write.
        const annotations = Object.fromEntries(Object.entries(meta.annotations ?? {}).filter(([k]) => k.startsWith('modelyard.dev/')));
        return { apiVersion: (o as { apiVersion?: string }).apiVersion, kind: (o as { kind?: string }).kind, metadata: relabel({ name: 'bench-kubectl', namespace: NS, labels: meta.labels, annotations }), spec: relabel(o.spec) };
      });
      for (const i of items) {
        const spec = i.spec as { clusterIP?: string; clusterIPs?: string[] };
        delete spec.clusterIP;
        delete spec.clusterIPs;
      }
      fs.writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
      manifests.push(file);
    }
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      for (const [k, v] of [[0, 'v1.1.0'], [1, 'v1.0.0']] as const) {
        ours.push(deploy(`wake@${v}`, 'bench-modelyard', '--no-smoke', '--no-record').wall);
        const t0 = performance.now();
        kubectl(c.kubeconfig, ['apply', '--server-side', '--field-manager', 'bench', '-f', manifests[k]!]);
        kubectl(c.kubeconfig, ['rollout', 'status', 'deployment/bench-kubectl', '-n', NS, '--timeout=120s']);
        theirs.push(performance.now() - t0);
      }
    }
    const ratio = median(ours) / median(theirs);
    console.log(`  rolling update, modelyard deploy --no-smoke: median ${s(median(ours))} (${ours.map(s).join(', ')})`);
    console.log(`  same objects, kubectl apply + rollout status: median ${s(median(theirs))} (${theirs.map(s).join(', ')})`);
    console.log(`  ratio ${ratio.toFixed(2)}× (goal ≤ 1.2×): ${ratio <= 1.2 ? 'met' : 'not met'}`);
  } finally {
    kubectl(c.kubeconfig, ['delete', 'namespace', NS, '--ignore-not-found', '--wait=false']);
    fs.rmSync(repo, { recursive: true, force: true });
  }
}

void main().catch((e: unknown) => {
  console.error(`deploy bench failed: ${e instanceof Error ? e.stack : e}`);
  process.exitCode = 1;
});
