/**
 * `modelyard metrics NAME`: the live figures of a deployment — requests/s, errors/s, p50 and p99 latency — from its
 * serving containers' Prometheus metrics, read through the API server (core/deploy/metrics.ts).
 *
 * Once: two scrapes --interval seconds apart, the figures of that interval, and the totals since the containers
 * started; exit 0, or 1 when nothing could be read (source "none", with the reason). With --json, one object.
 * --watch: a line (with --json, the event's JSON line) every --interval seconds and a `metrics` event on the CLI's
 * event channel each time, until Ctrl-C or SIGTERM, which end it with exit 0. A round that fails (the API server
 * away) is reported as source "none" with the message, and the watch goes on.
 */
import { CancelledError, UserError, describeError, isCancelled } from '../core/errors';
import type { Logger } from '../core/log';
import type { MetricsFigures, ScrapeRound } from '../core/deploy/metrics';
import type { CliEventOf } from '../shared/cli/events';
import { TARGET, connect } from './deploy';
import { cliEvents } from './events';
import { parse } from './inference';
import { interruptSignal } from './model';

type Out = (s: string) => void;

export const METRICS_USAGE = 'modelyard metrics NAME [--context C] [-n NAMESPACE] [--kubeconfig FILE] [--watch] [--interval SECONDS] [--json]';

/** --interval: seconds, 0.5 to 3600 (default 2). */
function intervalOf(v: string | undefined): number {
  if (v === undefined) return 2;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0.5 || n > 3600) throw new UserError(`--interval takes seconds from 0.5 to 3600, not '${v}'.`, 'For example --interval 2, or --interval 0.5.');
  return n;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(new CancelledError());
    const t = setTimeout(() => (signal.removeEventListener('abort', onAbort), resolve()), Math.max(0, ms));
    const onAbort = () => (clearTimeout(t), reject(new CancelledError()));
    signal.addEventListener('abort', onAbort, { once: true });
  });

/** The figures as the channel's `metrics` event. */
function eventOf(f: Pick<MetricsFigures, 'at' | 'seconds' | 'rps' | 'errorsPerSecond' | 'p50Ms' | 'p99Ms' | 'meanMs' | 'pods' | 'source' | 'message'>): CliEventOf<'metrics'> {
  return {
    event: 'metrics',
    at: f.at,
    seconds: f.seconds,
    rps: f.rps,
    errorsPerSecond: f.errorsPerSecond,
    p50Ms: f.p50Ms,
    p99Ms: f.p99Ms,
    meanMs: f.meanMs,
    pods: f.pods,
    source: f.source,
    ...(f.message ? { message: f.message.slice(0, 16_000) } : {}),
  };
}

const num = (v: number | null, unit = '') => (v === null ? '-' : `${+v.toPrecision(4)}${unit}`);

function line(f: MetricsFigures): string {
  const time = new Date(f.at).toISOString().slice(11, 19);
  if (f.source === 'none') return `${time}  ${f.message}\n`;
  const latency = f.source === 'triton' ? `mean ${num(f.meanMs, ' ms')}` : `p50 ${num(f.p50Ms, ' ms')}  p99 ${num(f.p99Ms, ' ms')}`;
  return `${time}  ${num(f.rps)} req/s  ${num(f.errorsPerSecond)} errors/s  ${latency}  ${f.pods} pod${f.pods === 1 ? '' : 's'}${f.message ? `  (${f.message})` : ''}\n`;
}

function report(name: string, namespace: string, f: MetricsFigures): string {
  // The message says it all: which pod, what it answered, or that there is no ready pod, and where to look.
  if (f.source === 'none') return `${f.message}\n`;
  const who = f.source === 'triton' ? "Triton's metrics" : "Modelyard's server";
  let t = `${name} in ${namespace} (${who}, ${f.pods} pod${f.pods === 1 ? '' : 's'}), over ${f.seconds} s:\n`;
  t += `  requests/s   ${num(f.rps)}\n  errors/s     ${num(f.errorsPerSecond)}\n`;
  t += `  p50          ${num(f.p50Ms, ' ms')}\n  p99          ${num(f.p99Ms, ' ms')}\n  mean         ${num(f.meanMs, ' ms')}\n`;
  if (f.totals) t += `  since the containers started: ${f.totals.requests} requests, ${f.totals.failures} failed\n`;
  if (f.message) t += `  note: ${f.message}\n`;
  return t;
}

export async function metricsCommand(args: string[], out: Out, log: Logger): Promise<number> {
  const { values, positionals } = parse(
    args,
    { ...TARGET, watch: { type: 'boolean', short: 'w' }, interval: { type: 'string' } },
    [1, 1],
    METRICS_USAGE,
  );
  const interval = intervalOf(values.interval as string | undefined);
  const json = !!values.json;
  const { kube, namespace } = await connect(values, log);
  const { findDeployment } = await import('../core/deploy/deploy');
  const { DeploymentMetrics, figuresBetween } = await import('../core/deploy/metrics');
  const found = await findDeployment(kube, positionals[0]!, namespace);
  const name = found.current.name;
  const reader = DeploymentMetrics.for(kube, { name, mode: found.mode, namespace });
  const stop = interruptSignal();
  try {
    if (!values.watch) {
      const events = cliEvents();
      const first = await reader.scrape(stop.signal);
      let figures = figuresBetween(undefined, first);
      // Rates need a second scrape; when nothing could be read, there is nothing to wait for.
      if (figures.source !== 'none') {
        await sleep(interval * 1000, stop.signal);
        figures = figuresBetween(first, await reader.scrape(stop.signal));
      }
      events.emit(eventOf(figures));
      out(json ? JSON.stringify({ name, namespace, mode: found.mode, ...figures }, null, 2) + '\n' : report(name, namespace, figures));
      return figures.source === 'none' ? 1 : 0;
    }

    const events = cliEvents(json ? { stdout: out } : {});
    if (!json) out(`${name} in ${namespace} (${found.mode === 'kserve' ? 'InferenceService' : 'Deployment'}), every ${interval} s; Ctrl-C stops.\n`);
    let prev: ScrapeRound | undefined;
    const t0 = performance.now();
    for (let tick = 1; ; tick++) {
      let figures: MetricsFigures | undefined;
      try {
        const cur = await reader.scrape(stop.signal);
        const f = figuresBetween(prev, cur);
        // The first round only gives totals; it is shown when it is all there is (nothing could be read).
        if (prev || f.source === 'none') figures = f;
        prev = f.source === 'none' ? undefined : cur;
      } catch (e) {
        if (isCancelled(e) || stop.signal.aborted) break;
        if (!(e instanceof UserError)) throw e;
        // The API server away, a permission taken: said each interval, the watch goes on.
        prev = undefined;
        figures = { at: Date.now(), seconds: 0, rps: null, errorsPerSecond: null, p50Ms: null, p99Ms: null, meanMs: null, pods: 0, source: 'none', message: describeError(e), totals: null, scraped: [] };
      }
      if (figures) {
        events.emit(eventOf(figures));
        if (!json) out(line(figures));
      }
      try {
        await sleep(t0 + tick * interval * 1000 - performance.now(), stop.signal);
      } catch (e) {
        if (isCancelled(e)) break;
        throw e;
      }
    }
    return 0;
  } finally {
    stop.dispose();
  }
}
