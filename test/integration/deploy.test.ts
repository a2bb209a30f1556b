// Deploy Version… and its panel in the real extension host, against the real test cluster (scripts/test.mjs passes
// its variables as MODELYARD_TEST_*): the pickers, the plan (pre-flight and the server-side dry run), a secret typed
// into the panel kept in SecretStorage only, a deploy to ready with the smoke test passed and recorded in the
// registry, a failure explained, a smoke test on demand, the panel restored after a reload, and the credentials
// forgotten. Without the cluster these tests fail, saying so.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as vscode from 'vscode';
import type { DeployPanel } from '../../src/extension/deploy/deployPanel';
import type { ResponseEnvelope } from '../../src/shared/contract';
import type { DeployForm, DeployToWebview } from '../../src/shared/protocol/deploy';
import { unloadableModel } from '../support/onnx-models';
import { activateModelyard, waitFor, workspaceRoot } from './helpers';

const env = process.env;
const NS = `it-deploy-${process.pid}`;

function need(): { kubeconfig: string; image: string; bucket: string; endpoint: string; podEndpoint: string; accessKey: string; secretKey: string; context: string } {
  const v = { kubeconfig: env.MODELYARD_TEST_KUBECONFIG, image: env.MODELYARD_TEST_IMAGE, bucket: env.MODELYARD_TEST_BUCKET, endpoint: env.MODELYARD_TEST_S3_ENDPOINT, podEndpoint: env.MODELYARD_TEST_S3_POD_ENDPOINT, accessKey: env.MODELYARD_TEST_S3_WRITER_ACCESS_KEY, secretKey: env.MODELYARD_TEST_S3_WRITER_SECRET_KEY, context: env.MODELYARD_TEST_KUBE_CONTEXT };
  for (const [k, x] of Object.entries(v)) assert.ok(x, `the test cluster is not up (no ${k}): npm run cluster -- up, then run the integration tier again`);
  return v as ReturnType<typeof need>;
}

/** A registry outside the workspace: wake@v1.0.0 (hello_deepa) and broken@v1.0.0 (a model onnxruntime cannot load). */
function makeRepo(): string {
  const repo = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-it-deploy-'));
  const git = (...a: string[]) => execFileSync('git', a, { cwd: repo, encoding: 'utf8' });
  git('init', '-q', '-b', 'main');
  fs.mkdirSync(path.join(repo, 'models'));
  fs.copyFileSync(path.join(workspaceRoot(), 'models', 'wakeword', 'hello_deepa.onnx'), path.join(repo, 'models', 'wake.onnx'));
  fs.writeFileSync(
    path.join(repo, 'models', 'broken.onnx'),
    unloadableModel(),
  );
  fs.writeFileSync(path.join(repo, 'dvc.yaml'), 'artifacts:\n  wake:\n    path: models/wake.onnx\n    type: model\n  broken:\n    path: models/broken.onnx\n    type: model\n');
  git('add', '.');
  git('commit', '-q', '-m', 'models');
  git('tag', '-a', 'wake@v1.0.0', '-m', 'first');
  git('tag', '-a', 'broken@v1.0.0', '-m', 'unloadable');
  return repo;
}

function follow(p: DeployPanel): { messages: DeployToWebview[]; dispose(): void } {
  const messages: DeployToWebview[] = [];
  const sub = p.onDidPost((m) => messages.push(m as DeployToWebview));
  return { messages, dispose: () => sub.dispose() };
}

let nextId = 100;
async function ask(p: DeployPanel, method: string, params: unknown): Promise<unknown> {
  const id = nextId++;
  const answer = new Promise<ResponseEnvelope>((resolve) => {
    const sub = p.onDidRespond((r) => {
      if (r.id === id) {
        sub.dispose();
        resolve(r);
      }
    });
  });
  await p.receive({ type: 'request', id, method, params });
  const r = await answer;
  if (!r.ok) throw new Error(`${method}: ${r.error.message} ${r.error.hint ?? ''}`);
  return r.result;
}

