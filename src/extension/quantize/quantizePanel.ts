import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import * as vscode from 'vscode';
import { UserError } from '../../core/errors';
import type { QuantizeReport } from '../../core/quantize/quantize';
import { decisionGroups } from '../../core/quantize/report';
import { writeAtomic } from '../../core/util/files';
import type { Handlers } from '../../shared/contract';
import { quantizeContract, type QuantizeOptionsView, type QuantizeToHost, type QuantizeToWebview, type ReportView } from '../../shared/protocol/quantize';
import { spawnCli } from '../cli';
import type { ModelTarget } from '../onnx/modelUri';
import { gitUriParts } from '../registry/gitContent';
import type { RegistryService } from '../registry/registryService';
import { ContractPanel, webviewOptions } from '../webview/panel';

export interface QuantizeContext {
  extensionUri: vscode.Uri;
  log: vscode.LogOutputChannel;
  registries: RegistryService;
}

/** Where the model comes from, as the CLI takes it: a file, or a registry reference read from git. */
interface SourceSpec {
  args: string[];
  /** The working-tree file the output is written beside. */
  file: string;
  /** The git repository holding it, when there is one: the result can then be registered. */
  root?: string;
  /** The model's registry name and "name@v1.2.0" for the lineage, when it is a registered model. */
  registryName?: string;
  ref?: string;
  commit?: string;
}

export function quantizeSettings(): { minCosine: number; minTop1: number; maxLatencyRatio: number | null } {
  const c = vscode.workspace.getConfiguration('modelyard.quantize');
  return { minCosine: c.get('minCosine', 0.99), minTop1: c.get('minTop1', 0.99), maxLatencyRatio: c.get<number | null>('maxLatencyRatio', null) };
}

/** The report as the webview shows it: decisions grouped, numbers that JSON can carry. */
export function reportView(r: QuantizeReport): ReportView {
  const finite = (v: number) => (Number.isFinite(v) ? v : null);
  return {
    mode: r.mode,
    requestedMode: r.requestedMode,
    source: { label: r.source.label, bytes: r.source.bytes },
    output: { file: r.output.file, bytes: r.output.bytes },
    sizeRatio: r.sizeRatio,
    seconds: r.seconds,
    mbPerSecond: finite(r.mbPerSecond),
    ...(r.calibration ? { calibration: r.calibration } : {}),
    fidelity: {
      samples: r.fidelity.samples,
      source: r.fidelity.source,
      kind: r.fidelity.kind,
      worstCosine: r.fidelity.worstCosine,
      outputs: r.fidelity.outputs.map((o) => ({ name: o.name, cosine: o.cosine, maxAbsError: finite(o.maxAbsError), ...(o.top1 !== undefined ? { top1: o.top1 } : {}), pass: o.pass, reasons: o.reasons.slice(0, 16) })),
    },
    ...(r.latency ? { latency: r.latency } : {}),
    converted: r.converted,
    kept: r.kept,
    groups: decisionGroups(r)
      .slice(0, 512)
      .map((g) => ({ ...g, nodes: g.nodes.slice(0, 64) })),
    notes: r.notes.slice(0, 64),
    thresholds: r.thresholds,
    verdict: { pass: r.verdict.pass, reasons: r.verdict.reasons.slice(0, 64) },
    profile: { kind: r.profile.kind, weightBytes: r.profile.weightBytes, matmulBytes: r.profile.matmulBytes, convBytes: r.profile.convBytes },
    ...(r.sensitivity ? { sensitivity: { keptFloat: r.sensitivity.keptFloat.slice(0, 512) } } : {}),
    ...(r.auto
      ? {
          auto: {
            chosen: r.auto.chosen,
            why: r.auto.why,
            candidates: r.auto.candidates.map((c) => ({
              mode: c.mode,
              sizeRatio: c.sizeRatio,
              worstCosine: c.worstCosine,
              latencyRatio: c.latencyRatio,
              pass: c.pass,
              reasons: c.reasons.slice(0, 16),
              ...(c.error ? { error: c.error } : {}),
            })),
          },
        }
      : {}),
  };
}

