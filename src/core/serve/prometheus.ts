/**
 * The Prometheus text exposition format, version 0.0.4 (what `GET /metrics` answers, and what KServe's runtimes and
 * Triton expose): the histogram Modelyard's server keeps, a strict parser of the format, and `histogramQuantile`, the
 * interpolation Prometheus' histogram_quantile does.
 *
 *   # HELP name text                 \\ and \n escaped in the text
 *   # TYPE name counter|gauge|histogram|summary|untyped
 *   name{label="value",…} 1.5 [timestamp_ms]   label values escape \\ \" \n; values may be +Inf, -Inf, NaN
 *
 * A histogram `h` is the samples h_bucket{le="…"} (cumulative counts, le ascending, the last le="+Inf"), h_sum and
 * h_count.
 */

/** The content type of the format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * Bucket bounds for durations in seconds: 0.1 ms to 10 s in steps of 1, 1.5, 2, 3, 5, 7.5 per decade (no step more
 * than ×1.67), so that p50 and p99 interpolated inside a bucket are within a third of the bucket's bounds.
 */
export const DURATION_BUCKETS: readonly number[] = (() => {
  const out: number[] = [];
  for (let e = -4; e < 1; e++) for (const m of [1, 1.5, 2, 3, 5, 7.5]) out.push(+(m * 10 ** e).toPrecision(2));
  out.push(10);
  return out;
})();

/** Bucket bounds for batch sizes (rows per run of the model). */
export const BATCH_BUCKETS: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 128, 256];

export interface HistogramSnapshot {
  counts: number[];
  sum: number;
  count: number;
}

/**
 * A histogram kept for exposition: one count per bucket (not cumulative: cumulated when written), the sum and the
 * count. `observe` allocates nothing: a binary search over the bounds and three additions.
 */
export class Histogram {
  private readonly bounds: Float64Array;
  /** counts[i] observations in (bounds[i-1], bounds[i]]; the last one above every bound (+Inf). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++) if (!(bounds[i]! > bounds[i - 1]!)) throw new Error('histogram bounds must ascend');
    this.bounds = Float64Array.from(bounds);
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(v: number): void {
    const b = this.bounds;
    let lo = 0;
    let hi = b.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (v <= b[mid]!) hi = mid;
      else lo = mid + 1;
    }
    this.counts[lo]!++;
    this.sum += v;
    this.count++;
  }

  /** Its figures, plain (for another process to add them up: `modelyard serve --processes`). */
  snapshot(): HistogramSnapshot {
    return { counts: Array.from(this.counts), sum: this.sum, count: this.count };
  }

  /** Adds another histogram's figures (the same bounds) to this one. */
  add(s: HistogramSnapshot): void {
    if (s.counts.length !== this.counts.length) throw new Error('histograms with different bounds');
    for (let i = 0; i < s.counts.length; i++) this.counts[i]! += s.counts[i]!;
    this.sum += s.sum;
    this.count += s.count;
  }

  /** The sample lines of the histogram `name` with the label text `labels` ('model="m",version="1"', or ''). */
  lines(name: string, labels: string): string {
    const sep = labels ? ',' : '';
    let out = '';
    let cumulative = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      cumulative += this.counts[i]!;
      out += `${name}_bucket{${labels}${sep}le="${formatValue(this.bounds[i]!)}"} ${cumulative}\n`;
    }
    cumulative += this.counts[this.bounds.length]!;
    out += `${name}_bucket{${labels}${sep}le="+Inf"} ${cumulative}\n`;
    const braces = labels ? `{${labels}}` : '';
    out += `${name}_sum${braces} ${formatValue(this.sum)}\n${name}_count${braces} ${this.count}\n`;
    return out;
  }
}

/** A number as the format writes it (Go's strconv: +Inf, -Inf, NaN). */
export function formatValue(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  return String(v);
}

/** A label value, escaped. */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** A HELP text, escaped. */
export function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** The label text of a set of labels: `a="x",b="y"`. */
export function labelText(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(',');
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The sample's own name (h_bucket, h_sum, … for a histogram h). */
  name: string;
  labels: Record<string, string>;
  value: number;
  timestampMs?: number;
}

export interface MetricFamily {
  name: string;
  type: MetricType;
  help?: string;
  samples: Sample[];
}

/** What in the text is not the format, with its line number (0: the whole text, such as a histogram's buckets). */
export class ExpositionError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(line ? `line ${line}: ${message}` : message);
  }
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseNumber(text: string, line: number, what: string): number {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  // Go's ParseFloat: decimal or exponent notation (hex floats are not written by any exporter we read).
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw new ExpositionError(line, `${what} '${text}' is not a number`);
  return Number(text);
}