describe('Deploy Version… and the Deploy panel, on the test cluster', function () {
  this.timeout(300_000);
  let repo: string;
  let c: ReturnType<typeof need>;
  const cli = () => path.join(vscode.extensions.getExtension('modelyard.modelyard')!.extensionPath, 'dist', 'cli.js');
  const config = () => vscode.workspace.getConfiguration('modelyard');

  before(async () => {
    c = need();
    repo = makeRepo();
    await activateModelyard();
    await config().update('deploy.kubeconfig', c.kubeconfig, vscode.ConfigurationTarget.Global);
    await config().update('deploy.image', c.image, vscode.ConfigurationTarget.Global);
    await config().update('deploy.timeoutSeconds', 120, vscode.ConfigurationTarget.Global);
    spawnSync('kubectl', ['--kubeconfig', c.kubeconfig, 'create', 'namespace', NS], { encoding: 'utf8' });
  });

  after(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    for (const k of ['deploy.kubeconfig', 'deploy.image', 'deploy.timeoutSeconds', 'deploy.targets']) await config().update(k, undefined, vscode.ConfigurationTarget.Global);
    if (c) spawnSync('kubectl', ['--kubeconfig', c.kubeconfig, 'delete', 'namespace', NS, '--wait=false'], { encoding: 'utf8' });
    if (repo) fs.rmSync(repo, { recursive: true, force: true });
  });

  const form = (over: Partial<DeployForm> = {}): DeployForm => ({
    context: c.context,
    namespace: NS,
    name: '',
    mode: 'plain',
    runtime: '',
    scaling: 'fixed',
    replicas: 1,
    min: 1,
    max: 2,
    cpu: '',
    memory: '',
    storage: `s3://${c.bucket}/it`,
    s3Endpoint: c.endpoint,
    s3PodEndpoint: c.podEndpoint,
    s3AccessKeyId: c.accessKey,
    stage: 'prod',
    force: false,
    ...over,
  });

  let panel: DeployPanel;

  it('Deploy Version… on a version of the Models tree opens the panel; the pickers list the kubeconfig’s contexts and namespaces', async () => {
    const api = await activateModelyard();
    const reg = await api.registries.registry(repo);
    const model = reg.models.find((m) => m.name === 'wake')!;
    const version = model.state!.versions.find((v) => v.version === 'v1.0.0')!;
    panel = (await vscode.commands.executeCommand<DeployPanel>('modelyard.deploy.version', { kind: 'version', root: repo, model, version }))!;
    assert.ok(panel, 'the command returns its panel');
    assert.equal(panel.target.ref, 'wake@v1.0.0');
    assert.equal(api.deployPanels().length, 1);
    const ctx = (await ask(panel, 'contexts', {})) as { current: string; contexts: { name: string }[] };
    assert.ok(ctx.contexts.some((x) => x.name === c.context), JSON.stringify(ctx));
    const ns = (await ask(panel, 'namespaces', { context: c.context })) as { namespaces: string[]; listed: boolean };
    assert.ok(ns.listed && ns.namespaces.includes(NS), JSON.stringify(ns));
  });

  it('the plan: pre-flight passes and the dry run shows the objects to create; a secret typed into the panel lives in SecretStorage only', async () => {
    const before = (await ask(panel, 'plan', { form: form() })) as { credentials: string };
    assert.equal(before.credentials, 'missing', 'no secret yet (none in the environment either)');
    const seen = follow(panel);
    await ask(panel, 'storeSecret', { endpoint: c.endpoint, accessKeyId: c.accessKey, secret: c.secretKey });
    const plan = (await ask(panel, 'plan', { form: form() })) as { credentials: string; preflight: { severity: string; message: string }[]; diff: string; mode: string; name: string };
    seen.dispose();
    assert.equal(plan.credentials, 'stored');
    assert.equal(plan.mode, 'plain');
    assert.equal(plan.name, 'wake');
    assert.deepEqual(plan.preflight.filter((x) => x.severity === 'error'), [], JSON.stringify(plan.preflight));
    assert.match(plan.diff, /Deployment wake/);
    assert.ok(!JSON.stringify(seen.messages).includes(c.secretKey), 'the secret never goes back to the webview');
    const settings = JSON.stringify(config().inspect('deploy.targets'));
    assert.ok(!settings.includes(c.secretKey), 'nor into settings');
  });

  it('one click deploys: the rollout followed to ready, the smoke test passed, recorded in the registry, the target remembered', async () => {
    const seen = follow(panel);
    const r = await panel.deploy(form());
    // The server's log streams into the panel once its container runs.
    const log = await waitFor('server log lines in the panel', () => seen.messages.find((m) => m.type === 'log') as Extract<DeployToWebview, { type: 'log' }> | undefined, 30_000);
    seen.dispose();
    assert.ok(log.lines.some((l) => /listening|wake|model/i.test(l)), log.lines.join('\n'));
    assert.ok(r?.rollout?.ready, JSON.stringify(r?.rollout));
    assert.equal(r.smoke?.pass, true, JSON.stringify(r.smoke));
    assert.match(r.recorded?.tag ?? '', /^wake#prod#\d+$/);
    const phases = seen.messages.filter((m) => m.type === 'phase').map((m) => (m as { phase: { phase: string } }).phase.phase);
    for (const p of ['resolve', 'preflight', 'diff', 'upload', 'apply', 'ready', 'smoke', 'done']) assert.ok(phases.includes(p), `phase ${p} in ${phases.join(',')}`);
    // The cluster's own events about the rollout come with the phases (the scheduler's and the kubelet's).
    const reasons = new Set(seen.messages.flatMap((m) => (m.type === 'phase' ? (m.phase.events ?? []) : [])).map((e) => e.reason));
    assert.ok(reasons.has('Scheduled') && reasons.has('Started'), [...reasons].join(', '));
    const outcome = seen.messages.find((m) => m.type === 'outcome') as Extract<DeployToWebview, { type: 'outcome' }>;
    assert.equal(outcome.outcome.kind, 'deployed');
    assert.equal(seen.messages.filter((m) => m.type === 'smoke').length, 1);
    assert.ok(!JSON.stringify(seen.messages).includes(c.secretKey));
    assert.equal(panel.deployment?.name, 'wake');
    const saved = config().get<Record<string, Record<string, string>>>('deploy.targets')?.[c.context];
    assert.equal(saved?.namespace, NS);
    assert.equal(saved?.s3AccessKeyId, c.accessKey);
    assert.ok(!JSON.stringify(saved).includes(c.secretKey));
    const tags = execFileSync('git', ['tag', '-l', 'wake#prod#*', '-n1'], { cwd: repo, encoding: 'utf8' });
    assert.match(tags, new RegExp(`deploy: wake@v1\\.0\\.0 to cluster ${c.context}.*namespace ${NS}, Deployment wake`));
  });

  it('Smoke Test on the deployment opens its panel and shows the comparison with a local run', async () => {
    const api = await activateModelyard();
    const p = (await vscode.commands.executeCommand<DeployPanel>('modelyard.deploy.show', { context: c.context, namespace: NS, name: 'wake', ref: 'wake@v1.0.0', repo, action: 'smoke' }))!;
    assert.ok(p);
    const seen = follow(p);
    const smoke = await waitFor('the smoke result', () => seen.messages.find((m) => m.type === 'smoke') as Extract<DeployToWebview, { type: 'smoke' }> | undefined, 60_000);
    seen.dispose();
    assert.equal(smoke.smoke.pass, true);
    assert.ok(smoke.smoke.comparison!.outputs.every((o) => o.cosine !== null && o.cosine > 0.9999));
    assert.ok(api.deployPanels().includes(p));
  });

  it('restored after a reload: the panel follows the deployment again and shows its status', async () => {
    const api = await activateModelyard();
    const webviewPanel = vscode.window.createWebviewPanel('modelyard.deploy', 'restored', vscode.ViewColumn.Active, { enableScripts: true });
    await api.restorePanel('modelyard.deploy', webviewPanel, { restore: { ref: 'wake@v1.0.0', repo, attach: { context: c.context, namespace: NS, name: 'wake' } } });
    const p = api.deployPanels().find((x) => x.panel === webviewPanel)!;
    assert.ok(p, 'a Deploy panel on the restored webview');
    const seen = follow(p);
    await p.receive({ type: 'ready' });
    const status = await waitFor('its status', () => seen.messages.find((m) => m.type === 'status') as Extract<DeployToWebview, { type: 'status' }> | undefined, 60_000);
    seen.dispose();
    assert.equal(status.status.ready, true);
    assert.equal(status.status.model.version, 'v1.0.0');
    p.panel.dispose();
  });

  it('a model the runtime cannot load: the failure in plain words, the fix and the last log lines, and nothing recorded', async () => {
    const api = await activateModelyard();
    const reg = await api.registries.registry(repo);
    const model = reg.models.find((m) => m.name === 'broken')!;
    const version = model.state!.versions.find((v) => v.version === 'v1.0.0')!;
    const p = (await vscode.commands.executeCommand<DeployPanel>('modelyard.deploy.version', { kind: 'version', root: repo, model, version }))!;
    const seen = follow(p);
    await vscode.workspace.getConfiguration('modelyard').update('deploy.timeoutSeconds', 90, vscode.ConfigurationTarget.Global);
    const r = await p.deploy(form());
    seen.dispose();
    assert.equal(r?.rollout?.ready, false);
    const failure = seen.messages.find((m) => m.type === 'failure') as Extract<DeployToWebview, { type: 'failure' }>;
    assert.ok(failure, 'a failure message');
    assert.match(failure.failure.title, /crash|cannot load|exits/i);
    assert.ok(failure.failure.fix.length > 10);
    assert.ok(failure.failure.logs?.some((l) => /Frobnicate|com\.example/.test(l)), JSON.stringify(failure.failure.logs));
    const outcome = seen.messages.find((m) => m.type === 'outcome') as Extract<DeployToWebview, { type: 'outcome' }>;
    assert.equal(outcome.outcome.kind, 'failed');
    assert.equal(execFileSync('git', ['tag', '-l', 'broken#*'], { cwd: repo, encoding: 'utf8' }).trim(), '', 'no stage recorded');
    spawnSync(process.execPath, [cli(), 'undeploy', 'broken', '--context', c.context, '-n', NS, '--repo', repo], { env: { ...process.env, KUBECONFIG: c.kubeconfig }, encoding: 'utf8' });
  });

  it('a context whose user has no credentials: the namespaces are refused, a token typed into the panel (kept in SecretStorage) lets them through', async () => {
    // A kubeconfig of the test cluster whose user has nothing, and a ServiceAccount token that may view.
    const raw = JSON.parse(execFileSync('kubectl', ['--kubeconfig', c.kubeconfig, 'config', 'view', '--raw', '--minify', '-o', 'json'], { encoding: 'utf8' })) as { users: { user: unknown }[]; contexts: { name: string }[]; 'current-context': string };
    raw.users[0]!.user = {};
    const bare = path.join(repo, 'bare.kubeconfig');
    fs.writeFileSync(bare, JSON.stringify(raw));
    execFileSync('kubectl', ['--kubeconfig', c.kubeconfig, '-n', NS, 'create', 'serviceaccount', 'it-token'], { encoding: 'utf8' });
    execFileSync('kubectl', ['--kubeconfig', c.kubeconfig, 'create', 'clusterrolebinding', `${NS}-token`, '--clusterrole=view', `--serviceaccount=${NS}:it-token`], { encoding: 'utf8' });
    const token = execFileSync('kubectl', ['--kubeconfig', c.kubeconfig, '-n', NS, 'create', 'token', 'it-token'], { encoding: 'utf8' }).trim();
    await config().update('deploy.kubeconfig', bare, vscode.ConfigurationTarget.Global);
    try {
      const ctx = raw['current-context'];
      const listed = (await ask(panel, 'contexts', {})) as { contexts: { name: string; auth: string }[] };
      assert.equal(listed.contexts.find((x) => x.name === ctx)?.auth, 'none', 'the panel knows to offer a token');
      const before = (await ask(panel, 'namespaces', { context: ctx })) as { listed: boolean; namespaces: string[] };
      assert.equal(before.listed, false, 'anonymous: not listed');
      const seen = follow(panel);
      await ask(panel, 'storeToken', { context: ctx, token });
      const after = (await ask(panel, 'namespaces', { context: ctx })) as { listed: boolean; namespaces: string[] };
      seen.dispose();
      assert.ok(after.listed && after.namespaces.includes(NS), JSON.stringify(after));
      assert.ok(!JSON.stringify(seen.messages).includes(token), 'the token never goes back to the webview');
    } finally {
      await config().update('deploy.kubeconfig', c.kubeconfig, vscode.ConfigurationTarget.Global);
      spawnSync('kubectl', ['--kubeconfig', c.kubeconfig, 'delete', 'clusterrolebinding', `${NS}-token`], { encoding: 'utf8' });
    }
  });

  it('Forget Stored Deploy Credentials removes the secret key and the token: the next plan says the key is missing, the bare user is refused again', async () => {
    await vscode.commands.executeCommand('modelyard.deploy.forgetCredentials');
    const plan = (await ask(panel, 'plan', { form: form() })) as { credentials: string };
    assert.equal(plan.credentials, 'missing');
    // The context's token is gone too: the user without credentials is refused again.
    await config().update('deploy.kubeconfig', path.join(repo, 'bare.kubeconfig'), vscode.ConfigurationTarget.Global);
    try {
      const ns = (await ask(panel, 'namespaces', { context: c.context })) as { listed: boolean };
      assert.equal(ns.listed, false);
    } finally {
      await config().update('deploy.kubeconfig', c.kubeconfig, vscode.ConfigurationTarget.Global);
    }
    const r = spawnSync(process.execPath, [cli(), 'undeploy', 'wake', '--context', c.context, '-n', NS, '--repo', repo], { env: { ...process.env, KUBECONFIG: c.kubeconfig }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });
});