/**
 * Quantize Model…: one panel per model. The work runs in `modelyard quantize` as a child process (the same core as
 * the CLI), so a long quantization never blocks the extension host, and Cancel ends it: the CLI writes to a
 * temporary file and renames it only when done, so a cancelled run leaves nothing behind.
 */
export class QuantizePanel extends ContractPanel<typeof quantizeContract> {
  private static readonly panels = new Map<string, QuantizePanel>();
  private child: ChildProcess | undefined;
  private report: QuantizeReport | undefined;
  private readonly eventEmitter = this._register(new vscode.EventEmitter<QuantizeToWebview>());
  /** Every message sent to the webview: the integration suite follows the panel through it. */
  readonly onDidPost = this.eventEmitter.event;

  static get all(): QuantizePanel[] {
    return [...QuantizePanel.panels.values()];
  }

  static async show(ctx: QuantizeContext, target: ModelTarget): Promise<QuantizePanel> {
    const key = target.uri.toString();
    const open = QuantizePanel.panels.get(key);
    if (open) {
      open.panel.reveal();
      return open;
    }
    const source = await sourceOf(ctx.registries, target);
    const tests = await vscode.workspace.findFiles('**/*.modeltest.json', '**/node_modules/**', 64);
    const panel = vscode.window.createWebviewPanel(quantizeContract.viewType, `Quantize: ${target.label}`, vscode.ViewColumn.Active, {
      ...webviewOptions(ctx.extensionUri),
      retainContextWhenHidden: true,
    });
    let next: string | undefined;
    if (source.root && source.registryName) {
      const { suggestVersion } = await import('../../core/registry/write');
      next = suggestVersion(await ctx.registries.registry(source.root), source.registryName);
    }
    return new QuantizePanel(panel, ctx, target, source, tests.map((u) => u.fsPath).sort(), next);
  }

  private constructor(
    panel: vscode.WebviewPanel,
    private readonly ctx: QuantizeContext,
    readonly target: ModelTarget,
    private readonly source: SourceSpec,
    testFiles: string[],
    nextVersion: string | undefined,
  ) {
    const s = quantizeSettings();
    const stem = (source.registryName ?? path.basename(source.file).replace(/\.onnx$/i, '')).replace(/^.*:/, '').replace(/[^\w-]+/g, '-');
    super(panel, quantizeContract, {
      extensionUri: ctx.extensionUri,
      log: ctx.log,
      title: `Quantize: ${target.label}`,
      script: 'quantize',
      iconPath: new vscode.ThemeIcon('zap') as unknown as vscode.Uri,
      initial: {
        model: { label: target.label, uri: target.uri.toString(), detail: target.detail },
        ...(source.root ? { registry: { suggestedName: stem, ...(nextVersion && source.registryName ? { versionOf: { name: source.registryName, next: nextVersion } } : {}) } } : {}),
        defaults: { mode: 'auto', minCosine: s.minCosine, minTop1: s.minTop1, output: path.dirname(source.file) },
        testFiles,
      },
    });
    QuantizePanel.panels.set(target.uri.toString(), this);
    this._register({ dispose: () => QuantizePanel.panels.delete(target.uri.toString()) });
    this._register({ dispose: () => this.child?.kill('SIGTERM') });
  }

  /** The last report, once a run finished. */
  get lastReport(): QuantizeReport | undefined {
    return this.report;
  }

  get running(): boolean {
    return !!this.child;
  }

  protected override post(message: QuantizeToWebview): Thenable<boolean> {
    this.eventEmitter.fire(message);
    return super.post(message);
  }

