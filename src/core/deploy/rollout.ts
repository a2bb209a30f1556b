/**
 * Following a rollout: the Deployment that serves the model (the plain one, or KServe's `<name>-predictor`), its
 * pods and their events, watched (and re-listed every second, so a dropped watch or an API server that went away
 * loses nothing: the rollout is followed again when it answers), reported as phases until it is ready, failed or
 * timed out. KServe's Ready is not trusted alone: ready also means the model's V2 ready call answers through the
 * API server's service proxy.
 */
import { CancelledError, UserError, describeError } from '../errors';
import { explainFailure, type EventLike, type Failure, type InferenceServiceStatusLike, type PodLike } from './explain';
import type { Kube, KubeObject } from './kube';
import { ANNOTATION, DEPLOYMENT_LABEL, serviceOf, type DeploySpec } from './manifests';
import { keepWatching, sleep } from './watch';

export type RolloutPhase = 'waiting' | 'scheduled' | 'pulling' | 'loading' | 'ready' | 'failed' | 'reconnecting';

export interface PodState {
  name: string;
  phase: string;
  ready: boolean;
  restarts: number;
  reason?: string;
}

/** An event of the cluster about the rollout's pods or workload, as a person reads it. */
export interface ClusterEvent {
  at: number;
  /** Normal or Warning. */
  type: string;
  reason: string;
  message: string;
  /** "Pod/wake-predictor-7d9…" */
  object: string;
  count: number;
}

export interface RolloutEvent {
  phase: RolloutPhase;
  message: string;
  at: number;
  pods: PodState[];
  /** The cluster's events about this rollout so far, oldest first (the last 50). */
  events?: ClusterEvent[];
}

export interface RolloutResult {
  ready: boolean;
  failure?: Failure;
  timedOut?: boolean;
  ms: number;
  pods: PodState[];
}

interface DeploymentObject extends KubeObject {
  metadata: KubeObject['metadata'] & { generation?: number };
  spec?: { replicas?: number; template?: { metadata?: { annotations?: Record<string, string> } } };
  status?: { observedGeneration?: number; replicas?: number; updatedReplicas?: number; readyReplicas?: number; availableReplicas?: number; unavailableReplicas?: number };
}

/** Where a deploy's pods and Deployment are found. */
export function workloadOf(spec: Pick<DeploySpec, 'name' | 'mode'>): { deployment: string; selector: string } {
  return spec.mode === 'kserve' ? { deployment: `${spec.name}-predictor`, selector: `serving.kserve.io/inferenceservice=${spec.name}` } : { deployment: spec.name, selector: `${DEPLOYMENT_LABEL}=${spec.name}` };
}

export function podState(p: PodLike & { metadata?: { name?: string } }): PodState {
  // An init container that finished its work (exit 0) says nothing about the pod any more.
  const done = (s: { state?: { terminated?: { exitCode?: number } } }) => s.state?.terminated?.exitCode === 0;
  const statuses = [...(p.status?.initContainerStatuses ?? []).filter((s) => !done(s)), ...(p.status?.containerStatuses ?? [])];
  const waiting = statuses.map((s) => s.state?.waiting?.reason).find(Boolean);
  const terminated = statuses.map((s) => s.state?.terminated?.reason ?? s.lastState?.terminated?.reason).find(Boolean);
  const unsched = p.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False')?.reason;
  const reason = unsched ?? waiting ?? terminated;
  return {
    name: p.metadata?.name ?? '?',
    phase: p.status?.phase ?? 'Unknown',
    ready: !!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    restarts: (p.status?.containerStatuses ?? []).reduce((n, s) => n + (s.restartCount ?? 0), 0),
    ...(reason ? { reason } : {}),
  };
}

/** The phase the pods show: the least advanced pod's. */
export function phaseOf(pods: PodState[], events: EventLike[]): Exclude<RolloutPhase, 'ready' | 'failed' | 'reconnecting'> {
  if (!pods.length || pods.some((p) => p.reason === 'Unschedulable' || (p.phase === 'Pending' && !p.reason))) return pods.length && pods.every((p) => p.reason !== 'Unschedulable') ? 'scheduled' : 'waiting';
  const pulling = pods.some((p) => p.reason === 'ContainerCreating' || p.reason === 'PodInitializing') && events.some((e) => e.reason === 'Pulling');
  if (pods.some((p) => p.reason === 'ContainerCreating') && !pulling) return 'scheduled';
  if (pulling) return 'pulling';
  return 'loading';
}

