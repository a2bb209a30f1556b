/**
 * The serving image: `modelyard serve` (the Open Inference Protocol server) as an OCI image for a cluster's platform,
 * built without a Docker daemon and reproducible (the same inputs give the same digest).
 *
 * The base image's manifest and config are read for the platform; its layers are never downloaded — the pushed
 * manifest lists them by digest, and they are mounted (same registry) or copied blob by blob only when the target
 * repository lacks them. ONE layer is added under /opt/modelyard: package.json, dist/cli.js, dist/cli-cloud.js,
 * dist/inference-worker.js, dist/grpc-js.js, and onnxruntime-node + onnxruntime-common with only the target's Linux natives.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CancelledError, UserError } from '../../errors';
import { nullLogger, type Logger } from '../../log';
import { sourceDateEpoch, treeEntries, writeLayer, type Layer, type LayerEntry } from './layers';
import {
  MEDIA,
  RegistryClient,
  formatPlatform,
  formatReference,
  parsePlatform,
  parseReference,
  sha256,
  type Descriptor,
  type ImageConfigJson,
  type ImageReference,
  type Platform,
} from './registry';

export { DEFAULT_BASE } from './defaults';
import { DEFAULT_BASE } from './defaults';
export const APP_DIR = '/opt/modelyard';
export const ENTRYPOINT = ['node', `${APP_DIR}/dist/cli.js`];
/**
 * The bundles of dist/ the image runs: the CLI, its cloud verbs (fetch-model, serve from s3://), the inference worker,
 * the gRPC transport.
 */
export const APP_FILES = ['cli.js', 'cli-cloud.js', 'inference-worker.js', 'grpc-js.js'] as const;
/**
 * REST on 8080 and gRPC on 8081, as KServe's runtimes listen; as many server processes as the container's CPU quota
 * (`docker run --cpus 2`: 2); the log as JSON lines, what cluster log collectors parse.
 */
export const CMD = ['serve', '/mnt/models', '--host', '0.0.0.0', '--port', '8080', '--grpc-port', '8081', '--processes', 'auto', '--log', 'json'];
/** The label the deploy pre-flight reads to know which onnxruntime serves the model. */
export const ONNXRUNTIME_LABEL = 'dev.modelyard.onnxruntime';

/** The platforms onnxruntime-node ships Linux natives for: image platform → its bin/napi-v6/linux/<arch>. */
export const SUPPORTED_PLATFORMS: Record<string, string> = { 'linux/amd64': 'x64', 'linux/arm64': 'arm64' };

export interface BuildProgress {
  message: string;
  fraction?: number;
}

export interface BuildOptions {
  /** The base image (default node:24-slim from Docker Hub); it must hold `node` on its PATH. */
  base?: string;
  /** linux/amd64 or linux/arm64. */
  platform: string;
  /** Where to push: REGISTRY/REPO:TAG. */
  push: string;
  /** Allow plain http:// to registries that are not on a loopback address. */
  insecure?: boolean;
  /** The built dist/ folder (cli.js, inference-worker.js); package.json is beside it, onnxruntime-node found from it. */
  distDir: string;
  onProgress?: (p: BuildProgress) => void;
  signal?: AbortSignal;
  log?: Logger;
  /** The Docker config with `auths` (default: $DOCKER_CONFIG/config.json or ~/.docker/config.json). */
  dockerConfig?: string;
  /** Where the app layer is written (default: a temporary folder, removed afterwards). */
  workDir?: string;
}

export interface BuildResult {
  /** REGISTRY/REPO:TAG@sha256:… */
  reference: string;
  /** The manifest's digest. */
  digest: string;
  /** Bytes of the image as pushed: manifest, config and every (compressed) layer. */
  size: number;
  platform: string;
  /** onnxruntime-node's version inside. */
  onnxruntime: string;
  base: { reference: string; digest: string };
  appLayer: { digest: string; diffId: string; size: number; tarSize: number; entries: number };
  /** Layers uploaded, mounted or already there. */
  blobs: { uploaded: number; mounted: number; present: number };
}

interface AppSources {
  root: string;
  version: string;
  name: string;
  license?: string;
  ortDir: string;
  ortVersion: string;
  commonDir: string;
}

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
}

/** `dir/node_modules/NAME`, walking up from `from` as Node's resolution does. */
function findPackage(name: string, from: string): string | undefined {
  for (let d = path.resolve(from); ; d = path.dirname(d)) {
    const p = path.join(d, 'node_modules', name);
    if (fs.existsSync(path.join(p, 'package.json'))) return p;
    if (path.dirname(d) === d) return undefined;
  }
}

