import fs from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import { UserError, describeError, isUserError } from '../../core/errors';
import type { ModelTestFile } from '../../core/modeltest/format';
import { parseModelTestFile } from '../../core/modeltest/format';
import type { CaseResult } from '../../core/modeltest/runner';
import type { Source } from '../../core/inference/host';
import { resolveModel } from '../../core/registry/modelRef';
import { Disposable } from '../disposable';
import { loadHeavy } from '../heavy/load';
import type { InferenceService } from '../inference';
import type { RegistryService } from '../registry/registryService';
import { setting } from '../settings';

interface FileData {
  kind: 'file';
  spec?: ModelTestFile;
}
interface CaseData {
  kind: 'case';
  file: vscode.Uri;
  name: string;
}
type Data = FileData | CaseData;

const PATH_LIKE = /[\\/]|\.onnx$/i;

/**
 * Model tests (`*.modeltest.json`, see src/core/modeltest/format.ts) in VS Code's Testing view: each file is a test
 * item with one child per test, found and kept up to date as files change, run in the inference worker with the
 * same runner as `modelyard test`. A failure shows where outputs differ, with the expected and actual values.
 */
export class ModelTests extends Disposable {
  readonly controller = this._register(vscode.tests.createTestController('modelyard.modelTests', 'Model Tests'));
  private readonly data = new WeakMap<vscode.TestItem, Data>();
  /** The last result of each test, by test item id: VS Code keeps results to itself, the integration suite reads these. */
  readonly results = new Map<string, CaseResult>();
  private readonly runEmitter = this._register(new vscode.EventEmitter<void>());
  /** Fires when a test run ends. */
  readonly onDidRun = this.runEmitter.event;

  constructor(
    private readonly inference: InferenceService,
    private readonly registries: RegistryService,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this.controller.resolveHandler = async (item) => {
      if (!item) await this.discover();
    };
    this.controller.refreshHandler = () => this.discover();
    this.controller.createRunProfile('Run', vscode.TestRunProfileKind.Run, (req, token) => this.run(req, token), true);
    const include = () => setting('modelTests.include');
    const watcher = this._register(vscode.workspace.createFileSystemWatcher(include()));
    const refresh = (uri: vscode.Uri) =>
      this.update(uri).catch((e: unknown) => {
        // Gone between the event and the read (a test writes and deletes a file): the delete event follows.
        this.log.debug(`[tests] ${vscode.workspace.asRelativePath(uri)}: ${describeError(e)}`);
      });
    this._register(watcher.onDidCreate((uri) => void refresh(uri)));
    this._register(watcher.onDidChange((uri) => void refresh(uri)));
    this._register(watcher.onDidDelete((uri) => this.controller.items.delete(uri.toString())));
  }

  /** Finds every test file of the workspace. */
  async discover(): Promise<void> {
    const include = setting('modelTests.include');
    const files = await vscode.workspace.findFiles(include, '**/{node_modules,.git}/**');
    const keep = new Set(files.map((f) => f.toString()));
    this.controller.items.forEach((item) => {
      if (!keep.has(item.id)) this.controller.items.delete(item.id);
    });
    await Promise.all(files.map((f) => this.update(f).catch((e: unknown) => this.log.debug(`[tests] ${vscode.workspace.asRelativePath(f)}: ${describeError(e)}`))));
  }

  /** (Re)reads one file: its tests become children; a file that does not parse carries the error. */
  async update(uri: vscode.Uri): Promise<vscode.TestItem> {
    let item = this.controller.items.get(uri.toString());
    if (!item) {
      item = this.controller.createTestItem(uri.toString(), path.basename(uri.fsPath).replace(/\.modeltest\.json$/, ''), uri);
      item.description = vscode.workspace.asRelativePath(path.dirname(uri.fsPath));
      this.controller.items.add(item);
    }
    const text = Buffer.from(await vscode.workspace.fs.readFile(uri)).toString('utf8');
    try {
      const { spec, locations } = parseModelTestFile(text, vscode.workspace.asRelativePath(uri));
      item.error = undefined;
      this.data.set(item, { kind: 'file', spec });
      const children = spec.tests.map((t, i) => {
        const child = this.controller.createTestItem(`${uri.toString()}#${t.name}`, t.name, uri);
        const line = locations[i]?.line ?? 0;
        child.range = new vscode.Range(line, 0, line, 0);
        if (t.skip) child.description = 'skipped';
        this.data.set(child, { kind: 'case', file: uri, name: t.name });
        return child;
      });
      item.children.replace(children);
      item.description = `${vscode.workspace.asRelativePath(path.dirname(uri.fsPath))} · ${spec.model}`;
    } catch (e) {
      this.data.set(item, { kind: 'file' });
      item.children.replace([]);
      item.error = new vscode.MarkdownString(isUserError(e) ? `${e.message}${e.hint ? `\n\n${e.hint}` : ''}` : describeError(e));
    }
    return item;
  }

