/**
 * "Does the endpoint answer what the model answers here?": the same inputs run locally in the inference worker and
 * sent to an Open Inference Protocol endpoint, the outputs compared as the Playground compares two models (max
 * error, cosine, top-1, a verdict). The Playground's Remote tab, the CLI and the deploy smoke test all use it.
 */
import type { InferenceHost } from '../inference/host';
import { compareOutputs, DEFAULT_TOLERANCES, verdict, type ComparisonReport, type Tolerances } from '../inference/compare';
import type { Tensor } from '../inference/tensor';
import { inferRemote, type FetchLike } from './client';

export interface EndpointCheckOptions {
  signal?: AbortSignal;
  tolerances?: Tolerances;
  timeoutMs?: number;
  fetch?: FetchLike;
}

/** Runs `feeds` on the loaded session and on `{url}/v2/models/{model}`, and compares the answers. */
export async function checkEndpoint(host: InferenceHost, sessionId: string, feeds: Record<string, Tensor>, url: string, model: string, opts: EndpointCheckOptions = {}): Promise<ComparisonReport> {
  const tolerances = opts.tolerances ?? DEFAULT_TOLERANCES;
  const local = await host.run(sessionId, feeds, { ...(opts.signal ? { signal: opts.signal } : {}) });
  const remote = await inferRemote(url, model, feeds, { ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}), ...(opts.fetch ? { fetch: opts.fetch } : {}) });
  const report = compareOutputs(local.outputs, remote.outputs, tolerances);
  return {
    ...report,
    tolerances,
    latency: { a: local.ms, b: remote.ms, ratio: remote.ms / local.ms, runs: 1 },
    verdict: verdict(report, { a: 'the local run', b: "the endpoint's answer" }),
  };
}
