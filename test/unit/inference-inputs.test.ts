import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { UserError } from '../../src/core/errors';
import type { InferenceHost } from '../../src/core/inference/host';
import { makeFeeds, makeInput, resolveShape, resolveShapes, type InputSource } from '../../src/core/inference/inputs';
import { writeNpy } from '../../src/core/inference/npy';
import { halfToFloat, type Tensor, type TensorInfo } from '../../src/core/inference/tensor';
import { decodeWav, encodeWav, resampleLinear } from '../../src/core/inference/wav';
import { FIXTURES, fixture } from '../support/fixtures';
import { testHost } from '../support/inference';

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-inputs-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const file = (name: string, bytes: Uint8Array | string) => {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, bytes);
  return p;
};
const info = (shape: TensorInfo['shape'], dtype: TensorInfo['dtype'] = 'float32', name = 'x'): TensorInfo => ({ name, dtype, shape, kind: 'tensor' });
const values = (t: Tensor) => Array.from(t.data as ArrayLike<number>);
const isUserError = (re: RegExp) => (e: unknown) => e instanceof UserError && re.test(e.message) && !!e.hint;

describe('resolveShape', () => {
  it('keeps fixed dims, takes batch-like and leading open dims as 1, open image sizes as 224, others as 1', () => {
    assert.deepEqual(resolveShape(info([1, 25, 96])), { shape: [1, 25, 96], guessed: [] });
    const img = resolveShape(info(['p2o.DynamicDimension.0', 3, 'h', null]));
    assert.deepEqual(img.shape, [1, 3, 224, 224]);
    assert.deepEqual(img.guessed.map((g) => [g.index, g.name, g.value, g.reason]), [
      [0, 'p2o.DynamicDimension.0', 1, 'batch'],
      [2, 'h', 224, 'image size'],
      [3, null, 224, 'image size'],
    ]);
    assert.deepEqual(resolveShape(info([null, 'height', 'width', 3])).shape, [1, 224, 224, 3]);
    assert.deepEqual(resolveShape(info([2, 'batch', 64])).shape, [2, 1, 64]);
    assert.deepEqual(resolveShape(info(['seq'])).guessed[0]!.reason, 'default');
    assert.deepEqual(resolveShape(info([])).shape, []);
  });

  it('takes overrides by dim name, by position and by input:position', () => {
    const i = info(['batch', 3, 48, 'width']);
    assert.deepEqual(resolveShape(i, { batch: 4, width: 320 }), { shape: [4, 3, 48, 320], guessed: [] });
    assert.deepEqual(resolveShape(i, { '3': 100 }).shape, [1, 3, 48, 100]);
    assert.deepEqual(resolveShape(i, { 'x:3': 64, width: 1000 }).shape, [1, 3, 48, 64]);
    assert.deepEqual(resolveShape(i, {}, { imageSize: 32 }).shape, [1, 3, 48, 32]);
    assert.throws(() => resolveShape(i, { width: 0 }), isUserError(/the size given for dim 'width' must be a whole number from 1, not 0/));
    assert.throws(() => resolveShape(i, { '2': 32 }), isUserError(/dim 2 of input 'x' is fixed at 48 by the model, not 32/));
    assert.throws(() => resolveShape({ name: 'y', dtype: 'float32' }), isUserError(/input 'y' declares no shape/));
  });

  it('guesses audio lengths and sequence lengths where a length of 1 would break the model', () => {
    // A waveform beside a sample rate is a streaming chunk (512 samples at 16 kHz); named audio alone, one second.
    const vad = resolveShapes([info([null, null], 'float32', 'input'), info([], 'int64', 'sr'), info([2, null, 128], 'float32', 'state')]);
    assert.deepEqual(vad.shapes.input, [1, 512]);
    assert.deepEqual(vad.guessed.filter((g) => g.input === 'input').map((g) => [g.index, g.value, g.reason]), [[0, 1, 'batch'], [1, 512, 'audio']]);
    assert.deepEqual(vad.shapes.state, [2, 1, 128], 'a state is no waveform');
    assert.deepEqual(resolveShape(info(['batch', 'samples'], 'float32', 'audio')).shape, [1, 16000]);
    assert.deepEqual(resolveShape(info(['batch', 'num_samples'])).guessed[1]!.reason, 'audio');
    // Token ids [batch, sequence] and named sequence dims: 128.
    const ids = resolveShape(info(['batch', null], 'int64', 'input_ids'));
    assert.deepEqual([ids.shape, ids.guessed[1]!.reason], [[1, 128], 'sequence']);
    assert.deepEqual(resolveShape(info(['batch', 'seq_len', 80])).shape, [1, 128, 80]);
    assert.deepEqual(resolveShape(info(['batch', 'frames', 80])).guessed[1]!.reason, 'sequence');
    assert.deepEqual(resolveShape(info(['batch', 'features'])).guessed[1]!.reason, 'default');
  });

  it('resolveShapes gives a shared symbol one size across inputs', () => {
    const inputs = [info(['batch', 'sequence'], 'float32', 'input'), info([], 'int64', 'sr'), info([2, 'batch', 64], 'float32', 'h')];
    const r = resolveShapes(inputs, { sequence: 512, batch: 3 });
    assert.deepEqual(r.shapes, { input: [3, 512], sr: [], h: [2, 3, 64] });
    assert.deepEqual(r.guessed, []);
    const g = resolveShapes(inputs, { sequence: 512 });
    assert.deepEqual(g.shapes.h, [2, 1, 64]);
    assert.equal(g.guessed.length, 1, 'batch guessed once, shared');
  });
});

