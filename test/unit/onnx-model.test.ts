import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { Tensor } from '../../src/core/inference/tensor';
import { OnnxFormatError } from '../../src/core/onnx/errors';
import { AttributeProtoSchema, ModelProtoSchema, TensorProto_DataType as DT, TensorProtoSchema } from '../../src/core/onnx/gen/onnx_pb';
import { decodeModel, decodeTensor, encodeModel, encodeTensor, tensorFromProto, tensorToProto } from '../../src/core/onnx/model';
import { FIXTURES, fixture, python } from '../support/fixtures';
import { encode, matmulChain, richModel, tempDir, writeExternalDataModel } from '../support/onnx-models';

const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

/** Asserts fn throws an OnnxFormatError whose message matches re, and returns it. */
function formatError(fn: () => unknown, re: RegExp): OnnxFormatError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof OnnxFormatError, `expected an OnnxFormatError, got ${String(err)}`);
  assert.match(err.message, re);
  assert.ok(err.hint, 'a hint names the way out');
  return err;
}

describe('ONNX codec', () => {
  for (const f of FIXTURES) {
    it(`decodes and re-encodes ${f.file} byte for byte`, () => {
      const bytes = fs.readFileSync(fixture(f.file));
      const m = decodeModel(bytes, f.file);
      assert.ok(m.graph && m.graph.node.length > 0);
      assert.ok(same(encodeModel(m), bytes));
    });
  }

  it('keeps unknown fields (a newer schema\'s) and writes them after the known ones, as protobuf C++ does', () => {
    const base = encode(matmulChain(1, 2));
    // Field 99 (varint 5) and field 100 (bytes "hi") at the end of the model: what a future onnx.proto might add.
    const extra = Uint8Array.from([0x98, 0x06, 0x05, 0xa2, 0x06, 0x02, 0x68, 0x69]);
    const bytes = new Uint8Array([...base, ...extra]);
    const m = decodeModel(bytes);
    assert.equal(m.$unknown?.length, 2);
    assert.ok(same(encodeModel(m), bytes));
    // Interleaved unknown fields keep their content but move after the known fields (documented in model.ts).
    const interleaved = new Uint8Array([...extra, ...base]);
    const again = encodeModel(decodeModel(interleaved));
    assert.ok(!same(again, interleaved) && same(again, bytes));
  });

  it('keeps proto2 presence: a field set to its default value is written back', () => {
    const m = matmulChain(1, 2);
    m.domain = '';
    m.modelVersion = 0n;
    const bytes = toBinary(ModelProtoSchema, m);
    assert.ok(bytes.length > encode(matmulChain(1, 2)).length);
    assert.ok(same(encodeModel(decodeModel(bytes)), bytes));
  });

  it('gives back a signalling NaN in a float attribute as the quiet NaN (documented limit)', () => {
    const bytes = Buffer.from(toBinary(AttributeProtoSchema, create(AttributeProtoSchema, { name: 'alpha', f: 1 })));
    const at = bytes.length - 4; // f (field 2) is written last
    bytes.writeUInt32LE(0x7f800001, at);
    const back = Buffer.from(toBinary(AttributeProtoSchema, fromBinary(AttributeProtoSchema, bytes)));
    assert.equal(back.readUInt32LE(at), 0x7fc00001);
  });

  it('re-encodes the non-canonical encodings model.ts lists the way it says (same content, other bytes)', () => {
    const f32 = (x: number) => [...new Uint8Array(Float32Array.of(x).buffer)];
    const cases: [string, number[], number[]][] = [
      ['a closed-enum value the schema lacks moves to the end', [0x70, 0x05, 0x08, 0x02, 0x10, 0x01], [0x08, 0x02, 0x10, 0x01, 0x70, 0x05]],
      ['an unpacked-by-schema field written packed comes back unpacked', [0x0a, 0x02, 0x02, 0x03, 0x10, 0x01], [0x08, 0x02, 0x08, 0x03, 0x10, 0x01]],
      ['a packed-by-schema field written unpacked comes back packed', [0x10, 0x01, 0x25, ...f32(1), 0x25, ...f32(2)], [0x10, 0x01, 0x22, 0x08, ...f32(1), ...f32(2)]],
      ['a singular field written twice comes back once, the last value', [0x10, 0x01, 0x10, 0x07], [0x10, 0x07]],
      ['invalid UTF-8 in a string comes back as U+FFFD', [0x10, 0x01, 0x42, 0x01, 0xff], [0x10, 0x01, 0x42, 0x03, 0xef, 0xbf, 0xbd]],
      ['a varint written longer than needed comes back short', [0x10, 0x81, 0x00], [0x10, 0x01]],
    ];
    for (const [what, input, output] of cases) {
      assert.deepEqual([...encodeTensor(decodeTensor(Uint8Array.from(input)))], output, what);
    }
  });

  it('rejects an empty file, and names other formats', () => {
    formatError(() => decodeModel(new Uint8Array(0), 'model.onnx'), /^model\.onnx is not an ONNX model: the file is empty/);
    const cases: [string | Uint8Array, RegExp][] = [
      ['PK\x03\x04\x14\x00\x00\x00archive/data.pkl', /ZIP archive/],
      [new Uint8Array([0x93, ...Buffer.from("NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }")]), /NumPy array/],
      ['{"architectures": ["BertModel"], "hidden_size": 768}\n', /JSON file/],
      ['  \n[1, 2, 3]', /JSON file/],
      ['<!DOCTYPE html>\n<html><head><title>Sign in</title></head></html>', /HTML page/],
      ['version https://git-lfs.github.com/spec/v1\noid sha256:4d7a21\nsize 12345\n', /Git LFS pointer/],
      ['Just some notes about the model.\nNothing binary here.\n', /text file/],
      ['ir_version: 8\ngraph {\n  node {\n', /protobuf text format/],
      [new Uint8Array([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03]), /gzip/],
      [new Uint8Array([0x80, 0x04, 0x95, 0x10, 0x00, 0x00]), /Python pickle/],
      [new Uint8Array([0x89, ...Buffer.from('HDF\r\n\x1a\n\x00\x00\x00')]), /HDF5/],
    ];
    for (const [content, re] of cases) {
      const bytes = typeof content === 'string' ? new Uint8Array(Buffer.from(content, 'latin1')) : content;
      formatError(() => decodeModel(bytes, 'model.onnx'), re);
    }
  });

  it('says a truncated model is truncated, with where reading stopped', () => {
    const bytes = fs.readFileSync(fixture('hello_deepa.onnx'));
    const e = formatError(() => decodeModel(bytes.subarray(0, 200_000), 'hello_deepa.onnx'), /^hello_deepa\.onnx is not an ONNX model: the file ends in the middle of a field \(truncated download\?\)$/);
    assert.match(e.hint!, /^The file has 200000 bytes: graph \(bytes 22 to \d+\) runs past the end of the input\./);
  });

  it('says where the bytes stop making sense in a damaged model', () => {
    const bytes = new Uint8Array(encode(matmulChain(1, 2)));
    bytes[0] = 0x0f; // field 1 with wire type 7, which protobuf does not have
    const e = formatError(() => decodeModel(bytes, 'm.onnx'), /the bytes at offset 0 are not valid protocol buffer data/);
    assert.equal(e.offset, 0);
    // graph (field 7) written as a varint: protobuf-es would read garbage; the strict walk refuses it.
    formatError(() => decodeModel(Uint8Array.from([0x08, 0x08, 0x38, 0x05])), /not valid protocol buffer data/);
  });

  it('refuses protocol buffer data that holds no graph', () => {
    const noGraph = toBinary(ModelProtoSchema, create(ModelProtoSchema, { irVersion: 8n, producerName: 'x' }));
    formatError(() => decodeModel(noGraph, 'x.onnx'), /holds no graph/);
  });

  it('refuses messages nested deeper than protobuf allows', () => {
    // An attribute holding a graph holding a node holding an attribute … 40 times: 120 levels.
    let inner = new Uint8Array(0);
    const wrap = (no: number, body: Uint8Array) => new Uint8Array([(no << 3) | 2, ...varint(body.length), ...body]);
    for (let i = 0; i < 40; i++) inner = wrap(1, wrap(5, wrap(6, inner))); // graph.node.attribute.g
    formatError(() => decodeModel(wrap(7, inner)), /nest more than 100 levels/);
  });
});

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

