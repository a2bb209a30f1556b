/**
 * Deploy, roll back, undeploy: a registered model version from git to a running, checked endpoint on a cluster —
 * resolved, checked against the runtime, its bytes delivered, the objects shown as a server-side dry-run diff, applied
 * server-side as "modelyard", followed until ready, smoke-tested against a local run, and recorded in the registry as
 * a GTO stage assignment whose message names cluster, namespace and object. One deploy of a name at a time (a Lease).
 */
import os from 'node:os';
import { CancelledError, UserError, describeError, isCancelled } from '../errors';
import type { InferenceHost } from '../inference/host';
import type { Logger } from '../log';
import { summarizeBytes, summarizeFile } from '../onnx/summary';
import { resolveModel, modelSha256 } from '../registry/modelRef';
import { assign, unassign } from '../registry/write';
import { diffObjects, diffText } from './diff';
import { Kube, KubeError, type KubeObject } from './kube';
import { ANNOTATION, DEPLOYMENT_LABEL, MANAGED_BY, dnsName, objectsOf, type DeploySpec } from './manifests';
import { preflight, preflightPasses, type PreflightCheck } from './preflight';
import { describePermission, neededPermissions, probeTarget, type TargetProbe } from './probe';
import { followRollout, type RolloutEvent, type RolloutResult } from './rollout';
import type { RuntimeInfo } from './runtimes';
import { smokeTest, type SmokeResult } from './smoke';

/** The annotation that keeps the spec deployed before this one: what a rollback re-applies. */
export const PREVIOUS_SPEC = 'modelyard.dev/previous-spec';

export type DeployPhase = 'resolve' | 'preflight' | 'upload' | 'diff' | 'apply' | 'record' | 'smoke' | 'done';

export interface DeployEvent {
  phase: DeployPhase | RolloutEvent['phase'];
  message: string;
  at: number;
  pods?: RolloutEvent['pods'];
  events?: RolloutEvent['events'];
}

/** How the model's bytes reach the cluster (object store or PersistentVolumeClaim), and what pods need to read them. */
export interface ModelDelivery {
  kind: 's3' | 'pvc';
  /** Where the model will be, known before anything is uploaded (the key is its sha256). */
  uriFor(sha256: string, servedName: string): string;
  /** Objects the namespace needs first (a Secret with read-only keys for the store). */
  prerequisites(namespace: string): KubeObject[];
  /** The Secret pods read the store with, if any. */
  secretName?: string;
  s3?: { endpoint: string; region?: string };
  /** Uploads (or finds) the model; resolves to the bytes sent (0 when it was there already). */
  deliver(kube: Kube, model: { bytes?: Uint8Array; path?: string; sha256: string }, servedName: string, namespace: string, opts: { onProgress?: (done: number, total: number) => void; signal?: AbortSignal }): Promise<{ uri: string; uploadedBytes: number }>;
  /** Whether credentials for it are at hand (pre-flight). */
  credentials: boolean;
}

export interface TargetOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

export interface DeployRequest extends TargetOptions {
  ref: string;
  repo?: string;
  cwd?: string;
  mode?: 'kserve' | 'plain';
  name?: string;
  replicas?: number;
  autoscale?: { min: number; max: number };
  resources?: { cpu?: string; memory?: string };
  /** Modelyard's serving image. */
  image: string;
  /** The onnxruntime inside that image. */
  onnxruntime: string;
  /** KServe: the runtime to serve with (default: Modelyard's). */
  runtime?: string;
  /** The stage the deploy is recorded as; undefined: not recorded. */
  stage?: string;
  dryRun?: boolean;
  /** Deploy even when pre-flight finds errors. */
  force?: boolean;
  delivery: ModelDelivery;
  timeoutMs?: number;
  /** The inference worker for the smoke test's local run; without it, no smoke test. */
  host?: InferenceHost;
  log?: Logger;
  signal?: AbortSignal;
  onEvent?: (e: DeployEvent) => void;
}

export interface DeployResult {
  name: string;
  namespace: string;
  context: string;
  mode: 'kserve' | 'plain';
  model: { label: string; version?: string; sha256: string };
  probe: Omit<TargetProbe, 'permissions'>;
  preflight: PreflightCheck[];
  diff: string;
  dryRun: boolean;
  storageUri: string;
  uploadedBytes: number;
  rollout?: RolloutResult;
  smoke?: SmokeResult;
  recorded?: { tag: string; stage: string };
  previous?: { label: string };
  ms: Record<string, number>;
}