describe('makeInput: generated values', () => {
  it('random values are reproducible per seed and differ per input', async () => {
    const a = await makeInput(info([2, 3]), [2, 3], { kind: 'random', seed: 7 });
    const b = await makeInput(info([2, 3]), [2, 3], { kind: 'random', seed: 7 });
    const c = await makeInput(info([2, 3], 'float32', 'other'), [2, 3], { kind: 'random', seed: 7 });
    assert.deepEqual(a.tensor, b.tensor);
    assert.notDeepEqual(values(a.tensor), values(c.tensor));
    assert.ok(values(a.tensor).every((v) => v >= 0 && v < 1));
    assert.match(a.notes[0]!, /random uniform in \[0, 1\), seed 7/);
  });

  it('honours ranges and distributions, with sensible integer ranges', async () => {
    const u = await makeInput(info([1000]), [1000], { kind: 'random', low: -2, high: -1 });
    assert.ok(values(u.tensor).every((v) => v >= -2 && v < -1));
    const n = values((await makeInput(info([20000], 'float64'), [20000], { kind: 'random', distribution: 'normal', mean: 3, std: 2 })).tensor);
    const mean = n.reduce((s, v) => s + v, 0) / n.length;
    const sd = Math.sqrt(n.reduce((s, v) => s + (v - mean) ** 2, 0) / n.length);
    assert.ok(Math.abs(mean - 3) < 0.05 && Math.abs(sd - 2) < 0.05, `${mean} ${sd}`);
    const u8 = values((await makeInput(info([5000], 'uint8'), [5000], { kind: 'random' })).tensor);
    assert.ok(Math.min(...u8) === 0 && Math.max(...u8) === 255);
    const i64 = (await makeInput(info([500], 'int64'), [500], { kind: 'random' })).tensor.data as BigInt64Array;
    assert.ok(i64.every((v) => v >= 0n && v < 100n));
    const bool = values((await makeInput(info([100], 'bool'), [100], { kind: 'random' })).tensor);
    assert.deepEqual([...new Set(bool)].sort(), [0, 1]);
    const f16 = (await makeInput(info([100], 'float16'), [100], { kind: 'random' })).tensor;
    assert.ok(f16.data instanceof Uint16Array && Array.from(f16.data, halfToFloat).every((v) => v >= 0 && v <= 1));
    const s = (await makeInput(info([3], 'string'), [3], { kind: 'random' })).tensor;
    assert.equal(s.dtype, 'string');
  });

  it('zeros, ones and a fill value in the input dtype', async () => {
    assert.deepEqual(values((await makeInput(info([2]), [2], { kind: 'ones' })).tensor), [1, 1]);
    assert.deepEqual(Array.from((await makeInput(info([], 'int64'), [], { kind: 'fill', value: 16000 })).tensor.data as BigInt64Array), [16000n]);
    assert.deepEqual(values((await makeInput(info([2], 'int32'), [2], { kind: 'zeros' })).tensor), [0, 0]);
  });

  it('refuses inputs past maxInputElements, naming the setting', async () => {
    const big = info(['batch', 3, 'h', 'w']);
    await assert.rejects(
      makeInput(big, [1, 3, 10000, 10000], { kind: 'random' }, { maxElements: 1e6 }),
      isUserError(/^input 'x' would hold 300,000,000 values \(\[1,3,10000,10000\]\), above the limit of 1,000,000 \(modelyard\.inference\.maxInputElements\)\.$/),
    );
    await assert.rejects(makeInput(big, [1, 3, 5000, 5000], { kind: 'zeros' }), isUserError(/above the limit of 50,000,000/)); // the default
  });
});

