// The failure explainer on the statuses and events Kubernetes and KServe report (shapes as the API server returns
// them); the cluster tests provoke each failure for real.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { explainFailure, type PodLike } from '../../src/core/deploy/explain';

const pod = (status: PodLike['status'], name = 'wake-7d9f-abcde'): PodLike => ({ metadata: { name }, status });
const waiting = (reason: string, message = '', name = 'server') => ({ name, ready: false, restartCount: 0, state: { waiting: { reason, message } } });

describe('explainFailure', () => {
  it('says nothing while a rollout is merely in progress', () => {
    assert.equal(explainFailure({ pods: [pod({ phase: 'Pending', containerStatuses: [waiting('ContainerCreating')] })], events: [] }), undefined);
    assert.equal(explainFailure({ pods: [], events: [] }), undefined);
  });

  it('unschedulable: names the resource that is short and the fix', () => {
    const f = explainFailure({
      pods: [pod({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.' }] })],
      events: [],
    })!;
    assert.equal(f.kind, 'unschedulable');
    assert.equal(f.title, 'No node has enough cpu for the model\'s pod.');
    assert.match(f.fix, /--cpu \/ --memory/);
  });

  it('image pull: a missing image, and one the registry refuses', () => {
    const missing = explainFailure({ pods: [pod({ containerStatuses: [waiting('ImagePullBackOff', 'Back-off pulling image "127.0.0.1:5000/nope:1": not found')] })], events: [] })!;
    assert.equal(missing.kind, 'image-pull');
    assert.match(missing.title, /it does not exist/);
    assert.match(missing.fix, /modelyard image build --push/);
    const denied = explainFailure({ pods: [pod({ initContainerStatuses: [waiting('ErrImagePull', 'pull access denied, repository does not exist or may require authorization: 401 Unauthorized', 'storage-initializer')] })], events: [] })!;
    assert.match(denied.title, /storage initializer: the registry refused access/);
    assert.match(denied.fix, /imagePullSecret/);
  });

  it('OOMKilled, with the last log lines', () => {
    const f = explainFailure({
      pods: [pod({ containerStatuses: [{ name: 'server', restartCount: 2, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { reason: 'OOMKilled', exitCode: 137 } } }] })],
      events: [],
      logs: { 'wake-7d9f-abcde/server': ['loading wake', 'arena grew to 900 MB'] },
    })!;
    assert.equal(f.kind, 'oom');
    assert.match(f.fix, /--memory/);
    assert.deepEqual(f.logs, ['loading wake', 'arena grew to 900 MB']);
  });

  it('a model the runtime cannot load, from the crash and its logs, and from KServe\'s BlockedByFailedLoad', () => {
    const crash = explainFailure({
      pods: [pod({ containerStatuses: [{ name: 'kserve-container', restartCount: 3, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 1 } } }] })],
      events: [],
      logs: { 'wake-7d9f-abcde/kserve-container': ['modelyard: wake could not be loaded: onnxruntime: Unsupported model IR version: 11, max supported IR version: 9'] },
    })!;
    assert.equal(crash.kind, 'model-load');
    assert.equal(crash.title, 'The runtime cannot load the model.');
    assert.equal(crash.logs!.length, 1);
    const blocked = explainFailure({ pods: [], events: [], isvc: { modelStatus: { transitionStatus: 'BlockedByFailedLoad', lastFailureInfo: { reason: 'ModelLoadFailed', message: 'opset 21 not supported' } } } })!;
    assert.equal(blocked.kind, 'model-load');
    assert.match(blocked.detail, /opset 21/);
  });

  it('a crash loop that is not about the model, a storage initializer that failed, an invalid spec, a missing Secret', () => {
    assert.equal(explainFailure({ pods: [pod({ containerStatuses: [{ name: 'server', restartCount: 5, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 2 } } }] })], events: [], logs: { 'wake-7d9f-abcde/server': ['EADDRINUSE'] } })!.kind, 'crash-loop');
    assert.equal(explainFailure({ pods: [pod({ initContainerStatuses: [{ name: 'storage-initializer', state: { terminated: { exitCode: 1, reason: 'Error' } } }] })], events: [] })!.kind, 'storage');
    assert.equal(explainFailure({ pods: [], events: [], isvc: { modelStatus: { transitionStatus: 'InvalidSpec', lastFailureInfo: { reason: 'NoSupportingRuntime', message: 'no runtime found to support predictor' } } } })!.kind, 'invalid-spec');
    const secret = explainFailure({ pods: [pod({ containerStatuses: [waiting('CreateContainerConfigError', 'secret "modelyard-s3-reader" not found')] })], events: [] })!;
    assert.equal(secret.kind, 'config');
    assert.match(secret.fix, /Create the Secret/);
  });
});
