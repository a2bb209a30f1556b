import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CancelledError, isCancelled, UserError } from '../../src/core/errors';
import { benchmarkLoop, histogram, planBench, quantile, summarize, sweepThreads, type BenchProgress } from '../../src/core/inference/bench';
import { InferenceError, type InferenceHost } from '../../src/core/inference/host';
import { fixture } from '../support/fixtures';
import { FIXTURE_FEEDS, testHost } from '../support/inference';

describe('latency statistics', () => {
  it('quantiles interpolate as NumPy does', () => {
    const v = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    assert.equal(quantile(v, 0.5), 5.5);
    assert.ok(Math.abs(quantile(v, 0.9) - 9.1) < 1e-12);
    assert.ok(Math.abs(quantile(v, 0.99) - 9.91) < 1e-12);
    assert.equal(quantile([7], 0.99), 7);
    assert.ok(Number.isNaN(quantile([], 0.5)));
  });

  it('summarize: percentiles, moments, throughput, a histogram that counts every run', () => {
    const lat = Array.from({ length: 100 }, (_, i) => 10 + (i % 10));
    const s = summarize(lat);
    assert.equal(s.runs, 100);
    assert.equal(s.min, 10);
    assert.equal(s.max, 19);
    assert.equal(s.mean, 14.5);
    assert.ok(Math.abs(s.std - Math.sqrt(8.25)) < 1e-12);
    assert.equal(s.p50, 14.5);
    assert.ok(Math.abs(s.throughput - 1000 / 14.5) < 1e-9);
    assert.equal(s.histogram.length, 10);
    assert.equal(s.histogram.reduce((n, b) => n + b.count, 0), 100);
    assert.deepEqual(JSON.parse(JSON.stringify(s)), s, 'plain JSON');
  });

  it('histogram: one outlier gets an overflow bin instead of squashing the chart', () => {
    const lat = [...Array.from({ length: 99 }, (_, i) => 1 + i / 100), 50];
    const h = histogram([...lat].sort((a, b) => a - b), 10);
    assert.equal(h.length, 11);
    assert.deepEqual(h[10], { from: quantile([...lat].sort((a, b) => a - b), 0.99), to: 50, count: 1, overflow: true });
    assert.equal(h.reduce((n, b) => n + b.count, 0), 100);
    assert.deepEqual(histogram([2, 2, 2], 5).map((b) => b.count), [3, 0, 0, 0, 0]);
  });

  it('planBench: 100 runs or 10 s by default; what is asked otherwise', () => {
    assert.deepEqual(planBench({}), { warmup: 5, runs: 100, budgetMs: 10_000 });
    assert.deepEqual(planBench({ runs: 20 }), { warmup: 5, runs: 20, budgetMs: Infinity });
    assert.deepEqual(planBench({ budgetMs: 500, warmup: 0 }), { warmup: 0, runs: 100_000, budgetMs: 500 });
  });

  it('benchmarkLoop: warm-up runs are not counted; a budget stops it; progress is throttled; a stop request rejects', async () => {
    let calls = 0;
    const once = async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 2));
      return 2;
    };
    const seen: BenchProgress[] = [];
    const r = await benchmarkLoop(once, { warmup: 3, runs: 10 }, { onProgress: (p) => seen.push(p), progressEveryMs: 0 });
    assert.equal(calls, 13);
    assert.equal(r.runs, 10);
    assert.equal(r.latencies.length, 10);
    assert.equal(r.stoppedBy, 'runs');
    assert.deepEqual(seen.filter((p) => p.phase === 'warmup').map((p) => p.done), [1, 2, 3]);
    assert.equal(seen[seen.length - 1]!.done, 10);
    const budget = await benchmarkLoop(once, { warmup: 0, budgetMs: 30 });
    assert.equal(budget.stoppedBy, 'budget');
    assert.ok(budget.runs >= 1 && budget.runs < 30);
    let stop = false;
    const p = benchmarkLoop(once, { warmup: 0, runs: 1000 }, { shouldStop: () => stop });
    setTimeout(() => (stop = true), 20);
    await assert.rejects(p, CancelledError);
  });
});