describe('makeInput: JSON and .npy', () => {
  it('JSON: a flat list takes the resolved shape; objects bring theirs; errors name the input', async () => {
    const i = info([1, 'n'], 'float32', 'input');
    assert.deepEqual((await makeInput(i, [1, 3], { kind: 'json', text: '[1, 2, 3]' })).tensor.shape, [1, 3]);
    assert.deepEqual((await makeInput(i, [1, 3], { kind: 'json', text: '{"shape": [1, 2], "data": [1, 2]}' })).tensor.shape, [1, 2]);
    await assert.rejects(makeInput(i, [1, 3], { kind: 'json', text: '[1, 2,' }), isUserError(/^the JSON for input 'input' is not valid JSON/));
    await assert.rejects(makeInput(info([], 'int64', 'sr'), [], { kind: 'json', text: '"fast"' }), isUserError(/input 'sr': "fast" is not an integer/));
  });

  it('.npy: read as is; a dtype other than the input\'s is refused with the conversion to make', async () => {
    const p = file('x.npy', writeNpy({ dtype: 'float32', shape: [1, 4], data: new Float32Array([1, 2, 3, 4]) }));
    const r = await makeInput(info([1, 'n']), [1, 1], { kind: 'npy', path: p });
    assert.deepEqual(r.tensor.shape, [1, 4]);
    await assert.rejects(makeInput(info([1, 'n'], 'float64'), [1, 1], { kind: 'npy', path: p }), isUserError(/x\.npy holds float32 but input 'x' is float64/));
    await assert.rejects(makeInput(info([1]), [1], { kind: 'npy', path: path.join(tmp, 'none.npy') }), isUserError(/the \.npy file for input 'x' could not be read/));
  });
});

/** A PNG with the given RGBA pixels, encoded with pngjs. */
function png(width: number, height: number, rgba: number[]): Buffer {
  const img = new PNG({ width, height });
  img.data.set(rgba);
  return PNG.sync.write(img);
}

