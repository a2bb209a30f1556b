/**
 * Why a rollout failed, in plain words, with the fix: read from the pods' statuses, the events and (for KServe) the
 * InferenceService's model status, with the last log lines of the container that failed. The order of the rules is
 * the order of diagnosis: what keeps a pod from being scheduled comes before what keeps it from starting, and that
 * before what makes it crash.
 */

export interface PodLike {
  metadata?: { name?: string; deletionTimestamp?: unknown };
  status?: {
    phase?: string;
    conditions?: { type?: string; status?: string; reason?: string; message?: string }[];
    initContainerStatuses?: ContainerStatusLike[];
    containerStatuses?: ContainerStatusLike[];
  };
}

export interface ContainerStatusLike {
  name?: string;
  ready?: boolean;
  restartCount?: number;
  state?: { waiting?: { reason?: string; message?: string }; terminated?: { reason?: string; exitCode?: number; message?: string }; running?: unknown };
  lastState?: { terminated?: { reason?: string; exitCode?: number; message?: string } };
}

export interface EventLike {
  type?: string;
  reason?: string;
  message?: string;
  involvedObject?: { kind?: string; name?: string };
  count?: number;
}

export interface InferenceServiceStatusLike {
  conditions?: { type?: string; status?: string; reason?: string; message?: string }[];
  modelStatus?: { transitionStatus?: string; lastFailureInfo?: { reason?: string; message?: string } };
}

export type FailureKind = 'image-pull' | 'unschedulable' | 'oom' | 'model-load' | 'crash-loop' | 'config' | 'invalid-spec' | 'storage';

export interface Failure {
  kind: FailureKind;
  /** One sentence a person reads first. */
  title: string;
  /** What the cluster said, quoted. */
  detail: string;
  fix: string;
  pod?: string;
  container?: string;
  /** The last log lines of the failing container, when they were read. */
  logs?: string[];
}

/** An image the cluster cannot pull: missing, refused, or out of reach, from what the kubelet said. */
function imagePull(message: string, who: 'storage initializer' | 'server'): Failure {
  const auth = /unauthorized|authentication required|denied|401|403/i.test(message);
  const missing = /not found|manifest unknown|404/i.test(message);
  return {
    kind: 'image-pull',
    title: `The cluster cannot pull the image of the ${who}${missing ? ': it does not exist' : auth ? ': the registry refused access' : ''}.`,
    detail: message,
    fix: missing
      ? 'Build and push it (modelyard image build --push REGISTRY/REPO:TAG), or name an image that exists.'
      : auth
        ? 'Give the namespace an imagePullSecret for the registry, or push the image where the cluster may pull from.'
        : 'Check that the nodes can reach the registry and that the image reference is right.',
  };
}

const LOAD_FAILURE = /onnxruntime|Load model|load the model|Unsupported model IR version|opset|is not a valid ONNX|protobuf parsing failed|no model file|cannot be read as an ONNX/i;

function allStatuses(p: PodLike): (ContainerStatusLike & { init: boolean })[] {
  return [...(p.status?.initContainerStatuses ?? []).map((s) => ({ ...s, init: true })), ...(p.status?.containerStatuses ?? []).map((s) => ({ ...s, init: false }))];
}

/**
 * The failure of a rollout, or undefined while nothing has failed yet. `logs` returns the last lines of a
 * container (current, or the previous instance after a crash), when they can be read.
 */
