import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UserError } from '../../src/core/errors';
import { readNpy, writeNpy } from '../../src/core/inference/npy';
import type { Tensor } from '../../src/core/inference/tensor';
import { encodeWav } from '../../src/core/inference/wav';
import { checkOutput } from '../../src/core/modeltest/check';
import { parseModelTestFile, type ModelTestCase, type ModelTestFile } from '../../src/core/modeltest/format';
import { runModelTest, type ModelTestDeps } from '../../src/core/modeltest/runner';
import { modelyard } from '../support/cli';
import { fixture } from '../support/fixtures';

const f32 = (shape: number[], values: number[]): Tensor => ({ dtype: 'float32', shape, data: Float32Array.from(values) });

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-modeltest-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function write(rel: string, content: unknown): string {
  const file = path.join(tmp, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, typeof content === 'string' || content instanceof Uint8Array ? content : JSON.stringify(content, null, 2));
  return file;
}

describe('model test checks', () => {
  it('allclose: within atol + rtol·|e| passes, NaN equals NaN; a failure names where and by how much', () => {
    const tol = { atol: 1e-3, rtol: 0 };
    assert.equal(checkOutput('y', f32([3], [1, 2, NaN]), { kind: 'values', tensor: f32([3], [1.0005, 2, NaN]), tolerance: tol }).ok, true);
    const bad = checkOutput('y', f32([2, 2], [1, 2, 3, 4]), { kind: 'values', tensor: f32([2, 2], [1, 2, 3, 4.5]), tolerance: tol });
    assert.equal(bad.ok, false);
    assert.equal(bad.message, "output 'y': 1 of 4 values differ beyond atol 0.001 + rtol 0, largest difference 0.5 at [1,1] (expected 4.5, got 4)");
    assert.match(bad.expected!, /^float32 \[2,2\]\n1, 2, 3, 4\.5\n$/);
    assert.match(checkOutput('y', f32([4], [1, 2, 3, 4]), { kind: 'values', tensor: f32([2, 2], [1, 2, 3, 4]), tolerance: tol }).message!, /shape \[4\], expected \[2,2\]/);
    assert.match(checkOutput('y', f32([1], [NaN]), { kind: 'values', tensor: f32([1], [1]), tolerance: tol }).message!, /1 of 1 values differ/);
  });

  it('top1, range and shape', () => {
    const scores = f32([1, 4], [0.1, 0.7, 0.15, 0.05]);
    assert.equal(checkOutput('p', scores, { kind: 'top1', index: 1 }).ok, true);
    assert.equal(checkOutput('p', scores, { kind: 'top1', index: 2 }).message, "output 'p': top-1 class is 1 (0.7), expected 2 (0.15)");
    assert.equal(checkOutput('p', scores, { kind: 'range', min: 0, max: 1 }).ok, true);
    assert.equal(checkOutput('p', scores, { kind: 'range', min: 0.1, max: 1 }).message, "output 'p' at [0,3] is 0.05, outside the expected range [0.1, 1]");
    assert.equal(checkOutput('p', f32([1], [NaN]), { kind: 'range', min: 0, max: 1 }).ok, false, 'NaN is outside every range');
    assert.equal(checkOutput('p', scores, { kind: 'shape', shape: [1, 4] }).ok, true);
    assert.equal(checkOutput('p', scores, { kind: 'shape', shape: [4] }).message, "output 'p' has shape [1,4], expected [4]");
    assert.equal(checkOutput('p', undefined, { kind: 'shape', shape: [4] }).message, "output 'p' was not produced by the model");
  });
});

describe('model test files: parse errors say where', () => {
  const parseError = (text: string) => {
    try {
      parseModelTestFile(text, 'a.modeltest.json');
    } catch (e) {
      assert.ok(e instanceof UserError);
      return e.message;
    }
    assert.fail('expected a parse error');
  };

  it('JSON syntax: line and column', () => {
    assert.match(parseError('{\n  "model": "m.onnx",\n  "tests": [,]\n}'), /^a\.modeltest\.json:3:\d+ is not valid JSON: /);
  });

  it('the format: line and JSON path, in words', () => {
    const text = ['{', '  "model": "m.onnx",', '  "tests": [', '    { "name": "a", "inputs": {}, "expected": { "y": { "shape": [1] } } },', '    { "name": "b", "inputs": { "x": { "zeros": false } }, "expected": {} }', '  ]', '}'].join('\n');
    assert.equal(parseError(text), 'a.modeltest.json:5: tests[1].inputs.x.zeros must be true.');
    assert.equal(parseError('{"model": "m.onnx", "tests": []}'), 'a.modeltest.json:1: tests must be at least 1 items.');
    assert.equal(parseError('{"tests": [{"name": "a", "inputs": {}, "expected": {}}]}'), 'a.modeltest.json:1: model must be a string.');
    assert.match(parseError('{"model": "m", "tests": [{"name": "a", "inputs": {}, "expected": {"y": {"top": 1}}}]}'), /expected\.y is not an expected output this format knows/);
    assert.match(parseError('{"model": "m", "extra": 1, "tests": [{"name": "a", "inputs": {}, "expected": {}}]}'), /the file has unknown key "extra"/);
    assert.match(parseError('{"model": "m", "tests": [{"name": "a", "inputs": {}, "expected": {}}, {"name": "a", "inputs": {}, "expected": {}}]}'), /two tests are named 'a'/);
  });

  it('finds each test on its line', () => {
    const { locations } = parseModelTestFile('{\n"model": "m",\n"tests": [\n{"name": "one", "inputs": {}, "expected": {}},\n\n{"name": "two", "inputs": {}, "expected": {}}\n]}', 'f');
    assert.deepEqual(locations, [
      { name: 'one', line: 3 },
      { name: 'two', line: 5 },
    ]);
  });
});

