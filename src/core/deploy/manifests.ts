/**
 * The objects a deploy writes: a KServe InferenceService (with Modelyard's ServingRuntime) where KServe is
 * installed, a Deployment + Service (+ HorizontalPodAutoscaler) where it is not. Every object carries labels that
 * select what Modelyard made and annotations that tie what runs to the registry: model, version, git tag, commit,
 * sha256, stage. Pure functions: what they return is applied server-side, after a dry run.
 */
import type { KubeObject } from './kube';
import { ORT_ANNOTATION } from './runtimes';

export const MANAGED_BY = 'app.kubernetes.io/managed-by';
export const DEPLOYMENT_LABEL = 'modelyard.dev/deployment';
export const ANNOTATION = {
  model: 'modelyard.dev/model',
  version: 'modelyard.dev/version',
  tag: 'modelyard.dev/tag',
  commit: 'modelyard.dev/commit',
  sha256: 'modelyard.dev/sha256',
  stage: 'modelyard.dev/stage',
  storageUri: 'modelyard.dev/storage-uri',
  /** The spec of the deploy as JSON: what a rollback re-applies. */
  spec: 'modelyard.dev/spec',
} as const;

/** The port every Modelyard server listens on inside its container. */
export const SERVER_PORT = 8080;
/** The server's gRPC port (the Open Inference Protocol's GRPCInferenceService), as KServe's runtimes use. */
export const GRPC_PORT = 8081;

export interface ModelIdentity {
  /** The registry name ("audio:wake"). */
  name: string;
  version?: string;
  /** The GTO tag of the version ("audio=wake@v1.2.0"). */
  tag?: string;
  commit?: string;
  sha256: string;
}

export interface DeploySpec {
  /** DNS-safe; also the served model name in V2 URLs. */
  name: string;
  namespace: string;
  mode: 'kserve' | 'plain';
  model: ModelIdentity;
  /** s3://bucket/prefix/sha256/HEX or pvc://claim/path: a folder holding NAME/1/model.onnx. */
  storageUri: string;
  /** Modelyard's serving image (the plain container, and the KServe runtime when runtime is "modelyard"). */
  image: string;
  /** KServe: the (Cluster)ServingRuntime to use; "modelyard" is created beside the InferenceService. */
  runtime?: string;
  /** The onnxruntime inside Modelyard's image (annotated on its ServingRuntime). */
  onnxruntime?: string;
  replicas?: number;
  autoscale?: { min: number; max: number; cpuPercent?: number };
  resources?: { cpu?: string; memory?: string };
  stage?: string;
  /** A Secret with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for an s3:// model (read-only keys for the cluster). */
  storageSecret?: string;
  /** The object store as pods reach it. */
  s3?: { endpoint: string; region?: string };
}

/** A name Kubernetes and KServe accept (DNS-1123 label, short enough for "-predictor-…" suffixes). */
export function dnsName(name: string): string {
  const n = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^[^a-z]+/, '')
    .replace(/-+$/, '')
    .slice(0, 45)
    .replace(/-+$/, '');
  return n || 'model';
}

/** A value a label accepts (63 characters of [A-Za-z0-9_.-], alphanumeric at both ends). */
export function labelValue(v: string): string {
  return v.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 63).replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}

export function labelsOf(spec: DeploySpec): Record<string, string> {
  return {
    [MANAGED_BY]: 'modelyard',
    'app.kubernetes.io/name': spec.name,
    [DEPLOYMENT_LABEL]: spec.name,
    'modelyard.dev/model': labelValue(spec.model.name),
    ...(spec.model.version ? { 'modelyard.dev/version': labelValue(spec.model.version) } : {}),
  };
}

export function annotationsOf(spec: DeploySpec): Record<string, string> {
  const m = spec.model;
  return {
    [ANNOTATION.model]: m.name,
    ...(m.version ? { [ANNOTATION.version]: m.version } : {}),
    ...(m.tag ? { [ANNOTATION.tag]: m.tag } : {}),
    ...(m.commit ? { [ANNOTATION.commit]: m.commit } : {}),
    [ANNOTATION.sha256]: m.sha256,
    ...(spec.stage ? { [ANNOTATION.stage]: spec.stage } : {}),
    [ANNOTATION.storageUri]: spec.storageUri,
    [ANNOTATION.spec]: JSON.stringify(spec),
  };
}