function appSources(distDir: string): AppSources {
  const root = path.dirname(path.resolve(distDir));
  for (const f of APP_FILES) {
    if (!fs.existsSync(path.join(distDir, f))) {
      throw new UserError(`${path.join(distDir, f)} does not exist: the serving image needs the built CLI.`, 'Build it first: npm run build:release (node esbuild.mjs --release).');
    }
  }
  const pkgFile = path.join(root, 'package.json');
  if (!fs.existsSync(pkgFile)) throw new UserError(`${pkgFile} does not exist beside ${distDir}.`, 'Run from a Modelyard checkout or install.');
  const pkg = readJson(pkgFile);
  const ortDir = findPackage('onnxruntime-node', root);
  if (!ortDir) throw new UserError(`onnxruntime-node is not installed beside ${root}.`, 'Run npm ci (or npm install) in the Modelyard folder.');
  const commonDir = findPackage('onnxruntime-common', ortDir);
  if (!commonDir) throw new UserError(`onnxruntime-common (onnxruntime-node's dependency) is not installed beside ${ortDir}.`, 'Run npm ci again.');
  return {
    root,
    name: String(pkg.name ?? 'modelyard'),
    version: String(pkg.version ?? '0.0.0'),
    ...(typeof pkg.license === 'string' ? { license: pkg.license } : {}),
    ortDir,
    ortVersion: String(readJson(path.join(ortDir, 'package.json')).version),
    commonDir,
  };
}

/** onnxruntime-node's dependencies used only by its install script (never required by dist/). */
const ORT_INSTALL_ONLY = ['adm-zip', 'global-agent'];
/** GPU provider libraries a CUDA install may have added: never in the image. */
const GPU_FILE = /cuda|tensorrt|providers_(?!shared)/i;

/** The app layer's entries for one architecture (x64 or arm64). */
export function appEntries(src: AppSources, arch: string): LayerEntry[] {
  const ortBin = `bin/napi-v6/linux/${arch}`;
  if (!fs.existsSync(path.join(src.ortDir, ortBin, 'onnxruntime_binding.node'))) {
    throw new UserError(
      `onnxruntime-node ${src.ortVersion} at ${src.ortDir} has no linux/${arch} natives (${ortBin}).`,
      'Use a full npm install of onnxruntime-node (a per-platform VSIX keeps only its own platform).',
    );
  }
  const pkg = {
    name: src.name,
    version: src.version,
    description: 'Modelyard serving image: the Open Inference Protocol (KServe V2) server over onnxruntime-node.',
    ...(src.license ? { license: src.license } : {}),
    private: true,
    main: 'dist/cli.js',
    bin: { modelyard: 'dist/cli.js' },
    dependencies: { 'onnxruntime-node': src.ortVersion },
  };
  const ortPkg = readJson(path.join(src.ortDir, 'package.json')) as { scripts?: Record<string, string>; dependencies?: Record<string, string> };
  const scripts = { ...(ortPkg.scripts ?? {}) };
  delete scripts.postinstall;
  const ortPkgOut = { ...ortPkg, scripts, dependencies: Object.fromEntries(Object.entries(ortPkg.dependencies ?? {}).filter(([d]) => !ORT_INSTALL_ONLY.includes(d))) };
  const dir = APP_DIR.slice(1);
  const dist = path.join(src.root, 'dist');
  return [
    { path: `${dir}/package.json`, type: 'file', data: JSON.stringify(pkg, null, 2) + '\n' },
    { path: `${dir}/dist/cli.js`, type: 'file', source: path.join(dist, 'cli.js'), mode: 0o755 },
    ...APP_FILES.filter((f) => f !== 'cli.js').map((f) => ({ path: `${dir}/dist/${f}`, type: 'file' as const, source: path.join(dist, f), mode: 0o644 })),
    ...treeEntries(src.ortDir, `${dir}/node_modules/onnxruntime-node`, (rel, isDir) => {
      if (rel === 'package.json') return false; // written below, without the install hook
      if (rel === 'script' || rel === 'lib' || rel === 'node_modules') return false;
      if (!isDir && (rel.endsWith('.map') || (rel.endsWith('.ts') && !rel.endsWith('.d.ts')))) return false;
      if (rel.startsWith('bin/')) {
        // bin, bin/napi-v6, bin/napi-v6/linux and bin/napi-v6/linux/<arch>/… only
        const keep = ['bin', 'bin/napi-v6', 'bin/napi-v6/linux', ortBin].some((p) => rel === p || p.startsWith(`${rel}/`)) || rel.startsWith(`${ortBin}/`);
        if (!keep) return false;
        if (!isDir && GPU_FILE.test(path.basename(rel))) return false;
      }
      return true;
    }),
    { path: `${dir}/node_modules/onnxruntime-node/package.json`, type: 'file', data: JSON.stringify(ortPkgOut, null, 2) + '\n' },
    ...treeEntries(src.commonDir, `${dir}/node_modules/onnxruntime-common`, (rel, isDir) => {
      if (rel === 'lib' || rel === 'node_modules') return false;
      return isDir || !(rel.endsWith('.map') || (rel.endsWith('.ts') && !rel.endsWith('.d.ts')));
    }),
  ];
}

