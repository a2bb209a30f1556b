// Shared by the quantization tests: run an original and a quantized model in the real onnxruntime-node and compare
// their outputs, and run onnx.checker (Python onnx 1.23.2) on what Modelyard wrote.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compareOutputs } from '../../src/core/inference/compare';
import type { InferenceHost } from '../../src/core/inference/host';
import type { Tensor } from '../../src/core/inference/tensor';
import { encodeModel, type ModelProto } from '../../src/core/onnx/model';
import { python } from './fixtures';

const root = path.resolve(__dirname, '..', '..');

/** Runs both models on the same feeds; returns both outputs and the comparison of each output. */
export async function runBoth(host: InferenceHost, a: ModelProto | Uint8Array, b: ModelProto | Uint8Array, feeds: Record<string, Tensor>) {
  const bytesA = a instanceof Uint8Array ? a : encodeModel(a);
  const bytesB = b instanceof Uint8Array ? b : encodeModel(b);
  const sa = await host.load({ bytes: bytesA, key: `a-${Math.random()}` });
  const sb = await host.load({ bytes: bytesB, key: `b-${Math.random()}` });
  try {
    const ra = await host.run(sa.id, feeds);
    const rb = await host.run(sb.id, feeds);
    const cmp = compareOutputs(ra.outputs, rb.outputs, { atol: Infinity, rtol: Infinity, minCosine: -1 });
    return { a: ra.outputs, b: rb.outputs, outputs: cmp.outputs };
  } finally {
    await host.release(sa.id);
    await host.release(sb.id);
  }
}

export interface CheckResult {
  path: string;
  ok: boolean;
  error: string | null;
}

/** onnx.checker.check_model(path, full_check=True) on each model (one Python process for all). */
export function onnxCheck(models: (string | ModelProto | Uint8Array)[]): CheckResult[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-check-'));
  try {
    const paths = models.map((m, i) => {
      if (typeof m === 'string') return m;
      const p = path.join(dir, `model-${i}.onnx`);
      fs.writeFileSync(p, m instanceof Uint8Array ? m : encodeModel(m));
      return p;
    });
    const list = path.join(dir, 'list.txt');
    fs.writeFileSync(list, paths.join('\n'));
    const r = spawnSync(python(), [path.join(root, 'scripts/py/onnx_check_models.py'), list], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`onnx_check_models.py failed: ${r.stderr.trim().split('\n').at(-1)}`);
    return JSON.parse(r.stdout) as CheckResult[];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Op type counts over the main graph and every subgraph. */
export function opCounts(m: ModelProto): Record<string, number> {
  const counts: Record<string, number> = {};
  const walk = (nodes: ModelProto['graph'] extends infer G ? (G extends { node: infer N } ? N : never) : never): void => {
    for (const n of nodes) {
      counts[n.opType] = (counts[n.opType] ?? 0) + 1;
      for (const a of n.attribute) {
        if (a.g) walk(a.g.node);
        for (const g of a.graphs) walk(g.node);
      }
    }
  };
  walk(m.graph!.node);
  return counts;
}
