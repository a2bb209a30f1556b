/**
 * Latency benchmarks: the loop runs inside the inference worker (benchmarkLoop, called by worker.ts), so the
 * figures are onnxruntime's alone: no IPC, no copies of the inputs per run. The summary is plain JSON, ready for
 * a chart (histogram bins) or a CI artifact. Plain data and arithmetic: the worker, the wire protocol and the host
 * all read it, and it reads none of them.
 */
import { CancelledError } from '../errors';

export interface BenchSettings {
  /** Runs before measuring, not counted (caches, allocator, thread pool start-up). Default 5. */
  warmup?: number;
  /** Measured runs. Default 100 when no budget is given either; unlimited (up to 100,000) when only a budget is. */
  runs?: number;
  /** Stop measuring after this many ms. Default 10 s when no run count is given either. */
  budgetMs?: number;
  /** Histogram bins; default ⌈√runs⌉ between 5 and 30. */
  bins?: number;
}

export interface BenchProgress {
  phase: 'warmup' | 'measure';
  done: number;
  /** Planned runs of this phase (the run cap when a time budget decides). */
  total: number;
  elapsedMs: number;
  lastMs: number;
}

export interface HistogramBin {
  /** Lower and upper bound in ms; the last bin includes its upper bound. */
  from: number;
  to: number;
  count: number;
  /** A last bin that gathers the outliers above p99, so that they do not squash the chart. */
  overflow?: boolean;
}

export interface LatencySummary {
  runs: number;
  mean: number;
  std: number;
  min: number;
  max: number;
  p50: number;
  p90: number;
  p99: number;
  /** Runs per second, one after another (1000 / mean). */
  throughput: number;
  histogram: HistogramBin[];
}

export interface BenchResult extends LatencySummary {
  warmup: number;
  /** Every measured latency in ms, in run order. */
  latencies: number[];
  totalMs: number;
  stoppedBy: 'runs' | 'budget';
}

const MAX_RUNS = 100_000;

/** The run count and time budget a benchmark uses, from what was asked (see BenchSettings). */
export function planBench(s: BenchSettings): { warmup: number; runs: number; budgetMs: number } {
  const warmup = Math.max(0, Math.floor(s.warmup ?? 5));
  if (s.runs === undefined && s.budgetMs === undefined) return { warmup, runs: 100, budgetMs: 10_000 };
  return { warmup, runs: Math.max(1, Math.min(MAX_RUNS, Math.floor(s.runs ?? MAX_RUNS))), budgetMs: s.budgetMs ?? Infinity };
}

export interface LoopHooks {
  onProgress?: (p: BenchProgress) => void;
  /** Checked between runs: true stops the loop, which then rejects with a CancelledError. */
  shouldStop?: () => boolean;
  /** Minimum ms between two progress reports (default 100). */
  progressEveryMs?: number;
}

/**
 * Calls `runOnce` (which returns its own latency in ms) for the warm-up runs, then until the run count or the
 * budget is reached. At least one run is measured whatever the budget.
 */
export async function benchmarkLoop(runOnce: () => Promise<number>, settings: BenchSettings, hooks: LoopHooks = {}): Promise<BenchResult> {
  const plan = planBench(settings);
  const every = hooks.progressEveryMs ?? 100;
  let lastReport = performance.now();
  const report = (phase: BenchProgress['phase'], done: number, total: number, t0: number, lastMs: number, force = false) => {
    const now = performance.now();
    if (!hooks.onProgress || (!force && now - lastReport < every)) return;
    lastReport = now;
    hooks.onProgress({ phase, done, total, elapsedMs: now - t0, lastMs });
  };
  const w0 = performance.now();
  for (let i = 0; i < plan.warmup; i++) {
    if (hooks.shouldStop?.()) throw new CancelledError('benchmark cancelled');
    report('warmup', i + 1, plan.warmup, w0, await runOnce());
  }
  const latencies: number[] = [];
  const t0 = performance.now();
  let stoppedBy: BenchResult['stoppedBy'] = 'runs';
  while (latencies.length < plan.runs) {
    if (hooks.shouldStop?.()) throw new CancelledError('benchmark cancelled');
    if (latencies.length > 0 && performance.now() - t0 >= plan.budgetMs) {
      stoppedBy = 'budget';
      break;
    }
    const ms = await runOnce();
    latencies.push(ms);
    report('measure', latencies.length, plan.runs, t0, ms);
  }
  const totalMs = performance.now() - t0;
  report('measure', latencies.length, latencies.length, t0, latencies[latencies.length - 1]!, true);
  return { ...summarize(latencies, settings.bins), warmup: plan.warmup, latencies, totalMs, stoppedBy };
}

/** The value at quantile q (0…1) of sorted values, interpolated linearly between neighbours (NumPy's default). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function median(values: readonly number[]): number {
  return quantile([...values].sort((a, b) => a - b), 0.5);
}

/** Percentiles, moments and a histogram of latencies (ms). */
export function summarize(latencies: readonly number[], bins?: number): LatencySummary {
  const sorted = [...latencies].sort((a, b) => a - b);
  const n = sorted.length;
  const mean = n ? sorted.reduce((s, v) => s + v, 0) / n : NaN;
  const std = n ? Math.sqrt(sorted.reduce((s, v) => s + (v - mean) ** 2, 0) / n) : NaN;
  return {
    runs: n,
    mean,
    std,
    min: n ? sorted[0]! : NaN,
    max: n ? sorted[n - 1]! : NaN,
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    throughput: n && mean > 0 ? 1000 / mean : 0,
    histogram: histogram(sorted, bins ?? Math.min(30, Math.max(5, Math.ceil(Math.sqrt(n))))),
  };
}

/**
 * Equal-width bins from the minimum up. When the slowest runs lie far above the rest (beyond p99 by more than three
 * times the p50–p99 spread, as a GC pause or a context switch makes them), the bins stop at p99 and one overflow
 * bin holds the rest.
 */
export function histogram(sorted: readonly number[], bins: number): HistogramBin[] {
  const n = sorted.length;
  if (n === 0) return [];
  const min = sorted[0]!;
  const max = sorted[n - 1]!;
  const p50 = quantile(sorted, 0.5);
  const p99 = quantile(sorted, 0.99);
  const clip = n >= 20 && max > p99 + 3 * (p99 - p50) && p99 > min;
  const top = clip ? p99 : max;
  const count = Math.max(1, Math.floor(bins));
  const width = (top - min) / count || 1;
  const out: HistogramBin[] = Array.from({ length: count }, (_, i) => ({ from: min + i * width, to: min + (i + 1) * width, count: 0 }));
  let over = 0;
  for (const v of sorted) {
    if (clip && v > top) over++;
    else out[Math.min(count - 1, Math.floor((v - min) / width))]!.count++;
  }
  if (clip) out.push({ from: top, to: max, count: over, overflow: true });
  return out;
}