function isoDate(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

/** The new image's config: the base's, with the app's entrypoint, command, port, labels, layer and history. */
export function imageConfig(base: ImageConfigJson, layer: Pick<Layer, 'diffId'>, labels: Record<string, string>, created: string): ImageConfigJson {
  const baseCfg = base.config ?? {};
  const exposed = { ...((baseCfg.ExposedPorts as Record<string, object> | undefined) ?? {}), '8080/tcp': {}, '8081/tcp': {} };
  const config = {
    ...baseCfg,
    Env: baseCfg.Env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    Entrypoint: ENTRYPOINT,
    Cmd: CMD,
    WorkingDir: APP_DIR,
    ExposedPorts: exposed,
    Labels: { ...(baseCfg.Labels ?? {}), ...labels },
  };
  return {
    created,
    architecture: base.architecture,
    os: base.os,
    ...(base.variant ? { variant: base.variant } : {}),
    config,
    rootfs: { type: 'layers', diff_ids: [...base.rootfs.diff_ids, layer.diffId] },
    history: [
      ...(base.history ?? []),
      { created, created_by: `modelyard image build: ${APP_DIR} (modelyard ${labels['org.opencontainers.image.version']}, onnxruntime-node ${labels[ONNXRUNTIME_LABEL]})`, comment: 'modelyard' },
    ],
  };
}

function checkAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new CancelledError();
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** Builds the serving image for one platform on `base` and pushes it to `push`. */
export async function buildServingImage(opts: BuildOptions): Promise<BuildResult> {
  const log = opts.log ?? nullLogger;
  const progress = (message: string, fraction?: number) => {
    log.info(`image: ${message}`);
    opts.onProgress?.({ message, ...(fraction !== undefined ? { fraction: Math.max(0, Math.min(1, fraction)) } : {}) });
  };
  const platform: Platform = parsePlatform(opts.platform);
  const platformText = formatPlatform({ os: platform.os, architecture: platform.architecture });
  const arch = SUPPORTED_PLATFORMS[platformText];
  if (!arch || (platform.variant && !(platform.architecture === 'arm64' && platform.variant === 'v8'))) {
    throw new UserError(
      `the serving image cannot be built for ${opts.platform}: onnxruntime-node ships Linux natives for ${Object.keys(SUPPORTED_PLATFORMS).join(' and ')} only.`,
      'Use --platform linux/amd64 or --platform linux/arm64.',
    );
  }
  const baseRef = parseReference(opts.base ?? DEFAULT_BASE);
  const target = parseReference(opts.push);
  if (target.digest) throw new UserError(`--push ${opts.push} names a digest; push to a tag.`, 'Write it as REGISTRY/REPO:TAG.');
  const targetRef: ImageReference = { registry: target.registry, repository: target.repository, tag: target.tag ?? 'latest' };
  const src = appSources(opts.distDir);
  const client = new RegistryClient({ ...(opts.insecure ? { insecure: true } : {}), ...(opts.dockerConfig ? { dockerConfig: opts.dockerConfig } : {}), log, ...(opts.signal ? { signal: opts.signal } : {}) });

  // 1. The base, for the platform: manifest and config only.
  progress(`reading ${formatReference(baseRef)} for ${platformText}`, 0);
  const base = await client.platformImage(baseRef, platform);
  const baseLayers = base.manifest.json.layers ?? [];
  if (baseLayers.length !== base.config.rootfs.diff_ids.length) {
    throw new UserError(`${formatReference(baseRef)} lists ${baseLayers.length} layers but its config ${base.config.rootfs.diff_ids.length}.`, 'Use another base image.');
  }
  checkAborted(opts.signal);

  // 2. The app layer.
  const work = opts.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-image-'));
  try {
    progress(`writing the app layer (modelyard ${src.version}, onnxruntime-node ${src.ortVersion} for linux/${arch})`, 0.05);
    const epoch = sourceDateEpoch();
    const layer = await writeLayer(appEntries(src, arch), path.join(work, `app-${arch}.tar.gz`), { mtime: epoch, ...(opts.signal ? { signal: opts.signal } : {}) });
    log.info(`image: app layer ${layer.digest} (${mb(layer.size)}, ${mb(layer.tarSize)} uncompressed, ${layer.entries} entries)`);

    // 3. Config and manifest, in the base's manifest format.
    const docker = base.manifest.mediaType === MEDIA.dockerManifest;
    const labels = {
      'org.opencontainers.image.title': 'modelyard-server',
      'org.opencontainers.image.version': src.version,
      [ONNXRUNTIME_LABEL]: src.ortVersion,
    };
    const configBytes = Buffer.from(JSON.stringify(imageConfig(base.config, layer, labels, isoDate(epoch))));
    const configDigest = sha256(configBytes);
    const layers: Descriptor[] = [...baseLayers, { mediaType: docker ? MEDIA.dockerLayerGzip : MEDIA.ociLayerGzip, digest: layer.digest, size: layer.size }];
    const manifestMedia = docker ? MEDIA.dockerManifest : MEDIA.ociManifest;
    const manifestBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: manifestMedia,
        config: { mediaType: docker ? MEDIA.dockerConfig : MEDIA.ociConfig, digest: configDigest, size: configBytes.length },
        layers,
      }),
    );

    // 4. Blobs the target lacks: the base's layers (mounted or copied), the app layer, the config.
    const counts = { uploaded: 0, mounted: 0, present: 0 };
    const total = layers.reduce((n, l) => n + l.size, 0) + configBytes.length;
    let done = 0;
    const step = (what: string, size: number) => {
      done += size;
      progress(what, 0.1 + (0.85 * done) / total);
    };
    const sameRegistry = baseRef.registry === targetRef.registry;
    for (const [i, l] of baseLayers.entries()) {
      checkAborted(opts.signal);
      const name = `base layer ${i + 1}/${baseLayers.length} (${l.digest.slice(7, 19)}, ${mb(l.size)})`;
      if (await client.hasBlob(targetRef.registry, targetRef.repository, l.digest, true)) {
        counts.present++;
        step(`${name}: already in ${formatReference({ ...targetRef, tag: undefined })}`, l.size);
        continue;
      }
      if (sameRegistry && baseRef.repository !== targetRef.repository && (await client.mountBlob(targetRef.registry, targetRef.repository, l.digest, baseRef.repository))) {
        counts.mounted++;
        step(`${name}: mounted from ${baseRef.repository}`, l.size);
        continue;
      }
      progress(`${name}: copying from ${baseRef.registry}`, 0.1 + (0.85 * done) / total);
      const bytes = await client.getBlob(baseRef.registry, baseRef.repository, l.digest);
      await client.uploadBlob(targetRef.registry, targetRef.repository, l.digest, bytes);
      counts.uploaded++;
      step(`${name}: copied`, l.size);
    }
    checkAborted(opts.signal);
    if (await client.hasBlob(targetRef.registry, targetRef.repository, layer.digest, true)) {
      counts.present++;
      step(`app layer (${mb(layer.size)}): already there`, layer.size);
    } else {
      progress(`uploading the app layer (${mb(layer.size)})`, 0.1 + (0.85 * done) / total);
      await client.uploadBlob(targetRef.registry, targetRef.repository, layer.digest, await fs.promises.readFile(layer.file));
      counts.uploaded++;
      step(`app layer uploaded (${mb(layer.size)})`, layer.size);
    }
    if (await client.hasBlob(targetRef.registry, targetRef.repository, configDigest, true)) step('config: already there', configBytes.length);
    else {
      await client.uploadBlob(targetRef.registry, targetRef.repository, configDigest, configBytes);
      step('config uploaded', configBytes.length);
    }
    checkAborted(opts.signal);

    // 5. The manifest, under the tag.
    progress(`pushing ${formatReference(targetRef)}`, 0.97);
    const digest = await client.putManifest(targetRef, manifestBytes, manifestMedia);
    progress(`pushed ${formatReference(targetRef)}@${digest}`, 1);
    return {
      reference: `${formatReference(targetRef)}@${digest}`,
      digest,
      size: manifestBytes.length + configBytes.length + layers.reduce((n, l) => n + l.size, 0),
      platform: platformText,
      onnxruntime: src.ortVersion,
      base: { reference: formatReference(baseRef), digest: base.manifest.digest },
      appLayer: { digest: layer.digest, diffId: layer.diffId, size: layer.size, tarSize: layer.tarSize, entries: layer.entries },
      blobs: counts,
    };
  } finally {
    if (!opts.workDir) fs.rmSync(work, { recursive: true, force: true });
  }
}
