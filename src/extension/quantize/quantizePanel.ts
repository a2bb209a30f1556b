import path from 'node:path';
import * as vscode from 'vscode';
import { UserError, describeError, isCancelled, isUserError } from '../../core/errors';
import type { QuantizeReport } from '../../core/quantize/quantize';
import { decisionGroups } from '../../core/quantize/report';
import { writeAtomic } from '../../core/util/files';
import { quantizeArgs } from '../../shared/cli/quantize';
import type { Handlers, RequestHandlers } from '../../shared/contract';
import {
  quantizeContract,
  type QuantizeInitial,
  type QuantizeOptionsView,
  type QuantizeToHost,
  type ReportView,
  type quantizeRequests,
} from '../../shared/protocol/quantize';
import { loadHeavy } from '../heavy/load';
import { cliModelArgs, type ModelTarget } from '../modelTarget';
import { ContractPanel, webviewOptions } from '../panel';
import type { Services } from '../services';
import { quantizeSettings } from '../settings';

/** Where the model comes from: its CLI arguments, the file the result is written beside, and its registry. */
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
  private running_: vscode.CancellationTokenSource | undefined;
  private progress: { message: string; fraction?: number } | undefined;
  private report: QuantizeReport | undefined;

  static get all(): QuantizePanel[] {
    return ContractPanel.openPanels<QuantizePanel>(quantizeContract.viewType);
  }

  static async show(services: Services, target: ModelTarget, panel?: vscode.WebviewPanel): Promise<QuantizePanel> {
    const open = QuantizePanel.all.find((p) => p.target.uri.toString() === target.uri.toString());
    if (open && !panel) {
      open.panel.reveal();
      return open;
    }
    const source = sourceOf(target);
    const tests = await vscode.workspace.findFiles('**/*.modeltest.json', '**/node_modules/**', 64);
    let next: string | undefined;
    if (source.root && source.registryName) {
      const { suggestVersion } = await import('../../core/registry/write');
      next = suggestVersion(await services.registries.registry(source.root), source.registryName);
    }
    const openInputs = await openInputsOf(services, target);
    const webviewPanel = panel ?? vscode.window.createWebviewPanel(quantizeContract.viewType, `Quantize: ${target.label}`, vscode.ViewColumn.Active, webviewOptions(services.extensionUri));
    return new QuantizePanel(webviewPanel, services, target, source, tests.map((u) => u.fsPath).sort(), next, openInputs);
  }

  private constructor(
    panel: vscode.WebviewPanel,
    private readonly services: Services,
    readonly target: ModelTarget,
    private readonly source: SourceSpec,
    testFiles: string[],
    nextVersion: string | undefined,
    openInputs: QuantizeInitial['openInputs'],
  ) {
    const s = quantizeSettings();
    const stem = (source.registryName ?? path.basename(source.file).replace(/\.onnx$/i, '')).replace(/^.*:/, '').replace(/[^\w-]+/g, '-');
    super(panel, quantizeContract, {
      extensionUri: services.extensionUri,
      log: services.log,
      title: `Quantize: ${target.label}`,
      script: 'quantize',
      iconPath: new vscode.ThemeIcon('zap') as unknown as vscode.Uri,
      key: target.uri.toString(),
      restore: { uri: target.uri.toString() },
      initial: {
        model: { label: target.label, uri: target.uri.toString(), detail: target.detail },
        ...(source.root ? { registry: { suggestedName: stem, ...(nextVersion && source.registryName ? { versionOf: { name: source.registryName, next: nextVersion } } : {}) } } : {}),
        defaults: { mode: 'auto', minCosine: s.minCosine, minTop1: s.minTop1, output: path.dirname(source.file) },
        testFiles,
        ...(openInputs?.length ? { openInputs } : {}),
      },
    });
    this._register({ dispose: () => this.running_?.cancel() });
  }

  /** The last report, once a run finished. */
  get lastReport(): QuantizeReport | undefined {
    return this.report;
  }

  get running(): boolean {
    return !!this.running_;
  }

  protected get handlers(): Handlers<QuantizeToHost> {
    return {
      // A webview shown again starts afresh from its saved state: a run still under way shows its progress again.
      ready: async () => {
        if (this.running_ && this.progress) await this.post({ type: 'progress', ...this.progress });
      },
      start: async (m) => {
        await this.start(m.options);
      },
      cancel: () => {
        this.running_?.cancel();
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

  protected override get requestHandlers(): RequestHandlers<typeof quantizeRequests> {
    return {
      pickCalibration: async ({ kind }) => {
        const picked =
          kind === 'folder'
            ? await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, title: 'Calibration data: a folder of .npy, .json, image or .wav files' })
            : await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'Model tests': ['json'] }, title: 'Calibration data: a .modeltest.json file' });
        return picked?.[0]?.fsPath ?? null;
      },
    };
  }

  /** The CLI arguments of a run with the panel's options and the settings' gate. */
  private args(o: QuantizeOptionsView): string[] {
    const s = quantizeSettings();
    const [model, ...repo] = this.source.args;
    const shapes = Object.entries(o.shapes ?? {})
      .filter(([, v]) => v.trim())
      .map(([k, v]) => `${k}=${v.trim().split(/\s*[,×x]\s*|\s+/).join(',')}`);
    return quantizeArgs({
      model: model!,
      ...(repo[0] === '--repo' && repo[1] ? { repo: repo[1] } : {}),
      mode: o.mode,
      json: true,
      minCosine: s.minCosine,
      minTop1: s.minTop1,
      ...(s.maxLatencyRatio !== null ? { maxLatencyRatio: s.maxLatencyRatio } : {}),
      perChannel: o.perChannel,
      exclude: o.exclude.split(',').map((e) => e.trim()).filter(Boolean),
      blockSize: o.blockSize,
      ...(o.symmetric ? {} : { symmetric: false }),
      method: o.method,
      ...(o.sensitivity ? {} : { sensitivity: false }),
      ...(o.keepIoTypes ? {} : { keepIoTypes: false }),
      ...(o.calibration.trim() ? { calibration: o.calibration.trim() } : {}),
      ...(shapes.length ? { shapes } : {}),
    });
  }

  /** Runs the quantization; resolves when it ended (report, error or cancel). */
  async start(o: QuantizeOptionsView): Promise<void> {
    if (this.running_) return;
    const args = this.args(o);
    this.report = undefined;
    const cts = new vscode.CancellationTokenSource();
    this.running_ = cts;
    try {
      const r = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Quantizing ${this.target.label}`, cancellable: true }, (progress, token) => {
        token.onCancellationRequested(() => cts.cancel());
        let last = 0;
        return this.services.cli.run(['quantize', ...args], {
          cwd: this.source.root ?? path.dirname(this.source.file),
          token: cts.token,
          okCodes: [0, 1],
          onEvent: (e) => {
            if (e.event !== 'progress') return;
            this.progress = { message: e.message, ...(e.fraction !== undefined ? { fraction: e.fraction } : {}) };
            void this.post({ type: 'progress', ...this.progress });
            const pct = e.fraction !== undefined ? Math.round(e.fraction * 100) : undefined;
            progress.report({ message: e.message, ...(pct !== undefined && pct > last ? { increment: pct - last } : {}) });
            if (pct !== undefined) last = Math.max(last, pct);
          },
        });
      });
      this.report = JSON.parse(r.stdout) as QuantizeReport;
      await this.post({ type: 'report', report: reportView(this.report) });
    } catch (e) {
      if (isCancelled(e)) {
        await this.post({ type: 'cancelled' });
        return;
      }
      if (isUserError(e)) this.services.log.warn(`[quantize] ${this.target.label}: ${e.message}`);
      else this.services.log.error(`[quantize] ${this.target.label}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      await this.post({ type: 'error', message: isUserError(e) ? e.message : describeError(e), ...(isUserError(e) && e.hint ? { hint: e.hint } : { hint: 'See the Modelyard log.' }) });
    } finally {
      cts.dispose();
      this.running_ = undefined;
      this.progress = undefined;
    }
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
      this.services.registries.invalidate(this.source.root);
      await this.post({ type: 'registered', name: r.name, version: r.version, tag: r.tag });
      void vscode.window.showInformationMessage(`Registered ${r.name}@${r.version} (${report.mode}), with its lineage from ${this.source.ref ?? this.target.label}.`);
      return r;
    } catch (e) {
      // Shown in the panel too; the error itself goes on as it is (an internal one keeps its stack for the log).
      await this.post({ type: 'error', message: isUserError(e) ? e.message : describeError(e), ...(isUserError(e) && e.hint ? { hint: e.hint } : {}) });
      throw e;
    }
  }
}

