// `modelyard quantize` as users run it (the CLI built from source, the real inference worker and onnxruntime-node):
// every mode end to end on a generated MLP and the fixtures, the report, calibration data from folders and model
// tests, bad input (wrong shapes, an already-quantized model, the original as output), Cancel, external data, and
// --register in a real git repository.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeNpy } from '../../src/core/inference/npy';
import { decodeModel, encodeModel } from '../../src/core/onnx/model';
import type { QuantizeReport } from '../../src/core/quantize/quantize';
import { writeModel } from '../../src/core/onnx/io';
import { defaultOutput, quantize } from '../../src/core/quantize/quantize';
import { collect, modelyard, spawnModelyard } from '../support/cli';
import { fixture } from '../support/fixtures';
import { pseudoRandom, testHost } from '../support/inference';
import { matmulChain } from '../support/onnx-models';
import { onnxCheck } from '../support/quantize';

let tmp: string;
let mlp: string;

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-quantize-'));
  mlp = path.join(tmp, 'mlp.onnx');
  fs.writeFileSync(mlp, encodeModel(matmulChain(3, 256)));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function report(r: ReturnType<typeof modelyard>): QuantizeReport {
  assert.ok(r.code === 0 || r.code === 1, `exit 0 or 1, got ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as QuantizeReport;
}

function assertUserError(r: ReturnType<typeof modelyard>, re: RegExp): void {
  assert.equal(r.code, 1, `exit 1, got ${r.code}: ${r.stderr}`);
  assert.match(r.stderr, /^modelyard: /);
  assert.doesNotMatch(r.stderr, /\n\s+at |internal error/);
  assert.match(r.stderr, re);
}

const strays = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'));

describe('modelyard quantize', () => {
  it('int8-dynamic: writes beside the original, reports size, fidelity, latency and decisions; the output passes onnx.checker', () => {
    const r = report(modelyard(['quantize', mlp, '--mode', 'int8-dynamic', '--json', '--runs', '5', '--report', path.join(tmp, 'mlp.report.json')]));
    assert.equal(r.output.file, path.join(tmp, 'mlp.int8.onnx'));
    assert.ok(fs.existsSync(r.output.file));
    assert.ok(r.sizeRatio < 0.3, `size ×${r.sizeRatio}`);
    assert.ok(r.fidelity.worstCosine! > 0.99, `cosine ${r.fidelity.worstCosine}`);
    assert.equal(r.fidelity.kind, 'random');
    assert.ok(r.latency && r.latency.runs === 5 && r.latency.ratio > 0);
    assert.equal(r.converted, 3);
    assert.ok(r.decisions.every((d) => d.opType === 'MatMul' && d.action === 'converted'));
    assert.ok(r.verdict.pass, r.verdict.reasons.join('; '));
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(tmp, 'mlp.report.json'), 'utf8')).output, r.output);
    assert.deepEqual(onnxCheck([r.output.file]).map((c) => c.error), [null]);
    assert.deepEqual(strays(tmp), []);
  });

  it('never replaces an earlier result without -o: the next free name', () => {
    const before = fs.readFileSync(path.join(tmp, 'mlp.int8.onnx'));
    const r = report(modelyard(['quantize', mlp, '--mode', 'int8-dynamic', '--json', '--no-eval']));
    assert.equal(r.output.file, path.join(tmp, 'mlp.int8-2.onnx'));
    assert.ok(fs.readFileSync(path.join(tmp, 'mlp.int8.onnx')).equals(before), 'the first result is untouched');
    fs.rmSync(r.output.file);
  });

  it('prints a readable report without --json', () => {
    const r = modelyard(['quantize', mlp, '--mode', 'int4', '-o', path.join(tmp, 'mlp-int4.onnx'), '--runs', '3']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /form\s+int4 weight-only/);
    assert.match(r.stdout, /size\s+.* \(×0\.\d+\)/);
    assert.match(r.stdout, /✓ 3 MatMul → MatMulNBits/);
    assert.match(r.stdout, /^PASS: worst cosine/m);
  });

  it('auto on a Gemm MLP fixture: profiles it, tries forms, recommends one that passes', () => {
    const src = path.join(tmp, 'hello.onnx');
    fs.copyFileSync(fixture('hello_deepa.onnx'), src);
    const r = report(modelyard(['quantize', src, '--mode', 'auto', '--json', '--runs', '5']));
    assert.equal(r.requestedMode, 'auto');
    assert.equal(r.profile.kind, 'matmul-heavy');
    assert.ok(r.auto!.candidates.length >= 3, JSON.stringify(r.auto!.candidates));
    assert.ok(r.auto!.candidates.find((c) => c.mode === r.mode)!.pass);
    assert.ok(r.verdict.pass);
    assert.equal(r.output.file, defaultOutput(src, r.mode), 'named after the form Auto chose');
    assert.notEqual(r.mode, 'auto' as never);
  });

  it('int8-static calibrates on a folder of .npy files, and names a wrong-shaped sample', () => {
    const cal = path.join(tmp, 'cal');
    fs.mkdirSync(cal);
    for (let i = 0; i < 4; i++) fs.writeFileSync(path.join(cal, `s${i}.npy`), writeNpy({ dtype: 'float32', shape: [2, 256], data: pseudoRandom(512, i + 1) }));
    const r = report(modelyard(['quantize', mlp, '--mode', 'int8-static', '--calibration', cal, '--json', '--runs', '3']));
    assert.equal(r.calibration?.samples, 4);
    assert.equal(r.fidelity.kind, 'folder');
    assert.ok(r.fidelity.worstCosine! > 0.98, `cosine ${r.fidelity.worstCosine}`);

    fs.writeFileSync(path.join(cal, 's9.npy'), writeNpy({ dtype: 'float32', shape: [2, 128], data: pseudoRandom(256, 9) }));
    const bad = modelyard(['quantize', mlp, '--mode', 'int8-static', '--calibration', cal, '-o', path.join(tmp, 'bad.onnx')]);
    assertUserError(bad, /calibration sample cal\/s9\.npy: .*'X'/);
    assert.ok(!fs.existsSync(path.join(tmp, 'bad.onnx')), 'nothing written');
  });

  it('refuses an already-quantized model, the original as output, and an unknown exclusion', () => {
    assertUserError(modelyard(['quantize', path.join(tmp, 'mlp.int8.onnx'), '--mode', 'int8-dynamic']), /already quantized: it holds .*MatMulInteger/);
    assertUserError(modelyard(['quantize', mlp, '--mode', 'fp16', '-o', mlp]), /is the model itself.*never writes over the original/);
    assertUserError(modelyard(['quantize', mlp, '--mode', 'int8-dynamic', '--exclude', 'NoSuchNode']), /'NoSuchNode'.*neither an op type .* nor a node name/);
    assertUserError(modelyard(['quantize', mlp, '--mode', 'int3']), /'int3' is not a quantization mode/);
    assertUserError(modelyard(['quantize', mlp, '--mode', 'int8-static', '--per-channel', '--per-tensor']), /--per-channel or --per-tensor, not both/);
  });

  it('keeps excluded op types in float and says so', () => {
    const r = report(modelyard(['quantize', mlp, '--mode', 'int8-dynamic', '--exclude', 'MatMul', '-o', path.join(tmp, 'none.onnx'), '--json', '--runs', '0']));
    assert.equal(r.converted, 0);
    assert.ok(r.decisions.every((d) => d.action === 'kept' && /exclusion list/.test(d.reason)));
    assert.equal(r.verdict.pass, false);
    assert.match(r.verdict.reasons[0]!, /no node was converted/);
  });

  it('Ctrl-C stops it with exit 130 and leaves no file', async () => {
    const big = path.join(tmp, 'big.onnx');
    fs.writeFileSync(big, encodeModel(matmulChain(8, 1024)));
    const child = spawnModelyard(['quantize', big, '--mode', 'auto', '--progress', 'json']);
    await new Promise<void>((resolve) => child.stderr!.on('data', (d: Buffer) => /"event":"progress"/.test(String(d)) && resolve()));
    child.kill('SIGINT');
    const r = await collect(child);
    assert.equal(r.code, 130, r.stderr);
    assert.deepEqual(fs.readdirSync(tmp).filter((f) => f.startsWith('big.') && f !== 'big.onnx'), [], 'no output');
    assert.deepEqual(strays(tmp), []);
  });

  it('writes models past the threshold with external data that onnxruntime and onnx.checker read', async () => {
    const m = matmulChain(2, 64);
    const out = path.join(tmp, 'ext', 'model.onnx');
    fs.mkdirSync(path.dirname(out));
    const w = await writeModel(m, out, 1000);
    assert.equal(w.externalData, 'model.onnx.data');
    assert.ok(fs.statSync(path.join(tmp, 'ext', 'model.onnx.data')).size >= 2 * 64 * 64 * 4);
    assert.ok(fs.statSync(out).size < 2000, 'the weights are outside the .onnx');
    assert.deepEqual(onnxCheck([out]).map((c) => c.error), [null]);
    // And quantizing a model with external data reads it, and writes a self-contained result.
    const r = report(modelyard(['quantize', out, '--mode', 'int8-dynamic', '--json', '--runs', '0']));
    assert.ok(r.fidelity.worstCosine! > 0.99);
    assert.equal(decodeModel(fs.readFileSync(r.output.file)).graph!.initializer.every((t) => t.externalData.length === 0), true);
  });

  it('--register commits the result with a dvc.yaml entry and tags it with its lineage', () => {
    const repo = path.join(tmp, 'repo');
    fs.mkdirSync(path.join(repo, 'models'), { recursive: true });
    const g = (...a: string[]) => execFileSync('git', a, { cwd: repo, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' } }).trim();
    g('init', '-q', '-b', 'main');
    g('config', 'user.name', 'Test');
    g('config', 'user.email', 'test@example.com');
    fs.copyFileSync(fixture('hello_deepa.onnx'), path.join(repo, 'models', 'wake.onnx'));
    fs.writeFileSync(path.join(repo, 'dvc.yaml'), 'artifacts:\n  wake:\n    path: models/wake.onnx\n    type: model\n');
    g('add', '-A');
    g('commit', '-q', '-m', 'wake');
    g('tag', '-a', '-m', 'first', 'wake@v1.2.0');

    // A dirty dvc.yaml is refused before anything is written or tagged.
    fs.appendFileSync(path.join(repo, 'dvc.yaml'), '# local edit\n');
    const dirty = modelyard(['quantize', 'wake@v1.2.0', '--mode', 'int8-dynamic', '--register', '--runs', '0'], { cwd: repo });
    assertUserError(dirty, /dvc\.yaml has uncommitted changes/);
    assert.equal(g('tag', '--list', 'wake-*'), '');
    assert.deepEqual(fs.readdirSync(path.join(repo, 'models')), ['wake.onnx'], 'refused before quantizing: nothing written');
    g('checkout', '--', 'dvc.yaml');

    const r = modelyard(['quantize', 'wake@v1.2.0', '--mode', 'int8-dynamic', '--register', '--json', '--runs', '0'], { cwd: repo });
    const out = report(r) as QuantizeReport & { registered: { tag: string; name: string; version: string } };
    assert.deepEqual(out.registered && [out.registered.name, out.registered.version, out.registered.tag], ['wake-int8', 'v1.2.0', 'wake-int8@v1.2.0']);
    const message = g('tag', '-l', '--format=%(contents)', 'wake-int8@v1.2.0');
    assert.match(message, /^Register wake-int8@v1\.2\.0/);
    assert.match(message, /quantized-from: wake@v1\.2\.0 \(commit [0-9a-f]{12}\)/);
    assert.match(message, /mode: int8-dynamic/);
    assert.match(g('show', 'HEAD:dvc.yaml'), /wake-int8:\n\s+path: models\/wake\.int8\.onnx/);
    assert.equal(g('status', '--porcelain'), '', 'committed, nothing else touched');
    const shown = JSON.parse(modelyard(['show', 'wake-int8@v1.2.0', '--json'], { cwd: repo }).stdout);
    assert.equal(shown.path, 'models/wake.int8.onnx');

    // --as-version: the next version of wake itself, on a commit the tag alone points at; branch and files untouched.
    const head = g('rev-parse', 'HEAD');
    const v = report(modelyard(['quantize', 'wake@v1.2.0', '--mode', 'fp16', '--register', '--as-version', '--json', '--runs', '0'], { cwd: repo })) as QuantizeReport & { registered: { tag: string } };
    assert.equal(v.registered.tag, 'wake@v1.2.1');
    assert.equal(g('rev-parse', 'HEAD'), head, 'the branch did not move');
    assert.equal(g('status', '--porcelain'), '?? models/wake.fp16.onnx', 'only the written file is new');
    assert.equal(g('rev-parse', 'wake@v1.2.1^{commit}^'), head, 'the version commit sits on HEAD');
    const bytes = execFileSync('git', ['show', 'wake@v1.2.1:models/wake.onnx'], { cwd: repo, maxBuffer: 1 << 26 });
    assert.ok(bytes.equals(fs.readFileSync(path.join(repo, 'models', 'wake.fp16.onnx'))), 'the version holds the quantized bytes at the model\'s path');
    assert.match(g('tag', '-l', '--format=%(contents)', 'wake@v1.2.1'), /quantized-from: wake@v1\.2\.0/);
    const info = JSON.parse(modelyard(['inspect', 'wake@v1.2.1', '--json'], { cwd: repo }).stdout);
    assert.ok(info.parameters.byDtype.some((d: { dtype: string; count: number }) => d.dtype === 'float16' && d.count > 0), 'read back from the registry, it is the float16 model');
  });
});

// A result that is written and then not measured is not left beside the original as if it were one (issue 14, 2).
describe('quantize: a result that is written but not measured is removed, and said so', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-qunmeasured-'));
  const input = path.join(dir, 'chain.onnx');
  const host = testHost();
  before(async () => {
    await writeModel(matmulChain(3, 64), input);
  });
  after(async () => {
    await host.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const left = () => fs.readdirSync(dir).filter((f) => f !== 'chain.onnx');

  it('the quantized file is corrupted on disk before it is measured: removed, the message says so and how to keep one unmeasured', async () => {
    const output = path.join(dir, 'chain.int8.onnx');
    await assert.rejects(
      quantize({
        input,
        output,
        mode: 'int8-dynamic',
        host,
        // The fault: what was written is truncated as the measurement starts (a full disk, another process).
        progress: (p) => p.stage === 'evaluate' && fs.truncateSync(output, 100),
      }),
      (e: Error & { hint?: string }) => {
        assert.match(e.message, /^chain\.int8\.onnx was written and then removed: measuring it against the original failed: /);
        assert.match(e.hint ?? '', /--no-eval/);
        return true;
      },
    );
    assert.deepEqual(left(), [], 'nothing left beside the original');
  });

  it('cancelled after the write: removed, as the cancellation says ("Nothing was written.")', async () => {
    const ac = new AbortController();
    await assert.rejects(quantize({ input, mode: 'int8-dynamic', host, signal: ac.signal, progress: (p) => p.stage === 'write' && ac.abort() }), (e: Error & { hint?: string }) => {
      assert.match(e.message, /cancelled/i);
      assert.equal(e.hint, 'Nothing was written.');
      return true;
    });
    assert.deepEqual(left(), []);
  });

  it('--no-eval keeps the file, unmeasured, and says so in the report', async () => {
    const r = await quantize({ input, mode: 'int8-dynamic', host, evaluate: false });
    assert.ok(fs.existsSync(r.output.file));
    assert.match(r.fidelity.source, /not measured/);
    fs.rmSync(r.output.file);
  });
});