describe('the runner over injected deps: pass, fail, error, skip', () => {
  const spec: ModelTestFile = { model: 'm.onnx', tests: [{ name: 't', inputs: { x: { zeros: true } }, expected: { y: { value: [1, 2] } } }] };
  const deps = (y: Tensor): ModelTestDeps => ({
    inputs: [{ name: 'x', dtype: 'float32', shape: [2] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [2] }],
    input: async () => f32([2], [0, 0]),
    expected: async (ref) => ('value' in ref ? f32([2], ref.value as number[]) : readNpy(fs.readFileSync(ref.file))),
    run: async () => ({ outputs: { y }, ms: 1 }),
  });

  it('reports each status', async () => {
    assert.equal((await runModelTest(spec, spec.tests[0]!, tmp, deps(f32([2], [1, 2])))).status, 'passed');
    const failed = await runModelTest(spec, spec.tests[0]!, tmp, deps(f32([2], [1, 3])));
    assert.equal(failed.status, 'failed');
    assert.match(failed.failures[0]!.message!, /1 of 2 values differ/);
    const errored = await runModelTest(spec, { ...spec.tests[0]!, inputs: { z: { zeros: true } } }, tmp, deps(f32([2], [1, 2])));
    assert.equal(errored.status, 'errored');
    assert.match(errored.message!, /input 'z' is not an input of the model/);
    assert.equal((await runModelTest(spec, { ...spec.tests[0]!, expected: { nope: { shape: [1] } } }, tmp, deps(f32([2], [1, 2])))).status, 'errored');
    const skipped = await runModelTest(spec, { ...spec.tests[0]!, skip: 'waiting for v2' }, tmp, deps(f32([2], [1, 2])));
    assert.deepEqual([skipped.status, skipped.message], ['skipped', 'waiting for v2']);
  });

  it('with update, expected files are neither read nor checked; the others still are', async () => {
    const t: ModelTestCase = { name: 'u', inputs: { x: { zeros: true } }, expected: { y: 'missing/y.npy' } };
    const plain = await runModelTest(spec, t, tmp, deps(f32([2], [1, 2])));
    assert.equal(plain.status, 'errored');
    const updating = await runModelTest(spec, t, tmp, deps(f32([2], [1, 2])), { update: true });
    assert.equal(updating.status, 'passed');
    assert.deepEqual(Array.from(updating.outputs!.y!.data as Float32Array), [1, 2]);
  });
});

