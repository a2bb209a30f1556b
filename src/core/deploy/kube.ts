/**
 * The Kubernetes API as deployment uses it: a kubeconfig context (KUBECONFIG, client certificates, tokens,
 * exec-credential plugins, TLS verified, proxies from the kubeconfig) through @kubernetes/client-node, with every
 * failure turned into one message that names the problem and the way out. The client is loaded on first use: the
 * CLI's other verbs never evaluate it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type * as K8s from '@kubernetes/client-node';
import { CancelledError, UserError, firstLine } from '../errors';
import type { Logger } from '../log';

type ClientModule = typeof K8s;
let loaded: Promise<ClientModule> | undefined;
/** @kubernetes/client-node, evaluated on first use. */
export function k8s(): Promise<ClientModule> {
  loaded ??= import('@kubernetes/client-node');
  return loaded;
}

/** The field manager of every server-side apply: what Modelyard owns in an object. */
export const FIELD_MANAGER = 'modelyard';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

export interface ContextInfo {
  name: string;
  cluster: string;
  server: string;
  user: string;
  namespace?: string;
  current: boolean;
}

/** The kubeconfig files in force: KUBECONFIG (a path list) or ~/.kube/config. */
export function kubeconfigFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const list = env.KUBECONFIG?.split(path.delimiter).filter(Boolean);
  return list?.length ? list : [path.join(os.homedir(), '.kube', 'config')];
}

/**
 * Loads the kubeconfig (an explicit file, else KUBECONFIG or ~/.kube/config) and selects a context (else the current
 * one). A missing or broken file and an unknown context are UserErrors that say what to do.
 */
export async function loadKubeConfig(opts: { kubeconfig?: string; context?: string } = {}): Promise<K8s.KubeConfig> {
  const { KubeConfig } = await k8s();
  const kc = new KubeConfig();
  const files = opts.kubeconfig ? [opts.kubeconfig] : kubeconfigFiles();
  const present = files.filter((f) => fs.existsSync(f));
  // Inside a pod (a CI job on the cluster) the service account is the default, as kubectl and client-node have it.
  const inCluster = !opts.kubeconfig && !present.length && !!process.env.KUBERNETES_SERVICE_HOST;
  if (!present.length && !inCluster) {
    throw new UserError(
      `no kubeconfig found (looked at ${files.join(', ')}).`,
      'Get one from your cluster (for example `aws eks update-kubeconfig`, `gcloud container clusters get-credentials`, `az aks get-credentials`, or your admin), or set KUBECONFIG.',
    );
  }
  try {
    if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
    else kc.loadFromDefault();
  } catch (e) {
    throw new UserError(`the kubeconfig ${present.join(', ') || '(in-cluster)'} cannot be read: ${firstLine((e as Error).message)}.`, 'Fix the YAML (kubectl config view shows what kubectl makes of it), or point KUBECONFIG at another file.');
  }
  const names = kc.getContexts().map((c) => c.name);
  if (!names.length) throw new UserError(`the kubeconfig ${present.join(', ')} has no contexts.`, 'Add one with `kubectl config set-context`, or get a kubeconfig from your cluster.');
  if (opts.context) {
    if (!names.includes(opts.context)) throw new UserError(`the kubeconfig has no context '${opts.context}'.`, `Its contexts: ${names.join(', ')}.`);
    kc.setCurrentContext(opts.context);
  } else if (!kc.getCurrentContext() || !names.includes(kc.getCurrentContext())) {
    throw new UserError('the kubeconfig names no current context.', `Give --context (one of ${names.join(', ')}), or run \`kubectl config use-context NAME\`.`);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server) throw new UserError(`the context '${kc.getCurrentContext()}' names no cluster with a server address.`, 'Fix the context in the kubeconfig.');
  withTokenFromEnvironment(kc);
  return kc;
}

/** The environment variable with a bearer token for a context whose kubeconfig user has no credentials (the editor keeps it in its secret storage; the editor's name for it: KUBE_TOKEN_ENV_NAME in src/shared/cli/deploy.ts). */
export const KUBE_TOKEN_ENV = 'MODELYARD_KUBE_TOKEN';

