/**
 * The deployments of a context, live: what `modelyard deployments --watch` reports and the editor's Deployments view
 * shows. Watches wake a debounced re-list (simple and complete: the list is small), the API server's absence is
 * reported and waited out.
 */
import { describeError } from '../errors';
import { listDeployments, type DeploymentInfo } from './deploy';
import { isUnreachable, type Kube } from './kube';
import { MANAGED_BY } from './manifests';
import { keepWatching, sleep } from './watch';

export interface DeploymentsUpdate {
  state: 'live' | 'reconnecting';
  /** While reconnecting: why (the API server's failure, said for a person); while live: what could not be listed. */
  message?: string;
  /** The list (while reconnecting: the last one seen). */
  items: DeploymentInfo[];
}

/**
 * The deployments of a namespace (or of all, `namespace` undefined), live: `onUpdate` hears the whole list at the
 * start and again after every change (watches of InferenceServices and Deployments wake a debounced re-list; a
 * re-list every `resyncMs` catches what a watch missed), `reconnecting` while the API server does not answer, and
 * live again when it does. Resolves when `signal` aborts. A failure other than an unreachable server (a denied
 * list, a broken kubeconfig) before the first list rejects; after it, it is reported as reconnecting.
 */
export async function watchDeployments(
  kube: Kube,
  namespace: string | undefined,
  opts: { signal: AbortSignal; onUpdate: (u: DeploymentsUpdate) => void; debounceMs?: number; retryMs?: number; resyncMs?: number },
): Promise<void> {
  const debounceMs = opts.debounceMs ?? 150;
  const retryMs = opts.retryMs ?? 2000;
  const resyncMs = opts.resyncMs ?? 30_000;
  const watchAbort = new AbortController();
  const stop = AbortSignal.any([opts.signal, watchAbort.signal]);
  let wake: (() => void) | undefined;
  let dirty = true;
  const changed = () => {
    dirty = true;
    wake?.();
  };
  let last = '';
  let items: DeploymentInfo[] = [];
  let listedOnce = false;
  let watching = false;
  const startWatches = (kserve: boolean) => {
    if (watching) return;
    watching = true;
    const scope = namespace ? `/namespaces/${namespace}` : '';
    // Modelyard's plain Deployments, KServe's predictor Deployments (their ready replicas), the InferenceServices.
    void keepWatching(kube, `/apis/apps/v1${scope}/deployments`, { labelSelector: `${MANAGED_BY}=modelyard` }, changed, stop);
    if (kserve) {
      void keepWatching(kube, `/apis/apps/v1${scope}/deployments`, { labelSelector: 'serving.kserve.io/inferenceservice' }, changed, stop);
      void keepWatching(kube, `/apis/serving.kserve.io/v1beta1${scope}/inferenceservices`, {}, changed, stop);
    }
  };
  const emit = (u: DeploymentsUpdate) => {
    const key = JSON.stringify(u);
    if (key === last) return;
    last = key;
    opts.onUpdate(u);
  };
  let reconnecting = false;
  try {
    while (!opts.signal.aborted) {
      if (dirty) {
        dirty = false;
        try {
          const denied: string[] = [];
          items = await listDeployments(kube, namespace, { denied });
          listedOnce = true;
          reconnecting = false;
          startWatches(!denied.length && (await kube.hasApi('serving.kserve.io/v1beta1')));
          emit({ state: 'live', items, ...(denied.length ? { message: `you may not list ${denied.join(', ')} on ${kube.context}: only Modelyard's Deployments are shown. Ask your cluster admin for a Role that may list and watch them.` } : {}) });
        } catch (e) {
          if (opts.signal.aborted) break;
          if (!listedOnce && !isUnreachable(e)) throw e;
          reconnecting = true;
          emit({ state: 'reconnecting', message: `${describeError(e)} — trying again every ${Math.round(retryMs / 1000)} s`, items });
        }
      }
      // Until a change (debounced), the next retry while reconnecting, or the periodic re-list; the timer goes with the pause.
      const pause = new AbortController();
      await Promise.race([
        sleep(reconnecting ? retryMs : resyncMs, AbortSignal.any([stop, pause.signal])).catch(() => undefined),
        new Promise<void>((r) => {
          wake = r;
          if (dirty) r();
        }),
      ]).finally(() => pause.abort());
      wake = undefined;
      if (!reconnecting) await sleep(debounceMs, opts.signal).catch(() => undefined);
      dirty = true;
    }
  } finally {
    watchAbort.abort();
  }
}