export function ownOnnxruntimeRuntime(image: string, onnxruntime: string): RuntimeInfo {
  return { name: 'modelyard', kind: 'modelyard', image, onnxruntime, source: 'bundled' };
}

function label(spec: Pick<DeploySpec, 'model'>): string {
  return `${spec.model.name}@${spec.model.version ?? spec.model.sha256.slice(0, 12)}`;
}

/** The object a deploy is found by: the InferenceService, or the plain Deployment. */
export function mainHeader(name: string, namespace: string, mode: 'kserve' | 'plain') {
  return mode === 'kserve'
    ? { apiVersion: 'serving.kserve.io/v1beta1', kind: 'InferenceService', metadata: { name, namespace } }
    : { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace } };
}

/** The spec a deployed object carries, and the one before it. */
export function specsOf(obj: KubeObject | undefined): { current?: DeploySpec; previous?: DeploySpec } {
  const a = obj?.metadata.annotations ?? {};
  const parse = (s?: string) => {
    try {
      return s ? (JSON.parse(s) as DeploySpec) : undefined;
    } catch {
      return undefined;
    }
  };
  const current = parse(a[ANNOTATION.spec]);
  const previous = parse(a[PREVIOUS_SPEC]);
  return { ...(current ? { current } : {}), ...(previous ? { previous } : {}) };
}

/** The objects of `spec`, each carrying the spec deployed before it (what a rollback re-applies). */
function withPrevious(spec: DeploySpec, previous: DeploySpec | undefined): KubeObject[] {
  const objs = objectsOf(spec);
  if (!previous) return objs;
  for (const o of objs) if (o.metadata.labels?.[DEPLOYMENT_LABEL]) o.metadata.annotations = { ...o.metadata.annotations, [PREVIOUS_SPEC]: JSON.stringify(previous) };
  return objs;
}

async function dryRunDiff(kube: Kube, objs: KubeObject[]): Promise<string> {
  let text = '';
  for (const o of objs) {
    const [current, next] = await Promise.all([kube.read<KubeObject>(o), kube.apply(o, { dryRun: true })]);
    const secret = o.kind === 'Secret';
    text += diffText(o.kind, o.metadata.name, diffObjects(current, next, { secret }), !current);
  }
  return text;
}

const LEASE = (name: string) => `modelyard-deploy-${name}`.slice(0, 63);

/** One deploy (or rollback, or undeploy) of a name at a time, across machines: a Lease in the namespace. */
async function withLease<T>(kube: Kube, name: string, namespace: string, what: string, fn: () => Promise<T>): Promise<T> {
  const holder = `${os.userInfo().username}@${os.hostname()} (pid ${process.pid}, ${what})`;
  // A Lease's times are MicroTime: six fractional digits.
  const now = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
  const lease: KubeObject = {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: LEASE(name), namespace, labels: { [MANAGED_BY]: 'modelyard', [DEPLOYMENT_LABEL]: name } },
    spec: { holderIdentity: holder, leaseDurationSeconds: 900, acquireTime: now, renewTime: now },
  };
  const existing = await kube.read<KubeObject & { spec?: { holderIdentity?: string; renewTime?: string; leaseDurationSeconds?: number } }>(lease);
  if (existing) {
    const renewed = new Date(existing.spec?.renewTime ?? 0).getTime();
    const expired = renewed + (existing.spec?.leaseDurationSeconds ?? 900) * 1000 < Date.now();
    if (!expired) {
      throw new UserError(
        `another deploy of ${name} in ${namespace} is under way: ${existing.spec?.holderIdentity ?? 'someone'}, since ${new Date(renewed).toISOString()}.`,
        `Wait for it to finish (modelyard status ${name}); if it was killed, its lease expires ${new Date(renewed + (existing.spec?.leaseDurationSeconds ?? 900) * 1000).toISOString()}, or delete Lease ${LEASE(name)}.`,
      );
    }
    await kube.delete(lease);
  }
  try {
    await kube.call(`take the deploy lease of ${name}`, () => kube.objects.create(lease as never));
  } catch (e) {
    if (e instanceof UserError && /conflict|already exists/i.test(e.message)) throw new UserError(`another deploy of ${name} in ${namespace} started at the same moment.`, `Wait for it to finish (modelyard status ${name}).`);
    throw e;
  }
  try {
    return await fn();
  } finally {
    await kube.delete(lease).catch(() => undefined);
  }
}