type KubeUser = NonNullable<ReturnType<K8s.KubeConfig['getCurrentUser']>>;

/** How a kubeconfig user authenticates. */
export function authOf(u: KubeUser | null | undefined): 'token' | 'certificate' | 'exec' | 'auth-provider' | 'basic' | 'none' {
  if (!u) return 'none';
  if (u.exec) return 'exec';
  if (u.authProvider) return 'auth-provider';
  if (u.token || (u as { tokenFile?: string }).tokenFile) return 'token';
  if (u.certData || u.certFile) return 'certificate';
  if (u.username || u.password) return 'basic';
  return 'none';
}

/** MODELYARD_KUBE_TOKEN becomes the current user's token when the kubeconfig gives that user no credentials. */
function withTokenFromEnvironment(kc: K8s.KubeConfig): void {
  const token = process.env[KUBE_TOKEN_ENV]?.trim();
  const user = kc.getCurrentUser();
  if (!token || authOf(user) !== 'none') return;
  const name = user?.name ?? kc.getContextObject(kc.getCurrentContext())?.user ?? 'modelyard-token';
  const users = kc.users.filter((u) => u.name !== name);
  kc.users = [...users, { ...(user ?? {}), name, token }];
  if (!user) {
    const ctx = kc.getContextObject(kc.getCurrentContext())!;
    kc.contexts = kc.contexts.map((c) => (c.name === ctx.name ? { ...c, user: name } : c));
  }
}

/** Whether a command is found: an absolute or relative path that exists, or a name on PATH. */
export function commandFound(command: string, env: NodeJS.ProcessEnv = process.env): boolean {
  if (command.includes('/') || command.includes('\\')) return fs.existsSync(command);
  const exts = process.platform === 'win32' ? ['', ...(env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';')] : [''];
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    for (const ext of exts) {
      try {
        const f = path.join(dir, command + ext);
        if (fs.statSync(f).isFile()) return true;
      } catch {
        // not there
      }
    }
  }
  return false;
}

export interface KubeconfigContexts {
  files: string[];
  current: string | null;
  contexts: {
    name: string;
    cluster: string;
    server: string;
    user: string;
    namespace: string | null;
    auth: ReturnType<typeof authOf>;
    exec?: { command: string; found: boolean };
  }[];
}

/**
 * The contexts of the kubeconfig in force (or of `kubeconfig`), read without touching a cluster: what the editor's
 * Deployments view starts from. No kubeconfig at all is no error: no files, no contexts.
 */
export async function readContexts(opts: { kubeconfig?: string } = {}): Promise<KubeconfigContexts> {
  const files = (opts.kubeconfig ? [opts.kubeconfig] : kubeconfigFiles()).filter((f) => fs.existsSync(f));
  if (!files.length) return { files: [], current: null, contexts: [] };
  const { KubeConfig } = await k8s();
  const kc = new KubeConfig();
  try {
    if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
    else kc.loadFromDefault();
  } catch (e) {
    throw new UserError(`the kubeconfig ${files.join(', ')} cannot be read: ${firstLine((e as Error).message)}.`, 'Fix the YAML (kubectl config view shows what kubectl makes of it), or point KUBECONFIG at another file.');
  }
  const current = kc.getCurrentContext();
  return {
    files,
    current: current && kc.getContextObject(current) ? current : null,
    contexts: kc.getContexts().map((c) => {
      const user = kc.getUser(c.user);
      const auth = authOf(user);
      return {
        name: c.name,
        cluster: c.cluster,
        server: kc.getCluster(c.cluster)?.server ?? '',
        user: c.user,
        namespace: c.namespace ?? null,
        auth,
        ...(auth === 'exec' && user?.exec?.command ? { exec: { command: String(user.exec.command), found: commandFound(String(user.exec.command)) } } : {}),
      };
    }),
  };
}

/** Every context of a kubeconfig, for pickers and `modelyard deployments`. */
export function contextsOf(kc: K8s.KubeConfig): ContextInfo[] {
  const current = kc.getCurrentContext();
  return kc.getContexts().map((c) => ({
    name: c.name,
    cluster: c.cluster,
    server: kc.getCluster(c.cluster)?.server ?? '',
    user: c.user,
    ...(c.namespace ? { namespace: c.namespace } : {}),
    current: c.name === current,
  }));
}

