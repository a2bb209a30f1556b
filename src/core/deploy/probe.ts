/**
 * What a deploy target is: the server's version, whether KServe is installed and in which deployment mode (read,
 * not assumed), the serving runtimes that take onnx over the Open Inference Protocol with the onnxruntime each one
 * runs, and whether the user may do what a deploy needs (a SelfSubjectAccessReview per verb and resource; what is
 * denied is named).
 */
import type { Kube, KubeObject } from './kube';
import { identifyRuntime, type RuntimeInfo } from './runtimes';

export interface Permission {
  verb: string;
  resource: string;
  group: string;
  subresource?: string;
  allowed: boolean;
  reason?: string;
}

export interface TargetProbe {
  context: string;
  server: string;
  version: string;
  namespace: string;
  kserve: { installed: boolean; mode?: string; modeSource?: string };
  /** ServingRuntimes of the namespace and ClusterServingRuntimes that serve onnx with protocol v2. */
  runtimes: RuntimeInfo[];
  permissions: Permission[];
}

type Need = Omit<Permission, 'allowed' | 'reason'>;

/** What a deploy does on each path, as SelfSubjectAccessReview attributes. */
export function neededPermissions(mode: 'kserve' | 'plain', storage: 's3' | 'pvc'): Need[] {
  const crud = (resource: string, group: string, verbs = ['get', 'list', 'watch', 'create', 'patch', 'delete']): Need[] => verbs.map((verb) => ({ verb, resource, group }));
  return [
    ...(mode === 'kserve'
      ? [...crud('inferenceservices', 'serving.kserve.io'), ...crud('servingruntimes', 'serving.kserve.io', ['get', 'create', 'patch'])]
      : [...crud('deployments', 'apps'), ...crud('services', ''), ...crud('horizontalpodautoscalers', 'autoscaling', ['get', 'create', 'patch', 'delete'])]),
    ...crud('pods', '', ['get', 'list', 'watch']),
    { verb: 'get', resource: 'pods', group: '', subresource: 'log' },
    { verb: 'list', resource: 'events', group: '' },
    { verb: 'get', resource: 'services', group: '', subresource: 'proxy' },
    { verb: 'create', resource: 'services', group: '', subresource: 'proxy' },
    ...crud('leases', 'coordination.k8s.io', ['get', 'create', 'update', 'delete']),
    ...(storage === 's3' ? crud('secrets', '', ['get', 'create', 'patch']) : [...crud('persistentvolumeclaims', '', ['get', 'create']), { verb: 'create', resource: 'pods', group: '' }, { verb: 'create', resource: 'pods', group: '', subresource: 'exec' }]),
  ];
}

export async function checkPermissions(kube: Kube, namespace: string, needs: Need[]): Promise<Permission[]> {
  const authz = kube.kc.makeApiClient(kube.lib.AuthorizationV1Api);
  return Promise.all(
    needs.map(async (n) => {
      const r = await kube.call(`check whether you may ${n.verb} ${n.resource}`, () =>
        authz.createSelfSubjectAccessReview({
          body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { namespace, verb: n.verb, resource: n.resource, group: n.group, ...(n.subresource ? { subresource: n.subresource } : {}) } } },
        }),
      );
      return { ...n, allowed: !!r.status?.allowed, ...(r.status?.reason ? { reason: r.status.reason } : {}) };
    }),
  );
}

/** "create inferenceservices.serving.kserve.io", "get pods/log". */
export function describePermission(p: Need): string {
  return `${p.verb} ${p.resource}${p.subresource ? `/${p.subresource}` : ''}${p.group ? `.${p.group}` : ''}`;
}

/** KServe's deployment mode as the cluster configures it: the inferenceservice-config ConfigMap, read. */
async function kserveMode(kube: Kube): Promise<{ mode?: string; modeSource?: string }> {
  for (const ns of ['kserve', 'kserve-system', 'kubeflow']) {
    const cm = await kube.read<KubeObject & { data?: Record<string, string> }>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'inferenceservice-config', namespace: ns } }).catch(() => undefined);
    if (!cm?.data) continue;
    try {
      const deploy = JSON.parse(cm.data.deploy ?? '{}') as { defaultDeploymentMode?: string };
      return { mode: deploy.defaultDeploymentMode ?? 'Serverless', modeSource: `ConfigMap ${ns}/inferenceservice-config` };
    } catch {
      return { modeSource: `ConfigMap ${ns}/inferenceservice-config (unreadable)` };
    }
  }
  return {};
}

interface RuntimeObject extends KubeObject {
  spec?: { supportedModelFormats?: { name?: string }[]; protocolVersions?: string[]; containers?: { image?: string }[]; disabled?: boolean };
}

function servesOnnxV2(r: RuntimeObject): boolean {
  return !r.spec?.disabled && !!r.spec?.supportedModelFormats?.some((f) => f.name === 'onnx') && (r.spec?.protocolVersions ?? ['v1']).includes('v2');
}

export async function probeTarget(kube: Kube, namespace: string, opts: { needs?: Need[] } = {}): Promise<TargetProbe> {
  const version = await kube.version();
  const installed = await kube.hasApi('serving.kserve.io/v1beta1');
  const runtimes: RuntimeInfo[] = [];
  let mode: { mode?: string; modeSource?: string } = {};
  if (installed) {
    mode = await kserveMode(kube);
    const [own, cluster] = await Promise.all([
      kube.list<RuntimeObject>('serving.kserve.io/v1alpha1', 'ServingRuntime', namespace).catch(() => []),
      kube.list<RuntimeObject>('serving.kserve.io/v1alpha1', 'ClusterServingRuntime', undefined).catch(() => []),
    ]);
    for (const r of [...own, ...cluster].filter(servesOnnxV2)) {
      runtimes.push(identifyRuntime(r.metadata.name, r.spec?.containers?.[0]?.image ?? '', r.metadata.annotations ?? {}));
    }
  }
  const permissions = opts.needs ? await checkPermissions(kube, namespace, opts.needs) : [];
  return { context: kube.context, server: kube.server, version, namespace, kserve: { installed, ...mode }, runtimes, permissions };
}
