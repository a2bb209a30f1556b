/**
 * NumPy's .npy format (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html): a magic string, a
 * version, a Python dict literal describing dtype, order and shape, then the raw elements. Versions 1.0, 2.0 and 3.0
 * differ only in the header's length field (2 or 4 bytes) and encoding (latin-1 or UTF-8). Read: every dtype of
 * dtypes.ts NumPy and onnxruntime-node both have, either byte order, plus fixed-width strings (`<U`, `|S`).
 * Written: little-endian, C order, version 1.0 unless the header needs more room.
 */
import { UserError } from '../errors';
import { DTYPES, type DType } from '../onnx/dtypes';
import { allocData, arrayTypeOf, elementCount, formatShape, type Tensor } from './tensor';

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

/** NumPy descr without the byte-order character → dtype. */
const FROM_DESCR = new Map<string, DType>(
  Object.entries(DTYPES).flatMap(([k, v]) => (v.numpy && arrayTypeOf(k as DType) ? [[v.numpy.slice(1), k as DType] as const] : [])),
);

export interface NpyHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
  /** Offset of the first element. */
  dataOffset: number;
  version: string;
}

function bad(what: string, name: string): UserError {
  return new UserError(`${name} is not a valid .npy file: ${what}.`, 'Write it with numpy.save(), or give the values as JSON.');
}

/** Parses the header of a .npy file (the dict literal NumPy writes with repr()). */
export function readNpyHeader(buf: Uint8Array, name = 'the file'): NpyHeader {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 10 || !b.subarray(0, 6).equals(MAGIC)) throw bad('it does not start with \\x93NUMPY', name);
  const major = b[6]!;
  const minor = b[7]!;
  if (major < 1 || major > 3) throw bad(`format version ${major}.${minor} is unknown (1.0, 2.0 and 3.0 are)`, name);
  const lenBytes = major === 1 ? 2 : 4;
  const headerLen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const start = 8 + lenBytes;
  if (start + headerLen > b.length) throw bad('the header runs past the end of the file', name);
  const text = b.subarray(start, start + headerLen).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]+)['"]/.exec(text)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw bad(descr === undefined && /['"]descr['"]\s*:\s*\[/.test(text) ? 'structured (record) dtypes are not tensors' : 'its header has no descr, fortran_order or shape', name);
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim().replace(/L$/, ''))
    .filter((s) => s !== '')
    .map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw bad(`its shape (${shapeText}) is not a list of sizes`, name);
  return { descr, fortranOrder: fortran === 'True', shape, dataOffset: start + headerLen, version: `${major}.${minor}` };
}

/** Reads a .npy file's bytes into a tensor. `name` (a file name) is used in error messages. */
export function readNpy(buf: Uint8Array, name = 'the file'): Tensor {
  const h = readNpyHeader(buf, name);
  if (h.fortranOrder) {
    throw new UserError(
      `${name} holds a Fortran-order (column-major) array; tensors are row-major (C order).`,
      'Save it with numpy.save(path, numpy.ascontiguousarray(a)).',
    );
  }
  const count = elementCount(h.shape);
  const order = h.descr[0]!;
  const kind = /^[<>|=]/.test(h.descr) ? h.descr.slice(1) : h.descr;
  const body = buf.subarray(h.dataOffset);
  const str = /^([US])(\d+)$/.exec(kind);
  if (str) return { dtype: 'string', shape: h.shape, data: readStrings(body, str[1] as 'U' | 'S', Number(str[2]), count, order === '>', name) };
  const dtype = FROM_DESCR.get(kind);
  if (!dtype) {
    const known = [...FROM_DESCR.keys()].join(', ');
    throw new UserError(
      `${name} holds NumPy dtype '${h.descr}', which has no onnxruntime-node tensor type.`,
      `Convert it with .astype(): the types that load are ${known}, and strings (U, S).`,
    );
  }
  const width = DTYPES[dtype].bits / 8;
  const bytes = count * width;
  if (body.length < bytes) throw bad(`shape ${formatShape(h.shape)} of '${h.descr}' needs ${bytes} bytes of data, the file has ${body.length}`, name);
  const data = allocData(dtype, count) as Exclude<Tensor['data'], string[]>;
  const out = new Uint8Array(data.buffer, data.byteOffset, bytes);
  out.set(body.subarray(0, bytes)); // a copy: the file's bytes are rarely aligned for the typed array
  if (order === '>' && width > 1) swapBytes(out, width);
  return { dtype, shape: h.shape, data };
}

function swapBytes(b: Uint8Array, width: number): void {
  for (let i = 0; i < b.length; i += width) b.subarray(i, i + width).reverse();
}

function readStrings(body: Uint8Array, kind: 'U' | 'S', chars: number, count: number, bigEndian: boolean, name: string): string[] {
  const width = kind === 'U' ? chars * 4 : chars;
  if (body.length < width * count) throw bad(`${count} strings of ${width} bytes need more data than the file has`, name);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const out = new Array<string>(count);
  for (let i = 0; i < count; i++) {
    const at = i * width;
    if (kind === 'S') {
      let end = at + width;
      while (end > at && body[end - 1] === 0) end--;
      out[i] = Buffer.from(body.buffer, body.byteOffset + at, end - at).toString('utf8');
      continue;
    }
    const cps: number[] = [];
    for (let c = 0; c < chars; c++) {
      const cp = view.getUint32(at + c * 4, !bigEndian);
      if (cp === 0) break;
      cps.push(cp);
    }
    out[i] = String.fromCodePoint(...cps);
  }
  return out;
}

/** A tensor as the bytes of a .npy file (little-endian, C order; strings as NumPy's fixed-width `<U`). */
export function writeNpy(t: Tensor): Buffer {
  let descr: string;
  let body: Uint8Array;
  if (t.dtype === 'string') {
    const strings = t.data as string[];
    const chars = Math.max(1, ...strings.map((s) => [...s].length));
    descr = `<U${chars}`;
    const view = new DataView(new ArrayBuffer(strings.length * chars * 4));
    strings.forEach((s, i) => [...s].forEach((ch, c) => view.setUint32((i * chars + c) * 4, ch.codePointAt(0)!, true)));
    body = new Uint8Array(view.buffer);
  } else {
    const numpy = DTYPES[t.dtype].numpy;
    if (!numpy || !arrayTypeOf(t.dtype)) throw new UserError(`${t.dtype} tensors have no NumPy dtype.`, 'Convert the tensor to a type NumPy has first.');
    descr = numpy;
    const d = t.data as Exclude<Tensor['data'], string[]>;
    body = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  }
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  // The header (magic, version, length, dict, padding, newline) is padded to a multiple of 64 bytes, as NumPy does.
  const v1 = dict.length + 1 + 10 <= 0xffff + 10;
  const pre = v1 ? 10 : 12;
  const total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  const header = Buffer.alloc(total, 0x20);
  MAGIC.copy(header, 0);
  header[6] = v1 ? 1 : 2;
  header[7] = 0;
  if (v1) header.writeUInt16LE(total - pre, 8);
  else header.writeUInt32LE(total - pre, 8);
  header.write(dict, pre, 'latin1');
  header[total - 1] = 0x0a;
  return Buffer.concat([header, body]);
}
