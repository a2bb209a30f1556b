// The serving image, built without Docker (src/core/deploy/image): reproducible layers, the registry client against a
// real registry (crane's, started here) and a fake one that demands auth, the image built and pushed for both
// platforms, and the image run for real — its rootfs under chroot, and as a pod when the test cluster is up.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UserError } from '../../src/core/errors';
import { buildServingImage, ONNXRUNTIME_LABEL, type BuildResult } from '../../src/core/deploy/image/build';
import { listLayer, writeLayer, type LayerEntry } from '../../src/core/deploy/image/layers';
import {
  MEDIA,
  RegistryClient,
  parseChallenge,
  parseReference,
  sha256,
  type ImageConfigJson,
  type ManifestJson,
} from '../../src/core/deploy/image/registry';
import { parseCliEvent } from '../../src/shared/cli/events';
import { ensureTestBaseImage } from '../../scripts/images.mjs';
import { cacheRoot } from '../../scripts/testenv.mjs';
import { releaseDist } from '../support/release';
import { fixture } from '../support/fixtures';
import { freePort } from '../support/net';

const root = path.resolve(__dirname, '..', '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-image-test-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const SECRET_PASSWORD = 's3cret-Pa55word';
const SECRET_TOKEN = 'tok-9f8e7d6c5b4a-SECRET';

async function rejects(p: Promise<unknown>): Promise<UserError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof UserError, `expected a UserError, got ${(e as Error)?.stack ?? String(e)}`);
    return e;
  }
  assert.fail('expected a rejection');
}

