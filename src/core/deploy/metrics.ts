/**
 * Live figures of a deployment — requests/s, errors/s, p50 and p99 latency — from its serving containers' Prometheus
 * metrics, read through the API server (no port-forward, no Prometheus needed): every ready pod is scraped through
 * the pod proxy (`/api/v1/namespaces/NS/pods/POD:PORT/proxy/metrics`), and two successive scrapes give the figures of
 * the interval between them, summed over the pods.
 *
 *   modelyard  Modelyard's server (src/core/serve/metrics.ts): rates from modelyard_inference_requests_total, p50
 *              and p99 from the buckets of modelyard_request_duration_seconds that filled in the interval,
 *              interpolated as Prometheus' histogram_quantile does.
 *   triton     KServe's tritonserver runtime (metrics on its --metrics-port, 8002 by default): only cumulative
 *              counters (nv_inference_request_success/_failure, nv_inference_request_duration_us), so rates and the
 *              mean latency; p50 and p99 are null, and the message says why.
 *   none       nothing to read (no ready pod, no /metrics, neither format): the message says what and what to do.
 *
 * A counter that went down between two scrapes is a restarted container: its value is counted from zero, as
 * Prometheus' rate() does. A pod seen for the first time is counted from the next interval.
 */
import { UserError, firstLine } from '../errors';
import { ExpositionError, histogramQuantile, histogramSeries, parseExposition, type MetricFamily } from '../serve/prometheus';
import type { Kube } from './kube';
import { SERVER_PORT, type DeploySpec } from './manifests';
import { workloadOf } from './rollout';

export type MetricsSource = 'modelyard' | 'triton' | 'none';

/** One pod's cumulative figures, summed over its series. */
export interface PodCounters {
  source: 'modelyard' | 'triton';
  success: number;
  failure: number;
  /** Modelyard: cumulative buckets of successful requests' durations, seconds (summed over series). */
  buckets?: { le: number; count: number }[];
  /** Seconds of the successful requests counted in `durationCount`. */
  durationSeconds: number;
  durationCount: number;
}

export interface PodScrape {
  pod: string;
  port: number;
  counters?: PodCounters;
  /** Why nothing was read from this pod. */
  problem?: string;
}

/** One scrape of every ready pod. */
export interface ScrapeRound {
  /** Date.now() when the round began. */
  at: number;
  /** performance.now() when the round began: the intervals between rounds. */
  t: number;
  pods: PodScrape[];
  /** Why no pod was scraped at all (no ready pod). */
  empty?: string;
}

export interface MetricsFigures {
  at: number;
  /** Seconds the figures cover (between the two scrapes). */
  seconds: number;
  rps: number | null;
  errorsPerSecond: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  meanMs: number | null;
  /** Pods whose metrics were read. */
  pods: number;
  source: MetricsSource;
  message?: string;
  /** Since each scraped container started: requests answered and the failed among them. */
  totals: { requests: number; failures: number } | null;
  /** Each ready pod: its port, and what was read or why not. */
  scraped: { pod: string; port: number; source: MetricsSource; requests?: number; failures?: number; problem?: string }[];
}

const sum = (f: MetricFamily | undefined, pick: (labels: Record<string, string>) => boolean = () => true) =>
  (f?.samples ?? []).filter((s) => s.name === f!.name && pick(s.labels)).reduce((n, s) => n + s.value, 0);

/**
 * What a /metrics text says about inference requests: Modelyard's figures when it has them, else Triton's; a string
 * saying what the text lacks when it has neither. An ExpositionError when the text is not the format.
 */
