// Pre-flight: the model against the runtime's onnxruntime (IR, opset, the contrib operators Modelyard's quantizer
// writes), the Open Inference Protocol's datatypes, storage credentials. The 1.30 and 1.31 rows of the limits table
// are measured again here with the onnxruntime the tests have (onnxruntime-node and the Python references).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { preflight, preflightPasses, type PreflightInput } from '../../src/core/deploy/preflight';
import { identifyRuntime, ortLimits, ORT_LIMITS, type RuntimeInfo } from '../../src/core/deploy/runtimes';
import { summarizeBytes, summarizeFile } from '../../src/core/onnx/summary';
import { TensorProto_DataType as DT } from '../../src/core/onnx/gen/onnx_pb';
import { fixture, python } from '../support/fixtures';
import { encode, model, node, tempDir, valueInfo } from '../support/onnx-models';

const tmp = tempDir('modelyard-preflight-');
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const TRITON = identifyRuntime('kserve-tritonserver', 'nvcr.io/nvidia/tritonserver:23.05-py3');
const OWN: RuntimeInfo = { name: 'modelyard', kind: 'modelyard', image: '127.0.0.1:5000/modelyard/server:test', onnxruntime: '1.30.0', source: 'annotation' };

/** A one-node Relu model stamped with an IR version and an opset. */
function relu(ir: number, opset: number): Uint8Array {
  return encode(model({ name: 'g', node: [node('Relu', ['x'], ['y'])], input: [valueInfo('x', DT.FLOAT, [1])], output: [valueInfo('y', DT.FLOAT, [1])] }, { irVersion: BigInt(ir), opsetImport: [{ domain: '', version: BigInt(opset) }] }));
}

function input(bytes: Uint8Array, runtime: RuntimeInfo, label = 'm'): PreflightInput {
  return { model: summarizeBytes(bytes, label), label, runtime, ownOnnxruntime: '1.30.0' };
}

describe('runtimes', () => {
  it('knows Triton 23.05 as onnxruntime 1.15 (IR 9, opset 19), and Modelyard\'s runtime by its annotation', () => {
    assert.equal(TRITON.kind, 'triton');
    assert.equal(TRITON.onnxruntime, '1.15.0');
    assert.deepEqual(ortLimits('1.15.0'), { minor: '1.15', maxIr: 9, maxOpset: 19, exact: true });
    assert.equal(identifyRuntime('x', 'reg/modelyard/server:1', { 'modelyard.dev/onnxruntime': '1.30.0' }).onnxruntime, '1.30.0');
    assert.equal(identifyRuntime('x', 'nvcr.io/nvidia/tritonserver:99.01-py3').onnxruntime, undefined, 'an unknown Triton release is not guessed');
    assert.deepEqual(ortLimits('1.25.1'), { minor: '1.22', maxIr: 10, maxOpset: 22, exact: false }, 'between rows: the older row, as a lower bound');
    assert.equal(ortLimits('1.9.0'), undefined);
  });

  it('measures the 1.30 row again with onnxruntime-node, and the 1.31 row with Python onnxruntime', () => {
    const dir = path.join(tmp, 'limits');
    fs.mkdirSync(dir);
    for (let ir = 7; ir <= 14; ir++) for (let op = 15; op <= 28; op++) fs.writeFileSync(path.join(dir, `m_${ir}_${op}.onnx`), relu(ir, op));
    const probeNode = `const ort=require(${JSON.stringify(require.resolve('onnxruntime-node'))});(async()=>{let ir=0,op=0;for(let i=7;i<=14;i++)for(let o=15;o<=28;o++){try{await ort.InferenceSession.create(${JSON.stringify(dir)}+'/m_'+i+'_'+o+'.onnx');if(o===17)ir=Math.max(ir,i);if(i===8)op=Math.max(op,o)}catch{}}console.log(JSON.stringify([require(${JSON.stringify(require.resolve('onnxruntime-node/package.json'))}).version,ir,op]))})()`;
    const [nodeVersion, nodeIr, nodeOp] = JSON.parse(execFileSync(process.execPath, ['-e', probeNode], { encoding: 'utf8' })) as [string, number, number];
    const probePy = `import onnxruntime as ort\nir=op=0\nfor i in range(7,15):\n  for o in range(15,29):\n    try:\n      ort.InferenceSession(${JSON.stringify(dir)}+f'/m_{i}_{o}.onnx',providers=['CPUExecutionProvider'])\n      if o==17: ir=max(ir,i)\n      if i==8: op=max(op,o)\n    except Exception: pass\nprint(ort.__version__, ir, op)`;
    const [pyVersion, pyIr, pyOp] = execFileSync(python(), ['-c', probePy], { encoding: 'utf8' }).trim().split(' ');
    for (const [v, ir, op] of [[nodeVersion, nodeIr, nodeOp], [pyVersion!, Number(pyIr), Number(pyOp)]] as const) {
      const row = ORT_LIMITS.find((r) => v.startsWith(`${r.minor}.`));
      assert.ok(row, `the table has a row for onnxruntime ${v}`);
      assert.deepEqual([row.maxIr, row.maxOpset], [ir, op], `onnxruntime ${v} loads IR ≤ ${ir}, opset ≤ ${op}`);
    }
  });
});

