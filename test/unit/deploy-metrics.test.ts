// `modelyard metrics` against the real test cluster (scripts/cluster.mjs): a model deployed with the serving image built
// from this checkout (so its /metrics is this code's), inference requests sent through the API server's service
// proxy, and the figures read back through the pod proxy — the counts exact, p50 ≤ p99 plausible, summed over two
// pods; then a server without /metrics and a deployment without pods, each with its message. The cluster starts when
// it is not up; a test fails (never skips) when it cannot.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Kube } from '../../src/core/deploy/kube';
import { parseCliEvent, type CliEventOf } from '../../src/shared/cli/events';
import { kubectl, makeDeployRepo, modelyardAsync, testCluster, type CliRun, type TestCluster, deployEnv, deliveryArgs, freshNamespace } from '../support/cluster';
import { pseudoRandom } from '../support/inference';
import { releaseDist } from '../support/release';

const NS = 'metrics-test';
const INPUT = 'onnx::Flatten_0';

let c: TestCluster;
let repo: string;
let env: NodeJS.ProcessEnv;
let kube: Kube;

const target = () => ['--context', c.context, '-n', NS];
const run = (args: string[]): Promise<CliRun> => modelyardAsync(args, env);

interface Figures {
  name: string;
  source: 'modelyard' | 'triton' | 'none';
  seconds: number;
  rps: number | null;
  errorsPerSecond: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  meanMs: number | null;
  pods: number;
  message?: string;
  totals: { requests: number; failures: number } | null;
  scraped: { pod: string; port: number; source: string; requests?: number; failures?: number; problem?: string }[];
}

const json = <T>(r: CliRun): T => {
  assert.ok(r.stdout.trim().startsWith('{'), `JSON expected; exit ${r.code}; stdout: ${r.stdout}; stderr: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
};

/** One inference request through the API server's service proxy (the way a client without cluster network goes). */
async function infer(service: string, model: string, good = true, seed = 1): Promise<number> {
  const body = good
    ? { inputs: [{ name: INPUT, shape: [1, 25, 96], datatype: 'FP32', data: Array.from(pseudoRandom(2400, seed)) }] }
    : { inputs: [{ name: 'nope', shape: [1], datatype: 'FP32', data: [1] }] };
  const r = await kube.fetch(`/api/v1/namespaces/${NS}/services/http:${service}:80/proxy/v2/models/${model}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await r.arrayBuffer();
  return r.status;
}

/** `count` requests, `concurrency` at a time; their statuses. */
async function load(service: string, model: string, count: number, concurrency = 8, good = true): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i += concurrency) {
    statuses.push(...(await Promise.all(Array.from({ length: Math.min(concurrency, count - i) }, (_, k) => infer(service, model, good, i + k + 1)))));
  }
  return statuses;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  c = await testCluster();
  env = deployEnv(c);
  freshNamespace(c, NS);
  repo = makeDeployRepo();
  kube = await Kube.connect({ kubeconfig: c.kubeconfig, context: c.context });
});

after(() => {
  try {
    kubectl(c.kubeconfig, ['delete', 'namespace', NS, '--ignore-not-found', '--wait=false']);
  } finally {
    fs.rmSync(repo, { recursive: true, force: true });
  }
});

async function deploy(name: string, mode: 'plain' | 'kserve', ...extra: string[]): Promise<void> {
  const r = await run(['deploy', 'wake@v1.0.0', '--repo', repo, ...target(), ...deliveryArgs(c), '--timeout', '120', `--${mode}`, '--name', name, '--no-record', '--no-smoke', '--json', ...extra]);
  const result = json<{ rollout?: { ready: boolean } }>(r);
  assert.equal(result.rollout?.ready, true, r.stdout);
}

/**
 * `modelyard metrics NAME --watch --json` while `traffic` runs after its first event: the events it printed, its
 * exit code, and what the traffic returned.
 */
