import * as vscode from 'vscode';
import { describeError, isUserError } from '../../core/errors';
import type { Handlers } from '../../shared/contract';
import { cardContract, type CardToHost, type SummaryView } from '../../shared/protocol/card';
import { describeModelUri } from '../modelTarget';
import { ContractPanel } from '../panel';
import { loadHeavy } from '../heavy/load';
import type { ModelSummary } from '../../core/onnx/summary';

export interface CardContext {
  extensionUri: vscode.Uri;
  log: vscode.LogOutputChannel;
}

class ModelDocument implements vscode.CustomDocument {
  constructor(readonly uri: vscode.Uri) {}
  dispose(): void {}
}

/**
 * The `.onnx` custom editor: a read-only model card instead of VS Code's binary-file notice, for files in the
 * workspace and for versions read from git (modelyard-git: URIs). Files on disk are summarised from the file, so
 * weights are never loaded whole; versions from git are summarised from their bytes.
 */
export class ModelCardEditor implements vscode.CustomReadonlyEditorProvider<ModelDocument> {
  static readonly viewType = cardContract.viewType;
  /** Open cards by URI string: read by the integration suite. */
  static readonly open = new Map<string, ModelCard>();

  constructor(private readonly ctx: CardContext) {}

  static register(ctx: CardContext): vscode.Disposable {
    return vscode.window.registerCustomEditorProvider(ModelCardEditor.viewType, new ModelCardEditor(ctx), {
      supportsMultipleEditorsPerDocument: true,
      webviewOptions: { enableFindWidget: true },
    });
  }

  openCustomDocument(uri: vscode.Uri): ModelDocument {
    return new ModelDocument(uri);
  }

  resolveCustomEditor(document: ModelDocument, panel: vscode.WebviewPanel): void {
    const card = new ModelCard(panel, document.uri, this.ctx);
    ModelCardEditor.open.set(document.uri.toString(), card);
    card.onDidDispose(() => {
      if (ModelCardEditor.open.get(document.uri.toString()) === card) ModelCardEditor.open.delete(document.uri.toString());
    });
  }
}

export class ModelCard extends ContractPanel<typeof cardContract> {
  summary: SummaryView | undefined;
  private raw: ModelSummary | undefined;
  error: string | undefined;
  private readonly summaryEmitter = this._register(new vscode.EventEmitter<SummaryView | Error>());
  /** Fires once the card has its summary (or its error): the integration suite waits on it. */
  readonly onDidSummarize = this.summaryEmitter.event;

  constructor(
    panel: vscode.WebviewPanel,
    readonly uri: vscode.Uri,
    private readonly ctx: CardContext,
  ) {
    const d = describeModelUri(uri);
    super(panel, cardContract, {
      extensionUri: ctx.extensionUri,
      log: ctx.log,
      title: d.version ? `${d.label} (${d.version})` : d.label,
      script: 'card',
      initial: { label: d.label, detail: d.detail, ...(d.version ? { version: d.version } : {}) },
    });
  }

  protected get handlers(): Handlers<CardToHost> {
    return {
      ready: () => this.load(),
      run: async () => void (await vscode.commands.executeCommand('modelyard.playground.open', this.uri, 'run')),
      benchmark: async () => void (await vscode.commands.executeCommand('modelyard.playground.open', this.uri, 'benchmark')),
      compare: async () => void (await vscode.commands.executeCommand('modelyard.model.compare', this.uri)),
      quantize: async () => void (await vscode.commands.executeCommand('modelyard.model.quantize', this.uri)),
      deploy: async () => void (await vscode.commands.executeCommand('modelyard.deploy.version', this.uri)),
      copy: async ({ format }) => {
        const s = this.summary;
        if (!s || !this.raw) return;
        const heavy = await loadHeavy();
        const text = format === 'sha256' ? s.sha256 : format === 'json' ? JSON.stringify(s, null, 2) : heavy.summaryToMarkdown(this.raw!, describeModelUri(this.uri).label);
        await vscode.env.clipboard.writeText(text);
        await this.post({ type: 'copied', what: format === 'sha256' ? 'SHA-256' : format === 'json' ? 'JSON' : 'Summary' });
      },
      showLog: () => this.ctx.log.show(),
    };
  }

  private async load(): Promise<void> {
    const t0 = performance.now();
    try {
      const heavy = await loadHeavy();
      const s =
        this.uri.scheme === 'file'
          ? await heavy.summarizeFile(this.uri.fsPath)
          : heavy.summarizeBytes(await vscode.workspace.fs.readFile(this.uri), describeModelUri(this.uri).label);
      const view = heavy.summaryView(s, performance.now() - t0);
      this.summary = view;
      this.raw = s;
      this.ctx.log.info(`[card] ${describeModelUri(this.uri).label}: ${view.nodeCount} nodes, ${view.parameters.count} parameters, read in ${view.summaryMs.toFixed(1)} ms`);
      if (this.isDisposed) return;
      await this.post({ type: 'summary', summary: view });
      this.summaryEmitter.fire(view);
    } catch (e) {
      const message = isUserError(e) ? e.message : describeError(e);
      this.error = message;
      if (isUserError(e)) this.ctx.log.warn(`[card] ${this.uri.toString(true)}: ${message}`);
      else this.ctx.log.error(`[card] ${this.uri.toString(true)}: ${e instanceof Error ? (e.stack ?? message) : message}`);
      if (this.isDisposed) return;
      await this.post({ type: 'error', message, ...(isUserError(e) && e.hint ? { hint: e.hint } : {}) });
      this.summaryEmitter.fire(e instanceof Error ? e : new Error(message));
    }
  }
}
