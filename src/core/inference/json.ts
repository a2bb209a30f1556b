/**
 * Tensors as JSON, both ways. Accepted: a number, boolean or string; nested arrays (row-major, shape from the
 * nesting); flat arrays with a shape given beside them; and objects `{name, dtype, shape, data}` as tensorToJson
 * writes them and the CLI prints them (`datatype` in the Open Inference Protocol's spelling works too). int64 and
 * uint64 values may be numbers or strings (JSON numbers lose precision past 2^53); floats accept "NaN",
 * "Infinity" and "-Infinity", which JSON cannot spell as numbers.
 */
import { UserError, firstLine } from '../errors';
import { INT_RANGE, dtypeFromV2, type DType } from '../onnx/dtypes';
import { allocData, elementCount, formatShape, halfToFloat, isBigIntDType, isFloatDType, isTensorDType, floatToHalf, type Tensor, type TensorInfo } from './tensor';

export interface TensorJson {
  name?: string;
  dtype: DType;
  shape: number[];
  /** Flat, row-major. int64/uint64 as numbers when every value is a safe integer, otherwise all as strings. */
  data: (number | string | boolean)[];
}

export interface FromJsonOptions {
  /** The dtype to produce (the model input's); the JSON object's own dtype must agree with it. */
  dtype?: DType;
  /** The expected shape: a flat array (or a scalar) with that many values takes it. */
  shape?: number[];
  /** Names the value in messages: "input 'x'". */
  name?: string;
}

type Scalar = number | string | boolean;


/** Parses JSON text, with a UserError that quotes the parser's complaint. */
export function parseJson(text: string, what = 'the JSON'): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UserError(`${what} is not valid JSON: ${firstLine(e instanceof Error ? e.message : String(e))}.`, 'Fix the syntax (a nested array, or {"dtype", "shape", "data"}) and try again.');
  }
}

function label(name?: string): string {
  return name ? `input '${name}'` : 'the JSON value';
}

/** A JSON value (see the top of this file) as a tensor. */
export function tensorFromJson(value: unknown, opts: FromJsonOptions = {}): Tensor {
  const what = label(opts.name);
  let data: unknown = value;
  let shape: number[] | undefined;
  let dtype = opts.dtype;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    if (!('data' in o)) throw new UserError(`${what}: the object has no "data" field.`, 'Write {"dtype": "float32", "shape": [1, 3], "data": [1, 2, 3]}, or a nested array.');
    data = o.data;
    const declared = typeof o.dtype === 'string' ? o.dtype : typeof o.datatype === 'string' ? (dtypeFromV2(o.datatype) ?? o.datatype) : undefined;
    if (declared !== undefined) {
      if (!isTensorDType(declared)) throw new UserError(`${what}: dtype '${declared}' is not a tensor type onnxruntime-node takes.`, 'Use float32, float64, float16, int8–int64, uint8–uint64, bool or string.');
      if (dtype && declared !== dtype) throw new UserError(`${what} is given as ${declared} but the model expects ${dtype}.`, `Write "dtype": "${dtype}" (the values are converted), or convert the data.`);
      dtype = declared;
    }
    if (o.shape !== undefined) {
      if (!Array.isArray(o.shape) || o.shape.some((d) => !Number.isInteger(d) || (d as number) < 0)) {
        throw new UserError(`${what}: "shape" must be a list of non-negative integers, not ${JSON.stringify(o.shape)}.`, 'Write for example "shape": [1, 3, 224, 224].');
      }
      shape = o.shape as number[];
    }
  }
  const { flat, shape: nested } = flatten(data, what);
  const count = flat.length;
  if (shape) {
    if (elementCount(shape) !== count) throw new UserError(`${what} has ${count} values but its shape ${formatShape(shape)} needs ${elementCount(shape)}.`, 'Make the data and the shape agree.');
  } else if (opts.shape && nested.length <= 1 && elementCount(opts.shape) === count) {
    shape = opts.shape;
  } else {
    shape = nested;
  }
  dtype ??= inferDType(flat);
  return { dtype, shape, data: convert(flat, dtype, what) };
}

/** Flattens nested arrays row-major, checking that every row at a depth has the same length. */
function flatten(value: unknown, what: string): { flat: Scalar[]; shape: number[] } {
  if (!Array.isArray(value)) return { flat: [scalar(value, what)], shape: [] };
  const shape: number[] = [];
  for (let v: unknown = value; Array.isArray(v); v = v[0]) shape.push(v.length);
  const flat: Scalar[] = [];
  const walk = (v: unknown, depth: number, path: string): void => {
    if (depth === shape.length) {
      if (Array.isArray(v)) throw new UserError(`${what} is ragged: ${path} is a list where a value was expected.`, 'Every row must have the same length.');
      flat.push(scalar(v, what));
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) {
      const got = Array.isArray(v) ? `${v.length} entries` : 'a single value';
      throw new UserError(`${what} is ragged: ${path} has ${got} where ${shape[depth]} were expected.`, 'Every row must have the same length (the shape is taken from the first row at each depth).');
    }
    for (let i = 0; i < v.length; i++) walk(v[i], depth + 1, `${path}[${i}]`);
  };
  walk(value, 0, 'data');
  return { flat, shape };
}

function scalar(v: unknown, what: string): Scalar {
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  throw new UserError(`${what} holds ${v === null ? 'null' : typeof v}, which is not a tensor value.`, 'Use numbers, booleans or strings.');
}

function inferDType(flat: Scalar[]): DType {
  if (flat.length > 0 && flat.every((v) => typeof v === 'boolean')) return 'bool';
  if (flat.some((v) => typeof v === 'string' && parseFloatToken(v) === undefined)) return 'string';
  return 'float32';
}

