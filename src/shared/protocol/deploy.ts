import * as z from 'zod/mini';
import { clusterEventSchema, metricsEventSchema } from '../cli/events';
import { contextsResultSchema, failureSchema, namespacesResultSchema, podStateSchema, preflightCheckSchema, smokeResultSchema, statusResultSchema } from '../cli/deploy';
import type { PanelContract } from '../contract';

/**
 * The Deploy panel: a registered version to a cluster. The form (target and namespace picked from the kubeconfig,
 * path, runtime, scaling, resources, storage, stage), the pre-flight checks and the server-side dry-run diff before
 * the button; then the rollout live (phases with their times, pods), a failure banner with the fix and the last log
 * lines, the smoke-test table, live figures, and rollback / undeploy. Secrets go from the panel to SecretStorage,
 * never back.
 */

const str = z.string().check(z.maxLength(4096));
const name = z.string().check(z.minLength(1), z.maxLength(512));
const small = z.int().check(z.minimum(0), z.maximum(1000));

export const deployFormSchema = z.object({
  context: str,
  namespace: str,
  /** The object's name (empty: the model's name). */
  name: str,
  mode: z.enum(['auto', 'kserve', 'plain']),
  /** KServe's runtime ('' : Modelyard's). */
  runtime: str,
  scaling: z.enum(['fixed', 'auto']),
  replicas: small,
  min: small,
  max: small,
  cpu: str,
  memory: str,
  storage: str,
  s3Endpoint: str,
  s3PodEndpoint: str,
  s3AccessKeyId: str,
  /** The stage to record ('' : not recorded). */
  stage: str,
  force: z.boolean(),
});
export type DeployForm = z.infer<typeof deployFormSchema>;

/** A deployment the panel follows. */
export const deploymentRefSchema = z.object({ context: name, namespace: name, name });
export type DeploymentRef = z.infer<typeof deploymentRefSchema>;

/** One key per deployment: "context/namespace/name". */
export function deploymentKey(r: DeploymentRef): string {
  return `${r.context}/${r.namespace}/${r.name}`;
}

export const deployInitial = z.object({
  /** The version to deploy (or that runs). */
  model: z.object({ ref: name, label: name, name, version: str, repo: str, detail: str }),
  /** The registry's stages, for the stage to record. */
  stages: z.array(name).check(z.maxLength(64)),
  defaults: z.object({ stage: str, image: str }),
  /** Opened on a deployment that exists: the panel shows it (status, smoke test, figures, rollback). */
  attach: z.optional(deploymentRefSchema),
  /** Fields filled in advance (Deploy Stage's Version: the same target). */
  preset: z.optional(z.partial(deployFormSchema)),
  /** Run at once: a smoke test of the attached deployment. */
  action: z.optional(z.enum(['smoke'])),
});
export type DeployInitial = z.infer<typeof deployInitial>;

/** The plan of a deploy: what the dry run found. */
export const planSchema = z.object({
  name: str,
  namespace: str,
  context: str,
  server: str,
  mode: z.enum(['kserve', 'plain']),
  kubernetes: str,
  kserve: z.object({ installed: z.boolean(), mode: z.optional(str) }),
  runtimes: z.array(z.object({ name: str, kind: str, onnxruntime: z.optional(str) })).check(z.maxLength(64)),
  preflight: z.array(preflightCheckSchema).check(z.maxLength(64)),
  diff: z.string().check(z.maxLength(262_144)),
  storageUri: str,
  previous: z.optional(str),
  /** The S3 secret: typed and kept in SecretStorage, found in the editor's environment, or missing. */
  credentials: z.enum(['stored', 'environment', 'missing', 'none-needed']),
});
export type Plan = z.infer<typeof planSchema>;

export const phaseSchema = z.object({
  phase: str,
  message: str,
  at: z.number(),
  pods: z.optional(z.array(podStateSchema).check(z.maxLength(256))),
  events: z.optional(z.array(clusterEventSchema).check(z.maxLength(100))),
});
export type PhaseView = z.infer<typeof phaseSchema>;

