import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UserError } from '../../src/core/errors';
import { DTYPES } from '../../src/core/onnx/dtypes';
import { feedsFromJson, tensorFromJson, tensorToJson } from '../../src/core/inference/json';
import { readNpy, readNpyHeader, writeNpy } from '../../src/core/inference/npy';
import { countNonFinite, softmax, tensorStats, topK } from '../../src/core/inference/stats';
import { floatToHalf, fromNumbers, halfToFloat, toFloat64, type Tensor } from '../../src/core/inference/tensor';
import { python } from '../support/fixtures';

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-tensors-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** One tensor of every dtype NumPy and onnxruntime-node share, with edge values. */
function samples(): Record<string, Tensor> {
  return {
    float32: { dtype: 'float32', shape: [2, 3], data: new Float32Array([0, -1.5, 3.25, NaN, Infinity, -Infinity]) },
    float64: { dtype: 'float64', shape: [3], data: new Float64Array([Math.PI, -0, 1e300]) },
    float16: { dtype: 'float16', shape: [4], data: Uint16Array.from([1, -2, 0.5, 65504], floatToHalf) },
    int8: { dtype: 'int8', shape: [3], data: new Int8Array([-128, 0, 127]) },
    uint8: { dtype: 'uint8', shape: [2, 2], data: new Uint8Array([0, 1, 254, 255]) },
    int16: { dtype: 'int16', shape: [2], data: new Int16Array([-32768, 32767]) },
    uint16: { dtype: 'uint16', shape: [2], data: new Uint16Array([0, 65535]) },
    int32: { dtype: 'int32', shape: [2], data: new Int32Array([-2147483648, 2147483647]) },
    uint32: { dtype: 'uint32', shape: [2], data: new Uint32Array([0, 4294967295]) },
    int64: { dtype: 'int64', shape: [3], data: new BigInt64Array([-(2n ** 63n), 9007199254740993n, 16000n]) },
    uint64: { dtype: 'uint64', shape: [2], data: new BigUint64Array([0n, 2n ** 64n - 1n]) },
    bool: { dtype: 'bool', shape: [1, 3], data: new Uint8Array([1, 0, 1]) },
    scalar: { dtype: 'int64', shape: [], data: new BigInt64Array([16000n]) },
    empty: { dtype: 'float32', shape: [0, 4], data: new Float32Array(0) },
    string: { dtype: 'string', shape: [3], data: ['a', 'héllo', '🙂x'] },
  };
}

function sameTensor(a: Tensor, b: Tensor): void {
  assert.equal(a.dtype, b.dtype);
  assert.deepEqual(a.shape, b.shape);
  assert.deepEqual(Array.from(a.data as ArrayLike<unknown>), Array.from(b.data as ArrayLike<unknown>));
}

describe('float16 bits', () => {
  it('round-trips every finite half exactly and rounds to nearest even', () => {
    for (let h = 0; h < 0x10000; h++) {
      const v = halfToFloat(h);
      if (Number.isNaN(v)) assert.equal(floatToHalf(v) & 0x7c00, 0x7c00);
      else assert.equal(floatToHalf(v), h, `half 0x${h.toString(16)}`);
    }
    assert.equal(floatToHalf(65520), 0x7c00); // overflow to Inf, as NumPy
    assert.equal(halfToFloat(floatToHalf(1 + 2 ** -11)), 1); // a tie goes to the even mantissa
    assert.equal(halfToFloat(floatToHalf(2 ** -25)), 0);
    assert.equal(halfToFloat(floatToHalf(3 * 2 ** -25)), 2 ** -23);
  });

  it('fromNumbers / toFloat64 convert every dtype', () => {
    assert.deepEqual(Array.from(toFloat64(fromNumbers('int8', [3], [1.6, -300, 127]))!), [2, -44, 127]); // rounded, wrapped as a C cast
    assert.deepEqual(Array.from(toFloat64(fromNumbers('int64', [2], [2 ** 40, -3]))!), [2 ** 40, -3]);
    assert.deepEqual(Array.from(toFloat64(fromNumbers('float16', [2], [0.5, -2]))!), [0.5, -2]);
    assert.deepEqual(Array.from(fromNumbers('bool', [3], [0, 2, -1]).data as Uint8Array), [0, 1, 1]);
  });
});

