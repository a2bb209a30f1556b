// `npm run bench`: prints figures, asserts nothing. Each figure is measured in this run, beside its baseline.
//   activation  — activate() inside the real extension host (code-server), from the extension's performance marks;
//                 baseline: loading onnxruntime-node in the same host, the cost that lazy loading keeps out of it.
//   bundles     — release build sizes against their goals.
//   registry    — loadRegistry at 5,000 tags beside a raw `git for-each-ref` (test/bench/registry.bench.ts), GTO as a peer.
//   inference   — InferenceHost (the shipped worker) beside onnxruntime-node in-process, per fixture model
//                 (test/bench/inference.bench.ts): the ratio for models of 5 ms or more, the ms added on the smallest.
//   summary     — summarizeFile on a 100 MB model beside reading and hashing the same file (test/bench/summary.bench.ts).
//   quantize    — Modelyard's quantizer beside onnxruntime.quantization and onnxconverter-common on the same models
//                 and samples (test/bench/quantize.bench.ts): MB/s, sizes, fidelity, latency, and the issue's goals.
//   V2 server   — throughput of `modelyard serve` beside in-process runs (test/bench/serve.bench.ts), and beside KServe's
//                 Python model server and MLServer on the same CPU budget, with a 10-minute soak
//                 (test/bench/serve-peers.bench.ts; MODELYARD_BENCH_SOAK_SECONDS sets the soak, 0 skips it).
//   deployment  — deploy to the smoke test on the test cluster, by phase; a re-deploy; beside kubectl apply + rollout status.
// The test/bench/*.bench.ts scripts run bundled by esbuild (CommonJS, Node 20), as dist/ bundles the core, by plain
// Node. MODELYARD_BENCH_GTO=0 skips the GTO peer (about two minutes); MODELYARD_BENCH_SECONDS sets the inference
// bench's seconds per path and model (default 4).
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import util from 'node:util';
import { ensureChromium } from './testenv.mjs';
import { REPO, launchChromium, startCodeServer, workbenchUrl } from './vscode-host.mjs';
import { makeTestWorkspace } from './workspace.mjs';

const RUNS = Number(process.env.MODELYARD_BENCH_RUNS ?? 5);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms) => `${ms.toFixed(2)} ms`;

/**
 * test/bench/NAME.ts bundled into out/bench/NAME.cjs: esbuild, CommonJS, Node 20, as dist/ bundles the core, so the
 * figures are the shipped code's and plain Node runs it without tsx. onnxruntime-node (native), esbuild (it builds
 * workers for tests) and autocannon stay in node_modules. The .mjs helpers of scripts/ name their own location with
 * import.meta.url, which CommonJS lacks: each gets its file's URL written in.
 */
async function benchBundle(name) {
  const outfile = path.join(REPO, 'out', 'bench', `${name}.cjs`);
  const importMetaUrl = {
    name: 'import-meta-url',
    setup(b) {
      b.onLoad({ filter: /\.mjs$/ }, async (a) => ({
        contents: (await fs.promises.readFile(a.path, 'utf8')).replaceAll('import.meta.url', JSON.stringify(pathToFileURL(a.path).href)),
        loader: 'js',
      }));
    },
  };
  await esbuild.build({
    entryPoints: [path.join(REPO, 'test', 'bench', `${name}.ts`)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['onnxruntime-node', 'esbuild', 'autocannon'],
    alias: { 'jsonc-parser': 'jsonc-parser/lib/esm/main.js' }, // as esbuild.mjs: its UMD main does not bundle
    plugins: [importMetaUrl],
    logLevel: 'error',
  });
  return outfile;
}

function build(args) {
  if (spawnSync(process.execPath, ['esbuild.mjs', ...args], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] }).status !== 0) {
    throw new Error('build failed');
  }
}

