/**
 * Checks a model's output against what a model test expects: values within tolerance (allclose), a top-1 class, a
 * range, or a shape. A failure says where and by how much, and gives both sides as text for a diff view.
 */
import { halfToFloat, type Tensor } from '../inference/tensor';
import { formatShape } from '../inference/tensor';
import type { Tolerance } from './format';

export interface OutputCheck {
  output: string;
  ok: boolean;
  /** One line: what differs, where, and by how much. */
  message?: string;
  /** Both sides as text, for VS Code's expected/actual diff. */
  expected?: string;
  actual?: string;
}

export type Expectation =
  | { kind: 'values'; tensor: Tensor; tolerance: Tolerance }
  | { kind: 'top1'; index: number }
  | { kind: 'range'; min: number; max: number }
  | { kind: 'shape'; shape: number[] };

/** Elements as numbers (bigints converted, float16 decoded); strings stay strings. */
export function numbers(t: Tensor): ArrayLike<number> | string[] {
  const d = t.data;
  if (Array.isArray(d)) return d;
  if (t.dtype === 'float16') return Array.from(d as Uint16Array, halfToFloat);
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) return Array.from(d, Number);
  return d as ArrayLike<number>;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The index of a flat position in a shape: [0, 3, 1]. */
export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length).fill(0);
  for (let k = shape.length - 1; k >= 0; k--) {
    const d = shape[k]!;
    idx[k] = d ? i % d : 0;
    i = d ? Math.floor(i / d) : 0;
  }
  return idx;
}

const fmt = (x: number | string | undefined) => (typeof x === 'number' ? String(Number(x.toPrecision(7))) : JSON.stringify(x));

/** The first `limit` values as text, with the shape: what a diff view shows. */
export function preview(t: Tensor, limit = 64): string {
  const v = numbers(t);
  const n = Math.min(v.length, limit);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(fmt(v[i]));
  return `${t.dtype} ${formatShape(t.shape)}\n${parts.join(', ')}${v.length > n ? `, … (${v.length - n} more)` : ''}\n`;
}

export function checkOutput(output: string, actual: Tensor | undefined, e: Expectation): OutputCheck {
  if (!actual) return { output, ok: false, message: `output '${output}' was not produced by the model` };
  switch (e.kind) {
    case 'shape':
      return sameShape(actual.shape, e.shape)
        ? { output, ok: true }
        : { output, ok: false, message: `output '${output}' has shape ${formatShape(actual.shape)}, expected ${formatShape(e.shape)}`, expected: formatShape(e.shape), actual: formatShape(actual.shape) };
    case 'range': {
      const v = numbers(actual);
      for (let i = 0; i < v.length; i++) {
        const x = v[i] as number;
        if (!(x >= e.min && x <= e.max)) {
          return { output, ok: false, message: `output '${output}' at [${unravel(i, actual.shape).join(',')}] is ${fmt(x)}, outside the expected range [${e.min}, ${e.max}]`, actual: preview(actual) };
        }
      }
      return { output, ok: true };
    }
    case 'top1': {
      const v = numbers(actual);
      const classes = actual.shape.at(-1) ?? v.length;
      let best = 0;
      for (let i = 1; i < Math.min(classes, v.length); i++) if ((v[i] as number) > (v[best] as number)) best = i;
      return best === e.index
        ? { output, ok: true }
        : { output, ok: false, message: `output '${output}': top-1 class is ${best} (${fmt(v[best])}), expected ${e.index} (${fmt(v[e.index])})`, expected: `top-1 ${e.index}\n`, actual: `top-1 ${best}\n${preview(actual)}` };
    }
    case 'values':
      return checkValues(output, actual, e.tensor, e.tolerance);
  }
}

/** numpy.allclose semantics: |a − e| ≤ atol + rtol·|e|, NaN equal to NaN, ±Infinity equal to itself. */
function checkValues(output: string, actual: Tensor, expected: Tensor, tol: Tolerance): OutputCheck {
  const side = { expected: preview(expected), actual: preview(actual) };
  if (!sameShape(actual.shape, expected.shape)) {
    return { output, ok: false, message: `output '${output}' has shape ${formatShape(actual.shape)}, expected ${formatShape(expected.shape)}`, ...side };
  }
  const a = numbers(actual);
  const x = numbers(expected);
  let bad = 0;
  let worst = -1;
  let worstErr = -1;
  for (let i = 0; i < x.length; i++) {
    const av = a[i];
    const ev = x[i];
    if (typeof av === 'string' || typeof ev === 'string') {
      if (av !== ev) {
        bad++;
        if (worst < 0) worst = i;
      }
      continue;
    }
    if (Number.isNaN(ev) && Number.isNaN(av)) continue;
    if (av === ev) continue;
    const err = Math.abs(av! - ev!);
    if (!(err <= tol.atol + tol.rtol * Math.abs(ev!))) {
      bad++;
      if (!(err <= worstErr)) {
        worstErr = err;
        worst = i;
      }
    }
  }
  if (!bad) return { output, ok: true };
  const at = unravel(worst, actual.shape).join(',');
  const how = worstErr >= 0 && Number.isFinite(worstErr) ? `, largest difference ${fmt(worstErr)}` : '';
  return {
    output,
    ok: false,
    message: `output '${output}': ${bad} of ${x.length} values differ beyond atol ${tol.atol} + rtol ${tol.rtol}${how} at [${at}] (expected ${fmt(x[worst])}, got ${fmt(a[worst])})`,
    ...side,
  };
}
