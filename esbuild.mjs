// Builds every bundle of Modelyard.
//   node esbuild.mjs            development build (sourcemaps)
//   node esbuild.mjs --release  minified, no sourcemaps (what the VSIX ships)
//   node esbuild.mjs --watch    rebuild on change
//   node esbuild.mjs --tests    also the integration suite (out/test/suite/index.js)
import * as esbuild from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';

const release = process.argv.includes('--release');
const watch = process.argv.includes('--watch');
const tests = process.argv.includes('--tests') || watch;
const root = path.dirname(new URL(import.meta.url).pathname);

/** Packages that must stay outside the bundles: the VS Code API, and onnxruntime-node (a native addon). */
const nodeExternals = ['vscode', 'onnxruntime-node', 'mocha'];

const common = {
  bundle: true,
  minify: release,
  sourcemap: release ? false : 'linked',
  sourcesContent: false,
  legalComments: release ? 'none' : 'inline',
  logLevel: 'warning',
  metafile: true,
  // jsonc-parser's main is a UMD build whose require() calls esbuild cannot follow: bundle its ES modules instead.
  alias: { 'jsonc-parser': 'jsonc-parser/lib/esm/main.js' },
  define: {
    'process.env.MODELYARD_RELEASE': JSON.stringify(release ? '1' : ''),
    MODELYARD_VERSION: JSON.stringify(JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version),
  },
};

/** @type {esbuild.BuildOptions[]} */
const targets = [
  {
    // Each entry is a bundle of its own (no code splitting in CommonJS):
    //   extension         what VS Code loads and activates
    //   heavy             what only some commands need, loaded on first use (src/extension/heavy/load.ts)
    //   inference-worker  the child process that owns onnxruntime-node: inference never runs in the extension host
    ...common,
    entryPoints: { extension: 'src/extension/main.ts', heavy: 'src/extension/heavy/index.ts', 'inference-worker': 'src/core/inference/worker.ts' },
    outdir: 'dist',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: nodeExternals,
  },
  {
    ...common,
    // cli-cloud: the deployment and delivery verbs (the Kubernetes client, the AWS SDK), loaded by cli.js on use.
    // grpc-js: @grpc/grpc-js, loaded by `serve --grpc-port` (src/cli/grpc-js.ts).
    entryPoints: { cli: 'src/cli/main.ts', 'cli-cloud': 'src/cli/cloud.ts', 'grpc-js': 'src/cli/grpc-js.ts' },
    outdir: 'dist',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: nodeExternals,
    banner: { js: '#!/usr/bin/env node' },
  },
  {
    ...common,
    entryPoints: { environment: 'webview/environment/main.ts', history: 'webview/history/main.ts', playground: 'webview/playground/main.ts', card: 'webview/card/main.ts', quantize: 'webview/quantize/main.ts', deploy: 'webview/deploy/main.ts' },
    outdir: 'dist/webview',
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    loader: { '.ttf': 'file' },
  },
];

if (tests) {
  targets.push({
    ...common,
    minify: false,
    sourcemap: 'inline',
    entryPoints: [
      'test/integration/index.ts',
      ...fs.readdirSync(path.join(root, 'test', 'integration')).filter((f) => f.endsWith('.test.ts')).map((f) => `test/integration/${f}`),
    ],
    outdir: 'out/test/suite',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: nodeExternals,
  });
  targets.push({
    ...common,
    minify: false,
    sourcemap: false,
    entryPoints: { index: 'test/bench/host.ts' },
    outdir: 'out/test/bench',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: nodeExternals,
  });
}

/** The codicon font and stylesheet, for <vscode-icon> in the webviews. */
function copyCodicons() {
  const src = path.join(root, 'node_modules', '@vscode', 'codicons', 'dist');
  const dst = path.join(root, 'dist', 'webview');
  fs.mkdirSync(dst, { recursive: true });
  for (const f of ['codicon.css', 'codicon.ttf']) fs.copyFileSync(path.join(src, f), path.join(dst, f));
}

function report(results) {
  for (const r of results) {
    for (const [file, out] of Object.entries(r.metafile.outputs)) {
      if (file.endsWith('.map')) continue;
      console.log(`  ${file.padEnd(36)} ${(out.bytes / 1024).toFixed(1).padStart(8)} KB`);
    }
  }
}

const t0 = Date.now();
if (watch) {
  for (const t of targets) {
    const ctx = await esbuild.context(t);
    await ctx.watch();
  }
  copyCodicons();
  console.log('[esbuild] watching for changes …');
} else {
  fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
  // Only what this build writes: other tools keep their own folders under out/ (test workers, bench bundles).
  if (tests) for (const d of ['suite', 'bench']) fs.rmSync(path.join(root, 'out', 'test', d), { recursive: true, force: true });
  const results = await Promise.all(targets.map((t) => esbuild.build(t)));
  copyCodicons();
  fs.chmodSync(path.join(root, 'dist', 'cli.js'), 0o755);
  console.log(`[esbuild] ${release ? 'release' : 'development'} build in ${Date.now() - t0} ms`);
  report(results);
  fs.writeFileSync(
    path.join(root, 'dist', 'meta.json'),
    JSON.stringify(Object.assign({}, ...results.map((r) => r.metafile.outputs)), null, 0),
  );
}