/**
 * Records a deploy as a stage assignment. When the stage names that version already (a re-deploy, the same version
 * on another cluster), there is nothing new to record: undefined.
 */
async function recordStage(model: { root?: string; registryName?: string; version?: string }, stage: string | undefined, message: string, log?: Logger): Promise<{ tag: string; stage: string } | undefined> {
  if (!stage || !model.root || !model.registryName || !model.version) return undefined;
  if ((await stageAssignment(model.root, model.registryName, stage, log))?.version === model.version) return undefined;
  const r = await assign(model.root, model.registryName, stage, { version: model.version, message, ...(log ? { log } : {}) });
  return { tag: r.tag, stage };
}

/** The version a stage of a registry model names now, and the message of the assignment that made it so. */
async function stageAssignment(root: string, name: string, stage: string, log?: Logger): Promise<{ version: string; message: string } | undefined> {
  const { loadRegistry } = await import('../registry/registry');
  const v = (await loadRegistry(root, { ...(log ? { log } : {}) })).models.find((m) => m.name === name)?.state?.stages.get(stage);
  return v && { version: v.version, message: v.stages.get(stage)?.last.message ?? '' };
}

/**
 * Where a deploy went, as the registry's messages say it. The deployment is named by its API server, namespace,
 * kind and name (the context's name is this kubeconfig's own), so that undeploy, from any machine, knows the stage
 * assignments its deploys and rollbacks made: the registry keeps that note, not the deployed object, whose every
 * annotation KServe copies into the pods' template (a note written after the rollout would start a second one).
 */
function describeTarget(kube: Kube, namespace: string, kind: string, name: string): string {
  return `cluster ${kube.context} ${deploymentMark(kube, namespace, kind, name)}`;
}

function deploymentMark(kube: Kube, namespace: string, kind: string, name: string): string {
  return `(${kube.server}), namespace ${namespace}, ${kind} ${name}`;
}

/** Pre-flight's refusal as one message: each error with its fix. */
function preflightError(label: string, checks: PreflightCheck[]): UserError {
  const errors = checks.filter((c) => c.severity === 'error');
  return new UserError(`${label} does not pass the pre-flight checks: ${errors.map((c) => c.message).join(' ')}`, [...new Set(errors.map((c) => c.fix).filter(Boolean))].join(' ') + ' (--force deploys anyway.)');
}