/** Whether the model answers its V2 ready call through the API server's service proxy. */
export async function modelReady(kube: Kube, spec: Pick<DeploySpec, 'name' | 'mode' | 'namespace'>, signal?: AbortSignal): Promise<boolean> {
  const svc = serviceOf(spec);
  const r = await kube.fetch(`/api/v1/namespaces/${spec.namespace}/services/http:${svc.name}:${svc.port}/proxy/v2/models/${encodeURIComponent(spec.name)}/ready`, { ...(signal ? { signal } : {}), timeoutMs: 10_000 });
  await r.arrayBuffer().catch(() => undefined);
  return r.status === 200;
}

/**
 * Follows the rollout of `spec` until its Deployment has rolled out every replica of the new version and the model
 * answers ready, or a failure is explained, or `timeoutMs` passes. `onEvent` hears each change of phase.
 */
export async function followRollout(
  kube: Kube,
  spec: Pick<DeploySpec, 'name' | 'mode' | 'namespace'>,
  opts: { timeoutMs?: number; signal?: AbortSignal; onEvent?: (e: RolloutEvent) => void; since?: number; unschedulableGraceMs?: number } = {},
): Promise<RolloutResult> {
  const t0 = performance.now();
  const since = opts.since ?? Date.now();
  const timeoutMs = opts.timeoutMs ?? 300_000;
  const { deployment, selector } = workloadOf(spec);
  const ns = spec.namespace;
  let last = '';
  let pods: PodState[] = [];
  let clusterEvents: ClusterEvent[] = [];
  let unreachableSince: number | undefined;
  let unschedulableSince: number | undefined;
  let previousSince: number | undefined;
  const emit = (phase: RolloutPhase, message: string) => {
    const key = `${phase}|${message}|${JSON.stringify(pods)}|${JSON.stringify(clusterEvents)}`;
    if (key === last) return;
    last = key;
    opts.onEvent?.({ phase, message, at: Date.now(), pods, ...(clusterEvents.length ? { events: clusterEvents } : {}) });
  };
  // A watch wakes the loop as soon as a pod changes; the loop re-lists every second whatever the watch does.
  let wake: (() => void) | undefined;
  const watchAbort = new AbortController();
  // Two watches: the pods (their states), and the Deployment (its status says when the rollout is complete). The
  // loop below reports an unreachable API server; a watch just starts again.
  void keepWatching(kube, `/api/v1/namespaces/${ns}/pods`, { labelSelector: selector }, () => wake?.(), watchAbort.signal);
  void keepWatching(kube, `/apis/apps/v1/namespaces/${ns}/deployments`, { fieldSelector: `metadata.name=${deployment}` }, () => wake?.(), watchAbort.signal);
  try {
    for (;;) {
      if (opts.signal?.aborted) throw new CancelledError();
      if (performance.now() - t0 > timeoutMs) {
        emit('failed', `timed out after ${Math.round(timeoutMs / 1000)} s`);
        return { ready: false, timedOut: true, ms: performance.now() - t0, pods };
      }
      try {
        const [dep, podList, eventList, isvc] = await Promise.all([
          kube.read<DeploymentObject>({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: deployment, namespace: ns } }),
          kube.call(`list the pods of ${spec.name}`, () => kube.core.listNamespacedPod({ namespace: ns, labelSelector: selector })),
          kube.call(`list the events of ${ns}`, () => kube.core.listNamespacedEvent({ namespace: ns })),
          spec.mode === 'kserve' ? kube.read<KubeObject & { status?: InferenceServiceStatusLike }>({ apiVersion: 'serving.kserve.io/v1beta1', kind: 'InferenceService', metadata: { name: spec.name, namespace: ns } }) : Promise.resolve(undefined),
        ]);
        if (unreachableSince !== undefined) {
          emit('waiting', `the API server answers again after ${Math.round((Date.now() - unreachableSince) / 1000)} s; following the rollout again`);
          unreachableSince = undefined;
        }
        // KServe writes the predictor's Deployment from the InferenceService, its annotations included: until its
        // controller has caught up with the spec just applied, the Deployment is the version before, fully rolled
        // out. (A KServe that copied no annotation would leave nothing to compare: its Deployment is then taken as is.)
        const written = dep?.spec?.template?.metadata?.annotations?.[ANNOTATION.spec];
        const caughtUp = spec.mode !== 'kserve' || written === undefined || written === isvc?.metadata.annotations?.[ANNOTATION.spec];
        // Only the pods of the Deployment's newest revision tell how this rollout goes: the old ones still run (or fail) beside them.
        const settling = !!dep && (!s0(dep) || !caughtUp);
        const hash = dep && !settling ? await currentTemplateHash(kube, ns, dep) : undefined;
        const live = (podList.items as (PodLike & { metadata?: { labels?: Record<string, string> } })[]).filter((p) => !p.metadata?.deletionTimestamp && (!hash || p.metadata?.labels?.['pod-template-hash'] === hash));
        pods = live.map(podState);
        const names = new Set(live.map((p) => p.metadata?.name));
        const events = (eventList.items as (EventLike & { lastTimestamp?: Date; eventTime?: Date })[]).filter(
          (e) => (names.has(e.involvedObject?.name) || e.involvedObject?.name === spec.name || e.involvedObject?.name === deployment) && new Date(e.lastTimestamp ?? e.eventTime ?? 0).getTime() >= since - 2000,
        );
        clusterEvents = events
          .map((e) => ({
            at: new Date(e.lastTimestamp ?? e.eventTime ?? 0).getTime(),
            type: e.type ?? 'Normal',
            reason: e.reason ?? '',
            message: (e.message ?? '').slice(0, 1000),
            object: `${e.involvedObject?.kind ?? ''}/${e.involvedObject?.name ?? ''}`,
            count: e.count ?? 1,
          }))
          .sort((a, b) => a.at - b.at)
          .slice(-50);
        const logs: Record<string, string[]> = {};
        const failure = settling ? undefined : explainFailure({ pods: live, events, ...(isvc?.status ? { isvc: isvc.status } : {}) });
        const unschedulable = failure?.kind === 'unschedulable';
        if (unschedulable) unschedulableSince ??= Date.now();
        else unschedulableSince = undefined;
        if (failure && (!unschedulable || Date.now() - unschedulableSince! > (opts.unschedulableGraceMs ?? 15_000))) {
          if (failure.pod && failure.container) {
            const p = live.find((x) => x.metadata?.name === failure.pod);
            const st = [...(p?.status?.initContainerStatuses ?? []), ...(p?.status?.containerStatuses ?? [])].find((s) => s.name === failure.container);
            // A container that crashed and waits to restart: the lines are the previous instance's.
            const restarted = (st?.restartCount ?? 0) > 0 && !st?.state?.terminated;
            const lines = await lastLogLines(kube, ns, failure.pod, failure.container, restarted);
            logs[`${failure.pod}/${failure.container}`] = lines.length || !restarted ? lines : await lastLogLines(kube, ns, failure.pod, failure.container, false);
          }
          const explained = explainFailure({ pods: live, events, ...(isvc?.status ? { isvc: isvc.status } : {}), logs }) ?? failure;
          emit('failed', explained.title);
          return { ready: false, failure: explained, ms: performance.now() - t0, pods };
        }
        const s = dep?.status;
        const want = dep?.spec?.replicas ?? 1;
        const rolledOut = !!dep && caughtUp && (s?.observedGeneration ?? 0) >= (dep.metadata.generation ?? 0) && (s?.updatedReplicas ?? 0) >= want && (s?.availableReplicas ?? 0) >= want && (s?.replicas ?? 0) <= (s?.updatedReplicas ?? 0);
        // Ready also means the Service sends requests to the new pods only: the old ones leave its endpoints a moment
        // after they start terminating, and until then the service proxy may still reach the version before. Its
        // view of the endpoints may lag the object's, and a terminating pod still answers on a connection it has:
        // so ready waits until the previous version's pods are gone (they drain and exit within a second or two), for
        // up to the grace period and a margin (a pod stuck terminating on a lost node must not fail the rollout).
        const previous = (podList.items as { metadata?: { name?: string } }[]).filter((p) => !names.has(p.metadata?.name)).length;
        if (rolledOut && previous > 0) previousSince ??= Date.now();
        const previousGone = previous === 0 || Date.now() - (previousSince ?? Date.now()) > PREVIOUS_PODS_WAIT_MS;
        if (rolledOut && previousGone && (await servesNewPodsOnly(kube, spec, names)) && (await modelReady(kube, spec, opts.signal))) {
          emit('ready', `${want} of ${want} replicas ready, and the model answers ready`);
          return { ready: true, ms: performance.now() - t0, pods };
        }
        const phase = dep ? phaseOf(pods, events) : 'waiting';
        const message = !dep ? `waiting for ${spec.mode === 'kserve' ? 'KServe to create' : 'the Deployment'} ${deployment}` : !caughtUp ? `waiting for KServe to update ${deployment}` : describePhase(phase, pods, want);
        emit(phase, rolledOut && !previousGone ? `${message}; waiting for the ${previous} pod${previous === 1 ? '' : 's'} of the previous version to stop` : message);
      } catch (e) {
        if (e instanceof CancelledError || opts.signal?.aborted) throw new CancelledError();
        if (!(e instanceof UserError)) throw e;
        unreachableSince ??= Date.now();
        emit('reconnecting', `${describeError(e)} — retrying; the rollout goes on in the cluster`);
      }
      // The pause ends early when a pod changes, and its timer goes with it (nothing keeps the process after the end).
      const pause = new AbortController();
      // (A cancellation is seen at the top of the loop.)
      await Promise.race([sleep(1000, AbortSignal.any([pause.signal, ...(opts.signal ? [opts.signal] : [])])).catch(() => undefined), new Promise<void>((r) => (wake = r))]).finally(() => pause.abort());
    }
  } finally {
    watchAbort.abort();
  }
}

