/**
 * Benchmarks: thread sweeps over an InferenceHost, and (from latency.ts, where the worker's loop and the statistics
 * live) everything a caller needs to read their results.
 */
import type { InferenceHost, SessionInfo, Source } from './host';
import type { BenchProgress, BenchResult, BenchSettings } from './latency';
import type { SessionOptions } from './protocol';
import type { Tensor } from './tensor';

export {
  benchmarkLoop,
  histogram,
  median,
  planBench,
  quantile,
  summarize,
  type BenchProgress,
  type BenchResult,
  type BenchSettings,
  type HistogramBin,
  type LatencySummary,
  type LoopHooks,
} from './latency';

export interface SweepEntry {
  threads: number;
  loadMs: number;
  result: BenchResult;
}

/**
 * The same model benchmarked at each intra-op thread count (one session per count, released after), to find where
 * more threads stop helping. Cancellation and progress apply to the current count's benchmark.
 */
export async function sweepThreads(
  host: InferenceHost,
  source: Source,
  feeds: Record<string, Tensor>,
  threads: readonly number[],
  opts: BenchSettings & { sessionOptions?: SessionOptions; signal?: AbortSignal; onProgress?: (threads: number, p: BenchProgress) => void; timeoutMs?: number } = {},
): Promise<SweepEntry[]> {
  const out: SweepEntry[] = [];
  for (const t of threads) {
    const info: SessionInfo = await host.load(source, { ...opts.sessionOptions, intraOpThreads: t }, { signal: opts.signal });
    try {
      const result = await host.bench(info.id, feeds, { ...opts, onProgress: opts.onProgress && ((p) => opts.onProgress!(t, p)) });
      out.push({ threads: t, loadMs: info.loadMs, result });
    } finally {
      await host.release(info.id);
    }
  }
  return out;
}
