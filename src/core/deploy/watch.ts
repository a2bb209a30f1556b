/**
 * Watching the cluster: a Kubernetes watch kept open (started again whenever it ends: a timeout, a dropped
 * connection, an API server that went away), used to wake a loop that re-lists what it shows. The rollout follower
 * (rollout.ts) and the live list of deployments (live.ts) share it.
 */
import { CancelledError } from '../errors';
import type { Kube } from './kube';

/** Resolves after `ms`, or rejects with CancelledError when `signal` aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(new CancelledError());
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), reject(new CancelledError())), { once: true });
  });
}

/**
 * Keeps a watch of `path` open until `signal` aborts, calling `onChange` on each event; when the watch ends (or
 * cannot start), it starts again after `retryMs`. Errors are not reported here: the re-listing loop that the watch
 * wakes sees an API server that does not answer, and says so.
 */
export async function keepWatching(kube: Kube, path: string, params: Record<string, string>, onChange: () => void, signal: AbortSignal, retryMs = 1000): Promise<void> {
  while (!signal.aborted) {
    try {
      await new Promise<void>((resolve) => {
        void new kube.lib.Watch(kube.kc)
          .watch(path, params, () => onChange(), () => resolve())
          .then(
            (ac) => {
              if (signal.aborted) ac.abort();
              else signal.addEventListener('abort', () => ac.abort(), { once: true });
            },
            () => resolve(),
          );
      });
    } catch {
      // Started again below.
    }
    // A watch that ended may have missed changes: the loop it wakes re-lists.
    if (!signal.aborted) onChange();
    await sleep(retryMs, signal).catch(() => undefined);
  }
}