describe('makeInput: images', () => {
  // 2×2: red, green / blue, white (alpha 255).
  const pixels = [255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 255, 255, 255, 255];
  let p2x2: string;
  before(() => {
    p2x2 = file('rgbw.png', png(2, 2, pixels));
  });

  it('PNG → NCHW float, RGB, scaled to [0, 1]', async () => {
    const r = await makeInput(info([1, 3, 'h', 'w']), [1, 3, 2, 2], { kind: 'image', path: p2x2 });
    assert.deepEqual(r.tensor.shape, [1, 3, 2, 2]);
    assert.deepEqual(values(r.tensor), [1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1]);
    assert.match(r.notes.join('; '), /rgbw\.png: 2×2; NCHW, RGB, ×0\.003922/);
  });

  it('BGR, mean and std per channel, NHWC, batch copies', async () => {
    const r = await makeInput(info([2, 'h', 'w', 3]), [2, 2, 2, 3], { kind: 'image', path: p2x2, channelOrder: 'BGR', scale: 1, mean: [0, 0, 255], std: [255, 1, 1] });
    // Pixel 0 is red: B=0, G=0, R=255 → (0/255, 0, 255−255)
    assert.deepEqual(values(r.tensor).slice(0, 3), [0, 0, 0]);
    // Pixel 1 is green → (0, 255, −255)
    assert.deepEqual(values(r.tensor).slice(3, 6), [0, 255, -255]);
    assert.deepEqual(values(r.tensor).slice(12), values(r.tensor).slice(0, 12), 'the second batch entry is the same image');
    assert.match(r.notes.join('; '), /the same image in all 2 batch entries/);
  });

  it('grayscale for one channel; raw values for uint8 inputs', async () => {
    const g = await makeInput(info([1, 1, 2, 2]), [1, 1, 2, 2], { kind: 'image', path: p2x2, scale: 1 });
    assert.deepEqual(values(g.tensor).map((v) => +v.toFixed(3)), [76.245, 149.685, 29.07, 255]);
    const u8 = await makeInput(info([1, 2, 2, 3], 'uint8'), [1, 2, 2, 3], { kind: 'image', path: p2x2 });
    assert.deepEqual(values(u8.tensor).slice(0, 6), [255, 0, 0, 0, 255, 0]);
  });

  it('resizes bilinearly to the input size, or keeps the image size when asked', async () => {
    const flat = file('flat.png', png(3, 2, Array.from({ length: 6 }, () => [10, 20, 30, 255]).flat()));
    const r = await makeInput(info([1, 3, 'h', 'w']), [1, 3, 5, 7], { kind: 'image', path: flat, scale: 1 });
    assert.deepEqual(r.tensor.shape, [1, 3, 5, 7]);
    assert.deepEqual([...new Set(values(r.tensor))], [10, 20, 30]);
    assert.match(r.notes.join('; '), /resized to 7×5 \(bilinear\)/);
    // A horizontal ramp 0 → 255 over 2 pixels, doubled to 4: half-pixel centres give 0, 64, 191, 255.
    const ramp = file('ramp.png', png(2, 1, [0, 0, 0, 255, 255, 255, 255, 255]));
    const up = await makeInput(info([1, 1, 1, 'w']), [1, 1, 1, 4], { kind: 'image', path: ramp, scale: 1 });
    assert.deepEqual(values(up.tensor).map(Math.round), [0, 64, 191, 255]);
    const kept = await makeInput(info([1, 3, 'h', 'w']), [1, 3, 224, 224], { kind: 'image', path: flat, fit: 'source' });
    assert.deepEqual(kept.tensor.shape, [1, 3, 2, 3]);
  });

  it('JPEG through jpeg-js', async () => {
    const w = 16;
    const rgba = Buffer.alloc(w * w * 4);
    for (let i = 0; i < w * w; i++) rgba.set([200, 100, 50, 255], i * 4);
    const p = file('flat.jpg', jpeg.encode({ width: w, height: w, data: rgba }, 95).data);
    const r = await makeInput(info([1, 3, 8, 8]), [1, 3, 8, 8], { kind: 'image', path: p, scale: 1 });
    const v = values(r.tensor);
    assert.ok(v.slice(0, 64).every((x) => Math.abs(x - 200) <= 3));
    assert.ok(v.slice(64, 128).every((x) => Math.abs(x - 100) <= 3));
    assert.ok(v.slice(128).every((x) => Math.abs(x - 50) <= 3));
  });

  it('says what is wrong with a file or an input that is not an image', async () => {
    await assert.rejects(makeInput(info([1, 3, 2, 2]), [1, 3, 2, 2], { kind: 'image', path: file('a.gif', 'GIF89a…') }), isUserError(/^a\.gif is not a PNG or JPEG image\.$/));
    const broken = png(2, 2, pixels).subarray(0, 40);
    await assert.rejects(makeInput(info([1, 3, 2, 2]), [1, 3, 2, 2], { kind: 'image', path: file('cut.png', broken) }), isUserError(/^cut\.png could not be decoded: /));
    await assert.rejects(makeInput(info([1, 25, 96, 7]), [1, 25, 96, 7], { kind: 'image', path: p2x2 }), isUserError(/input 'x' \(\[1,25,96,7\]\) does not look like an image/));
    await assert.rejects(makeInput(info([1, 3, 'h', 'w']), [1, 3, 2, 2], { kind: 'image', path: p2x2, fit: 'source' }, { maxElements: 5 }), isUserError(/maxInputElements/));
  });
});

