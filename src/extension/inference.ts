import * as vscode from 'vscode';
import type { InferenceHost, SessionInfo, SessionOptions, Source } from '../core/inference/host';
import { Disposable } from './disposable';
import { loadHeavy } from './heavy/load';
import { affects, inferenceSettings } from './settings';

/**
 * The extension's one inference worker (dist/inference-worker.js): started on first use, never in the extension
 * host, restarted by the host after a crash, a timeout or a cancellation, and stopped with the extension.
 */
export class InferenceService extends Disposable {
  private host: Promise<InferenceHost> | undefined;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this._register(
      vscode.workspace.onDidChangeConfiguration((e) => {
        // A new timeout applies to the next worker; the running one keeps its sessions.
        if (affects(e, 'inference.timeoutSeconds')) void this.restart();
      }),
    );
  }

  get(): Promise<InferenceHost> {
    this.host ??= loadHeavy().then(
      (h) =>
        new h.InferenceHost({
          workerPath: vscode.Uri.joinPath(this.extensionUri, 'dist', 'inference-worker.js').fsPath,
          log: this.log,
          timeoutMs: inferenceSettings().timeoutMs,
        }),
    );
    return this.host;
  }

  /** Loads a model (from ModelResolver.source) in the worker. */
  async load(source: Source, options: SessionOptions, signal?: AbortSignal): Promise<SessionInfo> {
    const host = await this.get();
    return host.load(source, options, { ...(signal ? { signal } : {}) });
  }

  private async restart(): Promise<void> {
    const old = this.host;
    this.host = undefined;
    await (await old)?.dispose();
  }

  override dispose(): void {
    void this.host?.then((h) => h.dispose());
    this.host = undefined;
    super.dispose();
  }
}
