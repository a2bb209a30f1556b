// The objects a deploy writes, built from a DeploySpec: names Kubernetes accepts, labels that select what Modelyard
// made, annotations that tie what runs to the registry (and hold the spec a rollback re-applies), the rollout
// settings of the plain path, KServe's InferenceService with Modelyard's runtime. The cluster tests apply them for real.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ANNOTATION, dnsName, labelValue, objectsOf, parsePvcUri, plainProcesses, serviceOf, type DeploySpec } from '../../src/core/deploy/manifests';

const SPEC: DeploySpec = {
  name: 'wake',
  namespace: 'ml',
  mode: 'plain',
  model: { name: 'audio:wake', version: 'v1.2.0+build.7', tag: 'audio=wake@v1.2.0+build.7', commit: 'a'.repeat(40), sha256: 'b'.repeat(64) },
  storageUri: 's3://models/modelyard/sha256/' + 'b'.repeat(64),
  image: '127.0.0.1:5000/modelyard/server:0.1.0',
  onnxruntime: '1.30.0',
  replicas: 2,
  resources: { cpu: '500m', memory: '1Gi' },
  stage: 'prod',
  storageSecret: 'modelyard-s3-reader',
  s3: { endpoint: 'http://10.244.0.1:8333' },
};
const LABEL = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
type Obj = {
  kind: string;
  metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- manifests are read field by field
  spec: Record<string, any>;
};

