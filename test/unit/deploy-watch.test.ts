// The verbs behind the editor's Deployments view, against the real test cluster (scripts/cluster.mjs): `contexts`
// (no network, exec plugins found or not, no kubeconfig at all), `namespaces` (admin, and a read-only user who may not
// list them), `deployments --watch` followed as a child process on its event channel while models are deployed, rolled
// back and undeployed, the read-only user, an API server that does not answer and then does, `proxy`, and
// MODELYARD_KUBE_TOKEN. Namespaces of this file start with view-.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { CliEvent, CliEventOf } from '../../src/shared/cli/events';
import { KUBE_TOKEN_ENV } from '../../src/core/deploy/kube';
import { contextsResultSchema, KUBE_TOKEN_ENV_NAME, namespacesResultSchema } from '../../src/shared/cli/deploy';
import { parseCliEvent } from '../../src/shared/cli/events';
import { kubectl, makeDeployRepo, modelyardAsync, testCluster, type CliRun, type TestCluster, deployEnv, deliveryArgs, freshNamespace } from '../support/cluster';
import { releaseDist } from '../support/release';
import { freePort } from '../support/net';

const NS = 'view-watch';
let c: TestCluster;
let repo: string;
let tmp: string;
let env: NodeJS.ProcessEnv;

const run = (args: string[], more: NodeJS.ProcessEnv = {}): Promise<CliRun> => modelyardAsync(args, { ...env, ...more });

