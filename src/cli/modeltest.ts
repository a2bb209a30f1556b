/** `modelyard test`: finds *.modeltest.json files, runs them with src/core/modeltest, and `--update`s expectations. */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { UserError, describeError, firstLine } from '../core/errors';
import type { InferenceHost } from '../core/inference/host';
import { makeInput, resolveShape, type InputSource } from '../core/inference/inputs';
import { parseJson, tensorFromJson, tensorToJson } from '../core/inference/json';
import { readNpy, writeNpy } from '../core/inference/npy';
import type { Tensor, TensorInfo } from '../core/inference/tensor';
import type { Logger } from '../core/log';
import { parseModelTestFile, type InputRef } from '../core/modeltest/format';
import { expectedFile, runModelTest, type CaseResult, type ModelTestDeps } from '../core/modeltest/runner';
import { parse } from './inference';
import { EXIT_CANCELLED, interruptSignal, resolveModel, withHost, writeAtomic } from './model';

type Out = (s: string) => void;

const SKIP_DIRS = new Set(['node_modules', '.git']);

/** Every *.modeltest.json under `dir` (skipping node_modules and .git), sorted. */
export async function findModelTests(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    let entries: fs.Dirent[];
    try {
      entries = await fsp.readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name)) await walk(path.join(d, e.name));
      } else if (e.isFile() && e.name.endsWith('.modeltest.json')) out.push(path.join(d, e.name));
    }
  };
  await walk(dir);
  return out.sort();
}

function sourceOf(ref: InputRef, baseDir: string, info: TensorInfo): InputSource | { json: string } {
  const abs = (p: string) => path.resolve(baseDir, p);
  if (typeof ref === 'string') {
    const ext = path.extname(ref).toLowerCase();
    if (ext === '.npy') return { kind: 'npy', path: abs(ref) };
    if (ext === '.json') return { json: abs(ref) };
    if (ext === '.wav') return { kind: 'wav', path: abs(ref) };
    if (['.png', '.jpg', '.jpeg'].includes(ext)) return { kind: 'image', path: abs(ref) };
    throw new UserError(`input '${info.name}': ${ref} is not a .npy, .json, .png, .jpg or .wav file.`);
  }
  if ('npy' in ref) return { kind: 'npy', path: abs(ref.npy) };
  if ('json' in ref) return { json: abs(ref.json) };
  if ('value' in ref) return { kind: 'json', text: JSON.stringify(ref.value) };
  if ('image' in ref) {
    const { image, ...pix } = ref;
    return { kind: 'image', path: abs(image), ...pix };
  }
  if ('wav' in ref) return { kind: 'wav', path: abs(ref.wav), ...(ref.sampleRate ? { sampleRate: ref.sampleRate } : {}) };
  if ('random' in ref) {
    const r = ref.random;
    return { kind: 'random', seed: r.seed, distribution: r.distribution, low: r.min, high: r.max, mean: r.mean, std: r.std };
  }
  if ('zeros' in ref) return { kind: 'zeros' };
  return { kind: 'ones' };
}

async function readExpected(file: string): Promise<Tensor> {
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(file);
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new UserError(
      missing ? `the expected output ${file} does not exist.` : `${file} could not be read: ${firstLine((e as Error).message)}.`,
      missing ? 'Run `modelyard test --update` to write it from the model’s current outputs.' : 'Check the file.',
    );
  }
  if (file.toLowerCase().endsWith('.json')) return tensorFromJson(parseJson(bytes.toString('utf8'), file));
  return readNpy(bytes, path.basename(file));
}

function depsFor(host: InferenceHost, id: string, inputs: TensorInfo[], outputs: TensorInfo[], signal: AbortSignal): ModelTestDeps {
  return {
    inputs,
    outputs,
    async input(ref, info, shape, baseDir) {
      let source = sourceOf(ref, baseDir, info);
      if ('json' in source) {
        let text: string;
        try {
          text = await fsp.readFile(source.json, 'utf8');
        } catch (e) {
          throw new UserError(`input '${info.name}': ${source.json} could not be read: ${firstLine((e as Error).message)}.`, 'Check the path (relative to the test file).');
        }
        source = { kind: 'json', text };
      }
      const resolved = shape ?? resolveShape(info).shape;
      return (await makeInput(info, resolved, source)).tensor;
    },
    async expected(ref) {
      if ('file' in ref) return readExpected(ref.file);
      return tensorFromJson(ref.value, { ...(ref.dtype ? { dtype: ref.dtype } : {}), ...(ref.shape ? { shape: ref.shape } : {}) });
    },
    async run(feeds) {
      const r = await host.run(id, feeds, { signal });
      return { outputs: r.outputs, ms: r.ms };
    },
  };
}

interface FileResult {
  file: string;
  model?: string;
  /** The file could not be read, parsed, or its model loaded: none of its tests ran. */
  error?: string;
  tests: CaseResult[];
  updated: string[];
}