/** The CLI arguments for a target: a file path, or "name@version --repo ROOT" for a registered version. */
function sourceOf(target: ModelTarget): SourceSpec {
  const entry = target.model?.entry;
  if (target.uri.scheme !== 'file') {
    if (!target.root || !target.model || !entry || !target.version?.registered) {
      throw new UserError(`${target.label} is a commit, not a registered version.`, 'Quantize a registered version from the Models view, or the working file.');
    }
    const ref = `${target.model.name}@${target.version.version}`;
    return { args: cliModelArgs(target), file: path.join(target.root, entry.path), root: target.root, registryName: target.model.name, ref, ...(target.commit ? { commit: target.commit } : {}) };
  }
  const file = target.uri.fsPath;
  const registryName = target.model?.name;
  return { args: [file], file, ...(target.root ? { root: target.root } : {}), ...(registryName ? { registryName, ref: `${registryName} (working tree)` } : {}) };
}

/**
 * The model's inputs with open dims, and the sizes random inputs would take (the guesses the CLI makes first), for
 * the panel's Input shapes. Read from the model's header; a model that cannot be read gets none (the run says why).
 */
async function openInputsOf(services: Services, target: ModelTarget): Promise<QuantizeInitial['openInputs']> {
  try {
    const heavy = await loadHeavy();
    const summary = target.uri.scheme === 'file' ? await heavy.summarizeFile(target.uri.fsPath) : heavy.summarizeBytes(await vscode.workspace.fs.readFile(target.uri), target.label);
    const { shapes, guessed } = heavy.resolveShapes(summary.inputs);
    return summary.inputs
      .filter((i) => i.shape?.some((d) => typeof d !== 'number'))
      .map((i) => {
        const mine = guessed.filter((g) => g.input === i.name);
        return {
          name: i.name,
          declared: `${i.dtype ?? i.kind ?? ''} [${(i.shape ?? []).map((d) => (typeof d === 'number' ? d : d || '?')).join(', ')}]`,
          guess: (shapes[i.name] ?? []).join(','),
          why: mine.filter((g) => g.reason !== 'batch').map((g) => `${g.name ?? `dim ${g.index}`} = ${g.value}${g.reason === 'default' ? '' : ` (${g.reason})`}`).join('; '),
        };
      });
  } catch (e) {
    services.log.warn(`[quantize] could not read the inputs of ${target.label}: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  }
}
