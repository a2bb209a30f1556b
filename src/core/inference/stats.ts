/** Summaries of a tensor for people: range, moments, NaN/Inf counts, the first values, the top classes. */
import { halfToFloat, type Tensor } from './tensor';

export interface TensorStats {
  count: number;
  /** Over the finite values; null when there are none (empty tensor, all NaN, strings). */
  min: number | null;
  max: number | null;
  mean: number | null;
  /** Population standard deviation (NumPy's default, ddof=0) over the finite values. */
  std: number | null;
  nan: number;
  /** +Infinity and -Infinity together. */
  inf: number;
  /** The first values in row-major order (int64 past 2^53 and strings as strings). */
  first: (number | string)[];
}

export interface NonFinite {
  nan: number;
  inf: number;
}

/** Reads element i of any numeric tensor as a number (float16 bits decoded, bigints converted, bool 0/1). */
function reader(t: Tensor): ((i: number) => number) | undefined {
  const d = t.data;
  if (Array.isArray(d)) return undefined;
  if (t.dtype === 'float16') return (i) => halfToFloat((d as Uint16Array)[i]!);
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) return (i) => Number(d[i]!);
  const a = d as ArrayLike<number>;
  return (i) => a[i]!;
}

/**
 * NaN and Inf counts (only float types can hold them). Read as bits, not numbers: an integer test of the exponent
 * field runs about twice as fast as a float comparison over a large output.
 */
export function countNonFinite(t: Tensor): NonFinite {
  const d = t.data;
  if (t.dtype === 'float32') return countBits32(new Uint32Array((d as Float32Array).buffer, (d as Float32Array).byteOffset, d.length));
  if (t.dtype === 'float16') return countBits16(d as Uint16Array);
  if (t.dtype !== 'float64') return { nan: 0, inf: 0 };
  const f = d as Float64Array;
  // The high word of a little-endian double holds its exponent; a NaN may keep its payload in either word.
  const words = new Uint32Array(f.buffer, f.byteOffset, f.length * 2);
  let nan = 0;
  let inf = 0;
  for (let i = 1; i < words.length; i += 2) {
    const hi = words[i]!;
    if ((hi & 0x7ff00000) === 0x7ff00000) {
      if (hi & 0x000fffff || words[i - 1]!) nan++;
      else inf++;
    }
  }
  return { nan, inf };
}

function countBits32(words: Uint32Array): NonFinite {
  let nan = 0;
  let inf = 0;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if ((w & 0x7f800000) === 0x7f800000) {
      if (w & 0x007fffff) nan++;
      else inf++;
    }
  }
  return { nan, inf };
}

function countBits16(d: Uint16Array): NonFinite {
  let nan = 0;
  let inf = 0;
  for (let i = 0; i < d.length; i++) {
    const h = d[i]!;
    if ((h & 0x7c00) === 0x7c00) {
      if (h & 0x3ff) nan++;
      else inf++;
    }
  }
  return { nan, inf };
}

/** Statistics of a tensor's values; `firstCount` values are kept for display. */
export function tensorStats(t: Tensor, firstCount = 10): TensorStats {
  const count = t.data.length;
  const read = reader(t);
  if (!read) return { count, min: null, max: null, mean: null, std: null, nan: 0, inf: 0, first: (t.data as string[]).slice(0, firstCount) };
  let nan = 0;
  let inf = 0;
  let n = 0;
  let min = Infinity;
  let max = -Infinity;
  let mean = 0;
  let m2 = 0;
  for (let i = 0; i < count; i++) {
    const v = read(i);
    if (!Number.isFinite(v)) {
      if (Number.isNaN(v)) nan++;
      else inf++;
      continue;
    }
    if (v < min) min = v;
    if (v > max) max = v;
    // Welford's update: one pass, no catastrophic cancellation on large tensors with a big mean.
    n++;
    const delta = v - mean;
    mean += delta / n;
    m2 += delta * (v - mean);
  }
  const d = t.data;
  const first: (number | string)[] = [];
  for (let i = 0; i < Math.min(firstCount, count); i++) {
    if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
      const b = d[i]!;
      first.push(b <= BigInt(Number.MAX_SAFE_INTEGER) && b >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(b) : b.toString());
    } else first.push(read(i));
  }
  if (n === 0) return { count, min: null, max: null, mean: null, std: null, nan, inf, first };
  return { count, min, max, mean, std: Math.sqrt(m2 / n), nan, inf, first };
}

export interface TopKEntry {
  index: number;
  value: number;
  /** The class probability: the value itself when the row is already a distribution, else its softmax. */
  probability?: number;
}

export interface TopKOptions {
  /** Which row of the last axis (row-major over the leading dims); default 0. */
  row?: number;
  /**
   * true: add softmax probabilities; false: none; 'auto' (default): the values themselves when the row already
   * looks like probabilities (all in [0, 1], summing to 1 ± 1e-3), else the softmax of the row.
   */
  softmax?: boolean | 'auto';
}

/** The k largest values along the last axis of one row, largest first (class scores → top classes). */
export function topK(t: Tensor, k: number, opts: TopKOptions = {}): TopKEntry[] {
  const read = reader(t);
  if (!read) return [];
  const width = t.shape.length ? t.shape[t.shape.length - 1]! : 1;
  const row = opts.row ?? 0;
  const start = row * width;
  if (width === 0 || start + width > t.data.length) return [];
  const values = new Float64Array(width);
  for (let i = 0; i < width; i++) values[i] = read(start + i);
  const order = Array.from(values.keys()).sort((a, b) => cmpDesc(values[a]!, values[b]!));
  const top = order.slice(0, Math.max(0, k));
  const mode = opts.softmax ?? 'auto';
  let probs: Float64Array | undefined;
  if (mode === true || (mode === 'auto' && !looksLikeProbabilities(values))) probs = softmax(values);
  else if (mode === 'auto') probs = values;
  return top.map((i) => ({ index: i, value: values[i]!, ...(probs ? { probability: probs[i]! } : {}) }));
}

/** Descending, with NaN last. */
function cmpDesc(a: number, b: number): number {
  if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : 1;
  if (Number.isNaN(b)) return -1;
  return b - a;
}

function looksLikeProbabilities(v: Float64Array): boolean {
  let sum = 0;
  for (const x of v) {
    if (!(x >= 0 && x <= 1)) return false;
    sum += x;
  }
  return Math.abs(sum - 1) <= 1e-3;
}

/** Numerically stable softmax (the maximum is subtracted first). */
export function softmax(v: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < v.length; i++) if (v[i]! > max) max = v[i]!;
  const out = new Float64Array(v.length);
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += out[i] = Math.exp(v[i]! - max);
  for (let i = 0; i < v.length; i++) out[i] = out[i]! / sum;
  return out;
}
