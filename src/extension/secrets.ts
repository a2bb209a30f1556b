import * as vscode from 'vscode';

/**
 * The only place Modelyard keeps credentials: VS Code's SecretStorage (the OS keychain on the desktop), behind
 * typed keys. Settings never hold a secret, no secret is ever logged, and a webview never receives one back.
 */
export type SecretKey =
  /** An S3-compatible store's secret access key, per endpoint and access key id. */
  | { kind: 's3'; endpoint: string; accessKeyId: string }
  /** A bearer token typed for a kube context whose kubeconfig has none. */
  | { kind: 'kube-token'; context: string };

function keyOf(k: SecretKey): string {
  return k.kind === 's3' ? `modelyard.s3:${k.endpoint}:${k.accessKeyId}` : `modelyard.kube-token:${k.context}`;
}

export class Secrets {
  constructor(private readonly storage: vscode.SecretStorage) {}

  get(k: SecretKey): Thenable<string | undefined> {
    return this.storage.get(keyOf(k));
  }

  store(k: SecretKey, value: string): Thenable<void> {
    return this.storage.store(keyOf(k), value);
  }

  delete(k: SecretKey): Thenable<void> {
    return this.storage.delete(keyOf(k));
  }

  /** Fires when a secret changes, in this window or another. */
  onDidChange(k: SecretKey, listener: () => void): vscode.Disposable {
    const key = keyOf(k);
    return this.storage.onDidChange((e) => e.key === key && listener());
  }
}