function parseFloatToken(s: string): number | undefined {
  const t = s.trim();
  if (t === 'NaN' || t === 'nan') return NaN;
  if (t === 'Infinity' || t === 'inf' || t === '+Infinity') return Infinity;
  if (t === '-Infinity' || t === '-inf') return -Infinity;
  const n = Number(t);
  return t !== '' && !Number.isNaN(n) ? n : undefined;
}

function convert(flat: Scalar[], dtype: DType, what: string): Tensor['data'] {
  const n = flat.length;
  const data = allocData(dtype, n);
  const fail = (v: Scalar, why: string) => new UserError(`${what}: ${JSON.stringify(v)} ${why}.`, `Give ${dtype} values.`);
  if (dtype === 'string') {
    for (let i = 0; i < n; i++) (data as string[])[i] = String(flat[i]);
    return data;
  }
  if (dtype === 'bool') {
    for (let i = 0; i < n; i++) {
      const v = flat[i]!;
      if (v === true || v === 1 || v === 'true') (data as Uint8Array)[i] = 1;
      else if (v === false || v === 0 || v === 'false') (data as Uint8Array)[i] = 0;
      else throw fail(v, 'is not a boolean (true, false, 0 or 1)');
    }
    return data;
  }
  if (isBigIntDType(dtype)) {
    const lo = dtype === 'int64' ? -(2n ** 63n) : 0n;
    const hi = dtype === 'int64' ? 2n ** 63n - 1n : 2n ** 64n - 1n;
    const out = data as BigInt64Array | BigUint64Array;
    for (let i = 0; i < n; i++) {
      const v = flat[i]!;
      let b: bigint;
      if (typeof v === 'number' && Number.isInteger(v)) b = BigInt(v);
      else if (typeof v === 'string' && /^\s*[-+]?\d+\s*$/.test(v)) b = BigInt(v.trim());
      else if (typeof v === 'boolean') b = v ? 1n : 0n;
      else throw fail(v, 'is not an integer');
      if (b < lo || b > hi) throw fail(v, `does not fit in ${dtype}`);
      out[i] = b;
    }
    return data;
  }
  const floats = isFloatDType(dtype);
  const range = INT_RANGE[dtype];
  for (let i = 0; i < n; i++) {
    const v = flat[i]!;
    const x = typeof v === 'number' ? v : typeof v === 'boolean' ? Number(v) : parseFloatToken(v);
    if (x === undefined) throw fail(v, 'is not a number');
    if (floats) {
      if (dtype === 'float16') (data as Uint16Array)[i] = floatToHalf(x);
      else (data as Float32Array)[i] = x;
      continue;
    }
    if (!Number.isInteger(x)) throw fail(v, 'is not an integer');
    if (range && (x < range[0] || x > range[1])) throw fail(v, `does not fit in ${dtype} (${range[0]}…${range[1]})`);
    (data as Int32Array)[i] = x;
  }
  return data;
}

/** A tensor as `{name, dtype, shape, data}` with flat data; NaN and ±Infinity as strings, since JSON has no such numbers. */
export function tensorToJson(t: Tensor, name?: string): TensorJson {
  const out: TensorJson = { ...(name !== undefined ? { name } : {}), dtype: t.dtype, shape: [...t.shape], data: [] };
  const d = t.data;
  if (Array.isArray(d)) out.data = [...d];
  else if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
    const safe = d.every((v) => v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER));
    out.data = Array.from(d, (v) => (safe ? Number(v) : v.toString()));
  } else if (t.dtype === 'bool') out.data = Array.from(d as Uint8Array, (v) => v !== 0);
  else if (t.dtype === 'float16') out.data = Array.from(d as Uint16Array, (v) => jsonNumber(halfToFloat(v)));
  else out.data = Array.from(d as ArrayLike<number>, jsonNumber);
  return out;
}

function jsonNumber(v: number): number | string {
  return Number.isFinite(v) ? v : Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
}

/**
 * The feeds of a model from one JSON document: an object keyed by input name (each value any form above), an array
 * of `{name, …}` objects, or `{inputs: [...]}` as in an Open Inference Protocol request. A model with a single
 * input also takes a bare value. Each value takes the dtype of its input.
 */
export function feedsFromJson(value: unknown, inputs: readonly TensorInfo[], shapes: Record<string, number[]> = {}): Record<string, Tensor> {
  const make = (name: string, v: unknown): Tensor => {
    const info = inputs.find((i) => i.name === name);
    return tensorFromJson(v, { name, dtype: info?.dtype, shape: shapes[name] });
  };
  let list: unknown = value;
  if (value && typeof value === 'object' && !Array.isArray(value) && Array.isArray((value as { inputs?: unknown }).inputs)) list = (value as { inputs: unknown[] }).inputs;
  if (Array.isArray(list) && list.length > 0 && list.every((e) => e && typeof e === 'object' && !Array.isArray(e) && typeof (e as { name?: unknown }).name === 'string')) {
    return Object.fromEntries(list.map((e: { name: string }) => [e.name, make(e.name, e)]));
  }
  const o = value as Record<string, unknown>;
  const keyed = value !== null && typeof value === 'object' && !Array.isArray(value) && !('data' in o);
  if (keyed) return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, make(k, v)]));
  if (inputs.length === 1) return { [inputs[0]!.name]: make(inputs[0]!.name, value) };
  throw new UserError(
    `the JSON gives one value but the model has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}).`,
    'Write an object keyed by input name: {"input": [...], "sr": 16000}.',
  );
}