/** A WAV file written byte by byte: RIFF header, fmt chunk (plain or WAVE_FORMAT_EXTENSIBLE), an odd-sized LIST chunk, data. */
function wav(opts: { format: number; bits: number; channels: number; rate: number; frames: number[][]; extensible?: boolean }): Buffer {
  const width = opts.bits / 8;
  const data = Buffer.alloc(opts.frames.length * opts.channels * width);
  opts.frames.forEach((frame, f) =>
    frame.forEach((s, c) => {
      const at = (f * opts.channels + c) * width;
      if (opts.format === 3) {
        if (opts.bits === 32) data.writeFloatLE(s, at);
        else data.writeDoubleLE(s, at);
      } else if (opts.bits === 8) data.writeUInt8(Math.round(s * 128) + 128, at);
      else if (opts.bits === 16) data.writeInt16LE(Math.round(s * 32767), at);
      else if (opts.bits === 24) data.writeIntLE(Math.round(s * 8388607), at, 3);
      else data.writeInt32LE(Math.round(s * 2147483647), at);
    }),
  );
  const fmt = Buffer.alloc(opts.extensible ? 40 : 16);
  fmt.writeUInt16LE(opts.extensible ? 0xfffe : opts.format, 0);
  fmt.writeUInt16LE(opts.channels, 2);
  fmt.writeUInt32LE(opts.rate, 4);
  fmt.writeUInt32LE(opts.rate * opts.channels * width, 8);
  fmt.writeUInt16LE(opts.channels * width, 12);
  fmt.writeUInt16LE(opts.bits, 14);
  if (opts.extensible) {
    fmt.writeUInt16LE(22, 16);
    fmt.writeUInt16LE(opts.bits, 18);
    fmt.writeUInt16LE(opts.format, 24); // the sub-format GUID starts with the format code
  }
  const list = Buffer.from('LIST\x03\x00\x00\x00abc\x00', 'latin1'); // odd size, padded
  const chunk = (id: string, body: Buffer) => Buffer.concat([Buffer.from(id, 'latin1'), Buffer.from(Uint32Array.of(body.length).buffer), body]);
  const body = Buffer.concat([Buffer.from('WAVE', 'latin1'), chunk('fmt ', fmt), list, chunk('data', data)]);
  return Buffer.concat([Buffer.from('RIFF', 'latin1'), Buffer.from(Uint32Array.of(body.length).buffer), body]);
}

