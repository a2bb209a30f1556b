// e2e: the Models view — the fixture models and the seeded registry, registering a version from the tree, and the
// Initialize Repository welcome of a folder without git.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { RESULTS, escapeRe, findInWorkspace, modelName, models, modelsTree, plainFolder, shownSize, widenSidebar, type Workbench } from './support';

/** The Models view: every fixture model with its size, the seeded registry on its rows, and the Deployments welcome. */
export function modelsView(wb: Workbench): void {
  it('shows the activity-bar icon, the Models view with the fixture models and sizes, and the Deployments welcome without a kubeconfig', async () => {
    const { page, folder } = wb;
    const icon = page.locator('.part.activitybar a.action-label[aria-label="Modelyard"]');
    await icon.waitFor({ timeout: 30_000 });
    await icon.click();
    const sidebar = page.locator('.part.sidebar');
    await sidebar.locator('.composite.title h2', { hasText: /Modelyard/i }).waitFor({ timeout: 10_000 });

    const modelsPane = sidebar.locator('.pane').filter({ has: page.locator('.pane-header', { hasText: /^Models/ }) });
    const deploymentsPane = sidebar.locator('.pane').filter({ has: page.locator('.pane-header', { hasText: /^Deployments/ }) });
    const rows = modelsPane.locator('.monaco-list-row');
    // Every fixture model, as a row carrying its size.
    for (const m of models) {
      const bytes = fs.statSync(path.join(folder, ...findInWorkspace(folder, m.file))).size;
      const row = rows.filter({ has: page.locator('.label-name', { hasText: new RegExp(`^${escapeRe(modelName(m.file))}$`) }) });
      await row.first().waitFor({ timeout: 20_000 });
      const description = (await row.first().locator('.label-description').textContent()) ?? '';
      assert.ok(description.endsWith(shownSize(bytes)), `${m.file} shows its size ${shownSize(bytes)}: '${description}'`);
    }
    assert.equal(await rows.count(), models.length, 'one row per fixture model, nothing else');
    // The seeded registry: latest version and stages on the model's row.
    const wake = rows.filter({ has: page.locator('.label-name', { hasText: /^hello_deepa$/ }) }).first();
    assert.match((await wake.locator('.label-description').textContent()) ?? '', /^v1\.1\.0 · prod: v1\.0\.0 · staging: v1\.1\.0 · /);
    const names = await rows.locator('.label-name').allTextContents();
    assert.ok(!names.some((n) => n.includes('ignored.onnx')), `node_modules/dep/ignored.onnx is not listed: ${names.join(', ')}`);
    // 10.3 MB is the OCR recogniser, the largest fixture.
    assert.ok((await modelsPane.innerText()).includes('10.3 MB'), 'the recogniser shows 10.3 MB');

    const welcome = deploymentsPane.locator('.welcome-view-content');
    await welcome.waitFor({ timeout: 10_000 });
    const text = await welcome.innerText();
    // A fresh HOME has no kubeconfig: the welcome says how to get one.
    assert.match(text, /No kubeconfig was found/);
    assert.match(text, /Choose Kubeconfig File/);
    // Widen the side bar so the screenshot shows every size (at the default width long names push them out of view).
    await widenSidebar(page, 470);
    assert.equal(await rows.count(), models.length);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-models.png') });
  });
}

/** A model's versions with their stages, and Register Version… from the tree. */
export function registerFromTree(wb: Workbench): void {
  it('shows versions with their stages, and registers a version from the tree as a user would', async () => {
    const { page, folder } = wb;
    const { row } = modelsTree(page);
    // Expand hello_deepa: its versions, newest first, with their stages.
    await row(/^hello_deepa$/).click();
    await row(/^v1\.1\.0$/).waitFor({ timeout: 10_000 });
    assert.match((await row(/^v1\.1\.0$/).locator('.label-description').textContent()) ?? '', /^staging · \d{4}-\d\d-\d\d · Ada Modeler$/);
    assert.match((await row(/^v1\.0\.0$/).locator('.label-description').textContent()) ?? '', /^prod · /);
    await row(/^Unregistered commits$/).waitFor({ timeout: 10_000 });

    // Register the OCR direction classifier with the row's inline action: the quick pick offers v0.0.1 first.
    const target = row(/^ch_ppocr_mobile_v2-0_cls_infer$/);
    await target.hover();
    await target.locator('.actions .action-label[aria-label="Register Version…"]').click();
    const pick = page.locator('.quick-input-widget');
    await pick.locator('.monaco-list-row', { hasText: 'v0.0.1' }).first().waitFor({ timeout: 10_000 });
    await page.keyboard.press('Enter');
    const why = pick.locator('input.input');
    await page.locator('.quick-input-widget .quick-input-title', { hasText: /Register ch_ppocr_mobile_v2-0_cls_infer@v0\.0\.1/ }).waitFor({ timeout: 10_000 });
    await why.fill('First release, registered from the tree');
    await page.keyboard.press('Enter');
    await page.waitForFunction(
      () => [...document.querySelectorAll('.monaco-list-row')].some((r) => /^ch_ppocr_mobile_v2-0_cls_infer/.test(r.querySelector('.label-name')?.textContent ?? '') && /^v0\.0\.1/.test(r.querySelector('.label-description')?.textContent ?? '')),
      undefined,
      { timeout: 15_000 },
    );
    const tag = execFileSync('git', ['cat-file', '-p', 'ch_ppocr_mobile_v2-0_cls_infer@v0.0.1'], { cwd: folder, encoding: 'utf8' });
    assert.match(tag, /^type commit$/m);
    assert.match(tag, /First release, registered from the tree/);
    await page.mouse.move(900, 700);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-registry.png') });
  });
}

/** A folder without git: the Initialize Repository welcome, then its model listed. */
export function initializeRepository(wb: Workbench): void {
  it('offers Initialize Repository in a folder without git, and lists its model once the repository exists', async () => {
    const { server, work, browser } = wb;
    const dir = plainFolder(work);
    const other = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    try {
      await other.goto(`${server.url}?folder=${encodeURIComponent(dir)}`);
      const icon = other.locator('.part.activitybar a.action-label[aria-label="Modelyard"]');
      await icon.waitFor({ timeout: 30_000 });
      await icon.click();
      const modelsPane = other.locator('.part.sidebar .pane').filter({ has: other.locator('.pane-header', { hasText: /^Models/ }) });
      const button = modelsPane.locator('.welcome-view-content a.monaco-button', { hasText: 'Initialize Repository' });
      await button.waitFor({ timeout: 20_000 });
      assert.match(await modelsPane.locator('.welcome-view-content').innerText(), /not a git repository/);
      await other.screenshot({ path: path.join(RESULTS, 'e2e-no-repository.png') });
      await button.click();
      await modelsPane.locator('.monaco-list-row .label-name', { hasText: /^kws$/ }).waitFor({ timeout: 20_000 });
      assert.ok(fs.existsSync(path.join(dir, '.git')), 'git init ran in the folder');
    } finally {
      await other.close();
    }
  });
}