const text = (e: UserError) => `${e.message} ${e.hint ?? ''}`;

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [path.join(releaseDist(), 'cli.js'), ...args], {
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, MODELYARD_DEBUG: '', MODELYARD_EVENTS: '', ...env },
  });
  return { code: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** The same, without blocking this process (whose servers the CLI talks to). */
function cliAsync(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(releaseDist(), 'cli.js'), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, MODELYARD_DEBUG: '', MODELYARD_EVENTS: '', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------

describe('image layers', () => {
  const files = path.join(tmp, 'layer-src');
  before(() => {
    fs.mkdirSync(path.join(files, 'bin'), { recursive: true });
    fs.writeFileSync(path.join(files, 'bin', 'tool'), '#!/bin/sh\necho hi\n', { mode: 0o700 });
    fs.writeFileSync(path.join(files, 'readme.txt'), 'hello\n', { mode: 0o600 });
    fs.writeFileSync(path.join(files, 'big.bin'), Buffer.alloc(3 * 1024 * 1024, 7));
  });
  const entries = (): LayerEntry[] => [
    // deliberately unsorted, parents missing
    { path: '/opt/app/readme.txt', type: 'file', source: path.join(files, 'readme.txt') },
    { path: 'opt/app/bin/tool', type: 'file', source: path.join(files, 'bin', 'tool') },
    { path: 'etc/passwd', type: 'file', data: 'root:x:0:0::/root:/bin/sh\n' },
    { path: 'tmp', type: 'dir', mode: 0o1777 },
    { path: 'opt/app/big.bin', type: 'file', source: path.join(files, 'big.bin') },
    { path: 'lib64/ld.so', type: 'symlink', target: '/lib/x86_64-linux-gnu/ld.so' },
    { path: `opt/app/${'long-name-'.repeat(12)}/x.txt`, type: 'file', data: 'deep' },
  ];

  it('writes the same bytes and digests for the same inputs, whatever the files’ times and owners', async () => {
    const a = await writeLayer(entries(), path.join(tmp, 'a.tar.gz'));
    fs.utimesSync(path.join(files, 'readme.txt'), new Date(), new Date('2001-02-03'));
    const b = await writeLayer(entries().reverse(), path.join(tmp, 'b.tar.gz'));
    assert.deepEqual(fs.readFileSync(a.file), fs.readFileSync(b.file), 'identical bytes');
    assert.equal(a.digest, b.digest);
    assert.equal(a.diffId, b.diffId);
    assert.equal(a.digest, sha256(fs.readFileSync(a.file)));
    // the fixed gzip header: no name, mtime 0, OS 255
    assert.deepEqual([...fs.readFileSync(a.file).subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    // diff_id is the sha256 of the uncompressed tar
    const { gunzipSync } = await import('node:zlib');
    assert.equal(a.diffId, sha256(gunzipSync(fs.readFileSync(a.file))));
    assert.equal(a.tarSize, gunzipSync(fs.readFileSync(a.file)).length);
  });

  it('sorts entries, emits parents, normalizes modes, owners and times', async () => {
    const l = await writeLayer(entries(), path.join(tmp, 'c.tar.gz'));
    const list = await listLayer(l.file);
    const names = list.map((e) => e.path.replace(/\/$/, ''));
    assert.deepEqual(names, [...names].sort(), 'sorted');
    for (const dir of ['etc', 'lib64', 'opt', 'opt/app', 'opt/app/bin']) assert.ok(names.indexOf(dir) >= 0 && names.indexOf(dir) < names.findIndex((n) => n.startsWith(`${dir}/`)), `${dir} before its children`);
    for (const e of list) {
      assert.equal(e.uid, 0);
      assert.equal(e.gid, 0);
      assert.equal(e.uname, '');
      assert.equal(e.gname, '');
      assert.equal(e.mtime, 0, e.path);
    }
    const mode = (p: string) => list.find((e) => e.path.replace(/\/$/, '') === p)!.mode;
    assert.equal(mode('opt/app/bin/tool'), 0o755, 'an executable (0700 on disk) becomes 0755');
    assert.equal(mode('opt/app/readme.txt'), 0o644, 'a file (0600 on disk) becomes 0644');
    assert.equal(mode('opt/app'), 0o755);
    assert.equal(mode('tmp'), 0o1777);
    assert.equal(list.find((e) => e.path === 'lib64/ld.so')!.linkname, '/lib/x86_64-linux-gnu/ld.so');
    assert.ok(names.includes(`opt/app/${'long-name-'.repeat(12)}/x.txt`), 'a path over 100 characters survives');
    assert.equal(l.entries, list.length);
  });

  it('changes the digest when a file changes, and takes SOURCE_DATE_EPOCH for times', async () => {
    const a = await writeLayer(entries(), path.join(tmp, 'd1.tar.gz'));
    fs.writeFileSync(path.join(files, 'readme.txt'), 'hello!\n');
    const b = await writeLayer(entries(), path.join(tmp, 'd2.tar.gz'));
    assert.notEqual(a.digest, b.digest);
    assert.notEqual(a.diffId, b.diffId);
    const c = await writeLayer(entries(), path.join(tmp, 'd3.tar.gz'), { mtime: 1_700_000_000 });
    assert.notEqual(b.digest, c.digest);
    assert.ok((await listLayer(c.file)).every((e) => e.mtime === 1_700_000_000));
    process.env.SOURCE_DATE_EPOCH = '1700000000';
    try {
      const d = await writeLayer(entries(), path.join(tmp, 'd4.tar.gz'));
      assert.equal(d.digest, c.digest, 'SOURCE_DATE_EPOCH is the default time');
    } finally {
      delete process.env.SOURCE_DATE_EPOCH;
    }
  });

  it('refuses duplicates and paths that leave the root', async () => {
    await assert.rejects(writeLayer([{ path: 'a', type: 'file', data: 'x' }, { path: '/a', type: 'file', data: 'y' }], path.join(tmp, 'e.tar.gz')), /given twice/);
    await assert.rejects(writeLayer([{ path: '../etc/passwd', type: 'file', data: 'x' }], path.join(tmp, 'e.tar.gz')), /leaves the root/);
  });
});

describe('image references', () => {
  it('parses references with Docker Hub defaults', () => {
    assert.deepEqual(parseReference('node:24-slim'), { registry: 'docker.io', repository: 'library/node', tag: '24-slim' });
    assert.deepEqual(parseReference('docker.io/library/node:24-slim'), { registry: 'docker.io', repository: 'library/node', tag: '24-slim' });
    assert.deepEqual(parseReference('acme/app'), { registry: 'docker.io', repository: 'acme/app' });
    assert.deepEqual(parseReference('127.0.0.1:5000/modelyard/server:1.0'), { registry: '127.0.0.1:5000', repository: 'modelyard/server', tag: '1.0' });
    assert.deepEqual(parseReference('localhost/a'), { registry: 'localhost', repository: 'a' });
    const d = `sha256:${'a'.repeat(64)}`;
    assert.deepEqual(parseReference(`ghcr.io/acme/x:v1@${d}`), { registry: 'ghcr.io', repository: 'acme/x', tag: 'v1', digest: d });
    assert.deepEqual(parseReference(`[::1]:5000/x@${d}`), { registry: '[::1]:5000', repository: 'x', digest: d });
    for (const bad of ['', 'https://ghcr.io/a', 'ghcr.io/A/b', 'x@sha256:12', 'a:b:c']) assert.throws(() => parseReference(bad), UserError, bad);
  });

  it('parses auth challenges', () => {
    assert.deepEqual(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/node:pull"'), {
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/node:pull' },
    });
    assert.deepEqual(parseChallenge('Basic realm="Registry"'), { scheme: 'basic', params: { realm: 'Registry' } });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// A registry that demands auth: 401 with a Bearer challenge, and a token endpoint that takes Basic credentials.

describe('registry auth (a local server that demands a token)', () => {
  let server: http.Server;
  let registry: string;
  const seen: { path: string; authorization?: string }[] = [];
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.ociManifest, config: { mediaType: MEDIA.ociConfig, digest: `sha256:${'0'.repeat(64)}`, size: 2 }, layers: [] }));
  let tokenScopeOk = true;

  before(async () => {
    server = http.createServer((req, res) => {
      seen.push({ path: req.url!, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
      const url = new URL(req.url!, 'http://x');
      if (url.pathname === '/token') {
        const good = `Basic ${Buffer.from(`alice:${SECRET_PASSWORD}`).toString('base64')}`;
        if (req.headers.authorization !== good) {
          res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ details: 'incorrect username or password' }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: tokenScopeOk ? SECRET_TOKEN : 'tok-other', expires_in: 300 }));
        return;
      }
      if (url.pathname.startsWith('/v2/slow/')) return; // never answers: for Ctrl-C
      if (req.headers.authorization === `Bearer ${SECRET_TOKEN}` && url.pathname === '/v2/team/app/manifests/v1') {
        res.writeHead(200, { 'content-type': MEDIA.ociManifest, 'docker-content-digest': sha256(manifest) }).end(manifest);
        return;
      }
      res
        .writeHead(401, {
          'content-type': 'application/json',
          'www-authenticate': `Bearer realm="http://${registry}/token",service="fake-registry",scope="repository:team/app:pull"`,
        })
        .end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    registry = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  function dockerConfig(name: string, auths: Record<string, unknown>): string {
    const dir = path.join(tmp, `docker-${name}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ auths }));
    return dir;
  }
  const basic = (user: string, pw: string) => ({ auth: Buffer.from(`${user}:${pw}`).toString('base64') });
  const noSecret = (e: UserError, also: string[] = []) => {
    for (const s of [SECRET_PASSWORD, SECRET_TOKEN, 'wrong-Pa55', Buffer.from(`alice:${SECRET_PASSWORD}`).toString('base64'), ...also]) {
      assert.ok(!text(e).includes(s), `the error shows a secret: ${text(e)}`);
      assert.ok(!(e.stack ?? '').includes(s), 'the stack shows a secret');
    }
  };

  it('gets a token from the challenge’s realm with the Basic credentials of config.json ($DOCKER_CONFIG), then the manifest', async () => {
    const dir = dockerConfig('good', { [`http://${registry}`]: basic('alice', SECRET_PASSWORD) });
    const was = process.env.DOCKER_CONFIG;
    process.env.DOCKER_CONFIG = dir;
    seen.length = 0;
    try {
      const m = await new RegistryClient().getManifest(parseReference(`${registry}/team/app:v1`));
      assert.equal(m.digest, sha256(manifest));
      assert.equal(m.mediaType, MEDIA.ociManifest);
    } finally {
      if (was === undefined) delete process.env.DOCKER_CONFIG;
      else process.env.DOCKER_CONFIG = was;
    }
    assert.equal(seen.length, 3, JSON.stringify(seen.map((s) => s.path)));
    assert.equal(seen[0]!.authorization, undefined, 'first anonymous');
    const token = new URL(seen[1]!.path, 'http://x');
    assert.equal(token.pathname, '/token');
    assert.equal(token.searchParams.get('service'), 'fake-registry');
    assert.deepEqual(token.searchParams.getAll('scope'), ['repository:team/app:pull']);
    assert.equal(seen[2]!.authorization, `Bearer ${SECRET_TOKEN}`);
  });

  it('refuses with the registry, the reference and the way out, and no secret, when the password is wrong', async () => {
    const config = path.join(dockerConfig('bad', { [registry]: basic('alice', 'wrong-Pa55') }), 'config.json');
    const e = await rejects(new RegistryClient({ dockerConfig: config }).getManifest(parseReference(`${registry}/team/app:v1`)));
    assert.match(e.message, new RegExp(`${registry} refused ${registry}/team/app:v1`));
    assert.match(e.message, /did not accept the credentials \(HTTP 401\)/);
    assert.match(e.hint!, /Log in \(docker login 127\.0\.0\.1:\d+\), or check the auths entry for 127\.0\.0\.1:\d+ in .*config\.json/);
    noSecret(e);
  });

  it('says so when there are no credentials, and when the token is not accepted', async () => {
    const none = path.join(dockerConfig('none', {}), 'config.json');
    const e1 = await rejects(new RegistryClient({ dockerConfig: none }).getManifest(parseReference(`${registry}/team/app:v1`)));
    assert.match(e1.message, /did not accept an anonymous request/);
    tokenScopeOk = false;
    try {
      const config = path.join(dockerConfig('good2', { [registry]: basic('alice', SECRET_PASSWORD) }), 'config.json');
      const e2 = await rejects(new RegistryClient({ dockerConfig: config }).getManifest(parseReference(`${registry}/team/app:v1`)));
      assert.match(e2.message, /the credentials were not accepted \(HTTP 401\)/);
      noSecret(e2, ['tok-other']);
    } finally {
      tokenScopeOk = true;
    }
  });

  it('the CLI fails with exit 1, one line and an error event, no secret', async () => {
    const dir = dockerConfig('cli', { [registry]: basic('alice', 'wrong-Pa55') });
    const r = await cliAsync(['image', 'build', '--base', `${registry}/team/app:v1`, '--push', `${registry}/team/out:v1`], { DOCKER_CONFIG: dir, MODELYARD_EVENTS: 'stderr' });
    assert.equal(r.code, 1, r.stderr);
    const line = r.stderr.split('\n').find((l) => l.startsWith('modelyard: '));
    assert.match(line ?? '', /refused .*team\/app:v1.*docker login/);
    const events = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => parseCliEvent(l));
    assert.ok(events.every((e) => e.ok), 'every event line validates');
    const err = events.map((e) => (e.ok ? e.value : undefined)).find((e) => e?.event === 'error');
    assert.ok(err && err.event === 'error' && /refused/.test(err.message) && /config\.json/.test(err.hint ?? ''));
    for (const s of [SECRET_PASSWORD, 'wrong-Pa55', SECRET_TOKEN]) assert.ok(!r.stderr.includes(s) && !r.stdout.includes(s));
  });

  it('Ctrl-C stops a build that waits on the registry: exit 130, a cancelled event', async () => {
    const child = spawn(process.execPath, [path.join(releaseDist(), 'cli.js'), 'image', 'build', '--base', `${registry}/slow/base:1`, '--push', `${registry}/slow/out:1`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, MODELYARD_DEBUG: '', MODELYARD_EVENTS: 'stderr' },
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    // Wait until the request is in flight (the server saw it), then interrupt.
    const t0 = Date.now();
    while (!seen.some((x) => x.path.startsWith('/v2/slow/')) && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('close', r));
    assert.equal(code, 130, stderr);
    assert.match(stderr, /^modelyard: cancelled\.$/m);
    const ev = stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => parseCliEvent(l)).map((e) => (e.ok ? e.value : undefined));
    assert.ok(ev.some((e) => e?.event === 'error' && e.cancelled === true), stderr);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// A real registry: crane's, from the cluster's build cache.

function findCrane(): string | undefined {
  if (process.env.MODELYARD_CRANE && fs.existsSync(process.env.MODELYARD_CRANE)) return process.env.MODELYARD_CRANE;
  const dir = path.join(cacheRoot(), 'cluster');
  if (!fs.existsSync(dir)) return undefined;
  const bins = fs
    .readdirSync(dir)
    .filter((d) => d.startsWith('bin-') && fs.existsSync(path.join(dir, d, 'crane')))
    .map((d) => path.join(dir, d, 'crane'))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return bins[0];
}

async function waitFor(url: string, ms: number): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    try {
      const r = await fetch(url);
      await r.body?.cancel();
      if (r.status < 500) return;
    } catch {
      /* not yet */
    }
    if (Date.now() - t0 > ms) throw new Error(`${url} did not answer within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Unpacks an image's layers (in order) into a fresh folder with GNU tar. */
async function unpack(client: RegistryClient, registry: string, repository: string, manifest: ManifestJson, dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  for (const l of manifest.layers!) {
    const file = path.join(tmp, `${l.digest.slice(7, 19)}.tar.gz`);
    fs.writeFileSync(file, await client.getBlob(registry, repository, l.digest));
    const r = spawnSync('tar', ['-xzf', file, '-C', dir], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  }
}

describe('the serving image on a real registry (crane registry serve)', { timeout: 900_000 }, () => {
  const crane = findCrane();
  let reg: ChildProcess | undefined;
  let registry = '';
  let base: Awaited<ReturnType<typeof ensureTestBaseImage>>;
  let amd64: BuildResult;
  const client = () => new RegistryClient();

  before(async () => {
    if (!crane) return;
    const port = await freePort();
    registry = `127.0.0.1:${port}`;
    const disk = path.join(tmp, 'registry');
    fs.mkdirSync(disk);
    reg = spawn(crane, ['registry', 'serve', '--address', registry, '--disk', disk], { stdio: ['ignore', 'ignore', 'pipe'] });
    reg.stderr!.resume();
    await waitFor(`http://${registry}/v2/`, 15_000);
    base = await ensureTestBaseImage(registry);
  });
  after(() => {
    if (reg?.pid) process.kill(reg.pid, 'SIGTERM');
  });
  const skip = (t: { skip(m: string): void }) => {
    if (!crane) {
      t.skip(`no crane binary under ${path.join(cacheRoot(), 'cluster')}/bin-*/ (node scripts/cluster.mjs up builds it; or set MODELYARD_CRANE)`);
      return true;
    }
    return false;
  };

  it('pushes the test base idempotently (the same digest on every run)', async (t) => {
    if (skip(t)) return;
    const again = await ensureTestBaseImage(registry);
    assert.equal(again.digest, base.digest);
    const m = await client().getManifest(parseReference(base.reference));
    assert.equal(m.digest, base.digest);
    const layer = await listLayer(base.layer.file);
    const names = new Set(layer.map((e) => e.path.replace(/\/$/, '')));
    for (const p of ['usr/local/bin/node', 'lib64/ld-linux-x86-64.so.2', 'lib/x86_64-linux-gnu/libc.so.6', 'lib/x86_64-linux-gnu/libstdc++.so.6', 'etc/passwd', 'etc/group', 'etc/ssl/certs/ca-certificates.crt', 'tmp']) {
      assert.ok(names.has(p), `the base has ${p}`);
    }
    assert.equal(layer.find((e) => e.path === 'tmp/')!.mode, 0o1777);
    assert.ok(layer.every((e) => e.type !== 'symlink'), 'real files, no links to the build machine');
  });

  it('builds linux/amd64 twice to the same digest; the image has the entrypoint, labels and only x64 natives', async (t) => {
    if (skip(t)) return;
    const distDir = releaseDist();
    const progress: { message: string; fraction?: number }[] = [];
    const t0 = Date.now();
    amd64 = await buildServingImage({ base: base.reference, platform: 'linux/amd64', push: `${registry}/modelyard/server:amd64`, distDir, onProgress: (p) => progress.push(p) });
    const ms1 = Date.now() - t0;
    const again = await buildServingImage({ base: base.reference, platform: 'linux/amd64', push: `${registry}/modelyard/server:amd64-again`, distDir });
    assert.equal(again.digest, amd64.digest, 'reproducible: same inputs, same digest');
    assert.equal(again.appLayer.digest, amd64.appLayer.digest);
    t.diagnostic(`linux/amd64: ${amd64.reference}, ${(amd64.size / 1e6).toFixed(1)} MB (app layer ${(amd64.appLayer.size / 1e6).toFixed(1)} MB), built and pushed in ${ms1} ms`);
    assert.equal(amd64.platform, 'linux/amd64');
    assert.equal(amd64.onnxruntime, JSON.parse(fs.readFileSync(path.join(root, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')).version);
    assert.ok(progress.length >= 4 && progress.every((p, i) => i === 0 || (p.fraction ?? 0) >= (progress[i - 1]!.fraction ?? 0)), 'progress moves forward');
    assert.equal(progress.at(-1)!.fraction, 1);

    const c = client();
    const m = await c.getManifest(parseReference(`${registry}/modelyard/server:amd64`));
    assert.equal(m.digest, amd64.digest);
    assert.equal(m.mediaType, MEDIA.ociManifest);
    const baseManifest = await c.getManifest(parseReference(base.reference));
    assert.deepEqual(m.json.layers!.slice(0, -1), baseManifest.json.layers, 'the base’s layers reused by digest');
    assert.equal(m.json.layers!.length, baseManifest.json.layers!.length + 1, 'ONE app layer');
    const config = JSON.parse((await c.getBlob(registry, 'modelyard/server', m.json.config!.digest)).toString()) as ImageConfigJson;
    assert.equal(config.architecture, 'amd64');
    assert.equal(config.os, 'linux');
    assert.deepEqual(config.config!.Entrypoint, ['node', '/opt/modelyard/dist/cli.js']);
    assert.deepEqual(config.config!.Cmd, ['serve', '/mnt/models', '--host', '0.0.0.0', '--port', '8080', '--grpc-port', '8081', '--processes', 'auto', '--log', 'json']);
    assert.equal(config.config!.WorkingDir, '/opt/modelyard');
    assert.deepEqual(config.config!.ExposedPorts, { '8080/tcp': {}, '8081/tcp': {} });
    assert.ok(config.config!.Env!.some((e) => e.startsWith('PATH=') && e.includes('/usr/local/bin')), 'the base’s PATH kept');
    assert.equal(config.config!.Labels!['org.opencontainers.image.title'], 'modelyard-server');
    assert.equal(config.config!.Labels!['org.opencontainers.image.version'], JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version);
    assert.equal(config.config!.Labels![ONNXRUNTIME_LABEL], amd64.onnxruntime);
    assert.equal(config.rootfs.diff_ids.at(-1), amd64.appLayer.diffId);
    assert.equal(config.history!.length, 2);
    assert.equal(config.created, '1970-01-01T00:00:00Z');

    const layerFile = path.join(tmp, 'app-amd64.tar.gz');
    fs.writeFileSync(layerFile, await c.getBlob(registry, 'modelyard/server', amd64.appLayer.digest));
    const names = (await listLayer(layerFile)).map((e) => e.path);
    for (const p of ['opt/modelyard/package.json', 'opt/modelyard/dist/cli.js', 'opt/modelyard/dist/inference-worker.js', 'opt/modelyard/dist/grpc-js.js', 'opt/modelyard/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node', 'opt/modelyard/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1', 'opt/modelyard/node_modules/onnxruntime-common/package.json']) {
      assert.ok(names.includes(p), `the app layer has ${p}`);
    }
    const natives = names.filter((n) => /\.(node|so(\.\d+)*|dylib|dll)$/.test(n));
    assert.ok(natives.every((n) => n.includes('/bin/napi-v6/linux/x64/')), `only linux/x64 natives: ${natives.join(', ')}`);
    assert.ok(!names.some((n) => /darwin|win32|arm64|cuda|tensorrt|\/script\/|\.map$/i.test(n)), 'nothing of other platforms, GPUs, install scripts or source maps');
    assert.ok(names.every((n) => n.startsWith('opt/')), 'everything under /opt/modelyard');
    const ortPkg = JSON.parse(fs.readFileSync(path.join(root, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.ok(ortPkg.scripts.postinstall, 'the installed package has a postinstall');
  });

  it('builds linux/arm64 from a multi-platform base: arm64 natives only', async (t) => {
    if (skip(t)) return;
    // A base index with the real amd64 base and a small arm64 image beside it (nothing arm64 can run here).
    const c = client();
    const repo = 'modelyard/multi-base';
    const armLayer = await writeLayer([{ path: 'etc/passwd', type: 'file', data: 'root:x:0:0:root:/root:/bin/sh\n' }], path.join(tmp, 'arm-base.tar.gz'));
    await c.uploadBlob(registry, repo, armLayer.digest, fs.readFileSync(armLayer.file));
    const armConfig = Buffer.from(JSON.stringify({ architecture: 'arm64', os: 'linux', variant: 'v8', config: { Env: ['PATH=/usr/local/bin:/usr/bin:/bin'] }, rootfs: { type: 'layers', diff_ids: [armLayer.diffId] }, history: [{ created_by: 'test' }] }));
    await c.uploadBlob(registry, repo, sha256(armConfig), armConfig);
    const armManifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.ociManifest, config: { mediaType: MEDIA.ociConfig, digest: sha256(armConfig), size: armConfig.length }, layers: [{ mediaType: MEDIA.ociLayerGzip, digest: armLayer.digest, size: armLayer.size }] }));
    await c.putManifest({ registry, repository: repo }, armManifest, MEDIA.ociManifest);
    const amdManifest = await c.getManifest(parseReference(base.reference));
    await c.putManifest({ registry, repository: repo }, amdManifest.bytes, MEDIA.ociManifest);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA.ociIndex,
        manifests: [
          { mediaType: MEDIA.ociManifest, digest: amdManifest.digest, size: amdManifest.bytes.length, platform: { architecture: 'amd64', os: 'linux' } },
          { mediaType: MEDIA.ociManifest, digest: sha256(armManifest), size: armManifest.length, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
        ],
      }),
    );
    await c.putManifest({ registry, repository: repo, tag: 'test' }, index, MEDIA.ociIndex);

    const arm = await buildServingImage({ base: `${registry}/${repo}:test`, platform: 'linux/arm64', push: `${registry}/modelyard/server:arm64`, distDir: releaseDist() });
    t.diagnostic(`linux/arm64: ${arm.reference}, app layer ${(arm.appLayer.size / 1e6).toFixed(1)} MB`);
    assert.equal(arm.platform, 'linux/arm64');
    assert.notEqual(arm.appLayer.digest, amd64.appLayer.digest);
    const m = await c.getManifest(parseReference(`${registry}/modelyard/server:arm64`));
    const config = JSON.parse((await c.getBlob(registry, 'modelyard/server', m.json.config!.digest)).toString()) as ImageConfigJson;
    assert.equal(config.architecture, 'arm64');
    assert.equal(config.variant, 'v8');
    const layerFile = path.join(tmp, 'app-arm64.tar.gz');
    fs.writeFileSync(layerFile, await c.getBlob(registry, 'modelyard/server', arm.appLayer.digest));
    const names = (await listLayer(layerFile)).map((e) => e.path);
    const natives = names.filter((n) => /\.(node|so(\.\d+)*|dylib|dll)$/.test(n));
    assert.deepEqual(natives.sort(), ['opt/modelyard/node_modules/onnxruntime-node/bin/napi-v6/linux/arm64/libonnxruntime.so.1', 'opt/modelyard/node_modules/onnxruntime-node/bin/napi-v6/linux/arm64/onnxruntime_binding.node']);
    assert.ok(!names.some((n) => /\/x64\/|darwin|win32/.test(n)));
    // the same index, linux/amd64: the amd64 base is picked from it
    const fromIndex = await buildServingImage({ base: `${registry}/${repo}:test`, platform: 'linux/amd64', push: `${registry}/modelyard/server:amd64-from-index`, distDir: releaseDist() });
    assert.equal(fromIndex.digest, amd64.digest, 'the same image as from the single-platform base');
  });

  it('copies the base’s layers blob by blob to another registry, verified, to the same image', async (t) => {
    if (skip(t)) return;
    const port = await freePort();
    const other = `127.0.0.1:${port}`;
    const disk = path.join(tmp, 'registry2');
    fs.mkdirSync(disk);
    const reg2 = spawn(crane!, ['registry', 'serve', '--address', other, '--disk', disk], { stdio: ['ignore', 'ignore', 'ignore'] });
    try {
      await waitFor(`http://${other}/v2/`, 15_000);
      const copied = await buildServingImage({ base: base.reference, platform: 'linux/amd64', push: `${other}/acme/server:1`, distDir: releaseDist() });
      assert.deepEqual(copied.blobs, { uploaded: 2, mounted: 0, present: 0 }, 'the base layer and the app layer uploaded');
      assert.equal(copied.digest, amd64.digest, 'the same image, wherever it is pushed');
      const again = await buildServingImage({ base: base.reference, platform: 'linux/amd64', push: `${other}/acme/server:2`, distDir: releaseDist() });
      assert.equal(again.blobs.uploaded, 0, 'nothing uploaded twice');
      const c = new RegistryClient();
      const m = await c.getManifest(parseReference(`${other}/acme/server:1`));
      for (const l of m.json.layers!) assert.equal(sha256(await c.getBlob(other, 'acme/server', l.digest)), l.digest);
    } finally {
      reg2.kill('SIGTERM');
    }
  });

  it('refuses an unknown platform, a base without the platform, a missing tag and an unreachable registry, clearly', async (t) => {
    if (skip(t)) return;
    const distDir = releaseDist();
    const push = `${registry}/modelyard/server:refused`;
    const e1 = await rejects(buildServingImage({ base: base.reference, platform: 'linux/s390x', push, distDir }));
    assert.match(e1.message, /cannot be built for linux\/s390x: onnxruntime-node ships Linux natives for linux\/amd64 and linux\/arm64 only/);
    const e2 = await rejects(buildServingImage({ base: base.reference, platform: 'linux/arm64', push, distDir }));
    assert.match(e2.message, new RegExp(`${base.reference.replace(/[.]/g, '\\.')} has no linux/arm64 image; it has linux/amd64\\.`));
    assert.match(e2.hint!, /--base/);
    const e3 = await rejects(buildServingImage({ base: `${registry}/modelyard/node-base:no-such-tag`, platform: 'linux/amd64', push, distDir }));
    assert.match(e3.message, new RegExp(`no such image or tag: ${registry}/modelyard/node-base:no-such-tag \\(${registry} answered 404`));
    const e4 = await rejects(buildServingImage({ base: `${registry}/nobody/nothing:1`, platform: 'linux/amd64', push, distDir }));
    assert.match(e4.message, /no such image or tag/);
    const dead = `127.0.0.1:${await freePort()}`;
    const e5 = await rejects(buildServingImage({ base: `${dead}/x/y:1`, platform: 'linux/amd64', push, distDir }));
    assert.match(e5.message, new RegExp(`cannot reach the registry ${dead} for ${dead}/x/y:1 \\(ECONNREFUSED\\)`));
    assert.match(e5.hint!, /Is the registry running, and is the address right\?/);
  });

  it('the CLI verb: help, --json, progress events, exit codes', (t) => {
    if (skip(t)) return;
    const help = cli(['image', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /image build --push REGISTRY\/REPO:TAG \[--base IMAGE\] \[--platform linux\/amd64\|linux\/arm64\] \[--insecure\] \[--json\]/);
    assert.equal(cli(['image', 'build', '-h']).code, 0);
    assert.match(cli(['--help']).stdout, /image build --push/);
    const noPush = cli(['image', 'build']);
    assert.equal(noPush.code, 1);
    assert.match(noPush.stderr, /give the image to push with --push/);
    const r = cli(['image', 'build', '--base', base.reference, '--push', `${registry}/modelyard/server:cli`, '--json'], { MODELYARD_EVENTS: 'stderr' });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as BuildResult;
    assert.equal(out.digest, amd64.digest, 'the CLI builds the same image');
    assert.equal(out.reference, `${registry}/modelyard/server:cli@${amd64.digest}`);
    const events = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => parseCliEvent(l));
    assert.ok(events.length >= 4 && events.every((e) => e.ok && e.value.event === 'progress'), r.stderr);
    const missing = cli(['image', 'build', '--base', `${registry}/modelyard/node-base:nope`, '--push', `${registry}/modelyard/server:cli`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^modelyard: no such image or tag: .*node-base:nope/m);
  });

  it('THE REAL RUN: the image’s rootfs serves a model under chroot (no Docker)', async (t) => {
    if (skip(t)) return;
    if (process.getuid?.() !== 0) return t.skip('chroot needs root');
    const c = client();
    const m = await c.getManifest(parseReference(`${registry}/modelyard/server:amd64`));
    const rootfs = path.join(tmp, 'rootfs');
    await unpack(c, registry, 'modelyard/server', m.json, rootfs);
    // What a container runtime provides: /dev/null (the worker's stdin).
    const mk = spawnSync('mknod', ['-m', '666', path.join(rootfs, 'dev', 'null'), 'c', '1', '3'], { encoding: 'utf8' });
    if (mk.status !== 0) return t.skip(`mknod /dev/null in the rootfs failed: ${mk.stderr.trim()}`);
    fs.copyFileSync(fixture('hello_deepa.onnx'), path.join(rootfs, 'model.onnx'));
    const chroot = ['/usr/sbin/chroot', '/usr/bin/chroot', '/sbin/chroot'].find((p) => fs.existsSync(p));
    if (!chroot) return t.skip('no chroot binary (coreutils)');
    const child = spawn(chroot, [rootfs, '/usr/local/bin/node', '/opt/modelyard/dist/cli.js', 'serve', '/model.onnx', '--port', '0', '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let buf = '';
        child.stdout!.on('data', (d: Buffer) => {
          buf += d.toString();
          const line = buf.split('\n').find((l) => l.includes('"listening"'));
          if (line) resolve((JSON.parse(line) as { url: string }).url);
        });
        child.on('exit', (code) => reject(new Error(`serve exited (${code}) before listening: ${stderr}`)));
        setTimeout(() => reject(new Error(`serve did not listen within 60 s: ${stderr}`)), 60_000).unref();
      });
      const ready = await fetch(`${url}/v2/health/ready`);
      assert.equal(ready.status, 200);
      const input = Float32Array.from({ length: 25 * 96 }, (_, i) => Math.sin(i) * 0.5);
      const res = await fetch(`${url}/v2/models/model/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: [{ name: 'onnx::Flatten_0', shape: [1, 25, 96], datatype: 'FP32', data: [...input] }] }),
      });
      assert.equal(res.status, 200);
      const answer = (await res.json()) as { outputs: { name: string; shape: number[]; data: number[] }[] };
      // The same model on the host's onnxruntime-node, in this process.
      const ort = (await import('onnxruntime-node')) as typeof import('onnxruntime-node');
      const session = await ort.InferenceSession.create(fixture('hello_deepa.onnx'));
      const expected = await session.run({ 'onnx::Flatten_0': new ort.Tensor('float32', input, [1, 25, 96]) });
      const out = answer.outputs[0]!;
      assert.deepEqual(out.shape, [1, 1]);
      const want = Array.from(expected[out.name]!.data as Float32Array);
      assert.ok(Math.abs(out.data[0]! - want[0]!) <= 1e-6 * Math.max(1, Math.abs(want[0]!)), `${out.data[0]} vs ${want[0]}`);
      t.diagnostic(`chroot: ${url} answered ${out.name}=${out.data[0]} (host onnxruntime-node: ${want[0]})`);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.on('exit', r)));
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The test cluster (scripts/cluster.mjs): the image pulled by the kubelet and run as a pod.

function clusterScript(): string | undefined {
  const p = process.env.MODELYARD_CLUSTER_SCRIPT ?? path.join(root, 'scripts', 'cluster.mjs');
  return fs.existsSync(p) ? p : undefined;
}

interface Kube {
  request(method: string, p: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown>; text: string }>;
}

function kubeFrom(kubeconfigFile: string): Kube {
  const kc = JSON.parse(fs.readFileSync(kubeconfigFile, 'utf8')) as {
    'current-context': string;
    contexts: { name: string; context: { cluster: string; user: string } }[];
    clusters: { name: string; cluster: { server: string; 'certificate-authority-data': string } }[];
    users: { name: string; user: { 'client-certificate-data': string; 'client-key-data': string } }[];
  };
  const ctx = kc.contexts.find((c) => c.name === kc['current-context'])!.context;
  const cluster = kc.clusters.find((c) => c.name === ctx.cluster)!.cluster;
  const user = kc.users.find((u) => u.name === ctx.user)!.user;
  const server = new URL(cluster.server);
  const b64 = (s: string) => Buffer.from(s, 'base64');
  const agent = new https.Agent({ ca: b64(cluster['certificate-authority-data']), cert: b64(user['client-certificate-data']), key: b64(user['client-key-data']) });
  return {
    request: (method, p, body) =>
      new Promise((resolve, reject) => {
        const data = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
        const req = https.request(
          { host: server.hostname, port: server.port, path: p, method, agent, headers: { accept: 'application/json', ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}) } },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              let json: Record<string, unknown> = {};
              try {
                json = JSON.parse(text) as Record<string, unknown>;
              } catch {
                /* not JSON */
              }
              resolve({ status: res.statusCode ?? 0, json, text });
            });
          },
        );
        req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${p} timed out`)));
        req.on('error', reject);
        req.end(data);
      }),
  };
}

describe('the serving image as a pod on the test cluster', { timeout: 600_000 }, () => {
  it('is pulled from the cluster’s registry, serves the model from a hostPath volume, and answers through the service proxy', async (t) => {
    const script = clusterScript();
    if (!script) return t.skip('scripts/cluster.mjs is not in this checkout (set MODELYARD_CLUSTER_SCRIPT to use one)');
    const st = spawnSync(process.execPath, [script, 'status'], { encoding: 'utf8', timeout: 60_000 });
    if (st.status !== 0) return t.skip('the test cluster is not up (node scripts/cluster.mjs up)');
    const env = JSON.parse(spawnSync(process.execPath, [script, 'env', '--json'], { encoding: 'utf8' }).stdout) as Record<string, string>;
    const registry = env.MODELYARD_TEST_REGISTRY!;
    const base = await ensureTestBaseImage(registry);
    const image = await buildServingImage({ base: base.reference, platform: 'linux/amd64', push: `${registry}/modelyard/server:unit-test`, distDir: releaseDist() });
    const kube = kubeFrom(env.MODELYARD_TEST_KUBECONFIG!);
    const ns = `modelyard-image-test-${process.pid}`;
    const modelDir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-image-pod-'));
    fs.chmodSync(modelDir, 0o755);
    const model = path.join(modelDir, 'hello_deepa.onnx');
    fs.copyFileSync(fixture('hello_deepa.onnx'), model);
    const created = await kube.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    assert.equal(created.status, 201, created.text);
    try {
      // Pods need the namespace's default ServiceAccount, which the controller-manager adds within seconds.
      for (let i = 0; i < 60 && (await kube.request('GET', `/api/v1/namespaces/${ns}/serviceaccounts/default`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 500));
      const pod = await kube.request('POST', `/api/v1/namespaces/${ns}/pods`, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'modelyard-server', labels: { app: 'modelyard-server' } },
        spec: {
          terminationGracePeriodSeconds: 2,
          containers: [
            {
              name: 'server',
              image: image.reference, // REGISTRY/REPO:TAG@sha256:…, with the image's own entrypoint and command
              ports: [{ containerPort: 8080 }],
              readinessProbe: { httpGet: { path: '/v2/health/ready', port: 8080 }, periodSeconds: 1 },
              volumeMounts: [{ name: 'model', mountPath: '/mnt/models', readOnly: true }],
            },
          ],
          volumes: [{ name: 'model', hostPath: { path: model, type: 'File' } }],
        },
      });
      assert.equal(pod.status, 201, pod.text);
      const svc = await kube.request('POST', `/api/v1/namespaces/${ns}/services`, {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'modelyard-server' },
        spec: { selector: { app: 'modelyard-server' }, ports: [{ port: 80, targetPort: 8080 }] },
      });
      assert.equal(svc.status, 201, svc.text);
      const t0 = Date.now();
      let last = '';
      for (;;) {
        const p = await kube.request('GET', `/api/v1/namespaces/${ns}/pods/modelyard-server`);
        const status = p.json.status as { phase?: string; conditions?: { type: string; status: string }[]; containerStatuses?: { state?: Record<string, { reason?: string; message?: string }> }[] };
        last = JSON.stringify(status?.containerStatuses?.[0]?.state ?? status?.phase);
        if (status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) break;
        if (/ErrImagePull|ImagePullBackOff|CrashLoopBackOff|CreateContainerError|InvalidImageName/.test(last) || status?.phase === 'Failed') {
          const logs = await kube.request('GET', `/api/v1/namespaces/${ns}/pods/modelyard-server/log?tailLines=30`);
          assert.fail(`the pod failed: ${last}\n${logs.text}`);
        }
        if (Date.now() - t0 > 180_000) assert.fail(`the pod was not Ready within 180 s: ${last}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
      const readyMs = Date.now() - t0;
      const proxy = `/api/v1/namespaces/${ns}/services/http:modelyard-server:80/proxy`;
      let ready = await kube.request('GET', `${proxy}/v2/health/ready`);
      for (let i = 0; i < 30 && ready.status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        ready = await kube.request('GET', `${proxy}/v2/health/ready`);
      }
      assert.equal(ready.status, 200, ready.text);
      assert.deepEqual(ready.json, { ready: true });
      const meta = await kube.request('GET', `${proxy}/v2/models/models`);
      assert.equal(meta.status, 200, meta.text);
      assert.equal(meta.json.name, 'models', 'the default command serves /mnt/models (named after the file)');
      const infer = await kube.request('POST', `${proxy}/v2/models/models/infer`, {
        inputs: [{ name: 'onnx::Flatten_0', shape: [1, 25, 96], datatype: 'FP32', data: new Array(25 * 96).fill(0.25) }],
      });
      assert.equal(infer.status, 200, infer.text);
      const outputs = infer.json.outputs as { shape: number[]; data: number[] }[];
      assert.deepEqual(outputs[0]!.shape, [1, 1]);
      assert.ok(Number.isFinite(outputs[0]!.data[0]));
      // The default command's log: one JSON object a line, the gRPC server among what started.
      const logs = await kube.request('GET', `/api/v1/namespaces/${ns}/pods/modelyard-server/log`);
      const lines = logs.text.trim().split('\n').map((l) => JSON.parse(l) as { time: string; level: string; component: string; msg: string });
      assert.ok(lines.some((l) => l.component === 'serve' && l.msg === 'models 1 over gRPC at 0.0.0.0:8081 (inference.GRPCInferenceService)'), logs.text);
      assert.ok(lines.every((l) => l.level && l.time), logs.text);
      t.diagnostic(`pod Ready ${readyMs} ms after creation (${image.reference}); through the service proxy: ${JSON.stringify(outputs[0]!.data)}`);
    } finally {
      await kube.request('DELETE', `/api/v1/namespaces/${ns}`).catch(() => undefined);
      fs.rmSync(modelDir, { recursive: true, force: true });
    }
  });
});