async function runFile(host: InferenceHost, file: string, update: boolean, signal: AbortSignal, log: Logger): Promise<FileResult> {
  const res: FileResult = { file, tests: [], updated: [] };
  try {
    const { spec } = parseModelTestFile(await fsp.readFile(file, 'utf8'), file);
    const baseDir = path.dirname(file);
    const model = await resolveModel(spec.model, { cwd: baseDir, repo: baseDir, log });
    res.model = model.label;
    const s = await host.load(model.source, {}, { signal });
    try {
      const deps = depsFor(host, s.id, s.inputs, s.outputs, signal);
      for (const t of spec.tests) {
        const r = await runModelTest(spec, t, baseDir, deps, { signal, update });
        if (signal.aborted) throw new UserError('cancelled.');
        if (update && r.outputs && r.status !== 'errored' && r.status !== 'skipped') {
          for (const [name, ref] of Object.entries(t.expected)) {
            const target = expectedFile(ref, baseDir);
            const out = r.outputs[name];
            if (!target || !out) continue;
            await writeAtomic(target, target.toLowerCase().endsWith('.json') ? JSON.stringify(tensorToJson(out)) + '\n' : writeNpy(out));
            res.updated.push(target);
          }
        }
        delete r.outputs;
        res.tests.push(r);
      }
    } finally {
      await host.release(s.id);
    }
  } catch (e) {
    if (signal.aborted) throw e;
    res.error = describeError(e);
  }
  return res;
}

const MARK: Record<CaseResult['status'], string> = { passed: 'ok  ', failed: 'FAIL', errored: 'ERR ', skipped: 'skip' };

export async function testCommand(args: string[], out: Out, log: Logger): Promise<number> {
  const { values, positionals } = parse(args, { update: { type: 'boolean' } }, [0, Infinity], 'modelyard test [PATH…] [--update] [--json]');
  const roots = positionals.length ? positionals : [process.cwd()];
  const files: string[] = [];
  for (const p of roots) {
    const abs = path.resolve(p);
    let st: fs.Stats;
    try {
      st = fs.statSync(abs);
    } catch {
      throw new UserError(`${p} does not exist.`, 'Give a folder to search for *.modeltest.json files, or such a file.');
    }
    if (st.isDirectory()) files.push(...(await findModelTests(abs)));
    else files.push(abs);
  }
  if (!files.length) throw new UserError(`no *.modeltest.json files under ${roots.join(', ')}.`, 'Write one beside your model (see the format in the README), or give its path.');
  const update = !!values.update;
  const stop = interruptSignal();
  const results: FileResult[] = [];
  try {
    await withHost(log, async (host) => {
      for (const f of files) {
        const r = await runFile(host, f, update, stop.signal, log);
        results.push(r);
        if (!values.json) out(fileText(r));
      }
    });
  } catch (e) {
    if (stop.signal.aborted) {
      process.stderr.write('modelyard: cancelled.\n');
      return EXIT_CANCELLED;
    }
    throw e;
  } finally {
    stop.dispose();
  }
  const count = (s: CaseResult['status']) => results.reduce((n, r) => n + r.tests.filter((t) => t.status === s).length, 0);
  const summary = { passed: count('passed'), failed: count('failed'), errored: count('errored'), skipped: count('skipped'), fileErrors: results.filter((r) => r.error).length, updated: results.reduce((n, r) => n + r.updated.length, 0) };
  if (values.json) {
    out(JSON.stringify({ files: results.map((r) => ({ ...r, file: shown(r.file), updated: r.updated.map(shown) })), summary }) + '\n');
  } else {
    out(
      `\n${summary.passed} passed, ${summary.failed} failed, ${summary.errored} errored, ${summary.skipped} skipped` +
        (summary.fileErrors ? `, ${summary.fileErrors} file${summary.fileErrors > 1 ? 's' : ''} not run` : '') +
        (update ? `; ${summary.updated} expected file${summary.updated === 1 ? '' : 's'} written` : '') +
        '\n',
    );
  }
  return summary.failed || summary.errored || summary.fileErrors ? 1 : 0;
}

/** A path inside the current folder relative to it, any other absolute. */
function shown(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

function fileText(r: FileResult): string {
  const rel = shown(r.file);
  const lines = [`${rel}${r.model ? `  (${r.model})` : ''}`];
  if (r.error) lines.push(`  ERR  ${r.error}`);
  for (const t of r.tests) {
    lines.push(`  ${MARK[t.status]} ${t.name}${t.status === 'passed' || t.status === 'failed' ? `  ${t.ms.toFixed(2)} ms` : ''}${t.status === 'skipped' && t.message && t.message !== 'skipped' ? `  (${t.message})` : ''}`);
    for (const f of t.failures) lines.push(`       ${f.message}`);
    if (t.status === 'errored' && t.message) lines.push(`       ${t.message}`);
  }
  for (const u of r.updated) lines.push(`  wrote ${shown(u)}`);
  return lines.join('\n') + '\n';
}