function resources(spec: DeploySpec): Record<string, unknown> | undefined {
  const r = spec.resources;
  if (!r?.cpu && !r?.memory) return undefined;
  return {
    requests: { ...(r.cpu ? { cpu: r.cpu } : {}), ...(r.memory ? { memory: r.memory } : {}) },
    // Memory is limited (an OOM is explained); CPU is not, so a burst is not throttled.
    ...(r.memory ? { limits: { memory: r.memory } } : {}),
  };
}

/** REST and gRPC, `processes` server processes, and the log as JSON lines (what cluster log collectors parse). */
function serverArgs(source: string, name: string, processes: string): string[] {
  return ['serve', source, '--host', '0.0.0.0', '--port', String(SERVER_PORT), '--grpc-port', String(GRPC_PORT), '--name', name, '--processes', processes, '--log', 'json'];
}

/**
 * Server processes for the plain Deployment: the CPUs it requests, rounded up (500m → 1, 2 → 2, 1500m → 2), else 1.
 * Not `auto`: the Deployment sets no CPU limit (a burst is not throttled), so the container has no quota to read and
 * would see every CPU of the node, each process with its own copy of the model within one memory limit.
 */
export function plainProcesses(cpu: string | undefined): number {
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(cpu ?? '');
  if (!m) return 1;
  return Math.max(1, Math.min(64, Math.ceil(Number(m[1]) / (m[2] ? 1000 : 1) - 1e-9)));
}

/** pvc://claim/sub/path → the claim and the path inside it. */
export function parsePvcUri(uri: string): { claim: string; path: string } | undefined {
  const m = /^pvc:\/\/([^/]+)\/?(.*)$/.exec(uri);
  return m ? { claim: m[1]!, path: m[2]! } : undefined;
}

/** Modelyard's runtime for KServe: its image serving onnx over the Open Inference Protocol (v2). */
export function servingRuntime(spec: Pick<DeploySpec, 'namespace' | 'image' | 'onnxruntime'>): KubeObject {
  return {
    apiVersion: 'serving.kserve.io/v1alpha1',
    kind: 'ServingRuntime',
    metadata: {
      name: 'modelyard',
      namespace: spec.namespace,
      labels: { [MANAGED_BY]: 'modelyard' },
      ...(spec.onnxruntime ? { annotations: { [ORT_ANNOTATION]: spec.onnxruntime } } : {}),
    },
    spec: {
      supportedModelFormats: [{ name: 'onnx', version: '1', autoSelect: true, priority: 2 }],
      protocolVersions: ['v2'],
      containers: [
        {
          name: 'kserve-container',
          image: spec.image,
          // KServe gives a predictor a CPU limit (1 CPU by default): `auto` reads it from the container's cgroup.
          args: serverArgs('/mnt/models', '{{.Name}}', 'auto'),
          // KServe's predictor Service (raw deployment) exposes each port: the first as port 80 (REST, and its
          // readiness probe), the others by number, a port named grpc as appProtocol kubernetes.io/h2c.
          ports: [
            { name: 'http', containerPort: SERVER_PORT, protocol: 'TCP' },
            { name: 'grpc', containerPort: GRPC_PORT, protocol: 'TCP' },
          ],
        },
      ],
    },
  };
}

export function inferenceService(spec: DeploySpec): KubeObject {
  const r = resources(spec);
  return {
    apiVersion: 'serving.kserve.io/v1beta1',
    kind: 'InferenceService',
    metadata: {
      name: spec.name,
      namespace: spec.namespace,
      labels: labelsOf(spec),
      annotations: { ...annotationsOf(spec), ...(spec.storageSecret ? { 'serving.kserve.io/storageSecretName': spec.storageSecret } : {}) },
    },
    spec: {
      predictor: {
        ...(spec.autoscale ? { minReplicas: spec.autoscale.min, maxReplicas: spec.autoscale.max } : { minReplicas: spec.replicas ?? 1, maxReplicas: spec.replicas ?? 1 }),
        model: {
          modelFormat: { name: 'onnx' },
          protocolVersion: 'v2',
          runtime: spec.runtime ?? 'modelyard',
          storageUri: spec.storageUri,
          ...(r ? { resources: r } : {}),
        },
      },
    },
  };
}

