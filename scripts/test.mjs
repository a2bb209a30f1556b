// The test tiers. `node scripts/test.mjs all|unit|integration|e2e|electron`.
// Each tier prints a closing line "<tier>: N passed, N failed"; `all` adds them up in a last line of the same form.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import util from 'node:util';
import { REPO, launchChromium, startCodeServer, workbenchUrl } from './vscode-host.mjs';
import { ensurePythonRefs, ensureTritonClient } from './pyrefs.mjs';
import { cacheRoot, ensureChromium, ensureCodeServer, ensureNode24 } from './testenv.mjs';
import { makeTestWorkspace, makeTestWorkspaceWithTests } from './workspace.mjs';

const results = [];

function step(name, fn) {
  const t0 = Date.now();
  return Promise.resolve(fn()).finally(() => console.log(`[test] ${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`));
}

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: REPO, stdio: 'inherit', ...opts });
  return r.status ?? 1;
}

function build(extra = []) {
  if (sh(process.execPath, ['esbuild.mjs', ...extra]) !== 0) throw new Error('build failed');
}

/** Counts passes and failures from the TAP-like summary of node's test runner. */
function nodeTestSummary(output) {
  const pass = /^# pass (\d+)/m.exec(output);
  const fail = /^# fail (\d+)/m.exec(output);
  const skip = /^# skipped (\d+)/m.exec(output);
  return { passed: Number(pass?.[1] ?? 0), failed: Number(fail?.[1] ?? 0), skipped: Number(skip?.[1] ?? 0) };
}

function runNodeTests(tier, files, env = {}) {
  // Node 24, the Node the editor runs the CLI with (code-server's; desktop VS Code 1.107+ has 22): the deployment verbs
  // need 22.19 or later (the Kubernetes client's HTTP client), and the tests spawn the CLI with the Node they run on.
  const node = path.join(ensureNode24(), 'bin', 'node');
  const r = spawnSync(node, ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', '--test-reporter-destination=' + path.join(REPO, 'test-results', `${tier}.tap`), ...files], {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const tap = fs.readFileSync(path.join(REPO, 'test-results', `${tier}.tap`), 'utf8');
  const s = nodeTestSummary(tap);
  if (r.status !== 0 && s.failed === 0) s.failed = 1; // the runner itself failed
  results.push({ tier, ...s });
  console.log(`${tier}: ${s.passed} passed, ${s.failed} failed${s.skipped ? `, ${s.skipped} skipped` : ''}`);
}

/**
 * The failed tests of this run's node --test tiers again, each with its file and error, at the very end of the
 * output: a CI log that keeps only its tail still says why.
 */
function printFailures() {
  for (const r of results) {
    const file = path.join(REPO, 'test-results', `${r.tier}.tap`);
    if (!r.failed || !fs.existsSync(file)) continue;
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const m = /^(\s*)not ok \d+ - (.*)$/.exec(lines[i]);
      if (!m) continue;
      const block = [];
      for (let j = i + 1; j < lines.length && lines[j].trim() !== '...'; j++) block.push(lines[j]);
      if (block.some((l) => /failureType: 'subtestsFailed'/.test(l))) continue;
      // The test's own line: the first frame of the stack in a test file (the location is the transpiled one's).
      const frame = block.find((l) => /\(.*\/test\/.*:\d+:\d+\)/.test(l));
      const location = frame ? /\((.*)\)/.exec(frame)[1].replace(REPO + path.sep, '') : undefined;
      const start = block.findIndex((l) => /^\s*error:/.test(l));
      const error = [];
      if (start >= 0) {
        const first = block[start].replace(/^\s*error:\s*(\|-)?\s*/, '');
        if (first) error.push(first);
        const indent = /^\s*/.exec(block[start])[0].length;
        for (let j = start + 1; j < block.length && (/^\s*$/.test(block[j]) || /^\s*/.exec(block[j])[0].length > indent); j++) error.push(block[j].trim());
      }
      console.log(`\n[test] ${r.tier} failed: ${m[2]}${location ? ` (${location})` : ''}`);
      for (const l of error.filter(Boolean).slice(0, 40)) console.log(`  ${l.slice(0, 400)}`);
    }
  }
}

function listTests(dir, suffix) {
  return fs
    .readdirSync(path.join(REPO, dir))
    .filter((f) => f.endsWith(suffix))
    .sort()
    .map((f) => path.join(dir, f));
}

/** The cluster this run started (so that it stops it at the end), if any. */
let startedCluster = false;

