// The Deployments view inside the real extension host, against the real test cluster (scripts/cluster.mjs, which
// must be up; the serving image is the one the unit tier pushed, 127.0.0.1:5000/modelyard/server:test): the view's
// contexts, a deployment of the workspace's hello_deepa appearing live and ready, a new version with the way back,
// drift when the registry's stage moves, and every command of the view — open, smoke and deploy-stage-version ask the
// Deploy panel's command; logs stream in a terminal; the Playground reaches the deployment through a local proxy;
// rollback and undeploy change the cluster and the registry. Its namespace is view-it.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as vscode from 'vscode';
import type { DeployPanel } from '../../src/extension/deploy/deployPanel';
import { decodeModel, encodeModel } from '../../src/core/onnx/model';
import { assign, register } from '../../src/core/registry/write';
import type { DeploymentNode } from '../../src/extension/deploy/deploymentsView';
import type { ModelyardApi } from '../../src/extension/main';
import { EXTENSION_ID, activateModelyard, waitFor, workspaceRoot } from './helpers';

const NS = 'view-it';
const NAME = 'wake';
const MODEL = 'hello_deepa';
const FILE = 'models/wakeword/hello_deepa.onnx';
const IMAGE = '127.0.0.1:5000/modelyard/server:test';

describe('Deployments view: live from the cluster, with drift, and its commands', function () {
  this.timeout(600_000);
  let api: ModelyardApi;
  let root: string;
  let head: string;
  let env: Record<string, string>;
  let context: string;
  let kubeconfig: string;
  const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' } }).trim();
  const kubectl = (...args: string[]) => {
    const r = spawnSync('kubectl', ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  /** The CLI of this build, as the editor runs it, for what the test sets up (deploys); never blocking the extension host. */
  const cli = (...args: string[]) =>
    new Promise<string>((resolve, reject) => {
      const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
      const child = spawn(process.execPath, [path.join(ext.extensionPath, 'dist', 'cli.js'), ...args], { env: { ...process.env, ...env, ELECTRON_RUN_AS_NODE: '1', KUBECONFIG: kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d));
      child.stderr.on('data', (d: Buffer) => (out += d));
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`modelyard ${args.join(' ')} exited ${code}: ${out}`))));
    });
  const deploy = (ref: string) =>
    cli('deploy', ref, '--repo', root, '--context', context, '-n', NS, '--plain', '--name', NAME, '--stage', 'prod', '--no-smoke', '--storage', `s3://deploy-tests/models`, '--s3-endpoint', env.MODELYARD_TEST_S3_ENDPOINT!, '--s3-pod-endpoint', env.MODELYARD_TEST_S3_POD_ENDPOINT!, '--image', IMAGE, '--timeout', '120');
  const view = () => api.deployments()!;
  const node = (test: (d: DeploymentNode) => boolean, what: string, timeoutMs = 120_000) =>
    waitFor(what, () => {
      const d = view().find(context, NS, NAME);
      return d && test(d) ? d : undefined;
    }, timeoutMs);

  before(async function () {
    api = await activateModelyard();
    root = workspaceRoot();
    head = git('rev-parse', 'HEAD');
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    // The cluster's addresses and keys, as scripts/cluster.mjs gives them.
    const out = execFileSync(process.execPath, [path.join(ext.extensionPath, 'scripts', 'cluster.mjs'), 'env'], { encoding: 'utf8', env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } });
    env = Object.fromEntries([...out.matchAll(/^export (\w+)='([^']*)'$/gm)].map((m) => [m[1]!, m[2]!]));
    kubeconfig = env.MODELYARD_TEST_KUBECONFIG!;
    context = env.MODELYARD_TEST_KUBE_CONTEXT!;
    assert.ok(kubeconfig && fs.existsSync(kubeconfig), 'the test cluster is up (node scripts/cluster.mjs up)');
    Object.assign(env, { AWS_ACCESS_KEY_ID: env.MODELYARD_TEST_S3_WRITER_ACCESS_KEY!, AWS_SECRET_ACCESS_KEY: env.MODELYARD_TEST_S3_WRITER_SECRET_KEY!, MODELYARD_S3_READER_ACCESS_KEY_ID: env.MODELYARD_TEST_S3_READER_ACCESS_KEY!, MODELYARD_S3_READER_SECRET_ACCESS_KEY: env.MODELYARD_TEST_S3_READER_SECRET_KEY! });
    kubectl('delete', 'namespace', NS, '--ignore-not-found', '--wait=true');
    kubectl('create', 'namespace', NS);
    await vscode.workspace.getConfiguration('modelyard').update('deploy.kubeconfig', kubeconfig, vscode.ConfigurationTarget.Workspace);
    await register(root, MODEL, { version: 'v1.0.0', message: 'first' });
  });

  after(async () => {
    try {
      kubectl('delete', 'namespace', NS, '--ignore-not-found', '--wait=false');
    } finally {
      for (const t of git('tag', '--list', `${MODEL}*`).split('\n').filter(Boolean)) git('tag', '-d', t);
      git('reset', '-q', '--hard', head);
      await vscode.workspace.getConfiguration('modelyard').update('deploy.kubeconfig', undefined, vscode.ConfigurationTarget.Workspace);
      api.registries.invalidate(root);
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    }
  });

  it('lists the kubeconfig contexts, the current one first and marked', async () => {
    const roots = await waitFor('the contexts of the test kubeconfig', async () => {
      const r = await view().getChildren();
      return r.some((n) => n.kind === 'context' && n.context.name === context) ? r : undefined;
    });
    const first = roots[0]!;
    assert.equal(first.kind, 'context');
    assert.ok(first.kind === 'context' && first.current && first.context.name === context);
    assert.match(String(view().getTreeItem(first).description), /^current · https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('shows a deployment live: it appears, becomes ready, names its model, version and stage, no drift', async () => {
    await view().ensureWatching(context);
    await waitFor('the watch is live', () => (view().watchState(context)?.state === 'live' ? true : undefined), 60_000);
    await deploy(`${MODEL}@v1.0.0`);
    await node((x) => x.item.version === 'v1.0.0' && x.item.state === 'ready', 'wake ready in the view');
    // The deploy recorded prod in the registry (the tag watcher notices it too; the test does not wait for it).
    api.registries.invalidate(root);
    const d = await node((x) => x.drift.kind === 'none', 'no drift: prod names v1.0.0', 30_000);
    const item = view().getTreeItem(d);
    assert.equal(item.label, NAME);
    assert.equal(item.description, `${MODEL}@v1.0.0 · prod · 1/1`);
    assert.equal(item.contextValue, 'modelyard.deployment managed');
    assert.equal((item.iconPath as vscode.ThemeIcon).id, 'pass');
    assert.match((item.tooltip as vscode.MarkdownString).value, /Namespace \| view\\-it/);
    const namespaces = await view().getChildren((await view().getChildren()).find((n) => n.kind === 'context' && n.context.name === context));
    assert.ok(namespaces.some((n) => n.kind === 'namespace' && n.namespace === NS));
  });

  it('a new version: the view names it, and the version a rollback returns to', async () => {
    const buf = fs.readFileSync(path.join(root, FILE));
    const m = decodeModel(buf);
    m.docString = 'v1.1.0 for the Deployments view test';
    fs.writeFileSync(path.join(root, FILE), encodeModel(m));
    git('commit', '-q', '-am', 'v1.1.0');
    await register(root, MODEL, { version: 'v1.1.0', message: 'second' });
    await deploy(`${MODEL}@v1.1.0`);
    const d = await node((x) => x.item.version === 'v1.1.0' && x.item.state === 'ready' && x.item.previous === `${MODEL}@v1.0.0`, 'wake@v1.1.0 ready, v1.0.0 before it');
    api.registries.invalidate(root);
    const fresh = await node((x) => x.drift.kind === 'none', 'no drift: prod names v1.1.0', 20_000);
    assert.equal(view().getTreeItem(fresh).contextValue, 'modelyard.deployment managed previous');
    assert.ok(d);
  });

  it('drift: the stage moved in the registry shows as a badge, a warning icon and the drift word', async () => {
    await assign(root, MODEL, 'prod', { version: 'v1.0.0', message: 'back in the registry' });
    api.registries.invalidate(root);
    const d = await node((x) => x.drift.kind === 'moved', 'drift in the view', 30_000);
    const item = view().getTreeItem(d);
    assert.equal(item.description, `${MODEL}@v1.1.0 · prod · 1/1 · ⚠ prod → v1.0.0`);
    assert.equal((item.iconPath as vscode.ThemeIcon).id, 'warning');
    assert.equal(item.contextValue, 'modelyard.deployment managed previous drift');
    assert.match((item.tooltip as vscode.MarkdownString).value, /stage prod of hello\\_deepa names v1\\\.0\\\.0 now/);
  });

  it('open, smoke and deploy-stage-version open the Deploy panel: on the deployment, with its smoke test, and on the stage’s version', async () => {
    const d = view().find(context, NS, NAME)!;
    const opened = (await vscode.commands.executeCommand<DeployPanel>('modelyard.deployments.open', d))!;
    assert.equal(opened.deployment?.name, NAME);
    assert.equal(opened.target.ref, `${MODEL}@v1.1.0`, 'the version that runs');
    const seen: { type: string; smoke?: { pass: boolean } }[] = [];
    const sub = opened.onDidPost((m) => seen.push(m as (typeof seen)[number]));
    const again = await vscode.commands.executeCommand<DeployPanel>('modelyard.deployments.smoke', { context, namespace: NS, name: NAME });
    assert.equal(again, opened, 'the same panel, revealed');
    const smoke = await waitFor('the smoke result', () => seen.find((m) => m.type === 'smoke'), 90_000);
    sub.dispose();
    assert.equal(smoke.smoke?.pass, true);
    const stage = (await vscode.commands.executeCommand<DeployPanel>('modelyard.deployments.deployStageVersion', d))!;
    assert.equal(stage.target.ref, `${MODEL}@v1.0.0`, 'the version the stage names now');
    assert.equal(stage.target.preset?.name, NAME);
    assert.equal(stage.target.preset?.namespace, NS);
    assert.equal(stage.target.preset?.stage, 'prod');
    assert.equal(stage.deployment, undefined, 'a deploy form, not yet a deployment');
    opened.panel.dispose();
    stage.panel.dispose();
  });

  it('logs: the server log streams into a terminal, and stops when it is closed', async () => {
    const terminal = (await vscode.commands.executeCommand('modelyard.deployments.logs', view().find(context, NS, NAME))) as vscode.Terminal;
    assert.equal(terminal.name, `Logs: ${NAME}`);
    const key = `${context}/${NS}/${NAME}`;
    await waitFor('log lines', () => (api.deploymentChildren().logs.get(key)?.written.join('').split('\n').length ?? 0) > 3 || undefined, 60_000);
    assert.match(api.deploymentChildren().logs.get(key)!.written.join(''), /modelyard logs wake --follow/);
    terminal.dispose();
    await waitFor('the stream stopped', () => (api.deploymentChildren().logs.has(key) ? undefined : true), 20_000);
  });

  it('open in Playground: the version that runs, its Remote tab at a local proxy to the deployment', async () => {
    await vscode.commands.executeCommand('modelyard.deployments.openInPlayground', view().find(context, NS, NAME));
    const panel = await waitFor('the Playground of the running version', () => api.playgrounds().find((p) => p.target.label === `${MODEL}@v1.1.0`));
    const remote = panel.remoteEndpoint!;
    assert.equal(remote.model, NAME);
    assert.match(remote.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const ready = await fetch(`${remote.url}/v2/models/${NAME}/ready`);
    assert.equal(ready.status, 200, 'the deployment answers through the proxy');
  });

  it('rollback (confirmed): back to v1.0.0, recorded in the registry, and the view follows', async () => {
    const r = (await vscode.commands.executeCommand('modelyard.deployments.rollback', view().find(context, NS, NAME), { confirm: true })) as { from: string; to: string; recorded?: { tag: string } };
    assert.deepEqual([r.from, r.to], [`${MODEL}@v1.1.0`, `${MODEL}@v1.0.0`]);
    await node((x) => x.item.version === 'v1.0.0' && x.item.previous === `${MODEL}@v1.1.0`, 'v1.0.0 in the view');
    // prod names v1.0.0 already (the drift step): nothing new to record, and no drift any more.
    await node((x) => x.drift.kind === 'none', 'no drift after the rollback', 30_000);
  });

  it('undeploy (confirmed): gone from the cluster and from the view', async () => {
    const r = (await vscode.commands.executeCommand('modelyard.deployments.undeploy', view().find(context, NS, NAME), { confirm: true })) as { removed: string[] };
    assert.deepEqual(r.removed, [`Deployment ${NAME}`, `Service ${NAME}`]);
    await waitFor('wake gone from the view', () => (view().find(context, NS, NAME) ? undefined : true), 60_000);
  });

  it('no kubeconfig: no contexts (the welcome view), and back when the setting names one', async () => {
    await vscode.workspace.getConfiguration('modelyard').update('deploy.kubeconfig', path.join(os.tmpdir(), 'no-such-kubeconfig'), vscode.ConfigurationTarget.Workspace);
    await waitFor('no contexts', async () => ((await view().loadContexts()).contexts.length === 0 ? true : undefined));
    assert.deepEqual(await view().getChildren(), []);
    await vscode.workspace.getConfiguration('modelyard').update('deploy.kubeconfig', kubeconfig, vscode.ConfigurationTarget.Workspace);
    await waitFor('the contexts again', async () => ((await view().loadContexts()).contexts.length ? true : undefined));
  });
});
