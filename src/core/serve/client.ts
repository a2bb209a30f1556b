/**
 * A client of the Open Inference Protocol (KServe V2) REST API: sends tensors to `{url}/v2/models/{model}/infer`
 * and reads the answer back as tensors, so that a remote or local endpoint can be compared with a local run. Tensors
 * travel as raw bytes (the binary tensor data extension) where the server takes them, else as JSON.
 */
import { CancelledError, UserError, describeError } from '../errors';
import { dtypeFromV2 } from '../onnx/dtypes';
import { tensorFromJson, tensorToJson } from '../inference/json';
import type { Tensor } from '../inference/tensor';
import { tensorBytes, tensorFromBytes, v2Datatype } from './v2';

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
export type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; body: string | Uint8Array; signal: AbortSignal }) => Promise<Response>;

export interface InferRemoteOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  fetch?: FetchLike;
  /**
   * How tensors travel: 'binary' (the binary tensor data extension of KServe and Triton: raw little-endian bytes
   * after a JSON header, both ways), 'json', or 'auto' (the default): binary when every input is numeric, and JSON
   * again, for this endpoint from then on, if the server refuses binary (MLServer closes the connection on it).
   */
  encoding?: 'auto' | 'binary' | 'json';
}

/** Endpoints that refused the binary tensor data extension once: JSON for them from then on (this process). */
const jsonOnly = new Set<string>();

type Body = { body: string | Uint8Array; headers: Record<string, string> };

function jsonRequest(feeds: Record<string, Tensor>): Body {
  const body = JSON.stringify({
    id: `modelyard-${Date.now()}`,
    inputs: Object.entries(feeds).map(([name, t]) => {
      const j = tensorToJson(t);
      return { name, shape: j.shape, datatype: v2Datatype(t.dtype), data: j.data };
    }),
  });
  return { body, headers: { 'content-type': 'application/json' } };
}

/** The binary tensor data extension: the JSON header, then each input's bytes; outputs asked for as bytes too. */
function binaryRequest(feeds: Record<string, Tensor>): Body {
  const entries = Object.entries(feeds);
  const raws = entries.map(([, t]) => tensorBytes(t));
  const header = new TextEncoder().encode(
    JSON.stringify({
      id: `modelyard-${Date.now()}`,
      inputs: entries.map(([name, t], i) => ({ name, shape: t.shape, datatype: v2Datatype(t.dtype), parameters: { binary_data_size: raws[i]!.byteLength } })),
      parameters: { binary_data_output: true },
    }),
  );
  const body = new Uint8Array(header.byteLength + raws.reduce((n, r) => n + r.byteLength, 0));
  body.set(header, 0);
  let at = header.byteLength;
  for (const r of raws) {
    body.set(r, at);
    at += r.byteLength;
  }
  return { body, headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.byteLength) } };
}

/** A server that does not take the binary extension, by its answer: a 4xx/5xx that is not about the model or the inputs' values, or a dropped connection. */
class BinaryRefused extends Error {}

export async function inferRemote(url: string, model: string, feeds: Record<string, Tensor>, opts: InferRemoteOptions = {}): Promise<RemoteResult> {
  const endpoint = `${base(url)}/v2/models/${encodeURIComponent(model)}/infer`;
  const numeric = Object.values(feeds).every((t) => !Array.isArray(t.data));
  const encoding = opts.encoding ?? 'auto';
  const binary = encoding === 'binary' || (encoding === 'auto' && numeric && !jsonOnly.has(endpoint));
  if (binary) {
    try {
      return await send(endpoint, model, binaryRequest(feeds), opts, encoding === 'auto');
    } catch (e) {
      if (!(e instanceof BinaryRefused)) throw e;
      jsonOnly.add(endpoint);
    }
  }
  return send(endpoint, model, jsonRequest(feeds), opts, false);
}