  protected get handlers(): Handlers<QuantizeToHost> {
    return {
      ready: () => undefined,
      pickCalibration: async (m) => {
        const picked =
          m.kind === 'folder'
            ? await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, title: 'Calibration data: a folder of .npy, .json, image or .wav files' })
            : await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'Model tests': ['json'] }, title: 'Calibration data: a .modeltest.json file' });
        if (picked?.[0]) await this.post({ type: 'calibration', path: picked[0].fsPath });
      },
      start: async (m) => {
        await this.start(m.options);
      },
      cancel: () => {
        this.child?.kill('SIGTERM');
      },
      register: async (m) => {
        await this.register(m.name, m.as);
      },
      openOutput: async () => {
        if (this.report) await vscode.commands.executeCommand('vscode.openWith', vscode.Uri.file(this.report.output.file), 'modelyard.onnx');
      },
      saveReport: async () => {
        if (!this.report) return;
        const uri = await vscode.window.showSaveDialog({ defaultUri: vscode.Uri.file(this.report.output.file.replace(/\.onnx$/i, '.report.json')), filters: { JSON: ['json'] } });
        if (uri) await writeAtomic(uri.fsPath, JSON.stringify(this.report, null, 2) + '\n');
      },
      compare: async () => {
        if (this.report) await vscode.commands.executeCommand('modelyard.model.compare', this.target.uri, vscode.Uri.file(this.report.output.file));
      },
    };
  }

  /** Runs the quantization; resolves when it ended (report, error or cancel). */
  start(o: QuantizeOptionsView): Thenable<void> {
    if (this.child) return Promise.resolve();
    const s = quantizeSettings();
    const args = [
      ...this.source.args,
      '--mode',
      o.mode,
      '--json',
      '--progress',
      'json',
      '--min-cosine',
      String(s.minCosine),
      '--min-top1',
      String(s.minTop1),
      ...(s.maxLatencyRatio !== null ? ['--max-latency-ratio', String(s.maxLatencyRatio)] : []),
      o.perChannel ? '--per-channel' : '--per-tensor',
      ...(o.exclude.trim() ? ['--exclude', o.exclude.replace(/\s+/g, '')] : []),
      '--block-size',
      String(o.blockSize),
      ...(o.symmetric ? [] : ['--asymmetric']),
      '--method',
      o.method,
      ...(o.sensitivity ? [] : ['--no-sensitivity']),
      ...(o.keepIoTypes ? [] : ['--keep-io-types', 'false']),
      ...(o.calibration.trim() ? ['--calibration', o.calibration.trim()] : []),
    ];
    this.ctx.log.info(`[quantize] ${this.target.label}: modelyard quantize ${args.join(' ')}`);
    this.report = undefined;
    const child = spawnCli(this.ctx.extensionUri, ['quantize', ...args], { cwd: this.source.root ?? path.dirname(this.source.file) });
    this.child = child;
    let stdout = '';
    let error: { message: string; hint?: string; cancelled?: boolean } | undefined;
    const plain: string[] = [];
    child.stdout!.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    let report: (p: { message: string; fraction?: number }) => void = () => undefined;
    readline.createInterface({ input: child.stderr! }).on('line', (line) => {
      let ev: { event?: string; message?: string; hint?: string; fraction?: number; cancelled?: boolean };
      try {
        ev = JSON.parse(line) as typeof ev;
      } catch {
        plain.push(line);
        this.ctx.log.info(`[quantize] ${line}`);
        return;
      }
      if (ev.event === 'progress' && typeof ev.message === 'string') {
        void this.post({ type: 'progress', message: ev.message, ...(typeof ev.fraction === 'number' ? { fraction: ev.fraction } : {}) });
        report({ message: ev.message, ...(typeof ev.fraction === 'number' ? { fraction: ev.fraction } : {}) });
      } else if (ev.event === 'error' && typeof ev.message === 'string') {
        error = { message: ev.message, ...(ev.hint ? { hint: ev.hint } : {}), cancelled: !!ev.cancelled };
      }
    });
    return vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Quantizing ${this.target.label}`, cancellable: true },
      (progress, token) =>
        new Promise<void>((resolve) => {
          let last = 0;
          report = (p) => {
            const pct = p.fraction !== undefined ? Math.round(p.fraction * 100) : undefined;
            progress.report({ message: p.message, ...(pct !== undefined && pct > last ? { increment: pct - last } : {}) });
            if (pct !== undefined) last = Math.max(last, pct);
          };
          token.onCancellationRequested(() => child.kill('SIGTERM'));
          child.on('error', (e) => {
            error = { message: `the quantizer could not start: ${e.message}` };
          });
          child.on('close', (code) => {
            this.child = undefined;
            void this.finish(code, stdout, error, plain).finally(resolve);
          });
        }),
    );
  }

  private async finish(code: number | null, stdout: string, error: { message: string; hint?: string; cancelled?: boolean } | undefined, plain: string[]): Promise<void> {
    if (code === 130 || error?.cancelled || (code === null && !error)) {
      await this.post({ type: 'cancelled' });
      return;
    }
    if ((code === 0 || code === 1) && stdout.trim()) {
      try {
        this.report = JSON.parse(stdout) as QuantizeReport;
      } catch {
        this.report = undefined;
      }
      if (this.report) {
        await this.post({ type: 'report', report: reportView(this.report) });
        return;
      }
    }
    const fallback = plain.filter((l) => l.startsWith('modelyard:')).map((l) => l.replace(/^modelyard:\s*/, '')).pop();
    const e = error ?? { message: fallback ?? `the quantizer stopped unexpectedly (exit ${code}).`, hint: 'See the Modelyard output channel.' };
    this.ctx.log.warn(`[quantize] ${this.target.label}: ${e.message}`);
    await this.post({ type: 'error', message: e.message, ...(e.hint ? { hint: e.hint } : {}) });
  }

  /** Registers the last result as a new artifact, with its lineage in the tag message. */
  async register(name: string, as: 'model' | 'version' = 'model'): Promise<{ tag: string; name: string; version: string }> {
    const report = this.report;
    if (!report) throw new UserError('there is no quantized model to register yet.', 'Run Quantize first.');
    if (!this.source.root) throw new UserError(`${this.target.label} is not in a git repository.`, 'Open the model from its repository to register the result.');
    const { registerQuantized, registerQuantizedVersion } = await import('../../core/quantize/register');
    try {
      const lineage = { sourceRef: this.source.ref ?? this.target.label, ...(this.source.commit ? { sourceCommit: this.source.commit } : {}) };
      const r =
        as === 'version'
          ? await registerQuantizedVersion(this.source.root, report, { name: this.source.registryName ?? '', version: name, ...lineage })
          : await registerQuantized(this.source.root, report, { name, ...(this.source.registryName ? { sourceName: this.source.registryName } : {}), ...lineage });
      this.ctx.registries.invalidate(this.source.root);
      await this.post({ type: 'registered', name: r.name, version: r.version, tag: r.tag });
      void vscode.window.showInformationMessage(`Registered ${r.name}@${r.version} (${report.mode}), with its lineage from ${this.source.ref ?? this.target.label}.`);
      return r;
    } catch (e) {
      const u = e instanceof UserError ? e : new UserError(String(e));
      await this.post({ type: 'error', message: u.message, ...(u.hint ? { hint: u.hint } : {}) });
      throw u;
    }
  }
}

/** The CLI arguments for a target: a file path, or "name@version --repo ROOT" for a registered version. */
async function sourceOf(registries: RegistryService, target: ModelTarget): Promise<SourceSpec> {
  const git = gitUriParts(target.uri);
  if (git) {
    const reg = await registries.registry(git.root);
    const model = reg.models.find((m) => m.entry?.path === git.path);
    const ref = git.label;
    if (!model || !ref || !/@v\d/.test(ref)) {
      throw new UserError(`${target.label} is a commit, not a registered version.`, 'Quantize a registered version from the Models view, or the working file.');
    }
    return { args: [ref, '--repo', git.root], file: path.join(git.root, git.path), root: git.root, registryName: model.name, ref, commit: git.commit };
  }
  if (target.uri.scheme !== 'file') throw new UserError(`${target.label} is not a file on this machine.`, 'Open the model from a local folder.');
  const file = target.uri.fsPath;
  const root = (await registries.repositories()).find((r) => file.startsWith(r + path.sep));
  let registryName: string | undefined;
  if (root) {
    const rel = path.relative(root, file).split(path.sep).join('/');
    registryName = (await registries.registry(root)).models.find((m) => m.entry?.path === rel)?.name;
  }
  return { args: [file], file, ...(root ? { root } : {}), ...(registryName ? { registryName, ref: `${registryName} (working tree)` } : {}) };
}