/** How long a finished rollout waits for the previous version's pods to exit: the grace period (30 s) and a margin. */
const PREVIOUS_PODS_WAIT_MS = 45_000;

/**
 * Whether the Service's endpoints (what the API server's service proxy picks from) are the rollout's pods only. When
 * they cannot be read (no permission, no object yet), the model's ready call through the proxy decides alone.
 */
async function servesNewPodsOnly(kube: Kube, spec: Pick<DeploySpec, 'name' | 'namespace' | 'mode'>, pods: ReadonlySet<string | undefined>): Promise<boolean> {
  type Address = { targetRef?: { name?: string } };
  try {
    const ep = await kube.read<KubeObject & { subsets?: { addresses?: Address[] }[] }>({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name: serviceOf(spec).name, namespace: spec.namespace } });
    if (!ep) return true;
    const addresses = (ep.subsets ?? []).flatMap((s) => s.addresses ?? []);
    return addresses.length > 0 && addresses.every((a) => !a.targetRef?.name || pods.has(a.targetRef.name));
  } catch (e) {
    if (e instanceof UserError) return true;
    throw e;
  }
}

/** Whether the Deployment controller has seen the newest spec (so its newest ReplicaSet is the rollout's). */
function s0(dep: DeploymentObject): boolean {
  return (dep.status?.observedGeneration ?? 0) >= (dep.metadata.generation ?? 0);
}