describe('ONNX tensors', () => {
  const cases: Tensor[] = [
    { dtype: 'float32', shape: [2, 2], data: Float32Array.from([1, -2.5, 3e-8, Infinity]) },
    { dtype: 'float64', shape: [3], data: Float64Array.from([1, Math.PI, -0]) },
    { dtype: 'float16', shape: [2], data: Uint16Array.from([0x3c00, 0xc000]) },
    { dtype: 'bfloat16', shape: [2], data: Uint16Array.from([0x3f80, 0x4000]) },
    { dtype: 'int8', shape: [3], data: Int8Array.from([-128, 0, 127]) },
    { dtype: 'uint8', shape: [2], data: Uint8Array.from([0, 255]) },
    { dtype: 'int16', shape: [2], data: Int16Array.from([-32768, 7]) },
    { dtype: 'uint16', shape: [1], data: Uint16Array.from([65535]) },
    { dtype: 'int32', shape: [2], data: Int32Array.from([-1, 2 ** 31 - 1]) },
    { dtype: 'uint32', shape: [1], data: Uint32Array.from([2 ** 32 - 1]) },
    { dtype: 'int64', shape: [2, 1], data: BigInt64Array.from([-(2n ** 63n), 2n ** 53n + 1n]) },
    { dtype: 'uint64', shape: [1], data: BigUint64Array.from([2n ** 64n - 1n]) },
    { dtype: 'bool', shape: [3], data: Uint8Array.from([1, 0, 1]) },
    { dtype: 'string', shape: [2], data: ['hello', 'ünïcödé ✓'] },
    { dtype: 'int4', shape: [3], data: Int8Array.from([0x21, 0x0f]) },
    { dtype: 'uint4', shape: [4], data: Uint8Array.from([0x21, 0x43]) },
    { dtype: 'float8e4m3fn', shape: [2], data: Uint8Array.from([0x38, 0x40]) },
    { dtype: 'complex64', shape: [1], data: Float32Array.from([1, 2]) },
    { dtype: 'float32', shape: [0, 3], data: new Float32Array(0) },
  ];

  it('round-trips every element type through TensorProto bytes', () => {
    for (const t of cases) {
      const bytes = encodeTensor(tensorToProto(t, 'x'));
      const back = tensorFromProto(decodeTensor(bytes), undefined);
      assert.deepEqual(back, t, t.dtype);
    }
  });

  it('reads the typed *_data fields as well as raw_data', () => {
    const typed = (init: Parameters<typeof create<typeof TensorProtoSchema>>[1]) => tensorFromProto(create(TensorProtoSchema, init));
    assert.deepEqual(typed({ dims: [2n], dataType: DT.FLOAT, floatData: [1.5, -2] }).data, Float32Array.from([1.5, -2]));
    assert.deepEqual(typed({ dims: [2n], dataType: DT.INT64, int64Data: [-5n, 9n] }).data, BigInt64Array.from([-5n, 9n]));
    assert.deepEqual(typed({ dims: [2n], dataType: DT.FLOAT16, int32Data: [0x3c00, 0xc000] }).data, Uint16Array.from([0x3c00, 0xc000]));
    assert.deepEqual(typed({ dims: [3n], dataType: DT.BOOL, int32Data: [1, 0, 1] }).data, Uint8Array.from([1, 0, 1]));
    assert.deepEqual(typed({ dims: [2n], dataType: DT.INT8, int32Data: [-3, 4] }).data, Int8Array.from([-3, 4]));
    assert.deepEqual(typed({ dims: [1n], dataType: DT.UINT32, uint64Data: [4294967295n] }).data, Uint32Array.from([4294967295]));
    assert.deepEqual(typed({ dims: [1n], dataType: DT.DOUBLE, doubleData: [0.1] }).data, Float64Array.from([0.1]));
    assert.deepEqual(typed({ dims: [3n], dataType: DT.INT4, int32Data: [0x21, 0x03] }).data, Int8Array.from([0x21, 0x03]));
    assert.deepEqual(typed({ dims: [], dataType: DT.STRING, stringData: [Buffer.from('s')] }), { dtype: 'string', shape: [], data: ['s'] });
  });

  it('refuses data that does not fit the shape, and types it does not know, as user errors', () => {
    assert.throws(() => tensorFromProto(create(TensorProtoSchema, { dims: [3n], dataType: DT.FLOAT, rawData: new Uint8Array(8) })), /holds 8 bytes of data, but its shape needs 12/);
    assert.throws(() => tensorFromProto(create(TensorProtoSchema, { dims: [3n], dataType: DT.FLOAT, floatData: [1] })), /holds 1 values, but its shape needs 3/);
    assert.throws(() => tensorFromProto(create(TensorProtoSchema, { name: 'q', dims: [1n], dataType: 27, rawData: new Uint8Array(1) })), /tensor 'q' has element type 27/);
  });

  it('reads external data beside the model, and says which file is missing', () => {
    const dir = tempDir();
    try {
      const { file } = writeExternalDataModel(dir, 2, 4);
      const m = decodeModel(fs.readFileSync(file));
      const original = matmulChain(2, 4).graph!.initializer.map((t) => tensorFromProto(t));
      assert.deepEqual(m.graph!.initializer.map((t) => tensorFromProto(t, dir)), original);
      assert.throws(() => tensorFromProto(m.graph!.initializer[0]!), /keeps its data in the external file weights\.bin/);
      fs.rmSync(path.join(dir, 'weights.bin'));
      assert.throws(() => tensorFromProto(m.graph!.initializer[0]!, dir), /external data file weights\.bin of tensor 'w0' is missing/);
      m.graph!.initializer[0]!.externalData[0]!.value = '../../etc/passwd';
      assert.throws(() => tensorFromProto(m.graph!.initializer[0]!, dir), /outside the model's folder/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes tensors as numpy_helper.from_array does, byte for byte', () => {
    const dir = tempDir();
    try {
      const script = `
import sys, numpy as np
from onnx import numpy_helper
arrays = {
  "f32": np.array([[1.5, -2.0], [3.25, 0.0]], dtype=np.float32),
  "f16": np.array([1.0, -2.0, 65504.0], dtype=np.float16),
  "i64": np.array([-(2**63), 5, 2**53 + 1], dtype=np.int64),
  "u8": np.arange(5, dtype=np.uint8),
  "b": np.array([True, False, True]),
  "s": np.array(["a", "bc", "ünï"], dtype=object),
  "empty": np.zeros((0, 4), dtype=np.float32),
  "scalar": np.array(7, dtype=np.int32),
}
for k, a in arrays.items():
    open(f"{sys.argv[1]}/{k}.pb", "wb").write(numpy_helper.from_array(a, k).SerializeToString())
`;
      const r = spawnSync(python(), ['-c', script, dir], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      for (const f of fs.readdirSync(dir)) {
        const bytes = fs.readFileSync(path.join(dir, f));
        const t = decodeTensor(bytes, f);
        assert.ok(same(encodeTensor(t), bytes), `${f}: decode → encode`);
        assert.ok(same(encodeTensor(tensorToProto(tensorFromProto(t), t.name)), bytes), `${f}: → Tensor → TensorProto`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('decodes the rich test model and keeps its bytes', () => {
    const bytes = encode(richModel());
    assert.ok(same(encodeModel(decodeModel(bytes)), bytes));
  });
});
