/**
 * A small client of the OCI distribution API (https://github.com/opencontainers/distribution-spec), on Node's global
 * fetch: what pulling a base image's manifest and config and pushing an image need, nothing more.
 *
 * - References `host[:port]/repo[:tag][@digest]`; without a host, Docker Hub (`docker.io/library/…`).
 * - Manifests with the Accept headers of OCI (index, manifest) and Docker (manifest list, v2); a platform picked
 *   from an index; blobs verified against their digest; HEAD before uploading; cross-repository mount; monolithic
 *   upload (POST, then PUT ?digest=); manifest PUT.
 * - Auth: anonymous; a Bearer token from the realm of a `WWW-Authenticate: Bearer realm=…,service=…,scope=…`
 *   challenge (with Basic credentials when known); Basic from `auths` of ~/.docker/config.json (or
 *   $DOCKER_CONFIG/config.json). Credentials and tokens never appear in a log line or an error.
 * - http:// only for loopback registries (127.0.0.1, localhost, [::1]) or with `insecure`; https:// otherwise.
 *
 * Every failure is a UserError that names the registry, the reference and the way out.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CancelledError, UserError } from '../../errors';
import { nullLogger, type Logger } from '../../log';

export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

const MANIFEST_ACCEPT = [MEDIA.ociIndex, MEDIA.ociManifest, MEDIA.dockerList, MEDIA.dockerManifest].join(', ');

// ---------------------------------------------------------------------------------------------------------------
// References and platforms

export interface ImageReference {
  /** As written, with Docker Hub as `docker.io`: `docker.io`, `127.0.0.1:5000`, `ghcr.io`. */
  registry: string;
  /** `library/node`, `modelyard/server`. */
  repository: string;
  tag?: string;
  /** `sha256:…`. */
  digest?: string;
}

const DOCKER_HUB = 'docker.io';
const REPO_PART = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** `node:24-slim` → docker.io/library/node:24-slim; `127.0.0.1:5000/a/b:t@sha256:…` → its parts. */
export function parseReference(ref: string): ImageReference {
  const bad = (why: string) =>
    new UserError(`'${ref}' is not an image reference: ${why}.`, 'Write it as [HOST[:PORT]/]REPOSITORY[:TAG][@sha256:DIGEST], e.g. ghcr.io/acme/modelyard-server:1.0.');
  let rest = ref.trim();
  if (!rest) throw bad('it is empty');
  if (/^[a-z]+:\/\//i.test(rest)) throw bad('leave out the scheme (http:// or https://)');
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(`'${digest}' is not a sha256 digest`);
  }
  let registry = DOCKER_HUB;
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  if (first && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['))) {
    registry = first;
    rest = rest.slice(slash + 1);
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DOCKER_HUB;
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`'${tag}' is not a tag`);
  }
  if (!rest) throw bad('the repository is missing');
  if (registry === DOCKER_HUB && !rest.includes('/')) rest = `library/${rest}`;
  for (const part of rest.split('/')) if (!REPO_PART.test(part)) throw bad(`'${rest}' is not a repository name (lower-case letters, digits, '.', '_', '-', '/')`);
  return { registry, repository: rest, ...(tag !== undefined ? { tag } : {}), ...(digest ? { digest } : {}) };
}

