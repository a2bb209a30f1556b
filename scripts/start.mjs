// The main job: builds Modelyard, creates a demo model repository, and opens it in a real VS Code with Modelyard
// loaded. Ctrl-C stops everything it started.
//   npm start                     code-server in your browser (prints the URL)
//   npm start -- --desktop        desktop VS Code (`code` on PATH) instead
//   npm start -- --fresh          recreate the demo repository
//   npm start -- --port 8080      a fixed port
//   npm start -- --smoke          start, check in headless Chromium that the Models view shows the demo, screenshot, stop
//   npm start -- --cluster        also bring up the local test cluster (scripts/cluster.mjs) as a deploy target: its
//                                 kubeconfig and store keys reach the editor, the serving image of this checkout is
//                                 pushed to it and the demo's settings name it; the first build takes about 11 minutes
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cacheRoot, ensureChromium, ensureNode24 } from './testenv.mjs';
import { REPO, launchChromium, startCodeServer, workbenchUrl } from './vscode-host.mjs';
import { makeDemoRepository } from './workspace.mjs';

const { values: opts } = parseArgs({
  options: {
    desktop: { type: 'boolean', default: false },
    fresh: { type: 'boolean', default: false },
    port: { type: 'string' },
    smoke: { type: 'boolean', default: false },
    cluster: { type: 'boolean', default: false },
  },
});

function say(msg) {
  console.log(`[modelyard] ${msg}`);
}

const t0 = Date.now();
say('building …');
if (spawnSync(process.execPath, ['esbuild.mjs'], { cwd: REPO, stdio: 'inherit' }).status !== 0) process.exit(1);

// Versioned: a demo made by an older Modelyard is recreated, not reused.
const demo = path.join(cacheRoot(), 'demo-repo-3');
if (opts.fresh) fs.rmSync(demo, { recursive: true, force: true });
if (!fs.existsSync(path.join(demo, '.git'))) {
  say(`creating the demo model repository in ${demo} …`);
  await makeDemoRepository(demo);
}

if (opts.desktop) {
  const which = spawnSync('code', ['--version'], { encoding: 'utf8' });
  if (which.status !== 0) {
    console.error('[modelyard] desktop VS Code (`code`) is not on PATH. Install it, or run `npm start` without --desktop.');
    process.exit(1);
  }
  say(`opening ${demo} in VS Code ${which.stdout.split('\n')[0]} with Modelyard under development`);
  spawn('code', ['--new-window', `--extensionDevelopmentPath=${REPO}`, demo], { stdio: 'inherit', detached: true }).unref();
  process.exit(0);
}

