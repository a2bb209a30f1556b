// End-to-end: the packaged VSIX (scripts/package.mjs) installed into a real VS Code (code-server), driven through its
// UI with Chromium. What a user sees: the activity-bar icon, the Models and Deployments views, the Environment panel
// (which loads the VSIX's own onnxruntime-node inside the extension host) and the log.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Browser, ConsoleMessage, Frame, Page } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { assign, register } from '../../src/core/registry/write';
import { decodeModel, encodeModel } from '../../src/core/onnx/model';

const REPO = path.resolve(__dirname, '..', '..');

/** What these tests use from the repository's scripts/*.mjs (plain JavaScript, imported at run time). */
interface Server {
  url: string;
  dirs: { extensions: string };
  stop(): Promise<void>;
}
interface Scripts {
  packageVsix(options?: { quiet?: boolean }): Promise<{ vsix: string; bytes: number; ms: number }>;
  ensureChromium(): string;
  launchChromium(executablePath: string): Promise<Browser>;
  startCodeServer(options: { installVsix?: string[]; smokeTestDriver?: boolean; log?: (line: string) => void }): Promise<Server>;
  makeTestWorkspace(dir: string): string;
  makeTestWorkspaceWithTests(dir: string): Promise<string>;
}
async function loadScripts(): Promise<Scripts> {
  const load = (name: string) => import(pathToFileURL(path.join(REPO, 'scripts', name)).href) as Promise<Record<string, unknown>>;
  const mods = await Promise.all(['package.mjs', 'testenv.mjs', 'vscode-host.mjs', 'workspace.mjs'].map(load));
  return Object.assign({}, ...mods) as Scripts;
}

