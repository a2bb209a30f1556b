/**
 * Why a file is not an ONNX model, in words a person can act on. Readers never let a protobuf exception escape: a
 * truncated download, a damaged file, or a file of another kind (a PyTorch checkpoint, a NumPy array, an HTML page
 * saved instead of the model, a Git LFS pointer) each become one OnnxFormatError that says which, and what to do.
 */
import { UserError } from '../errors';

/** What the file was expected to be, for the message: "x.onnx is not an ONNX model: …". */
export type OnnxFileKind = 'model' | 'tensor';

const WHAT: Record<OnnxFileKind, string> = { model: 'an ONNX model', tensor: 'an ONNX tensor (TensorProto)' };

export class OnnxFormatError extends UserError {
  constructor(
    /** The file as named to the reader ("model.onnx", or "the file" when bytes came without a name). */
    readonly file: string,
    /** The reason alone, without the file name: "the file ends in the middle of a field (truncated download?)". */
    readonly reason: string,
    hint: string,
    /** Byte offset where reading stopped, when the reason is about a place in the file. */
    readonly offset?: number,
    kind: OnnxFileKind = 'model',
  ) {
    super(`${file} is not ${WHAT[kind]}: ${reason}`, hint);
  }
}

export const HINT_AGAIN = 'Download or export it again, and check that the copy has the size of the original.';

interface Sniffed {
  reason: string;
  hint: string;
}

const ascii = (b: Uint8Array, from: number, to: number) => String.fromCharCode(...b.subarray(from, to));

/**
 * The kind of a file that is not ONNX, from its first bytes; undefined when it looks like nothing known. Only asked
 * after the bytes failed to read as ONNX, so a model can never be mistaken for something else.
 */
export function sniffOtherFormat(head: Uint8Array, size = head.length): Sniffed | undefined {
  if (size === 0) return { reason: 'the file is empty (0 bytes)', hint: 'The download or export did not finish: fetch or export it again.' };
  const text = ascii(head, 0, Math.min(head.length, 64));
  if (text.startsWith('version https://git-lfs.github.com/spec/')) {
    return {
      reason: 'it is a Git LFS pointer, not the file it points to',
      hint: 'Run `git lfs install` and `git lfs pull` in the repository to fetch the model itself.',
    };
  }
  if (text.startsWith('PK\x03\x04') || text.startsWith('PK\x05\x06')) {
    return {
      reason: 'it is a ZIP archive (a PyTorch checkpoint, a .npz or a .keras file?)',
      hint: 'Export the model to ONNX first (for PyTorch, torch.onnx.export), or unzip it if the .onnx file is inside.',
    };
  }
  if (text.startsWith('\x93NUMPY')) return { reason: 'it is a NumPy array (.npy)', hint: 'Open the .onnx model file itself; .npy files are inputs or weights.' };
  if (text.startsWith('\x1f\x8b')) return { reason: 'it is gzip-compressed', hint: 'Decompress it first (gunzip, or tar -xzf for a .tar.gz).' };
  if (text.startsWith('\x89HDF\r\n\x1a\n')) {
    return { reason: 'it is an HDF5 file (a Keras .h5 model?)', hint: 'Convert it to ONNX first, for example with tf2onnx.' };
  }
  if (text.startsWith('GGUF')) return { reason: 'it is a GGUF model (llama.cpp)', hint: 'GGUF models run in llama.cpp; Modelyard opens ONNX models.' };
  if (text.slice(4, 8) === 'TFL3') return { reason: 'it is a TensorFlow Lite model', hint: 'Convert it to ONNX first, for example with tf2onnx --tflite.' };
  if (text.slice(4, 8) === 'ORTM') {
    return { reason: 'it is an ONNX Runtime model (.ort), not an .onnx file', hint: 'Open the .onnx model it was converted from.' };
  }
  if (head.length >= 2 && head[0] === 0x80 && head[1]! >= 2 && head[1]! <= 5) {
    return {
      reason: 'it is a Python pickle (a PyTorch or scikit-learn checkpoint?)',
      hint: 'Export the model to ONNX first (for PyTorch, torch.onnx.export; for scikit-learn, skl2onnx).',
    };
  }
  if (isSafetensors(head)) {
    return { reason: 'it is a safetensors weights file', hint: 'It holds weights without a graph: export the model to ONNX first.' };
  }
  const t = decodeText(head);
  if (t !== undefined) {
    const start = t.trimStart().slice(0, 64).toLowerCase();
    if (start.startsWith('<!doctype html') || start.startsWith('<html')) {
      return {
        reason: 'it is an HTML page (a download that returned a web page instead of the file?)',
        hint: 'Download the model again from its direct link (for Hugging Face, the "resolve" URL, not "blob").',
      };
    }
    if (start.startsWith('{') || start.startsWith('[')) {
      return { reason: 'it is a JSON file', hint: 'Open the .onnx model file itself; JSON files are configurations or metadata.' };
    }
    if (start.startsWith('<?xml')) return { reason: 'it is an XML file', hint: 'Open the .onnx model file itself.' };
    if (start.startsWith('ir_version') || start.startsWith('graph {')) {
      return {
        reason: 'it is an ONNX model in protobuf text format, not the binary format',
        hint: 'Convert it with onnx: onnx.save(google.protobuf.text_format.Parse(text, onnx.ModelProto()), "model.onnx").',
      };
    }
    return { reason: 'it is a text file', hint: 'Open the binary .onnx model file itself.' };
  }
  return undefined;
}

/** safetensors: an 8-byte little-endian header length, then a JSON header. */
function isSafetensors(head: Uint8Array): boolean {
  if (head.length < 10) return false;
  const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  return n > 1n && n < 100_000_000n && head[8] === 0x7b && (head[9] === 0x22 || head[9] === 0x7d);
}

const TEXT_DECODER = new TextDecoder('utf-8', { fatal: true });

/** The first bytes as text, when they are text: valid UTF-8 without control characters besides tab, CR and LF. */
function decodeText(head: Uint8Array): string | undefined {
  let bytes = head.subarray(0, 1024);
  // A multi-byte character may be cut at the end of the sample: drop up to 3 trailing continuation bytes.
  for (let k = 0; k < 3 && bytes.length && bytes[bytes.length - 1]! >= 0x80; k++) bytes = bytes.subarray(0, bytes.length - 1);
  let s: string;
  try {
    s = TEXT_DECODER.decode(bytes);
  } catch {
    return undefined;
  }
  // eslint-disable-next-line no-control-regex
  return /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(s) || !s.trim() ? undefined : s;
}