async function activationSamples() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-bench-'));
  const folder = makeTestWorkspace(path.join(work, 'workspace'));
  const browser = await launchChromium(ensureChromium());
  const samples = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      // A fresh server per sample: activation happens once per extension host.
      const server = await startCodeServer();
      try {
        const page = await browser.newPage();
        let sample;
        const done = new Promise((resolve) => page.exposeFunction('codeAutomationExit', resolve));
        await page.exposeFunction('codeAutomationLog', (_l, args) => {
          const text = util.format(...(Array.isArray(args) ? args : [args]));
          const m = /^BENCH (.*)$/m.exec(text);
          if (m) sample = JSON.parse(m[1]);
        });
        await page.goto(workbenchUrl(server, { folder, extensionPath: REPO, testsPath: path.join(REPO, 'out', 'test', 'bench', 'index') }));
        await Promise.race([done, new Promise((r) => setTimeout(r, 120_000).unref())]);
        await page.close();
        if (sample) samples.push(sample);
        else console.log(`  run ${i + 1}: no sample (the host did not report)`);
      } finally {
        await server.stop();
      }
    }
  } finally {
    await browser.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
  return samples;
}

console.log('Modelyard benchmark');
console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.versions.node}`);

// Bundles: the release build, as the VSIX ships it.
build(['--release']);
const meta = JSON.parse(fs.readFileSync(path.join(REPO, 'dist', 'meta.json'), 'utf8'));
const goals = { 'dist/extension.js': 300 * 1024 };
console.log('\nbundle sizes (release build)');
for (const [file, out] of Object.entries(meta)) {
  if (file.endsWith('.map')) continue;
  const goal = goals[file];
  console.log(`  ${file.padEnd(34)} ${(out.bytes / 1024).toFixed(1).padStart(7)} KB${goal ? `   goal ≤ ${goal / 1024} KB: ${(out.bytes / goal).toFixed(2)}× the goal` : ''}`);
}

// Activation, in a development build with the bench entry (the extension code is the same, unminified).
build(['--release', '--tests']);
console.log(`\nactivation inside the real extension host (code-server), ${RUNS} fresh hosts`);
const s = await activationSamples();
if (s.length) {
  const act = median(s.map((x) => x.activateMs));
  const evaluate = median(s.map((x) => x.evaluateMs));
  const gap = median(s.map((x) => x.hostGapMs));
  const ort = median(s.map((x) => x.ortLoadMs));
  const scan = median(s.map((x) => x.modelsScanMs));
  console.log(`  host: VS Code ${s[0].vscode}, Node ${s[0].node}`);
  console.log(`  activate()                       ${fmt(act).padStart(10)}   (samples: ${s.map((x) => x.activateMs.toFixed(2)).join(', ')})   goal < 30 ms: ${(act / 30).toFixed(2)}× the goal`);
  console.log(`  evaluating dist/extension.js     ${fmt(evaluate).padStart(10)}`);
  console.log(`  (VS Code's own gap between loading the bundle and calling activate(): ${fmt(gap)}, not ours)`);
  console.log(`  baseline: require onnxruntime-node in the same host ${fmt(ort)}; activate() costs ${(act / ort).toFixed(3)}× that`);
  console.log(`  first Models scan (6 models)     ${fmt(scan).padStart(10)}`);
} else {
  console.log('  no samples: see the messages above');
  process.exitCode = 1;
}

// Registry: loadRegistry on a generated repository (scripts/gen-registry-repo.mjs, cached in the temp folder) beside
// a raw `git for-each-ref` of the same tags, its memory, its counts checked against the generator, and GTO as a peer.
console.log('\nregistry: 2,000 commits, 200 models, 5,000 tags');
const registry = spawnSync(process.execPath, ['--expose-gc', await benchBundle('registry.bench')], { cwd: REPO, stdio: 'inherit' });
if (registry.status !== 0) process.exitCode = 1;