/** A `modelyard` child whose events (fd 3) are collected as they come. */
function follow(args: string[], more: NodeJS.ProcessEnv = {}) {
  const child: ChildProcess = spawn(process.execPath, [path.join(releaseDist(), 'cli.js'), ...args], {
    env: { ...process.env, MODELYARD_DEBUG: '', ...env, ...more, MODELYARD_EVENTS: 'fd:3' },
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  const events: CliEvent[] = [];
  const invalid: string[] = [];
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  readline.createInterface({ input: child.stdio[3] as Readable }).on('line', (line) => {
    const v = parseCliEvent(line);
    if (v.ok) events.push(v.value);
    else invalid.push(`${v.error}: ${line}`);
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    events,
    get output() {
      return stdout + stderr;
    },
    /** The first event from index `from` on that `test` accepts. */
    async next<T extends CliEvent>(what: string, test: (e: CliEvent) => e is T, timeoutMs = 120_000, from = 0): Promise<T> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        assert.deepEqual(invalid, [], 'every event line is in the contract');
        const e = events.slice(from).find(test);
        if (e) return e;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; events: ${JSON.stringify(events.slice(-3))}; output: ${stdout}${stderr}`);
        if (child.exitCode !== null) throw new Error(`the child exited (${child.exitCode}) before ${what}: ${stdout}${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop(signal: NodeJS.Signals = 'SIGINT'): Promise<number | null> {
      child.kill(signal);
      return exited;
    },
    exited,
  };
}

type Listing = CliEventOf<'deployments'>;
const listing = (test: (e: Listing) => boolean) => (e: CliEvent): e is Listing => e.event === 'deployments' && test(e);

function deployArgs(ref: string, ...extra: string[]): string[] {
  return ['deploy', ref, '--repo', repo, '--context', c.context, '-n', NS, ...deliveryArgs(c), '--timeout', '120', '--no-smoke', ...extra];
}

/** The admin kubeconfig with its server moved to another address. */
function kubeconfigAt(file: string, server: string): string {
  const f = path.join(tmp, file);
  fs.writeFileSync(f, fs.readFileSync(c.kubeconfig, 'utf8').replace(/https:\/\/127\.0\.0\.1:\d+/, server));
  return f;
}

before(async () => {
  c = await testCluster();
  env = deployEnv(c);
  freshNamespace(c, NS);
  repo = makeDeployRepo();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-view-'));
});

after(() => {
  try {
    kubectl(c.kubeconfig, ['delete', 'namespace', NS, '--ignore-not-found', '--wait=false']);
  } finally {
    fs.rmSync(repo, { recursive: true, force: true });
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

describe('contexts: the kubeconfig read without a cluster', () => {
  it('lists the contexts with server, namespace and how the user logs in', async () => {
    const r = await run(['contexts', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const v = contextsResultSchema.parse(JSON.parse(r.stdout));
    assert.deepEqual(v.files, [c.kubeconfig]);
    assert.equal(v.current, c.context);
    const ctx = v.contexts.find((x) => x.name === c.context)!;
    assert.match(ctx.server, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(ctx.auth, 'certificate');
    const text = await run(['contexts']);
    assert.match(text.stdout, new RegExp(`\\*\\s+${c.context}\\s+https://127\\.0\\.0\\.1`));
  });

  it('says whether an exec-credential plugin is on PATH, without running it or touching the server', async () => {
    const kc = JSON.parse(fs.readFileSync(c.kubeconfig, 'utf8')) as { users: { name: string; user: Record<string, unknown> }[]; contexts: { name: string; context: { user: string } }[]; clusters: { cluster: { server: string } }[] };
    kc.clusters[0]!.cluster.server = `https://127.0.0.1:${await freePort()}`;
    kc.users = [
      { name: 'missing', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'cloud-login-helper-not-installed', interactiveMode: 'Never' } } },
      { name: 'present', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'sh', interactiveMode: 'Never' } } },
    ];
    kc.contexts = [
      { name: 'a', context: { ...kc.contexts[0]!.context, user: 'missing' } },
      { name: 'b', context: { ...kc.contexts[0]!.context, user: 'present' } },
    ];
    const file = path.join(tmp, 'exec-kubeconfig');
    fs.writeFileSync(file, JSON.stringify(kc));
    const r = await run(['contexts', '--kubeconfig', file, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const v = contextsResultSchema.parse(JSON.parse(r.stdout));
    assert.deepEqual(v.contexts.map((x) => [x.name, x.auth, x.exec]), [
      ['a', 'exec', { command: 'cloud-login-helper-not-installed', found: false }],
      ['b', 'exec', { command: 'sh', found: true }],
    ]);
    // Using it: the message says how to make the plugin found, in a terminal and in the editor.
    const use = await run(['namespaces', '--kubeconfig', file, '--context', 'a']);
    assert.equal(use.code, 1);
    assert.match(use.stderr, /credential plugin 'cloud-login-helper-not-installed' is not on this process's PATH/);
    assert.match(use.stderr, /add its folder to PATH .*or, in the editor, add its folder to the setting modelyard\.deploy\.extraPath/);
  });

  it('no kubeconfig at all: no files, no contexts, exit 0', async () => {
    const r = await run(['contexts', '--json'], { KUBECONFIG: path.join(tmp, 'nothing-here') });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(contextsResultSchema.parse(JSON.parse(r.stdout)), { files: [], current: null, contexts: [] });
    const text = await run(['contexts'], { KUBECONFIG: path.join(tmp, 'nothing-here') });
    assert.equal(text.code, 0);
    assert.match(text.stdout, /no kubeconfig \(looked at .*nothing-here\)\. Get one from your cluster/);
  });

  it('a kubeconfig that is not YAML: exit 1 and what to do', async () => {
    const bad = path.join(tmp, 'bad');
    fs.writeFileSync(bad, 'clusters: [oops\n');
    const r = await run(['contexts', '--kubeconfig', bad, '--json']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the kubeconfig .*bad cannot be read: .*Fix the YAML/);
  });
});

describe('namespaces', () => {
  it('lists them for a user who may', async () => {
    const r = await run(['namespaces', '--context', c.context, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const v = namespacesResultSchema.parse(JSON.parse(r.stdout));
    assert.ok(v.listed && v.namespaces.includes(NS) && v.namespaces.includes('default'), JSON.stringify(v));
    assert.equal(v.default, 'default');
  });

  it('a read-only user who may not list them: the context default only, and why', async () => {
    const r = await run(['namespaces', '--json'], { KUBECONFIG: c.env.MODELYARD_TEST_KUBECONFIG_READONLY });
    assert.equal(r.code, 0, r.stderr);
    const v = namespacesResultSchema.parse(JSON.parse(r.stdout));
    assert.equal(v.listed, false);
    assert.deepEqual(v.namespaces, [v.default]);
    assert.match(v.message ?? '', /you may not list the namespaces of .*: only the context's namespace default is offered/);
  });
});

describe('deployments --watch: the live list', () => {
  it('follows a deploy to ready, a new version, a rollback and an undeploy, then ends on SIGINT with exit 0', async () => {
    const w = follow(['deployments', '--watch', '--context', c.context, '-n', NS, '--json']);
    const all = follow(['deployments', '--watch', '--context', c.context, '-A', '--json']);
    try {
      const first = await w.next('the first list', listing(() => true), 60_000);
      assert.deepEqual([first.state, first.items, first.namespace, first.context], ['live', [], NS, c.context]);
      assert.equal((await all.next('the first list of all namespaces', listing(() => true), 60_000)).namespace, null);

      const d1 = await run(deployArgs('wake@v1.0.0', '--plain', '--name', 'wake', '--stage', 'prod', '--json'));
      assert.equal(d1.code, 0, d1.stdout + d1.stderr);
      const seen = await w.next('wake@v1.0.0 ready', listing((e) => e.items.some((i) => i.name === 'wake' && i.version === 'v1.0.0' && i.state === 'ready')));
      const item = seen.items.find((i) => i.name === 'wake')!;
      assert.deepEqual([item.model, item.stage, item.managed, item.kind, item.ready, item.desired, item.previous], ['wake', 'prod', true, 'Deployment', 1, 1, undefined]);
      // Before ready, it was seen progressing: the ready count moved while the list was watched.
      assert.ok(w.events.some((e) => e.event === 'deployments' && e.items.some((i) => i.name === 'wake' && i.state === 'progressing')), 'seen progressing first');
      await all.next('wake in the all-namespaces list', listing((e) => e.items.some((i) => i.name === 'wake' && i.namespace === NS && i.state === 'ready')));

      const d2 = await run(deployArgs('wake@v1.1.0', '--plain', '--name', 'wake', '--stage', 'prod', '--json'));
      assert.equal(d2.code, 0, d2.stdout + d2.stderr);
      const v2 = await w.next('wake@v1.1.0 ready, with v1.0.0 before it', listing((e) => e.items.some((i) => i.name === 'wake' && i.version === 'v1.1.0' && i.state === 'ready')));
      assert.equal(v2.items.find((i) => i.name === 'wake')!.previous, 'wake@v1.0.0');

      const from = w.events.length;
      const back = await run(['rollback', 'wake', '--repo', repo, '--context', c.context, '-n', NS, '--json']);
      assert.equal(back.code, 0, back.stdout + back.stderr);
      const rolled = await w.next('the rollback to v1.0.0', listing((e) => e.items.some((i) => i.name === 'wake' && i.version === 'v1.0.0' && i.state === 'ready')), 120_000, from);
      assert.equal(rolled.items.find((i) => i.name === 'wake')!.previous, 'wake@v1.1.0', 'a rollback keeps the version it left as the way back');

      const gone = await run(['undeploy', 'wake', '--repo', repo, '--context', c.context, '-n', NS, '--json']);
      assert.equal(gone.code, 0, gone.stderr);
      await w.next('the list without wake', listing((e) => !e.items.some((i) => i.name === 'wake')), 60_000, w.events.length - 1);
      await all.next('the list of all namespaces without wake', listing((e) => !e.items.some((i) => i.name === 'wake' && i.namespace === NS)), 60_000, all.events.length - 1);
    } finally {
      assert.equal(await w.stop('SIGINT'), 0, w.output);
      assert.equal(await all.stop('SIGTERM'), 0, all.output);
    }
    assert.ok(!w.output.includes(c.env.MODELYARD_TEST_S3_WRITER_SECRET_KEY!), 'no secret in the output');
  });

  it('shows a KServe InferenceService, and another InferenceService as not Modelyard\'s', async () => {
    const w = follow(['deployments', '--watch', '--context', c.context, '-n', NS, '--json']);
    try {
      await w.next('the first list', listing(() => true), 60_000);
      kubectl(c.kubeconfig, ['apply', '-n', NS, '-f', '-'], JSON.stringify({ apiVersion: 'serving.kserve.io/v1beta1', kind: 'InferenceService', metadata: { name: 'foreign' }, spec: { predictor: { model: { modelFormat: { name: 'onnx' }, storageUri: 's3://nowhere/x' } } } }));
      const f = await w.next('the foreign InferenceService', listing((e) => e.items.some((i) => i.name === 'foreign')), 60_000);
      assert.deepEqual(((i) => [i.kind, i.managed, i.model])(f.items.find((i) => i.name === 'foreign')!), ['InferenceService', false, undefined]);
      const d = await run(deployArgs('wake@v1.0.0', '--kserve', '--name', 'wake-ks', '--stage', 'staging', '--json'));
      assert.equal(d.code, 0, d.stdout + d.stderr);
      const ks = await w.next('the InferenceService ready', listing((e) => e.items.some((i) => i.name === 'wake-ks' && i.state === 'ready')));
      assert.deepEqual(((i) => [i.kind, i.managed, i.version, i.stage])(ks.items.find((i) => i.name === 'wake-ks')!), ['InferenceService', true, 'v1.0.0', 'staging']);
      assert.ok(!ks.items.some((i) => i.name === 'wake-ks-predictor'), 'the predictor Deployment is shown through its InferenceService');

      // proxy: a local URL that reaches the model through the API server.
      const p = follow(['proxy', 'wake-ks', '--context', c.context, '-n', NS]);
      try {
        const l = await p.next('listening', (e): e is CliEventOf<'listening'> => e.event === 'listening', 30_000);
        assert.match(l.url, /^http:\/\/127\.0\.0\.1:\d+$/);
        assert.deepEqual([l.model, l.version], ['wake-ks', 'v1.0.0']);
        const ready = await fetch(`${l.url}/v2/models/wake-ks/ready`);
        assert.equal(ready.status, 200);
        const meta = (await (await fetch(`${l.url}/v2/models/wake-ks`)).json()) as { name: string; inputs: unknown[] };
        assert.equal(meta.name, 'wake-ks');
        assert.ok(meta.inputs.length > 0);
        assert.equal((await fetch(`${l.url}/v2/models/nope/ready`)).status >= 400, true);
      } finally {
        assert.equal(await p.stop(), 0, p.output);
      }
      const gone = await run(['undeploy', 'wake-ks', '--repo', repo, '--context', c.context, '-n', NS]);
      assert.equal(gone.code, 0, gone.stderr);
      await w.next('wake-ks gone', listing((e) => !e.items.some((i) => i.name === 'wake-ks')), 60_000, w.events.length - 1);
    } finally {
      await w.stop();
      kubectl(c.kubeconfig, ['delete', 'inferenceservice', 'foreign', '-n', NS, '--ignore-not-found']);
    }
  });

  it('a read-only user: the Deployments it may see, with what it may not; across namespaces refused with the fix', async () => {
    const w = follow(['deployments', '--watch', '-n', 'default', '--json'], { KUBECONFIG: c.env.MODELYARD_TEST_KUBECONFIG_READONLY });
    try {
      const e = await w.next('the first list', listing(() => true), 60_000);
      assert.equal(e.state, 'live');
      assert.match(e.message ?? '', /you may not list InferenceServices in default on .*: only Modelyard's Deployments are shown/);
    } finally {
      assert.equal(await w.stop(), 0);
    }
    const a = follow(['deployments', '--watch', '-A', '--json'], { KUBECONFIG: c.env.MODELYARD_TEST_KUBECONFIG_READONLY });
    assert.equal(await a.exited, 1);
    const err = a.events.find((e): e is CliEventOf<'error'> => e.event === 'error');
    assert.match(err?.message ?? '', /permission denied/);
    assert.match(err?.hint ?? '', /Ask your cluster admin/);
  });

  it('an API server that does not answer: reconnecting, said why; live when it answers', async () => {
    const port = await freePort();
    const kc = kubeconfigAt('late-kubeconfig', `https://127.0.0.1:${port}`);
    const w = follow(['deployments', '--watch', '-n', NS, '--json'], { KUBECONFIG: kc });
    let relay: net.Server | undefined;
    try {
      const r = await w.next('reconnecting', listing((e) => e.state === 'reconnecting'), 30_000);
      assert.match(r.message ?? '', new RegExp(`the API server at https://127\\.0\\.0\\.1:${port} is not reachable \\(ECONNREFUSED\\)`));
      assert.deepEqual(r.items, []);
      // The API server "comes back": a TCP relay to the real one starts on that port.
      const real = /https:\/\/127\.0\.0\.1:(\d+)/.exec(fs.readFileSync(c.kubeconfig, 'utf8'))![1]!;
      relay = net.createServer((s) => {
        const up = net.connect(Number(real), '127.0.0.1');
        s.pipe(up).pipe(s);
        s.on('error', () => up.destroy());
        up.on('error', () => s.destroy());
      });
      await new Promise<void>((res) => relay!.listen(port, '127.0.0.1', () => res()));
      const live = await w.next('live again', listing((e) => e.state === 'live'), 30_000);
      assert.equal(live.message, undefined);
    } finally {
      assert.equal(await w.stop(), 0, w.output);
      relay?.close();
    }
    assert.doesNotMatch(w.output, /at .*\.js:\d+|BEGIN|client-key/, 'no stack, no credential');
  });

  it('text mode prints the table on each change', async () => {
    const w = follow(['deployments', '--watch', '--context', c.context, '-n', NS]);
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(await w.stop(), 0);
    assert.match(w.output, new RegExp(`\\d\\d:\\d\\d:\\d\\d  ${c.context}, namespace ${NS}:\\nno deployments in namespace ${NS}\\.`));
  });
});

describe('MODELYARD_KUBE_TOKEN: a bearer token for a context without credentials', () => {
  it('is used when the kubeconfig user has none, and without it the server refuses', async () => {
    assert.equal(KUBE_TOKEN_ENV, KUBE_TOKEN_ENV_NAME, 'the CLI and the editor name the variable alike');
    kubectl(c.kubeconfig, ['create', 'serviceaccount', 'viewer', '-n', NS]);
    kubectl(c.kubeconfig, ['create', 'role', 'lister', '-n', NS, '--verb=get,list,watch', '--resource=deployments.apps,inferenceservices.serving.kserve.io']);
    kubectl(c.kubeconfig, ['create', 'rolebinding', 'viewer-lister', '-n', NS, '--role=lister', `--serviceaccount=${NS}:viewer`]);
    const token = kubectl(c.kubeconfig, ['create', 'token', 'viewer', '-n', NS, '--duration=10m']).trim();
    const kc = JSON.parse(fs.readFileSync(c.kubeconfig, 'utf8')) as { users: { name: string; user: Record<string, unknown> }[] };
    kc.users[0]!.user = {};
    const file = path.join(tmp, 'no-credentials');
    fs.writeFileSync(file, JSON.stringify(kc));
    const ctx = contextsResultSchema.parse(JSON.parse((await run(['contexts', '--kubeconfig', file, '--json'])).stdout));
    assert.equal(ctx.contexts[0]!.auth, 'none');
    const without = await run(['deployments', '--kubeconfig', file, '-n', NS, '--json']);
    assert.equal(without.code, 1);
    assert.match(without.stderr, /permission denied|did not accept the credentials/);
    const withToken = await run(['deployments', '--kubeconfig', file, '-n', NS, '--json'], { MODELYARD_KUBE_TOKEN: token });
    assert.equal(withToken.code, 0, withToken.stderr);
    assert.deepEqual((JSON.parse(withToken.stdout) as { deployments: unknown[] }).deployments, []);
    assert.ok(!withToken.stdout.includes(token) && !withToken.stderr.includes(token), 'the token is not printed');
  });
});