/** The family a sample name belongs to: h for h_bucket / h_sum / h_count of a histogram h (and a summary's). */
function familyOf(sample: string, families: Map<string, MetricFamily>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sample.endsWith(suffix)) continue;
    const base = sample.slice(0, -suffix.length);
    const f = families.get(base);
    if (f && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return base;
  }
  return sample;
}

/**
 * Parses the text format, strictly: a line that is not a comment, a HELP, a TYPE or a sample is an ExpositionError
 * naming the line, as are a TYPE given twice or after its samples, a label given twice, a histogram whose buckets do
 * not ascend or are not cumulative, or one without its +Inf bucket or with a _count other than it.
 */
export function parseExposition(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const typed = new Set<string>();
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const raw = lines[i]!.endsWith('\r') ? lines[i]!.slice(0, -1) : lines[i]!;
    const line = raw.replace(/^[ \t]+/, '');
    if (!line) continue;
    if (line.startsWith('#')) {
      const m = /^#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(line);
      if (!m) continue; // an ordinary comment
      const [, kind, name, rest = ''] = m;
      if (!NAME.test(name!)) throw new ExpositionError(n, `'${name}' is not a metric name`);
      let f = families.get(name!);
      if (kind === 'HELP') {
        if (f?.help !== undefined) throw new ExpositionError(n, `a second HELP for ${name}`);
        const help = rest.replace(/\\(\\|n)/g, (_, c: string) => (c === 'n' ? '\n' : '\\'));
        if (f) f.help = help;
        else families.set(name!, { name: name!, type: 'untyped', help, samples: [] });
        continue;
      }
      const type = rest.trim() as MetricType;
      if (!TYPES.has(type)) throw new ExpositionError(n, `'${rest.trim()}' is not a metric type (counter, gauge, histogram, summary, untyped)`);
      if (f?.samples.length) throw new ExpositionError(n, `the TYPE of ${name} comes after its samples`);
      if (typed.has(name!)) throw new ExpositionError(n, `a second TYPE for ${name}`);
      typed.add(name!);
      f ??= { name: name!, type, samples: [] };
      f.type = type;
      families.set(name!, f);
      continue;
    }
    const sample = parseSample(line, n);
    const fname = familyOf(sample.name, families);
    let f = families.get(fname);
    if (!f) {
      f = { name: fname, type: 'untyped', samples: [] };
      families.set(fname, f);
    }
    f.samples.push(sample);
  }
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

function parseSample(line: string, n: number): Sample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
  if (!m) throw new ExpositionError(n, `'${line.slice(0, 60)}' is neither a comment nor a sample`);
  const name = m[1]!;
  let at = name.length;
  const labels: Record<string, string> = {};
  if (line[at] === '{') {
    at++;
    for (;;) {
      while (line[at] === ' ' || line[at] === '\t') at++;
      if (line[at] === '}') {
        at++;
        break;
      }
      const lm = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(at));
      if (!lm) throw new ExpositionError(n, `a label name is expected at column ${at + 1}`);
      const key = lm[0];
      at += key.length;
      while (line[at] === ' ' || line[at] === '\t') at++;
      if (line[at] !== '=' || line[at + 1] !== '"') throw new ExpositionError(n, `label ${key} needs ="value"`);
      at += 2;
      let value = '';
      for (;;) {
        const c = line[at];
        if (c === undefined) throw new ExpositionError(n, `the value of label ${key} is not closed`);
        if (c === '"') break;
        if (c === '\\') {
          const e = line[at + 1];
          if (e === '\\' || e === '"') value += e;
          else if (e === 'n') value += '\n';
          else throw new ExpositionError(n, `label ${key}: '\\${e ?? ''}' is not an escape (\\\\, \\", \\n)`);
          at += 2;
          continue;
        }
        value += c;
        at++;
      }
      at++;
      if (!LABEL_NAME.test(key)) throw new ExpositionError(n, `'${key}' is not a label name`);
      if (Object.hasOwn(labels, key)) throw new ExpositionError(n, `label ${key} is given twice`);
      labels[key] = value;
      while (line[at] === ' ' || line[at] === '\t') at++;
      if (line[at] === ',') at++;
      else if (line[at] !== '}') throw new ExpositionError(n, `',' or '}' is expected after label ${key}`);
    }
  }
  const rest = line.slice(at);
  if (rest && rest[0] !== ' ' && rest[0] !== '\t') throw new ExpositionError(n, `'${name}' is followed by '${rest[0]}', not a space`);
  const parts = rest.trim().split(/[ \t]+/);
  if (!parts[0]) throw new ExpositionError(n, `${name} has no value`);
  if (parts.length > 2) throw new ExpositionError(n, `${name} has more than a value and a timestamp`);
  const value = parseNumber(parts[0], n, 'the value');
  const sample: Sample = { name, labels, value };
  if (parts[1] !== undefined) {
    if (!/^-?\d+$/.test(parts[1])) throw new ExpositionError(n, `the timestamp '${parts[1]}' is not whole milliseconds`);
    sample.timestampMs = Number(parts[1]);
  }
  return sample;
}

