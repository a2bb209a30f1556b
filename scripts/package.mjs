// Builds a platform-specific VSIX with a working onnxruntime-node inside, pruned to one platform's binaries.
//   node scripts/package.mjs                      the current platform (e.g. linux-x64)
//   node scripts/package.mjs --target linux-arm64 another one (a vsce target that onnxruntime-node ships for)
//   node scripts/package.mjs --out DIR            where the VSIX goes (default: the repository root)
//   node scripts/package.mjs --keep-staging       leave the staging folder in place (its path is printed)
//   node scripts/package.mjs --icon               (re)make media/modelyard.png from media/modelyard.svg
// Prints the VSIX path and size. Importable: `await packageVsix({ target })` returns { vsix, bytes, ms, target }.
//
// How: a release build (esbuild.mjs --release), then a staging folder in a temporary directory holding only what the
// extension needs at run time (package.json, README/CHANGELOG/LICENSE if present, dist/ without maps and meta.json,
// media/, node_modules/onnxruntime-node and onnxruntime-common), then vsce, run in the staging folder.
//
// Why vsce runs with npm dependency detection (not --no-dependencies): with --no-dependencies vsce never looks into
// node_modules/ at all (its file walk ignores node_modules/** in that mode), so onnxruntime-node would be left out.
// With detection on, vsce asks `npm list --production --parseable` in the staging folder, which must then describe a
// complete tree: the staged onnxruntime-node's package.json therefore drops `adm-zip` and `global-agent`, which only
// its install script (script/install.js, removed here too) requires; dist/*.js needs only onnxruntime-common.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/** vsce target → onnxruntime-node's bin/napi-v6/<platform>/<arch>. Only the binaries onnxruntime-node 1.30 ships. */
export const TARGETS = {
  'linux-x64': ['linux', 'x64'],
  'linux-arm64': ['linux', 'arm64'],
  'darwin-arm64': ['darwin', 'arm64'],
  'win32-x64': ['win32', 'x64'],
  'win32-arm64': ['win32', 'arm64'],
};

/** onnxruntime-node's runtime dependencies; the others in its package.json serve its install script only. */
const ORT_RUNTIME_DEPS = ['onnxruntime-common'];
const ORT_INSTALL_ONLY_DEPS = ['adm-zip', 'global-agent'];

function log(msg) {
  console.log(`[package] ${msg}`);
}

