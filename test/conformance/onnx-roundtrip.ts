// The reader/writer against the ONNX node conformance suite (about 1,850 models and 6,400 tensors written by the
// onnx package itself): every model and tensor decodes and re-encodes to the same bytes, every tensor keeps its
// values through Tensor and back to a TensorProto, the file walker summarises every model as decoding does, and onnx.checker
// (full_check=True) accepts every re-encoded model, in one Python process.
//
//   npx tsx test/conformance/onnx-roundtrip.ts        prints "roundtrip: N passed, N failed"; exit 1 on failures
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeError } from '../../src/core/errors';
import { decodeModel, decodeTensor, encodeModel, encodeTensor, tensorFromProto, tensorToProto } from '../../src/core/onnx/model';
import { summarizeBytes, summarizeFile } from '../../src/core/onnx/summary';
import { python } from '../support/fixtures';
import { caseNames, dataFiles, dataSetDirs, ensureConformanceCases } from './cases';

const root = path.resolve(__dirname, '..', '..');

const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;

interface Counter {
  passed: number;
  failed: string[];
}
const counter = (): Counter => ({ passed: 0, failed: [] });

function tally(c: Counter, what: string, fn: () => boolean | string): void {
  let r: boolean | string;
  try {
    r = fn();
  } catch (e) {
    r = describeError(e);
  }
  if (r === true) c.passed++;
  else c.failed.push(r === false ? what : `${what}: ${r}`);
}

async function main(): Promise<number> {
  const t0 = performance.now();
  const dir = ensureConformanceCases();
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-roundtrip-'));
  try {
    const models = counter();
    const tensors = counter();
    const values = counter();
    const summaries = counter();
    const written: { name: string; original: string; copy: string }[] = [];
    let rewrittenSame = 0; // tensors whose rewrite is also byte-identical
    for (const name of caseNames(dir)) {
      const original = path.join(dir, name, 'model.onnx');
      const bytes = fs.readFileSync(original);
      let encoded: Uint8Array | undefined;
      tally(models, name, () => same((encoded = encodeModel(decodeModel(bytes, `${name}/model.onnx`))), bytes));
      if (encoded) {
        const copy = path.join(out, `${name}.onnx`);
        fs.writeFileSync(copy, encoded);
        written.push({ name, original, copy });
        const walked = await summarizeFile(copy).catch((e: unknown) => describeError(e));
        tally(summaries, name, () => {
          assert.deepStrictEqual(walked, summarizeBytes(encoded!, `${name}.onnx`, { baseDir: out }));
          return true;
        });
      }
      for (const set of dataSetDirs(path.join(dir, name))) {
        for (const f of [...dataFiles(set, 'input'), ...dataFiles(set, 'output')]) {
          const rel = path.relative(dir, f);
          const b = fs.readFileSync(f);
          tally(tensors, rel, () => same(encodeTensor(decodeTensor(b, rel)), b));
          tally(values, rel, () => {
            const t = decodeTensor(b, rel);
            const tensor = tensorFromProto(t);
            const again = encodeTensor(tensorToProto(tensor, t.name));
            if (same(again, b)) rewrittenSame++;
            assert.deepStrictEqual(tensorFromProto(decodeTensor(again)), tensor);
            return true;
          });
        }
      }
    }
    const checked = check(written);

    const line = (label: string, c: Counter, total = c.passed + c.failed.length) => `  ${label.padEnd(44)} ${c.passed}/${total}`;
    console.log(`ONNX node conformance suite (onnx ${path.basename(dir).replace('onnx-node-cases-', '')}, ${written.length} models) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    console.log(line('models decode → encode byte-identical', models));
    console.log(line('tensors decode → encode byte-identical', tensors));
    console.log(line('tensors → Tensor → TensorProto, same values', values));
    console.log(
      `    of which byte-identical: ${rewrittenSame} (the others onnx wrote in int32_data, or empty without raw_data;` +
        ' tensorToProto writes raw_data, as numpy_helper.from_array does)',
    );
    console.log(line('summarizeFile = summarizeBytes', summaries));
    console.log(line('onnx.checker full_check on re-encoded models', checked.counter, written.length));
    if (checked.originalToo.length) {
      console.log(`  checker also rejects the original of ${checked.originalToo.length} (not a round-trip failure):`);
      for (const f of checked.originalToo) console.log(`    ${f}`);
    }
    const all = [models, tensors, values, summaries, checked.counter];
    const failures = all.flatMap((c) => c.failed);
    for (const f of failures.slice(0, 50)) console.log(`  FAIL ${f}`);
    if (failures.length > 50) console.log(`  … and ${failures.length - 50} more`);
    const passed = all.reduce((n, c) => n + c.passed, 0);
    console.log(`roundtrip: ${passed} passed, ${failures.length} failed`);
    return failures.length ? 1 : 0;
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

/**
 * onnx.checker on every re-encoded model in one process; a model it rejects is checked again as the original, so a
 * case the checker rejects either way is told apart from one the round trip broke.
 */
function check(written: { name: string; original: string; copy: string }[]): { counter: Counter; originalToo: string[] } {
  const run = (paths: string[]): { path: string; ok: boolean; error: string | null }[] => {
    if (!paths.length) return [];
    const list = path.join(os.tmpdir(), `modelyard-check-${process.pid}.txt`);
    fs.writeFileSync(list, paths.join('\n'));
    try {
      const r = spawnSync(python(), [path.join(root, 'scripts/py/onnx_check_models.py'), list], { encoding: 'utf8', maxBuffer: 256 << 20 });
      if (r.status !== 0) throw new Error(`onnx_check_models.py failed: ${r.stderr.trim().split('\n').at(-1)}`);
      return JSON.parse(r.stdout);
    } finally {
      fs.rmSync(list, { force: true });
    }
  };
  const counter: Counter = { passed: 0, failed: [] };
  const originalToo: string[] = [];
  const results = run(written.map((w) => w.copy));
  const rejected = written.filter((_, i) => !results[i]!.ok);
  const again = run(rejected.map((w) => w.original));
  counter.passed = results.filter((r) => r.ok).length;
  rejected.forEach((w, i) => {
    const error = results[written.indexOf(w)]!.error;
    if (!again[i]!.ok) originalToo.push(`${w.name}: ${error}`);
    else counter.failed.push(`${w.name}: checker rejects the re-encoded model only: ${error}`);
  });
  return { counter, originalToo };
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(2);
  },
);