/** The key of a sample's labels without `le` (the series a bucket belongs to). */
function seriesKey(labels: Record<string, string>): string {
  return JSON.stringify(
    Object.entries(labels)
      .filter(([k]) => k !== 'le')
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );
}

export interface HistogramSeries {
  labels: Record<string, string>;
  /** Cumulative counts by upper bound, ascending; the last bound is +Inf. */
  buckets: { le: number; count: number }[];
  sum: number;
  count: number;
}

/** The series of a histogram family, each with its buckets in order. */
export function histogramSeries(f: MetricFamily): HistogramSeries[] {
  const byKey = new Map<string, HistogramSeries>();
  const get = (labels: Record<string, string>) => {
    const key = seriesKey(labels);
    let s = byKey.get(key);
    if (!s) {
      const own = { ...labels };
      delete own.le;
      s = { labels: own, buckets: [], sum: NaN, count: NaN };
      byKey.set(key, s);
    }
    return s;
  };
  for (const x of f.samples) {
    if (x.name === `${f.name}_bucket`) {
      if (x.labels.le === undefined) throw new Error(`${x.name} has no le label`);
      get(x.labels).buckets.push({ le: Number(x.labels.le === '+Inf' ? Infinity : x.labels.le), count: x.value });
    } else if (x.name === `${f.name}_sum`) get(x.labels).sum = x.value;
    else if (x.name === `${f.name}_count`) get(x.labels).count = x.value;
  }
  for (const s of byKey.values()) s.buckets.sort((a, b) => a.le - b.le);
  return [...byKey.values()];
}

function checkHistogram(f: MetricFamily): void {
  const fail = (message: string) => {
    throw new ExpositionError(0, `histogram ${f.name}: ${message}`);
  };
  for (const x of f.samples) {
    if (x.name === `${f.name}_bucket`) {
      const le = x.labels.le;
      if (le === undefined) fail('a bucket has no le label');
      if (le !== '+Inf' && !Number.isFinite(parseNumber(le!, 0, 'le'))) fail(`le="${le}" is not a bound`);
    } else if (x.name !== `${f.name}_sum` && x.name !== `${f.name}_count`) fail(`${x.name} is not one of its samples`);
  }
  for (const s of histogramSeries(f)) {
    const where = `series ${labelText(s.labels) || '(no labels)'}`;
    if (!s.buckets.length) fail(`${where} has no buckets`);
    if (s.buckets.at(-1)!.le !== Infinity) fail(`${where} has no +Inf bucket`);
    for (let i = 1; i < s.buckets.length; i++) {
      if (s.buckets[i]!.le === s.buckets[i - 1]!.le) fail(`${where} has le="${s.buckets[i]!.le}" twice`);
      if (s.buckets[i]!.count < s.buckets[i - 1]!.count) fail(`${where}: bucket le="${formatValue(s.buckets[i]!.le)}" counts ${s.buckets[i]!.count}, less than the bucket below it (${s.buckets[i - 1]!.count}): buckets must be cumulative`);
    }
    if (!Number.isNaN(s.count) && s.count !== s.buckets.at(-1)!.count) fail(`${where}: _count ${s.count} differs from the +Inf bucket's ${s.buckets.at(-1)!.count}`);
  }
}

/**
 * The q-quantile (0 ≤ q ≤ 1) of cumulative buckets, as Prometheus' histogram_quantile computes it: the bucket where
 * the rank q·total falls, linearly interpolated between its lower and upper bound (the lowest bucket starts at 0
 * when its bound is positive); in the +Inf bucket, the highest finite bound. Null when there is no observation.
 */
export function histogramQuantile(q: number, buckets: readonly { le: number; count: number }[]): number | null {
  if (buckets.length < 2 || buckets.at(-1)!.le !== Infinity) return null;
  const total = buckets.at(-1)!.count;
  if (!(total > 0) || Number.isNaN(q)) return null;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  const rank = q * total;
  // Prometheus' first bucket with count ≥ rank (a binary search there; the same bucket).
  const b = buckets.findIndex((x) => x.count >= rank);
  if (b === buckets.length - 1) return buckets[b - 1]!.le;
  if (b === 0 && buckets[0]!.le <= 0) return buckets[0]!.le;
  let start = 0;
  let below = 0;
  if (b > 0) {
    start = buckets[b - 1]!.le;
    below = buckets[b - 1]!.count;
  }
  const end = buckets[b]!.le;
  const inBucket = buckets[b]!.count - below;
  if (inBucket <= 0) return end;
  return start + (end - start) * ((rank - below) / inBucket);
}
