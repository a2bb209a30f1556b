import crypto from 'node:crypto';
import * as vscode from 'vscode';
import { jsonForAttribute, validate, type Handlers, type PanelContract } from '../../shared/contract';
import { reportError } from '../commands';
import { Disposable } from '../disposable';

export interface PanelOptions<Init> {
  extensionUri: vscode.Uri;
  log: vscode.LogOutputChannel;
  title: string;
  /** The bundle name under dist/webview (dist/webview/NAME.js). */
  script: string;
  initial: Init;
  iconPath?: vscode.Uri | { light: vscode.Uri; dark: vscode.Uri };
}

/** Where every webview's files live: the only folder a webview may load from. */
export function webviewRoot(extensionUri: vscode.Uri): vscode.Uri {
  return vscode.Uri.joinPath(extensionUri, 'dist', 'webview');
}

export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
  return {
    enableScripts: true,
    enableFindWidget: true,
    localResourceRoots: [webviewRoot(extensionUri)],
  };
}

/**
 * A webview panel bound to a contract: a strict CSP with a fresh script nonce per render, resources only from
 * dist/webview, the initial state in an escaped data attribute, and every incoming message validated against the
 * contract before a handler sees it (a malformed or unknown message is logged and dropped).
 */
export abstract class ContractPanel<C extends PanelContract<{ type: string }, { type: string }, unknown>> extends Disposable {
  private readonly disposedEmitter = this._register(new vscode.EventEmitter<void>());
  readonly onDidDispose = this.disposedEmitter.event;
  /** Counts messages dropped by validation; read by tests. */
  droppedMessages = 0;

  protected constructor(
    readonly panel: vscode.WebviewPanel,
    protected readonly contract: C,
    protected readonly options: PanelOptions<C extends PanelContract<infer _H, infer _W, infer I> ? I : never>,
  ) {
    super();
    panel.webview.options = webviewOptions(options.extensionUri);
    panel.title = options.title;
    if (options.iconPath) panel.iconPath = options.iconPath;
    panel.webview.html = this.render(options.initial);
    this._register(panel.webview.onDidReceiveMessage((raw: unknown) => this.receive(raw)));
    this._register(
      panel.onDidDispose(() => {
        this.disposedEmitter.fire();
        this.dispose();
      }),
    );
  }

  /** Disposing the controller closes its tab too (a revived panel replaces the old one, it does not orphan it). */
  override dispose(): void {
    if (this.isDisposed) return;
    super.dispose();
    this.panel.dispose();
  }

  protected abstract get handlers(): Handlers<C extends PanelContract<infer H, infer _W, infer _I> ? H : never>;

  /** Sends a message after checking it against the contract: the host never sends what the webview would drop. */
  protected post(message: C extends PanelContract<infer _H, infer W, infer _I> ? W : never): Thenable<boolean> {
    const v = validate(this.contract.toWebview, message);
    if (!v.ok) {
      this.options.log.error(`[${this.contract.viewType}] refusing to send an invalid message: ${v.error}`);
      return Promise.resolve(false);
    }
    return this.panel.webview.postMessage(message);
  }

  /** Handles a message as if the webview had sent it: validated, then dispatched (the integration suite drives panels through it). */
  async receive(raw: unknown): Promise<void> {
    const v = validate(this.contract.toHost, raw);
    if (!v.ok) {
      this.droppedMessages++;
      this.options.log.warn(`[${this.contract.viewType}] dropped a malformed message from the webview (${v.error})`);
      return;
    }
    const message = v.value as { type: string };
    const handler = (this.handlers as Record<string, (m: unknown) => unknown>)[message.type];
    if (!handler) {
      this.droppedMessages++;
      this.options.log.warn(`[${this.contract.viewType}] no handler for message '${message.type}'`);
      return;
    }
    try {
      await handler.call(this, message);
    } catch (e) {
      await reportError(this.options.log, e, `${this.contract.viewType}/${message.type}`);
    }
  }

  private render(initial: unknown): string {
    const webview = this.panel.webview;
    const nonce = crypto.randomBytes(16).toString('base64');
    const root = webviewRoot(this.options.extensionUri);
    const script = webview.asWebviewUri(vscode.Uri.joinPath(root, `${this.options.script}.js`));
    const codicons = webview.asWebviewUri(vscode.Uri.joinPath(root, 'codicon.css'));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(root, `${this.options.script}.css`));
    const csp = [
      `default-src 'none'`,
      `script-src 'nonce-${nonce}'`,
      `style-src ${webview.cspSource}`,
      `img-src ${webview.cspSource} data:`,
      `font-src ${webview.cspSource}`,
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${codicons}" id="vscode-codicon-stylesheet">
<link rel="stylesheet" href="${style}">
<title>${escapeHtml(this.options.title)}</title>
</head>
<body>
<div id="app" data-initial="${jsonForAttribute(initial)}"></div>
<script type="module" nonce="${nonce}" src="${script}"></script>
</body>
</html>`;
  }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
