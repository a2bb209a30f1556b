import type { DType } from '../onnx/dtypes';

/**
 * A tensor as it crosses every boundary of Modelyard (worker process, webview, CLI, V2 server): element type, shape,
 * and the elements in row-major order in the typed array onnxruntime-node uses for that type:
 *   float32 Float32Array · float64 Float64Array · float16 Uint16Array (raw bits) · int8 Int8Array · uint8 Uint8Array
 *   int16 Int16Array · uint16 Uint16Array · int32 Int32Array · uint32 Uint32Array · int64 BigInt64Array
 *   uint64 BigUint64Array · bool Uint8Array (0/1) · string string[]
 */
export interface Tensor {
  dtype: DType;
  shape: number[];
  data: TensorData;
}

export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | string[];

/** A model input or output as declared: a dim is a number, a symbolic name ("batch"), or null when unknown. */
export interface TensorInfo {
  name: string;
  /** Element type; undefined for non-tensor values (sequences, maps, optionals), with `kind` saying which. */
  dtype?: DType;
  shape?: (number | string | null)[];
  kind?: 'tensor' | 'sequence' | 'map' | 'optional' | 'sparse';
  doc?: string;
}

/** The dtypes a Tensor can carry: those onnxruntime-node has a typed array for (see the table above). */
export const TENSOR_DTYPES = [
  'float32',
  'float64',
  'float16',
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'bool',
  'string',
] as const satisfies readonly DType[];
export type TensorDType = (typeof TENSOR_DTYPES)[number];

type NumericArrayCtor =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

const ARRAY_OF: Partial<Record<DType, NumericArrayCtor>> = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
};

export function isTensorDType(d: string): d is TensorDType {
  return (TENSOR_DTYPES as readonly string[]).includes(d);
}

/** The typed array constructor for a dtype; undefined for strings and for types onnxruntime-node cannot feed. */
export function arrayTypeOf(dtype: DType): NumericArrayCtor | undefined {
  return ARRAY_OF[dtype];
}

/** Whether values of this dtype are floating point (float16 included, stored as bits). */
export function isFloatDType(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64' || dtype === 'float16';
}

/** Whether values of this dtype are held as bigint (int64, uint64). */
export function isBigIntDType(dtype: DType): boolean {
  return dtype === 'int64' || dtype === 'uint64';
}

/** A zero-filled data array for `count` elements of `dtype` (strings: empty strings). */
export function allocData(dtype: DType, count: number): TensorData {
  if (dtype === 'string') return new Array<string>(count).fill('');
  const Ctor = ARRAY_OF[dtype];
  if (!Ctor) throw new Error(`dtype ${dtype} has no typed array in onnxruntime-node`);
  return new Ctor(count);
}

/** The number of elements of a shape (1 for a scalar, []). */
export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** A shape as people write it: [1,3,224,224]; symbolic dims by name, unknown ones as '?'. */
export function formatShape(shape: readonly (number | string | null | undefined)[] | undefined): string {
  if (!shape) return '(unknown rank)';
  return `[${shape.map((d) => (d === null || d === undefined || d === '' ? '?' : String(d))).join(',')}]`;
}

/** Whether `data` is the array type a tensor of `dtype` must carry. */
export function dataMatchesDType(dtype: DType, data: TensorData): boolean {
  if (dtype === 'string') return Array.isArray(data);
  const Ctor = ARRAY_OF[dtype];
  return Ctor !== undefined && data instanceof Ctor;
}

/** The name of the array type a value is, for messages ("Float64Array", "Array"). */
export function dataTypeName(data: unknown): string {
  if (Array.isArray(data)) return 'Array';
  return (data as object | null)?.constructor?.name ?? typeof data;
}

// ---------------------------------------------------------------------------------------------------------------
// float16 bits. Node 20 has no Float16Array: onnxruntime-node takes and gives float16 as Uint16Array bits.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 half-precision bits → number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** number → IEEE 754 half-precision bits, rounding to nearest even (as NumPy's astype(np.float16)). */
export function floatToHalf(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow → Inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow → ±0
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest === half && m & 1)) m++;
    return sign | m;
  }
  let m = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && m & 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/**
 * The elements as numbers, whatever the dtype: float16 bits decoded, bigints converted (exact up to 2^53), bool 0/1.
 * Strings have no numeric view: undefined.
 */
export function toFloat64(t: Tensor): Float64Array | undefined {
  const d = t.data;
  if (Array.isArray(d)) return undefined;
  const n = d.length;
  const out = new Float64Array(n);
  if (t.dtype === 'float16') {
    for (let i = 0; i < n; i++) out[i] = halfToFloat((d as Uint16Array)[i]!);
  } else if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
    for (let i = 0; i < n; i++) out[i] = Number(d[i]!);
  } else {
    out.set(d as ArrayLike<number>);
  }
  return out;
}

/**
 * The numbers as a tensor of `dtype`: rounded and wrapped like a C cast for integer types, float16 encoded to bits,
 * bool as value !== 0.
 */
export function fromNumbers(dtype: DType, shape: number[], values: ArrayLike<number>): Tensor {
  const n = values.length;
  const data = allocData(dtype, n);
  if (dtype === 'string') {
    for (let i = 0; i < n; i++) (data as string[])[i] = String(values[i]);
  } else if (dtype === 'float16') {
    for (let i = 0; i < n; i++) (data as Uint16Array)[i] = floatToHalf(values[i]!);
  } else if (dtype === 'bool') {
    for (let i = 0; i < n; i++) (data as Uint8Array)[i] = values[i] ? 1 : 0;
  } else if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    const wrap = data instanceof BigInt64Array ? BigInt.asIntN : BigInt.asUintN;
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      data[i] = Number.isFinite(v) ? wrap(64, BigInt(Math.trunc(v))) : 0n;
    }
  } else if (isFloatDType(dtype)) {
    (data as Float32Array).set(values);
  } else {
    const a = data as Int32Array;
    for (let i = 0; i < n; i++) a[i] = Math.round(values[i]!);
  }
  return { dtype, shape, data };
}
