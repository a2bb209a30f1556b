// e2e: deployment as a user does it, against the real test cluster (scripts/cluster.mjs; test/support/cluster.ts builds
// the serving image of this checkout and pushes it to the cluster's loopback registry). From the Models tree: Deploy
// Version… opens the panel; the form with its pre-flight and dry-run diff; one click; the rollout live; the smoke
// test; the Deployments view with no drift; the stage promoted in the registry and the drift badge; Deploy Stage's
// Version; Roll Back from the view; a model the runtime cannot load and its failure banner; Undeploy.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import type { Frame, Page } from 'playwright-core';
import { assign, register } from '../../src/core/registry/write';
import { serviceOf } from '../../src/core/deploy/manifests';
import { kubectl, testCluster, type TestCluster } from '../support/cluster';
import { unloadableModel } from '../support/onnx-models';
import { RESULTS, modelsTree, showModels, widenSidebar, type Workbench } from './support';

const NS = 'e2e-deploy';

/** The Deployments view, and a row of it by its label. */
function deploymentsTree(page: Page) {
  const pane = page.locator('.part.sidebar .pane').filter({ has: page.locator('.pane-header', { hasText: /^Deployments/ }) });
  return { pane, row: (name: string | RegExp) => pane.locator('.monaco-list-row').filter({ has: page.locator('.label-name', { hasText: name }) }).first() };
}

/** Sets a vscode-textfield's value as typing and leaving it would (its change event). */
async function setField(frame: Frame, field: string, value: string): Promise<void> {
  const f = frame.locator(`vscode-textfield[data-field="${field}"]`);
  await f.click();
  await f.evaluate((e, v) => {
    (e as unknown as { value: string }).value = v;
    e.dispatchEvent(new Event('change', { bubbles: true }));
  }, value);
}

/** Expands a tree row (a click toggles, so only a collapsed row is clicked). */
async function expand(row: ReturnType<Page['locator']>): Promise<void> {
  await row.waitFor({ timeout: 30_000 });
  if ((await row.getAttribute('aria-expanded')) === 'false') await row.click();
  await assertEventually(async () => (await row.getAttribute('aria-expanded')) === 'true', async () => `the row ${await row.innerText()} does not expand`, 10_000);
}

/** Collapses every expanded row of the Models view but `name`'s and expands that one: its versions are the only ones in view. */
async function onlyExpanded(page: Page, name: string): Promise<void> {
  const { pane, row } = modelsTree(page);
  for (let i = 0; i < 20; i++) {
    const open = pane.locator('.monaco-list-row[aria-expanded="true"]');
    const labels = await open.locator('.label-name').allInnerTexts();
    const other = labels.findIndex((l) => l !== name);
    if (other < 0) break;
    await open.nth(other).click();
    await page.waitForTimeout(150);
  }
  await expand(row(new RegExp(`^${name}$`)));
}

/** Scrolls the panel to an element (found anew: the panel may have re-rendered it a moment ago). */
async function scrollTo(frame: Frame, selector: string): Promise<void> {
  await frame.locator(selector).first().waitFor({ timeout: 10_000 });
  await frame.evaluate((sel) => document.querySelector(sel)?.scrollIntoView({ block: 'center' }), selector);
}

/** Clicks a menu item of the row's context menu. */
async function contextMenu(page: Page, row: ReturnType<Page['locator']>, item: string): Promise<void> {
  await row.click({ button: 'right' });
  const entry = page.getByRole('menuitem', { name: item });
  await entry.waitFor({ timeout: 10_000 });
  await entry.hover();
  await entry.click();
}

/** Answers a modal confirmation with the button named `choice`. */
async function confirm(page: Page, text: RegExp, choice: string): Promise<string> {
  const dialog = page.locator('.monaco-dialog-box');
  await dialog.waitFor({ timeout: 10_000 });
  const message = await dialog.innerText();
  assert.match(message, text);
  await dialog.getByRole('button', { name: choice }).click();
  await dialog.waitFor({ state: 'hidden', timeout: 10_000 });
  return message;
}

/** The Deploy panel's frame whose heading matches (VS Code nests a webview two frames deep). */
async function deployFrame(page: Page, heading: RegExp, timeoutMs = 30_000): Promise<Frame> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const frame of page.frames()) {
      const h = await frame.$('#app header h1').catch(() => null);
      if (h && heading.test((await h.textContent().catch(() => '')) ?? '')) return frame;
    }
    await page.waitForTimeout(250);
  }
  throw new Error(`no Deploy panel headed ${heading} after ${timeoutMs / 1000} s`);
}

