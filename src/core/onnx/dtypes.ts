/**
 * ONNX element types (TensorProto.DataType), with the names Modelyard uses everywhere else: onnxruntime-node's
 * tensor type names ("float32", "int64" …), NumPy's dtype strings for .npy files, and the Open Inference Protocol's
 * datatypes (KServe V2: "FP32", "INT64" …).
 */
export type DType =
  | 'float32'
  | 'uint8'
  | 'int8'
  | 'uint16'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'string'
  | 'bool'
  | 'float16'
  | 'float64'
  | 'uint32'
  | 'uint64'
  | 'complex64'
  | 'complex128'
  | 'bfloat16'
  | 'float8e4m3fn'
  | 'float8e4m3fnuz'
  | 'float8e5m2'
  | 'float8e5m2fnuz'
  | 'uint4'
  | 'int4'
  | 'float4e2m1'
  | 'float8e8m0'
  | 'uint2'
  | 'int2';

interface DTypeInfo {
  /** TensorProto.DataType number. */
  onnx: number;
  /** Bits per element (packed types such as int4 use fewer than 8); 0 for strings. */
  bits: number;
  /** NumPy's dtype string (little-endian), where NumPy has the type. */
  numpy?: string;
  /** KServe V2 datatype, where the protocol has one. */
  v2?: string;
}

export const DTYPES: Readonly<Record<DType, DTypeInfo>> = {
  float32: { onnx: 1, bits: 32, numpy: '<f4', v2: 'FP32' },
  uint8: { onnx: 2, bits: 8, numpy: '|u1', v2: 'UINT8' },
  int8: { onnx: 3, bits: 8, numpy: '|i1', v2: 'INT8' },
  uint16: { onnx: 4, bits: 16, numpy: '<u2', v2: 'UINT16' },
  int16: { onnx: 5, bits: 16, numpy: '<i2', v2: 'INT16' },
  int32: { onnx: 6, bits: 32, numpy: '<i4', v2: 'INT32' },
  int64: { onnx: 7, bits: 64, numpy: '<i8', v2: 'INT64' },
  string: { onnx: 8, bits: 0, v2: 'BYTES' },
  bool: { onnx: 9, bits: 8, numpy: '|b1', v2: 'BOOL' },
  float16: { onnx: 10, bits: 16, numpy: '<f2', v2: 'FP16' },
  float64: { onnx: 11, bits: 64, numpy: '<f8', v2: 'FP64' },
  uint32: { onnx: 12, bits: 32, numpy: '<u4', v2: 'UINT32' },
  uint64: { onnx: 13, bits: 64, numpy: '<u8', v2: 'UINT64' },
  complex64: { onnx: 14, bits: 64, numpy: '<c8' },
  complex128: { onnx: 15, bits: 128, numpy: '<c16' },
  bfloat16: { onnx: 16, bits: 16 },
  float8e4m3fn: { onnx: 17, bits: 8 },
  float8e4m3fnuz: { onnx: 18, bits: 8 },
  float8e5m2: { onnx: 19, bits: 8 },
  float8e5m2fnuz: { onnx: 20, bits: 8 },
  uint4: { onnx: 21, bits: 4 },
  int4: { onnx: 22, bits: 4 },
  float4e2m1: { onnx: 23, bits: 4 },
  float8e8m0: { onnx: 24, bits: 8 },
  uint2: { onnx: 25, bits: 2 },
  int2: { onnx: 26, bits: 2 },
};

/** The values each integer type of up to 32 bits holds (64-bit ones are bigints, checked apart). */
export const INT_RANGE: Partial<Record<DType, readonly [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
};

const BY_ONNX = new Map<number, DType>(Object.entries(DTYPES).map(([k, v]) => [v.onnx, k as DType]));
const BY_V2 = new Map<string, DType>(Object.entries(DTYPES).flatMap(([k, v]) => (v.v2 ? [[v.v2, k as DType] as const] : [])));

/** The name of an ONNX element type number; undefined for 0 (UNDEFINED) and numbers this version does not know. */
export function dtypeFromOnnx(n: number): DType | undefined {
  return BY_ONNX.get(n);
}

export function dtypeFromV2(datatype: string): DType | undefined {
  return BY_V2.get(datatype);
}

/** Bytes for `count` elements of a fixed-size type (packed types round up to whole bytes); undefined for strings. */
export function byteSize(dtype: DType, count: number): number | undefined {
  const bits = DTYPES[dtype].bits;
  return bits ? Math.ceil((bits * count) / 8) : undefined;
}