/** How a deploy (or rollback) ended. */
export const outcomeSchema = z.object({
  kind: z.enum(['deployed', 'failed', 'not-ready', 'rolled-back', 'undeployed']),
  message: str,
  target: deploymentRefSchema,
  recorded: z.optional(str),
  previous: z.optional(str),
  uploadedBytes: z.optional(z.number()),
  seconds: z.optional(z.number()),
});
export type Outcome = z.infer<typeof outcomeSchema>;

export const deployToHost = z.discriminatedUnion('type', [
  /** The page is up; `attached` is the deployment its saved state follows (after a reload). */
  z.object({ type: z.literal('ready'), attached: z.optional(deploymentRefSchema) }),
  z.object({ type: z.literal('deploy'), form: deployFormSchema }),
  z.object({ type: z.literal('cancel') }),
  z.object({ type: z.literal('smoke') }),
  z.object({ type: z.literal('rollback') }),
  z.object({ type: z.literal('undeploy') }),
  z.object({ type: z.literal('logs') }),
  z.object({ type: z.literal('playground') }),
  z.object({ type: z.literal('history') }),
  /** The figures are shown (true) or hidden (false): they are read only while shown. */
  z.object({ type: z.literal('figures'), on: z.boolean() }),
]);

export const deployToWebview = z.discriminatedUnion('type', [
  /** A deploy, rollback or undeploy started (the panel shows the rollout). */
  z.object({ type: z.literal('started'), what: z.enum(['deploy', 'rollback', 'undeploy', 'follow']), target: z.optional(deploymentRefSchema), label: str }),
  z.object({ type: z.literal('phase'), phase: phaseSchema }),
  z.object({ type: z.literal('failure'), failure: failureSchema }),
  z.object({ type: z.literal('outcome'), outcome: outcomeSchema }),
  z.object({ type: z.literal('status'), target: deploymentRefSchema, status: statusResultSchema }),
  z.object({ type: z.literal('smokeRunning') }),
  z.object({ type: z.literal('smoke'), smoke: smokeResultSchema }),
  z.object({ type: z.literal('metrics'), metrics: metricsEventSchema }),
  /** Lines of the serving containers' log, as they come (prefixed with the pod when there are several). */
  z.object({ type: z.literal('log'), lines: z.array(z.string().check(z.maxLength(16_384))).check(z.maxLength(500)) }),
  z.object({ type: z.literal('error'), message: str, hint: z.optional(str) }),
  z.object({ type: z.literal('cancelled'), message: str }),
]);

export type DeployToHost = z.infer<typeof deployToHost>;
export type DeployToWebview = z.infer<typeof deployToWebview>;

/** Calls the webview awaits. */
export const deployRequests = {
  contexts: { params: z.object({}), result: contextsResultSchema },
  namespaces: { params: z.object({ context: name }), result: namespacesResultSchema },
  /** What was saved for a context (never a secret). */
  target: { params: z.object({ context: name }), result: z.partial(deployFormSchema) },
  plan: { params: z.object({ form: deployFormSchema }), result: planSchema },
  /** Keeps a secret key in SecretStorage; the answer never carries it back. */
  storeSecret: { params: z.object({ endpoint: str, accessKeyId: name, secret: z.string().check(z.minLength(1), z.maxLength(4096)) }), result: z.object({ stored: z.boolean() }) },
  /** Keeps a bearer token for a context whose kubeconfig user has no credentials; never answered back either. */
  storeToken: { params: z.object({ context: name, token: z.string().check(z.minLength(1), z.maxLength(16_384)) }), result: z.object({ stored: z.boolean() }) },
};

/** What the panel is restored from after a reload: the version, and the deployment it followed. */
export const deployRestore = z.object({ ref: name, repo: str, attach: z.optional(deploymentRefSchema) });

export const deployContract: PanelContract<DeployToHost, DeployToWebview, DeployInitial, typeof deployRequests> = {
  viewType: 'modelyard.deploy',
  toHost: deployToHost,
  toWebview: deployToWebview,
  initial: deployInitial,
  requests: deployRequests,
};