export async function deploy(req: DeployRequest): Promise<DeployResult> {
  const ms: Record<string, number> = {};
  let t = performance.now();
  const lap = (k: string) => {
    const now = performance.now();
    ms[k] = now - t;
    t = now;
  };
  const emit = (phase: DeployEvent['phase'], message: string, pods?: RolloutEvent['pods'], events?: RolloutEvent['events']) => req.onEvent?.({ phase, message, at: Date.now(), ...(pods ? { pods } : {}), ...(events ? { events } : {}) });
  const log = req.log;
  const stopIfCancelled = () => {
    if (req.signal?.aborted) throw new CancelledError();
  };

  emit('resolve', `resolving ${req.ref}`);
  const model = await resolveModel(req.ref, { ...(req.repo ? { repo: req.repo } : {}), ...(req.cwd ? { cwd: req.cwd } : {}), ...(log ? { log } : { log: silent }) });
  const sha256 = await modelSha256(model);
  const kube = await Kube.connect({ ...(req.kubeconfig ? { kubeconfig: req.kubeconfig } : {}), ...(req.context ? { context: req.context } : {}), ...(log ? { log } : {}) });
  const namespace = req.namespace ?? kube.defaultNamespace;
  lap('resolve');
  stopIfCancelled();

  emit('preflight', `checking ${model.label} against ${kube.context} (${kube.server}), namespace ${namespace}`);
  const kserveInstalled = await kube.hasApi('serving.kserve.io/v1beta1');
  if (req.mode === 'kserve' && !kserveInstalled) throw new UserError(`KServe is not installed on ${kube.context}: the API serving.kserve.io/v1beta1 is not served.`, 'Deploy with --plain (a Deployment and a Service), or install KServe.');
  const mode = req.mode ?? (kserveInstalled ? 'kserve' : 'plain');
  const probe = await probeTarget(kube, namespace, { needs: neededPermissions(mode, req.delivery.kind) });
  const denied = probe.permissions.filter((p) => !p.allowed);
  if (denied.length) {
    throw new UserError(
      `you may not deploy to namespace ${namespace} on ${kube.context}: denied ${denied.map(describePermission).join(', ')}.`,
      `Ask your cluster admin for a Role with those verbs in ${namespace} (\`kubectl auth can-i --list -n ${namespace}\` shows what you may do).`,
    );
  }
  const runtimeName = mode === 'kserve' ? (req.runtime ?? 'modelyard') : 'modelyard';
  const runtime = runtimeName === 'modelyard' ? ownOnnxruntimeRuntime(req.image, req.onnxruntime) : probe.runtimes.find((r) => r.name === runtimeName);
  if (!runtime) throw new UserError(`KServe on ${kube.context} has no runtime '${runtimeName}' that serves onnx over the v2 protocol.`, `Its onnx runtimes: ${probe.runtimes.map((r) => r.name).join(', ') || 'none'}. Leave --runtime out to use Modelyard's.`);
  const summary = model.bytes ? summarizeBytes(model.bytes, model.label) : await summarizeFile(model.path!);
  const name = dnsName(req.name ?? model.registryName ?? model.name);
  const storageUri = req.delivery.uriFor(sha256, name);
  const checks = preflight({ model: summary, label: model.label, runtime, ownOnnxruntime: req.onnxruntime, storage: { kind: req.delivery.kind, credentials: req.delivery.credentials, uri: storageUri } });
  // A dry run answers with the checks (the Deploy panel shows each with its fix); a deploy refuses.
  if (!preflightPasses(checks) && !req.force && !req.dryRun) throw preflightError(model.label, checks);
  lap('preflight');
  stopIfCancelled();

  const spec: DeploySpec = {
    name,
    namespace,
    mode,
    model: { name: model.registryName ?? model.name, ...(model.version ? { version: model.version } : {}), ...(model.version && model.registryName ? { tag: `${model.registryName.replace(':', '=')}@${model.version}` } : {}), ...(model.commit ? { commit: model.commit } : {}), sha256 },
    storageUri,
    image: req.image,
    ...(mode === 'kserve' ? { runtime: runtimeName } : {}),
    onnxruntime: req.onnxruntime,
    ...(req.autoscale ? { autoscale: req.autoscale } : { replicas: req.replicas ?? 1 }),
    ...(req.resources ? { resources: req.resources } : {}),
    ...(req.stage ? { stage: req.stage } : {}),
    ...(req.delivery.secretName ? { storageSecret: req.delivery.secretName } : {}),
    ...(req.delivery.s3 ? { s3: req.delivery.s3 } : {}),
  };
  const main = mainHeader(name, namespace, mode);
  const running = await kube.read<KubeObject>(main);
  if (running && running.metadata.labels?.[MANAGED_BY] !== 'modelyard') {
    throw new UserError(`${main.kind} ${name} in ${namespace} exists and was not made by Modelyard.`, 'Deploy under another --name; Modelyard changes only what it made.');
  }
  const specs = specsOf(running);
  // Deploying the version that runs again (new replicas, resources …) keeps the version before it as the rollback.
  const before = specs.current && specs.current.model.sha256 === sha256 ? specs.previous : specs.current;
  const objects = [...req.delivery.prerequisites(namespace), ...withPrevious(spec, before)];
  emit('diff', `asking the API server what would change (server-side dry run)`);
  const diff = await dryRunDiff(kube, objects);
  lap('diff');
  const result: DeployResult = {
    name,
    namespace,
    context: kube.context,
    mode,
    model: { label: model.label, ...(model.version ? { version: model.version } : {}), sha256 },
    probe: { context: probe.context, server: probe.server, version: probe.version, namespace, kserve: probe.kserve, runtimes: probe.runtimes },
    preflight: checks,
    diff,
    dryRun: !!req.dryRun,
    storageUri,
    uploadedBytes: 0,
    ...(before ? { previous: { label: label(before) } } : {}),
    ms,
  };
  if (req.dryRun) return result;
  stopIfCancelled();

  return withLease(kube, name, namespace, `deploy ${model.label}`, async () => {
    emit('upload', `delivering ${model.label} (${summary.size} bytes) to ${storageUri}`);
    const delivered = await req.delivery.deliver(kube, { ...(model.bytes ? { bytes: model.bytes } : {}), ...(model.path ? { path: model.path } : {}), sha256 }, name, namespace, {
      onProgress: (done, total) => emit('upload', `uploaded ${done} of ${total} bytes`),
      ...(req.signal ? { signal: req.signal } : {}),
    });
    if (delivered.uri !== storageUri) throw new Error(`the model was delivered to ${delivered.uri}, not to ${storageUri} as planned`);
    result.uploadedBytes = delivered.uploadedBytes;
    emit('upload', delivered.uploadedBytes ? `uploaded ${delivered.uploadedBytes} bytes` : 'the model is in storage already: nothing uploaded');
    lap('upload');
    stopIfCancelled();

    emit('apply', `applying ${objects.map((o) => `${o.kind} ${o.metadata.name}`).join(', ')} (server-side, field manager modelyard)`);
    const since = Date.now();
    for (const o of objects) await kube.apply(o);
    lap('apply');
    const afterApply = () =>
      `${model.label} was applied to ${describeTarget(kube, namespace, main.kind, name)}${before ? ` (it replaced ${label(before)})` : ''}; the cluster goes on rolling it out.`;
    let rollout: RolloutResult;
    try {
      rollout = await followRollout(kube, spec, { timeoutMs: req.timeoutMs ?? 300_000, since, ...(req.signal ? { signal: req.signal } : {}), onEvent: (e) => emit(e.phase, e.message, e.pods, e.events) });
    } catch (e) {
      if (isCancelled(e)) throw new CancelledError(`stopped following the rollout. ${afterApply()}`, `\`modelyard status ${name} -n ${namespace}\` follows it${before ? `; \`modelyard rollback ${name} -n ${namespace}\` returns to ${label(before)}` : `; \`modelyard undeploy ${name} -n ${namespace}\` removes it`}.`);
      throw e;
    }
    result.rollout = rollout;
    lap('rollout');
    if (!rollout.ready) return result;

    if (req.host) {
      emit('smoke', `smoke test: ${name} against a local run of ${model.label}`);
      result.smoke = await smokeTest(kube, spec, model, req.host, { ...(req.signal ? { signal: req.signal } : {}) });
      lap('smoke');
      if (!result.smoke.pass) return result;
    }
    if (req.stage && model.version) {
      emit('record', `recording the deploy in the registry: ${spec.model.name}#${req.stage}`);
      const recorded = await recordStage(model, req.stage, `deploy: ${model.label} to ${describeTarget(kube, namespace, main.kind, name)} (modelyard deploy)`, log).catch((e: unknown) => {
        log?.warn(`[deploy] recording ${model.label} in stage ${req.stage} failed: ${describeError(e)}`);
        throw new UserError(`${model.label} is deployed and passed the smoke test, but recording it in the registry failed: ${describeError(e)}`, `Record it by hand: modelyard assign ${spec.model.name} ${req.stage} --version ${model.version} -m "deploy: …".`);
      });
      if (recorded) result.recorded = recorded;
      lap('record');
    }
    emit('done', `${model.label} is live at ${describeTarget(kube, namespace, main.kind, name)}`);
    return result;
  });
}