/**
 * A failure of a call to the API server, with what kind it was: `status` the HTTP status the server answered, or
 * `unreachable` when it did not answer at all (a watch waits for it and tries again; anything else is final).
 */
export class KubeError extends UserError {
  constructor(
    message: string,
    hint: string | undefined,
    readonly status?: number,
    readonly unreachable = false,
  ) {
    super(message, hint);
  }
}

/** Whether an error says the API server did not answer (or answered that it failed, 5xx): worth waiting for. */
export function isUnreachable(e: unknown): boolean {
  return e instanceof KubeError && (e.unreachable || (e.status ?? 0) >= 500);
}

/**
 * One failure of a call to the API server, for a person: what failed, why, and what to do. `what` says what was
 * being done ("apply InferenceService wake in ml"). Credentials are never part of the message.
 */
export function kubeError(e: unknown, what: string, server?: string): Error {
  if (e instanceof UserError) return e;
  if ((e as { name?: string } | null)?.name === 'AbortError') return new CancelledError();
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'number') {
    const body = (e as { body?: unknown }).body;
    const status = parseStatus(body);
    const reason = status?.message ?? firstLine(String((e as Error).message ?? ''));
    if (code === 401) return new KubeError(`${what}: the API server${server ? ` at ${server}` : ''} did not accept the credentials (401).`, 'Your token or certificate may have expired: log in again (for example with your cloud\'s CLI), or get a fresh kubeconfig.', 401);
    if (code === 403) return new KubeError(`${what}: permission denied — ${reason}`, 'Ask your cluster admin for a Role that allows it in this namespace (`kubectl auth can-i --list -n NAMESPACE` shows what you may do).', 403);
    const ns = code === 404 ? /namespaces? "([^"]+)" not found/i.exec(reason)?.[1] : undefined;
    if (ns) return new UserError(`${what}: the namespace ${ns} does not exist${server ? ` at ${server}` : ''}.`, `Create it (kubectl create namespace ${ns}), or choose another.`);
    if (code === 404) return new UserError(`${what}: not found — ${reason}`);
    if (code === 409) return new UserError(`${what}: conflict — ${reason}`, conflictHint(reason));
    if (code === 422) return new UserError(`${what}: the API server refused the object — ${reason}`);
    if (code >= 500) return new KubeError(`${what}: the API server failed (${code}) — ${reason}`, 'Try again; if it persists, check the API server\'s health.', code);
    return new UserError(`${what}: ${reason} (${code}).`);
  }
  const cause = (e as { cause?: { code?: string; message?: string } } | null)?.cause;
  const net = cause?.code ?? (typeof code === 'string' ? code : undefined);
  const where = server ? ` at ${server}` : '';
  if (net === 'ECONNREFUSED' || net === 'EHOSTUNREACH' || net === 'ECONNRESET' || net === 'UND_ERR_SOCKET') {
    return new KubeError(`${what}: the API server${where} is not reachable (${net}).`, 'Check that the cluster is running and that this machine can reach it (VPN, proxy-url in the kubeconfig).', undefined, true);
  }
  if (net === 'ENOTFOUND' || net === 'EAI_AGAIN') return new KubeError(`${what}: the API server's host${where} cannot be resolved (${net}).`, 'Check the server address in the kubeconfig, and your DNS or VPN.', undefined, true);
  if (net === 'UND_ERR_CONNECT_TIMEOUT' || net === 'ETIMEDOUT') return new KubeError(`${what}: the API server${where} did not answer in time.`, 'Check the network path to the cluster (VPN, proxy-url in the kubeconfig).', undefined, true);
  if (net && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(net)) {
    return new UserError(`${what}: the API server's certificate${where} is not trusted (${net}).`, 'The kubeconfig\'s certificate-authority-data must be the cluster\'s CA; TLS is always verified.');
  }
  if (e instanceof TypeError && /fetch failed/.test(e.message) && cause?.message) {
    return new KubeError(`${what}: the API server${where} cannot be reached: ${cause.message}.`, 'Check the server address in the kubeconfig and the network path to it (VPN, proxy-url).', undefined, true);
  }
  const msg = String((e as Error)?.message ?? e);
  const plugin = /spawn (\S+) ENOENT/.exec(msg)?.[1] ?? /Failed to refresh token: .*?(\S+): not found/.exec(msg)?.[1];
  if (plugin) {
    return new UserError(`${what}: the kubeconfig's credential plugin '${plugin}' is not on this process's PATH.`, `Install it, and add its folder to PATH or give its full path in the kubeconfig (users[].user.exec.command); or, in the editor, add its folder to the setting modelyard.deploy.extraPath.`);
  }
  return e instanceof Error ? e : new Error(msg);
}