const RESULTS = path.join(REPO, 'test-results');
const models = (JSON.parse(fs.readFileSync(path.join(REPO, 'test', 'fixtures', 'models.json'), 'utf8')) as { models: { file: string }[] }).models;
const ortVersion = (JSON.parse(fs.readFileSync(path.join(REPO, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')) as { version: string }).version;
const verbose = !!process.env.MODELYARD_VERBOSE;

/** The size the Models view shows for a file: the same rule as src/core/util/format.ts (powers of 1024). */
function shownSize(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(u === 0 || v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[u]}`;
}

function ms(t0: number): string {
  return `${((Date.now() - t0) / 1000).toFixed(1)} s`;
}

describe('Modelyard VSIX in VS Code (code-server + Chromium)', { timeout: 120_000 }, () => {
  let work: string;
  let folder: string;
  let vsix: string;
  let server: Server | undefined;
  let browser: Browser | undefined;
  let page: Page;
  /** Console errors and CSP violations from every frame, the webviews' included. */
  const consoleProblems: string[] = [];

  before(async () => {
    const t0 = Date.now();
    fs.mkdirSync(RESULTS, { recursive: true });
    const { packageVsix, ensureChromium, launchChromium, startCodeServer, makeTestWorkspaceWithTests } = await loadScripts();
    const packaged = await packageVsix({ quiet: true });
    vsix = packaged.vsix;
    console.log(`# packaged ${path.basename(vsix)} (${(packaged.bytes / 1024 / 1024).toFixed(1)} MB) in ${ms(t0)}`);
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-e2e-'));
    folder = await makeTestWorkspaceWithTests(path.join(work, 'workspace'));
    await seedRegistry(folder);
    const t1 = Date.now();
    server = await startCodeServer({
      installVsix: [vsix],
      smokeTestDriver: false,
      log: (l: string) => verbose && console.log(`[code-server] ${l}`),
    });
    const installed = fs.readdirSync(server.dirs.extensions).filter((d) => d.startsWith('modelyard.modelyard-'));
    assert.equal(installed.length, 1, `the VSIX is installed in ${server.dirs.extensions}`);
    console.log(`# code-server up with the VSIX installed in ${ms(t1)}`);
    browser = await launchChromium(ensureChromium());
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.on('console', (m: ConsoleMessage) => {
      const text = m.text();
      if (/Content Security Policy|Refused to (load|apply|execute|connect)/i.test(text)) consoleProblems.push(`[${m.type()}] ${text}`);
      if (verbose && m.type() === 'error') console.log(`[console] ${text.slice(0, 400)}`);
    });
    page.on('pageerror', (e: Error) => verbose && console.log(`[pageerror] ${e.message}`));
    page.on('response', (r) => verbose && r.status() >= 400 && console.log(`[http ${r.status()}] ${r.url()}`));
    await page.goto(`${server.url}?folder=${encodeURIComponent(folder)}`);
    await page.locator('.monaco-workbench .part.activitybar').waitFor({ timeout: 30_000 });
    console.log(`# workbench up in ${ms(t0)} since the start`);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await server?.stop().catch(() => {});
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('shows the activity-bar icon, the Models view with the fixture models and sizes, and the Deployments welcome', async () => {
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
    assert.match(text, /Deploy a registered model version/);
    assert.match(text, /Show Environment/);
    // Widen the side bar so the screenshot shows every size (at the default width long names push them out of view).
    await widenSidebar(page, 470);
    assert.equal(await rows.count(), models.length);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-models.png') });
  });

  it('shows versions with their stages, and registers a version from the tree as a user would', async () => {
    const modelsPane = page.locator('.part.sidebar .pane').filter({ has: page.locator('.pane-header', { hasText: /^Models/ }) });
    const row = (name: string | RegExp) => modelsPane.locator('.monaco-list-row').filter({ has: page.locator('.label-name', { hasText: name }) }).first();
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

  it('Show Environment shows the VSIX onnxruntime-node (loaded by the inference worker), git and the repository', async () => {
    await runCommand(page, 'Modelyard: Show Environment');
    // The report table, once gathered: its onnxruntime-node row shows either the version or why loading failed.
    const frame = await findFrame(page, 'tr[data-part="onnxruntime-node"]', 30_000);
    const ortRow = frame.locator('tr[data-part="onnxruntime-node"]');
    const failure = await ortRow.locator('.error').count();
    assert.equal(failure, 0, `onnxruntime-node did not load: ${failure ? await ortRow.locator('.error').innerText() : ''}`);
    const ort = frame.locator('#ort-version');
    await ort.waitFor({ timeout: 10_000 });
    assert.equal((await ort.textContent())?.trim(), ortVersion);

    // The binding was loaded from the installed VSIX, not from the repository's node_modules.
    const location = (await ortRow.locator('.path').textContent()) ?? '';
    assert.ok(location.startsWith(server!.dirs.extensions), `onnxruntime-node comes from the installed extension: ${location}`);
    assert.ok((await ortRow.locator('vscode-badge').allTextContents()).some((t) => t.trim() === 'cpu'), 'the CPU execution provider is listed');

    const gitRow = frame.locator('tr[data-part="git"]');
    assert.match((await gitRow.innerText()).trim(), /\d+\.\d+/, 'a git version');
    assert.equal(await gitRow.locator('vscode-icon.ok').count(), 1, 'git is marked available');
    const repos = frame.locator('tr[data-part="Repositories"]');
    assert.ok((await repos.innerText()).includes(folder), `the workspace repository ${folder} is listed`);
    assert.ok((await repos.locator('vscode-badge').allTextContents()).some((t) => t.trim() === 'main'), 'its branch is main');

    // The codicon font loaded under the panel's CSP: <vscode-icon> draws glyphs, not empty boxes.
    await frame.waitForFunction(() => document.fonts.check('16px codicon'), undefined, { timeout: 10_000 });
    const fontStatus = await frame.evaluate(async () => {
      const { fonts } = document;
      await fonts.ready;
      return [...fonts].filter((f) => /codicon/i.test(f.family)).map((f) => f.status);
    });
    assert.ok(fontStatus.includes('loaded'), `the codicon font is loaded in the webview: ${JSON.stringify(fontStatus)}`);
    const iconWidth = await frame.locator('tr[data-part="git"] vscode-icon').evaluate((e) => e.getBoundingClientRect().width);
    assert.ok(iconWidth >= 12, `status icons have a size (${iconWidth}px)`);
    // The buttons are rendered custom elements, not unknown tags.
    const defined = await frame.evaluate(() =>
      ['vscode-button', 'vscode-badge', 'vscode-icon'].filter((t) => !customElements.get(t)),
    );
    assert.deepEqual(defined, [], 'the vscode-elements are defined');
    assert.equal(await frame.locator('vscode-button').count(), 3);

    await page.waitForTimeout(300); // let the last paint land
    await page.screenshot({ path: path.join(RESULTS, 'e2e-environment.png') });
    assert.deepEqual(consoleProblems, [], 'no CSP violations in the console');
  });

  it('Show Log opens the Modelyard output with the activation line', async () => {
    await runCommand(page, 'Modelyard: Show Log');
    const output = page.locator('.part.panel .monaco-editor .view-lines');
    await page.waitForFunction(
      () => {
        const el = document.querySelector<HTMLElement>('.part.panel .monaco-editor .view-lines');
        // Monaco renders spaces as no-break spaces.
        return !!el && /activated in/.test(el.innerText.replace(/\u00a0/g, ' '));
      },
      undefined,
      { timeout: 15_000 },
    );
    const text = (await output.innerText()).replace(/\u00a0/g, ' ');
    assert.match(text, /Modelyard/);
    assert.match(text, /Modelyard \S+ activated in [\d.]+ ms/);
    // The output view shows the Modelyard channel, not another one that happens to match.
    const channel = await page.locator('.part.panel .monaco-select-box, .part.panel select').evaluateAll((els) =>
      els.map((e) => (e instanceof HTMLSelectElement ? e.value : e.textContent)),
    );
    assert.ok(channel.some((c) => /Modelyard/.test(String(c))), `the Modelyard channel is selected: ${JSON.stringify(channel)}`);
  });

  it('opens a model as a card, runs it in the Playground, and benchmarks it', async () => {
    await quickOpen(page, 'hello_deepa.onnx');
    const card = await findFrame(page, '.stats', 30_000);
    assert.match(await card.locator('.stats').innerText(), /29\s*Nodes/);
    assert.match(await card.locator('table.grid').first().innerText(), /onnx::Flatten_0\s+float32\s+\[1, 25, 96\]/);
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-card.png') });

    await card.locator('#run').click();
    const pg = await findFrame(page, '.input-card', 30_000);
    await pg.locator('#run').click();
    const row = pg.locator('table.outputs tr[data-output="39"]');
    await row.waitFor({ timeout: 30_000 });
    assert.match(await row.innerText(), /float32\s+\[1, 1\]/);
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-playground.png') });

    await pg.locator('vscode-tab-header[data-tab="benchmark"]').click();
    await pg.locator('#bench').click();
    await pg.locator('figure.histogram').first().waitFor({ timeout: 60_000 });
    assert.match(await pg.locator('table.bench').innerText(), /auto\s+100\s+\d/);
    await pg.evaluate(() => document.querySelector('figure.histogram')?.scrollIntoView());
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-benchmark.png') });
    assert.deepEqual(consoleProblems, [], 'no CSP violations in the card or the Playground');
  });

  it('runs the voice activity detector on a WAV file chosen in the Playground', async () => {
    await runCommand(page, 'View: Hide Panel');
    await quickOpen(page, 'silero_vad_v5.onnx');
    // This card, not an earlier one whose frame may linger: its title names the file; Run… works once it has read it.
    const card = await findFrame(page, 'h1:has-text("silero_vad_v5.onnx")', 30_000);
    await card.locator('.stats').waitFor({ timeout: 30_000 });
    await card.locator('#run').click();
    const pg = await findFrame(page, '[data-input="state"]', 30_000);
    const input = pg.locator('[data-input="input"]');
    // The source select and the open length, as a user sets them (custom elements take their value and a change).
    await input.locator('vscode-single-select').first().evaluate((e) => {
      (e as unknown as { value: string }).value = 'wav';
      e.dispatchEvent(new Event('change'));
    });
    await input.locator('vscode-textfield.dim-field').nth(1).evaluate((e) => {
      (e as unknown as { value: string }).value = '512';
      e.dispatchEvent(new Event('change'));
    });
    // "Choose File…" opens VS Code's own file dialog (a quick input in this workbench): type the path, Enter.
    await pg.locator('[data-input="input"] .file vscode-button').click();
    const dialog = page.locator('.quick-input-widget input.input');
    await dialog.waitFor({ state: 'visible', timeout: 10_000 });
    // Type the file's path and press Enter, as a user would. The dialog reads the folder as the path is typed and may
    // take an Enter before it has: press again (with the path typed again) until it closes.
    const wavPath = path.join(folder, 'samples', 'voiced-32ms.wav');
    await dialog.fill(wavPath);
    for (let i = 0; i < 30 && (await dialog.isVisible()); i++) {
      await page.waitForTimeout(500);
      if (!(await dialog.isVisible())) break;
      if ((await dialog.inputValue().catch(() => wavPath)) !== wavPath) await dialog.fill(wavPath);
      await page.keyboard.press('Enter');
    }
    await dialog.waitFor({ state: 'hidden', timeout: 10_000 });
    await pg.locator('[data-input="input"] code.path', { hasText: 'voiced-32ms.wav' }).waitFor({ timeout: 10_000 });
    await pg.locator('#run').click();
    const row = pg.locator('table.outputs tr[data-output="output"]');
    await row.waitFor({ timeout: 30_000 });
    assert.match(await row.innerText(), /float32\s+\[1, 1\]/);
    const history = await pg.locator('table.outputs').innerText();
    assert.match(history, /stateN\s+float32\s+\[2, 1, 128\]/);
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-playground-wav.png') });
  });

  it('serves the model locally and checks the endpoint against a local run', async () => {
    await page.locator('.tab', { hasText: 'Playground: hello_deepa.onnx' }).click();
    const pg = await findFrame(page, '[data-input="onnx::Flatten_0"]', 30_000);
    await pg.locator('vscode-tab-header[data-tab="remote"]').click();
    await pg.locator('#serve').click();
    await page.locator('.statusbar-item', { hasText: /hello_deepa :\d+/ }).waitFor({ timeout: 30_000 });
    await pg.locator('.serving').waitFor({ timeout: 10_000 });
    await pg.locator('#remote').click();
    await pg.locator('.verdict.ok').waitFor({ timeout: 30_000 });
    // The page re-renders on each message: scroll from inside rather than through a handle that may be replaced.
    await pg.evaluate(() => document.querySelector('.verdict')?.scrollIntoView());
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-serve.png') });
    await runCommand(page, 'Modelyard: Stop Local Server');
    await page.locator('.statusbar-item', { hasText: /hello_deepa :\d+/ }).waitFor({ state: 'detached', timeout: 15_000 });
  });

  it('compares two registered versions from the Models tree', async () => {
    const modelsPane = page.locator('.part.sidebar .pane').filter({ has: page.locator('.pane-header', { hasText: /^Models/ }) });
    // The activity-bar icon toggles: click it only when the Models view is not showing.
    if (!(await modelsPane.isVisible())) await page.locator('.part.activitybar a.action-label[aria-label="Modelyard"]').click();
    const row = (name: RegExp) => modelsPane.locator('.monaco-list-row').filter({ has: page.locator('.label-name', { hasText: name }) }).first();
    if (!(await row(/^v1\.1\.0$/).isVisible())) await row(/^hello_deepa$/).click();
    await row(/^v1\.1\.0$/).click();
    await row(/^v1\.1\.0$/).click({ button: 'right' });
    const item = page.getByRole('menuitem', { name: 'Compare With…' });
    await item.waitFor({ timeout: 10_000 });
    await item.hover();
    await item.click();
    const pick = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'hello_deepa@v1.0.0' }).first();
    await pick.waitFor({ timeout: 15_000 }).catch(async (e: unknown) => {
      await page.screenshot({ path: path.join(RESULTS, 'e2e-compare-failed.png') });
      throw e;
    });
    await pick.click();
    // Several Playgrounds are open by now: the one comparing v1.1.0 with v1.0.0 is the one showing that target.
    const pg = await findFrame(page, 'code.target:has-text("hello_deepa@v1.0.0")', 30_000);
    await pg.locator('#compare').click();
    await pg.locator('.verdict').waitFor({ timeout: 60_000 });
    // v1.1.0 is v1.0.0 with one weight nudged by 2%: a real difference, reported against the tolerances.
    const table = await pg.locator('table.compare').innerText();
    assert.match(table, /^39\s/m);
    await pg.evaluate(() => document.querySelector('.verdict')?.scrollIntoView());
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-compare.png') });
  });

  it('quantizes a version from the Models tree with Auto, reads the report, registers it in one click, and sees the new model', async () => {
    const modelsPane = page.locator('.part.sidebar .pane').filter({ has: page.locator('.pane-header', { hasText: /^Models/ }) });
    if (!(await modelsPane.isVisible())) await page.locator('.part.activitybar a.action-label[aria-label="Modelyard"]').click();
    const row = (name: RegExp) => modelsPane.locator('.monaco-list-row').filter({ has: page.locator('.label-name', { hasText: name }) }).first();
    if (!(await row(/^v1\.0\.0$/).isVisible())) await row(/^hello_deepa$/).click();
    await row(/^v1\.0\.0$/).click();
    await row(/^v1\.0\.0$/).click({ button: 'right' });
    const item = page.getByRole('menuitem', { name: 'Quantize Model…' });
    await item.waitFor({ timeout: 10_000 });
    await item.hover();
    await item.click();
    const q = await findFrame(page, 'vscode-button.start', 30_000);
    assert.match(await q.locator('h1').innerText(), /Quantize hello_deepa@v1\.0\.0/);
    await q.locator('vscode-button.start').click();
    await q.locator('.verdict').waitFor({ timeout: 240_000 });
    const verdict = await q.locator('.verdict').innerText();
    assert.match(verdict, /Passes the fidelity gate/, verdict);
    assert.match(verdict, /Auto chose/);
    assert.ok((await q.locator('table.auto tbody tr').count()) >= 3, 'the forms Auto tried are listed');
    assert.match(await q.locator('table.decisions').innerText(), /Gemm/);
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-quantize-report.png') });

    // One click: the quantized model becomes a new artifact, first version v1.0.0 like its source.
    const name = (await q.locator('vscode-textfield.register-name').evaluate((e) => (e as unknown as { value: string }).value)).trim();
    assert.match(name, /^hello_deepa-(int8|int4|int8w|fp16)$/);
    await q.locator('vscode-button.register-button').click();
    await q.locator('.register.done').waitFor({ timeout: 30_000 });
    assert.match(await q.locator('.register.done').innerText(), new RegExp(`Registered ${escapeRe(name)}@v1\\.0\\.0`));
    const tagMessage = execFileSync('git', ['tag', '-l', '--format=%(contents)', `${name}@v1.0.0`], { cwd: folder, encoding: 'utf8' });
    assert.match(tagMessage, /quantized-from: hello_deepa@v1\.0\.0/);
    await q.locator('.register.done').scrollIntoViewIfNeeded();
    await row(new RegExp(`^${escapeRe(name)}$`)).waitFor({ timeout: 20_000 });
    await row(new RegExp(`^${escapeRe(name)}$`)).click();
    await page.waitForFunction(
      (n) => {
        const rows = [...document.querySelectorAll('.part.sidebar .monaco-list-row')];
        const i = rows.findIndex((r) => r.querySelector('.label-name')?.textContent === n);
        return i >= 0 && rows.slice(i + 1, i + 4).some((r) => r.querySelector('.label-name')?.textContent === 'v1.0.0');
      },
      name,
      { timeout: 20_000 },
    );
    await page.mouse.move(900, 700);
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-quantize-registered.png') });
  });

  it('runs the model tests from the Testing view', async () => {
    await runCommand(page, 'View: Show Testing');
    await page.locator('.part.sidebar .monaco-list-row', { hasText: 'voice-activity' }).first().waitFor({ timeout: 30_000 });
    await runCommand(page, 'Test: Run All Tests');
    await page.locator('.part.sidebar', { hasText: '5/5' }).waitFor({ timeout: 60_000 });
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-tests.png') });
  });

  it('offers Initialize Repository in a folder without git, and lists its model once the repository exists', async () => {
    const dir = plainFolder(work);
    const other = await browser!.newPage({ viewport: { width: 1440, height: 900 } });
    try {
      await other.goto(`${server!.url}?folder=${encodeURIComponent(dir)}`);
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
});

/** The registry name Modelyard derives from a fixture's file name (src/core/registry/tags.ts nameFromPath). */
function modelName(file: string): string {
  return file.replace(/\.onnx$/, '').replace(/\./g, '-');
}

/** Real registry tags, made with Modelyard's own core before VS Code starts, as a team's history would have them. */
async function seedRegistry(folder: string): Promise<void> {
  const env = { GIT_AUTHOR_NAME: 'Ada Modeler', GIT_AUTHOR_EMAIL: 'ada@example.com', GIT_COMMITTER_NAME: 'Ada Modeler', GIT_COMMITTER_EMAIL: 'ada@example.com' };
  Object.assign(process.env, env);
  await register(folder, 'hello_deepa', { version: 'v1.0.0', message: 'First wake-word model' });
  // "Retrained": the first weight of the first initializer nudged by 2%, a valid model that answers a little differently.
  const file = path.join(folder, 'models', 'wakeword', 'hello_deepa.onnx');
  const m = decodeModel(fs.readFileSync(file));
  const w = m.graph!.initializer.find((t) => t.rawData.length >= 4)!;
  const raw = Buffer.from(w.rawData);
  raw.writeFloatLE(raw.readFloatLE(0) * 1.02, 0);
  w.rawData = raw;
  fs.writeFileSync(file, encodeModel(m));
  execFileSync('git', ['commit', '-qam', 'Retrain the wake-word model'], { cwd: folder, env: { ...process.env, ...env } });
  await register(folder, 'hello_deepa', { version: 'v1.1.0', message: 'Retrained on more speakers' });
  await assign(folder, 'hello_deepa', 'prod', { version: 'v1.0.0', message: 'Passed the on-device test' });
  await assign(folder, 'hello_deepa', 'staging', { version: 'v1.1.0', message: 'Canary' });
  await register(folder, 'ch_PP-OCRv4_rec_infer', { version: 'v4.0.0', message: 'PP-OCRv4 recogniser' });
  await assign(folder, 'ch_PP-OCRv4_rec_infer', 'prod', { message: 'Reads the test set' });
}

/** A folder with a model and no git repository, for the Initialize Repository welcome. */
function plainFolder(work: string): string {
  const dir = path.join(work, 'no-git');
  fs.mkdirSync(path.join(dir, 'models'), { recursive: true });
  fs.copyFileSync(path.join(work, 'workspace', 'models', 'wakeword', 'hello_deepa.onnx'), path.join(dir, 'models', 'kws.onnx'));
  return dir;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The path segments of `file` inside the workspace (it sits in a models/ sub-folder). */
function findInWorkspace(root: string, file: string): string[] {
  for (const e of fs.readdirSync(root, { withFileTypes: true, recursive: true })) {
    const dir = path.relative(root, e.parentPath);
    if (e.isFile() && e.name === file && !dir.split(path.sep).includes('node_modules')) return [dir, file];
  }
  throw new Error(`${file} is not in the workspace`);
}

/** Drags the side bar's sash until the side bar is about `width` pixels wide, then moves the mouse out of the way. */
async function widenSidebar(page: Page, width: number): Promise<void> {
  const box = await page.locator('.part.sidebar').boundingBox();
  if (!box || box.width >= width) return;
  const x = box.x + box.width;
  const y = box.y + box.height / 2;
  await page.mouse.move(x, y);
  await page.mouse.down();
  await page.mouse.move(x + (width - box.width) / 2, y, { steps: 3 });
  await page.mouse.move(box.x + width, y, { steps: 3 });
  await page.mouse.up();
  await page.mouse.move(900, 700);
  await page.waitForTimeout(300);
}

/** Opens a file by name with Quick Open (Ctrl+P). */
async function quickOpen(page: Page, name: string): Promise<void> {
  await page.locator('.monaco-workbench').click({ position: { x: 700, y: 5 } }).catch(() => {});
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input.input');
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  await input.fill(name);
  await page.locator('.quick-input-widget .monaco-list-row', { hasText: name }).first().waitFor({ timeout: 15_000 });
  await page.keyboard.press('Enter');
  await input.waitFor({ state: 'hidden', timeout: 10_000 });
}

/** Runs a command from the command palette: F1, its title, Enter. */
async function runCommand(page: Page, title: string): Promise<void> {
  await page.locator('.monaco-workbench').click({ position: { x: 700, y: 5 } }).catch(() => {});
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input.input');
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  await input.fill(`>${title}`);
  const first = page.locator('.quick-input-widget .monaco-list-row').first();
  await first.waitFor({ timeout: 10_000 });
  await page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first().waitFor({ timeout: 10_000 });
  await page.keyboard.press('Enter');
  await input.waitFor({ state: 'hidden', timeout: 10_000 });
}

/** The webview frame holding `selector` (VS Code nests the content two iframes deep). */
async function findFrame(page: Page, selector: string, timeoutMs: number): Promise<Frame> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const f of page.frames()) {
      if (f === page.mainFrame()) continue;
      try {
        if (await f.$(selector)) return f;
      } catch {
        // a frame detached while we looked
      }
    }
    await page.waitForTimeout(200);
  }
  throw new Error(`no frame has ${selector} after ${timeoutMs / 1000} s`);
}