describe('preflight', () => {
  it('passes the fixture models on Triton 23.05 and on Modelyard\'s runtime', async () => {
    for (const f of ['hello_deepa.onnx', 'ch_ppocr_mobile_v2.0_cls_infer.onnx', 'silero_vad_v5.onnx']) {
      const s = await summarizeFile(fixture(f));
      for (const runtime of [TRITON, OWN]) {
        const checks = preflight({ model: s, label: f, runtime, ownOnnxruntime: '1.30.0' });
        assert.ok(preflightPasses(checks), `${f} on ${runtime.name}: ${JSON.stringify(checks.filter((c) => c.severity !== 'ok'))}`);
      }
    }
  });

  it('refuses an IR 10 / opset 21 model on onnxruntime 1.15, naming the limit and the fixes', () => {
    const checks = preflight(input(relu(10, 21), TRITON, 'wake@v2.0.0'));
    assert.equal(preflightPasses(checks), false);
    const ir = checks.find((c) => c.check === 'ir')!;
    assert.equal(ir.severity, 'error');
    assert.equal(ir.message, 'wake@v2.0.0 is ONNX IR version 10; onnxruntime 1.15.0 loads IR 9 at most.');
    assert.match(ir.fix!, /Modelyard's runtime \(onnxruntime 1\.30\.0, the one you tested locally\).*runtimeVersion.*re-export/);
    assert.equal(checks.find((c) => c.check === 'opset')!.severity, 'error');
    assert.ok(preflightPasses(preflight(input(relu(10, 21), OWN))), 'Modelyard\'s runtime loads it');
  });

  it('refuses an int4 model (MatMulNBits with a bias) on onnxruntime 1.15 and 1.18, and passes it on 1.19', () => {
    const m = encode(
      model(
        { name: 'g', node: [node('MatMulNBits', ['x', 'w', 's', '', '', 'b'], ['y'], [], 'com.microsoft')], input: [valueInfo('x', DT.FLOAT, [1, 32])], output: [valueInfo('y', DT.FLOAT, [1, 8])] },
        { irVersion: 7n, opsetImport: [{ domain: '', version: 13n }, { domain: 'com.microsoft', version: 1n }] },
      ),
    );
    for (const [ort, ok] of [['1.15.1', false], ['1.18.1', false], ['1.19.2', true]] as const) {
      const checks = preflight(input(m, { ...TRITON, onnxruntime: ort }, 'wake-int4@v1.0.0'));
      assert.equal(preflightPasses(checks), ok, `${ort}: ${JSON.stringify(checks)}`);
      if (!ok) assert.match(checks.find((c) => c.check === 'operator' && c.severity === 'error')!.message, /com\.microsoft\.MatMulNBits \(1×\), which onnxruntime runs from 1\.19 on; the runtime has/);
    }
  });

  it('warns, not refuses, when the runtime\'s onnxruntime is unknown', () => {
    const checks = preflight(input(relu(8, 17), identifyRuntime('custom', 'example.com/my/triton-fork:1')));
    assert.ok(preflightPasses(checks));
    assert.match(checks.find((c) => c.check === 'runtime')!.message, /is not known/);
  });

  it('refuses inputs the Open Inference Protocol cannot carry, and missing storage credentials', () => {
    const bf16 = encode(model({ name: 'g', node: [node('Identity', ['x'], ['y'])], input: [valueInfo('x', DT.BFLOAT16, [1])], output: [valueInfo('y', DT.BFLOAT16, [1])] }, { irVersion: 8n, opsetImport: [{ domain: '', version: 17n }] }));
    const checks = preflight({ ...input(bf16, OWN), storage: { kind: 's3', credentials: false, uri: 's3://models/x' } });
    assert.deepEqual(
      checks.filter((c) => c.severity === 'error').map((c) => c.check),
      ['io', 'io', 'storage'],
    );
    assert.match(checks.find((c) => c.check === 'storage')!.fix!, /secret storage/);
  });
});
