/**
 * A JSON parser for inference requests, where nearly all the bytes are long arrays of numbers. JSON.parse spends
 * about 160 ns on each 17-digit number (2,400 of them: 390 µs, most of a small model's request): it allocates a heap
 * number for each, into a JS array that is then copied into a typed array. Here a flat array of numbers is only
 * checked against JSON's number grammar and kept as a NumberRun (a byte range); it is decoded straight into the
 * typed array of the input's dtype once the dtype is known (decodeRun).
 *
 * Decoded values are exactly those of JSON.parse followed by the typed array's conversion: a number of at most 15
 * significant digits with a decimal exponent within ±22 is exact in one multiplication or division (Clinger's fast
 * path); a longer one, for float32, is bracketed between its first 15 digits and the next 15-digit value, and taken
 * when both round to the same float32 (the rounding is monotonic); anything else goes through Number() on its text.
 * int64/uint64 integers are read exactly with BigInt (JSON.parse would round them through a double first).
 *
 * The parser gives up (returns undefined) on anything it is not sure of; the caller then uses JSON.parse, whose
 * error messages people know.
 */
import { INT_RANGE, type DType } from '../onnx/dtypes';
import { allocData, floatToHalf, type TensorData } from '../inference/tensor';

/**
 * What looks like a flat array of JSON numbers, not yet decoded: bytes [start, end) of the body, between the
 * brackets. Its grammar is checked by decodeRun; toArray() throws NotJson when it is not numbers after all.
 */
export class NumberRun {
  constructor(
    readonly buf: Uint8Array,
    readonly start: number,
    readonly end: number,
  ) {}

  /** The numbers as JSON.parse gives them. */
  toArray(): number[] {
    const text = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.start, this.end - this.start).toString('latin1');
    return text.split(',').map((t) => {
      if (!NUMBER.test(t)) throw new NotJson();
      return Number(t);
    });
  }
}

const NUMBER = /^[ \t\r\n]*-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?[ \t\r\n]*$/;

/** A NumberRun that is not a list of JSON numbers: the body must go to JSON.parse for its error message. */
export class NotJson extends Error {}

function indexOf(buf: Uint8Array, byte: number, from: number, to: number): number {
  const at = buf.indexOf(byte, from);
  return at >= 0 && at < to ? at : -1;
}

/** JSON with NumberRuns in place of the arrays of numbers, as plain values again (for the general path). */
export function materialize(v: unknown): unknown {
  if (v instanceof NumberRun) return v.toArray();
  if (Array.isArray(v)) return v.map(materialize);
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) defineKey(o, k, materialize(x));
    return o;
  }
  return v;
}

function defineKey(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
  else o[k] = v;
}

class GiveUp extends Error {}
const giveUp = new GiveUp();

const MAX_DEPTH = 256;