function conflictHint(reason: string): string {
  const manager = /conflict with "([^"]+)"/.exec(reason)?.[1];
  return manager
    ? `Another tool ("${manager}") manages these fields. Let one tool own the object, or deploy under another --name.`
    : 'Another change to this object is under way; try again when it is done.';
}

function parseStatus(body: unknown): { message?: string; reason?: string } | undefined {
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as { message?: string };
    } catch {
      return body ? { message: firstLine(body) } : undefined;
    }
  }
  return body && typeof body === 'object' ? (body as { message?: string }) : undefined;
}

/**
 * A context's API: typed clients, server-side apply with the field manager `modelyard`, and fetch through the API
 * server (service proxy, logs), each call's failure translated by kubeError.
 */
export class Kube {
  readonly server: string;
  readonly context: string;
  /** The namespace the context names, else "default". */
  readonly defaultNamespace: string;
  private constructor(
    readonly kc: K8s.KubeConfig,
    readonly lib: ClientModule,
    private readonly log?: Logger,
    /** The kubeconfig file named explicitly, if one was (else KUBECONFIG or ~/.kube/config). */
    readonly kubeconfigFile?: string,
  ) {
    this.server = kc.getCurrentCluster()!.server;
    this.context = kc.getCurrentContext();
    this.defaultNamespace = kc.getContextObject(this.context)?.namespace ?? 'default';
  }

  static async connect(opts: { kubeconfig?: string; context?: string; log?: Logger } = {}): Promise<Kube> {
    return new Kube(await loadKubeConfig(opts), await k8s(), opts.log, opts.kubeconfig);
  }

  get core(): K8s.CoreV1Api {
    return this.kc.makeApiClient(this.lib.CoreV1Api);
  }

  get apps(): K8s.AppsV1Api {
    return this.kc.makeApiClient(this.lib.AppsV1Api);
  }

  get objects(): K8s.KubernetesObjectApi {
    return this.lib.KubernetesObjectApi.makeApiClient(this.kc);
  }