export function countersOf(text: string): PodCounters | string {
  const families = parseExposition(text);
  const requests = families.get('modelyard_inference_requests_total');
  const duration = families.get('modelyard_request_duration_seconds');
  if (requests && duration?.type === 'histogram') {
    const series = histogramSeries(duration);
    // Buckets summed over the series (one per model served), by bound.
    const byLe = new Map<number, number>();
    for (const s of series) for (const b of s.buckets) byLe.set(b.le, (byLe.get(b.le) ?? 0) + b.count);
    return {
      source: 'modelyard',
      success: sum(requests, (l) => l.status === 'success'),
      failure: sum(requests, (l) => l.status === 'failure'),
      buckets: [...byLe].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le),
      durationSeconds: series.reduce((n, s) => n + (Number.isNaN(s.sum) ? 0 : s.sum), 0),
      durationCount: series.reduce((n, s) => n + s.buckets.at(-1)!.count, 0),
    };
  }
  const success = families.get('nv_inference_request_success');
  if (success) {
    return {
      source: 'triton',
      success: sum(success),
      failure: sum(families.get('nv_inference_request_failure')),
      durationSeconds: sum(families.get('nv_inference_request_duration_us')) / 1e6,
      durationCount: sum(success),
    };
  }
  const names = [...families.keys()];
  return `its /metrics has neither Modelyard's inference metrics (modelyard_inference_requests_total) nor Triton's (nv_inference_request_success)${names.length ? `; it has ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''}` : '; it is empty'}`;
}

/** Where a pod's serving container exposes its metrics: Triton on its metrics port, Modelyard's server on its own. */
export function metricsPort(pod: PodObject, mode: DeploySpec['mode']): { container: string; port: number; triton: boolean } {
  const containers = pod.spec?.containers ?? [];
  const c = containers.find((x) => x.name === (mode === 'kserve' ? 'kserve-container' : 'server')) ?? containers[0];
  const words = [...(c?.command ?? []), ...(c?.args ?? [])];
  if (/tritonserver/.test([c?.image ?? '', ...words].join(' '))) {
    const arg = words.join(' ');
    const port = /--metrics-port[= ](\d+)/.exec(arg)?.[1];
    return { container: c?.name ?? '?', port: port ? Number(port) : 8002, triton: true };
  }
  const port = c?.ports?.find((p) => (p.protocol ?? 'TCP') === 'TCP')?.containerPort ?? SERVER_PORT;
  return { container: c?.name ?? '?', port, triton: false };
}

interface PodObject {
  metadata?: { name?: string; deletionTimestamp?: unknown };
  spec?: { containers?: { name: string; image?: string; command?: string[]; args?: string[]; ports?: { containerPort: number; protocol?: string }[] }[] };
  status?: { conditions?: { type?: string; status?: string }[] };
}

/** The message of a Kubernetes Status body, or the body's first line. */
function statusMessage(body: string): { message: string; isStatus: boolean } {
  try {
    const j = JSON.parse(body) as { kind?: string; message?: string; error?: string };
    if (j.kind === 'Status') return { message: j.message ?? '', isStatus: true };
    if (typeof j.error === 'string') return { message: j.error, isStatus: false };
  } catch {
    // not JSON
  }
  // An HTML error page (another server's 404) says what it says in its text, not its tags.
  const text = /^\s*</.test(body) ? body.replace(/<[^>]*>/g, ' ') : body;
  return { message: firstLine(text.replace(/[ \t]+/g, ' ').trim()).slice(0, 300), isStatus: false };
}