const silent: Logger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

export interface DeploymentInfo {
  name: string;
  namespace: string;
  kind: string;
  managed: boolean;
  model?: string;
  version?: string;
  stage?: string;
  sha256?: string;
  /** The version deployed before ("wake@v1.0.0"): what a rollback returns to. */
  previous?: string;
  ready?: number;
  desired?: number;
  state: string;
}

interface WorkloadObject extends KubeObject {
  spec?: { replicas?: number; predictor?: { minReplicas?: number } };
  status?: { readyReplicas?: number; replicas?: number; conditions?: { type?: string; status?: string }[]; url?: string };
}

/**
 * The deployments of a namespace: Modelyard's (InferenceServices and Deployments), and other InferenceServices. With
 * `denied`, a user who may list Deployments but not InferenceServices (Kubernetes' view role) gets the Deployments,
 * and `denied` names what was left out.
 */
export async function listDeployments(kube: Kube, namespace: string | undefined, opts: { denied?: string[] } = {}): Promise<DeploymentInfo[]> {
  const out: DeploymentInfo[] = [];
  const kserve = await kube.hasApi('serving.kserve.io/v1beta1');
  const isvcs = kserve
    ? await kube.list<WorkloadObject>('serving.kserve.io/v1beta1', 'InferenceService', namespace).catch((e: unknown) => {
        if (!opts.denied || !(e instanceof KubeError) || e.status !== 403) throw e;
        opts.denied.push(`InferenceServices${namespace ? ` in ${namespace}` : ''}`);
        return [];
      })
    : [];
  const deps = await kube.list<WorkloadObject>('apps/v1', 'Deployment', namespace, `${MANAGED_BY}=modelyard`);
  const predictors = kserve ? await kube.list<WorkloadObject>('apps/v1', 'Deployment', namespace, 'serving.kserve.io/inferenceservice') : [];
  // (The items of a list carry no kind: each row is given its own.)
  const row = (o: WorkloadObject, kind: 'InferenceService' | 'Deployment', managed: boolean, ready?: number, desired?: number, state?: string): DeploymentInfo => {
    const a = o.metadata.annotations ?? {};
    const before = managed ? specsOf(o).previous : undefined;
    return {
      name: o.metadata.name,
      namespace: o.metadata.namespace ?? namespace ?? '',
      kind,
      managed,
      ...(a[ANNOTATION.model] ? { model: a[ANNOTATION.model] } : {}),
      ...(a[ANNOTATION.version] ? { version: a[ANNOTATION.version] } : {}),
      ...(a[ANNOTATION.stage] ? { stage: a[ANNOTATION.stage] } : {}),
      ...(a[ANNOTATION.sha256] ? { sha256: a[ANNOTATION.sha256] } : {}),
      ...(before ? { previous: label(before) } : {}),
      ...(ready !== undefined ? { ready } : {}),
      ...(desired !== undefined ? { desired } : {}),
      state: state ?? (ready !== undefined && desired !== undefined && ready >= desired && desired > 0 ? 'ready' : 'progressing'),
    };
  };
  for (const i of isvcs) {
    const pred = predictors.find((d) => d.metadata.labels?.['serving.kserve.io/inferenceservice'] === i.metadata.name && d.metadata.namespace === i.metadata.namespace);
    const readyCond = i.status?.conditions?.find((c) => c.type === 'Ready');
    const ready = pred?.status?.readyReplicas ?? 0;
    const desired = pred?.spec?.replicas ?? i.spec?.predictor?.minReplicas ?? 1;
    out.push(row(i, 'InferenceService', i.metadata.labels?.[MANAGED_BY] === 'modelyard', ready, desired, readyCond?.status === 'False' ? 'not ready' : ready >= desired && desired > 0 ? 'ready' : 'progressing'));
  }
  // KServe's predictor Deployments carry the InferenceService's labels: they are shown through it, not again.
  for (const d of deps.filter((x) => !x.metadata.labels?.['serving.kserve.io/inferenceservice'])) out.push(row(d, 'Deployment', true, d.status?.readyReplicas ?? 0, d.spec?.replicas ?? 1));
  return out.sort((a, b) => (a.namespace + a.name < b.namespace + b.name ? -1 : 1));
}