/** Parses JSON bytes; flat arrays of numbers become NumberRuns. Undefined when unsure (use JSON.parse then). */
export function parseJsonFast(buf: Uint8Array): unknown {
  let i = 0;
  const n = buf.length;
  const ws = () => {
    while (i < n) {
      const c = buf[i]!;
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
  };
  const digits = () => {
    const s = i;
    while (i < n && buf[i]! >= 0x30 && buf[i]! <= 0x39) i++;
    if (i === s) throw giveUp;
  };
  /** Checks one number's grammar: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)? */
  const number = () => {
    if (buf[i] === 0x2d) i++;
    if (buf[i] === 0x30) i++;
    else if (buf[i]! >= 0x31 && buf[i]! <= 0x39) digits();
    else throw giveUp;
    if (buf[i] === 0x2e) {
      i++;
      digits();
    }
    if (buf[i] === 0x65 || buf[i] === 0x45) {
      i++;
      if (buf[i] === 0x2b || buf[i] === 0x2d) i++;
      digits();
    }
  };
  const string = (): string => {
    const s = ++i;
    let plain = true;
    while (i < n) {
      const c = buf[i]!;
      if (c === 0x22) break;
      if (c < 0x20) throw giveUp;
      if (c === 0x5c || c >= 0x80) {
        plain = false;
        if (c === 0x5c) i++;
      }
      i++;
    }
    if (i >= n) throw giveUp;
    const e = i++;
    const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    return plain ? b.toString('latin1', s, e) : (JSON.parse(b.toString('utf8', s - 1, e + 1)) as string);
  };
  const literal = (word: string, v: unknown) => {
    for (let k = 0; k < word.length; k++) if (buf[i + k] !== word.charCodeAt(k)) throw giveUp;
    i += word.length;
    return v;
  };
  const value = (depth: number): unknown => {
    if (depth > MAX_DEPTH) throw giveUp;
    ws();
    const c = buf[i];
    if (c === 0x7b) {
      i++;
      const o: Record<string, unknown> = {};
      ws();
      if (buf[i] === 0x7d) {
        i++;
        return o;
      }
      for (;;) {
        ws();
        if (buf[i] !== 0x22) throw giveUp;
        const k = string();
        ws();
        if (buf[i++] !== 0x3a) throw giveUp;
        defineKey(o, k, value(depth + 1));
        ws();
        const d = buf[i++];
        if (d === 0x7d) return o;
        if (d !== 0x2c) throw giveUp;
      }
    }
    if (c === 0x5b) {
      i++;
      ws();
      if (buf[i] === 0x5d) {
        i++;
        return [];
      }
      const first = buf[i]!;
      if (first === 0x2d || (first >= 0x30 && first <= 0x39)) {
        // A run of numbers, found with native byte searches: up to the next ']', with no '[', '{' or '"' inside.
        // Its grammar is checked when it is decoded (decodeRun); a run that fails there sends the whole body to
        // JSON.parse. Anything else in the array and it is parsed as a general array.
        const close = indexOf(buf, 0x5d, i, n);
        if (close > 0 && indexOf(buf, 0x5b, i, close) < 0 && indexOf(buf, 0x7b, i, close) < 0 && indexOf(buf, 0x22, i, close) < 0) {
          const run = new NumberRun(buf, i, close);
          i = close + 1;
          return run;
        }
      }
      const a: unknown[] = [];
      for (;;) {
        a.push(value(depth + 1));
        ws();
        const d = buf[i++];
        if (d === 0x5d) return a;
        if (d !== 0x2c) throw giveUp;
      }
    }
    if (c === 0x22) return string();
    if (c === 0x74) return literal('true', true);
    if (c === 0x66) return literal('false', false);
    if (c === 0x6e) return literal('null', null);
    if (c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39)) {
      const s = i;
      number();
      return Number(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('latin1', s, i));
    }
    throw giveUp;
  };
  try {
    const v = value(0);
    ws();
    return i === n ? v : undefined;
  } catch (e) {
    if (e instanceof GiveUp || e instanceof SyntaxError) return undefined;
    throw e;
  }
}

const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);

/** Why a run could not become a tensor of the dtype; the caller words it (the general path does, from the values). */
export class RunDecodeError extends Error {}

const isWs = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * The numbers of a run as the data of a `count`-element `dtype` tensor. RunDecodeError when they cannot be (another
 * count, a fraction for an integer type, out of range): the general path then says what is wrong in its words.
 * NotJson when the run breaks JSON's number grammar.
 */
