/**
 * Reading and writing ONNX models and tensors (protobuf-es over the vendored onnx.proto), and converting tensors
 * between their ONNX form and the Tensor that crosses Modelyard's boundaries.
 *
 * Round trip: decode → encode gives back the same bytes for what protobuf C++ and Python write (checked on the
 * fixture models and on every model and tensor of the ONNX node conformance suite), because protobuf-es writes
 * fields in field-number order, keeps proto2 presence (a field set to its default is written again), keeps unknown
 * fields, and writes packed exactly the fields onnx.proto declares packed. Where the bytes can still differ (the
 * content is the same):
 *   - unknown fields are written after the known ones, as C++ and Python write them; a writer that interleaves them
 *     gets them moved to the end;
 *   - a closed-enum field holding a value the schema lacks (AttributeProto.type, TensorProto.data_location) is kept
 *     as an unknown field, so it also moves to the end;
 *   - a repeated number written packed where the schema says unpacked, or the other way round, comes back the
 *     schema's way; a non-repeated field written twice comes back once (the last value; messages merged);
 *   - a float or double held as a number (AttributeProto.f/floats, TensorProto.float_data/double_data) that is a
 *     signalling NaN comes back as the quiet NaN (JavaScript numbers cannot hold signalling NaNs); raw_data is
 *     bytes and always comes back exactly;
 *   - a string field (names, doc strings) holding invalid UTF-8 comes back with U+FFFD in its place, as protobuf-es
 *     decodes proto2 strings leniently (C++ and Python do not check proto2 strings either, but keep the bytes);
 *   - varints written longer than needed (no known writer does) come back in their shortest form.
 *
 * Decoded bytes fields (raw_data …) are views into the input: keep the input unchanged while the model is in use.
 */
import fs from 'node:fs';
import path from 'node:path';
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import { firstLine, UserError } from '../errors';
import type { Tensor, TensorData } from '../inference/tensor';
import { byteSize, DTYPES, dtypeFromOnnx, type DType } from './dtypes';
import { HINT_AGAIN, OnnxFormatError, sniffOtherFormat, type OnnxFileKind } from './errors';
import { ModelProtoSchema, TensorProto_DataLocation, TensorProtoSchema, type ModelProto, type TensorProto } from './gen/onnx_pb';
import { MAX_DEPTH, walkBytes, WireError } from './wire';

export { OnnxFormatError } from './errors';
export type { ModelProto, TensorProto } from './gen/onnx_pb';

/** Why protocol buffer data that reads cleanly is still not a model. */
export const NO_GRAPH = 'it holds no graph: protocol buffer data, but not an ONNX model';

/**
 * Decodes an ONNX model. Anything that is not one (truncated, damaged, empty, another kind of file) throws an
 * OnnxFormatError naming `name`; nothing else is thrown.
 */
export function decodeModel(bytes: Uint8Array, name = 'the file'): ModelProto {
  const m = decodeChecked(ModelProtoSchema, bytes, name, 'model');
  if (!m.graph) throw notOnnx(bytes, name, 'model', NO_GRAPH);
  return m;
}

export function encodeModel(m: ModelProto): Uint8Array {
  return toBinary(ModelProtoSchema, m);
}

/** Decodes a TensorProto file (the input_0.pb / output_0.pb of ONNX test data sets). */
export function decodeTensor(bytes: Uint8Array, name = 'the file'): TensorProto {
  const t = decodeChecked(TensorProtoSchema, bytes, name, 'tensor');
  if (!t.dataType && !t.dims.length && !t.rawData.length) throw notOnnx(bytes, name, 'tensor', 'it holds no element type, shape or data');
  return t;
}

export function encodeTensor(t: TensorProto): Uint8Array {
  return toBinary(TensorProtoSchema, t);
}

/**
 * The bytes are first walked strictly (wire.ts), so a problem is reported with its place and kind before
 * protobuf-es, which trusts wire types, could read garbage.
 */
function decodeChecked<D extends DescMessage>(schema: D, bytes: Uint8Array, name: string, kind: OnnxFileKind): MessageShape<D> {
  if (bytes.length === 0) throw notOnnx(bytes, name, kind, '');
  try {
    walkBytes(bytes, schema, {}, false);
  } catch (e) {
    if (e instanceof WireError) throw notOnnx(bytes, name, kind, '', e);
    throw e;
  }
  try {
    return fromBinary(schema, bytes);
  } catch (e) {
    throw new OnnxFormatError(name, `protobuf-es could not decode it (${firstLine(String(e))})`, HINT_AGAIN, undefined, kind);
  }
}

/**
 * The error for bytes that did not read as ONNX: a recognised other format first, then where the walk stopped,
 * then the given reason.
 */
export function notOnnx(bytes: Uint8Array, name: string, kind: OnnxFileKind, reason: string, e?: WireError, size = bytes.length): OnnxFormatError {
  const other = sniffOtherFormat(bytes.subarray(0, 1024), size);
  if (other) return new OnnxFormatError(name, other.reason, other.hint, undefined, kind);
  if (e) return wireFormatError(e, name, size, kind);
  return new OnnxFormatError(name, reason, HINT_AGAIN, undefined, kind);
}

