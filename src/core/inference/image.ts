/**
 * Images as model inputs: PNG (pngjs) and JPEG (jpeg-js) decoded to RGBA, resized bilinearly, laid out NCHW or
 * NHWC, normalised per channel. The conventions are torchvision's and PaddleOCR's: pixel × scale, then
 * (value − mean[c]) / std[c], channels in the order the tensor holds them.
 */
import { PNG } from 'pngjs';
import * as jpeg from 'jpeg-js';
import { UserError, firstLine } from '../errors';

export interface Rgba {
  width: number;
  height: number;
  /** width × height × 4 bytes, row-major, straight (not premultiplied) alpha. */
  data: Uint8Array;
}

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47];
const JPEG_MAGIC = [0xff, 0xd8, 0xff];

function startsWith(b: Uint8Array, magic: number[]): boolean {
  return magic.every((v, i) => b[i] === v);
}

/** Decodes a PNG or JPEG file's bytes (recognised by content, not by name). `name` is for messages. */
export function decodeImage(bytes: Uint8Array, name = 'the image', maxPixels = 100e6): Rgba {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    if (startsWith(bytes, PNG_MAGIC)) {
      const png = PNG.sync.read(buf);
      return { width: png.width, height: png.height, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
    }
    if (startsWith(bytes, JPEG_MAGIC)) {
      const img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: maxPixels / 1e6, maxMemoryUsageInMB: 2048 });
      return { width: img.width, height: img.height, data: img.data };
    }
  } catch (e) {
    throw new UserError(`${name} could not be decoded: ${firstLine(e instanceof Error ? e.message : String(e))}.`, 'Check that the file is a complete PNG or JPEG image.');
  }
  throw new UserError(`${name} is not a PNG or JPEG image.`, 'Convert it to PNG or JPEG (other formats are not read).');
}

/** Bilinear resize with half-pixel centres (OpenCV's INTER_LINEAR, PIL's without antialiasing) of RGBA pixels. */
export function resizeBilinear(src: Rgba, width: number, height: number): Rgba {
  if (src.width === width && src.height === height) return src;
  const out = new Uint8Array(width * height * 4);
  const sx = src.width / width;
  const sy = src.height / height;
  for (let y = 0; y < height; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), src.height - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, src.height - 1);
    const wy = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), src.width - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, src.width - 1);
      const wx = fx - x0;
      const a = (y0 * src.width + x0) * 4;
      const b = (y0 * src.width + x1) * 4;
      const c = (y1 * src.width + x0) * 4;
      const d = (y1 * src.width + x1) * 4;
      const o = (y * width + x) * 4;
      for (let k = 0; k < 4; k++) {
        const top = src.data[a + k]! + (src.data[b + k]! - src.data[a + k]!) * wx;
        const bottom = src.data[c + k]! + (src.data[d + k]! - src.data[c + k]!) * wx;
        out[o + k] = Math.round(top + (bottom - top) * wy);
      }
    }
  }
  return { width, height, data: out };
}

export type Layout = 'NCHW' | 'NHWC';

export interface ImageLayout {
  layout: Layout;
  /** Where N, C, H and W sit in the shape (N is -1 for a rank-3 input without batch). */
  n: number;
  c: number;
  h: number;
  w: number;
}

/**
 * Where the channels are, from a shape: rank 4 or 3, channels first when that dim is 1, 3 or 4, else last when
 * that one is. `layout` forces the answer. Undefined when the shape cannot hold an image.
 */
export function imageLayout(shape: readonly number[], layout?: Layout): ImageLayout | undefined {
  const off = shape.length === 4 ? 1 : shape.length === 3 ? 0 : -1;
  if (off < 0) return undefined;
  const n = off === 1 ? 0 : -1;
  const channelsLike = (d: number | undefined) => d === 1 || d === 3 || d === 4;
  const chosen = layout ?? (channelsLike(shape[off]) ? 'NCHW' : channelsLike(shape[off + 2]) ? 'NHWC' : undefined);
  if (!chosen) return undefined;
  return chosen === 'NCHW' ? { layout: chosen, n, c: off, h: off + 1, w: off + 2 } : { layout: chosen, n, c: off + 2, h: off, w: off + 1 };
}

export interface PixelOptions {
  /** Channel order of a 3- or 4-channel tensor; default RGB (OpenCV-trained models want BGR). */
  channelOrder?: 'RGB' | 'BGR';
  /** Multiplies each 0–255 value first; default 1/255. */
  scale?: number;
  /** Per channel of the tensor (after the RGB/BGR order), subtracted after scaling; default 0. */
  mean?: number[];
  /** Per channel, divided by after the mean; default 1. */
  std?: number[];
}

/**
 * Writes an RGBA image (already at the tensor's H×W) into `out` for every batch entry, as floats: one channel is
 * luma (ITU-R BT.601, as PIL's "L"), three are RGB or BGR, four add alpha.
 */
export function pixelsToTensor(img: Rgba, shape: readonly number[], at: ImageLayout, out: Float32Array | Float64Array, opts: PixelOptions = {}): void {
  const C = shape[at.c]!;
  const H = shape[at.h]!;
  const W = shape[at.w]!;
  const N = at.n >= 0 ? shape[at.n]! : 1;
  const scale = opts.scale ?? 1 / 255;
  const order = opts.channelOrder === 'BGR' ? [2, 1, 0, 3] : [0, 1, 2, 3];
  const mean = (k: number) => opts.mean?.[k] ?? opts.mean?.[0] ?? 0;
  const std = (k: number) => opts.std?.[k] ?? opts.std?.[0] ?? 1;
  const plane = H * W;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const p = (y * W + x) * 4;
      for (let k = 0; k < C; k++) {
        const raw = C === 1 ? 0.299 * img.data[p]! + 0.587 * img.data[p + 1]! + 0.114 * img.data[p + 2]! : img.data[p + order[k]!]!;
        const v = (raw * scale - mean(k)) / std(k);
        const i = at.layout === 'NCHW' ? k * plane + y * W + x : (y * W + x) * C + k;
        for (let b = 0; b < N; b++) out[b * C * plane + i] = v;
      }
    }
  }
}