export function explainFailure(input: { pods: PodLike[]; events: EventLike[]; isvc?: InferenceServiceStatusLike; logs?: Record<string, string[]> }): Failure | undefined {
  const { pods, events, isvc } = input;
  const logsOf = (pod?: string, container?: string) => (pod && container ? input.logs?.[`${pod}/${container}`] : undefined);
  const withLogs = (f: Failure): Failure => {
    const l = logsOf(f.pod, f.container);
    return l?.length ? { ...f, logs: l.slice(-20) } : f;
  };

  const failed = isvc?.modelStatus?.transitionStatus;
  if (failed === 'InvalidSpec') {
    const info = isvc?.modelStatus?.lastFailureInfo;
    return { kind: 'invalid-spec', title: 'KServe refused the InferenceService as invalid.', detail: `${info?.reason ?? 'InvalidSpec'}: ${info?.message ?? ''}`.trim(), fix: 'Check the runtime named and the model format: KServe needs a runtime that supports onnx with protocol v2 (Modelyard\'s runtime does).' };
  }

  for (const p of pods) {
    const sched = p.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable');
    if (sched) {
      const msg = sched.message ?? '';
      const what = /Insufficient (cpu|memory|nvidia\.com\/gpu|[\w./-]+)/g;
      const short = [...msg.matchAll(what)].map((m) => m[1]);
      return {
        kind: 'unschedulable',
        title: short.length ? `No node has enough ${[...new Set(short)].join(' and ')} for the model's pod.` : 'No node can run the model\'s pod.',
        detail: msg,
        fix: short.length ? 'Ask for less (--cpu / --memory, or fewer replicas), or add nodes with more capacity.' : 'Check node selectors, taints and the PersistentVolumeClaim the pod needs.',
        ...(p.metadata?.name ? { pod: p.metadata.name } : {}),
      };
    }
  }

  for (const p of pods) {
    const pod = p.metadata?.name;
    for (const s of allStatuses(p)) {
      const w = s.state?.waiting;
      if (w?.reason === 'ErrImagePull' || w?.reason === 'ImagePullBackOff' || w?.reason === 'InvalidImageName') {
        return { ...imagePull(w.message ?? w.reason, s.init ? 'storage initializer' : 'server'), ...(pod ? { pod } : {}), ...(s.name ? { container: s.name } : {}) };
      }
      if (w?.reason === 'CreateContainerConfigError' || w?.reason === 'CreateContainerError') {
        return { kind: 'config', title: 'Kubernetes cannot create the container.', detail: w.message ?? w.reason, fix: /secret/i.test(w.message ?? '') ? 'Create the Secret it names (the storage credentials), or deploy without it.' : 'Read the detail: a missing ConfigMap, Secret or volume is the usual cause.', ...(pod ? { pod } : {}), ...(s.name ? { container: s.name } : {}) };
      }
    }
  }

  for (const p of pods) {
    const pod = p.metadata?.name;
    for (const s of allStatuses(p)) {
      const term = s.state?.terminated ?? s.lastState?.terminated;
      if (term?.reason === 'OOMKilled') {
        return withLogs({
          kind: 'oom',
          title: `The ${s.init ? 'storage initializer' : 'server'} ran out of memory and was killed (OOMKilled).`,
          detail: `container ${s.name} exited ${term.exitCode ?? 137} after ${s.restartCount ?? 0} restarts`,
          fix: 'Give it more memory (--memory, e.g. 2Gi): the model, onnxruntime and its arenas must fit.',
          ...(pod ? { pod } : {}),
          ...(s.name ? { container: s.name } : {}),
        });
      }
      const crashing = s.state?.waiting?.reason === 'CrashLoopBackOff' || (term && term.exitCode !== 0 && (s.init || (s.restartCount ?? 0) > 0));
      if (crashing) {
        const logs = logsOf(pod, s.name) ?? [];
        const load = logs.some((l) => LOAD_FAILURE.test(l)) || LOAD_FAILURE.test(term?.message ?? '');
        if (s.init) {
          return withLogs({ kind: 'storage', title: 'The model could not be fetched into the pod.', detail: term?.message ?? `the storage initializer exited ${term?.exitCode ?? '?'}`, fix: 'Check the storage URI and the credentials Secret (the last log lines say which).', ...(pod ? { pod } : {}), ...(s.name ? { container: s.name } : {}) });
        }
        return withLogs({
          kind: load ? 'model-load' : 'crash-loop',
          title: load ? 'The runtime cannot load the model.' : `The server keeps crashing (${s.restartCount ?? 0} restarts).`,
          detail: term ? `exit code ${term.exitCode}${term.reason ? ` (${term.reason})` : ''}${term.message ? `: ${term.message}` : ''}` : (s.state?.waiting?.message ?? 'CrashLoopBackOff'),
          fix: load ? 'Deploy with a runtime whose onnxruntime loads this model (the pre-flight names the limits), or re-export it.' : 'Read the last log lines below; run the same version locally (modelyard serve) to reproduce it.',
          ...(pod ? { pod } : {}),
          ...(s.name ? { container: s.name } : {}),
        });
      }
    }
  }

  if (failed === 'BlockedByFailedLoad') {
    const info = isvc?.modelStatus?.lastFailureInfo;
    return { kind: 'model-load', title: 'The runtime cannot load the model (KServe: BlockedByFailedLoad).', detail: `${info?.reason ?? ''} ${info?.message ?? ''}`.trim(), fix: 'Deploy with a runtime whose onnxruntime loads this model (the pre-flight names the limits), or re-export it.' };
  }

  const pull = events.find((e) => e.type === 'Warning' && (e.reason === 'Failed' || e.reason === 'ErrImagePull') && /pull/i.test(e.message ?? ''));
  if (pull) return { ...imagePull(pull.message ?? '', /storage-initializer/.test(pull.message ?? '') ? 'storage initializer' : 'server'), ...(pull.involvedObject?.name ? { pod: pull.involvedObject.name } : {}) };
  const sched = events.find((e) => e.type === 'Warning' && e.reason === 'FailedScheduling');
  if (sched && /Insufficient/.test(sched.message ?? '')) return { kind: 'unschedulable', title: 'No node has room for the model\'s pod.', detail: sched.message ?? '', fix: 'Ask for less (--cpu / --memory), or add nodes.' };
  return undefined;
}