export function decodeRun(run: NumberRun, dtype: DType, count: number): TensorData {
  if (dtype === 'string') throw new RunDecodeError('numbers for a string tensor');
  const out = allocData(dtype, count);
  const buf = run.buf;
  const big = dtype === 'int64' || dtype === 'uint64';
  const f32 = dtype === 'float32';
  const f64 = dtype === 'float64';
  const range = INT_RANGE[dtype];
  const end = run.end;
  let i = run.start;
  let k = 0;
  for (;;) {
    let c = buf[i]!;
    while (isWs(c) && i < end) c = buf[++i]!;
    if (i >= end) throw new NotJson();
    if (k >= count) throw new RunDecodeError('more values than the shape holds');
    const s = i;
    let neg = false;
    if (c === 0x2d) {
      neg = true;
      c = buf[++i]!;
    }
    let m = 0;
    let sig = 0;
    let exp = 0;
    let dropped = false;
    let integer = true;
    // -?(0|[1-9]\d*). The byte at `end` is the closing ']', never a digit: the digit loops need no bound check.
    // The first 15 significant digits go into m (exact below 2^53); later ones only move the exponent.
    if (c === 0x30) c = buf[++i]!;
    else if (((c - 0x31) >>> 0) < 9) {
      do {
        m = m * 10 + (c - 0x30);
        sig++;
        c = buf[++i]!;
      } while (sig < 15 && ((c - 0x30) >>> 0) < 10);
      while (((c - 0x30) >>> 0) < 10) {
        exp++;
        if (c !== 0x30) dropped = true;
        c = buf[++i]!;
      }
    } else throw new NotJson();
    // (\.\d+)?
    if (c === 0x2e) {
      integer = false;
      c = buf[++i]!;
      if (((c - 0x30) >>> 0) >= 10) throw new NotJson();
      if (m === 0) {
        while (c === 0x30) {
          exp--;
          c = buf[++i]!;
        }
      }
      while (sig < 15 && ((c - 0x30) >>> 0) < 10) {
        m = m * 10 + (c - 0x30);
        exp--;
        sig++;
        c = buf[++i]!;
      }
      while (((c - 0x30) >>> 0) < 10) {
        if (c !== 0x30) dropped = true;
        c = buf[++i]!;
      }
    }
    // ([eE][+-]?\d+)?
    if ((c === 0x65 || c === 0x45) && i < end) {
      integer = false;
      c = buf[++i]!;
      let eneg = false;
      if (c === 0x2b || c === 0x2d) {
        eneg = c === 0x2d;
        c = buf[++i]!;
      }
      if (!(c >= 0x30 && c <= 0x39) || i >= end) throw new NotJson();
      let e = 0;
      do {
        if (e < 1e6) e = e * 10 + (c - 0x30);
        c = buf[++i]!;
      } while (c >= 0x30 && c <= 0x39 && i < end);
      exp += eneg ? -e : e;
    }
    const tokenEnd = i;
    while (isWs(c) && i < end) c = buf[++i]!;
    if (i < end && c !== 0x2c) throw new NotJson();
    if (big) {
      const t = latin1(buf, s, tokenEnd);
      let b: bigint;
      if (integer) b = BigInt(t);
      else {
        const v = Number(t);
        if (!Number.isInteger(v)) throw new RunDecodeError('not an integer');
        b = BigInt(v);
      }
      if (dtype === 'int64' ? b < -(2n ** 63n) || b > 2n ** 63n - 1n : b < 0n || b > 2n ** 64n - 1n) throw new RunDecodeError('out of range');
      (out as BigInt64Array)[k++] = b;
    } else {
      let v: number;
      const exact = exp === 0 ? m : exp > 0 && exp <= 22 ? m * POW10[exp]! : exp < 0 && exp >= -22 ? m / POW10[-exp]! : NaN;
      if (exact !== exact) v = Number(latin1(buf, s, tokenEnd));
      else if (!dropped) v = neg ? -exact : exact;
      else if (f32) {
        const next = exp > 0 ? (m + 1) * POW10[exp]! : (m + 1) / POW10[-exp]!;
        v = Math.fround(exact) === Math.fround(next) ? (neg ? -exact : exact) : Number(latin1(buf, s, tokenEnd));
      } else v = Number(latin1(buf, s, tokenEnd));
      if (f32 || f64) (out as Float32Array)[k++] = v;
      else if (dtype === 'float16') (out as Uint16Array)[k++] = floatToHalf(v);
      else if (dtype === 'bool') {
        if (v !== 0 && v !== 1) throw new RunDecodeError('not a boolean');
        (out as Uint8Array)[k++] = v;
      } else {
        if (!Number.isInteger(v) || (range && (v < range[0] || v > range[1]))) throw new RunDecodeError('not an integer of the type');
        (out as Int32Array)[k++] = v;
      }
    }
    if (i >= end) break;
    i++; // the comma
  }
  if (k !== count) throw new RunDecodeError('fewer values than the shape holds');
  return out;
}

function latin1(buf: Uint8Array, from: number, to: number): string {
  return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('latin1', from, to);
}
