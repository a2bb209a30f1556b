// `modelyard deploy` and its verbs against the real test cluster (scripts/cluster.mjs: Kubernetes with KServe, a loopback
// registry, SeaweedFS): both paths deploy a registered version to ready with the smoke test equal to a local run, roll
// back, undeploy, and record each in the registry; then every fault of the deployment issue is provoked for real.
// The cluster starts when it is not up; a test fails (never skips) when it cannot.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../support/net';
import { kubectl, makeDeployRepo, modelyardAsync, testCluster, type CliRun, type TestCluster, deployEnv, deliveryArgs, freshNamespace } from '../support/cluster';

const NS = 'deploy-test';

let c: TestCluster;
let repo: string;
let env: NodeJS.ProcessEnv;

const git = (...args: string[]) =>
  execFileSync('git', args, { cwd: repo, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' } }).trim();

function target(): string[] {
  return ['--repo', repo, '--context', c.context, '-n', NS];
}

function deployArgs(ref: string, ...extra: string[]): string[] {
  return ['deploy', ref, ...target(), ...deliveryArgs(c), '--timeout', '90', ...extra];
}

const run = (args: string[], more: NodeJS.ProcessEnv = {}, watch?: Parameters<typeof modelyardAsync>[2]): Promise<CliRun> => modelyardAsync(args, { ...env, ...more }, watch);
const json = <T>(r: CliRun): T => {
  assert.ok(r.stdout.trim().startsWith('{'), `JSON expected; exit ${r.code}; stderr: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
};

interface Result {
  name: string;
  mode: string;
  uploadedBytes: number;
  rollout?: { ready: boolean; failure?: { kind: string; title: string; fix: string; logs?: string[] }; pods: { name: string }[] };
  smoke?: { pass: boolean; comparison?: { outputs: { cosine: number; maxAbsError: number; pass: boolean }[] } };
  recorded?: { tag: string };
  diff: string;
}

before(async () => {
  c = await testCluster();
  env = deployEnv(c);
  freshNamespace(c, NS);
  repo = makeDeployRepo();
});

after(() => {
  try {
    kubectl(c.kubeconfig, ['delete', 'namespace', NS, '--ignore-not-found', '--wait=false']);
  } finally {
    fs.rmSync(repo, { recursive: true, force: true });
  }
});

for (const mode of ['plain', 'kserve'] as const) {
  describe(`deploy, ${mode === 'kserve' ? 'KServe InferenceService' : 'Deployment + Service'}`, () => {
    const name = `wake-${mode}`;
    it('deploys v1.0.0 to ready; the smoke test through the API server equals the local run; the registry records it', async () => {
      const out = await run([...deployArgs('wake@v1.0.0', `--${mode}`, '--name', name, '--stage', mode), '--json'], { MODELYARD_EVENTS: 'stderr' });
      const r = json<Result>(out);
      assert.equal(r.rollout?.ready, true, JSON.stringify(r.rollout));
      for (const secret of [c.env.MODELYARD_TEST_S3_WRITER_SECRET_KEY!, c.env.MODELYARD_TEST_S3_READER_SECRET_KEY!]) {
        assert.ok(!out.stdout.includes(secret) && !out.stderr.includes(secret), 'no secret in the result, the events or the log');
        assert.ok(!git('tag', '-n99', '-l', 'wake#*').includes(secret), 'no secret in the registry');
      }
      assert.equal(r.mode, mode);
      assert.equal(r.smoke?.pass, true, JSON.stringify({ rollout: r.rollout, smoke: r.smoke }));
      for (const o of r.smoke!.comparison!.outputs) assert.ok(o.pass && o.maxAbsError === 0, JSON.stringify(o));
      assert.match(r.recorded!.tag, new RegExp(`^wake#${mode}#\\d+$`));
      assert.match(git('tag', '-l', r.recorded!.tag, '-n1'), new RegExp(`deploy: wake@v1\\.0\\.0 to cluster ${c.context} .*namespace ${NS}, ${mode === 'kserve' ? 'InferenceService' : 'Deployment'} ${name}`));
      assert.match(r.diff, new RegExp(`\\+ ${mode === 'kserve' ? 'InferenceService' : 'Deployment'} ${name} \\(new\\)`));
      // Nothing written after the rollout starts a second one (KServe copies every annotation of the
      // InferenceService into the pods' template): one revision, its pod still the one the smoke test reached.
      await new Promise((res) => setTimeout(res, 3000));
      const selector = mode === 'kserve' ? `serving.kserve.io/inferenceservice=${name}` : `modelyard.dev/deployment=${name}`;
      assert.equal(kubectl(c.kubeconfig, ['get', 'replicasets', '-n', NS, '-l', selector, '-o', 'name']).trim().split('\n').length, 1, 'one ReplicaSet');
      assert.deepEqual(kubectl(c.kubeconfig, ['get', 'pods', '-n', NS, '-l', selector, '-o', 'jsonpath={.items[*].metadata.name}']).trim().split(' '), r.rollout!.pods.map((p) => p.name));
    });

    it('serves gRPC in the cluster too: the Service has the h2c port, and a client pod gets ModelReady through it', async () => {
      const svc = mode === 'kserve' ? `${name}-predictor` : name;
      const ports = JSON.parse(kubectl(c.kubeconfig, ['get', 'service', svc, '-n', NS, '-o', 'jsonpath={.spec.ports}'])) as { port: number; appProtocol?: string }[];
      assert.ok(ports.some((p) => p.port === 8081 && p.appProtocol === 'kubernetes.io/h2c'), JSON.stringify(ports));
      const ip = kubectl(c.kubeconfig, ['get', 'service', svc, '-n', NS, '-o', 'jsonpath={.spec.clusterIP}']).trim();
      // A pod of the serving image as the client: @grpc/grpc-js from its bundle, ModelReady as raw protobuf bytes
      // (field 1, the name; the answer 08 01 is ready = true).
      const script = `const g=require('/opt/modelyard/dist/grpc-js.js');const c=new g.Client(process.argv[1],g.credentials.createInsecure());const n=Buffer.from(process.argv[2]);const id=(b)=>b;c.makeUnaryRequest('/inference.GRPCInferenceService/ModelReady',id,id,Buffer.concat([Buffer.from([10,n.length]),n]),(e,r)=>{console.log(e?'error '+e.code+' '+e.details:'ok '+r.toString('hex'));process.exit(0)})`;
      const pod = `grpc-client-${mode}`;
      kubectl(c.kubeconfig, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: pod, namespace: NS }, spec: { restartPolicy: 'Never', containers: [{ name: 'client', image: c.image, command: ['node', '-e', script, `${ip}:8081`, name] }] } }));
      try {
        let phase = '';
        for (let i = 0; i < 120 && !/Succeeded|Failed/.test(phase); i++) {
          await new Promise((res) => setTimeout(res, 500));
          phase = kubectl(c.kubeconfig, ['get', 'pod', pod, '-n', NS, '-o', 'jsonpath={.status.phase}']);
        }
        const out = kubectl(c.kubeconfig, ['logs', pod, '-n', NS]).trim();
        assert.equal(out, 'ok 0801', `the client pod (${phase}) printed: ${out}`);
      } finally {
        kubectl(c.kubeconfig, ['delete', 'pod', pod, '-n', NS, '--ignore-not-found', '--wait=false']);
      }
    });

    it('re-deploys the same version with nothing uploaded and nothing changed', async () => {
      const r = json<Result>(await run([...deployArgs('wake@v1.0.0', `--${mode}`, '--name', name, '--stage', mode), '--json']));
      assert.equal(r.uploadedBytes, 0);
      assert.equal(r.recorded, undefined, 'the stage names this version already: nothing new to record');
      assert.match(r.diff, new RegExp(`${mode === 'kserve' ? 'InferenceService' : 'Deployment'} ${name}: unchanged`));
      assert.equal(r.rollout?.ready, true);
    });

    it('deploys v1.1.0, shows the change in the dry-run diff, and rolls back to v1.0.0 in one call', async () => {
      const dry = json<Result & { dryRun: boolean }>(await run([...deployArgs('wake@v1.1.0', `--${mode}`, '--name', name, '--stage', mode), '--dry-run', '--json']));
      assert.equal(dry.dryRun, true);
      assert.match(dry.diff, /modelyard\.dev\/version: v1\.0\.0 → v1\.1\.0/);
      const r = json<Result>(await run([...deployArgs('wake@v1.1.0', `--${mode}`, '--name', name, '--stage', mode), '--json']));
      assert.equal(r.smoke?.pass, true, JSON.stringify({ rollout: r.rollout, smoke: r.smoke }));
      const status = json<{ model: { version: string } }>(await run(['status', name, ...target(), '--json']));
      assert.equal(status.model.version, 'v1.1.0', JSON.stringify(status));
      const back = json<{ from: string; to: string; rollout: { ready: boolean }; recorded?: { tag: string } }>(await run(['rollback', name, ...target(), '--json']));
      assert.deepEqual([back.from, back.to, back.rollout.ready], ['wake@v1.1.0', 'wake@v1.0.0', true], JSON.stringify(back));
      assert.match(git('tag', '-l', back.recorded!.tag, '-n1'), /rollback: .* from wake@v1\.1\.0 to wake@v1\.0\.0/);
      const smoke = await run(['smoke', name, ...target()]);
      assert.equal(smoke.code, 0, smoke.stdout + smoke.stderr);
      const list = json<{ deployments: { name: string; version?: string; state: string }[] }>(await run(['deployments', '--context', c.context, '-n', NS, '--json']));
      assert.deepEqual(
        list.deployments.filter((d) => d.name === name).map((d) => [d.version, d.state]),
        [['v1.0.0', 'ready']],
        JSON.stringify(list.deployments),
      );
    });

    it('undeploys what it created and nothing else, and records it', async () => {
      const r = json<{ removed: string[]; recorded?: string }>(await run(['undeploy', name, ...target(), '--json']));
      assert.deepEqual(r.removed, mode === 'kserve' ? [`InferenceService ${name}`] : [`Deployment ${name}`, `Service ${name}`]);
      assert.match(r.recorded ?? '', new RegExp(`^wake#${mode}!#\\d+$`), 'the stage it had assigned is withdrawn');
      const left = kubectl(c.kubeconfig, ['get', 'deployments,services,horizontalpodautoscalers,inferenceservices', '-n', NS, '-l', `modelyard.dev/deployment=${name}`, '-o', 'name']);
      assert.equal(left.trim(), '');
      if (mode === 'kserve') assert.match(kubectl(c.kubeconfig, ['get', 'servingruntime', 'modelyard', '-n', NS, '-o', 'name']), /modelyard/, 'the shared runtime stays');
      const again = await run(['status', name, ...target()]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, new RegExp(`nothing named ${name} was deployed by Modelyard in namespace ${NS}`));
    });
  });
}