function mb(bytes) {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  if (r.status !== 0) {
    throw new Error(`${path.basename(cmd)} ${args.join(' ')} failed (exit ${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
  }
  return r.stdout + r.stderr;
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function writeJson(file, value) {
  fs.writeFileSync(file, JSON.stringify(value, null, 2) + '\n');
}

/** The default target: this machine's platform and architecture. */
export function currentTarget() {
  return `${process.platform}-${process.arch}`;
}

/**
 * media/modelyard.png (the Marketplace icon package.json names) from media/modelyard.svg: the outline drawn in a light
 * colour on a dark rounded square, 128×128, rendered by Chromium through playwright-core. Only made when missing.
 */
export async function ensureIcon({ force = false } = {}) {
  const png = path.join(REPO, 'media', 'modelyard.png');
  if (fs.existsSync(png) && !force) return png;
  const svg = fs
    .readFileSync(path.join(REPO, 'media', 'modelyard.svg'), 'utf8')
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/width="24" height="24"/, 'width="88" height="88"');
  const { chromium } = await import('playwright-core');
  const { ensureChromium } = await import('./testenv.mjs');
  const browser = await chromium.launch({ executablePath: ensureChromium(), headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage({ viewport: { width: 128, height: 128 }, deviceScaleFactor: 1 });
    await page.setContent(`<!DOCTYPE html><html><head><style>
      html, body { margin: 0; width: 128px; height: 128px; background: transparent; }
      .tile { box-sizing: border-box; width: 128px; height: 128px; border-radius: 24px; display: flex; align-items: center;
              justify-content: center; color: #e6edf3; background: linear-gradient(160deg, #2b3a4f 0%, #17202c 100%); }
      svg { display: block; }
    </style></head><body><div class="tile">${svg}</div></body></html>`);
    await page.screenshot({ path: png, omitBackground: true, clip: { x: 0, y: 0, width: 128, height: 128 } });
  } finally {
    await browser.close();
  }
  log(`made ${path.relative(REPO, png)} from media/modelyard.svg`);
  return png;
}

function copyTree(from, to, filter = () => true) {
  fs.cpSync(from, to, { recursive: true, filter: (src) => filter(path.relative(from, src).split(path.sep).join('/'), src) });
}

/** Copies what the VSIX needs at run time into `stage`. */
function stageFiles(stage, target) {
  const manifest = readJson(path.join(REPO, 'package.json'));
  fs.copyFileSync(path.join(REPO, 'package.json'), path.join(stage, 'package.json'));
  for (const f of ['README.md', 'CHANGELOG.md', 'LICENSE', 'LICENSE.md', 'LICENSE.txt']) {
    if (fs.existsSync(path.join(REPO, f))) fs.copyFileSync(path.join(REPO, f), path.join(stage, f));
  }
  const readmeImages = stageReadmeImages(stage);
  copyTree(path.join(REPO, 'dist'), path.join(stage, 'dist'), (rel) => !rel.endsWith('.map') && rel !== 'meta.json');
  copyTree(path.join(REPO, 'media'), path.join(stage, 'media'));

  // onnxruntime-node: its JS, its package.json without the install hook, and one platform's binaries.
  const ortSrc = path.join(REPO, 'node_modules', 'onnxruntime-node');
  const ortPkg = readJson(path.join(ortSrc, 'package.json'));
  const declared = Object.keys(ortPkg.dependencies ?? {});
  const unexpected = declared.filter((d) => !ORT_RUNTIME_DEPS.includes(d) && !ORT_INSTALL_ONLY_DEPS.includes(d));
  if (unexpected.length) {
    throw new Error(`onnxruntime-node ${ortPkg.version} depends on ${unexpected.join(', ')}: check whether its dist/ needs them at run time, then update ORT_RUNTIME_DEPS`);
  }
  const ortDist = fs.readdirSync(path.join(ortSrc, 'dist')).filter((f) => f.endsWith('.js'));
  for (const f of ortDist) {
    const js = fs.readFileSync(path.join(ortSrc, 'dist', f), 'utf8');
    for (const d of ORT_INSTALL_ONLY_DEPS) {
      if (js.includes(`require("${d}")`) || js.includes(`require('${d}')`)) throw new Error(`onnxruntime-node/dist/${f} requires ${d} at run time`);
    }
  }
  const [plat, arch] = TARGETS[target];
  const ortDst = path.join(stage, 'node_modules', 'onnxruntime-node');
  copyTree(ortSrc, ortDst, (rel) => {
    if (rel === 'script' || rel.startsWith('script/')) return false; // the postinstall downloader
    if (rel === 'lib' || rel.startsWith('lib/')) return false; // TypeScript sources
    if (rel.endsWith('.map')) return false;
    const m = /^bin\/napi-v6\/([^/]+)(?:\/([^/]+))?/.exec(rel);
    if (m && (m[1] !== plat || (m[2] !== undefined && m[2] !== arch))) return false;
    return true;
  });
  const binDir = path.join(ortDst, 'bin', 'napi-v6', plat, arch);
  if (!fs.existsSync(path.join(binDir, 'onnxruntime_binding.node'))) {
    throw new Error(`onnxruntime-node ${ortPkg.version} has no binary for ${target} (${path.relative(stage, binDir)})`);
  }
  const stagedOrtPkg = { ...ortPkg, scripts: { ...(ortPkg.scripts ?? {}) } };
  delete stagedOrtPkg.scripts.postinstall;
  stagedOrtPkg.dependencies = Object.fromEntries(Object.entries(ortPkg.dependencies ?? {}).filter(([d]) => ORT_RUNTIME_DEPS.includes(d)));
  writeJson(path.join(ortDst, 'package.json'), stagedOrtPkg);

  for (const dep of ORT_RUNTIME_DEPS) {
    const src = path.join(REPO, 'node_modules', dep);
    const depPkg = readJson(path.join(src, 'package.json'));
    if (depPkg.dependencies && Object.keys(depPkg.dependencies).length) {
      throw new Error(`${dep} now has dependencies (${Object.keys(depPkg.dependencies).join(', ')}): stage them too`);
    }
    copyTree(src, path.join(stage, 'node_modules', dep), (rel) => !(rel === 'lib' || rel.startsWith('lib/')) && !rel.endsWith('.map'));
  }
  if (!Object.keys(manifest.dependencies ?? {}).every((d) => d === 'onnxruntime-node')) {
    throw new Error(`package.json has dependencies besides onnxruntime-node (${Object.keys(manifest.dependencies).join(', ')}): stage them in scripts/package.mjs`);
  }

  // vsce also reads .vscodeignore: the staging folder already holds only what ships, so this only keeps strays out.
  fs.writeFileSync(path.join(stage, '.vscodeignore'), ['**/*.map', '**/*.ts', '!**/*.d.ts', '**/.npmrc', '**/tsconfig*.json', ''].join('\n'));
  return { ortVersion: ortPkg.version, readmeImages };
}

/**
 * The images README.md shows by relative path (docs/screenshots/…): copied into the VSIX when they exist, so that
 * VS Code's extension page, which resolves relative links against the installed extension, shows them.
 */
function stageReadmeImages(stage) {
  const readme = path.join(REPO, 'README.md');
  if (!fs.existsSync(readme)) return { copied: [], missing: [] };
  const md = fs.readFileSync(readme, 'utf8');
  const refs = new Set();
  for (const m of md.matchAll(/!\[[^\]]*\]\(\s*(?:<([^>]+)>|([^)\s]+))(?:\s+"[^"]*")?\s*\)|<img[^>]+src="([^"]+)"/g)) refs.add(m[1] ?? m[2] ?? m[3]);
  const copied = [];
  const missing = [];
  for (const ref of refs) {
    if (/^([a-z]+:|#|\/)/i.test(ref)) continue; // absolute URLs, data: and anchors
    let rel = ref.split(/[?#]/)[0];
    try {
      rel = decodeURI(rel);
    } catch {
      // not percent-encoded after all
    }
    const from = path.resolve(REPO, rel);
    if (!from.startsWith(REPO + path.sep)) continue;
    if (!fs.existsSync(from)) {
      missing.push(rel);
      continue;
    }
    fs.mkdirSync(path.dirname(path.join(stage, rel)), { recursive: true });
    fs.copyFileSync(from, path.join(stage, rel));
    copied.push(rel);
  }
  return { copied, missing };
}

/** When the target is this machine: loads the staged onnxruntime-node in a fresh Node and checks its version. */
function checkStagedRuntime(stage, target, ortVersion) {
  if (target !== currentTarget()) return false;
  const code = `const o = require(${JSON.stringify(path.join(stage, 'node_modules', 'onnxruntime-node'))}); process.stdout.write(o.env.versions.node);`;
  const got = run(process.execPath, ['-e', code], { cwd: os.tmpdir() }).trim();
  if (got !== ortVersion) throw new Error(`the staged onnxruntime-node reports version '${got}', expected ${ortVersion}`);
  return true;
}

/** Lists the VSIX (with `unzip -Z1`) and checks that the target's binaries, and no other platform's, are inside. */
function verifyVsix(vsix, target) {
  const r = spawnSync('unzip', ['-Z1', vsix], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (r.error || r.status !== 0) return undefined; // no unzip here: nothing to check with
  const entries = r.stdout.split('\n').filter(Boolean);
  const [plat, arch] = TARGETS[target];
  const bin = `extension/node_modules/onnxruntime-node/bin/napi-v6/${plat}/${arch}/`;
  const need = ['extension/package.json', 'extension/dist/extension.js', 'extension/dist/heavy.js', 'extension/dist/inference-worker.js', 'extension/dist/cli.js', 'extension/dist/cli-cloud.js', 'extension/dist/grpc-js.js', 'extension/dist/webview/playground.js', 'extension/dist/webview/card.js', 'extension/node_modules/onnxruntime-common/package.json', `${bin}onnxruntime_binding.node`];
  const missing = need.filter((e) => !entries.includes(e));
  if (!entries.some((e) => e.startsWith(bin) && /onnxruntime\.(so|dll|.*dylib)|libonnxruntime/.test(e.slice(bin.length)))) missing.push(`${bin}<onnxruntime library>`);
  const foreign = entries.filter((e) => e.startsWith('extension/node_modules/onnxruntime-node/bin/') && !e.startsWith(bin));
  const strays = entries.filter((e) => /\.map$|\/script\/|dist\/meta\.json$/.test(e));
  if (missing.length || foreign.length || strays.length) {
    throw new Error(`the VSIX is wrong:${missing.length ? `\n  missing: ${missing.join(', ')}` : ''}${foreign.length ? `\n  other platforms: ${foreign.join(', ')}` : ''}${strays.length ? `\n  should not ship: ${strays.join(', ')}` : ''}`);
  }
  return entries.length;
}

/** Sums the size of every file under `dir`. */
function treeSize(dir) {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += fs.statSync(path.join(e.parentPath ?? e.path, e.name)).size;
  }
  return total;
}

export async function packageVsix({ target = currentTarget(), outDir = REPO, keepStaging = false, quiet = false } = {}) {
  if (!TARGETS[target]) {
    throw new Error(`no onnxruntime-node binaries for target '${target}': use one of ${Object.keys(TARGETS).join(', ')}`);
  }
  const t0 = Date.now();
  const say = quiet ? () => {} : log;
  const manifest = readJson(path.join(REPO, 'package.json'));

  let t = Date.now();
  run(process.execPath, ['esbuild.mjs', '--release'], { cwd: REPO });
  say(`release build: ${Date.now() - t} ms`);

  if (manifest.icon) {
    t = Date.now();
    await ensureIcon();
    if (Date.now() - t > 50) say(`icon: ${Date.now() - t} ms`);
  }

  t = Date.now();
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-package-'));
  try {
    const { ortVersion, readmeImages } = stageFiles(stage, target);
    say(`staged ${mb(treeSize(stage))} (onnxruntime-node ${ortVersion}, ${target} binaries only) in ${Date.now() - t} ms`);
    if (readmeImages.copied.length) say(`README images: ${readmeImages.copied.join(', ')}`);
    if (readmeImages.missing.length) say(`warning: README.md shows images that do not exist: ${readmeImages.missing.join(', ')}`);
    if (checkStagedRuntime(stage, target, ortVersion)) say(`the staged onnxruntime-node ${ortVersion} loads in Node ${process.versions.node}`);

    t = Date.now();
    fs.mkdirSync(outDir, { recursive: true });
    const vsix = path.join(outDir, `${manifest.name}-${manifest.version}-${target}.vsix`);
    fs.rmSync(vsix, { force: true });
    const vsce = path.join(REPO, 'node_modules', '@vscode', 'vsce', 'vsce');
    const args = [vsce, 'package', '--target', target, '--out', vsix, '--allow-missing-repository'];
    if (!['LICENSE', 'LICENSE.md', 'LICENSE.txt'].some((f) => fs.existsSync(path.join(stage, f)))) args.push('--skip-license');
    // Without a repository URL vsce cannot turn README's relative links into absolute ones and refuses to package:
    // keep them relative (they resolve inside the installed extension, where the images are staged).
    if (!manifest.repository) args.push('--no-rewrite-relative-links');
    const out = run(process.execPath, args, { cwd: stage, env: { ...process.env, npm_config_update_notifier: 'false' } });
    if (!quiet) for (const line of out.trim().split('\n')) if (/WARNING|warning/.test(line)) console.log(`[vsce] ${line}`);
    say(`vsce: ${Date.now() - t} ms`);
    const entries = verifyVsix(vsix, target);
    say(entries === undefined ? 'unzip not found: VSIX contents not checked' : `checked the VSIX listing: ${entries} entries, ${target} binaries only`);
    const bytes = fs.statSync(vsix).size;
    const ms = Date.now() - t0;
    say(`${vsix} (${mb(bytes)}) in ${(ms / 1000).toFixed(1)} s`);
    return { vsix, bytes, ms, target, stage: keepStaging ? stage : undefined };
  } finally {
    if (!keepStaging) fs.rmSync(stage, { recursive: true, force: true });
    else say(`staging folder kept: ${stage}`);
  }
}

async function main(argv) {
  const opt = (name) => {
    const i = argv.indexOf(name);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (!v || v.startsWith('--')) throw new Error(`${name} needs a value`);
    return v;
  };
  if (argv.includes('--icon')) {
    await ensureIcon({ force: true });
    return;
  }
  const out = opt('--out');
  const r = await packageVsix({ target: opt('--target'), outDir: out ? path.resolve(out) : REPO, keepStaging: argv.includes('--keep-staging') });
  console.log(`${r.vsix} ${mb(r.bytes)}`);
}

// No top-level await: the e2e tests import this module from TypeScript compiled to CommonJS.
if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(`[package] ${e instanceof Error ? e.message : e}`);
    process.exitCode = 1;
  });
}
