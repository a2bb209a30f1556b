/**
 * WAV files as model inputs: RIFF/WAVE with PCM integer samples (8-bit unsigned, 16/24/32-bit signed) or IEEE
 * float (32/64-bit), WAVE_FORMAT_EXTENSIBLE included; mixed down to mono and, when asked, resampled linearly.
 * Samples come out as floats in [-1, 1], the scale torchaudio and soundfile use.
 */
import { UserError } from '../errors';

export interface Audio {
  sampleRate: number;
  /** Mono samples in [-1, 1]. */
  samples: Float32Array;
  /** What the file held: channels, bits, and the encoding. */
  channels: number;
  bits: number;
  encoding: 'pcm' | 'float';
}

const PCM = 1;
const FLOAT = 3;
const EXTENSIBLE = 0xfffe;

function bad(name: string, what: string): UserError {
  return new UserError(`${name} is not a WAV file Modelyard reads: ${what}.`, 'Convert it to 16-bit PCM or 32-bit float WAV (for example: ffmpeg -i in.mp3 -c:a pcm_s16le out.wav).');
}

/** Decodes a WAV file's bytes to mono float samples. `name` is for messages. */
export function decodeWav(bytes: Uint8Array, name = 'the audio file'): Audio {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (at: number) => String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!);
  if (bytes.length < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') throw bad(name, 'it does not start with RIFF…WAVE');
  let fmt: { format: number; channels: number; rate: number; bits: number; blockAlign: number } | undefined;
  let data: { at: number; size: number } | undefined;
  for (let at = 12; at + 8 <= bytes.length; ) {
    const id = tag(at);
    const size = v.getUint32(at + 4, true);
    const body = at + 8;
    if (id === 'fmt ') {
      if (size < 16) throw bad(name, 'its fmt chunk is too short');
      let format = v.getUint16(body, true);
      // WAVE_FORMAT_EXTENSIBLE: the real format is the first two bytes of the sub-format GUID.
      if (format === EXTENSIBLE && size >= 40) format = v.getUint16(body + 24, true);
      fmt = { format, channels: v.getUint16(body + 2, true), rate: v.getUint32(body + 4, true), blockAlign: v.getUint16(body + 12, true), bits: v.getUint16(body + 14, true) };
    } else if (id === 'data') {
      data = { at: body, size: Math.min(size, bytes.length - body) }; // a streamed file may claim more than it has
      break;
    }
    at = body + size + (size & 1); // chunks are padded to even sizes
  }
  if (!fmt) throw bad(name, 'it has no fmt chunk');
  if (!data) throw bad(name, 'it has no data chunk');
  const { format, channels, bits } = fmt;
  const pcmOk = format === PCM && [8, 16, 24, 32].includes(bits);
  const floatOk = format === FLOAT && (bits === 32 || bits === 64);
  if (!pcmOk && !floatOk) {
    const what = format === PCM ? `${bits}-bit PCM` : format === FLOAT ? `${bits}-bit float` : `encoding 0x${format.toString(16)} (compressed: A-law, µ-law, ADPCM …)`;
    throw bad(name, `${what} is not supported (PCM 8/16/24/32-bit and float 32/64-bit are)`);
  }
  if (channels < 1) throw bad(name, 'it declares no channels');
  const width = bits / 8;
  const frame = fmt.blockAlign || width * channels;
  const frames = Math.floor(data.size / frame);
  const read = sampleReader(v, format === FLOAT, bits);
  const samples = new Float32Array(frames);
  for (let f = 0; f < frames; f++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += read(data.at + f * frame + c * width);
    samples[f] = sum / channels;
  }
  return { sampleRate: fmt.rate, samples, channels, bits, encoding: format === FLOAT ? 'float' : 'pcm' };
}

function sampleReader(v: DataView, float: boolean, bits: number): (at: number) => number {
  if (float) return bits === 32 ? (at) => v.getFloat32(at, true) : (at) => v.getFloat64(at, true);
  switch (bits) {
    case 8:
      return (at) => (v.getUint8(at) - 128) / 128;
    case 16:
      return (at) => v.getInt16(at, true) / 32768;
    case 24:
      return (at) => (((v.getUint8(at + 2) << 24) | (v.getUint8(at + 1) << 16) | (v.getUint8(at) << 8)) >> 8) / 8388608;
    default:
      return (at) => v.getInt32(at, true) / 2147483648;
  }
}

/** Linear-interpolation resampling (enough for feeding a model; not a band-limited resampler). */
export function resampleLinear(samples: Float32Array, from: number, to: number): Float32Array {
  if (from === to || samples.length === 0) return samples;
  const n = Math.max(1, Math.round((samples.length * to) / from));
  const out = new Float32Array(n);
  const step = from / to;
  for (let i = 0; i < n; i++) {
    const x = i * step;
    const i0 = Math.min(Math.floor(x), samples.length - 1);
    const i1 = Math.min(i0 + 1, samples.length - 1);
    out[i] = samples[i0]! + (samples[i1]! - samples[i0]!) * (x - i0);
  }
  return out;
}

/** A WAV file's bytes: 16-bit PCM or 32-bit float, interleaved channels (for tests and for saving outputs). */
export function encodeWav(channels: Float32Array[], sampleRate: number, encoding: 'pcm16' | 'float32' = 'pcm16'): Buffer {
  const frames = channels[0]?.length ?? 0;
  const width = encoding === 'pcm16' ? 2 : 4;
  const dataSize = frames * channels.length * width;
  const b = Buffer.alloc(44 + dataSize);
  b.write('RIFF', 0, 'latin1');
  b.writeUInt32LE(36 + dataSize, 4);
  b.write('WAVEfmt ', 8, 'latin1');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(encoding === 'pcm16' ? PCM : FLOAT, 20);
  b.writeUInt16LE(channels.length, 22);
  b.writeUInt32LE(sampleRate, 24);
  b.writeUInt32LE(sampleRate * channels.length * width, 28);
  b.writeUInt16LE(channels.length * width, 32);
  b.writeUInt16LE(width * 8, 34);
  b.write('data', 36, 'latin1');
  b.writeUInt32LE(dataSize, 40);
  for (let f = 0; f < frames; f++) {
    for (let c = 0; c < channels.length; c++) {
      const at = 44 + (f * channels.length + c) * width;
      const s = channels[c]![f]!;
      if (encoding === 'pcm16') b.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(s * 32767))), at);
      else b.writeFloatLE(s, at);
    }
  }
  return b;
}