/** Finds what Modelyard deployed under `name`: its main object, mode and specs. */
export async function findDeployment(kube: Kube, name: string, namespace: string): Promise<{ mode: 'kserve' | 'plain'; object: KubeObject; current: DeploySpec; previous?: DeploySpec }> {
  for (const mode of ['kserve', 'plain'] as const) {
    if (mode === 'kserve' && !(await kube.hasApi('serving.kserve.io/v1beta1'))) continue;
    const o = await kube.read<KubeObject>(mainHeader(name, namespace, mode));
    if (!o) continue;
    if (o.metadata.labels?.[MANAGED_BY] !== 'modelyard') throw new UserError(`${o.kind} ${name} in ${namespace} was not made by Modelyard.`, 'Modelyard shows and changes only what it deployed.');
    const { current, previous } = specsOf(o);
    if (!current) throw new UserError(`${o.kind} ${name} in ${namespace} carries no Modelyard spec (annotation ${ANNOTATION.spec}).`, 'Deploy it again with modelyard deploy.');
    return { mode, object: o, current, ...(previous ? { previous } : {}) };
  }
  throw new UserError(`nothing named ${name} was deployed by Modelyard in namespace ${namespace} on ${kube.context}.`, `\`modelyard deployments -n ${namespace}\` lists what there is.`);
}