/** A WireError in the words of the brief: what happened, where, and what to do. */
export function wireFormatError(e: WireError, name: string, size: number, kind: OnnxFileKind = 'model'): OnnxFormatError {
  const where = e.where ? ` (in ${e.where})` : '';
  switch (e.problem) {
    case 'truncated':
      return new OnnxFormatError(
        name,
        'the file ends in the middle of a field (truncated download?)',
        `The file has ${size} bytes: ${e.detail}. ${HINT_AGAIN}`,
        e.offset,
        kind,
      );
    case 'deep':
      return new OnnxFormatError(
        name,
        `its messages nest more than ${MAX_DEPTH} levels deep${where}`,
        'ONNX Runtime and protobuf refuse such files too: flatten the nested If/Loop/Scan bodies, or check that the file is not damaged.',
        e.offset,
        kind,
      );
    default:
      return new OnnxFormatError(name, `the bytes at offset ${e.offset}${where} are not valid protocol buffer data (a damaged file?)`, `${e.detail}. ${HINT_AGAIN}`, e.offset, kind);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Tensors

/**
 * The Tensor held by a TensorProto, in the typed array tensor.ts names for its type. Reads raw_data (little-endian,
 * copied to an aligned buffer), the typed *_data fields, and external data (relative to `baseDir`, the folder of
 * the model). Types beyond onnxruntime's: bfloat16 as Uint16Array bits, float8 types as Uint8Array bits, complex64 /
 * complex128 as Float32Array / Float64Array of interleaved real and imaginary parts (twice the elements), and
 * packed sub-byte types (int4 as Int8Array, uint4, float4e2m1, int2, uint2 as Uint8Array) as their packed bytes,
 * two or four elements a byte. None of these reaches onnxruntime-node: its binding has no tensor for them (1.30
 * refuses int4 and uint4 too, "Tensor.type is not supported", though onnxruntime-common describes them).
 */
export function tensorFromProto(t: TensorProto, baseDir?: string): Tensor {
  const label = t.name ? `tensor '${t.name}'` : 'a tensor';
  const dtype = dtypeFromOnnx(t.dataType);
  if (!dtype) {
    throw new UserError(`${label} has element type ${t.dataType}, which Modelyard does not know.`, 'Modelyard reads ONNX element types 1 to 26 (float32 to int2); the float6 types (27, 28) are not supported yet.');
  }
  const shape = t.dims.map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(count) || count < 0) throw new UserError(`${label} has an impossible shape [${shape.join(', ')}].`, HINT_AGAIN);
  if (t.dataLocation === TensorProto_DataLocation.EXTERNAL) {
    return { dtype, shape, data: fromRaw(dtype, readExternal(t, label, dtype, count, baseDir), count, label) };
  }
  if (t.rawData.length > 0 || (dtype !== 'string' && !typedLength(t, dtype))) {
    return { dtype, shape, data: fromRaw(dtype, t.rawData, count, label) };
  }
  return { dtype, shape, data: fromTyped(dtype, t, count, label) };
}

/**
 * A TensorProto holding `t`, as numpy_helper.from_array writes it: dims, data_type, the name when given, and the
 * elements in raw_data (strings in string_data). raw_data is a view of the tensor's memory, not a copy.
 */
export function tensorToProto(t: Tensor, name?: string): TensorProto {
  const init: MessageInitShape<typeof TensorProtoSchema> = { dims: t.shape.map(BigInt), dataType: DTYPES[t.dtype].onnx };
  if (name) init.name = name;
  if (t.dtype === 'string') {
    const enc = new TextEncoder();
    init.stringData = (t.data as string[]).map((s) => enc.encode(s));
  } else {
    const d = t.data as Exclude<TensorData, string[]>;
    init.rawData = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  }
  return create(TensorProtoSchema, init);
}

/** Elements (or packed bytes, or interleaved parts) a data array holds for `count` elements of a type. */
function storedLength(dtype: DType, count: number): number {
  if (dtype === 'complex64' || dtype === 'complex128') return 2 * count;
  const bits = DTYPES[dtype].bits;
  return bits < 8 ? Math.ceil((bits * count) / 8) : count;
}

function arrayFor(dtype: DType, buf: ArrayBuffer, n: number): TensorData {
  switch (dtype) {
    case 'float32':
    case 'complex64':
      return new Float32Array(buf, 0, n);
    case 'float64':
    case 'complex128':
      return new Float64Array(buf, 0, n);
    case 'int8':
    case 'int4':
      return new Int8Array(buf, 0, n);
    case 'int16':
      return new Int16Array(buf, 0, n);
    case 'uint16':
    case 'float16':
    case 'bfloat16':
      return new Uint16Array(buf, 0, n);
    case 'int32':
      return new Int32Array(buf, 0, n);
    case 'uint32':
      return new Uint32Array(buf, 0, n);
    case 'int64':
      return new BigInt64Array(buf, 0, n);
    case 'uint64':
      return new BigUint64Array(buf, 0, n);
    default:
      return new Uint8Array(buf, 0, n); // uint8, bool, float8 types, packed sub-byte types
  }
}

/** Little-endian bytes to a typed array (the host is little-endian: x86-64 and arm64, where Modelyard runs). */
function fromRaw(dtype: DType, raw: Uint8Array, count: number, label: string): TensorData {
  if (dtype === 'string') throw new UserError(`${label} is a string tensor with raw_data, which ONNX does not allow.`, HINT_AGAIN);
  const want = byteSize(dtype, count)!;
  if (raw.length !== want) throw new UserError(`${label} holds ${raw.length} bytes of data, but its shape needs ${want}.`, HINT_AGAIN);
  const copy = new Uint8Array(want);
  copy.set(raw);
  return arrayFor(dtype, copy.buffer, storedLength(dtype, count));
}

/** The typed *_data field that holds elements of `dtype` (ONNX's rules, onnx.proto TensorProto). */
function typedField(t: TensorProto, dtype: DType): readonly (number | bigint)[] | Uint8Array[] {
  switch (dtype) {
    case 'float32':
    case 'complex64':
      return t.floatData;
    case 'float64':
    case 'complex128':
      return t.doubleData;
    case 'int64':
      return t.int64Data;
    case 'uint32':
    case 'uint64':
      return t.uint64Data;
    case 'string':
      return t.stringData;
    default:
      return t.int32Data;
  }
}

function typedLength(t: TensorProto, dtype: DType): number {
  return typedField(t, dtype).length;
}

function fromTyped(dtype: DType, t: TensorProto, count: number, label: string): TensorData {
  const src = typedField(t, dtype);
  const n = dtype === 'string' ? count : storedLength(dtype, count);
  if (src.length !== n) throw new UserError(`${label} holds ${src.length} values, but its shape needs ${n}.`, HINT_AGAIN);
  if (dtype === 'string') {
    const dec = new TextDecoder();
    return (src as Uint8Array[]).map((b) => dec.decode(b));
  }
  const out = arrayFor(dtype, new ArrayBuffer(n * (DTYPES[dtype].bits < 8 ? 1 : elementBytes(dtype))), n);
  if (out instanceof BigInt64Array) for (let i = 0; i < n; i++) out[i] = BigInt.asIntN(64, src[i] as bigint);
  else if (out instanceof BigUint64Array) for (let i = 0; i < n; i++) out[i] = BigInt.asUintN(64, src[i] as bigint);
  // uint32 comes from uint64_data (bigint); the rest from int32_data, float_data, double_data (numbers), where
  // the typed array's conversion wraps (bool, int8, uint8, float16 bits …) as the spec's bitwise rule asks.
  else for (let i = 0; i < n; i++) (out as Float64Array)[i] = Number(src[i]);
  return out;
}

function elementBytes(dtype: DType): number {
  return dtype === 'complex64' ? 4 : dtype === 'complex128' ? 8 : DTYPES[dtype].bits / 8;
}

/** The bytes of an external-data tensor: `location` under the model's folder, from `offset`, `length` bytes. */
function readExternal(t: TensorProto, label: string, dtype: DType, count: number, baseDir: string | undefined): Uint8Array {
  const kv = new Map(t.externalData.map((e) => [e.key, e.value]));
  const location = kv.get('location');
  if (!location) throw new UserError(`${label} keeps its data outside the model but names no location.`, HINT_AGAIN);
  if (baseDir === undefined) {
    throw new UserError(`${label} keeps its data in the external file ${location}.`, 'Open the model from its file, beside its external data, not from bytes.');
  }
  const file = externalPath(baseDir, location);
  if (!file) throw new UserError(`${label} names the external file ${location}, outside the model's folder.`, 'ONNX external data must live in the model\'s folder: move the file there and fix the location.');
  const offset = Number(kv.get('offset') ?? 0);
  const length = kv.has('length') ? Number(kv.get('length')) : byteSize(dtype, count);
  if (dtype === 'string' || length === undefined) throw new UserError(`${label} is a string tensor in external data, which ONNX does not allow.`, HINT_AGAIN);
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new UserError(`${label} has an invalid offset or length for ${location}.`, HINT_AGAIN);
  }
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    throw new UserError(`the external data file ${location} of ${label} is missing (looked in ${baseDir}).`, 'Copy the model together with its external data files, keeping them side by side.');
  }
  try {
    const out = new Uint8Array(length);
    let got = 0;
    while (got < length) {
      const n = fs.readSync(fd, out, got, length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    if (got < length) throw new UserError(`the external data file ${location} ends before the data of ${label} (needs ${offset + length} bytes).`, HINT_AGAIN);
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

/** The path of an external data file, or undefined when `location` leaves `baseDir` (absolute or with ".."). */
export function externalPath(baseDir: string, location: string): string | undefined {
  if (path.isAbsolute(location)) return undefined;
  const full = path.resolve(baseDir, location);
  const rel = path.relative(path.resolve(baseDir), full);
  return rel && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel) ? full : undefined;
}