/** Scrapes one pod through the API server's pod proxy. Permission and credential failures throw (no pod can be read). */
async function scrapePod(kube: Kube, namespace: string, pod: string, port: number, triton: boolean, signal?: AbortSignal): Promise<PodScrape> {
  const path = `/api/v1/namespaces/${namespace}/pods/${pod}:${port}/proxy/metrics`;
  const r = await kube.fetch(path, { ...(signal ? { signal } : {}), timeoutMs: 10_000 });
  const body = await r.text();
  if (r.status === 200) {
    try {
      const c = countersOf(body);
      return typeof c === 'string' ? { pod, port, problem: c } : { pod, port, counters: c };
    } catch (e) {
      if (!(e instanceof ExpositionError)) throw e;
      return { pod, port, problem: `its /metrics on port ${port} is not the Prometheus text format (${e.message})` };
    }
  }
  const { message, isStatus } = statusMessage(body);
  const said = message ? ` (${message})` : '';
  if (r.status === 403) {
    throw new UserError(`reading the metrics of pod ${pod} in ${namespace} through the API server: permission denied — ${message}`, `Ask your cluster admin for a Role that allows get on pods/proxy in ${namespace} (\`kubectl auth can-i get pods/proxy -n ${namespace}\` tells).`);
  }
  if (r.status === 401) throw new UserError(`reading the metrics of pod ${pod}: the API server at ${kube.server} did not accept the credentials (401).`, 'Your token or certificate may have expired: log in again, or get a fresh kubeconfig.');
  if (r.status === 404 && isStatus) return { pod, port, problem: `the pod went away${said}` };
  if (r.status === 404) {
    return {
      pod,
      port,
      problem: triton
        ? `Triton answers 404 for /metrics on port ${port}${said}: its metrics are off or on another port — start it with --allow-metrics=true, and --metrics-port if not 8002`
        : `its server answers 404 for /metrics on port ${port}${said}: it runs a Modelyard image older than metrics, or another runtime — deploy again with a current image (modelyard deploy … --image IMAGE)`,
    };
  }
  if (r.status >= 500) return { pod, port, problem: `it does not answer on port ${port} through the API server (${r.status}${message ? `: ${message}` : ''})` };
  return { pod, port, problem: `its /metrics on port ${port} answered ${r.status}${message ? `: ${message}` : ''}` };
}

/** The pods of a deployment and how to read each one's metrics. */
export class DeploymentMetrics {
  private constructor(
    private readonly kube: Kube,
    readonly spec: Pick<DeploySpec, 'name' | 'mode' | 'namespace'>,
  ) {}

  static for(kube: Kube, spec: Pick<DeploySpec, 'name' | 'mode' | 'namespace'>): DeploymentMetrics {
    return new DeploymentMetrics(kube, spec);
  }