describe('deploy manifests', () => {
  it('makes DNS-safe names and valid label values', () => {
    assert.equal(dnsName('audio:Wake_Word/v2'), 'audio-wake-word-v2');
    assert.equal(dnsName('2fast'), 'fast');
    assert.equal(dnsName('___'), 'model');
    assert.ok(dnsName('x'.repeat(80)).length <= 45);
    for (const v of ['v1.2.0+build.7', 'audio:wake', '-x-', 'ü'.repeat(70)]) assert.match(labelValue(v), LABEL, v);
    assert.deepEqual(parsePvcUri('pvc://models/' + 'c'.repeat(64)), { claim: 'models', path: 'c'.repeat(64) });
  });

  it('plain: a Deployment that rolls out with no unavailable replica, ready on the model\'s V2 ready call, and a Service', () => {
    const [dep, svc, ...rest] = objectsOf(SPEC) as unknown as Obj[];
    assert.deepEqual([dep!.kind, svc!.kind, rest.length], ['Deployment', 'Service', 0]);
    assert.deepEqual(dep!.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    assert.equal(dep!.spec.replicas, 2);
    const pod = dep!.spec.template.spec;
    const server = pod.containers[0];
    // 500m requested: one server process.
    assert.deepEqual(server.args, ['serve', '/mnt/models', '--host', '0.0.0.0', '--port', '8080', '--grpc-port', '8081', '--name', 'wake', '--processes', '1', '--log', 'json']);
    assert.deepEqual(['500m', '1', '1500m', '2', '2.5', undefined, 'x'].map(plainProcesses), [1, 1, 2, 2, 3, 1, 1]);
    assert.equal(server.readinessProbe.httpGet.path, '/v2/models/wake/ready');
    assert.deepEqual(server.resources, { requests: { cpu: '500m', memory: '1Gi' }, limits: { memory: '1Gi' } });
    const init = pod.initContainers[0];
    assert.deepEqual(init.args, ['fetch-model', SPEC.storageUri, '/mnt/models']);
    assert.deepEqual(init.env.map((e: { name: string }) => e.name), ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'S3_ENDPOINT']);
    assert.equal(JSON.stringify(objectsOf(SPEC)).includes('secretAccessKey'), false);
    assert.deepEqual(svc!.spec.ports, [
      { name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' },
      { name: 'grpc', port: 8081, targetPort: 8081, protocol: 'TCP', appProtocol: 'kubernetes.io/h2c' },
    ]);
    assert.deepEqual(serviceOf(SPEC), { name: 'wake', port: 80 });
  });

  it('ties every object to the registry: labels select, annotations name model, version, tag, commit, sha256, stage and hold the spec', () => {
    for (const o of objectsOf(SPEC) as unknown as Obj[]) {
      assert.equal(o.metadata.labels['app.kubernetes.io/managed-by'], 'modelyard');
      assert.equal(o.metadata.labels['modelyard.dev/deployment'], 'wake');
      for (const v of Object.values(o.metadata.labels)) assert.match(v, LABEL);
      const a = o.metadata.annotations;
      assert.deepEqual([a[ANNOTATION.model], a[ANNOTATION.version], a[ANNOTATION.tag], a[ANNOTATION.commit], a[ANNOTATION.sha256], a[ANNOTATION.stage]], ['audio:wake', 'v1.2.0+build.7', 'audio=wake@v1.2.0+build.7', 'a'.repeat(40), 'b'.repeat(64), 'prod']);
      assert.deepEqual(JSON.parse(a[ANNOTATION.spec]!), SPEC, 'the spec a rollback re-applies');
    }
  });

  it('plain with autoscaling: no fixed replicas, a HorizontalPodAutoscaler; from a PVC: mounted, no initializer', () => {
    const objs = objectsOf({ ...SPEC, replicas: undefined, autoscale: { min: 1, max: 4 }, storageUri: 'pvc://models/' + 'b'.repeat(64), storageSecret: undefined }) as unknown as Obj[];
    assert.deepEqual(objs.map((o) => o.kind), ['Deployment', 'Service', 'HorizontalPodAutoscaler']);
    assert.equal(objs[0]!.spec.replicas, undefined);
    assert.deepEqual([objs[2]!.spec.minReplicas, objs[2]!.spec.maxReplicas], [1, 4]);
    const pod = objs[0]!.spec.template.spec;
    assert.equal(pod.initContainers, undefined);
    assert.deepEqual(pod.volumes, [{ name: 'models', persistentVolumeClaim: { claimName: 'models', readOnly: true } }]);
    assert.equal(pod.containers[0].volumeMounts[0].subPath, 'b'.repeat(64));
  });

  it('KServe: Modelyard\'s ServingRuntime (onnx, v2, its onnxruntime annotated) and an InferenceService on it', () => {
    const [rt, isvc] = objectsOf({ ...SPEC, mode: 'kserve' }) as unknown as Obj[];
    assert.equal(rt!.kind, 'ServingRuntime');
    assert.deepEqual(rt!.spec.supportedModelFormats, [{ name: 'onnx', version: '1', autoSelect: true, priority: 2 }]);
    assert.deepEqual(rt!.spec.protocolVersions, ['v2']);
    // KServe gives the predictor a CPU limit (1 by default): the server reads it.
    assert.deepEqual(rt!.spec.containers[0].args, ['serve', '/mnt/models', '--host', '0.0.0.0', '--port', '8080', '--grpc-port', '8081', '--name', '{{.Name}}', '--processes', 'auto', '--log', 'json']);
    assert.equal(rt!.metadata.annotations['modelyard.dev/onnxruntime'], '1.30.0');
    // KServe's predictor Service exposes both: the first port as 80, grpc (named so) as h2c.
    assert.deepEqual(rt!.spec.containers[0].ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]), [['http', 8080], ['grpc', 8081]]);
    assert.equal(isvc!.kind, 'InferenceService');
    assert.deepEqual(isvc!.spec.predictor.model, { modelFormat: { name: 'onnx' }, protocolVersion: 'v2', runtime: 'modelyard', storageUri: SPEC.storageUri, resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { memory: '1Gi' } } });
    assert.deepEqual([isvc!.spec.predictor.minReplicas, isvc!.spec.predictor.maxReplicas], [2, 2]);
    assert.equal(isvc!.metadata.annotations['serving.kserve.io/storageSecretName'], 'modelyard-s3-reader');
    assert.deepEqual(serviceOf({ name: 'wake', mode: 'kserve' }), { name: 'wake-predictor', port: 80 });
    const triton = objectsOf({ ...SPEC, mode: 'kserve', runtime: 'kserve-tritonserver' }) as unknown as Obj[];
    assert.deepEqual(triton.map((o) => o.kind), ['InferenceService'], 'a runtime of the cluster is used as it is');
  });
});
