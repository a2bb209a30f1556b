/**
 * The gate of a deploy: through the API server's service proxy (no port-forward), the live endpoint answers ready,
 * its V2 metadata matches the model's signature, and one inference on the same inputs as a local run agrees with the
 * local outputs by the Playground's comparison (cosine, max error, a verdict).
 */
import { describeError, UserError } from '../errors';
import type { ComparisonReport, Tolerances } from '../inference/compare';
import type { InferenceHost, Source } from '../inference/host';
import { makeFeeds, type InputSource } from '../inference/inputs';
import type { TensorInfo } from '../inference/tensor';
import { checkEndpoint } from '../serve/check';
import { v2Datatype } from '../serve/v2';
import type { Kube } from './kube';
import { serviceOf, type DeploySpec } from './manifests';

export interface SmokeResult {
  pass: boolean;
  ready: boolean;
  metadata: { pass: boolean; problems: string[] };
  comparison?: ComparisonReport;
  /** Milliseconds of the remote inference, seen from here (through the API server). */
  remoteMs?: number;
  reasons: string[];
}

/** The base URL of a deployment's V2 API through the API server's service proxy. */
export function proxyBase(kube: Kube, spec: Pick<DeploySpec, 'name' | 'mode' | 'namespace'>): string {
  const svc = serviceOf(spec);
  return `${kube.server.replace(/\/+$/, '')}/api/v1/namespaces/${spec.namespace}/services/http:${svc.name}:${svc.port}/proxy`;
}

/** Compares the endpoint's metadata with the model's inputs and outputs (names, datatypes, fixed dims). */
export function compareSignature(meta: { inputs?: { name: string; datatype: string; shape: number[] }[]; outputs?: { name: string; datatype: string; shape: number[] }[] }, inputs: TensorInfo[], outputs: TensorInfo[]): string[] {
  const problems: string[] = [];
  const side = (what: string, remote: { name: string; datatype: string; shape: number[] }[] | undefined, local: TensorInfo[]) => {
    if (!Array.isArray(remote)) return void problems.push(`the endpoint's metadata lists no ${what}s`);
    for (const t of local) {
      const r = remote.find((x) => x.name === t.name);
      if (!r) {
        problems.push(`${what} '${t.name}' is missing at the endpoint`);
        continue;
      }
      if (r.datatype !== v2Datatype(t.dtype)) problems.push(`${what} '${t.name}' is ${r.datatype} at the endpoint, ${v2Datatype(t.dtype)} in the model`);
      const dims = t.shape ?? [];
      if (Array.isArray(r.shape) && r.shape.length !== dims.length) problems.push(`${what} '${t.name}' has ${r.shape.length} dims at the endpoint, ${dims.length} in the model`);
      else dims.forEach((d, i) => typeof d === 'number' && d >= 0 && r.shape[i] !== d && r.shape[i] !== -1 && problems.push(`${what} '${t.name}' dim ${i} is ${r.shape[i]} at the endpoint, ${d} in the model`));
    }
    for (const r of remote) if (!local.some((t) => t.name === r.name)) problems.push(`the endpoint has an extra ${what} '${r.name}'`);
  };
  side('input', meta.inputs, inputs);
  side('output', meta.outputs, outputs);
  return problems;
}

export async function smokeTest(
  kube: Kube,
  spec: Pick<DeploySpec, 'name' | 'mode' | 'namespace'>,
  model: { source: Source; label: string },
  host: InferenceHost,
  opts: { sources?: Record<string, InputSource>; tolerances?: Tolerances; signal?: AbortSignal; seed?: number } = {},
): Promise<SmokeResult> {
  const base = proxyBase(kube, spec);
  const viaProxy = (url: string, init: { method?: string; headers?: Record<string, string>; body?: string | Uint8Array; signal?: AbortSignal }) =>
    kube.fetch(url.slice(kube.server.replace(/\/+$/, '').length), { method: init.method ?? 'GET', ...(init.headers ? { headers: init.headers } : {}), ...(init.body !== undefined ? { body: init.body } : {}), ...(init.signal ? { signal: init.signal } : {}) });
  const get = async (path: string) => {
    const r = await viaProxy(`${base}${path}`, { ...(opts.signal ? { signal: opts.signal } : {}) });
    const text = await r.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: r.status, json, text };
  };
  const reasons: string[] = [];
  const ready = (await get(`/v2/models/${encodeURIComponent(spec.name)}/ready`)).status === 200;
  if (!ready) reasons.push(`the endpoint does not answer ready for model '${spec.name}'`);
  const session = await host.load(model.source, {}, { ...(opts.signal ? { signal: opts.signal } : {}) });
  try {
    const meta = await get(`/v2/models/${encodeURIComponent(spec.name)}`);
    const problems = meta.status === 200 && meta.json ? compareSignature(meta.json as Parameters<typeof compareSignature>[0], session.inputs, session.outputs) : [`the endpoint's metadata call answered ${meta.status}: ${meta.text.slice(0, 200)}`];
    reasons.push(...problems);
    if (!ready) return { pass: false, ready, metadata: { pass: !problems.length, problems }, reasons };
    const { feeds } = await makeFeeds(session.inputs, { ...(opts.sources ? { sources: opts.sources } : {}), seed: opts.seed ?? 42 });
    let comparison: ComparisonReport;
    try {
      comparison = await checkEndpoint(host, session.id, feeds, base, spec.name, {
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.tolerances ? { tolerances: opts.tolerances } : {}),
        fetch: (url, init) => viaProxy(url, init),
      });
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      reasons.push(`the inference call failed: ${describeError(e)}`);
      return { pass: false, ready, metadata: { pass: !problems.length, problems }, reasons };
    }
    if (!comparison.verdict.pass) reasons.push(...comparison.verdict.reasons);
    return { pass: !reasons.length, ready, metadata: { pass: !problems.length, problems }, comparison, remoteMs: comparison.latency?.b, reasons };
  } finally {
    await host.release(session.id);
  }
}
