// Mutation corpus: every fixture model cut short at 20 points and damaged by 50 seeded random byte flips. Whatever
// the bytes, the readers return a result or throw an OnnxFormatError: never another exception, never a hang.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OnnxFormatError } from '../../src/core/onnx/errors';
import { decodeModel } from '../../src/core/onnx/model';
import { summarizeBytes, summarizeFile } from '../../src/core/onnx/summary';
import { FIXTURES, fixture } from '../support/fixtures';
import { tempDir } from '../support/onnx-models';

/** mulberry32: a small seeded PRNG, so a failure can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Outcome = { ok: true; value: unknown } | { ok: false; message: string };

/** Runs fn and classifies what happened; anything but a result or an OnnxFormatError fails the test. */
function outcome(fn: () => unknown, what: string): Outcome {
  const t0 = performance.now();
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    assert.ok(e instanceof OnnxFormatError, `${what}: threw ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e)}`);
    assert.ok(e.hint, `${what}: the error has a hint`);
    return { ok: false, message: e.message };
  } finally {
    assert.ok(performance.now() - t0 < 5000, `${what}: took ${performance.now() - t0} ms`);
  }
}

async function outcomeAsync(fn: () => Promise<unknown>, what: string): Promise<Outcome> {
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    assert.ok(e instanceof OnnxFormatError, `${what}: threw ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e)}`);
    return { ok: false, message: e.message };
  }
}

/**
 * Where the model's structure lies: every byte outside raw_data payloads (found as the offsets of protobuf-es's
 * views into the input). Half the flips land there, or nearly all would hit weights and prove little.
 */
function structuralOffsets(bytes: Buffer): (r: () => number) => number {
  const m = decodeModel(bytes);
  const spans: [number, number][] = [];
  const visitTensor = (t: { rawData: Uint8Array }) => {
    if (t.rawData.length > 64 && t.rawData.buffer === bytes.buffer) spans.push([t.rawData.byteOffset - bytes.byteOffset, t.rawData.length]);
  };
  const visitGraph = (g: NonNullable<typeof m.graph>) => {
    g.initializer.forEach(visitTensor);
    for (const n of g.node) {
      for (const a of n.attribute) {
        if (a.t) visitTensor(a.t);
        if (a.g) visitGraph(a.g);
        a.graphs.forEach(visitGraph);
      }
    }
  };
  visitGraph(m.graph!);
  spans.sort((a, b) => a[0] - b[0]);
  const free: [number, number][] = []; // [start, length] of structure
  let at = 0;
  for (const [s, n] of spans) {
    if (s > at) free.push([at, s - at]);
    at = Math.max(at, s + n);
  }
  if (at < bytes.length) free.push([at, bytes.length - at]);
  const total = free.reduce((n, [, l]) => n + l, 0);
  return (r) => {
    let k = Math.floor(r() * total);
    for (const [s, l] of free) {
      if (k < l) return s + k;
      k -= l;
    }
    return 0;
  };
}

describe('mutation corpus', { timeout: 300_000 }, () => {
  let dir: string;
  before(() => {
    dir = tempDir();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const [index, f] of FIXTURES.entries()) {
    it(`${f.file}: 20 truncations through decode, summary and the file walker, which agree`, async () => {
      const bytes = fs.readFileSync(fixture(f.file));
      const r = rng(1000 + index);
      const cuts = [0, 1, 2, 7, 64, ...Array.from({ length: 15 }, () => Math.floor(r() * bytes.length))];
      let rejected = 0;
      for (const cut of cuts) {
        const part = bytes.subarray(0, cut);
        const what = `${f.file} cut at ${cut}`;
        const decoded = outcome(() => decodeModel(part, f.file), `decodeModel(${what})`);
        const summary = outcome(() => summarizeBytes(part, f.file, { baseDir: dir }), `summarizeBytes(${what})`);
        const file = path.join(dir, f.file);
        fs.writeFileSync(file, part);
        const walked = await outcomeAsync(() => summarizeFile(file), `summarizeFile(${what})`);
        assert.equal(summary.ok, decoded.ok, what);
        assert.deepStrictEqual(walked, summary, `${what}: the file walker and the decoder agree`);
        if (!decoded.ok) rejected++;
      }
      assert.equal(rejected, cuts.length, 'no cut of these models reads as a model: each cuts inside the graph');
    });

    it(`${f.file}: 50 seeded random byte flips through decode and summary`, () => {
      const bytes = fs.readFileSync(fixture(f.file));
      const r = rng(2000 + index);
      const structural = structuralOffsets(bytes);
      const copy = Buffer.alloc(bytes.length);
      let rejected = 0;
      for (let k = 0; k < 50; k++) {
        bytes.copy(copy);
        const flips: string[] = [];
        for (let j = 1 + Math.floor(r() * 3); j > 0; j--) {
          const at = k % 2 ? structural(r) : Math.floor(r() * bytes.length);
          const v = Math.floor(r() * 256);
          copy[at] = v;
          flips.push(`${at}=${v}`);
        }
        const what = `${f.file} with bytes ${flips.join(', ')}`;
        const decoded = outcome(() => decodeModel(copy, f.file), `decodeModel(${what})`);
        const summary = outcome(() => summarizeBytes(copy, f.file, { sha256: false }), `summarizeBytes(${what})`);
        assert.equal(summary.ok, decoded.ok, what);
        if (!decoded.ok) rejected++;
      }
      assert.ok(rejected > 0, 'some flips break the structure');
    });
  }
});