describe('modelyard test (the CLI bundle, real models)', () => {
  let suite: string;

  before(() => {
    suite = path.join(tmp, 'suite');
    const x = { dtype: 'float32' as const, shape: [1, 25, 96], data: Float32Array.from({ length: 2400 }, (_, i) => Math.sin(i) * 0.5) };
    write('suite/data/x.npy', writeNpy(x));
    write('suite/wake.modeltest.json', {
      model: fixture('hello_deepa.onnx'),
      tolerance: { atol: 1e-5, rtol: 1e-4 },
      tests: [
        { name: 'a window of embeddings', inputs: { 'onnx::Flatten_0': 'data/x.npy' }, expected: { '39': 'expected/x.39.npy' } },
        { name: 'a probability', inputs: { 'onnx::Flatten_0': { random: { seed: 3 } } }, expected: { '39': { range: [0, 1] } } },
        { name: 'the shape', inputs: { 'onnx::Flatten_0': { zeros: true } }, expected: { '39': { shape: [1, 1] } } },
        { name: 'one class', inputs: { 'onnx::Flatten_0': { ones: true } }, expected: { '39': { top1: 0 } } },
        { name: 'later', skip: 'needs the new export', inputs: { 'onnx::Flatten_0': { zeros: true } }, expected: { '39': { shape: [1, 1] } } },
      ],
    });
    const samples = Float32Array.from({ length: 512 }, (_, i) => 0.2 * Math.sin((2 * Math.PI * 300 * i) / 16000));
    write('suite/vad/tone.wav', encodeWav([samples], 16000));
    write('suite/vad/vad.modeltest.json', {
      model: fixture('silero_vad_v5.onnx'),
      tests: [
        {
          name: 'a tone',
          inputs: { input: { wav: 'tone.wav', sampleRate: 16000 }, state: { zeros: true }, sr: { value: 16000 } },
          shapes: { input: [1, 512], state: [2, 1, 128] },
          expected: { output: { range: [0, 1] }, stateN: { shape: [2, 1, 128] } },
        },
      ],
    });
    // Never searched: node_modules and .git.
    write('suite/node_modules/pkg/broken.modeltest.json', '{');
    write('suite/.git/x.modeltest.json', '{');
  });

  it('an expected file that does not exist yet is an error that names --update; --update writes it atomically', () => {
    const first = modelyard(['test', suite]);
    assert.equal(first.code, 1, first.stderr);
    assert.match(first.stdout, /ERR {2}a window of embeddings\n\s+the expected output .*x\.39\.npy does not exist\. Run `modelyard test --update`/);
    assert.match(first.stdout, /^4 passed, 0 failed, 1 errored, 1 skipped$/m);
    const update = modelyard(['test', suite, '--update']);
    assert.equal(update.code, 0, update.stdout + update.stderr);
    assert.match(update.stdout, /wrote .*expected\/x\.39\.npy/);
    assert.match(update.stdout, /; 1 expected file written$/m);
    const written = readNpy(fs.readFileSync(path.join(suite, 'expected', 'x.39.npy')));
    assert.deepEqual(written.shape, [1, 1]);
    assert.deepEqual(fs.readdirSync(path.join(suite, 'expected')), ['x.39.npy']);
  });

  it('passes, fails with the difference, and reports per test', () => {
    const ok = modelyard(['test', suite]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /^ {2}ok {3}a window of embeddings {2}[\d.]+ ms$/m);
    assert.match(ok.stdout, /^ {2}skip later {2}\(needs the new export\)$/m);
    assert.match(ok.stdout, /^ {2}ok {3}a tone/m);
    assert.match(ok.stdout, /^5 passed, 0 failed, 0 errored, 1 skipped$/m);
    // The model "changes": the expected output no longer matches.
    const y = readNpy(fs.readFileSync(path.join(suite, 'expected', 'x.39.npy')));
    (y.data as Float32Array)[0] = (y.data as Float32Array)[0]! + 0.01;
    fs.writeFileSync(path.join(suite, 'expected', 'x.39.npy'), writeNpy(y));
    const failed = modelyard(['test', path.join(suite, 'wake.modeltest.json')]);
    assert.equal(failed.code, 1);
    assert.match(failed.stdout, /^ {2}FAIL a window of embeddings/m);
    assert.match(failed.stdout, /output '39': 1 of 1 values differ beyond atol 0\.00001 \+ rtol 0\.0001, largest difference 0\.0099/);
    const j = JSON.parse(modelyard(['test', suite, '--json']).stdout);
    assert.deepEqual(j.summary, { passed: 4, failed: 1, errored: 0, skipped: 1, fileErrors: 0, updated: 0 });
    assert.equal(j.files[1].tests[0].failures[0].output, '39');
    assert.equal(modelyard(['test', suite, '--update']).code, 0);
    assert.equal(modelyard(['test', suite]).code, 0);
  });

  it('a broken file is reported with its line, and the others still run', () => {
    const broken = write('suite/broken/bad.modeltest.json', '{\n  "model": "x.onnx",\n  "tests": [{"name": "t", "inputs": {}, "expected": {"y": {"range": [0]}}}]\n}');
    const r = modelyard(['test', suite]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /broken\/bad\.modeltest\.json\n {2}ERR {2}.*bad\.modeltest\.json:3: tests\[0\]\.expected\.y\.range/);
    assert.match(r.stdout, /^5 passed, 0 failed, 0 errored, 1 skipped, 1 file not run$/m);
    fs.rmSync(broken);
  });

  it('a model that does not load, or an input the model lacks, is an error of that file or test', () => {
    write('suite2/missing.modeltest.json', { model: 'nowhere.onnx', tests: [{ name: 't', inputs: {}, expected: {} }] });
    write('suite2/wrong.modeltest.json', { model: fixture('hello_deepa.onnx'), tests: [{ name: 'typo', inputs: { x: { zeros: true } }, expected: {} }] });
    const r = modelyard(['test', path.join(tmp, 'suite2')]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /ERR {2}the model file nowhere\.onnx does not exist/);
    assert.match(r.stdout, /ERR {2}typo\n\s+input 'x' is not an input of the model \(its inputs: onnx::Flatten_0\)/);
  });

  it('searches the current folder by default, and says so when it finds nothing', () => {
    const r = modelyard(['test'], { cwd: path.join(suite, 'vad') });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^vad\.modeltest\.json {2}\(.*silero_vad_v5\.onnx\)$/m);
    const empty = fs.mkdtempSync(path.join(tmp, 'empty-'));
    const none = modelyard(['test'], { cwd: empty });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^modelyard: no \*\.modeltest\.json files under /);
    const missing = modelyard(['test', path.join(tmp, 'nowhere')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nowhere does not exist/);
  });
});
