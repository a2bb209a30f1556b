/**
 * Linear quantization arithmetic, as ONNX's QuantizeLinear defines it (y = saturate(round_half_even(x / scale) + zp))
 * and as onnxruntime.quantization computes scales and zero points (quant_utils.compute_scale_zp): the range always
 * includes 0, symmetric ranges use ±max|x|, and a zero range gets scale 1.
 */

export type QType = 'int8' | 'uint8';

export const QRANGE: Record<QType, { min: number; max: number }> = {
  int8: { min: -128, max: 127 },
  uint8: { min: 0, max: 255 },
};

/** The range used for symmetric int8 weights: [-127, 127], so that 0 maps to 0 and the range is balanced. */
export const INT8_SYMMETRIC = { min: -127, max: 127 };

export interface QParams {
  scale: number;
  zeroPoint: number;
}

/** Round half to even, as QuantizeLinear and NumPy's rint do. */
export function rint(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Minimum and maximum of the finite values (0, 0 for none). */
export function minMax(data: ArrayLike<number>, start = 0, end = data.length, stride = 1): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let i = start; i < end; i += stride) {
    const v = data[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return Number.isFinite(min) && Number.isFinite(max) ? { min, max } : { min: 0, max: 0 };
}

/**
 * Scale and zero point for values in [min, max] quantized to `q` ([qmin, qmax]). The range is widened to include 0
 * (so zero is exact, as padding needs). Symmetric: zero point in the middle (0 for int8, 128 for uint8), scale from
 * max|x|.
 */
export function qparams(min: number, max: number, q: { min: number; max: number }, symmetric: boolean): QParams {
  let rmin = Math.min(min, 0);
  let rmax = Math.max(max, 0);
  if (symmetric) {
    const absmax = Math.max(Math.abs(rmin), Math.abs(rmax));
    rmin = -absmax;
    rmax = absmax;
  }
  const fscale = Math.fround((rmax - rmin) / (q.max - q.min));
  const symmetricZero = q.min < 0 ? 0 : Math.floor((q.max + q.min + 1) / 2);
  if (!(fscale > 0) || !Number.isFinite(fscale)) return { scale: 1, zeroPoint: symmetric ? symmetricZero : 0 };
  const zeroPoint = symmetric ? symmetricZero : Math.min(q.max, Math.max(q.min, rint(q.min - rmin / fscale)));
  return { scale: fscale, zeroPoint };
}

/** Quantizes a whole array with one (scale, zp) into `out` (Int8Array or Uint8Array). */
export function quantizeArray(x: Float32Array, p: QParams, q: { min: number; max: number }, out: Int8Array | Uint8Array): void {
  const inv = 1 / p.scale;
  for (let i = 0; i < x.length; i++) {
    const t = x[i]! * inv;
    let r = Math.round(t);
    if (r - t === 0.5 && r % 2 !== 0) r -= 1; // half to even (Math.round rounds .5 up)
    r += p.zeroPoint;
    out[i] = r < q.min ? q.min : r > q.max ? q.max : r;
  }
}

/**
 * Per-channel quantization of a tensor of `shape` along `axis`: one (scale, zp) per index of that axis, each from
 * the channel's own range.
 */
export function quantizePerChannel(
  x: Float32Array,
  shape: number[],
  axis: number,
  q: { min: number; max: number },
  symmetric: boolean,
  out: Int8Array | Uint8Array,
): QParams[] {
  const channels = shape[axis]!;
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const params: QParams[] = [];
  for (let c = 0; c < channels; c++) {
    let min = Infinity;
    let max = -Infinity;
    for (let o = 0; o < outer; o++) {
      const base = (o * channels + c) * inner;
      for (let i = 0; i < inner; i++) {
        const v = x[base + i]!;
        if (v < min) min = v;
        if (v > max) max = v;
      }
    }
    if (!Number.isFinite(min)) min = max = 0;
    params.push(qparams(min, max, q, symmetric));
  }
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const p = params[c]!;
      const inv = 1 / p.scale;
      const base = (o * channels + c) * inner;
      for (let i = 0; i < inner; i++) {
        const t = x[base + i]! * inv;
        let r = Math.round(t);
        if (r - t === 0.5 && r % 2 !== 0) r -= 1;
        r += p.zeroPoint;
        out[base + i] = r < q.min ? q.min : r > q.max ? q.max : r;
      }
    }
  }
  return params;
}
