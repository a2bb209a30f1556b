/** `modelyard test`: finds *.modeltest.json files, runs them with src/core/modeltest, and `--update`s expectations. */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { UserError, describeError } from '../core/errors';
import type { InferenceHost } from '../core/inference/host';
import { tensorToJson } from '../core/inference/json';
import { writeNpy } from '../core/inference/npy';
import type { Logger } from '../core/log';
import { parseModelTestFile } from '../core/modeltest/format';
import { modelTestDeps } from '../core/modeltest/deps';
import { expectedFile, runModelTest, type CaseResult } from '../core/modeltest/runner';
import { parse } from './inference';
import { writeAtomic } from '../core/util/files';
import { resolveModel } from '../core/registry/modelRef';
import { EXIT_CANCELLED, interruptSignal, withHost } from './model';

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
      const deps = modelTestDeps(host, s.id, s.inputs, s.outputs, signal);
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