/** The pod-template-hash of the Deployment's newest revision: its ReplicaSet with the Deployment's revision number. */
async function currentTemplateHash(kube: Kube, namespace: string, dep: DeploymentObject): Promise<string | undefined> {
  const revision = dep.metadata.annotations?.['deployment.kubernetes.io/revision'];
  if (!revision) return undefined;
  const sets = await kube.list<KubeObject & { metadata: KubeObject['metadata'] & { ownerReferences?: { uid?: string; name?: string }[] } }>('apps/v1', 'ReplicaSet', namespace);
  const rs = sets.find((r) => r.metadata.ownerReferences?.some((o) => o.name === dep.metadata.name) && r.metadata.annotations?.['deployment.kubernetes.io/revision'] === revision);
  return rs?.metadata.labels?.['pod-template-hash'];
}

function describePhase(phase: RolloutPhase, pods: PodState[], want: number): string {
  const ready = pods.filter((p) => p.ready).length;
  switch (phase) {
    case 'waiting':
      return pods.length ? 'waiting for a node for the pods' : 'waiting for the pods to be created';
    case 'scheduled':
      return `scheduled: ${pods.length} pod${pods.length === 1 ? '' : 's'} starting`;
    case 'pulling':
      return 'pulling the image';
    default:
      return `loading the model: ${ready} of ${want} replicas ready`;
  }
}

/** The last lines a container wrote (the previous instance's after a restart); none when they cannot be read. */
export async function lastLogLines(kube: Kube, namespace: string, pod: string, container: string, previous: boolean, lines = 20): Promise<string[]> {
  try {
    const text = await kube.core.readNamespacedPodLog({ name: pod, namespace, container, tailLines: lines, previous });
    return String(text).split('\n').filter(Boolean).slice(-lines);
  } catch {
    return [];
  }
}
