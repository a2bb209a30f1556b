// The ONNX node conformance suite as data: generated once from the onnx wheel (scripts/py/onnx_node_cases.py) into
// the test cache, and read back as models with their input and expected output tensors, for the reader/writer
// round trip (onnx-roundtrip.ts) and for running through inference.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Tensor } from '../../src/core/inference/tensor';
import { decodeModel, decodeTensor, tensorFromProto } from '../../src/core/onnx/model';
import { PY_REFS } from '../../scripts/pyrefs.mjs';
import { cacheRoot } from '../../scripts/testenv.mjs';
import { python } from '../support/fixtures';

export interface NamedTensor extends Tensor {
  name: string;
}

export interface ConformanceCase {
  /** The case's name, e.g. "test_abs". */
  name: string;
  modelPath: string;
  /** Each test_data_set_N: the inputs in graph-input order, the expected outputs in graph-output order. */
  dataSets: { inputs: NamedTensor[]; outputs: NamedTensor[] }[];
}

const root = path.resolve(__dirname, '..', '..');

/**
 * The folder of the generated suite (cache/onnx-node-cases-<onnx version>), generated when missing. The generator
 * writes manifest.json last, so an interrupted run is redone.
 */
export function ensureConformanceCases(): string {
  const dir = path.join(cacheRoot(), `onnx-node-cases-${PY_REFS.onnx}`);
  if (fs.existsSync(path.join(dir, 'manifest.json'))) return dir;
  const r = spawnSync(python(), [path.join(root, 'scripts/py/onnx_node_cases.py'), dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`onnx_node_cases.py failed: ${(r.stderr || r.stdout).trim().split('\n').at(-1)}`);
  process.stderr.write(`[conformance] ${r.stdout.trim()} → ${dir}\n`);
  return dir;
}

/** The case folders of a generated suite, sorted by name. */
export function caseNames(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(dir, e.name, 'model.onnx')))
    .map((e) => e.name)
    .sort();
}

/** test_data_set_N folders of a case, in N order, and the input_K / output_K files of one, in K order. */
export function dataSetDirs(caseDir: string): string[] {
  return numbered(caseDir, /^test_data_set_(\d+)$/);
}

export function dataFiles(setDir: string, kind: 'input' | 'output'): string[] {
  return numbered(setDir, new RegExp(`^${kind}_(\\d+)\\.pb$`));
}

function numbered(dir: string, re: RegExp): string[] {
  return fs
    .readdirSync(dir)
    .map((f) => [f, re.exec(f)?.[1]] as const)
    .filter(([, n]) => n !== undefined)
    .sort((a, b) => Number(a[1]) - Number(b[1]))
    .map(([f]) => path.join(dir, f));
}

/**
 * Every case of a generated suite with its tensors loaded (about 1,850 cases and 56 MB). A tensor without a name
 * in its file takes the name of the graph input or output in its position. `filter` picks cases by name.
 */
export function loadConformanceCases(dir: string, filter: (name: string) => boolean = () => true): ConformanceCase[] {
  return caseNames(dir)
    .filter(filter)
    .map((name) => {
      const modelPath = path.join(dir, name, 'model.onnx');
      const g = decodeModel(fs.readFileSync(modelPath), `${name}/model.onnx`).graph!;
      const inits = new Set(g.initializer.map((t) => t.name));
      const inputNames = g.input.filter((v) => !inits.has(v.name)).map((v) => v.name);
      const outputNames = g.output.map((v) => v.name);
      const load = (files: string[], names: string[]): NamedTensor[] =>
        files.map((f, k) => {
          const t = decodeTensor(fs.readFileSync(f), path.relative(dir, f));
          return { name: t.name || names[k] || `${path.basename(f, '.pb')}`, ...tensorFromProto(t) };
        });
      const dataSets = dataSetDirs(path.join(dir, name)).map((d) => ({
        inputs: load(dataFiles(d, 'input'), inputNames),
        outputs: load(dataFiles(d, 'output'), outputNames),
      }));
      return { name, modelPath, dataSets };
    });
}
