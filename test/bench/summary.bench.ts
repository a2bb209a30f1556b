// The summary of a 100 MB model (what the Models view, `modelyard inspect` and the model card show first) against
// the floor under it, in one run:
//
//   npx tsx test/bench/summary.bench.ts [--mb 100] [--runs 9]
//
// The model: test/support/onnx-models.ts matmulChain(25, 1000), 25 MatMul weights of 1000 × 1000 floats (100 MB),
// written to the temp folder and read warm from the page cache (its first read is printed apart). Measured,
// interleaved, after two warm-up rounds:
//   read + sha256   the file read in 4 MB chunks into a sha256 (node:crypto), nothing else: the floor for any
//                   summary that names the file's hash, as summarizeFile does by default
//   summarizeFile   summarizeFile(file): the wire walk, the counts, the sha256 of every byte
//   no sha256       summarizeFile(file, { sha256: false }): the walk seeks past the weights
//   read only       the same 4 MB reads without hashing: what the I/O alone costs
// Goal: summarizeFile under 300 ms. Prints figures and ratios; asserts nothing (exits 1 only when the summary's
// parameter count is not the model's: a bug).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { summarizeFile } from '../../src/core/onnx/summary';
import { encode, matmulChain } from '../support/onnx-models';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const MB = Number(arg('mb', '100'));
const RUNS = Number(arg('runs', '9'));
const CHUNK = 4 << 20;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (v: number) => `${v.toFixed(1)} ms`;

async function readAll(file: string, hash: boolean): Promise<string | undefined> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const h = hash ? createHash('sha256') : undefined;
    const buf = Buffer.allocUnsafe(CHUNK);
    for (let at = 0; ; ) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, at);
      if (!bytesRead) break;
      h?.update(buf.subarray(0, bytesRead));
      at += bytesRead;
    }
    return h?.digest('hex');
  } finally {
    await fh.close();
  }
}

async function main(): Promise<void> {
  const dim = 1000;
  const layers = Math.max(1, Math.round((MB * 1e6) / (4 * dim * dim)));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-summary-bench-'));
  const file = path.join(dir, 'chain.onnx');
  try {
    let t0 = performance.now();
    fs.writeFileSync(file, encode(matmulChain(layers, dim)));
    const writeMs = performance.now() - t0;
    const size = fs.statSync(file).size;
    t0 = performance.now();
    const first = await summarizeFile(file);
    const firstMs = performance.now() - t0;
    if (first.parameters.count !== layers * dim * dim) {
      console.log(`  BUG: summarizeFile counts ${first.parameters.count} parameters, the model has ${layers * dim * dim}`);
      process.exitCode = 1;
    }
    const tasks: { label: string; fn: () => Promise<unknown>; samples: number[] }[] = [
      { label: 'read + sha256 (baseline)', fn: () => readAll(file, true), samples: [] },
      { label: 'summarizeFile', fn: () => summarizeFile(file), samples: [] },
      { label: 'summarizeFile, no sha256', fn: () => summarizeFile(file, { sha256: false }), samples: [] },
      { label: 'read only', fn: () => readAll(file, false), samples: [] },
    ];
    for (let round = -2; round < RUNS; round++) {
      for (const t of round % 2 ? tasks : [...tasks].reverse()) {
        const s = performance.now();
        await t.fn();
        if (round >= 0) t.samples.push(performance.now() - s);
      }
    }
    const hashed = await readAll(file, true);
    if (hashed !== first.sha256) {
      console.log(`  BUG: summarizeFile's sha256 ${first.sha256} is not the file's ${hashed}`);
      process.exitCode = 1;
    }
    const [base, summary, noHash, readOnly] = tasks.map((t) => median(t.samples)) as [number, number, number, number];
    const [l1] = os.loadavg();
    console.log(`  model: ${(size / 1e6).toFixed(1)} MB (${layers} MatMul weights of ${dim}×${dim} floats, ${first.nodeCount} nodes), written in ${ms(writeMs)}, warm in the page cache`);
    console.log(`  ${RUNS} runs each after 2 warm-ups, interleaved; load average ${l1!.toFixed(1)} on ${os.cpus().length} CPUs${l1! > os.cpus().length / 2 ? ' (other work is running: figures are noisy)' : ''}`);
    console.log(`  ${''.padEnd(28)} ${'median'.padStart(10)} ${'min'.padStart(10)}   vs read + sha256`);
    for (const t of tasks) {
      const m = median(t.samples);
      console.log(`  ${t.label.padEnd(28)} ${ms(m).padStart(10)} ${ms(Math.min(...t.samples)).padStart(10)}   ${(m / base).toFixed(2)}×`);
    }
    console.log(`  first summarizeFile after writing the file: ${ms(firstMs)}`);
    console.log(`  summarizeFile: ${ms(summary)}, goal < 300 ms: ${summary < 300 ? 'met' : 'MISSED'}; ${(summary / base).toFixed(2)}× reading and hashing the file (${ms(summary - base)} more)`);
    console.log(`  without sha256: ${ms(noHash)}, ${(noHash / readOnly).toFixed(2)}× reading the file (it reads ${((first.size - first.parameters.bytes) / 1e3).toFixed(0)} KB of structure)`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main();
