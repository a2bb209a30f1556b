// The Prometheus text format as Modelyard writes and reads it: the strict parser, the histogram kept by the server,
// histogram_quantile's interpolation (checked against the cases of Prometheus' own test suite), and the figures of a
// deployment computed from two scrapes of real exposition text (Modelyard's server's, Triton's layout).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { countersOf, figuresBetween, metricsPort, type PodCounters, type ScrapeRound } from '../../src/core/deploy/metrics';
import { plainObjects, servingRuntime } from '../../src/core/deploy/manifests';
import { ServeMetrics } from '../../src/core/serve/metrics';
import { DURATION_BUCKETS, ExpositionError, Histogram, histogramQuantile, histogramSeries, parseExposition } from '../../src/core/serve/prometheus';

describe('the Prometheus text format: parsing, strictly', () => {
  it('reads HELP, TYPE, labels with escapes, special values, timestamps and comments', () => {
    const text = [
      '# A comment that is neither HELP nor TYPE',
      '# HELP http_requests_total The total number of HTTP requests, with a \\\\ and a \\n in it.',
      '# TYPE http_requests_total counter',
      'http_requests_total{method="post",code="200"} 1027 1395066363000',
      'http_requests_total{method="post",code="400"}    3 1395066363000',
      '',
      'msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9',
      'metric_without_timestamp_and_labels 12.47',
      'something_weird{problem="division by zero"} +Inf -3982045',
      'nothing{} NaN',
      '  # TYPE rpc_duration_seconds summary',
      'rpc_duration_seconds{quantile="0.5"} 4773',
      'rpc_duration_seconds_sum 1.7560473e+07',
      'rpc_duration_seconds_count 2693',
      '',
    ].join('\n');
    const f = parseExposition(text);
    const http = f.get('http_requests_total')!;
    assert.equal(http.type, 'counter');
    assert.equal(http.help, 'The total number of HTTP requests, with a \\ and a \n in it.');
    assert.deepEqual(http.samples[1], { name: 'http_requests_total', labels: { method: 'post', code: '400' }, value: 3, timestampMs: 1395066363000 });
    assert.deepEqual(f.get('msdos_file_access_time_seconds')!.samples[0]!.labels, { path: 'C:\\DIR\\FILE.TXT', error: 'Cannot find file:\n"FILE.TXT"' });
    assert.equal(f.get('msdos_file_access_time_seconds')!.type, 'untyped');
    assert.equal(f.get('something_weird')!.samples[0]!.value, Infinity);
    assert.equal(f.get('something_weird')!.samples[0]!.timestampMs, -3982045);
    assert.ok(Number.isNaN(f.get('nothing')!.samples[0]!.value));
    assert.deepEqual(
      f.get('rpc_duration_seconds')!.samples.map((s) => s.name),
      ['rpc_duration_seconds', 'rpc_duration_seconds_sum', 'rpc_duration_seconds_count'],
    );
  });

  it('refuses what is not the format, naming the line', () => {
    const bad: [string, RegExp][] = [
      ['metric{a="1"', /line 1: .*not closed|line 1: ',' or '}'/],
      ['ok 1\nmetric{a="1",a="2"} 1', /line 2: label a is given twice/],
      ['metric{a="\\x"} 1', /line 1: label a: '\\x' is not an escape/],
      ['metric 1 2 3', /line 1: metric has more than a value and a timestamp/],
      ['metric one', /line 1: the value 'one' is not a number/],
      ['metric', /line 1: metric has no value/],
      ['metric 1 1.5', /line 1: the timestamp '1.5' is not whole milliseconds/],
      ['{a="1"} 1', /line 1: .* is neither a comment nor a sample/],
      ['# TYPE m counter\n# TYPE m gauge', /line 2: a second TYPE for m/],
      ['m 1\n# TYPE m counter', /line 2: the TYPE of m comes after its samples/],
      ['# TYPE m counting', /line 1: 'counting' is not a metric type/],
      ['# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="2"} 1\nh_bucket{le="+Inf"} 2\nh_count 2', /histogram h: .*bucket le="2" counts 1, less than the bucket below it \(2\): buckets must be cumulative/],
      ['# TYPE h histogram\nh_bucket{le="1"} 2\nh_count 2', /histogram h: .* has no \+Inf bucket/],
      ['# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 3\nh_count 4', /histogram h: .*_count 4 differs from the \+Inf bucket's 3/],
      ['# TYPE h histogram\nh_bucket 2', /histogram h: a bucket has no le label/],
    ];
    for (const [text, re] of bad) assert.throws(() => parseExposition(text), (e: unknown) => e instanceof ExpositionError && re.test(e.message), text);
  });
});

describe('the histogram of the server', () => {
  it('counts each observation in its bucket (le is inclusive), cumulative when written, and parses back', () => {
    const h = new Histogram([0.001, 0.01, 0.1]);
    for (const v of [0.0005, 0.001, 0.002, 0.01, 0.05, 0.5, 7]) h.observe(v);
    assert.deepEqual(Array.from(h.counts), [2, 2, 1, 2]);
    const f = parseExposition(`# TYPE d histogram\n${h.lines('d', 'model="m"')}`);
    const [s] = histogramSeries(f.get('d')!);
    assert.deepEqual(s!.buckets, [
      { le: 0.001, count: 2 },
      { le: 0.01, count: 4 },
      { le: 0.1, count: 5 },
      { le: Infinity, count: 7 },
    ]);
    assert.equal(s!.count, 7);
    assert.ok(Math.abs(s!.sum - 7.5635) < 1e-12);
    assert.deepEqual(s!.labels, { model: 'm' });
  });

  it('has duration buckets from 0.1 ms to 10 s, no step above ×1.67', () => {
    assert.equal(DURATION_BUCKETS[0], 0.0001);
    assert.equal(DURATION_BUCKETS.at(-1), 10);
    for (let i = 1; i < DURATION_BUCKETS.length; i++) assert.ok(DURATION_BUCKETS[i]! / DURATION_BUCKETS[i - 1]! <= 1.67, `${DURATION_BUCKETS[i - 1]} → ${DURATION_BUCKETS[i]}`);
  });
});

describe('histogramQuantile, as Prometheus computes it', () => {
  // promql/promqltest/testdata/histograms.test: testhistogram{start="positive"} and {start="negative"}.
  const positive = [
    { le: 0.1, count: 5 },
    { le: 0.2, count: 7 },
    { le: 1, count: 11 },
    { le: Infinity, count: 12 },
  ];
  const negative = [
    { le: -0.2, count: 1 },
    { le: -0.1, count: 2 },
    { le: 0.3, count: 2 },
    { le: Infinity, count: 3 },
  ];
  it('gives the values of Prometheus\' test suite', () => {
    const close = (a: number | null, b: number) => assert.ok(a !== null && Math.abs(a - b) < 1e-12, `${a} vs ${b}`);
    close(histogramQuantile(0.2, positive), 0.048);
    close(histogramQuantile(0.5, positive), 0.15);
    close(histogramQuantile(0.8, positive), 0.72);
    close(histogramQuantile(0.2, negative), -0.2);
    close(histogramQuantile(0.5, negative), -0.15);
    close(histogramQuantile(0.8, negative), 0.3);
    // In the +Inf bucket: the highest finite bound.
    close(histogramQuantile(0.99, positive), 1);
    close(histogramQuantile(1, positive), 1);
  });

  it('is null without observations or a +Inf bucket, ±Inf outside [0, 1]', () => {
    assert.equal(histogramQuantile(0.5, positive.map((b) => ({ ...b, count: 0 }))), null);
    assert.equal(histogramQuantile(0.5, positive.slice(0, 3)), null);
    assert.equal(histogramQuantile(-1, positive), -Infinity);
    assert.equal(histogramQuantile(2, positive), Infinity);
  });
});

/** A scrape round of pods whose /metrics texts are given. */
function round(t: number, pods: Record<string, string>): ScrapeRound {
  return { at: 1_700_000_000_000 + t * 1000, t: t * 1000, pods: Object.entries(pods).map(([pod, text]) => ({ pod, port: 8080, counters: countersOf(text) as PodCounters })) };
}

describe('the figures of a deployment from two scrapes (core/deploy/metrics)', () => {
  it('sums two pods of Modelyard\'s server: rates over the interval, p50 and p99 from the buckets that filled', () => {
    const a = new ServeMetrics('wake', 'v1');
    const b = new ServeMetrics('wake', 'v1');
    // Before the interval: traffic that must not count.
    for (let i = 0; i < 500; i++) a.requestSucceeded(0.5);
    const r0 = round(10, { a: a.render(), b: b.render() });
    // In the 4 s interval: 300 requests of 2 ms on a, 100 of 20 ms on b, and 8 failures.
    for (let i = 0; i < 300; i++) a.requestSucceeded(0.002);
    for (let i = 0; i < 100; i++) b.requestSucceeded(0.02);
    for (let i = 0; i < 8; i++) b.requestFailed();
    const r1 = round(14, { a: a.render(), b: b.render() });
    const f = figuresBetween(r0, r1);
    assert.equal(f.source, 'modelyard');
    assert.equal(f.seconds, 4);
    assert.equal(f.pods, 2);
    assert.equal(f.rps, 102); // (300 + 100 + 8) / 4
    assert.equal(f.errorsPerSecond, 2);
    // 400 successes: rank 200 falls in the 2 ms bucket (1.5, 2] ms, which holds 300: 1.5 + 0.5·200/300.
    assert.equal(f.p50Ms, 1.833);
    // rank 396 falls in the 20 ms bucket (15, 20] ms, 300 below it and 100 in it: 15 + 5·96/100.
    assert.equal(f.p99Ms, 19.8);
    assert.equal(f.meanMs, 6.5); // (300·2 + 100·20) / 400
    assert.deepEqual(f.totals, { requests: 908, failures: 8 });
    assert.equal(f.message, undefined);
  });

  it('counts a restarted container from zero, and a new pod from the next interval', () => {
    const a = new ServeMetrics('m', '1');
    for (let i = 0; i < 50; i++) a.requestSucceeded(0.001);
    const r0 = round(0, { a: a.render() });
    const restarted = new ServeMetrics('m', '1');
    for (let i = 0; i < 6; i++) restarted.requestSucceeded(0.001);
    const fresh = new ServeMetrics('m', '1');
    for (let i = 0; i < 99; i++) fresh.requestSucceeded(0.001);
    const f = figuresBetween(r0, round(2, { a: restarted.render(), c: fresh.render() }));
    assert.equal(f.rps, 3);
    assert.equal(f.pods, 2);
    assert.match(f.message!, /pod c first read now: counted from the next interval/);
  });

  it('has no latency for an interval without requests, and says so', () => {
    const a = new ServeMetrics('m', '1');
    const f = figuresBetween(round(0, { a: a.render() }), round(2, { a: a.render() }));
    assert.deepEqual([f.rps, f.errorsPerSecond, f.p50Ms, f.p99Ms, f.meanMs], [0, 0, null, null, null]);
    assert.match(f.message!, /no successful inference requests in these 2 s, so no latency/);
  });

  it("reads Triton's counters: rates and the mean latency, p50 and p99 null with the reason", () => {
    const triton = (success: number, failures: number[], us: number) =>
      [
        '# HELP nv_inference_request_success Number of successful inference requests, all batch sizes',
        '# TYPE nv_inference_request_success counter',
        `nv_inference_request_success{model="wake",version="1"} ${success}`,
        '# HELP nv_inference_request_failure Number of failed inference requests, all batch sizes',
        '# TYPE nv_inference_request_failure counter',
        ...['OTHER', 'BACKEND', 'CANCELED', 'REJECTED'].map((r, i) => `nv_inference_request_failure{model="wake",reason="${r}",version="1"} ${failures[i]}`),
        '# HELP nv_inference_request_duration_us Cumulative inference request duration in microseconds (includes cached requests)',
        '# TYPE nv_inference_request_duration_us counter',
        `nv_inference_request_duration_us{model="wake",version="1"} ${us}`,
        '# HELP nv_cpu_utilization CPU utilization rate [0.0 - 1.0]',
        '# TYPE nv_cpu_utilization gauge',
        'nv_cpu_utilization 0.0125',
        '',
      ].join('\n');
    const f = figuresBetween(round(0, { t: triton(10, [0, 0, 0, 0], 12_000) }), round(2, { t: triton(30, [1, 2, 0, 1], 52_000) }));
    assert.equal(f.source, 'triton');
    assert.equal(f.rps, 12); // (20 + 4) / 2
    assert.equal(f.errorsPerSecond, 2);
    assert.equal(f.meanMs, 2); // 40,000 µs / 20
    assert.equal(f.p50Ms, null);
    assert.equal(f.p99Ms, null);
    assert.match(f.message!, /Triton exposes only cumulative durations \(nv_inference_request_duration_us\), no histogram, so p50 and p99 cannot be computed; the mean latency over these 2 s is 2 ms/);
  });

  it('gives source none with the reasons when no pod could be read', () => {
    const r: ScrapeRound = { at: 0, t: 0, pods: [{ pod: 'p-1', port: 8080, problem: 'its server answers 404 for /metrics on port 8080' }] };
    const f = figuresBetween(undefined, r);
    assert.equal(f.source, 'none');
    assert.equal(f.message, 'no metrics from pod p-1: its server answers 404 for /metrics on port 8080');
    assert.match(countersOf('# TYPE up gauge\nup 1\n') as string, /neither Modelyard's inference metrics .* nor Triton's .*; it has up/);
  });
});

describe('where a pod exposes its metrics', () => {
  it("Modelyard's container port on both paths; Triton's --metrics-port, else 8002", () => {
    const spec = { name: 'wake', namespace: 'ml', mode: 'plain' as const, model: { name: 'wake', sha256: 'a'.repeat(64) }, storageUri: 's3://b/p', image: 'img' };
    const plain = (plainObjects(spec)[0] as unknown as { spec: { template: { spec: object } } }).spec.template.spec;
    assert.deepEqual(metricsPort({ spec: plain } as never, 'plain'), { container: 'server', port: 8080, triton: false });
    // KServe copies the runtime's container into the predictor's pod as kserve-container.
    const runtime = (servingRuntime(spec) as unknown as { spec: { containers: object[] } }).spec;
    assert.deepEqual(metricsPort({ spec: runtime } as never, 'kserve'), { container: 'kserve-container', port: 8080, triton: false });
    // KServe's kserve-tritonserver ClusterServingRuntime: metrics on Triton's default port unless its args say otherwise.
    const triton = (args: string[]) => ({ spec: { containers: [{ name: 'kserve-container', image: 'nvcr.io/nvidia/tritonserver:23.05-py3', args, ports: [{ containerPort: 8080, protocol: 'TCP' }] }] } });
    assert.deepEqual(metricsPort(triton(['tritonserver', '--model-store=/mnt/models', '--grpc-port=9000', '--http-port=8080', '--allow-grpc=true', '--allow-http=true']) as never, 'kserve'), { container: 'kserve-container', port: 8002, triton: true });
    assert.equal(metricsPort(triton(['tritonserver', '--metrics-port=9102']) as never, 'kserve').port, 9102);
  });
});