describe('.npy', () => {
  it('round-trips every dtype, scalars, empty arrays and strings', () => {
    for (const [name, t] of Object.entries(samples())) {
      const back = readNpy(writeNpy(t), name);
      sameTensor(back, t);
    }
  });

  it('writes headers NumPy accepts: padded to 64 bytes, newline-terminated, version 1.0', () => {
    const b = writeNpy(samples().float32!);
    const h = readNpyHeader(b);
    assert.equal(h.version, '1.0');
    assert.equal(h.dataOffset % 64, 0);
    assert.equal(b[h.dataOffset - 1], 0x0a);
  });

  it('reads versions 2.0 and 3.0 (4-byte header length; UTF-8)', () => {
    const v1 = writeNpy(samples().int32!);
    const headerLen = v1.readUInt16LE(8);
    for (const major of [2, 3]) {
      const b = Buffer.alloc(v1.length + 2);
      v1.copy(b, 0, 0, 8);
      b[6] = major;
      b.writeUInt32LE(headerLen, 8);
      v1.copy(b, 12, 10);
      sameTensor(readNpy(b), samples().int32!);
    }
  });

  it('refuses Fortran order, object arrays and non-npy bytes with what to do', () => {
    const b = writeNpy(samples().float32!);
    const text = b.toString('latin1').replace("'fortran_order': False", "'fortran_order': True ");
    assert.throws(() => readNpy(Buffer.from(text, 'latin1'), 'f.npy'), (e: unknown) => e instanceof UserError && /Fortran-order/.test(e.message) && /ascontiguousarray/.test(e.hint!));
    const obj = b.toString('latin1').replace("'<f4'", "'|O' ");
    assert.throws(() => readNpy(Buffer.from(obj, 'latin1'), 'o.npy'), (e: unknown) => e instanceof UserError && /'\|O'/.test(e.message) && /astype/.test(e.hint!));
    assert.throws(() => readNpy(Buffer.from('PK\x03\x04 a zip'), 'x.npz'), (e: unknown) => e instanceof UserError && /not a valid \.npy file/.test(e.message));
    assert.throws(() => readNpy(b.subarray(0, b.length - 4), 't.npy'), /needs 24 bytes of data, the file has 20/);
  });

  it('agrees with NumPy both ways (numpy.save / numpy.load)', () => {
    const py = python();
    const ours = samples();
    delete ours.empty;
    for (const [name, t] of Object.entries(ours)) fs.writeFileSync(path.join(tmp, `js_${name}.npy`), writeNpy(t));
    const script = `
import numpy as np, json, sys, os
d = sys.argv[1]
out = {}
for f in sorted(os.listdir(d)):
    if f.startswith('js_'):
        a = np.load(os.path.join(d, f))
        out[f[3:-4]] = {'dtype': a.dtype.str, 'shape': list(a.shape), 'repr': [repr(x) for x in a.reshape(-1).tolist()]}
np.save(os.path.join(d, 'py_f32.npy'), np.array([[1.5, -2], [np.nan, np.inf]], dtype=np.float32))
np.save(os.path.join(d, 'py_f16.npy'), np.array([0.1, 65504, -0.0], dtype=np.float16))
np.save(os.path.join(d, 'py_i64.npy'), np.array([2**62 + 1, -5], dtype=np.int64))
np.save(os.path.join(d, 'py_bool.npy'), np.array([True, False]))
np.save(os.path.join(d, 'py_big.npy'), np.arange(6, dtype='>i4').reshape(2, 3))
np.save(os.path.join(d, 'py_u.npy'), np.array(['ab', 'ünï'], dtype='<U3'))
np.save(os.path.join(d, 'py_s.npy'), np.array([b'xy', b'z'], dtype='|S2'))
np.save(os.path.join(d, 'py_t.npy'), np.asfortranarray(np.ones((2, 3), dtype=np.float32)).T)
np.save(os.path.join(d, 'py_f.npy'), np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
print(json.dumps(out))
`;
    const seen = JSON.parse(execFileSync(py, ['-c', script, tmp], { encoding: 'utf8' })) as Record<string, { dtype: string; shape: number[]; repr: string[] }>;
    assert.equal(seen.float32!.dtype, '<f4');
    assert.deepEqual(seen.float32!.shape, [2, 3]);
    assert.deepEqual(seen.float32!.repr, ['0.0', '-1.5', '3.25', 'nan', 'inf', '-inf']);
    assert.deepEqual(seen.float16!.repr, ['1.0', '-2.0', '0.5', '65504.0']);
    assert.deepEqual(seen.int64!.repr, [String(-(2n ** 63n)), '9007199254740993', '16000']);
    assert.deepEqual(seen.uint64!.repr, ['0', String(2n ** 64n - 1n)]);
    assert.equal(seen.bool!.dtype, '|b1');
    assert.deepEqual(seen.bool!.repr, ['True', 'False', 'True']);
    assert.deepEqual(seen.scalar!.shape, []);
    assert.equal(seen.string!.dtype, '<U5');
    assert.deepEqual(seen.string!.repr, ["'a'", "'héllo'", "'🙂x'"]);
    for (const [name, t] of Object.entries(ours)) if (t.dtype !== 'string') assert.equal(seen[name]!.dtype, DTYPES[t.dtype].numpy, name);

    const load = (f: string) => readNpy(fs.readFileSync(path.join(tmp, f)), f);
    const f32 = load('py_f32.npy');
    assert.deepEqual(f32.shape, [2, 2]);
    assert.deepEqual(Array.from(f32.data as Float32Array), [1.5, -2, NaN, Infinity]);
    assert.deepEqual(Array.from(toFloat64(load('py_f16.npy'))!), [halfToFloat(floatToHalf(0.1)), 65504, -0]);
    assert.deepEqual(Array.from(load('py_i64.npy').data as BigInt64Array), [2n ** 62n + 1n, -5n]);
    assert.deepEqual(Array.from(load('py_bool.npy').data as Uint8Array), [1, 0]);
    const big = load('py_big.npy');
    assert.equal(big.dtype, 'int32');
    assert.deepEqual(Array.from(big.data as Int32Array), [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(load('py_u.npy').data, ['ab', 'ünï']);
    assert.deepEqual(load('py_s.npy').data, ['xy', 'z']);
    // A transposed Fortran array is C-contiguous for NumPy, which saves it in C order; a Fortran one is refused.
    assert.deepEqual(load('py_t.npy').shape, [3, 2]);
    assert.throws(() => load('py_f.npy'), /Fortran-order/);
  });
});

describe('JSON tensors', () => {
  it('reads nested arrays, flat arrays with a shape, scalars and {dtype, shape, data} objects', () => {
    sameTensor(tensorFromJson([[1, 2], [3, 4]], { dtype: 'float32' }), { dtype: 'float32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) });
    sameTensor(tensorFromJson([1, 2, 3, 4, 5, 6], { dtype: 'int32', shape: [1, 2, 3] }), { dtype: 'int32', shape: [1, 2, 3], data: new Int32Array([1, 2, 3, 4, 5, 6]) });
    sameTensor(tensorFromJson(16000, { dtype: 'int64', shape: [] }), { dtype: 'int64', shape: [], data: new BigInt64Array([16000n]) });
    sameTensor(tensorFromJson({ dtype: 'int64', shape: [2], data: ['9007199254740993', -1] }), { dtype: 'int64', shape: [2], data: new BigInt64Array([9007199254740993n, -1n]) });
    sameTensor(tensorFromJson({ datatype: 'FP32', shape: [1, 2], data: [[0.5, 'NaN']] }), { dtype: 'float32', shape: [1, 2], data: new Float32Array([0.5, NaN]) });
    sameTensor(tensorFromJson([true, false]), { dtype: 'bool', shape: [2], data: new Uint8Array([1, 0]) });
    sameTensor(tensorFromJson(['a', 'b']), { dtype: 'string', shape: [2], data: ['a', 'b'] });
  });

  it('round-trips what tensorToJson prints, NaN/Inf and big int64 as strings', () => {
    const all = samples();
    all.float64 = { dtype: 'float64', shape: [3], data: new Float64Array([Math.PI, 0, 1e300]) }; // JSON has no -0
    for (const [name, t] of Object.entries(all)) {
      const j = JSON.parse(JSON.stringify(tensorToJson(t, name)));
      assert.equal(j.name, name);
      sameTensor(tensorFromJson(j), t);
    }
    assert.deepEqual(tensorToJson(samples().float32!).data, [0, -1.5, 3.25, 'NaN', 'Infinity', '-Infinity']);
    assert.deepEqual(tensorToJson({ dtype: 'int64', shape: [2], data: new BigInt64Array([1n, 2n]) }).data, [1, 2]);
    assert.deepEqual(tensorToJson(samples().int64!).data, [String(-(2n ** 63n)), '9007199254740993', '16000']);
  });

  it('names the input and the problem', () => {
    const err = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: unknown) => e instanceof UserError && re.test(e.message) && !!e.hint);
    err(() => tensorFromJson([[1, 2], [3]], { name: 'x' }), /input 'x' is ragged: data\[1\] has 1 entries where 2 were expected/);
    err(() => tensorFromJson([1.5], { name: 'sr', dtype: 'int64' }), /input 'sr': 1\.5 is not an integer/);
    err(() => tensorFromJson([300], { name: 'p', dtype: 'uint8' }), /300 does not fit in uint8/);
    err(() => tensorFromJson({ dtype: 'int32', data: [1] }, { name: 'x', dtype: 'int64' }), /input 'x' is given as int32 but the model expects int64/);
    err(() => tensorFromJson({ dtype: 'complex64', data: [1] }), /dtype 'complex64' is not a tensor type/);
    err(() => tensorFromJson({ shape: [2, 2], data: [1, 2, 3] }, { name: 'x' }), /input 'x' has 3 values but its shape \[2,2\] needs 4/);
    err(() => tensorFromJson([1, null]), /holds null/);
    err(() => tensorFromJson({ values: [] }), /has no "data" field/);
  });

  it('feedsFromJson takes an object keyed by input, a V2 request, or a bare value for a single input', () => {
    const inputs = [
      { name: 'input', dtype: 'float32' as const, shape: [1, null] },
      { name: 'sr', dtype: 'int64' as const, shape: [] },
    ];
    const keyed = feedsFromJson({ input: [[0.1, 0.2]], sr: 16000 }, inputs);
    assert.equal(keyed.sr!.dtype, 'int64');
    assert.deepEqual(keyed.input!.shape, [1, 2]);
    const v2 = feedsFromJson({ inputs: [{ name: 'input', shape: [1, 2], datatype: 'FP32', data: [1, 2] }, { name: 'sr', datatype: 'INT64', shape: [], data: [8000] }] }, inputs);
    assert.deepEqual(Array.from(v2.sr!.data as BigInt64Array), [8000n]);
    assert.deepEqual(Object.keys(feedsFromJson([[1, 2]], [inputs[0]!])), ['input']);
    assert.throws(() => feedsFromJson([1, 2], inputs), /gives one value but the model has 2 inputs/);
  });
});

describe('statistics', () => {
  it('tensorStats: range, moments over finite values, NaN and Inf counts, first values', () => {
    const s = tensorStats({ dtype: 'float32', shape: [6], data: new Float32Array([1, 2, 3, NaN, Infinity, -Infinity]) }, 4);
    assert.deepEqual({ ...s, first: s.first.map(String) }, { count: 6, min: 1, max: 3, mean: 2, std: Math.sqrt(2 / 3), nan: 1, inf: 2, first: ['1', '2', '3', 'NaN'] });
    const big = tensorStats({ dtype: 'int64', shape: [2], data: new BigInt64Array([2n ** 62n, 1n]) });
    assert.deepEqual(big.first, [String(2n ** 62n), 1]);
    assert.equal(tensorStats({ dtype: 'float16', shape: [2], data: Uint16Array.from([0.5, 1.5], floatToHalf) }).mean, 1);
    assert.equal(tensorStats({ dtype: 'float32', shape: [0], data: new Float32Array(0) }).mean, null);
    assert.deepEqual(tensorStats({ dtype: 'string', shape: [1], data: ['x'] }).first, ['x']);
    // Welford keeps precision where a naive sum of squares cancels.
    const offset = tensorStats({ dtype: 'float64', shape: [3], data: new Float64Array([1e9 + 1, 1e9 + 2, 1e9 + 3]) });
    assert.ok(Math.abs(offset.std! - Math.sqrt(2 / 3)) < 1e-6);
  });

  it('countNonFinite reads the bits of float32, float64 and float16', () => {
    assert.deepEqual(countNonFinite(samples().float32!), { nan: 1, inf: 2 });
    assert.deepEqual(countNonFinite({ dtype: 'float64', shape: [4], data: new Float64Array([NaN, -Infinity, 1e308, 0]) }), { nan: 1, inf: 1 });
    assert.deepEqual(countNonFinite({ dtype: 'float16', shape: [3], data: Uint16Array.from([NaN, Infinity, 1], floatToHalf) }), { nan: 1, inf: 1 });
    assert.deepEqual(countNonFinite(samples().int32!), { nan: 0, inf: 0 });
    const view = new Float32Array(new Float32Array([NaN, 1, 2, Infinity]).buffer, 4, 2); // a view into a larger buffer
    assert.deepEqual(countNonFinite({ dtype: 'float32', shape: [2], data: view }), { nan: 0, inf: 0 });
  });

  it('topK: largest first, probabilities from softmax or as given, per row', () => {
    const logits: Tensor = { dtype: 'float32', shape: [2, 4], data: new Float32Array([1, 3, 2, 0, 5, 4, 9, 1]) };
    const top = topK(logits, 2);
    assert.deepEqual(top.map((e) => e.index), [1, 2]);
    const p = softmax([1, 3, 2, 0]);
    assert.ok(Math.abs(top[0]!.probability! - p[1]!) < 1e-12);
    assert.deepEqual(topK(logits, 1, { row: 1 }).map((e) => e.index), [2]);
    const probs: Tensor = { dtype: 'float32', shape: [1, 3], data: new Float32Array([0.2, 0.7, 0.1]) };
    assert.ok(Math.abs(topK(probs, 1)[0]!.probability! - 0.7) < 1e-6);
    assert.equal(topK(probs, 1, { softmax: false })[0]!.probability, undefined);
    assert.deepEqual(topK({ dtype: 'float32', shape: [3], data: new Float32Array([NaN, 1, 2]) }, 3).map((e) => e.index), [2, 1, 0]);
  });
});