  /** The model a test file names: a path relative to it, or a registry reference read from git (core/registry/modelRef). */
  private async modelSource(spec: ModelTestFile, file: vscode.Uri): Promise<{ source: Source; label: string }> {
    const dir = path.dirname(file.fsPath);
    if (PATH_LIKE.test(spec.model) && !fs.existsSync(path.resolve(dir, spec.model))) {
      throw new UserError(`the model ${spec.model} does not exist (relative to ${path.basename(file.fsPath)}).`, 'Fix "model" in the test file.');
    }
    const roots = await this.registries.repositories();
    const root = roots.filter((r) => dir === r || dir.startsWith(r + path.sep)).sort((a, b) => b.length - a.length)[0];
    if (!root && !PATH_LIKE.test(spec.model)) {
      throw new UserError(`'${spec.model}' is not a path, and ${path.basename(file.fsPath)} is not in a git repository to look it up in.`, 'Give the model as a path relative to the test file.');
    }
    const m = await resolveModel(spec.model, { cwd: dir, log: this.log, ...(root ? { registry: await this.registries.registry(root) } : {}) });
    return { source: m.source, label: m.path ? path.basename(m.path) : m.label };
  }

  private async run(req: vscode.TestRunRequest, token: vscode.CancellationToken): Promise<void> {
    const run = this.controller.createTestRun(req);
    const ac = new AbortController();
    token.onCancellationRequested(() => ac.abort());
    // Requested items grouped by file: each file's model loads once.
    // A file asked for runs all its tests, whatever else of it was asked for too, in any order.
    const byFile = new Map<string, { file: vscode.Uri; all: boolean; names: Set<string> }>();
    const queue: vscode.TestItem[] = [];
    if (req.include) queue.push(...req.include);
    else this.controller.items.forEach((i) => queue.push(i));
    for (const item of queue) {
      if (req.exclude?.includes(item)) continue;
      const d = this.data.get(item);
      const file = d?.kind === 'case' ? d.file : item.uri!;
      const entry = byFile.get(file.toString()) ?? { file, all: false, names: new Set<string>() };
      if (d?.kind === 'case') entry.names.add(d.name);
      else entry.all = true;
      byFile.set(file.toString(), entry);
    }
    try {
      for (const { file, all, names } of byFile.values()) {
        if (token.isCancellationRequested) break;
        const fileItem = await this.update(file);
        const spec = (this.data.get(fileItem) as FileData | undefined)?.spec;
        const cases: vscode.TestItem[] = [];
        fileItem.children.forEach((c) => {
          if (!req.exclude?.includes(c) && (all || names.has((this.data.get(c) as CaseData).name))) cases.push(c);
        });
        if (!spec) {
          run.errored(fileItem, new vscode.TestMessage(fileItem.error instanceof vscode.MarkdownString ? fileItem.error.value : String(fileItem.error ?? 'the file cannot be read')));
          continue;
        }
        for (const c of cases) run.enqueued(c);
        try {
          const heavy = await loadHeavy();
          const model = await this.modelSource(spec, file);
          const host = await this.inference.get();
          const session = await this.inference.load(model.source, {}, ac.signal);
          try {
            const deps = heavy.modelTestDeps(host, session.id, session.inputs, session.outputs, ac.signal);
            for (const c of cases) {
              if (token.isCancellationRequested) {
                run.skipped(c);
                continue;
              }
              const test = spec.tests.find((t) => t.name === (this.data.get(c) as CaseData).name)!;
              run.started(c);
              const r = await heavy.runModelTest(spec, test, path.dirname(file.fsPath), deps, { signal: ac.signal });
              this.report(run, c, r, model.label);
            }
          } finally {
            void host.release(session.id);
          }
        } catch (e) {
          const m = new vscode.TestMessage(describeError(e));
          for (const c of cases) {
            run.errored(c, m);
            this.results.set(c.id, { name: c.label, status: 'errored', ms: 0, failures: [], message: describeError(e) });
          }
          this.log.warn(`[tests] ${vscode.workspace.asRelativePath(file)}: ${describeError(e)}`);
        }
      }
    } finally {
      run.end();
      this.runEmitter.fire();
    }
  }

  /** Runs the tests of the given items (all when none), as the Testing view's Run does. */
  runTests(items?: vscode.TestItem[]): Promise<void> {
    const cts = new vscode.CancellationTokenSource();
    return this.run(new vscode.TestRunRequest(items), cts.token).finally(() => cts.dispose());
  }

  private report(run: vscode.TestRun, item: vscode.TestItem, r: CaseResult, model: string): void {
    this.results.set(item.id, r);
    const mark = { passed: '✓', failed: '✗', errored: '!', skipped: '-' }[r.status];
    run.appendOutput(`${mark} ${item.parent?.label ?? ''} › ${item.label} (${model}) ${r.status}${r.status === 'passed' || r.status === 'failed' ? ` in ${r.ms.toFixed(2)} ms` : ''}${r.message ? `: ${r.message}` : ''}\r\n`, undefined, item);
    switch (r.status) {
      case 'passed':
        run.passed(item, r.ms);
        return;
      case 'skipped':
        run.skipped(item);
        return;
      case 'errored':
        run.errored(item, this.message(r.message ?? 'the test could not run', item), r.ms);
        return;
      case 'failed': {
        const messages = r.failures.map((f) => {
          const m = f.expected !== undefined && f.actual !== undefined ? vscode.TestMessage.diff(f.message ?? 'differs', f.expected, f.actual) : new vscode.TestMessage(f.message ?? 'differs');
          if (item.uri && item.range) m.location = new vscode.Location(item.uri, item.range);
          return m;
        });
        for (const f of r.failures) run.appendOutput(`    ${f.message}\r\n`, undefined, item);
        run.failed(item, messages, r.ms);
      }
    }
  }

  private message(text: string, item: vscode.TestItem): vscode.TestMessage {
    const m = new vscode.TestMessage(text);
    if (item.uri && item.range) m.location = new vscode.Location(item.uri, item.range);
    return m;
  }
}
