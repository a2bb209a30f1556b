/**
 * A client of the Open Inference Protocol (KServe V2) REST API: sends tensors to `{url}/v2/models/{model}/infer`
 * and reads the answer back as tensors, so that a remote or local endpoint can be compared with a local run.
 */
import { CancelledError, UserError, describeError } from '../errors';
import { dtypeFromV2 } from '../onnx/dtypes';
import { tensorFromJson, tensorToJson } from '../inference/json';
import type { Tensor } from '../inference/tensor';
import { v2Datatype } from './v2';

export interface RemoteResult {
  outputs: Record<string, Tensor>;
  /** From sending the request to having parsed the answer. */
  ms: number;
}

function base(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserError(`'${url}' is not a URL.`, 'Give the endpoint as http://host:port (the part before /v2).');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UserError(`'${url}' is not an http or https URL.`);
  return u.toString().replace(/\/+$/, '').replace(/\/v2(\/.*)?$/, '');
}

/** How a request reaches the endpoint: global fetch, or one through the Kubernetes API server's service proxy. */
export type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; body: string; signal: AbortSignal }) => Promise<Response>;

export async function inferRemote(url: string, model: string, feeds: Record<string, Tensor>, opts: { signal?: AbortSignal; timeoutMs?: number; fetch?: FetchLike } = {}): Promise<RemoteResult> {
  const endpoint = `${base(url)}/v2/models/${encodeURIComponent(model)}/infer`;
  const body = JSON.stringify({
    id: `modelyard-${Date.now()}`,
    inputs: Object.entries(feeds).map(([name, t]) => {
      const j = tensorToJson(t);
      return { name, shape: j.shape, datatype: v2Datatype(t.dtype), data: j.data };
    }),
  });
  const t0 = performance.now();
  const signals = [opts.signal, AbortSignal.timeout(opts.timeoutMs ?? 60_000)].filter((s): s is AbortSignal => !!s);
  let res: Response;
  try {
    res = await (opts.fetch ?? fetch)(endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.any(signals) });
  } catch (e) {
    if (opts.signal?.aborted) throw new CancelledError('cancelled.');
    if (e instanceof UserError) throw e;
    const cause = (e as { cause?: { code?: string } }).cause?.code;
    throw new UserError(
      `could not reach ${endpoint}: ${cause ?? describeError(e)}.`,
      cause === 'ECONNREFUSED' ? 'Is the server running? Start one with "Serve Model Locally" or `modelyard serve`.' : 'Check the URL and the network.',
    );
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UserError(`${endpoint} answered ${res.status} with something that is not JSON: ${text.slice(0, 200)}`, 'Is this an Open Inference Protocol (KServe V2) endpoint?');
  }
  if (!res.ok) {
    const err = (json as { error?: unknown }).error;
    throw new UserError(`${endpoint} answered ${res.status}: ${typeof err === 'string' ? err : text.slice(0, 300)}`, res.status === 404 ? `Check the model name '${model}'.` : undefined);
  }
  const outs = (json as { outputs?: unknown }).outputs;
  if (!Array.isArray(outs)) throw new UserError(`${endpoint} answered without an "outputs" array.`, 'Is this an Open Inference Protocol (KServe V2) endpoint?');
  const outputs: Record<string, Tensor> = {};
  for (const o of outs as { name?: unknown; datatype?: unknown; shape?: unknown; data?: unknown }[]) {
    if (typeof o?.name !== 'string' || typeof o.datatype !== 'string' || !Array.isArray(o.shape)) throw new UserError(`${endpoint} answered with a malformed output (it needs name, datatype, shape, data).`);
    const dtype = dtypeFromV2(o.datatype);
    if (!dtype) throw new UserError(`${endpoint} answered output '${o.name}' in datatype ${o.datatype}, which Modelyard does not know.`);
    outputs[o.name] = tensorFromJson({ dtype, shape: o.shape, data: o.data }, { name: o.name, dtype, shape: o.shape as number[] });
  }
  return { outputs, ms: performance.now() - t0 };
}