export interface RollbackResult {
  name: string;
  namespace: string;
  from: string;
  to: string;
  rollout: RolloutResult;
  recorded?: { tag: string; stage: string };
}

/**
 * Back to the version deployed before: its recorded spec is applied again (its bytes are still in storage: keys are
 * content-addressed), followed to ready, and recorded in the registry as the stage's assignment.
 */
export async function rollback(kube: Kube, name: string, namespace: string, opts: { repo?: string; timeoutMs?: number; signal?: AbortSignal; log?: Logger; onEvent?: (e: DeployEvent) => void } = {}): Promise<RollbackResult> {
  const found = await findDeployment(kube, name, namespace);
  if (!found.previous) throw new UserError(`${name} has no earlier version to roll back to: Modelyard deployed only ${label(found.current)} there.`, 'Deploy the version you want with modelyard deploy.');
  const prev = found.previous;
  const emit = (phase: DeployEvent['phase'], message: string, pods?: RolloutEvent['pods'], events?: RolloutEvent['events']) => opts.onEvent?.({ phase, message, at: Date.now(), ...(pods ? { pods } : {}), ...(events ? { events } : {}) });
  return withLease(kube, name, namespace, `rollback to ${label(prev)}`, async () => {
    const objects = withPrevious(prev, found.current);
    emit('apply', `rolling ${name} back from ${label(found.current)} to ${label(prev)}`);
    const since = Date.now();
    for (const o of objects) await kube.apply(o);
    if (found.mode === 'plain' && !prev.autoscale) await kube.delete({ apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name, namespace } });
    const rollout = await followRollout(kube, prev, { ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}), since, ...(opts.signal ? { signal: opts.signal } : {}), onEvent: (e) => emit(e.phase, e.message, e.pods, e.events) });
    const result: RollbackResult = { name, namespace, from: label(found.current), to: label(prev), rollout };
    if (rollout.ready && prev.stage && prev.model.version) {
      const model = await resolveModel(`${prev.model.name}@${prev.model.version}`, { ...(opts.repo ? { repo: opts.repo } : {}), log: opts.log ?? silent }).catch(() => undefined);
      if (model) {
        const r = await recordStage(model, prev.stage, `rollback: ${describeTarget(kube, namespace, mainHeader(name, namespace, found.mode).kind, name)} from ${label(found.current)} to ${label(prev)} (modelyard rollback)`, opts.log);
        if (r) result.recorded = r;
      }
    }
    return result;
  });
}

/** Removes what Modelyard created for `name` (not the shared runtime, not the stored model), and records it. */
export async function undeploy(kube: Kube, name: string, namespace: string, opts: { repo?: string; log?: Logger } = {}): Promise<{ removed: string[]; recorded?: string }> {
  const found = await findDeployment(kube, name, namespace);
  return withLease(kube, name, namespace, 'undeploy', async () => {
    const kinds = found.mode === 'kserve' ? [mainHeader(name, namespace, 'kserve')] : [mainHeader(name, namespace, 'plain'), { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace } }, { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name, namespace } }];
    const removed: string[] = [];
    for (const h of kinds) {
      const o = await kube.read<KubeObject>(h);
      if (o?.metadata.labels?.[MANAGED_BY] !== 'modelyard') continue;
      if (await kube.delete(h)) removed.push(`${h.kind} ${name}`);
    }
    // The stage is withdrawn only when it still names the deployed version, by an assignment a deploy or rollback
    // of this deployment made (the registry's message says so).
    const cur = found.current;
    const kind = mainHeader(name, namespace, found.mode).kind;
    let recorded: string | undefined;
    if (cur.stage && cur.model.version) {
      const model = await resolveModel(`${cur.model.name}@${cur.model.version}`, { ...(opts.repo ? { repo: opts.repo } : {}), log: opts.log ?? silent }).catch(() => undefined);
      const made = model?.root ? await stageAssignment(model.root, cur.model.name, cur.stage, opts.log) : undefined;
      if (model?.root && made?.version === cur.model.version && made.message.includes(`${deploymentMark(kube, namespace, kind, name)} `)) {
        recorded = (await unassign(model.root, cur.model.name, cur.stage, { message: `undeploy: ${describeTarget(kube, namespace, kind, name)} (modelyard undeploy)`, ...(opts.log ? { log: opts.log } : {}) })).tag;
      }
    }
    return { removed, ...(recorded ? { recorded } : {}) };
  });
}