/** A test's body; when it fails, the workbench as it was is saved beside the other screenshots. */
function shot(wb: Workbench, name: string, fn: () => Promise<void>): () => Promise<void> {
  return async () => {
    try {
      await fn();
    } catch (e) {
      await wb.page.screenshot({ path: path.join(RESULTS, `e2e-deploy-failed-${name}.png`) }).catch(() => {});
      throw e;
    }
  };
}

export function deployToCluster(wb: Workbench): void {
  let c: TestCluster;

  it('deploys a version from the Models tree through the panel: the form with pre-flight and diff, the rollout, the smoke test', { timeout: 900_000 }, shot(wb, 'panel', async () => {
    const { page, folder } = wb;
    c = await testCluster();
    kubectl(c.kubeconfig, ['delete', 'namespace', NS, '--ignore-not-found', '--wait=true']);
    kubectl(c.kubeconfig, ['create', 'namespace', NS]);
    // What a user sets once: the kubeconfig, the image (here the one built from this checkout), and the target's storage.
    fs.mkdirSync(path.join(folder, '.vscode'), { recursive: true });
    fs.writeFileSync(
      path.join(folder, '.vscode', 'settings.json'),
      JSON.stringify(
        {
          'modelyard.deploy.kubeconfig': c.kubeconfig,
          'modelyard.deploy.image': c.image,
          'modelyard.deploy.timeoutSeconds': 120,
          'modelyard.deploy.targets': { [c.context]: { namespace: NS, storage: `s3://${c.bucket}/e2e`, s3Endpoint: c.env.MODELYARD_TEST_S3_ENDPOINT, s3PodEndpoint: c.env.MODELYARD_TEST_S3_POD_ENDPOINT, s3AccessKeyId: c.env.MODELYARD_TEST_S3_WRITER_ACCESS_KEY, stage: 'prod' } },
        },
        null,
        2,
      ),
    );
    // The settings are read: the Deployments view lists the test cluster's context.
    await showModels(page);
    await deploymentsTree(page).row(c.context).waitFor({ state: 'attached', timeout: 30_000 });
    const { row } = modelsTree(page);
    await onlyExpanded(page, 'hello_deepa');
    await row(/^v1\.0\.0$/).click();
    await contextMenu(page, row(/^v1\.0\.0$/), 'Deploy Version…');
    const f = await deployFrame(page, /Deploy hello_deepa@v1\.0\.0/);
    // The secret key typed once, kept in SecretStorage.
    await f.locator('.checks').waitFor({ timeout: 60_000 }).catch(async (e: unknown) => {
      await page.screenshot({ path: path.join(RESULTS, 'e2e-deploy-form-failed.png') });
      throw new Error(`the plan did not come: the panel says ${await f.locator('#app').innerText()}`, { cause: e });
    });
    await setField(f, 'secret', c.env.MODELYARD_TEST_S3_WRITER_SECRET_KEY!);
    await f.locator('vscode-button[data-action="store-secret"]').click();
    await f.locator('.field-hint', { hasText: 'secret key kept in the OS keychain' }).waitFor({ timeout: 60_000 });
    await f.locator('pre.diff').waitFor({ timeout: 60_000 });
    assert.match(await f.locator('pre.diff').innerText(), /InferenceService hello-deepa|Deployment hello-deepa/);
    assert.equal(await f.locator('.check.error').count(), 0, await f.locator('.checks').innerText());
    await scrollTo(f, 'vscode-button[data-action="deploy"]');
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-deploy-form.png') });

    await f.locator('vscode-button[data-action="deploy"]:not([disabled])').click();
    await f.locator('table.timeline').waitFor({ timeout: 30_000 });
    await f.locator('.phase-loading, .phase-pulling, .phase-scheduled, .phase-waiting').first().waitFor({ timeout: 120_000 });
    await page.screenshot({ path: path.join(RESULTS, 'e2e-deploy-rollout.png') });
    await f.locator('section.smoke vscode-badge', { hasText: 'passed' }).waitFor({ timeout: 240_000 });
    assert.match(await f.locator('.banner.ok').innerText(), /hello_deepa@v1\.0\.0 is live as/);
    // The cluster's events about the rollout, as the scheduler and the kubelet reported them.
    assert.match(await f.locator('table.events').innerText(), /Scheduled/);
    const rows = await f.locator('table.smoke-table tbody tr').allInnerTexts();
    assert.ok(rows.length >= 1 && rows.every((r) => /same/.test(r)), rows.join('\n'));
    await scrollTo(f, 'section.smoke');
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-deploy-smoke.png') });

    // Traffic through the API server's service proxy (as a client of the cluster would send it): the live figures
    // in the panel show it.
    const svc = serviceOf({ name: 'hello-deepa', mode: 'kserve' });
    const base = `/api/v1/namespaces/${NS}/services/http:${svc.name}:${svc.port}/proxy/v2/models/hello-deepa`;
    const meta = JSON.parse(kubectl(c.kubeconfig, ['get', '--raw', base])) as { inputs: { name: string; datatype: string; shape: number[] }[] };
    const body = path.join(wb.work, 'infer.json');
    fs.writeFileSync(body, JSON.stringify({ inputs: meta.inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: i.shape.map((d) => (d > 0 ? d : 1)), data: new Array(i.shape.reduce((a, d) => a * (d > 0 ? d : 1), 1)).fill(0) })) }));
    const until = Date.now() + 12_000;
    const load = (async () => {
      while (Date.now() < until) await kubectlAsync(c.kubeconfig, ['create', '--raw', `${base}/infer`, '-f', body]);
    })();
    await f.locator('section.figures .figure .value').first().waitFor({ timeout: 30_000 });
    await assertEventually(async () => Number(await f.locator('section.figures .figure .value').first().innerText()) > 0, async () => `no requests/s in the figures: ${await f.locator('section.figures').innerText()}`, 30_000);
    await load;
    await scrollTo(f, 'section.figures');
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-deploy-figures.png') });
  }));

  it('the Deployments view shows it with no drift; promoting another version shows the drift badge; Deploy Stage’s Version; Roll Back', { timeout: 600_000 }, shot(wb, 'view', async () => {
    const { page, folder } = wb;
    const view = deploymentsTree(page);
    await widenSidebar(page, 560);
    const header = view.pane.locator('.pane-header');
    if ((await header.getAttribute('aria-expanded')) === 'false') await header.click();
    await expand(view.row(c.context));
    await expand(view.row(NS));
    const dep = view.row(/^hello-deepa$/);
    await dep.waitFor({ timeout: 30_000 });
    const desc = () => dep.locator('.label-description').innerText();
    await assertEventually(async () => /hello_deepa@v1\.0\.0 · prod · 1\/1/.test(await desc()), async () => `row says ${await desc()}`);
    assert.doesNotMatch(await desc(), /→/);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-deployments-view.png') });

    // Promote v1.1.0 to prod in the registry (as a teammate would, from a terminal): the view shows the drift.
    await assign(folder, 'hello_deepa', 'prod', { version: 'v1.1.0', message: 'Promote the retrained model' });
    await assertEventually(async () => /prod → v1\.1\.0/.test(await desc()), async () => `no drift on ${await desc()}`, 30_000);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-deployments-drift.png') });

    // The fix: Deploy Stage's Version opens the panel on v1.1.0 with the same target; one click.
    await contextMenu(page, dep, "Deploy Stage's Version");
    const f = await deployFrame(page, /Deploy hello_deepa@v1\.1\.0/);
    await f.locator('pre.diff').waitFor({ timeout: 60_000 });
    assert.match(await f.locator('.actions').innerText(), /replacing hello_deepa@v1\.0\.0/);
    await f.locator('vscode-button[data-action="deploy"]:not([disabled])').click();
    await f.locator('section.smoke vscode-badge', { hasText: 'passed' }).waitFor({ timeout: 240_000 });
    await assertEventually(async () => /hello_deepa@v1\.1\.0 · prod/.test(await desc()) && !/→/.test(await desc()), async () => `after the deploy: ${await desc()}`, 30_000);

    // Roll Back from the view: a confirmation naming both versions, then v1.0.0 again, recorded in the registry.
    await contextMenu(page, dep, 'Roll Back…');
    // When the view refreshes under the context menu (a watch event from the old pod leaving), VS Code may hand the
    // command no row: it then asks which deployment, and only this one is offered.
    const which = page.locator('.quick-input-widget', { hasText: 'Roll back which deployment?' });
    const seen = (l: ReturnType<Page['locator']>, v: boolean) => l.waitFor({ timeout: 10_000 }).then(() => v, () => new Promise<boolean>(() => undefined));
    const asked = await Promise.race([seen(which, true), seen(page.locator('.monaco-dialog-box'), false), new Promise<boolean>((r) => setTimeout(() => r(false), 10_500))]);
    if (asked) {
      const rows = which.locator('.monaco-list-row');
      assert.equal(await rows.count(), 1);
      assert.match(await rows.first().innerText(), /hello-deepa/);
      await rows.first().click();
    }
    await confirm(page, /hello_deepa@v1\.1\.0.*hello_deepa@v1\.0\.0/s, 'Roll Back');
    await assertEventually(async () => /hello_deepa@v1\.0\.0 · prod · 1\/1/.test(await desc()), async () => `after the rollback: ${await desc()}`, 180_000);
    // Recorded once the rollout is ready: a moment after the view shows it.
    const tags = () => execFileSync('git', ['tag', '-l', 'hello_deepa#prod#*', '-n1'], { cwd: folder, encoding: 'utf8' });
    await assertEventually(async () => /rollback: cluster .*, namespace e2e-deploy, (InferenceService|Deployment) hello-deepa from/.test(tags()), async () => `no rollback recorded: ${tags()}`, 30_000);
    await assertEventually(async () => !/→/.test(await desc()), async () => `drift after the rollback was recorded: ${await desc()}`, 30_000);
    await page.mouse.move(900, 700);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-deployments-rollback.png') });
  }));

  it('a model the runtime cannot load: the failure banner names the cause and the fix, with the last log lines', { timeout: 600_000 }, shot(wb, 'failure', async () => {
    const { page, folder } = wb;
    // An operator of a domain onnxruntime has never heard of: pre-flight cannot know, the server fails to load it.
    fs.mkdirSync(path.join(folder, 'models', 'broken'), { recursive: true });
    fs.writeFileSync(
      path.join(folder, 'models', 'broken', 'broken.onnx'),
      unloadableModel(),
    );
    execFileSync('git', ['add', 'models/broken/broken.onnx'], { cwd: folder });
    execFileSync('git', ['commit', '-qm', 'An exported model with a custom operator'], { cwd: folder });
    await register(folder, 'broken', { version: 'v1.0.0', message: 'Exported with a custom op' });
    const { row } = modelsTree(page);
    // Only the broken model's versions in view (hello_deepa has a v1.0.0 too).
    await onlyExpanded(page, 'broken');
    await contextMenu(page, row(/^v1\.0\.0$/), 'Deploy Version…');
    const f = await deployFrame(page, /Deploy broken@v1\.0\.0/);
    await f.locator('pre.diff').waitFor({ timeout: 60_000 });
    await f.locator('vscode-button[data-action="deploy"]:not([disabled])').click();
    const banner = f.locator('.banner.error');
    await banner.waitFor({ timeout: 240_000 });
    const text = await banner.innerText();
    assert.match(text, /Fix:/);
    assert.match(text, /Frobnicate|com\.example/);
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-deploy-failure.png') });
    // Below the banner: the cluster's events (the restarts, the back-off) and the server's own log.
    await scrollTo(f, 'table.events');
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-deploy-events.png') });
  }));

  it('Undeploy from the view: a confirmation, then the deployments are gone', { timeout: 300_000 }, shot(wb, 'undeploy', async () => {
    const { page } = wb;
    const view = deploymentsTree(page);
    for (const name of ['broken', 'hello-deepa']) {
      const dep = view.row(new RegExp(`^${name}$`));
      await dep.waitFor({ timeout: 30_000 });
      await contextMenu(page, dep, 'Undeploy…');
      await confirm(page, new RegExp(name), 'Undeploy');
      await dep.waitFor({ state: 'detached', timeout: 120_000 });
    }
    kubectl(c.kubeconfig, ['delete', 'namespace', NS, '--wait=false']);
  }));
}

/** kubectl without blocking the event loop (the figures are read meanwhile). */
function kubectlAsync(kubeconfig: string, args: string[]): Promise<void> {
  return new Promise((resolve) => execFile('kubectl', ['--kubeconfig', kubeconfig, ...args], () => resolve()));
}

async function assertEventually(probe: () => Promise<boolean>, why: () => Promise<string>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  assert.fail(await why());
}