// Inference: onnxruntime-node's `session.run` in the bench's own process (the baseline) against InferenceHost with the
// release build's worker, on each fixture model, interleaved in pairs, both pinned to one CPU.
console.log('\ninference overhead: InferenceHost (dist/inference-worker.js) vs onnxruntime-node in-process, per fixture model');
const inference = spawnSync(
  process.execPath,
  [await benchBundle('inference.bench'), '--worker', path.join(REPO, 'dist', 'inference-worker.js'), '--seconds', process.env.MODELYARD_BENCH_SECONDS ?? '4'],
  { cwd: REPO, stdio: 'inherit' },
);
if (inference.status !== 0) process.exitCode = 1; // the two paths disagreed on an output: a bug

// Summary: summarizeFile on a 100 MB model beside reading and hashing the same file.
console.log('\nmodel summary: summarizeFile on a 100 MB model vs reading and hashing the file');
const summary = spawnSync(process.execPath, [await benchBundle('summary.bench')], { cwd: REPO, stdio: 'inherit' });
if (summary.status !== 0) process.exitCode = 1; // a wrong count or hash: a bug

// ---- Quantization vs the Python peers ----------------------------------------------------------------------------
console.log('');
// Deployment runs the CLI's cloud verbs, which need Node 22.19+: Node 24 from the test cache, and the test cluster.
const { ensureNode24 } = await import('./testenv.mjs');
const node24 = path.join(ensureNode24(), 'bin', 'node');
const dep = spawnSync(node24, [await benchBundle('deploy.bench')], { cwd: REPO, stdio: 'inherit', env: { ...process.env, MODELYARD_NODE24: node24 } });
if (dep.status !== 0) console.log(`  (deploy.bench exited with ${dep.status ?? dep.signal})`);

console.log('\nquantization (test/bench/quantize.bench.ts)');
const quant = spawnSync(process.execPath, [await benchBundle('quantize.bench'), '--worker', path.join(REPO, 'dist', 'inference-worker.js')], { cwd: REPO, stdio: 'inherit' });
if (quant.status !== 0) console.log(`  (quantize.bench exited with ${quant.status ?? quant.signal})`);

// ---- V2 server throughput ---------------------------------------------------------------------------------------
// test/bench/serve.bench.ts: requests/s of `modelyard serve` against in-process runs and a null HTTP server.
console.log('\nV2 server throughput (test/bench/serve.bench.ts)');
const serve = spawnSync(process.execPath, [await benchBundle('serve.bench')], { cwd: REPO, stdio: 'inherit' });
if (serve.status !== 0) console.log(`  (serve.bench exited with ${serve.status ?? serve.signal})`);

// ---- The V2 server beside its peers ----------------------------------------------------------------------------
// test/bench/serve-peers.bench.ts: modelyard, KServe's Python model server and MLServer on the same models, each
// pinned to one CPU, wrk on the other; then the long soak (MODELYARD_BENCH_SOAK_SECONDS, default 600; 0 skips it).
// The peers' venvs come from PyPI on first use (about 2 minutes), wrk from apt.
console.log('\nThe V2 server beside KServe and MLServer (test/bench/serve-peers.bench.ts)');
let wrkReady = true;
try {
  (await import('./testenv.mjs')).ensureAptPackages(['wrk']);
} catch (e) {
  wrkReady = false;
  console.log(`  skipped: ${e.message ?? e}`);
}
if (wrkReady) {
  const peersBundle = await benchBundle('serve-peers.bench');
  const env = { ...process.env, MODELYARD_NODE24: node24 };
  const peers = spawnSync(process.execPath, [peersBundle], { cwd: REPO, stdio: 'inherit', env });
  if (peers.status !== 0) console.log(`  (serve-peers.bench exited with ${peers.status ?? peers.signal})`);
  const soakSeconds = process.env.MODELYARD_BENCH_SOAK_SECONDS ?? '600';
  if (Number(soakSeconds) > 0) {
    const soak = spawnSync(process.execPath, [peersBundle, '--soak', soakSeconds], { cwd: REPO, stdio: 'inherit', env });
    if (soak.status !== 0) console.log(`  (the soak exited with ${soak.status ?? soak.signal})`);
  }
}
