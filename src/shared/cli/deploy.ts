import * as z from 'zod/mini';

/**
 * What the deployment verbs of the CLI print with --json, as the editor reads them (validated on arrival): the
 * contexts of the kubeconfig, the namespaces of one, and the arguments of a deploy, built in one place.
 */

const text = z.string().check(z.maxLength(16_384));

/** The environment variable that gives the deployment verbs a bearer token for a context whose kubeconfig has no credentials. */
export const KUBE_TOKEN_ENV_NAME = 'MODELYARD_KUBE_TOKEN';

/** `modelyard contexts --json`: the kubeconfig's contexts, read without touching a cluster. */
export const contextsResultSchema = z.object({
  /** The kubeconfig files read (KUBECONFIG's list, or ~/.kube/config); empty when there is none. */
  files: z.array(text).check(z.maxLength(64)),
  current: z.nullable(text),
  contexts: z
    .array(
      z.object({
        name: text,
        cluster: text,
        server: text,
        user: text,
        /** The namespace the context names, if any. */
        namespace: z.nullable(text),
        /** How the user authenticates: a token, a client certificate, an exec-credential plugin, a provider, or nothing. */
        auth: z.enum(['token', 'certificate', 'exec', 'auth-provider', 'basic', 'none']),
        /** For exec: the plugin's command, and whether it is on PATH. */
        exec: z.optional(z.object({ command: text, found: z.boolean() })),
      }),
    )
    .check(z.maxLength(1000)),
});
export type ContextsResult = z.infer<typeof contextsResultSchema>;

/** `modelyard namespaces --context C --json`: the namespaces one may pick (the context's own when listing is denied). */
export const namespacesResultSchema = z.object({
  context: text,
  namespaces: z.array(text).check(z.maxLength(10_000)),
  /** The context's namespace (or "default"). */
  default: text,
  /** False when the user may not list namespaces: then only the default is offered, and `message` says why. */
  listed: z.boolean(),
  message: z.optional(text),
});
export type NamespacesResult = z.infer<typeof namespacesResultSchema>;

/** The options of a deploy, as the Deploy panel and CI scripts give them. */
export interface DeployArgs {
  ref: string;
  repo?: string;
  context?: string;
  namespace?: string;
  kubeconfig?: string;
  mode?: 'kserve' | 'plain';
  name?: string;
  replicas?: number;
  autoscale?: { min: number; max: number };
  cpu?: string;
  memory?: string;
  storage: string;
  s3Endpoint?: string;
  s3PodEndpoint?: string;
  image?: string;
  runtime?: string;
  /** The stage to record; null: not recorded. */
  stage?: string | null;
  dryRun?: boolean;
  force?: boolean;
  timeoutSeconds?: number;
  json?: boolean;
}

/** The `modelyard deploy` arguments for these options (the verb itself first). */
export function deployArgs(o: DeployArgs): string[] {
  const a = ['deploy', o.ref];
  const opt = (flag: string, v: string | number | undefined) => {
    if (v !== undefined && v !== '') a.push(flag, String(v));
  };
  opt('--repo', o.repo);
  opt('--kubeconfig', o.kubeconfig);
  opt('--context', o.context);
  opt('--namespace', o.namespace);
  if (o.mode) a.push(`--${o.mode}`);
  opt('--name', o.name);
  if (o.autoscale) {
    opt('--min', o.autoscale.min);
    opt('--max', o.autoscale.max);
  } else opt('--replicas', o.replicas);
  opt('--cpu', o.cpu);
  opt('--memory', o.memory);
  opt('--storage', o.storage);
  opt('--s3-endpoint', o.s3Endpoint);
  opt('--s3-pod-endpoint', o.s3PodEndpoint);
  opt('--image', o.image);
  opt('--runtime', o.runtime);
  if (o.stage === null) a.push('--no-record');
  else opt('--stage', o.stage);
  if (o.dryRun) a.push('--dry-run');
  if (o.force) a.push('--force');
  opt('--timeout', o.timeoutSeconds);
  if (o.json) a.push('--json');
  return a;
}

/** The arguments that pick a target, for the other verbs (status, smoke, rollback, …). */
export function targetArgs(t: { context?: string; namespace?: string; kubeconfig?: string; repo?: string }): string[] {
  return [...(t.kubeconfig ? ['--kubeconfig', t.kubeconfig] : []), ...(t.context ? ['--context', t.context] : []), ...(t.namespace ? ['--namespace', t.namespace] : []), ...(t.repo ? ['--repo', t.repo] : [])];
}

const num = z.nullable(z.number());
const list = <T extends z.ZodMiniType>(t: T, max = 256) => z.array(t).check(z.maxLength(max));

export const preflightCheckSchema = z.object({ check: text, severity: z.enum(['ok', 'warning', 'error']), message: text, fix: z.optional(text) });
export const podStateSchema = z.object({ name: text, phase: text, ready: z.boolean(), restarts: z.number(), reason: z.optional(text) });
export const failureSchema = z.object({ kind: text, title: text, detail: text, fix: text, pod: z.optional(text), container: z.optional(text), logs: z.optional(list(text, 200)) });

/** `modelyard smoke --json`, and the smoke test inside a deploy's result. */
export const smokeResultSchema = z.object({
  pass: z.boolean(),
  ready: z.boolean(),
  metadata: z.object({ pass: z.boolean(), problems: list(text) }),
  comparison: z.optional(
    z.object({
      outputs: list(z.object({ name: text, shapeA: list(z.number(), 64), shapeB: list(z.number(), 64), cosine: num, maxAbsError: num, mismatches: z.number(), count: z.number(), pass: z.boolean(), reasons: list(text, 32) }), 1024),
      onlyInA: list(text),
      onlyInB: list(text),
    }),
  ),
  remoteMs: z.optional(z.number()),
  reasons: list(text),
});
export type SmokeResultJson = z.infer<typeof smokeResultSchema>;

/** `modelyard deploy --json` (also with --dry-run: then no rollout, smoke or record). */
export const deployResultSchema = z.object({
  name: text,
  namespace: text,
  context: text,
  mode: z.enum(['kserve', 'plain']),
  model: z.object({ label: text, version: z.optional(text), sha256: text }),
  probe: z.object({
    server: text,
    version: text,
    kserve: z.object({ installed: z.boolean(), mode: z.optional(text) }),
    runtimes: list(z.object({ name: text, kind: text, image: text, onnxruntime: z.optional(text) })),
  }),
  preflight: list(preflightCheckSchema),
  diff: text,
  dryRun: z.boolean(),
  storageUri: text,
  uploadedBytes: z.number(),
  rollout: z.optional(z.object({ ready: z.boolean(), failure: z.optional(failureSchema), timedOut: z.optional(z.boolean()), ms: z.number(), pods: list(podStateSchema) })),
  smoke: z.optional(smokeResultSchema),
  recorded: z.optional(z.object({ tag: text, stage: text })),
  previous: z.optional(z.object({ label: text })),
  ms: z.record(z.string(), z.number()),
});
export type DeployResultJson = z.infer<typeof deployResultSchema>;

/** `modelyard status NAME --json`. */
export const statusResultSchema = z.object({
  name: text,
  namespace: text,
  mode: z.enum(['kserve', 'plain']),
  model: z.object({ name: text, version: z.optional(text), sha256: text }),
  stage: z.nullable(text),
  storageUri: text,
  previous: z.nullable(text),
  ready: z.boolean(),
  pods: list(podStateSchema),
  failure: z.nullable(failureSchema),
});
export type StatusResultJson = z.infer<typeof statusResultSchema>;