let clusterStarted = false;
if (opts.cluster) {
  const cluster = await import('./cluster/index.mjs');
  const st = await cluster.status();
  if (!st.allUp) {
    say('bringing up the test cluster (the first time builds it: about 11 minutes) …');
    await cluster.up({ quiet: false });
    clusterStarted = true;
  }
  const env = cluster.env();
  // What the editor's deploy commands (and a terminal in it) use: the kubeconfig, and the object store's keys.
  process.env.KUBECONFIG = env.KUBECONFIG;
  process.env.AWS_ACCESS_KEY_ID = env.MODELYARD_TEST_S3_WRITER_ACCESS_KEY;
  process.env.AWS_SECRET_ACCESS_KEY = env.MODELYARD_TEST_S3_WRITER_SECRET_KEY;
  say(`test cluster: context ${env.MODELYARD_TEST_KUBE_CONTEXT}, kubeconfig ${env.KUBECONFIG}, registry ${env.MODELYARD_TEST_REGISTRY}, S3 ${env.MODELYARD_TEST_S3_ENDPOINT} (pods: ${env.MODELYARD_TEST_S3_POD_ENDPOINT})`);
  // One click to deploy from the demo: Modelyard's serving image built from this checkout and pushed to the cluster's
  // registry, a bucket, and the target's storage in the demo's settings (the keys stay in the environment above).
  say('building the serving image of this checkout for the cluster …');
  const r = spawnSync(path.join(ensureNode24(), 'bin', 'node'), ['--import', 'tsx', path.join('test', 'support', 'cluster-env.ts')], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status === 0) {
    const ce = JSON.parse(r.stdout);
    const file = path.join(demo, '.vscode', 'settings.json');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const settings = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
    settings['modelyard.deploy.image'] = ce.MODELYARD_TEST_IMAGE;
    settings['modelyard.deploy.targets'] = {
      ...settings['modelyard.deploy.targets'],
      [ce.MODELYARD_TEST_KUBE_CONTEXT]: { namespace: 'default', storage: `s3://${ce.MODELYARD_TEST_BUCKET}/demo`, s3Endpoint: ce.MODELYARD_TEST_S3_ENDPOINT, s3PodEndpoint: ce.MODELYARD_TEST_S3_POD_ENDPOINT, stage: 'prod' },
    };
    fs.writeFileSync(file, JSON.stringify(settings, null, 2) + '\n');
    say(`deploy target ready: image ${ce.MODELYARD_TEST_IMAGE}, storage s3://${ce.MODELYARD_TEST_BUCKET}/demo (in ${file})`);
  } else say('the serving image could not be built: deploys from the demo need an image (the setting modelyard.deploy.image).');
}

const server = await startCodeServer({
  stateDir: path.join(cacheRoot(), 'demo-state'),
  ...(opts.port ? { port: Number(opts.port) } : {}),
  log: (l) => process.env.MODELYARD_VERBOSE && console.log(`[code-server] ${l}`),
});
const url = workbenchUrl(server, { folder: demo, extensionPath: REPO });
let stopping = false;
async function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  say('stopping code-server …');
  await server.stop();
  if (clusterStarted) {
    say('stopping the test cluster …');
    await (await import('./cluster/index.mjs')).down({ quiet: true });
  }
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
server.exited.then((c) => {
  if (!stopping) {
    console.error(`[modelyard] code-server exited (${c})`);
    process.exit(1);
  }
});

say(`ready in ${((Date.now() - t0) / 1000).toFixed(1)} s. Open this URL in a browser (Chromium or Chrome):\n\n  ${url}\n`);
say('Modelyard is loaded from this checkout: run `npm run watch` beside it and reload the window to see changes.');
say('Press Ctrl-C to stop.');

if (opts.smoke) {
  const browser = await launchChromium(ensureChromium());
  let ok = false;
  try {
    const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
    await page.goto(url);
    await page.locator('.activitybar [aria-label^="Modelyard"]').first().click({ timeout: 60_000 });
    for (const name of ['wakeword', 'text-recognizer', 'voice-activity']) {
      await page.locator(`.monaco-list-row[aria-label*="${name}"]`).first().waitFor({ timeout: 30_000 });
    }
    // Expand the voice activity detector: two versions, both stages on v2.0.0.
    await page.locator('.monaco-list-row[aria-label*="voice-activity"]').first().click();
    await page.locator('.monaco-list-row .label-name', { hasText: /^v2\.0\.0$/ }).first().waitFor({ timeout: 10_000 });
    await page.locator('.monaco-list-row .label-name', { hasText: /^v1\.0\.0$/ }).first().waitFor({ timeout: 10_000 });
    await page.mouse.move(900, 700);
    fs.mkdirSync(path.join(REPO, 'test-results'), { recursive: true });
    await page.screenshot({ path: path.join(REPO, 'test-results', 'demo.png') });
    ok = true;
    say('smoke check passed: the Models view lists the demo models (test-results/demo.png)');
  } catch (e) {
    console.error(`[modelyard] smoke check failed: ${e instanceof Error ? e.message : e}`);
  } finally {
    await browser.close();
    await stop(ok ? 0 : 1);
  }
}