describe('deploy faults, each with its message and nothing half-made', () => {
  it('an image that does not exist: the pull failure, said plainly', async () => {
    const r = json<Result>(await run([...deployArgs('wake@v1.0.0', '--plain', '--name', 'noimage', '--image', `${c.env.MODELYARD_TEST_REGISTRY}/modelyard/nope:1`, '--no-smoke'), '--json']));
    assert.equal(r.rollout?.ready, false);
    assert.equal(r.rollout?.failure?.kind, 'image-pull');
    assert.match(r.rollout!.failure!.title, /cannot pull the image of the (storage initializer|server): it does not exist/);
    await run(['undeploy', 'noimage', ...target()]);
  });

  it('a model the runtime cannot load: the crash explained, with the last log lines', async () => {
    const r = await run([...deployArgs('broken@v1.0.0', '--plain', '--name', 'broken', '--no-smoke')]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /✗ The runtime cannot load the model\./);
    assert.match(r.stdout, /last log lines of broken-.*\/server:\n(\s+\| .*\n)*\s+\| .*(Frobnicate|com\.example)/);
    assert.match(r.stdout, /modelyard undeploy broken -n deploy-test removes it/);
    await run(['undeploy', 'broken', ...target()]);
  });

  it('1,000 CPUs: no node has enough cpu, and the fix', async () => {
    const r = json<Result>(await run([...deployArgs('wake@v1.0.0', '--plain', '--name', 'greedy', '--cpu', '1000', '--no-smoke'), '--json']));
    assert.equal(r.rollout?.failure?.kind, 'unschedulable');
    assert.equal(r.rollout!.failure!.title, "No node has enough cpu for the model's pod.");
    await run(['undeploy', 'greedy', ...target()]);
  });

  it('a user bound to a read-only role: refused before anything is written, the denied verbs named', async () => {
    const args = deployArgs('wake@v1.0.0', '--plain', '--name', 'readonly');
    args.splice(args.indexOf('--context'), 2);
    const r = await run(args, { KUBECONFIG: c.env.MODELYARD_TEST_KUBECONFIG_READONLY });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /you may not deploy to namespace deploy-test on .*: denied .*create deployments\.apps/);
    assert.match(r.stderr, /Ask your cluster admin/);
    assert.equal(kubectl(c.kubeconfig, ['get', 'deployment', 'readonly', '-n', NS, '--ignore-not-found', '-o', 'name']).trim(), '');
  });

  it('a broken kubeconfig, an unknown context, an unreachable API server', async () => {
    const bad = path.join(repo, 'bad-kubeconfig');
    fs.writeFileSync(bad, 'apiVersion: v1\nclusters: [oops\n');
    const r1 = await run(['deployments', '--kubeconfig', bad]);
    assert.equal(r1.code, 1);
    assert.match(r1.stderr, /the kubeconfig .*bad-kubeconfig cannot be read/);
    const r2 = await run(['deployments', '--context', 'nowhere']);
    assert.match(r2.stderr, /the kubeconfig has no context 'nowhere'\. Its contexts: modelyard-test/);
    const dead = path.join(repo, 'dead-kubeconfig');
    const closed = await freePort(); // a loopback port nothing listens on (it was free a moment ago)
    fs.writeFileSync(dead, fs.readFileSync(c.kubeconfig, 'utf8').replace(/https:\/\/127\.0\.0\.1:\d+/, `https://127.0.0.1:${closed}`));
    const r3 = await run(['deployments', '--kubeconfig', dead]);
    assert.equal(r3.code, 1);
    assert.match(r3.stderr, new RegExp(`the API server at https://127\\.0\\.0\\.1:${closed} is not reachable \\(ECONNREFUSED\\)`));
    // A kubeconfig whose user logs in through an exec-credential plugin that is not installed (a cloud login helper).
    const plugin = path.join(repo, 'plugin-kubeconfig');
    const kc = JSON.parse(fs.readFileSync(c.kubeconfig, 'utf8')) as { users: { user: Record<string, unknown> }[] };
    kc.users[0]!.user = { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'cloud-login-helper-not-installed', args: ['token'], interactiveMode: 'Never' } };
    fs.writeFileSync(plugin, JSON.stringify(kc));
    const r4 = await run(['deployments', '--kubeconfig', plugin]);
    assert.equal(r4.code, 1, r4.stderr);
    assert.match(r4.stderr, /credential plugin 'cloud-login-helper-not-installed' is not on this process's PATH/);
    for (const r of [r1, r2, r3, r4]) assert.doesNotMatch(r.stderr, /at .*\.js:\d+|client-key|BEGIN/, 'no stack, no credential');
  });

  it('a field another manager owns: the conflict names that manager', async () => {
    const first = json<Result>(await run([...deployArgs('wake@v1.0.0', '--plain', '--name', 'shared', '--no-smoke'), '--json']));
    assert.equal(first.rollout?.ready, true);
    // A GitOps tool takes the replicas over (as it would, forcing the conflict with Modelyard's apply).
    kubectl(c.kubeconfig, ['apply', '--server-side', '--force-conflicts', '--field-manager', 'team-gitops', '-f', '-'], JSON.stringify({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'shared', namespace: NS }, spec: { replicas: 3 } }));
    const r = await run([...deployArgs('wake@v1.0.0', '--plain', '--name', 'shared', '--no-smoke')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /conflict.*Another tool \("team-gitops"\) manages these fields/);
    await run(['undeploy', 'shared', ...target()]);
  });

  it('two deploys of one name at once: the second is refused, naming the first', async () => {
    // The first holds its lease while it waits for a node for 1,000 CPUs; the second comes while it does.
    const [a, b] = await Promise.all([
      run([...deployArgs('wake@v1.0.0', '--plain', '--name', 'twice', '--no-smoke', '--cpu', '1000')]),
      new Promise<CliRun>((res) => setTimeout(() => void run([...deployArgs('wake@v1.1.0', '--plain', '--name', 'twice', '--no-smoke')]).then(res), 3000)),
    ]);
    assert.equal(a.code, 1);
    assert.match(a.stdout, /No node has enough cpu/);
    assert.equal(b.code, 1);
    assert.match(b.stderr, /another deploy of twice in deploy-test is under way: .*\(pid \d+, deploy wake@v1\.0\.0\), since /);
    await run(['undeploy', 'twice', ...target()]);
  });

  it('undeploy leaves a stage that someone assigned by hand since the deploy (the registry says who assigned it)', async () => {
    const first = json<Result>(await run([...deployArgs('wake@v1.0.0', '--plain', '--name', 'handed', '--stage', 'qa', '--no-smoke'), '--json']));
    assert.match(first.recorded?.tag ?? '', /^wake#qa#\d+$/, JSON.stringify(first));
    // qa moves on to v1.1.0 and comes back to v1.0.0 by hand: the stage names the deployed version, not by its deploy.
    for (const v of ['v1.1.0', 'v1.0.0']) {
      const hand = await run(['assign', 'wake', 'qa', '--version', v, '-m', `qa signed ${v} off`, '--repo', repo]);
      assert.equal(hand.code, 0, hand.stderr);
    }
    const r = json<{ removed: string[]; recorded?: string }>(await run(['undeploy', 'handed', ...target(), '--json']));
    assert.deepEqual(r.removed, ['Deployment handed', 'Service handed']);
    assert.equal(r.recorded, undefined, 'the last assignment of qa is not this deployment\'s');
    assert.equal(git('tag', '-l', 'wake#qa!#*'), '', 'no unassignment');
  });

  it('Ctrl-C during the rollout: exit 130, and the state of the cluster said', async () => {
    let sent = false;
    const r = await run([...deployArgs('wake@v1.0.0', '--plain', '--name', 'interrupted', '--cpu', '1000', '--no-smoke')], {}, (text, kill) => {
      if (!sent && /waiting|scheduled/.test(text)) {
        sent = true;
        kill('SIGINT');
      }
    });
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /stopped following the rollout\. wake@v1\.0\.0 was applied to cluster .* Deployment interrupted; the cluster goes on rolling it out\. `modelyard status interrupted -n deploy-test` follows it; `modelyard undeploy interrupted -n deploy-test` removes it\./);
    const lease = kubectl(c.kubeconfig, ['get', 'lease', '-n', NS, '-o', 'name']);
    assert.doesNotMatch(lease, /modelyard-deploy-interrupted/, 'the lease was given back');
    await run(['undeploy', 'interrupted', ...target()]);
  });

  it('the API server stopped in the middle of a rollout: said so, and followed again when it is back', async () => {
    const procs = (await import('../../scripts/cluster/procs.mjs')) as { readPid(n: string): { pid: number; cmd: string; args: string[] } | null; stopProc(n: string): Promise<boolean>; startProc(n: string, cmd: string, args: string[]): number; tcpOpen(port: number): Promise<boolean> };
    const rec = procs.readPid('kube-apiserver');
    assert.ok(rec, 'the API server runs from scripts/cluster');
    let stopped = false;
    const restart = async () => {
      await procs.stopProc('kube-apiserver');
      await new Promise((r) => setTimeout(r, 4000));
      procs.startProc('kube-apiserver', rec.cmd, rec.args);
    };
    let restarting: Promise<void> | undefined;
    const r = await run([...deployArgs('wake@v1.1.0', '--plain', '--name', 'apidown', '--no-smoke'), '--timeout', '120'], {}, (text) => {
      if (!stopped && /loading|pulling|scheduled/.test(text)) {
        stopped = true;
        restarting = restart();
      }
    });
    await restarting;
    assert.match(r.stdout, /reconnecting +.*the API server at https:\/\/127\.0\.0\.1:\d+ is not reachable.*retrying; the rollout goes on in the cluster/);
    assert.match(r.stdout, /the API server answers again after \d+ s; following the rollout again/);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    await run(['undeploy', 'apidown', ...target()]);
  });
});