/** Deployment + Service (+ HorizontalPodAutoscaler) of Modelyard's server, for a cluster without KServe. */
export function plainObjects(spec: DeploySpec): KubeObject[] {
  const labels = labelsOf(spec);
  const meta = (name: string) => ({ name, namespace: spec.namespace, labels, annotations: annotationsOf(spec) });
  const pvc = parsePvcUri(spec.storageUri);
  const volumes = pvc ? [{ name: 'models', persistentVolumeClaim: { claimName: pvc.claim, readOnly: true } }] : [{ name: 'models', emptyDir: {} }];
  const mount = { name: 'models', mountPath: '/mnt/models', readOnly: true, ...(pvc?.path ? { subPath: pvc.path } : {}) };
  const s3env = spec.storageSecret
    ? [
        { name: 'AWS_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name: spec.storageSecret, key: 'AWS_ACCESS_KEY_ID' } } },
        { name: 'AWS_SECRET_ACCESS_KEY', valueFrom: { secretKeyRef: { name: spec.storageSecret, key: 'AWS_SECRET_ACCESS_KEY' } } },
      ]
    : [];
  const initContainers = pvc
    ? []
    : [
        {
          name: 'storage-initializer',
          image: spec.image,
          args: ['fetch-model', spec.storageUri, '/mnt/models'],
          env: [...s3env, ...(spec.s3 ? [{ name: 'S3_ENDPOINT', value: spec.s3.endpoint }, ...(spec.s3.region ? [{ name: 'AWS_REGION', value: spec.s3.region }] : [])] : [])],
          volumeMounts: [{ name: 'models', mountPath: '/mnt/models' }],
        },
      ];
  const r = resources(spec);
  const probe = (path: string, extra: Record<string, number>) => ({ httpGet: { path, port: SERVER_PORT }, ...extra });
  const deployment: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(spec.name),
    spec: {
      ...(spec.autoscale ? {} : { replicas: spec.replicas ?? 1 }),
      selector: { matchLabels: { [DEPLOYMENT_LABEL]: spec.name } },
      // A new version comes up beside the old one; no replica is unavailable during the rollout.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels, annotations: { [ANNOTATION.sha256]: spec.model.sha256 } },
        spec: {
          ...(initContainers.length ? { initContainers } : {}),
          containers: [
            {
              name: 'server',
              image: spec.image,
              args: serverArgs('/mnt/models', spec.name, String(plainProcesses(spec.resources?.cpu))),
              ports: [
                { name: 'http', containerPort: SERVER_PORT, protocol: 'TCP' },
                { name: 'grpc', containerPort: GRPC_PORT, protocol: 'TCP' },
              ],
              readinessProbe: probe(`/v2/models/${spec.name}/ready`, { periodSeconds: 2, failureThreshold: 3 }),
              livenessProbe: probe('/v2/health/live', { periodSeconds: 10, failureThreshold: 3 }),
              startupProbe: probe('/v2/health/live', { periodSeconds: 2, failureThreshold: 60 }),
              ...(r ? { resources: r } : {}),
              volumeMounts: [mount],
            },
          ],
          volumes,
          terminationGracePeriodSeconds: 30,
        },
      },
    },
  };
  const service: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(spec.name),
    spec: {
      selector: { [DEPLOYMENT_LABEL]: spec.name },
      ports: [
        { name: 'http', port: 80, targetPort: SERVER_PORT, protocol: 'TCP' },
        // Cleartext HTTP/2 (gRPC without TLS), so that meshes and ingresses that read appProtocol route it as such.
        { name: 'grpc', port: GRPC_PORT, targetPort: GRPC_PORT, protocol: 'TCP', appProtocol: 'kubernetes.io/h2c' },
      ],
    },
  };
  const objects = [deployment, service];
  if (spec.autoscale) {
    objects.push({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: meta(spec.name),
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: spec.name },
        minReplicas: spec.autoscale.min,
        maxReplicas: spec.autoscale.max,
        metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: spec.autoscale.cpuPercent ?? 80 } } }],
      },
    });
  }
  return objects;
}

/** What a deploy applies, in order. */
export function objectsOf(spec: DeploySpec): KubeObject[] {
  if (spec.mode === 'plain') return plainObjects(spec);
  return [...((spec.runtime ?? 'modelyard') === 'modelyard' ? [servingRuntime(spec)] : []), inferenceService(spec)];
}

/** The Service the smoke test and the editor reach the model through, and its port. */
export function serviceOf(spec: Pick<DeploySpec, 'name' | 'mode'>): { name: string; port: number } {
  return spec.mode === 'kserve' ? { name: `${spec.name}-predictor`, port: 80 } : { name: spec.name, port: 80 };
}
