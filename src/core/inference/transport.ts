/**
 * How tensor bytes cross between the host and the worker. Small tensors travel inside the IPC message (the V8
 * serializer copies typed arrays as raw bytes). Large ones go through a scratch file in /dev/shm (RAM) that both
 * processes hold open: the sender writes the bytes at an offset, the message carries only {offset, byteLength}, the
 * receiver reads them straight into the typed array it will use.
 *
 * Measured on the OCR detector (4.9 MB in, 1.6 MB out per run): the IPC channel added 7.8 ms a run, the scratch file
 * 3.8 ms. The channel's cost is its chunking (a socket buffer at a time, a wake-up per chunk), the reassembly
 * of the chunks into one buffer and the serializer's growing buffer; the file costs one copy each side.
 *
 * The file is created and unlinked by the host before the worker starts, and handed to it as an inherited file
 * descriptor: no name exists to leak, and the kernel frees the memory when both processes have exited, crashes
 * included. Where /dev/shm is missing (macOS, Windows) or full (containers often give it 64 MB), the tensors take
 * the IPC channel instead.
 */
import fs from 'node:fs';
import path from 'node:path';
import { arrayTypeOf, type Tensor, type TensorData } from './tensor';

/** Tensors below this many bytes stay in the message: a file round trip costs more than copying them. */
export const INLINE_MAX_BYTES = 64 * 1024;

/** Past this size the scratch file is truncated after the call, to give the RAM back. */
const KEEP_MAX_BYTES = 256 * 1024 * 1024;

/** The stdio index at which the worker inherits the scratch file. */
export const SHARED_FD_INDEX = 4;

/** A tensor whose bytes are in the scratch file. */
export interface SharedTensor {
  dtype: Tensor['dtype'];
  shape: number[];
  shared: { offset: number; byteLength: number };
}

export type WireTensor = Tensor | SharedTensor;

export function isShared(t: WireTensor): t is SharedTensor {
  return (t as SharedTensor).shared !== undefined;
}

/** Creates the scratch file and unlinks its name at once; undefined when the system has no /dev/shm. */
export function openSharedFile(): number | undefined {
  const dir = '/dev/shm';
  if (process.platform !== 'linux' || !fs.existsSync(dir)) return undefined;
  const file = path.join(dir, `modelyard-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`);
  try {
    const fd = fs.openSync(file, 'wx+', 0o600);
    fs.unlinkSync(file);
    return fd;
  } catch {
    return undefined;
  }
}

function bytesOf(d: Exclude<TensorData, string[]>): Uint8Array {
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** Writes all of `bytes` at `position` (writeSync may write less than asked, and takes at most 2 GiB at once). */
function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) {
    done += fs.writeSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 30), position + done);
  }
}

function readAll(fd: number, into: Uint8Array, position: number): void {
  let done = 0;
  while (done < into.length) {
    const n = fs.readSync(fd, into, done, Math.min(into.length - done, 1 << 30), position + done);
    if (n === 0) throw new Error(`the shared scratch file ended at ${position + done} bytes`);
    done += n;
  }
}

/**
 * One side's view of the scratch file. Only one call is in flight at a time (the host queues), so each message
 * may use the file from offset 0.
 */
export class SharedFile {
  constructor(readonly fd: number | undefined) {}

  /**
   * The tensors as they go into a message: large numeric ones written to the file, the rest as they are. When the
   * file cannot take them (no /dev/shm, or it is full), every tensor stays in the message.
   */
  pack(tensors: Record<string, Tensor>): Record<string, WireTensor> {
    const out: Record<string, WireTensor> = {};
    let offset = 0;
    try {
      for (const [name, t] of Object.entries(tensors)) {
        const d = t.data;
        if (this.fd === undefined || Array.isArray(d) || d.byteLength < INLINE_MAX_BYTES) {
          out[name] = t;
          continue;
        }
        writeAll(this.fd, bytesOf(d), offset);
        out[name] = { dtype: t.dtype, shape: t.shape, shared: { offset, byteLength: d.byteLength } };
        offset += d.byteLength;
      }
      return out;
    } catch {
      // ENOSPC and the like: give back what was written, and use the channel, which always works.
      this.truncate();
      return tensors;
    }
  }

  /**
   * The tensors of a message, those in the file read into typed arrays: from `reuse` (the worker's buffers from
   * the previous call, when the same size) or freshly allocated.
   */
  unpack(wire: Record<string, WireTensor>, reuse?: Map<string, Tensor['data']>): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    let end = 0;
    for (const [name, t] of Object.entries(wire)) {
      if (!isShared(t)) {
        out[name] = t;
        continue;
      }
      if (this.fd === undefined) throw new Error('a tensor came through a shared file this side does not have');
      const prev = reuse?.get(name);
      const data = prev && !Array.isArray(prev) && prev.byteLength === t.shared.byteLength && sameType(prev, t.dtype) ? prev : uninitialized(t.dtype, t.shared.byteLength);
      readAll(this.fd, bytesOf(data as Exclude<TensorData, string[]>), t.shared.offset);
      reuse?.set(name, data);
      out[name] = { dtype: t.dtype, shape: t.shape, data };
      end = Math.max(end, t.shared.offset + t.shared.byteLength);
    }
    if (end > KEEP_MAX_BYTES) this.truncate();
    return out;
  }

  /** Gives the file's memory back (tmpfs pages count as RAM). */
  private truncate(): void {
    if (this.fd === undefined) return;
    try {
      fs.ftruncateSync(this.fd, 0);
    } catch {
      // nothing to give back
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      fs.closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}

/** The alignment onnxruntime's CPU kernels get from an allocation of their own (malloc's, on x86-64 and arm64). */
const FEED_ALIGN = 16;

/**
 * The data as onnxruntime reads it in place: itself, or a copy on aligned memory when it starts off a 16-byte
 * boundary. A typed array that arrived inside an IPC message is a view into the message at the offset where the
 * serializer put it, aligned to its element size only; and some of onnxruntime's kernels take another path on
 * misaligned data (ReduceSum and ReduceMean, so LayerNormalization and GroupNormalization written as functions,
 * sum in another order). Without the copy, a model's outputs differed in their last bits from the same run in the
 * caller's own process, and depended on the names and sizes of the other feeds in the message. Tensors from the
 * scratch file are aligned already (a buffer of their own), and small copies cost microseconds.
 */
export function alignedData(d: Tensor['data']): Tensor['data'] {
  if (Array.isArray(d) || d.byteOffset % FEED_ALIGN === 0) return d;
  const copy = new (d.constructor as new (n: number) => typeof d)(d.length);
  (copy as Uint8Array).set(d as Uint8Array);
  return copy;
}

function sameType(d: Tensor['data'], dtype: Tensor['dtype']): boolean {
  const Ctor = arrayTypeOf(dtype);
  return Ctor !== undefined && d instanceof Ctor;
}

/** A typed array over memory that is not zeroed first: every byte of it is about to be read into. */
function uninitialized(dtype: Tensor['dtype'], byteLength: number): Exclude<TensorData, string[]> {
  const Ctor = arrayTypeOf(dtype) as unknown as (new (b: ArrayBufferLike, offset: number, length: number) => Exclude<TensorData, string[]>) & { BYTES_PER_ELEMENT: number };
  const buf = Buffer.allocUnsafeSlow(byteLength);
  return new Ctor(buf.buffer, buf.byteOffset, byteLength / Ctor.BYTES_PER_ELEMENT);
}