  /** One scrape of every ready pod, in parallel. */
  async scrape(signal?: AbortSignal): Promise<ScrapeRound> {
    const at = Date.now();
    const t = performance.now();
    const { namespace, name, mode } = this.spec;
    const list = await this.kube.call(`list the pods of ${name} in ${namespace}`, () => this.kube.core.listNamespacedPod({ namespace, labelSelector: workloadOf(this.spec).selector }));
    const items = list.items as PodObject[];
    const ready = items.filter((p) => !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    if (!ready.length) {
      const empty = items.length
        ? `${name} has ${items.length} pod${items.length === 1 ? '' : 's'} in ${namespace} and none is ready, so there are no metrics to read; \`modelyard status ${name} -n ${namespace}\` says why.`
        : `${name} has no pods in ${namespace}, so there are no metrics to read; \`modelyard status ${name} -n ${namespace}\` says why.`;
      return { at, t, pods: [], empty };
    }
    const pods = await Promise.all(
      ready.map((p) => {
        const where = metricsPort(p, mode);
        return scrapePod(this.kube, namespace, p.metadata!.name!, where.port, where.triton, signal);
      }),
    );
    return { at, t, pods };
  }
}

const round = (v: number, digits = 4) => +v.toFixed(digits);

/** Cumulative buckets minus earlier ones, bound by bound (bounds that both have). */
function bucketDelta(cur: { le: number; count: number }[], prev: { le: number; count: number }[] | undefined): { le: number; count: number }[] {
  if (!prev) return cur;
  const before = new Map(prev.map((b) => [b.le, b.count]));
  return cur.filter((b) => before.has(b.le)).map((b) => ({ le: b.le, count: b.count - before.get(b.le)! }));
}

/**
 * The figures of the interval between two rounds, summed over the pods both rounds read. Without `prev` (the
 * first round), only the totals: rates need two scrapes.
 */
export function figuresBetween(prev: ScrapeRound | undefined, cur: ScrapeRound): MetricsFigures {
  const seconds = prev ? (cur.t - prev.t) / 1000 : 0;
  const read = cur.pods.filter((p) => p.counters);
  const scraped = cur.pods.map((p) => ({
    pod: p.pod,
    port: p.port,
    source: (p.counters?.source ?? 'none') as MetricsSource,
    ...(p.counters ? { requests: p.counters.success + p.counters.failure, failures: p.counters.failure } : {}),
    ...(p.problem ? { problem: p.problem } : {}),
  }));
  const base = { at: cur.at, seconds: round(seconds, 3), pods: read.length, scraped };
  const nulls = { rps: null, errorsPerSecond: null, p50Ms: null, p99Ms: null, meanMs: null };
  if (!read.length) {
    const problems = cur.pods.map((p) => `pod ${p.pod}: ${p.problem}`);
    const message = cur.empty ?? (problems.length === 1 ? `no metrics from ${problems[0]}` : `no metrics from any of ${cur.pods.length} ready pods: ${problems.join('; ')}`);
    return { ...base, ...nulls, source: 'none', message, totals: null };
  }
  const source: MetricsSource = read.some((p) => p.counters!.source === 'modelyard') ? 'modelyard' : 'triton';
  const mine = read.filter((p) => p.counters!.source === source);
  const totals = { requests: mine.reduce((n, p) => n + p.counters!.success + p.counters!.failure, 0), failures: mine.reduce((n, p) => n + p.counters!.failure, 0) };
  const notes = cur.pods.filter((p) => p.problem).map((p) => `pod ${p.pod} not read: ${p.problem}`);
  if (!prev) return { ...base, ...nulls, pods: mine.length, source, totals, ...(notes.length ? { message: notes.join('; ') } : {}) };

  let success = 0;
  let failure = 0;
  let durationSeconds = 0;
  let durationCount = 0;
  let buckets: Map<number, number> | undefined;
  const fresh: string[] = [];
  for (const p of mine) {
    const c = p.counters!;
    const before = prev.pods.find((x) => x.pod === p.pod)?.counters;
    if (!before || before.source !== c.source) {
      fresh.push(p.pod);
      continue;
    }
    // A counter that went down: the container restarted, and counts from zero again.
    const reset = c.success < before.success || c.failure < before.failure || c.durationCount < before.durationCount;
    const was = reset ? undefined : before;
    success += c.success - (was?.success ?? 0);
    failure += c.failure - (was?.failure ?? 0);
    durationSeconds += c.durationSeconds - (was?.durationSeconds ?? 0);
    durationCount += c.durationCount - (was?.durationCount ?? 0);
    if (c.buckets) {
      const delta = bucketDelta(c.buckets, was?.buckets);
      if (!buckets) buckets = new Map(delta.map((b) => [b.le, b.count]));
      else {
        // Pods of one deployment run one image, so their bounds agree; a bound one pod lacks is dropped.
        const next = new Map<number, number>();
        for (const b of delta) if (buckets.has(b.le)) next.set(b.le, buckets.get(b.le)! + b.count);
        buckets = next;
      }
    }
  }
  if (fresh.length) notes.push(`pod${fresh.length === 1 ? '' : 's'} ${fresh.join(', ')} first read now: counted from the next interval`);
  const s = seconds > 0 ? seconds : NaN;
  const figures: MetricsFigures = {
    ...base,
    pods: mine.length,
    source,
    rps: round((success + failure) / s),
    errorsPerSecond: round(failure / s),
    meanMs: durationCount > 0 ? round((durationSeconds / durationCount) * 1000, 3) : null,
    p50Ms: null,
    p99Ms: null,
    totals,
  };
  if (source === 'modelyard' && buckets) {
    const list = [...buckets].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
    const q = (x: number) => {
      const v = histogramQuantile(x, list);
      return v === null ? null : round(v * 1000, 3);
    };
    figures.p50Ms = q(0.5);
    figures.p99Ms = q(0.99);
    if (durationCount === 0) notes.unshift(`no successful inference requests in these ${round(seconds, 1)} s, so no latency`);
  } else if (source === 'triton') {
    notes.unshift(
      `Triton exposes only cumulative durations (nv_inference_request_duration_us), no histogram, so p50 and p99 cannot be computed${figures.meanMs !== null ? `; the mean latency over these ${round(seconds, 1)} s is ${figures.meanMs} ms` : '; no successful requests in the interval, so no mean latency either'}`,
    );
  }
  if (notes.length) figures.message = notes.join('; ');
  return figures;
}
