// The release bundles of the CLI (cli.js, cli-cloud.js, grpc-js.js) and the inference worker, as `node esbuild.mjs --release` makes
// them, in a folder of this test process (dist/ is rewritten by parallel builds): out/release-test/<pid>/{package.json,
// dist/…}; onnxruntime-node resolves from the repository's node_modules above it. What the serving image is built from.
import * as esbuild from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
let releaseDir: string | undefined;

export function releaseDist(): string {
  if (releaseDir) return releaseDir;
  const dir = path.join(root, 'out', 'release-test', String(process.pid));
  fs.mkdirSync(path.join(dir, 'dist'), { recursive: true });
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
  const common: esbuild.BuildOptions = {
    bundle: true,
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode', 'onnxruntime-node'],
    alias: { 'jsonc-parser': 'jsonc-parser/lib/esm/main.js' }, // as esbuild.mjs: its UMD main does not bundle
    logLevel: 'warning',
    outdir: path.join(dir, 'dist'),
    define: { 'process.env.MODELYARD_RELEASE': '"1"', MODELYARD_VERSION: JSON.stringify(pkg.version) },
  };
  const src = (...p: string[]) => path.join(root, 'src', ...p);
  esbuild.buildSync({ ...common, entryPoints: { cli: src('cli', 'main.ts'), 'cli-cloud': src('cli', 'cloud.ts'), 'grpc-js': src('cli', 'grpc-js.ts') }, banner: { js: '#!/usr/bin/env node' } });
  esbuild.buildSync({ ...common, entryPoints: { 'inference-worker': src('core', 'inference', 'worker.ts') } });
  fs.copyFileSync(path.join(root, 'package.json'), path.join(dir, 'package.json'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  releaseDir = path.join(dir, 'dist');
  return releaseDir;
}
