/**
 * Runs the tests of one model test file against a loaded model. The caller loads the model (a path or a registry
 * reference) and gives the ways to build inputs and run; this module turns each test into feeds, runs it, and checks
 * every expected output, so the Testing view and `modelyard test` report the same things.
 */
import path from 'node:path';
import { UserError, describeError } from '../errors';
import type { Tensor, TensorInfo } from '../inference/tensor';
import { checkOutput, type Expectation, type OutputCheck } from './check';
import { toleranceOf, type ExpectedRef, type InputRef, type ModelTestCase, type ModelTestFile } from './format';

export interface ModelTestDeps {
  /** The model's declared inputs (their dtypes and shapes decide how values are built). */
  inputs: readonly TensorInfo[];
  /** Builds an input from its reference; `shape` is the test's own, when it gives one. Relative paths: from `baseDir`. */
  input(ref: InputRef, info: TensorInfo, shape: number[] | undefined, baseDir: string): Promise<Tensor>;
  /** Reads an expected tensor from a .npy or .json file (absolute path), or from an inline value in `dtype`. */
  expected(ref: { file: string } | { value: unknown; dtype?: TensorInfo['dtype']; shape?: number[] }): Promise<Tensor>;
  run(feeds: Record<string, Tensor>, signal?: AbortSignal): Promise<{ outputs: Record<string, Tensor>; ms: number }>;
  /** Outputs the model declares, to name a test's unknown output early. */
  outputs: readonly TensorInfo[];
}

export type CaseStatus = 'passed' | 'failed' | 'errored' | 'skipped';

export interface CaseResult {
  name: string;
  status: CaseStatus;
  ms: number;
  /** For failures: one check per expected output that differs. */
  failures: OutputCheck[];
  /** For errors (the test could not run) and skips: why. */
  message?: string;
  /** The outputs the run produced, for `--update`. */
  outputs?: Record<string, Tensor>;
}

function expectationOf(name: string, ref: ExpectedRef, file: ModelTestFile, test: ModelTestCase, baseDir: string, deps: ModelTestDeps): Promise<Expectation> {
  const tolerance = toleranceOf(file, test, ref);
  const info = deps.outputs.find((o) => o.name === name);
  if (typeof ref === 'string') return deps.expected({ file: path.resolve(baseDir, ref) }).then((tensor) => ({ kind: 'values', tensor, tolerance }));
  if ('npy' in ref) return deps.expected({ file: path.resolve(baseDir, ref.npy) }).then((tensor) => ({ kind: 'values', tensor, tolerance }));
  if ('json' in ref) return deps.expected({ file: path.resolve(baseDir, ref.json) }).then((tensor) => ({ kind: 'values', tensor, tolerance }));
  if ('value' in ref) return deps.expected({ value: ref.value, dtype: info?.dtype }).then((tensor) => ({ kind: 'values', tensor, tolerance }));
  if ('top1' in ref) return Promise.resolve({ kind: 'top1', index: ref.top1 });
  if ('range' in ref) return Promise.resolve({ kind: 'range', min: ref.range[0], max: ref.range[1] });
  return Promise.resolve({ kind: 'shape', shape: ref.shape });
}

/** The file an expected output names (a path, {npy} or {json}), absolute; undefined for the other kinds. */
export function expectedFile(ref: ExpectedRef, baseDir: string): string | undefined {
  if (typeof ref === 'string') return path.resolve(baseDir, ref);
  if ('npy' in ref) return path.resolve(baseDir, ref.npy);
  if ('json' in ref) return path.resolve(baseDir, ref.json);
  return undefined;
}

export interface RunOptions {
  signal?: AbortSignal;
  /**
   * The expected outputs that name a file are about to be rewritten from this run (`modelyard test --update`):
   * they are neither read (they may not exist yet) nor checked. The other expectations still are.
   */
  update?: boolean;
}

/** Runs one test; never throws (an error becomes an 'errored' result with its message). */
export async function runModelTest(file: ModelTestFile, test: ModelTestCase, baseDir: string, deps: ModelTestDeps, options: RunOptions | AbortSignal = {}): Promise<CaseResult> {
  const { signal, update } = options instanceof AbortSignal ? { signal: options, update: false } : options;
  const t0 = performance.now();
  if (test.skip) return { name: test.name, status: 'skipped', ms: 0, failures: [], message: typeof test.skip === 'string' ? test.skip : 'skipped' };
  try {
    for (const name of Object.keys(test.inputs)) {
      if (!deps.inputs.some((i) => i.name === name)) throw new UserError(`input '${name}' is not an input of the model (its inputs: ${deps.inputs.map((i) => i.name).join(', ')}).`);
    }
    const missing = deps.inputs.filter((i) => !(i.name in test.inputs));
    if (missing.length) throw new UserError(`the test gives no value for input${missing.length > 1 ? 's' : ''} ${missing.map((i) => `'${i.name}'`).join(', ')}.`, 'Add it under "inputs" (a file, {"value": …}, {"zeros": true} …).');
    for (const name of Object.keys(test.expected)) {
      if (!deps.outputs.some((o) => o.name === name)) throw new UserError(`'${name}' is not an output of the model (its outputs: ${deps.outputs.map((o) => o.name).join(', ')}).`);
    }
    const feeds: Record<string, Tensor> = {};
    for (const info of deps.inputs) feeds[info.name] = await deps.input(test.inputs[info.name]!, info, test.shapes?.[info.name], baseDir);
    const checked = Object.entries(test.expected).filter(([, ref]) => !(update && expectedFile(ref, baseDir)));
    const expectations = await Promise.all(checked.map(async ([name, ref]) => [name, await expectationOf(name, ref, file, test, baseDir, deps)] as const));
    const { outputs, ms } = await deps.run(feeds, signal);
    const failures = expectations.map(([name, e]) => checkOutput(name, outputs[name], e)).filter((c) => !c.ok);
    return { name: test.name, status: failures.length ? 'failed' : 'passed', ms, failures, outputs };
  } catch (e) {
    return { name: test.name, status: 'errored', ms: performance.now() - t0, failures: [], message: describeError(e) };
  }
}