async function send(endpoint: string, model: string, request: Body, opts: InferRemoteOptions, mayRefuse: boolean): Promise<RemoteResult> {
  const t0 = performance.now();
  const signals = [opts.signal, AbortSignal.timeout(opts.timeoutMs ?? 60_000)].filter((s): s is AbortSignal => !!s);
  let res: Response;
  try {
    res = await (opts.fetch ?? fetch)(endpoint, { method: 'POST', headers: request.headers, body: request.body, signal: AbortSignal.any(signals) });
  } catch (e) {
    if (opts.signal?.aborted) throw new CancelledError('cancelled.');
    if (e instanceof UserError) throw e;
    const cause = (e as { cause?: { code?: string } }).cause?.code;
    // A connection closed under the binary request (not refused, not timed out): the server may not take it.
    if (mayRefuse && cause !== 'ECONNREFUSED' && cause !== 'ENOTFOUND' && !(e instanceof DOMException && e.name === 'TimeoutError')) throw new BinaryRefused();
    throw new UserError(
      `could not reach ${endpoint}: ${cause ?? describeError(e)}.`,
      cause === 'ECONNREFUSED' ? 'Is the server running? Start one with "Serve Model Locally" or `modelyard serve`.' : 'Check the URL and the network.',
    );
  }
  const bytes = new Uint8Array(await res.arrayBuffer());
  const headerLength = res.headers.get('inference-header-content-length');
  const n = headerLength !== null && /^\d+$/.test(headerLength) && Number(headerLength) <= bytes.length ? Number(headerLength) : bytes.length;
  const text = new TextDecoder().decode(bytes.subarray(0, n));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    if (mayRefuse && !res.ok) throw new BinaryRefused();
    throw new UserError(`${endpoint} answered ${res.status} with something that is not JSON: ${text.slice(0, 200)}`, 'Is this an Open Inference Protocol (KServe V2) endpoint?');
  }
  if (!res.ok) {
    const err = (json as { error?: unknown }).error;
    // 404 names the model, 503 the server's state: neither is about the encoding. Other refusals are tried again as JSON.
    if (mayRefuse && res.status !== 404 && res.status !== 503) throw new BinaryRefused();
    throw new UserError(`${endpoint} answered ${res.status}: ${typeof err === 'string' ? err : text.slice(0, 300)}`, res.status === 404 ? `Check the model name '${model}'.` : undefined);
  }
  const outs = (json as { outputs?: unknown }).outputs;
  if (!Array.isArray(outs)) throw new UserError(`${endpoint} answered without an "outputs" array.`, 'Is this an Open Inference Protocol (KServe V2) endpoint?');
  const outputs: Record<string, Tensor> = {};
  let at = n;
  for (const o of outs as { name?: unknown; datatype?: unknown; shape?: unknown; data?: unknown; parameters?: { binary_data_size?: unknown } }[]) {
    if (typeof o?.name !== 'string' || typeof o.datatype !== 'string' || !Array.isArray(o.shape)) throw new UserError(`${endpoint} answered with a malformed output (it needs name, datatype, shape, data).`);
    const dtype = dtypeFromV2(o.datatype);
    if (!dtype) throw new UserError(`${endpoint} answered output '${o.name}' in datatype ${o.datatype}, which Modelyard does not know.`);
    const size = o.parameters?.binary_data_size;
    if (size !== undefined) {
      if (typeof size !== 'number' || !Number.isInteger(size) || size < 0 || at + size > bytes.length) throw new UserError(`${endpoint} answered output '${o.name}' with binary_data_size ${JSON.stringify(size)}, beyond the ${bytes.length - at} bytes left.`);
      try {
        outputs[o.name] = tensorFromBytes(o.name, dtype, o.shape as number[], bytes.subarray(at, at + size), 'output');
      } catch (e) {
        throw new UserError(`${endpoint} answered ${describeError(e)}.`);
      }
      at += size;
      continue;
    }
    outputs[o.name] = tensorFromJson({ dtype, shape: o.shape, data: o.data }, { name: o.name, dtype, shape: o.shape as number[] });
  }
  return { outputs, ms: performance.now() - t0 };
}