/**
 * The test cluster (scripts/cluster.mjs), up before the deploy tests start: built once (about 11 minutes cold,
 * cached by versions), started in about 20 s. Its failure fails those tests; it is stopped again at the end of the
 * run when this run started it.
 */
async function ensureCluster() {
  const cluster = await import('./cluster/index.mjs');
  const st = await cluster.status();
  if (st.allUp) return;
  const t0 = Date.now();
  await cluster.up({ quiet: !process.env.MODELYARD_VERBOSE });
  startedCluster = true;
  console.log(`[test] cluster up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

async function stopCluster() {
  if (!startedCluster || process.env.MODELYARD_KEEP_CLUSTER) return;
  const cluster = await import('./cluster/index.mjs');
  await cluster.down({ quiet: true });
  console.log('[test] cluster stopped (MODELYARD_KEEP_CLUSTER=1 keeps it)');
}

async function unit() {
  build();
  // Once, before the test files start: several of them need the Python references, and node --test may run them
  // in parallel processes, which must not all build the same virtual environment at once. The same for the cluster.
  ensurePythonRefs();
  ensureTritonClient();
  try {
    await ensureCluster();
  } catch (e) {
    // The deploy tests then fail by themselves, each saying that the cluster did not start.
    console.error(`[test] the test cluster did not start: ${e instanceof Error ? e.message : e}`);
  }
  runNodeTests('unit', listTests('test/unit', '.test.ts'));
}

/**
 * What the editor under test needs to deploy to the test cluster (its variables, the serving image of this
 * checkout, the bucket), or {} when the cluster is not up: the deploy tests then fail, saying so.
 */
async function clusterEnv() {
  try {
    await ensureCluster();
  } catch (e) {
    console.error(`[test] the test cluster did not start: ${e instanceof Error ? e.message : e}`);
    return {};
  }
  const r = spawnSync(path.join(ensureNode24(), 'bin', 'node'), ['--import', 'tsx', path.join('test', 'support', 'cluster-env.ts')], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return r.status === 0 ? JSON.parse(r.stdout) : {};
}

/** The mocha suite inside the real extension host of code-server, driven by Chromium. */
async function integration() {
  build(['--tests']);
  ensureCodeServer();
  const chromiumPath = ensureChromium();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-it-'));
  const folder = await makeTestWorkspaceWithTests(path.join(work, 'workspace'));
  // The cluster's variables reach the tests as MODELYARD_TEST_*; KUBECONFIG is left out, so that the extension finds
  // no kubeconfig until a test names one in the setting modelyard.deploy.kubeconfig. The extension host gets a fresh
  // HOME: the cache (where the test cluster's kubeconfig is) is named explicitly.
  const { KUBECONFIG: _kubeconfig, ...env } = await clusterEnv();
  const server = await startCodeServer({ env: { ...env, MODELYARD_CACHE: cacheRoot() }, log: (l) => process.env.MODELYARD_VERBOSE && console.log(`[code-server] ${l}`) });
  const browser = await launchChromium(chromiumPath);
  let passed = 0;
  let failed = 0;
  try {
    const page = await browser.newPage();
    const done = new Promise((resolve) => page.exposeFunction('codeAutomationExit', (code) => resolve(code)));
    await page.exposeFunction('codeAutomationLog', (_level, args) => {
      const text = util.format(...(Array.isArray(args) ? args : [args]));
      // The workbench logs its own attempts to reach the extension gallery, which this closed network refuses.
      if (!process.env.MODELYARD_VERBOSE && /ENOTFOUND|^\s+at |AccountPolicyGate|AgentHost|Service Worker|socket|connection token|grace time|builtin extensions cache|authentication provider/.test(text)) return;
      process.stdout.write(text.endsWith('\n') ? text : text + '\n');
      const m = /^integration: (\d+) passed, (\d+) failed/m.exec(text);
      if (m) {
        passed = Number(m[1]);
        failed = Number(m[2]);
      }
    });
    page.on('pageerror', (e) => process.env.MODELYARD_VERBOSE && console.log(`[page] ${e.message}`));
    await page.goto(workbenchUrl(server, { folder, extensionPath: REPO, testsPath: path.join(REPO, 'out', 'test', 'suite', 'index') }));
    const timeout = new Promise((resolve) => setTimeout(() => resolve('timeout'), 10 * 60_000).unref());
    const code = await Promise.race([done, timeout]);
    if (code === 'timeout') {
      console.log('integration: the suite did not finish within 10 minutes');
      failed = Math.max(failed, 1);
    } else if (code !== 0 && failed === 0) {
      console.log(`integration: the extension host exited with code ${code}`);
      failed = 1;
    }
  } finally {
    await browser.close();
    await server.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
  results.push({ tier: 'integration', passed, failed, skipped: 0 });
}

/**
 * The e2e features (test/e2e/*.e2e.ts) run as one suite, test/e2e/index.ts, on one code-server and one Chromium:
 * they follow one another on the same workbench. A feature file the suite does not import would never run.
 */
async function e2e() {
  const suite = fs.readFileSync(path.join(REPO, 'test', 'e2e', 'index.ts'), 'utf8');
  const missing = listTests('test/e2e', '.e2e.ts').filter((f) => !suite.includes(`from './${path.basename(f, '.ts')}'`));
  if (missing.length) throw new Error(`test/e2e/index.ts does not run ${missing.join(', ')}`);
  // The deploy feature deploys to the test cluster (test/support/cluster.ts prepares it, the image included).
  await ensureCluster().catch((e) => console.error(`[test] the test cluster did not start: ${e instanceof Error ? e.message : e}`));
  runNodeTests('e2e', ['test/e2e/index.ts']);
}

/** The same suite through @vscode/test-electron: downloads desktop VS Code, so it needs internet. */
async function electron() {
  build(['--tests']);
  const { runTests } = await import('@vscode/test-electron');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-it-'));
  const folder = makeTestWorkspace(path.join(work, 'workspace'));
  await runTests({
    extensionDevelopmentPath: REPO,
    extensionTestsPath: path.join(REPO, 'out', 'test', 'suite', 'index'),
    launchArgs: [folder, '--disable-extensions', '--disable-workspace-trust'],
  });
}

/**
 * The ONNX conformance suites (test/conformance/*.ts): each script checks over a thousand cases and prints
 * "<suite>: N passed, N failed"; each script counts as one test here, its case counts are printed beside it.
 */
async function conformance() {
  const scripts = fs.readdirSync(path.join(REPO, 'test', 'conformance')).filter((f) => /^[a-z-]+\.ts$/.test(f) && f !== 'cases.ts').sort();
  let passed = 0;
  let failed = 0;
  for (const f of scripts) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join('test', 'conformance', f)], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
    process.stdout.write(r.stdout);
    if (r.status === 0) passed++;
    else failed++;
  }
  results.push({ tier: 'conformance', passed, failed, skipped: 0 });
  console.log(`conformance: ${passed} passed, ${failed} failed`);
}

/** Type-check and lint: a failure here is counted as one failed check. */
async function check() {
  const code = sh('npm', ['run', '--silent', 'check']);
  results.push({ tier: 'check', passed: code === 0 ? 1 : 0, failed: code === 0 ? 0 : 1, skipped: 0 });
  console.log(`check: ${code === 0 ? 1 : 0} passed, ${code === 0 ? 0 : 1} failed`);
}

const tiers = { check, unit, conformance, integration, e2e, electron };
const which = process.argv[2] ?? 'all';
fs.mkdirSync(path.join(REPO, 'test-results'), { recursive: true });
const t0 = Date.now();
/** Runs one tier; a tier that throws counts as one failure and the next tier still runs. */
async function runTier(t) {
  try {
    await step(t, tiers[t]);
  } catch (e) {
    console.error(`[test] ${t}: ${e instanceof Error ? e.message : e}`);
    results.push({ tier: t, passed: 0, failed: 1, skipped: 0 });
  }
}
if (which === 'all') {
  for (const t of ['check', 'unit', 'conformance', 'integration', 'e2e']) await runTier(t);
} else if (tiers[which]) {
  await runTier(which);
} else {
  console.error(`unknown tier '${which}': use all, check, unit, conformance, integration, e2e or electron`);
  process.exit(1);
}
await stopCluster();
printFailures();
const total = results.reduce((a, r) => ({ passed: a.passed + r.passed, failed: a.failed + r.failed, skipped: a.skipped + r.skipped }), { passed: 0, failed: 0, skipped: 0 });
if (which === 'all') {
  for (const r of results) console.log(`  ${r.tier.padEnd(12)} ${r.passed} passed, ${r.failed} failed`);
  console.log(`[test] all tiers in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`${total.passed} passed, ${total.failed} failed${total.skipped ? `, ${total.skipped} skipped` : ''}`);
}
process.exitCode = total.failed > 0 || (which !== 'electron' && total.passed === 0) ? 1 : 0;