describe('benchmarks in the worker', () => {
  let host: InferenceHost;
  before(() => {
    host = testHost();
  });
  after(() => host.dispose());

  it('benchmarks a model without IPC in the latencies', async () => {
    const s = await host.load({ path: fixture('hello_deepa.onnx') }, { intraOpThreads: 1 });
    const feeds = FIXTURE_FEEDS['hello_deepa.onnx']!();
    const progress: BenchProgress[] = [];
    const r = await host.bench(s.id, feeds, { warmup: 5, runs: 300, onProgress: (p) => progress.push(p) });
    assert.equal(r.runs, 300);
    assert.equal(r.warmup, 5);
    assert.ok(r.p50 > 0 && r.p50 <= r.p90 && r.p90 <= r.p99 && r.p99 <= r.max && r.min <= r.p50);
    // The in-worker latency of this tiny MLP is far below one IPC round trip through run().
    const viaRun: number[] = [];
    for (let i = 0; i < 50; i++) viaRun.push((await host.run(s.id, feeds)).wallMs);
    assert.ok(r.p50 < Math.min(...viaRun) + 0.05, `bench p50 ${r.p50} vs run wall ${Math.min(...viaRun)}`);
    assert.ok(progress.length >= 1);
    assert.equal(progress[progress.length - 1]!.done, 300);
    assert.deepEqual(JSON.parse(JSON.stringify(r)), r);
    await host.release(s.id);
  });

  it('cancels a benchmark between runs, keeping the worker', async () => {
    const s = await host.load({ path: fixture('ch_ppocr_mobile_v2.0_cls_infer.onnx') }, { intraOpThreads: 1 });
    const pid = host.pid;
    const ac = new AbortController();
    const t0 = performance.now();
    const p = host.bench(s.id, FIXTURE_FEEDS['ch_ppocr_mobile_v2.0_cls_infer.onnx']!(), { runs: 100_000, signal: ac.signal, onProgress: () => ac.abort() });
    await assert.rejects(p, (e: unknown) => e instanceof InferenceError && e.reason === 'cancelled' && /^benchmarking .*cls_infer\.onnx was cancelled\.$/.test(e.message) && isCancelled(e));
    assert.ok(performance.now() - t0 < 2000);
    assert.equal(host.pid, pid, 'stopped between runs: no kill');
    await host.release(s.id);
  });

  it('applies the timeout to each run of a benchmark', async () => {
    const s = await host.load({ path: fixture('ch_PP-OCRv4_det_infer.onnx') });
    const x = { dtype: 'float32' as const, shape: [1, 3, 2048, 2048], data: new Float32Array(3 * 2048 * 2048) };
    await assert.rejects(host.bench(s.id, { x }, { warmup: 0, runs: 3, timeoutMs: 250 }), (e: unknown) => e instanceof InferenceError && e.reason === 'timeout' && /timed out after 0\.25 s/.test(e.message));
    // A fast model under the same timeout finishes: the watchdog restarts with every run.
    const w = await host.load({ path: fixture('hello_deepa.onnx') });
    const r = await host.bench(w.id, FIXTURE_FEEDS['hello_deepa.onnx']!(), { warmup: 0, budgetMs: 600, timeoutMs: 250 });
    assert.equal(r.stoppedBy, 'budget');
    await host.release(s.id);
    await host.release(w.id);
  });

  it('checks feeds before benchmarking', async () => {
    const s = await host.load({ path: fixture('hello_deepa.onnx') });
    await assert.rejects(host.bench(s.id, {}), (e: unknown) => e instanceof UserError && /input 'onnx::Flatten_0' is missing/.test(e.message));
    await host.release(s.id);
  });

  it('sweeps intra-op thread counts, one session each', async () => {
    const sweep = await sweepThreads(host, { path: fixture('ch_ppocr_mobile_v2.0_cls_infer.onnx') }, FIXTURE_FEEDS['ch_ppocr_mobile_v2.0_cls_infer.onnx']!(), [1, 2], { runs: 20, warmup: 2 });
    assert.deepEqual(sweep.map((e) => e.threads), [1, 2]);
    for (const e of sweep) {
      assert.equal(e.result.runs, 20);
      assert.ok(e.loadMs > 0);
    }
    assert.deepEqual(JSON.parse(JSON.stringify(sweep)), sweep);
  });
});