async function watch<T>(name: string, traffic: () => Promise<T>, more = 3): Promise<{ events: CliEventOf<'metrics'>[]; code: number | null; stderr: string; result: T }> {
  const child = spawn(process.execPath, [path.join(releaseDist(), 'cli.js'), 'metrics', name, ...target(), '--watch', '--json', '--interval', '1'], { env: { ...process.env, ...env, MODELYARD_DEBUG: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const events: CliEventOf<'metrics'>[] = [];
  let stdout = '';
  let stderr = '';
  let onEvent: (() => void) | undefined;
  child.stdout.on('data', (d: Buffer) => {
    stdout += d;
    const lines = stdout.split('\n');
    stdout = lines.pop()!;
    for (const l of lines) {
      const e = parseCliEvent(l);
      assert.ok(e.ok, `a line of the event channel's schema: ${l}`);
      assert.equal(e.value.event, 'metrics');
      events.push(e.value as CliEventOf<'metrics'>);
      onEvent?.();
    }
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const waitFor = (n: number) =>
    new Promise<void>((resolve, reject) => {
      const check = () => (events.length >= n ? resolve() : undefined);
      onEvent = check;
      check();
      void exited.then(() => reject(new Error(`metrics --watch exited after ${events.length} events: ${stderr}`)));
    });
  try {
    await waitFor(1);
    const before = events.length;
    const result = await traffic();
    await waitFor(before + more);
    child.kill('SIGINT');
    return { events, code: await exited, stderr, result };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

for (const mode of ['plain', 'kserve'] as const) {
  describe(`metrics of a deployment, ${mode === 'kserve' ? 'KServe InferenceService' : 'Deployment + Service'}`, () => {
    const name = `wake-${mode}`;
    const service = mode === 'kserve' ? `${name}-predictor` : name;
    before(async () => {
      await deploy(name, mode, '--replicas', '2');
    });

    it('counts every inference request sent through the API server, summed over both pods', async (t) => {
      const ok = await load(service, name, 40);
      const bad = await load(service, name, 3, 3, false);
      assert.deepEqual([ok.filter((s) => s === 200).length, bad.filter((s) => s === 400).length], [40, 3]);
      const r = await run(['metrics', name, ...target(), '--json', '--interval', '1']);
      assert.equal(r.code, 0, r.stderr);
      const f = json<Figures>(r);
      assert.equal(f.source, 'modelyard', f.message);
      assert.equal(f.pods, 2);
      assert.deepEqual(f.totals, { requests: 43, failures: 3 });
      assert.equal(
        f.scraped.reduce((n, p) => n + p.requests!, 0),
        43,
      );
      assert.ok(f.scraped.every((p) => p.port === 8080 && p.source === 'modelyard'), JSON.stringify(f.scraped));
      // Nothing was sent during its interval.
      assert.deepEqual([f.rps, f.errorsPerSecond, f.p50Ms, f.p99Ms], [0, 0, null, null]);
      assert.ok(f.seconds >= 1 && f.seconds < 5, `${f.seconds} s`);
      const text = await run(['metrics', name, ...target(), '--interval', '1']);
      assert.equal(text.code, 0, text.stderr);
      t.diagnostic(text.stdout.trimEnd());
      assert.match(text.stdout, new RegExp(`^${name} in ${NS} \\(Modelyard's server, 2 pods\\), over 1(\\.\\d+)? s:\n  requests/s   0\n  errors/s     0\n  p50          -\n`));
      assert.match(text.stdout, /since the containers started: 43 requests, 3 failed/);
    });

    it('gives requests/s and p50 ≤ p99 over an interval with traffic', async (t) => {
      let sending = true;
      let sent = 0;
      const traffic = (async () => {
        while (sending) sent += (await load(service, name, 8)).length;
      })();
      try {
        const r = await run(['metrics', name, ...target(), '--json', '--interval', '3']);
        assert.equal(r.code, 0, r.stderr);
        const f = json<Figures>(r);
        t.diagnostic(`${f.rps} req/s over ${f.seconds} s, p50 ${f.p50Ms} ms, p99 ${f.p99Ms} ms, mean ${f.meanMs} ms, ${f.pods} pods; ${sent} sent`);
        assert.equal(f.source, 'modelyard');
        assert.ok(f.rps! > 1, `rps ${f.rps}`);
        assert.equal(f.errorsPerSecond, 0);
        assert.ok(f.p50Ms! > 0 && f.p50Ms! <= f.p99Ms!, `p50 ${f.p50Ms} ms, p99 ${f.p99Ms} ms`);
        assert.ok(f.p99Ms! < 10_000, `p99 ${f.p99Ms} ms`);
        assert.ok(f.meanMs! > 0);
        // The server's own time is a part of what the client waits through the API server.
        assert.ok(f.rps! * f.seconds <= sent + 8, `${f.rps} req/s over ${f.seconds} s, ${sent} sent`);
      } finally {
        sending = false;
        await traffic;
      }
    });

    it('--watch: a metrics event each interval whose counts add up to the requests sent, ended by Ctrl-C with exit 0', async (t) => {
      const w = await watch(name, () => load(service, name, 64), 3);
      for (const e of w.events) t.diagnostic(`${e.seconds} s: ${e.rps} req/s, ${e.errorsPerSecond} errors/s, p50 ${e.p50Ms} ms, p99 ${e.p99Ms} ms, ${e.pods} pods`);
      assert.equal(w.code, 0, w.stderr);
      assert.equal(w.result.filter((s) => s === 200).length, 64);
      assert.ok(w.events.length >= 4);
      for (const e of w.events) {
        assert.equal(e.source, 'modelyard', e.message);
        assert.equal(e.pods, 2);
        assert.ok(e.seconds > 0.5 && e.seconds < 5, `${e.seconds} s`);
      }
      const counted = w.events.reduce((n, e) => n + e.rps! * e.seconds, 0);
      assert.equal(Math.round(counted), 64, `Σ rps·seconds over ${w.events.length} events`);
      const busy = w.events.filter((e) => e.rps! > 0);
      assert.ok(busy.length >= 1);
      for (const e of busy) assert.ok(e.p50Ms! > 0 && e.p50Ms! <= e.p99Ms! && e.p99Ms! < 10_000, JSON.stringify(e));
      assert.match(w.stderr, /stopping/);
    });

    if (mode === 'plain') {
      it('a user who may look but not proxy to pods: refused, naming the permission and the way to it', async () => {
        // What `modelyard status` needs (the objects and their pods), not pods/proxy.
        kubectl(c.kubeconfig, ['create', 'role', 'looker', '--verb=get,list,watch', '--resource=pods,deployments.apps,inferenceservices.serving.kserve.io', '-n', NS]);
        kubectl(c.kubeconfig, ['create', 'rolebinding', 'looker', '--role=looker', '--user=modelyard-readonly', '-n', NS]);
        const r = await modelyardAsync(['metrics', name, '-n', NS, '--json'], { ...env, KUBECONFIG: c.env.MODELYARD_TEST_KUBECONFIG_READONLY });
        assert.equal(r.code, 1);
        assert.equal(r.stdout, '');
        assert.match(r.stderr, new RegExp(`^modelyard: reading the metrics of pod ${name}-\\S+ in ${NS} through the API server: permission denied — .*cannot get resource "pods/proxy".*Ask your cluster admin for a Role that allows get on pods/proxy in ${NS}`));
      });
    }
  });
}

describe('metrics where there are none', () => {
  const name = 'nometrics';
  before(async () => {
    await deploy(name, 'plain');
  });

  it('a server without /metrics (an older image, another runtime): source none, the 404 and the way out', async (t) => {
    // The same Deployment, its server replaced by busybox's httpd answering the probes' paths and nothing else.
    const script = `mkdir -p /www/v2/models/${name} /www/v2/health && echo ok > /www/v2/models/${name}/ready && echo ok > /www/v2/health/live && exec httpd -f -p 8080 -h /www`;
    kubectl(c.kubeconfig, ['patch', 'deployment', name, '-n', NS, '--type', 'json', '-p', JSON.stringify([
      { op: 'replace', path: '/spec/template/spec/containers/0/image', value: c.env.MODELYARD_TEST_BUSYBOX_IMAGE },
      { op: 'replace', path: '/spec/template/spec/containers/0/args', value: ['sh', '-c', script] },
    ])]);
    kubectl(c.kubeconfig, ['rollout', 'status', `deployment/${name}`, '-n', NS, '--timeout=120s']);
    // The old pod may still be terminating: it is not read.
    await sleep(500);
    const r = await run(['metrics', name, ...target(), '--json', '--interval', '1']);
    assert.equal(r.code, 1);
    const f = json<Figures>(r);
    assert.equal(f.source, 'none');
    assert.equal(f.pods, 0);
    assert.deepEqual([f.rps, f.p50Ms, f.p99Ms, f.totals], [null, null, null, null]);
    assert.match(f.message!, new RegExp(`^no metrics from pod ${name}-[a-z0-9-]+: its server answers 404 for /metrics on port 8080 \\(.*\\): it runs a Modelyard image older than metrics, or another runtime — deploy again with a current image`));
    const text = await run(['metrics', name, ...target()]);
    t.diagnostic(text.stdout.trim());
    assert.equal(text.code, 1);
    assert.match(text.stdout, new RegExp(`^no metrics from pod ${name}-[a-z0-9-]+: its server answers 404`));
    // --watch says it each interval, as an event of source none.
    const w = await watch(name, async () => undefined, 1);
    assert.equal(w.code, 0, w.stderr);
    assert.ok(w.events.every((e) => e.source === 'none' && e.pods === 0 && /answers 404 for \/metrics/.test(e.message ?? '')), JSON.stringify(w.events));
  });

  it('a deployment without ready pods: source none, and where to look', async () => {
    kubectl(c.kubeconfig, ['scale', 'deployment', name, '-n', NS, '--replicas=0']);
    // busybox's httpd as pid 1 ignores SIGTERM: its pod would take the whole grace period to go.
    kubectl(c.kubeconfig, ['delete', 'pod', '-l', `modelyard.dev/deployment=${name}`, '-n', NS, '--grace-period=0', '--force', '--wait=true']);
    const r = await run(['metrics', name, ...target(), '--json']);
    assert.equal(r.code, 1);
    const f = json<Figures>(r);
    assert.equal(f.source, 'none');
    assert.equal(f.message, `${name} has no pods in ${NS}, so there are no metrics to read; \`modelyard status ${name} -n ${NS}\` says why.`);
  });

  it('a name that was not deployed, and a bad --interval: one line each, with the way out', async () => {
    const missing = await run(['metrics', 'ghost', ...target()]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nothing named ghost was deployed by Modelyard in namespace metrics-test .*`modelyard deployments -n metrics-test` lists what there is/);
    const interval = await run(['metrics', name, ...target(), '--interval', '0.1']);
    assert.equal(interval.code, 1);
    assert.match(interval.stderr, /--interval takes seconds from 0\.5 to 3600, not '0\.1'\. For example/);
  });
});
