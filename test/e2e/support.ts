// What every e2e feature shares: one code-server with the packaged VSIX installed, one Chromium page on a workspace
// with the fixture models and a seeded registry (started once for the whole suite: test/e2e/index.ts), and the ways a
// user drives the workbench (Quick Open, the command palette, the Models tree, a webview's frame).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before } from 'node:test';
import type { Browser, ConsoleMessage, Frame, Locator, Page } from 'playwright-core';
import { assign, register } from '../../src/core/registry/write';
import { decodeModel, encodeModel } from '../../src/core/onnx/model';

export const REPO = path.resolve(__dirname, '..', '..');

/** What these tests use from the repository's scripts/*.mjs (plain JavaScript, imported at run time). */
export interface Server {
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

export const RESULTS = path.join(REPO, 'test-results');
export const models = (JSON.parse(fs.readFileSync(path.join(REPO, 'test', 'fixtures', 'models.json'), 'utf8')) as { models: { file: string }[] }).models;
export const ortVersion = (JSON.parse(fs.readFileSync(path.join(REPO, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')) as { version: string }).version;
const verbose = !!process.env.MODELYARD_VERBOSE;

/** The size the Models view shows for a file: the same rule as src/core/util/format.ts (powers of 1024). */
export function shownSize(bytes: number): string {
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

/** The workbench the features drive; its fields are set once the suite's `before` has started it. */
export interface Workbench {
  /** The temporary folder holding the workspace (and what tests add beside it). */
  work: string;
  /** The workspace: a git repository with the fixture models, sample inputs, model tests and registry tags. */
  folder: string;
  vsix: string;
  server: Server;
  browser: Browser;
  page: Page;
  /** Console errors and CSP violations from every frame, the webviews' included. */
  consoleProblems: string[];
}

/**
 * Starts the workbench before the tests of the calling describe() and stops it after them: packages the VSIX,
 * installs it into code-server, seeds the workspace's registry and opens the workbench in Chromium.
 */
export function workbench(): Workbench {
  const wb = { consoleProblems: [] as string[] } as Workbench;
  let server: Server | undefined;
  let browser: Browser | undefined;
  before(async () => {
    const t0 = Date.now();
    fs.mkdirSync(RESULTS, { recursive: true });
    const { packageVsix, ensureChromium, launchChromium, startCodeServer, makeTestWorkspaceWithTests } = await loadScripts();
    const packaged = await packageVsix({ quiet: true });
    wb.vsix = packaged.vsix;
    console.log(`# packaged ${path.basename(wb.vsix)} (${(packaged.bytes / 1024 / 1024).toFixed(1)} MB) in ${ms(t0)}`);
    const work = (wb.work = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-e2e-')));
    const folder = (wb.folder = await makeTestWorkspaceWithTests(path.join(work, 'workspace')));
    await seedRegistry(folder);
    const t1 = Date.now();
    server = await startCodeServer({
      installVsix: [wb.vsix],
      smokeTestDriver: false,
      log: (l: string) => verbose && console.log(`[code-server] ${l}`),
    });
    wb.server = server;
    const installed = fs.readdirSync(server.dirs.extensions).filter((d) => d.startsWith('modelyard.modelyard-'));
    assert.equal(installed.length, 1, `the VSIX is installed in ${server.dirs.extensions}`);
    console.log(`# code-server up with the VSIX installed in ${ms(t1)}`);
    wb.browser = browser = await launchChromium(ensureChromium());
    const page = (wb.page = await browser.newPage({ viewport: { width: 1440, height: 900 } }));
    page.on('console', (m: ConsoleMessage) => {
      const text = m.text();
      if (/Content Security Policy|Refused to (load|apply|execute|connect)/i.test(text)) wb.consoleProblems.push(`[${m.type()}] ${text}`);
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
    if (wb.work) fs.rmSync(wb.work, { recursive: true, force: true });
  });
  return wb;
}

/** The registry name Modelyard derives from a fixture's file name (src/core/registry/tags.ts nameFromPath). */
export function modelName(file: string): string {
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
export function plainFolder(work: string): string {
  const dir = path.join(work, 'no-git');
  fs.mkdirSync(path.join(dir, 'models'), { recursive: true });
  fs.copyFileSync(path.join(work, 'workspace', 'models', 'wakeword', 'hello_deepa.onnx'), path.join(dir, 'models', 'kws.onnx'));
  return dir;
}

export function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The path segments of `file` inside the workspace (it sits in a models/ sub-folder). */
export function findInWorkspace(root: string, file: string): string[] {
  for (const e of fs.readdirSync(root, { withFileTypes: true, recursive: true })) {
    const dir = path.relative(root, e.parentPath);
    if (e.isFile() && e.name === file && !dir.split(path.sep).includes('node_modules')) return [dir, file];
  }
  throw new Error(`${file} is not in the workspace`);
}

/** Drags the side bar's sash until the side bar is about `width` pixels wide, then moves the mouse out of the way. */
export async function widenSidebar(page: Page, width: number): Promise<void> {
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
export async function quickOpen(page: Page, name: string): Promise<void> {
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
export async function runCommand(page: Page, title: string): Promise<void> {
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
export async function findFrame(page: Page, selector: string, timeoutMs: number): Promise<Frame> {
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

/** The Models view, and a row of its tree by its label (the first that matches). */
export function modelsTree(page: Page): { pane: Locator; row: (name: string | RegExp) => Locator } {
  const pane = page.locator('.part.sidebar .pane').filter({ has: page.locator('.pane-header', { hasText: /^Models/ }) });
  return { pane, row: (name) => pane.locator('.monaco-list-row').filter({ has: page.locator('.label-name', { hasText: name }) }).first() };
}

/** Shows the Models view: the activity-bar icon toggles, so it is clicked only when the view is not showing. */
export async function showModels(page: Page): Promise<void> {
  if (!(await modelsTree(page).pane.isVisible())) await page.locator('.part.activitybar a.action-label[aria-label="Modelyard"]').click();
}
