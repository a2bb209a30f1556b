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
