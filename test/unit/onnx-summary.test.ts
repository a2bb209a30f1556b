import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UserError } from '../../src/core/errors';
import { DTYPES, type DType } from '../../src/core/onnx/dtypes';
import { OnnxFormatError } from '../../src/core/onnx/errors';
import { TensorProto_DataType } from '../../src/core/onnx/gen/onnx_pb';
import { summarizeBytes, summarizeFile, type ModelSummary } from '../../src/core/onnx/summary';
import { FIXTURES, fixture, python } from '../support/fixtures';
import { encode, matmulChain, richModel, tempDir, writeExternalDataModel, writeSparseBigModel } from '../support/onnx-models';

const root = path.resolve(__dirname, '..', '..');

/** What scripts/py/onnx_summary_ref.py prints for a model (the onnx package's view). */
interface PyRef {
  ir_version: number;
  opsets: { domain: string; version: number }[];
  producer: [string, string];
  inputs: { name: string; elem_type?: number; dims?: (number | string | null)[]; kind: string | null }[];
  outputs: PyRef['inputs'];
  ops: Record<string, number>;
  node_count: number;
  graph_node_count: number;
  subgraph_count: number;
  params: Record<string, { count: number; tensors: number }>;
  functions: string[];
}

function pythonRefs(files: string[]): Record<string, PyRef> {
  const r = spawnSync(python(), [path.join(root, 'scripts/py/onnx_summary_ref.py'), ...files], { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, PyRef>;
}

/** The summary in the reference's terms: ONNX DataType names, "domain/op" keys. */
function asRef(s: ModelSummary): Omit<PyRef, 'inputs' | 'outputs'> & { inputs: unknown[]; outputs: unknown[] } {
  const typeName = (d: string) => (d.startsWith('type ') ? d : TensorProto_DataType[DTYPES[d as DType].onnx]!);
  const io = (v: ModelSummary['inputs'][number]) => ({
    name: v.name,
    ...(v.dtype ? { elem_type: DTYPES[v.dtype].onnx } : {}),
    ...(v.shape ? { dims: v.shape } : {}),
    kind: v.kind ? `${v.kind === 'sparse' ? 'sparse_tensor' : v.kind}_type` : null,
  });
  return {
    ir_version: s.irVersion,
    opsets: s.opsets,
    producer: [s.producer.name, s.producer.version],
    inputs: s.inputs.map(io),
    outputs: s.outputs.map(io),
    ops: Object.fromEntries(s.ops.map((o) => [`${o.domain}/${o.opType}`, o.count])),
    node_count: s.nodeCount,
    graph_node_count: s.graphNodeCount,
    subgraph_count: s.subgraphCount,
    params: Object.fromEntries(s.parameters.byDtype.map((p) => [typeName(p.dtype), { count: p.count, tensors: p.tensors }])),
    functions: s.functions.map((f) => `${f.domain}/${f.name}`),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function rejectsFormat(p: Promise<unknown>, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof OnnxFormatError, `expected an OnnxFormatError, got ${String(e)}`);
    assert.match(e.message, re);
    return true;
  });
}

describe('model summary', () => {
  let dir: string;
  before(() => {
    dir = tempDir();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const f of FIXTURES) {
    it(`walks ${f.file} to the same summary as decoding it, with its sha256`, async () => {
      const file = fixture(f.file);
      const walked = await summarizeFile(file);
      const decoded = summarizeBytes(fs.readFileSync(file), f.file, { baseDir: path.dirname(file) });
      assert.deepStrictEqual(walked, decoded);
      assert.equal(walked.sha256, f.sha256);
      assert.deepStrictEqual(JSON.parse(JSON.stringify(walked)), walked, 'JSON-serializable');
      assert.ok(walked.nodeCount > 0 && walked.parameters.count > 0 && walked.inputs.length > 0);
    });
  }

  it('counts what Python onnx counts, on every fixture and a model with subgraphs, functions and sparse tensors', async () => {
    const rich = path.join(dir, 'rich.onnx');
    fs.writeFileSync(rich, encode(richModel()));
    const files = [...FIXTURES.map((f) => fixture(f.file)), rich];
    const refs = pythonRefs(files);
    for (const file of files) assert.deepStrictEqual(asRef(await summarizeFile(file)), refs[file], path.basename(file));
  });

  it('counts subgraphs, functions, and every kind of Constant value in the rich model', async () => {
    const s = summarizeBytes(encode(richModel()), 'rich.onnx');
    assert.equal(s.subgraphCount, 5); // If (2 branches) + Loop body + the If inside it (2 branches)
    assert.equal(s.graphNodeCount, 12);
    assert.deepEqual(s.functions, [{ domain: 'local', name: 'Scale2' }]);
    assert.deepEqual(
      s.inputs.map((i) => i.name),
      ['X', 'cond', 'trip'],
      'W is an initializer listed as an input, as before IR 4: not an input to feed',
    );
    assert.deepEqual(s.outputs[0], { name: 'y_if', kind: 'tensor', dtype: 'float32', shape: ['n', null] });
    assert.deepEqual(s.outputs[2], { name: 'seq', kind: 'sequence' });
    const strings = s.parameters.byDtype.find((p) => p.dtype === 'string');
    assert.deepEqual(strings, { dtype: 'string', count: 5, bytes: 'yes'.length + 'no'.length + 'hello'.length + 'a'.length + 'bcd'.length, tensors: 3 });
    assert.deepEqual(s.metadata, [{ key: 'author', value: 'modelyard' }]);
    assert.equal(s.modelVersion, 3);
    assert.deepEqual(s.warnings, []);
  });

  it('lists external data without reading it, and warns when a file is missing or short', async () => {
    const d = path.join(dir, 'ext');
    fs.mkdirSync(d);
    const { file, weightBytes } = writeExternalDataModel(d, 3, 16);
    const s = await summarizeFile(file);
    assert.deepEqual(s.externalData, [{ location: 'weights.bin', tensors: 3, bytes: weightBytes }]);
    assert.equal(s.parameters.count, 3 * 16 * 16);
    assert.deepEqual(s.warnings, []);
    assert.deepStrictEqual(summarizeBytes(fs.readFileSync(file), 'external.onnx', { baseDir: d }), s);
    fs.truncateSync(path.join(d, 'weights.bin'), 100);
    assert.deepEqual((await summarizeFile(file)).warnings, [`external data file weights.bin holds 100 bytes, but its tensors need ${weightBytes}`]);
    fs.rmSync(path.join(d, 'weights.bin'));
    assert.deepEqual((await summarizeFile(file)).warnings, [`external data file weights.bin is missing (3 tensor(s), ${weightBytes} bytes)`]);
    assert.deepEqual(summarizeBytes(fs.readFileSync(file), 'external.onnx').warnings, [], 'without baseDir, nothing is checked');
  });

  it('summarises a model over 2 GB from its structure alone', async (t) => {
    const big = path.join(dir, 'big.onnx');
    const raw = 2 ** 31 + 4096; // one initializer of 2 GiB + 4 KiB, a hole in a sparse file
    writeSparseBigModel(big, raw);
    const t0 = performance.now();
    const s = await summarizeFile(big, { sha256: false });
    const ms = performance.now() - t0;
    t.diagnostic(`summary of a ${(fs.statSync(big).size / 2 ** 30).toFixed(2)} GiB model without sha256: ${ms.toFixed(1)} ms`);
    assert.ok(s.size > 2 ** 31);
    assert.equal(s.sha256, null);
    assert.deepEqual(s.parameters.byDtype, [{ dtype: 'float32', count: raw / 4, bytes: raw, tensors: 1 }]);
    assert.deepEqual(s.ops, [{ opType: 'Identity', domain: '', count: 1 }]);
    assert.ok(ms < 1000, `took ${ms} ms: it must not read the weights`);
    fs.rmSync(big);
  });

  it('summarises a 100 MB model fast (goal: under 300 ms with its sha256)', async (t) => {
    const file = path.join(dir, 'chain100.onnx');
    fs.writeFileSync(file, encode(matmulChain(25, 1000))); // 25 × 1000 × 1000 floats = 100 MB
    const size = fs.statSync(file).size;
    const bytes = fs.readFileSync(file);
    const runs = { file: [] as number[], fileNoHash: [] as number[], bytes: [] as number[] };
    let s: ModelSummary | undefined;
    for (let i = 0; i < 5; i++) {
      let t0 = performance.now();
      s = await summarizeFile(file);
      runs.file.push(performance.now() - t0);
      t0 = performance.now();
      await summarizeFile(file, { sha256: false });
      runs.fileNoHash.push(performance.now() - t0);
      t0 = performance.now();
      summarizeBytes(bytes, 'chain100.onnx', { baseDir: dir });
      runs.bytes.push(performance.now() - t0);
    }
    const mb = (size / 1e6).toFixed(1);
    t.diagnostic(
      `${mb} MB model, median of 5: summarizeFile ${median(runs.file).toFixed(0)} ms, without sha256 ${median(runs.fileNoHash).toFixed(0)} ms; ` +
        `summarizeBytes (bytes in memory) ${median(runs.bytes).toFixed(0)} ms`,
    );
    assert.equal(s!.parameters.count, 25_000_000);
    assert.ok(median(runs.file) < 1000, `summarizeFile took ${median(runs.file)} ms (goal 300 ms)`);
  });

  it('names what is wrong with a file that is not a model', async () => {
    const write = (name: string, content: string | Uint8Array) => {
      const p = path.join(dir, name);
      fs.writeFileSync(p, content);
      return p;
    };
    await rejectsFormat(summarizeFile(write('empty.onnx', '')), /^empty\.onnx is not an ONNX model: the file is empty/);
    await rejectsFormat(summarizeFile(write('zip.onnx', 'PK\x03\x04rest of a zip')), /ZIP archive/);
    await rejectsFormat(summarizeFile(write('config.onnx', '{"model_type": "bert"}')), /JSON file/);
    await assert.rejects(summarizeFile(path.join(dir, 'nowhere.onnx')), (e: unknown) => e instanceof UserError && /nowhere\.onnx does not exist/.test(e.message));
    await assert.rejects(summarizeFile(dir), (e: unknown) => e instanceof UserError && /is not a file/.test(e.message));
    const cut = fs.readFileSync(fixture('silero_vad_v5.onnx')).subarray(0, 1_000_000);
    await rejectsFormat(summarizeFile(write('cut.onnx', cut)), /^cut\.onnx is not an ONNX model: the file ends in the middle of a field \(truncated download\?\)$/);
  });
});
