import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodeWav } from '../../src/core/inference/wav';
import { readNpy, writeNpy } from '../../src/core/inference/npy';
import { decodeModel, encodeModel } from '../../src/core/onnx/model';
import { collect, modelyard, spawnModelyard } from '../support/cli';
import { fixture } from '../support/fixtures';
import { pseudoRandom } from '../support/inference';

const HELLO = () => fixture('hello_deepa.onnx');
const VAD = () => fixture('silero_vad_v5.onnx');
let tmp: string;

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-cli-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A user error: exit 1, one line on stderr starting with "modelyard: ", no stack. */
function assertUserError(r: ReturnType<typeof modelyard>, re: RegExp): void {
  assert.equal(r.code, 1, `exit 1, got ${r.code}: ${r.stderr}`);
  assert.match(r.stderr, /^modelyard: /);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at |internal error/);
  assert.match(r.stderr, re);
}

function json(r: ReturnType<typeof modelyard>): Record<string, unknown> {
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** hello_deepa with its last Gemm's bias moved by `delta`: a "new version" whose output differs. */
function perturbedHello(delta: number): string {
  const m = decodeModel(fs.readFileSync(HELLO()));
  // The bias of the last Gemm (float32, one value) moves the logit before the sigmoid.
  const init = m.graph!.initializer.find((t) => t.dataType === 1 && t.dims.length === 1 && Number(t.dims[0]) === 1);
  assert.ok(init, 'hello_deepa has a one-value float bias');
  if (init.rawData.length) {
    const f = new Float32Array(new Uint8Array(init.rawData).buffer);
    f[0] = f[0]! + delta;
    init.rawData = new Uint8Array(f.buffer);
  } else init.floatData[0] = init.floatData[0]! + delta;
  const file = path.join(tmp, `hello-${delta}.onnx`);
  fs.writeFileSync(file, encodeModel(m));
  return file;
}

describe('modelyard inspect', () => {
  it('prints a summary, and all of it with --json', () => {
    const text = modelyard(['inspect', HELLO()]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^input\s+onnx::Flatten_0: float32 \[1,25,96\]$/m);
    assert.match(text.stdout, /^operators\s+.*Gemm×3/m);
    const s = json(modelyard(['inspect', VAD(), '--json']));
    assert.deepEqual(
      (s.inputs as { name: string }[]).map((i) => i.name),
      ['input', 'state', 'sr'],
    );
    assert.equal(s.sha256, '2623a2953f6ff3d2c1e61740c6cdb7168133479b267dfef114a4a3cc5bdd788f');
  });

  it('refuses a missing file, a folder and a corrupt model in one line', () => {
    assertUserError(modelyard(['inspect', path.join(tmp, 'nope.onnx')]), /nope\.onnx does not exist/);
    assertUserError(modelyard(['inspect', tmp]), /is a folder, not a model file/);
    const corrupt = path.join(tmp, 'corrupt.onnx');
    fs.writeFileSync(corrupt, fs.readFileSync(HELLO()).subarray(0, 5000));
    assertUserError(modelyard(['inspect', corrupt]), /corrupt\.onnx/);
    const text = path.join(tmp, 'notes.onnx');
    fs.writeFileSync(text, 'these are not weights\n');
    assertUserError(modelyard(['inspect', text]), /notes\.onnx/);
    assertUserError(modelyard(['inspect']), /wrong number of arguments/);
  });
});

describe('modelyard run', () => {
  it('prints outputs as {name, dtype, shape, data} with --json, the same for the same seed', () => {
    const a = json(modelyard(['run', HELLO(), '--input', 'random:7', '--json']));
    const outputs = a.outputs as { name: string; dtype: string; shape: number[]; data: number[] }[];
    assert.deepEqual(
      outputs.map((o) => [o.name, o.dtype, o.shape, o.data.length]),
      [['39', 'float32', [1, 1], 1]],
    );
    assert.ok(outputs[0]!.data[0]! > 0 && outputs[0]!.data[0]! < 1, 'a sigmoid');
    const b = json(modelyard(['run', HELLO(), '--input', 'onnx::Flatten_0=random:7', '--json']));
    assert.deepEqual(b.outputs, a.outputs);
    const c = json(modelyard(['run', HELLO(), '--input', 'random:8', '--json']));
    assert.notDeepEqual(c.outputs, a.outputs);
  });

  it('takes .npy and .json inputs and writes .npy outputs to --output-dir', () => {
    const x = { dtype: 'float32' as const, shape: [1, 25, 96], data: pseudoRandom(2400, 3) };
    const npy = path.join(tmp, 'x.npy');
    fs.writeFileSync(npy, writeNpy(x));
    const jsonIn = path.join(tmp, 'x.json');
    fs.writeFileSync(jsonIn, JSON.stringify({ dtype: 'float32', shape: [1, 25, 96], data: Array.from(x.data) }));
    const out = path.join(tmp, 'out');
    const r1 = json(modelyard(['run', HELLO(), '--input', `onnx::Flatten_0=${npy}`, '--output-dir', out, '--json']));
    const r2 = json(modelyard(['run', HELLO(), '--input', jsonIn, '--json']));
    assert.deepEqual(r1.outputs, r2.outputs);
    assert.deepEqual(r1.written, [path.join(out, '39.npy')]);
    const written = readNpy(fs.readFileSync(path.join(out, '39.npy')));
    assert.deepEqual(written.shape, [1, 1]);
    assert.equal(written.data[0], (r1.outputs as { data: number[] }[])[0]!.data[0]);
    assert.deepEqual(fs.readdirSync(out), ['39.npy'], 'no temporary file left');
  });

  it('prints a readable table with stats', () => {
    const r = modelyard(['run', VAD(), '--shape', 'input=1,512']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^output\s+float32 \[1,1\]$/m);
    assert.match(r.stdout, /^stateN\s+float32 \[2,1,128\]$/m);
    assert.match(r.stdout, /^\s+min -?[\d.e-]+\s+max -?[\d.e-]+\s+mean/m);
    assert.match(r.stdout, /^ran in [\d.]+ ms$/m);
  });

  it('runs the VAD model on a WAV file, the int64 scalar sr given', () => {
    const samples = Float32Array.from({ length: 512 }, (_, i) => 0.3 * Math.sin((2 * Math.PI * 440 * i) / 16000));
    const wav = path.join(tmp, 'tone.wav');
    fs.writeFileSync(wav, encodeWav([samples], 16000));
    const r = json(modelyard(['run', VAD(), '--input', `input=${wav}`, '--shape', 'input=1,512', '--json']));
    const inputs = r.inputs as { name: string; dtype: string; shape: number[]; source: string[] }[];
    assert.deepEqual(inputs.find((i) => i.name === 'sr'), { name: 'sr', dtype: 'int64', shape: [], source: ['16000 (a sample rate, by its name)'] });
    assert.deepEqual(inputs.find((i) => i.name === 'input')!.shape, [1, 512]);
    assert.deepEqual((r.outputs as { name: string }[]).map((o) => o.name), ['output', 'stateN']);
  });

  it('refuses a wrong input name, a wrong shape, a missing input file and bad options, in one line each', () => {
    assertUserError(modelyard(['run', HELLO(), '--input', 'x=zeros']), /no input 'x'.*onnx::Flatten_0/);
    assertUserError(modelyard(['run', HELLO(), '--shape', 'onnx::Flatten_0=2,25,96']), /fixed at 1 by the model, not 2/);
    assertUserError(modelyard(['run', HELLO(), '--shape', 'onnx::Flatten_0=1,2400']), /has 3 dims \[1,25,96\], not 2/);
    const wrong = path.join(tmp, 'wrong.npy');
    fs.writeFileSync(wrong, writeNpy({ dtype: 'float32', shape: [1, 24, 100], data: new Float32Array(2400) }));
    assertUserError(modelyard(['run', HELLO(), '--input', wrong]), /shape \[1,24,100\] but the model expects \[1,25,96\]/);
    const f64 = path.join(tmp, 'f64.npy');
    fs.writeFileSync(f64, writeNpy({ dtype: 'float64', shape: [1, 25, 96], data: new Float64Array(2400) }));
    assertUserError(modelyard(['run', HELLO(), '--input', f64]), /holds float64 but input 'onnx::Flatten_0' is float32/);
    assertUserError(modelyard(['run', HELLO(), '--input', path.join(tmp, 'absent.npy')]), /absent\.npy does not exist/);
    assertUserError(modelyard(['run', HELLO(), '--input', 'pink-noise']), /is not an input: give FILE\.npy/);
    assertUserError(modelyard(['run', HELLO(), '--threads', '0']), /--threads takes a whole number from 1/);
    assertUserError(modelyard(['run', HELLO(), '--bogus']), /Unknown option '--bogus'/);
    assertUserError(modelyard(['run', VAD(), '--input', 'zeros']), /does not say which input.*3 inputs/);
    const corrupt = path.join(tmp, 'corrupt-run.onnx');
    fs.writeFileSync(corrupt, fs.readFileSync(HELLO()).subarray(0, 20000));
    assertUserError(modelyard(['run', corrupt]), /onnxruntime could not load/);
  });

  it('stops on Ctrl-C with exit 130', async () => {
    const child = spawnModelyard(['bench', fixture('ch_PP-OCRv4_det_infer.onnx'), '--budget', '60', '--shape', 'x=1,3,640,640']);
    const done = collect(child);
    await new Promise((r) => setTimeout(r, 4000));
    child.kill('SIGINT');
    const r = await done;
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /cancelled/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
});

describe('modelyard bench', () => {
  it('prints p50/p90/p99 and runs/s, and a sweep for several thread counts', () => {
    const r = json(modelyard(['bench', HELLO(), '--runs', '30', '--warmup', '2', '--json']));
    assert.equal(r.runs, 30);
    assert.equal(r.warmup, 2);
    for (const k of ['p50', 'p90', 'p99', 'mean', 'std', 'min', 'max', 'throughput']) assert.equal(typeof r[k], 'number', k);
    assert.ok((r.p50 as number) <= (r.p99 as number));
    const text = modelyard(['bench', HELLO(), '--runs', '10', '--threads', '1,2']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^threads +1 +runs 10 .*p50 [\d.]+ ms +p90 [\d.]+ ms +p99 [\d.]+ ms/m);
    assert.match(text.stdout, /^threads +2 /m);
    const sweep = json(modelyard(['bench', HELLO(), '--runs', '5', '--threads', '1,2', '--json']));
    assert.deepEqual((sweep.sweep as { threads: number }[]).map((e) => e.threads), [1, 2]);
    const budget = json(modelyard(['bench', HELLO(), '--budget', '0.3', '--json']));
    assert.equal(budget.stoppedBy, 'budget');
  });

  it('refuses bad numbers', () => {
    assertUserError(modelyard(['bench', HELLO(), '--runs', 'many']), /--runs takes a whole number from 1, not 'many'/);
    assertUserError(modelyard(['bench', HELLO(), '--threads', '1,x']), /--threads takes a whole number/);
    assertUserError(modelyard(['bench', HELLO(), '--budget=-1']), /--budget takes a number of 0 or more/);
  });
});

describe('modelyard compare', () => {
  it('exits 0 within tolerance and 1 beyond it, with the reasons', () => {
    const same = modelyard(['compare', HELLO(), HELLO(), '--runs', '1']);
    assert.equal(same.code, 0, same.stderr);
    assert.match(same.stdout, /^PASS within atol 0\.0001, rtol 0\.001, min cosine 0\.999$/m);
    const changed = perturbedHello(0.5);
    const diff = modelyard(['compare', HELLO(), changed, '--runs', '0']);
    assert.equal(diff.code, 1, diff.stderr);
    assert.match(diff.stdout, /^FAIL \(atol/m);
    assert.match(diff.stdout, /^ {2}- output '39': 1 of 1 values differ by more than atol/m);
    const loose = json(modelyard(['compare', HELLO(), changed, '--atol', '1', '--min-cosine', '0', '--runs', '0', '--json']));
    assert.deepEqual(loose.verdict, { pass: true, reasons: [] });
    const strict = modelyard(['compare', HELLO(), changed, '--runs', '0', '--json']);
    assert.equal(strict.code, 1);
    assert.equal(JSON.parse(strict.stdout).verdict.pass, false);
  });

  it('refuses models with different inputs and bad tolerances in one line', () => {
    assertUserError(modelyard(['compare', HELLO(), VAD()]), /not an input of the model/);
    assertUserError(modelyard(['compare', HELLO(), HELLO(), '--atol', 'tiny']), /--atol takes a number/);
    assertUserError(modelyard(['compare', HELLO()]), /wrong number of arguments/);
  });
});

describe('MODEL as a registry reference, read from git without a checkout', () => {
  let repo: string;
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' } });

  before(() => {
    repo = path.join(tmp, 'repo');
    fs.mkdirSync(path.join(repo, 'models'), { recursive: true });
    git('init', '-q', '-b', 'main');
    fs.copyFileSync(HELLO(), path.join(repo, 'models', 'wake.onnx'));
    fs.writeFileSync(path.join(repo, 'dvc.yaml'), 'artifacts:\n  wake:\n    path: models/wake.onnx\n    type: model\n');
    git('add', '.');
    git('commit', '-q', '-m', 'v1');
    git('tag', '-a', 'wake@v1.0.0', '-m', 'first');
    git('tag', '-a', 'wake#prod#1', '-m', 'ship it');
    fs.copyFileSync(perturbedHello(0.25), path.join(repo, 'models', 'wake.onnx'));
    git('commit', '-q', '-am', 'v2');
    git('tag', '-a', 'wake@v1.1.0', '-m', 'second');
    // The working copy changes too: references must read git, not the file on disk.
    fs.writeFileSync(path.join(repo, 'models', 'wake.onnx'), 'scratch');
  });

  it('inspects and runs name@version, name#stage and name@latest from git', () => {
    const v1 = json(modelyard(['inspect', 'wake@v1.0.0', '--repo', repo, '--json']));
    assert.equal(v1.sha256, '67ac357640e53b9d4713433a8ab48be4333f7cb21d6816406be7660ebe6d7614');
    assert.equal(v1.file, 'wake@v1.0.0');
    const prod = json(modelyard(['run', 'wake#prod', '--input', 'random:1', '--json'], { cwd: repo }));
    const hello = json(modelyard(['run', HELLO(), '--input', 'random:1', '--json']));
    assert.deepEqual(prod.outputs, hello.outputs);
    assert.equal(prod.model, 'wake@v1.0.0');
    const latest = json(modelyard(['run', 'wake@latest', '--input', 'random:1', '--json'], { cwd: repo }));
    assert.equal(latest.model, 'wake@v1.1.0');
    assert.notDeepEqual(latest.outputs, hello.outputs);
    const cmp = modelyard(['compare', 'wake#prod', 'wake@latest', '--runs', '0'], { cwd: repo });
    assert.equal(cmp.code, 1);
    assert.match(cmp.stdout, /^A wake@v1\.0\.0$/m);
  });

  it('refuses unknown names, versions and stages, and a name outside a repository', () => {
    assertUserError(modelyard(['inspect', 'sleep', '--repo', repo]), /no model named 'sleep'/);
    assertUserError(modelyard(['inspect', 'wake@v9.9.9', '--repo', repo]), /wake@v9\.9\.9 is not registered/);
    assertUserError(modelyard(['run', 'wake#staging', '--repo', repo]), /no version in stage 'staging'/);
    assertUserError(modelyard(['inspect', 'wake'], { cwd: os.tmpdir() }), /is not a file, and .* is not in a git repository/);
  });
});

describe('modelyard --help', () => {
  it('names the new verbs', () => {
    const r = modelyard(['--help']);
    for (const v of ['inspect MODEL', 'run MODEL', 'bench MODEL', 'compare A B', 'test [PATH…]', 'serve MODEL']) assert.ok(r.stdout.includes(v), v);
  });
});