  /** Runs one call; its failure becomes a message that says what was being done. */
  async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      const r = await fn();
      this.log?.debug(`[kube] ${what}: ${(performance.now() - t0).toFixed(0)} ms`);
      return r;
    } catch (e) {
      this.log?.debug(`[kube] ${what}: failed after ${(performance.now() - t0).toFixed(0)} ms`);
      throw kubeError(e, what, this.server);
    }
  }

  /** The server's version ("v1.37.2"). */
  async version(): Promise<string> {
    const v = await this.call('read the server version', () => this.kc.makeApiClient(this.lib.VersionApi).getCode());
    return v.gitVersion;
  }

  /**
   * Server-side apply with the field manager `modelyard` (`dryRun` asks the server what would change, writing
   * nothing). A field another manager owns is a conflict, reported with that manager's name, unless `force`.
   */
  async apply<T extends KubeObject>(obj: T, opts: { dryRun?: boolean; force?: boolean } = {}): Promise<T> {
    const what = `${opts.dryRun ? 'dry-run apply' : 'apply'} ${obj.kind} ${obj.metadata.name}${obj.metadata.namespace ? ` in ${obj.metadata.namespace}` : ''}`;
    return this.call(what, () =>
      this.objects.patch(obj as K8s.KubernetesObject, undefined, opts.dryRun ? 'All' : undefined, FIELD_MANAGER, opts.force ?? false, this.lib.PatchStrategy.ServerSideApply),
    ) as Promise<T>;
  }

  /** Reads an object; undefined when it does not exist. */
  async read<T extends KubeObject>(header: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }): Promise<T | undefined> {
    try {
      return (await this.objects.read(header as never)) as unknown as T;
    } catch (e) {
      if ((e as { code?: unknown }).code === 404) return undefined;
      throw kubeError(e, `read ${header.kind} ${header.metadata.name}`, this.server);
    }
  }

  async list<T extends KubeObject>(apiVersion: string, kind: string, namespace: string | undefined, labelSelector?: string): Promise<T[]> {
    const r = await this.call(`list ${kind}${namespace ? ` in ${namespace}` : ''}`, () => this.objects.list(apiVersion, kind, namespace, undefined, undefined, undefined, undefined, labelSelector));
    return r.items as unknown as T[];
  }

  /** Deletes an object; false when it was not there. */
  async delete(header: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }): Promise<boolean> {
    try {
      await this.objects.delete(header as K8s.KubernetesObject, undefined, undefined, undefined, undefined, 'Background');
      return true;
    } catch (e) {
      if ((e as { code?: unknown }).code === 404) return false;
      throw kubeError(e, `delete ${header.kind} ${header.metadata.name}`, this.server);
    }
  }

  /**
   * The namespaces one may pick: all of them when listing is allowed, else only the context's own (`listed` false,
   * with the reason).
   */
  async namespaces(): Promise<{ namespaces: string[]; listed: boolean; message?: string }> {
    try {
      const r = await this.call('list the namespaces', () => this.core.listNamespace());
      return { namespaces: r.items.map((n) => n.metadata?.name ?? '').filter(Boolean).sort(), listed: true };
    } catch (e) {
      if (!(e instanceof KubeError) || e.status !== 403) throw e;
      return {
        namespaces: [this.defaultNamespace],
        listed: false,
        message: `you may not list the namespaces of ${this.context}: only the context's namespace ${this.defaultNamespace} is offered. Set another in the kubeconfig (kubectl config set-context --current --namespace NS), or type it.`,
      };
    }
  }

  /** Whether the API server serves a group/version (e.g. serving.kserve.io/v1beta1). */
  async hasApi(groupVersion: string): Promise<boolean> {
    const r = await this.fetch(`/apis/${groupVersion}`, {});
    if (r.status === 404) return false;
    if (!r.ok) throw kubeError({ code: r.status, body: await r.text() }, `read /apis/${groupVersion}`, this.server);
    return true;
  }

  /**
   * A request to the API server with the context's credentials and TLS settings (what the typed clients do), for
   * the paths they do not cover: the service proxy with a body, discovery.
   */
  async fetch(pathAndQuery: string, init: { method?: string; body?: string | Uint8Array; headers?: Record<string, string>; signal?: AbortSignal; timeoutMs?: number }): Promise<Response> {
    const { fetch: undiciFetch } = await import('undici');
    const headers: Record<string, string> = {};
    let dispatcher: unknown;
    const url = `${this.server.replace(/\/+$/, '')}${pathAndQuery}`;
    const ctx = {
      setHeaderParam: (k: string, v: string) => (headers[k] = v),
      setDispatcher: (d: unknown) => (dispatcher = d),
      getUrl: () => url,
      getHeaders: () => headers,
    };
    try {
      await this.kc.applySecurityAuthentication(ctx as unknown as Parameters<K8s.KubeConfig['applySecurityAuthentication']>[0]);
      const signals = [init.signal, AbortSignal.timeout(init.timeoutMs ?? 60_000)].filter((s): s is AbortSignal => !!s);
      return (await undiciFetch(url, {
        method: init.method ?? 'GET',
        headers: { ...headers, ...init.headers },
        ...(init.body !== undefined ? { body: init.body } : {}),
        signal: AbortSignal.any(signals),
        ...(dispatcher ? { dispatcher: dispatcher as never } : {}),
      })) as unknown as Response;
    } catch (e) {
      if (init.signal?.aborted) throw new CancelledError();
      throw kubeError(e, `${init.method ?? 'GET'} ${pathAndQuery.split('?')[0]}`, this.server);
    }
  }
}