export function formatReference(r: ImageReference): string {
  return `${r.registry}/${r.repository}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** The tag or digest a manifest request names (a digest wins; neither: `latest`). */
function manifestName(r: ImageReference): string {
  return r.digest ?? r.tag ?? 'latest';
}

function hostOf(registry: string): string {
  return registry.startsWith('[') ? registry.slice(0, registry.indexOf(']') + 1) : registry.replace(/:\d+$/, '');
}

export function isLoopbackRegistry(registry: string): boolean {
  const h = hostOf(registry).toLowerCase();
  return h === 'localhost' || h === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export function parsePlatform(s: string): Platform {
  const [os, architecture, variant, ...more] = s.split('/');
  if (!os || !architecture || more.length) throw new UserError(`'${s}' is not a platform.`, 'Write it as OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64.');
  return { os, architecture, ...(variant ? { variant } : {}) };
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** Whether an image of platform `have` serves a request for `want` (arm64 without a variant means v8). */
export function platformMatches(have: Platform, want: Platform): boolean {
  if (have.os !== want.os || have.architecture !== want.architecture) return false;
  if (!want.variant) return true;
  const v = have.variant ?? (have.architecture === 'arm64' ? 'v8' : undefined);
  return v === want.variant;
}

// ---------------------------------------------------------------------------------------------------------------
// Credentials

interface Credentials {
  username: string;
  password: string;
}

interface DockerConfig {
  auths: Map<string, Credentials>;
  /** Registries whose credentials live in a helper this client does not run. */
  helpers: Set<string>;
  anyHelper: boolean;
  file: string;
}

/** `https://index.docker.io/v1/`, `ghcr.io`, `https://127.0.0.1:5000` → the registry they name. */
function configKey(key: string): string {
  const k = key.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '').toLowerCase();
  return k === 'index.docker.io' || k === 'registry-1.docker.io' ? DOCKER_HUB : k;
}

export function dockerConfigFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.DOCKER_CONFIG || path.join(os.homedir(), '.docker'), 'config.json');
}

function readDockerConfig(file: string): DockerConfig {
  const cfg: DockerConfig = { auths: new Map(), helpers: new Set(), anyHelper: false, file };
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return cfg;
    throw new UserError(`${file} is not valid JSON.`, 'Fix or remove it (docker login rewrites it).');
  }
  const j = raw as { auths?: Record<string, { auth?: string; username?: string; password?: string }>; credsStore?: string; credHelpers?: Record<string, string> };
  for (const [key, v] of Object.entries(j.auths ?? {})) {
    let username = v.username;
    let password = v.password;
    if (v.auth) {
      const text = Buffer.from(v.auth, 'base64').toString('utf8');
      const i = text.indexOf(':');
      if (i > 0) {
        username = text.slice(0, i);
        password = text.slice(i + 1);
      }
    }
    if (username && password !== undefined) cfg.auths.set(configKey(key), { username, password });
  }
  for (const key of Object.keys(j.credHelpers ?? {})) cfg.helpers.add(configKey(key));
  cfg.anyHelper = !!j.credsStore;
  return cfg;
}

// ---------------------------------------------------------------------------------------------------------------
// The client

export interface Manifest {
  mediaType: string;
  digest: string;
  bytes: Buffer;
  json: ManifestJson;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform & { 'os.version'?: string; 'os.features'?: string[] };
  annotations?: Record<string, string>;
  urls?: string[];
}

export interface ManifestJson {
  schemaVersion: number;
  mediaType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
  annotations?: Record<string, string>;
}

/** The image config (the parts read here; the rest is kept as it is). */
export interface ImageConfigJson {
  architecture: string;
  os: string;
  variant?: string;
  config?: Record<string, unknown> & { Env?: string[]; Labels?: Record<string, string> | null };
  rootfs: { type: string; diff_ids: string[] };
  history?: { created?: string; created_by?: string; comment?: string; empty_layer?: boolean }[];
  [key: string]: unknown;
}

export interface PlatformImage {
  manifest: Manifest;
  config: ImageConfigJson;
  configBytes: Buffer;
  /** The platforms the reference offers (one for a single manifest). */
  platforms: Platform[];
}

export interface RegistryClientOptions {
  /** Allow http:// to registries that are not loopback. */
  insecure?: boolean;
  /** The Docker config file with `auths` (default: $DOCKER_CONFIG/config.json, else ~/.docker/config.json). */
  dockerConfig?: string;
  log?: Logger;
  signal?: AbortSignal;
}

type Auth = { kind: 'bearer'; token: string } | { kind: 'basic'; header: string };