describe('makeInput: WAV files', () => {
  const mono = [[0], [0.5], [-0.5], [0.25]];

  it('decodes PCM 8/16/24/32-bit and float 32/64-bit, plain and extensible', () => {
    for (const [format, bits, tol] of [
      [1, 8, 1 / 128],
      [1, 16, 1 / 32767],
      [1, 24, 1e-6],
      [1, 32, 1e-8],
      [3, 32, 0],
      [3, 64, 0],
    ] as const) {
      for (const extensible of [false, true]) {
        const a = decodeWav(wav({ format, bits, channels: 1, rate: 16000, frames: mono, extensible }), 't.wav');
        assert.equal(a.sampleRate, 16000);
        assert.equal(a.bits, bits);
        assert.ok(
          Array.from(a.samples).every((v, i) => Math.abs(v - mono[i]![0]!) <= tol + 1e-7),
          `${format}/${bits}${extensible ? ' extensible' : ''}: ${Array.from(a.samples)}`,
        );
      }
    }
  });

  it('mixes channels to mono and resamples linearly', async () => {
    const stereo = file('stereo.wav', wav({ format: 1, bits: 16, channels: 2, rate: 8000, frames: [[0.5, 0.1], [-0.5, -0.1], [0.2, 0.2], [0, 0]] }));
    const r = await makeInput(info([1, 'samples']), [1, 1], { kind: 'wav', path: stereo, sampleRate: 16000 });
    assert.deepEqual(r.tensor.shape, [1, 8]);
    assert.ok(Math.abs(values(r.tensor)[0]! - 0.3) < 1e-4);
    assert.ok(Math.abs(values(r.tensor)[1]! - 0) < 1e-4, 'halfway between 0.3 and −0.3');
    assert.match(r.notes.join('; '), /8000 Hz, 2 channels, 16-bit pcm.*mixed 2 channels to mono; resampled 8000 → 16000 Hz/);
    assert.deepEqual(Array.from(resampleLinear(new Float32Array([0, 1, 2, 3]), 4, 2)), [0, 2]);
  });

  it('fits the samples to a fixed length (pad, cut) or takes them all for an open one', async () => {
    const p = file('four.wav', encodeWav([new Float32Array([0.1, 0.2, 0.3, 0.4])], 16000, 'float32'));
    const padded = await makeInput(info([1, 6]), [1, 6], { kind: 'wav', path: p });
    assert.deepEqual(values(padded.tensor).map((v) => +v.toFixed(3)), [0.1, 0.2, 0.3, 0.4, 0, 0]);
    assert.match(padded.notes.join('; '), /padded with 2 zero samples to \[1,6\]/);
    const cut = await makeInput(info([1, 3]), [1, 3], { kind: 'wav', path: p });
    assert.match(cut.notes.join('; '), /cut to the first 3 samples of 4/);
    const whole = await makeInput(info(['batch', 'sequence']), [1, 1], { kind: 'wav', path: p });
    assert.deepEqual(whole.tensor.shape, [1, 4]);
    const asShape = await makeInput(info(['batch', 'sequence']), [1, 2], { kind: 'wav', path: p, fit: 'shape' });
    assert.deepEqual(asShape.tensor.shape, [1, 2]);
    const i16 = await makeInput(info([4], 'int16'), [4], { kind: 'wav', path: p });
    assert.deepEqual(values(i16.tensor), [3277, 6553, 9830, 13107]);
  });

  it('says what is wrong with a file that is not a WAV it reads', async () => {
    const adpcm = wav({ format: 2, bits: 4, channels: 1, rate: 8000, frames: [] });
    assert.throws(() => decodeWav(adpcm, 'a.wav'), isUserError(/^a\.wav is not a WAV file Modelyard reads: encoding 0x2 \(compressed/));
    assert.throws(() => decodeWav(wav({ format: 1, bits: 12, channels: 1, rate: 8000, frames: [] }), 'b.wav'), isUserError(/12-bit PCM is not supported/));
    assert.throws(() => decodeWav(Buffer.from('ID3\x03 an mp3'), 'c.mp3'), isUserError(/does not start with RIFF…WAVE/));
    const noData = wav({ format: 1, bits: 16, channels: 1, rate: 8000, frames: [] }).subarray(0, 12 + 24);
    assert.throws(() => decodeWav(noData, 'd.wav'), isUserError(/has no data chunk/));
    await assert.rejects(makeInput(info([1, 4], 'int64'), [1, 4], { kind: 'wav', path: file('e.wav', encodeWav([new Float32Array(4)], 8000)) }), isUserError(/audio goes into float/));
  });
});

describe('makeFeeds on the fixture models', () => {
  let host: InferenceHost;
  before(() => {
    host = testHost();
  });
  after(() => host.dispose());

  it('gives every fixture runnable feeds: sample rates by name, zero states, random values elsewhere', async () => {
    for (const m of FIXTURES) {
      const s = await host.load({ path: fixture(m.file) });
      // The VAD models need a chunk of at least a few samples: the open length is given, as a person would.
      const made = await makeFeeds(s.inputs, { overrides: { sequence: 512, 'input:1': 512 }, seed: 1 });
      const r = await host.run(s.id, made.feeds);
      assert.deepEqual(r.nonFinite, {}, m.file);
      if (m.file.startsWith('silero_vad_legacy')) {
        assert.deepEqual(Array.from(made.feeds.sr!.data as BigInt64Array), [16000n]);
        assert.ok((made.feeds.h!.data as Float32Array).every((v) => v === 0));
        assert.match(made.notes.sr![0]!, /sample rate/);
        assert.deepEqual(made.guessed.map((g) => `${g.input}:${g.index}=${g.value}`), ['input:0=1']);
      }
      if (m.file.startsWith('ch_PP-OCRv4_det')) assert.deepEqual(made.feeds.x!.shape, [1, 3, 224, 224]);
      await host.release(s.id);
    }
  });

  it('uses the sources it is given, and does not report guesses for values from files', async () => {
    const s = await host.load({ path: fixture('silero_vad_v5.onnx') });
    const sources: Record<string, InputSource> = { input: { kind: 'json', text: JSON.stringify([Array.from({ length: 512 }, (_, i) => Math.sin(i / 10) * 0.3)]) } };
    const made = await makeFeeds(s.inputs, { sources });
    assert.deepEqual(made.feeds.input!.shape, [1, 512]);
    assert.ok(made.guessed.every((g) => g.input !== 'input'));
    const r = await host.run(s.id, made.feeds);
    assert.deepEqual(r.outputs.output!.shape, [1, 1]);
    await host.release(s.id);
  });
});
