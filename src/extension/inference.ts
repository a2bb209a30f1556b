import * as vscode from 'vscode';
import type { InferenceHost, SessionInfo, SessionOptions, Source } from '../../core/inference/host';
import { Disposable } from '../disposable';
import { loadHeavy } from '../heavy';
import { GIT_SCHEME } from '../registry/gitContent';

/** The inference settings a user can change, read when they are needed. */
export function inferenceSettings(): { timeoutMs: number; threads: number; maxInputElements: number } {
  const c = vscode.workspace.getConfiguration('modelyard.inference');
  return {
    timeoutMs: Math.max(1, c.get<number>('timeoutSeconds', 120)) * 1000,
    threads: Math.max(0, Math.trunc(c.get<number>('threads', 0))),
    maxInputElements: Math.max(1, c.get<number>('maxInputElements', 100_000_000)),
  };
}

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
        if (e.affectsConfiguration('modelyard.inference.timeoutSeconds')) void this.restart();
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

  /** What the worker loads: a file by path (external data beside it works), a version from git by its bytes. */
  async source(uri: vscode.Uri, label: string): Promise<Source> {
    if (uri.scheme === 'file') return { path: uri.fsPath };
    const bytes = await vscode.workspace.fs.readFile(uri);
    const key = uri.scheme === GIT_SCHEME ? `${uri.scheme}:${uri.query}` : uri.toString();
    return { bytes, key, label };
  }

  async load(uri: vscode.Uri, label: string, options: SessionOptions, signal?: AbortSignal): Promise<SessionInfo> {
    const host = await this.get();
    return host.load(await this.source(uri, label), options, { ...(signal ? { signal } : {}) });
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