export function sha256(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Error codes from a registry's JSON error body (`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"…"}]}`). */
async function errorCodes(res: Response): Promise<string> {
  try {
    const j = (await res.json()) as { errors?: { code?: string; message?: string }[] };
    const parts = (j.errors ?? []).map((e) => [e.code, e.message].filter(Boolean).join(': ')).filter(Boolean);
    return parts.length ? ` (${parts.join('; ').slice(0, 300)})` : '';
  } catch {
    return '';
  }
}

/** `Bearer realm="…",service="…",scope="…"` → scheme and parameters. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  const params: Record<string, string> = {};
  if (!m) return { scheme: '', params };
  const re = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/g;
  for (let p: RegExpExecArray | null; (p = re.exec(m[2]!)); ) params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  return { scheme: m[1]!.toLowerCase(), params };
}

function networkCode(e: unknown): string {
  let c: unknown = e;
  for (let i = 0; i < 5 && c; i++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const errors = (c as { errors?: unknown[] }).errors;
    if (Array.isArray(errors) && errors.length) c = errors[0];
    else c = (c as { cause?: unknown }).cause;
  }
  return e instanceof Error ? e.message : String(e);
}

export class RegistryClient {
  private readonly log: Logger;
  private readonly auths = new Map<string, Auth>();
  private config: DockerConfig | undefined;

  constructor(private readonly opts: RegistryClientOptions = {}) {
    this.log = opts.log ?? nullLogger;
  }

  private dockerConfig(): DockerConfig {
    this.config ??= readDockerConfig(this.opts.dockerConfig ?? dockerConfigFile());
    return this.config;
  }

  private baseUrl(registry: string): string {
    const host = registry === DOCKER_HUB ? 'registry-1.docker.io' : registry;
    return `${isLoopbackRegistry(registry) || this.opts.insecure ? 'http' : 'https'}://${host}`;
  }

  private loginHint(registry: string): string {
    const cfg = this.dockerConfig();
    const helper = cfg.helpers.has(registry) || (cfg.anyHelper && !cfg.auths.has(registry));
    return (
      `Log in (docker login ${registry === DOCKER_HUB ? '' : registry}`.trimEnd() +
      `), or check the auths entry for ${registry} in ${cfg.file}` +
      (helper ? ' (credential helpers, credsStore/credHelpers, are not read: put the entry under auths)' : '') +
      '.'
    );
  }

  private checkAbort(): void {
    if (this.opts.signal?.aborted) throw new CancelledError();
  }

  /** One HTTP exchange with the registry, authenticated on a challenge; errors for the network only. */
  private async send(
    registry: string,
    scopes: string[],
    what: string,
    method: string,
    urlPath: string,
    init: { headers?: Record<string, string>; body?: Buffer; redirect?: 'follow' | 'manual' } = {},
  ): Promise<Response> {
    const url = /^https?:\/\//.test(urlPath) ? urlPath : `${this.baseUrl(registry)}${urlPath}`;
    const key = `${registry} ${scopes.join(' ')}`;
    const attempt = async (auth: Auth | undefined): Promise<Response> => {
      this.checkAbort();
      const headers: Record<string, string> = { 'user-agent': 'modelyard', ...(init.headers ?? {}) };
      if (auth) headers.authorization = auth.kind === 'bearer' ? `Bearer ${auth.token}` : auth.header;
      const t0 = Date.now();
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          headers,
          ...(init.body ? { body: new Uint8Array(init.body.buffer as ArrayBuffer, init.body.byteOffset, init.body.byteLength) } : {}),
          redirect: init.redirect ?? 'follow',
          ...(this.opts.signal ? { signal: this.opts.signal } : {}),
        });
      } catch (e) {
        if (this.opts.signal?.aborted) throw new CancelledError();
        const code = networkCode(e);
        const plainHttp = /EPROTO|wrong version number|ERR_SSL/i.test(code);
        throw new UserError(
          `cannot reach the registry ${registry} for ${what} (${code}).`,
          plainHttp
            ? `The registry seems to speak plain http: pass --insecure if you trust the network to it.`
            : `Is the registry running, and is the address right? (${url.replace(/\?.*$/, '')}; https:// is used unless the registry is on a loopback address or --insecure is given.)`,
        );
      }
      this.log.debug(`registry: ${method} ${url.replace(/\?.*$/, '')} → ${res.status} (${Date.now() - t0} ms)`);
      return res;
    };
    let auth = this.auths.get(key);
    let res = await attempt(auth);
    if (res.status !== 401) return res;
    // A challenge: answer it once.
    const challenge = parseChallenge(res.headers.get('www-authenticate') ?? '');
    await res.body?.cancel();
    const creds = this.dockerConfig().auths.get(registry);
    if (challenge.scheme === 'bearer' && challenge.params.realm) {
      auth = { kind: 'bearer', token: await this.token(registry, what, challenge.params, scopes, creds) };
    } else if (challenge.scheme === 'basic' && creds) {
      auth = { kind: 'basic', header: `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` };
    } else {
      throw new UserError(`${registry} refused ${what}: authentication required (HTTP 401${creds ? '' : ', no credentials for it'}).`, this.loginHint(registry));
    }
    this.auths.set(key, auth);
    res = await attempt(auth);
    if (res.status === 401) {
      await res.body?.cancel();
      throw new UserError(`${registry} refused ${what}: the credentials were not accepted (HTTP 401).`, this.loginHint(registry));
    }
    return res;
  }

  /** A token from the challenge's realm for `scopes` (Basic credentials sent only over https or to loopback). */
  private async token(registry: string, what: string, params: Record<string, string>, scopes: string[], creds: Credentials | undefined): Promise<string> {
    let realm: URL;
    try {
      realm = new URL(params.realm!);
    } catch {
      throw new UserError(`${registry} answered ${what} with an unusable auth challenge (realm '${params.realm}').`, 'Check the registry address.');
    }
    if (params.service) realm.searchParams.set('service', params.service);
    const wanted = new Set(scopes);
    if (params.scope) for (const s of params.scope.split(' ')) if (s && !scopes.some((x) => x.startsWith(s.replace(/:[^:]*$/, ':')))) wanted.add(s);
    for (const s of wanted) realm.searchParams.append('scope', s);
    const safe = realm.protocol === 'https:' || isLoopbackRegistry(realm.host);
    const headers: Record<string, string> = { 'user-agent': 'modelyard' };
    if (creds && safe) headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    this.checkAbort();
    let res: Response;
    try {
      res = await fetch(realm, { headers, ...(this.opts.signal ? { signal: this.opts.signal } : {}) });
    } catch (e) {
      if (this.opts.signal?.aborted) throw new CancelledError();
      throw new UserError(`cannot reach the token service of ${registry} (${realm.host}) for ${what} (${networkCode(e)}).`, 'Is the network to it open?');
    }
    this.log.debug(`registry: token from ${realm.origin}${realm.pathname} → ${res.status}`);
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      throw new UserError(`${registry} refused ${what}: its token service did not accept ${creds ? 'the credentials' : 'an anonymous request'} (HTTP ${res.status}).`, this.loginHint(registry));
    }
    if (!res.ok) throw new UserError(`the token service of ${registry} failed for ${what} (HTTP ${res.status}).`, 'Try again later; check the registry status.');
    const j = (await res.json().catch(() => ({}))) as { token?: string; access_token?: string };
    const token = j.token ?? j.access_token;
    if (!token) throw new UserError(`the token service of ${registry} answered ${what} without a token.`, 'Check the registry address.');
    return token;
  }

  /** An answer that is not what was expected, as a UserError. */
  private async fail(res: Response, registry: string, what: string, kind: 'manifest' | 'blob' | 'push'): Promise<never> {
    const codes = await errorCodes(res);
    const s = res.status;
    if (s === 401 || s === 403) {
      throw new UserError(
        `${registry} refused ${what}: ${kind === 'push' ? 'not allowed to push there' : 'access denied'} (HTTP ${s}${codes}).`,
        this.loginHint(registry),
      );
    }
    if (s === 404 && kind === 'manifest') throw new UserError(`no such image or tag: ${what} (${registry} answered 404${codes}).`, 'Check the repository name and the tag.');
    if (s === 404) throw new UserError(`${registry} has no ${what} (HTTP 404${codes}).`, 'Check the repository name; the image may have been deleted.');
    if (s === 429) throw new UserError(`${registry} is rate-limiting ${what} (HTTP 429).`, 'Wait and try again, or log in for a higher limit.');
    throw new UserError(`${registry} failed ${what} (HTTP ${s}${codes}).`, s >= 500 ? 'The registry has a problem: try again later.' : 'Check the reference and the registry.');
  }

  /** A manifest (or index) by tag or digest; by digest it is verified. */
  async getManifest(ref: ImageReference): Promise<Manifest> {
    const what = formatReference(ref);
    const res = await this.send(ref.registry, [`repository:${ref.repository}:pull`], what, 'GET', `/v2/${ref.repository}/manifests/${manifestName(ref)}`, {
      headers: { accept: MANIFEST_ACCEPT },
    });
    if (!res.ok) return this.fail(res, ref.registry, what, 'manifest');
    const bytes = Buffer.from(await res.arrayBuffer());
    const digest = sha256(bytes);
    if (ref.digest && ref.digest !== digest) throw new UserError(`${ref.registry} sent a manifest for ${what} whose digest is ${digest}.`, 'The registry or a proxy altered it: do not use it.');
    let json: ManifestJson;
    try {
      json = JSON.parse(bytes.toString('utf8')) as ManifestJson;
    } catch {
      throw new UserError(`${ref.registry} sent a manifest for ${what} that is not JSON.`, 'Check the registry address.');
    }
    const mediaType = json.mediaType ?? res.headers.get('content-type')?.split(';')[0]?.trim() ?? '';
    return { mediaType, digest, bytes, json };
  }

  /** The digest of a manifest when it exists, else undefined (HEAD). */
  async manifestDigest(ref: ImageReference): Promise<string | undefined> {
    const what = formatReference(ref);
    const res = await this.send(ref.registry, [`repository:${ref.repository}:pull`], what, 'HEAD', `/v2/${ref.repository}/manifests/${manifestName(ref)}`, {
      headers: { accept: MANIFEST_ACCEPT },
    });
    if (res.status === 404) return undefined;
    if (!res.ok) return this.fail(res, ref.registry, what, 'manifest');
    return res.headers.get('docker-content-digest') ?? undefined;
  }

  /** A blob, verified against its digest. */
  async getBlob(registry: string, repository: string, digest: string): Promise<Buffer> {
    const what = `blob ${digest.slice(0, 19)}… of ${registry}/${repository}`;
    const res = await this.send(registry, [`repository:${repository}:pull`], what, 'GET', `/v2/${repository}/blobs/${digest}`);
    if (!res.ok) return this.fail(res, registry, what, 'blob');
    const bytes = Buffer.from(await res.arrayBuffer());
    if (sha256(bytes) !== digest) throw new UserError(`${registry} sent ${what} with other content (digest ${sha256(bytes)}).`, 'The registry or a proxy altered it: try again.');
    return bytes;
  }

  /** Whether the repository holds the blob (HEAD). */
  async hasBlob(registry: string, repository: string, digest: string, push = false): Promise<boolean> {
    const what = `blob ${digest.slice(0, 19)}… in ${registry}/${repository}`;
    const res = await this.send(registry, [`repository:${repository}:${push ? 'pull,push' : 'pull'}`], what, 'HEAD', `/v2/${repository}/blobs/${digest}`);
    if (res.status === 404) return false;
    if (res.ok) return true;
    return this.fail(res, registry, what, push ? 'push' : 'blob');
  }

  /** Mounts a blob from another repository of the same registry; false when the registry would not (then upload). */
  async mountBlob(registry: string, repository: string, digest: string, from: string): Promise<boolean> {
    const what = `mount of blob ${digest.slice(0, 19)}… into ${registry}/${repository}`;
    const res = await this.send(
      registry,
      [`repository:${repository}:pull,push`, `repository:${from}:pull`],
      what,
      'POST',
      `/v2/${repository}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`,
      { headers: { 'content-length': '0' } },
    );
    await res.body?.cancel();
    if (res.status === 201) return true;
    if (res.status === 202) {
      // An upload session was opened instead: close it, the caller uploads.
      const loc = res.headers.get('location');
      if (loc) {
        const del = await this.send(registry, [`repository:${repository}:pull,push`], what, 'DELETE', new URL(loc, this.baseUrl(registry)).toString()).catch(() => undefined);
        await del?.body?.cancel();
      }
      return false;
    }
    if (res.status === 401 || res.status === 403) return this.fail(res, registry, what, 'push');
    return false;
  }

  /** Uploads a blob in one request (POST for a session, then PUT ?digest=). */
  async uploadBlob(registry: string, repository: string, digest: string, data: Buffer): Promise<void> {
    if (sha256(data) !== digest) throw new Error(`uploadBlob: the data of ${digest} has another digest`);
    const what = `upload of blob ${digest.slice(0, 19)}… to ${registry}/${repository}`;
    const scopes = [`repository:${repository}:pull,push`];
    const start = await this.send(registry, scopes, what, 'POST', `/v2/${repository}/blobs/uploads/`, { headers: { 'content-length': '0' } });
    if (start.status !== 202) return this.fail(start, registry, what, 'push');
    await start.body?.cancel();
    const loc = start.headers.get('location');
    if (!loc) throw new UserError(`${registry} opened an upload without a Location for ${what}.`, 'The registry does not follow the OCI distribution spec.');
    const url = new URL(loc, this.baseUrl(registry));
    url.searchParams.set('digest', digest);
    const put = await this.send(registry, scopes, what, 'PUT', url.toString(), {
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(data.length) },
      body: data,
    });
    if (put.status !== 201 && put.status !== 204) return this.fail(put, registry, what, 'push');
    await put.body?.cancel();
  }

  /** Puts a manifest under the reference's tag (or digest); returns its digest. */
  async putManifest(ref: ImageReference, bytes: Buffer, mediaType: string): Promise<string> {
    const what = `push of ${formatReference(ref)}`;
    const digest = sha256(bytes);
    const res = await this.send(ref.registry, [`repository:${ref.repository}:pull,push`], what, 'PUT', `/v2/${ref.repository}/manifests/${ref.tag ?? digest}`, {
      headers: { 'content-type': mediaType },
      body: bytes,
    });
    if (res.status !== 201 && res.status !== 200 && res.status !== 202) return this.fail(res, ref.registry, what, 'push');
    await res.body?.cancel();
    const said = res.headers.get('docker-content-digest');
    if (said && said !== digest) throw new UserError(`${ref.registry} stored ${what} under digest ${said}, not ${digest}.`, 'The registry rewrote the manifest: use a registry that keeps manifests as pushed.');
    return digest;
  }

  /**
   * The image of one platform behind a reference: from an index, the manifest whose platform matches; a single
   * manifest is checked against its config. Refuses a reference without the platform, naming those it has.
   */
  async platformImage(ref: ImageReference, want: Platform): Promise<PlatformImage> {
    const what = formatReference(ref);
    const top = await this.getManifest(ref);
    let manifest = top;
    let platforms: Platform[];
    if (top.json.manifests) {
      const entries = top.json.manifests.filter((m) => m.platform && m.platform.os !== 'unknown' && m.platform.architecture !== 'unknown');
      platforms = entries.map((m) => ({ os: m.platform!.os, architecture: m.platform!.architecture, ...(m.platform!.variant ? { variant: m.platform!.variant } : {}) }));
      const hit = entries.find((m) => platformMatches(m.platform!, want));
      if (!hit) throw noPlatform(what, want, platforms);
      manifest = await this.getManifest({ registry: ref.registry, repository: ref.repository, digest: hit.digest });
    } else platforms = [];
    if (!manifest.json.config || !manifest.json.layers) {
      throw new UserError(`${what} is not an image manifest this client reads (${manifest.mediaType || 'no media type'}).`, 'Use an OCI or Docker v2 image as the base.');
    }
    const configBytes = await this.getBlob(ref.registry, ref.repository, manifest.json.config.digest);
    const config = JSON.parse(configBytes.toString('utf8')) as ImageConfigJson;
    const have: Platform = { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
    if (!top.json.manifests) {
      platforms = [have];
      if (!platformMatches(have, want)) throw noPlatform(what, want, platforms);
    }
    return { manifest, config, configBytes, platforms };
  }
}

function noPlatform(what: string, want: Platform, have: Platform[]): UserError {
  return new UserError(
    `${what} has no ${formatPlatform(want)} image; it has ${have.length ? have.map(formatPlatform).join(', ') : 'no platform images'}.`,
    'Pick a base image built for that platform (--base), or another --platform.',
  );
}
