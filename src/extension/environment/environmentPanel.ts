import * as vscode from 'vscode';
import { buildEnvReport, envReportToMarkdown, type EnvReport, type OnnxRuntimeInfo } from '../../core/env/report';
import type { Handlers } from '../../shared/contract';
import { environmentContract, type EnvironmentToHost } from '../../shared/protocol/environment';
import { ContractPanel, webviewOptions, type PanelOptions } from '../panel';

export interface EnvironmentContext {
  extensionUri: vscode.Uri;
  version: string;
  log: vscode.LogOutputChannel;
  /** onnxruntime-node as the inference worker loaded it: the extension host itself never loads it. */
  onnxRuntime: () => Promise<OnnxRuntimeInfo>;
}

const UI_KIND: Record<number, string> = { [vscode.UIKind.Desktop]: 'Desktop', [vscode.UIKind.Web]: 'Web' };

/** Builds the environment report as the extension host sees it. */
export function environmentReport(ctx: EnvironmentContext): Promise<EnvReport> {
  return buildEnvReport({
    version: ctx.version,
    host: {
      application: vscode.env.appName,
      appVersion: vscode.version,
      uiKind: UI_KIND[vscode.env.uiKind] ?? String(vscode.env.uiKind),
      ...(vscode.env.remoteName ? { remoteName: vscode.env.remoteName } : {}),
    },
    folders: (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath),
    log: ctx.log,
    loadOnnxRuntime: async () => {
      const t0 = performance.now();
      const info = await ctx.onnxRuntime();
      ctx.log.info(`[env] onnxruntime-node ${info.version} loaded by the inference worker in ${(performance.now() - t0).toFixed(1)} ms from ${info.location}`);
      return info;
    },
  });
}

/** "Modelyard: Show Environment": versions and parts a user checks when something does not work. One at a time. */
export class EnvironmentPanel extends ContractPanel<typeof environmentContract> {
  private static current: EnvironmentPanel | undefined;
  /** The report last sent to the webview. */
  report: EnvReport | undefined;
  private pending: Promise<EnvReport> | undefined;
  private readonly reportEmitter = this._register(new vscode.EventEmitter<EnvReport>());
  readonly onDidReport = this.reportEmitter.event;

  static get active(): EnvironmentPanel | undefined {
    return EnvironmentPanel.current;
  }

  static show(ctx: EnvironmentContext): EnvironmentPanel {
    if (EnvironmentPanel.current) {
      EnvironmentPanel.current.panel.reveal();
      return EnvironmentPanel.current;
    }
    const panel = vscode.window.createWebviewPanel(
      environmentContract.viewType,
      'Modelyard Environment',
      vscode.ViewColumn.Active,
      webviewOptions(ctx.extensionUri),
    );
    return new EnvironmentPanel(panel, ctx);
  }

  /** Restores a panel after a reload (registered as the view type's serializer). */
  static revive(panel: vscode.WebviewPanel, ctx: EnvironmentContext): EnvironmentPanel {
    EnvironmentPanel.current?.dispose();
    return new EnvironmentPanel(panel, ctx);
  }

  private constructor(
    panel: vscode.WebviewPanel,
    private readonly ctx: EnvironmentContext,
  ) {
    const options: PanelOptions<{ report?: EnvReport }> = {
      extensionUri: ctx.extensionUri,
      log: ctx.log,
      title: 'Modelyard Environment',
      script: 'environment',
      initial: {},
      iconPath: vscode.Uri.joinPath(ctx.extensionUri, 'media', 'modelyard.svg'),
    };
    super(panel, environmentContract, options);
    EnvironmentPanel.current = this;
    this._register({
      dispose: () => {
        if (EnvironmentPanel.current === this) EnvironmentPanel.current = undefined;
      },
    });
  }

  protected get handlers(): Handlers<EnvironmentToHost> {
    return {
      ready: () => this.sendReport(false),
      refresh: () => this.sendReport(true),
      copyMarkdown: async () => {
        const report = this.report ?? (await this.gather(false));
        await vscode.env.clipboard.writeText(envReportToMarkdown(report));
        await this.post({ type: 'copied' });
        void vscode.window.showInformationMessage('Modelyard: environment report copied as Markdown.');
      },
      showLog: () => this.ctx.log.show(),
    };
  }

  /** The report, gathered once and again on refresh. */
  gather(fresh: boolean): Promise<EnvReport> {
    if (fresh || !this.pending) {
      const t0 = performance.now();
      this.pending = environmentReport(this.ctx).then((r) => {
        this.ctx.log.info(`[env] report gathered in ${(performance.now() - t0).toFixed(1)} ms`);
        return r;
      });
    }
    return this.pending;
  }

  private async sendReport(fresh: boolean): Promise<void> {
    if (fresh) await this.post({ type: 'loading' });
    const report = await this.gather(fresh);
    if (this.isDisposed) return;
    this.report = report;
    await this.post({ type: 'report', report });
    this.reportEmitter.fire(report);
  }
}
