import crypto from 'node:crypto';
import * as vscode from 'vscode';
import { describeError, isUserError } from '../core/errors';
import {
  jsonForAttribute,
  requestEnvelope,
  validate,
  type Handlers,
  type InitialOf,
  type PanelContract,
  type RequestHandlers,
  type RequestMap,
  type RequestsOf,
  type ResponseEnvelope,
  type ToHostOf,
  type ToWebviewOf,
} from '../shared/contract';
import { reportError } from './commands';
import { Disposable } from './disposable';

export interface PanelOptions<Init> {
  extensionUri: vscode.Uri;
  log: vscode.LogOutputChannel;
  title: string;
  /** The bundle name under dist/webview (dist/webview/NAME.js). */
  script: string;
  initial: Init;
  iconPath?: vscode.Uri | { light: vscode.Uri; dark: vscode.Uri };
  /** One panel per key and view type: showing the same key again reveals it (see ContractPanel.revealOrCreate). */
  key?: string;
  /**
   * What the panel is restored from after a window reload: written into the page, kept in the webview's persisted
   * state, and handed to the serializer registered with registerPanelSerializer.
   */
  restore?: unknown;
}

type AnyPanel = ContractPanel<PanelContract<{ type: string }, { type: string }, unknown>>;


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
 * contract before a handler sees it (a malformed or unknown message is logged and dropped). It keeps the open
 * panels by view type and key, answers the contract's requests, and reports every message it posts (onDidPost).
 */
export abstract class ContractPanel<C extends PanelContract<{ type: string }, { type: string }, unknown>> extends Disposable {
  private static readonly open = new Map<string, AnyPanel>();
  private readonly disposedEmitter = this._register(new vscode.EventEmitter<void>());
  readonly onDidDispose = this.disposedEmitter.event;
  private readonly postEmitter = this._register(new vscode.EventEmitter<ToWebviewOf<C>>());
  /** Every message sent to the webview: the integration suite follows a panel through it. */
  readonly onDidPost = this.postEmitter.event;
  private readonly respondEmitter = this._register(new vscode.EventEmitter<ResponseEnvelope>());
  /** Every answer to a request of the webview. */
  readonly onDidRespond = this.respondEmitter.event;
  /** Counts messages dropped by validation; read by tests. */
  droppedMessages = 0;

  /** The open panels of a view type (panels of one class share it). */
  static openPanels<P>(viewType: string): P[] {
    return [...ContractPanel.open.entries()].filter(([k]) => k.startsWith(`${viewType}\n`)).map(([, p]) => p as unknown as P);
  }

  /** The open panel of a view type and key, revealed; or a new one from `create`. */
  protected static revealOrCreate<P extends { panel: vscode.WebviewPanel }>(viewType: string, key: string, create: () => P): P {
    const open = ContractPanel.open.get(`${viewType}\n${key}`) as unknown as P | undefined;
    if (open) {
      open.panel.reveal();
      return open;
    }
    return create();
  }

  protected constructor(
    readonly panel: vscode.WebviewPanel,
    protected readonly contract: C,
    protected readonly options: PanelOptions<InitialOf<C>>,
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
    if (options.key !== undefined) {
      const k = `${contract.viewType}\n${options.key}`;
      ContractPanel.open.get(k)?.dispose();
      ContractPanel.open.set(k, this as unknown as AnyPanel);
      this._register({ dispose: () => ContractPanel.open.get(k) === (this as unknown as AnyPanel) && ContractPanel.open.delete(k) });
    }
  }

  /** Disposing the controller closes its tab too (a revived panel replaces the old one, it does not orphan it). */
  override dispose(): void {
    if (this.isDisposed) return;
    super.dispose();
    this.panel.dispose();
  }

  protected abstract get handlers(): Handlers<ToHostOf<C>>;

  /** The answers to the contract's requests; a panel whose contract declares requests overrides this. */
  protected get requestHandlers(): RequestHandlers<RequestsOf<C> & RequestMap> {
    return {} as RequestHandlers<RequestsOf<C> & RequestMap>;
  }

  /**
   * Sends a message after checking it against the contract: the host never sends what the webview would drop. A
   * panel closed meanwhile (work it started goes on, a deploy for one) drops the message: there is no one to tell.
   */
  protected post(message: ToWebviewOf<C>): Thenable<boolean> {
    if (this.isDisposed) return Promise.resolve(false);
    const v = validate(this.contract.toWebview, message);
    if (!v.ok) {
      this.options.log.error(`[${this.contract.viewType}] refusing to send an invalid message: ${v.error}`);
      return Promise.resolve(false);
    }
    this.postEmitter.fire(message);
    return this.panel.webview.postMessage(message);
  }

  /** Handles a message as if the webview had sent it: validated, then dispatched (the integration suite drives panels through it). */
  async receive(raw: unknown): Promise<void> {
    if (typeof raw === 'object' && raw !== null && (raw as { type?: unknown }).type === 'request') return this.answer(raw);
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

  /** Answers a correlated request: params and result checked against the contract, errors as a message and hint. */
  private async answer(raw: unknown): Promise<void> {
    const env = validate(requestEnvelope, raw);
    const spec = env.ok ? this.contract.requests?.[env.value.method] : undefined;
    const handler = env.ok ? (this.requestHandlers as Record<string, (p: unknown) => Promise<unknown>>)[env.value.method] : undefined;
    if (!env.ok || !spec || !handler) {
      this.droppedMessages++;
      this.options.log.warn(`[${this.contract.viewType}] dropped a request that is not in the contract (${env.ok ? env.value.method : env.error})`);
      return;
    }
    const { id, method } = env.value;
    let response: ResponseEnvelope;
    const params = validate(spec.params, env.value.params);
    if (!params.ok) response = { type: 'response', id, ok: false, error: { message: `invalid request ${method}: ${params.error}` } };
    else {
      try {
        const result = validate(spec.result, await handler.call(this, params.value));
        if (!result.ok) throw new Error(`the answer to ${method} does not match the contract: ${result.error}`);
        response = { type: 'response', id, ok: true, result: result.value };
      } catch (e) {
        await reportError(this.options.log, e, `${this.contract.viewType}/${method}`);
        response = { type: 'response', id, ok: false, error: { message: describeError(e), ...(isUserError(e) && e.hint ? { hint: e.hint } : {}) } };
      }
    }
    this.respondEmitter.fire(response);
    await this.panel.webview.postMessage(response);
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
<div id="app" data-initial="${jsonForAttribute(initial)}"${this.options.restore !== undefined ? ` data-restore="${jsonForAttribute(this.options.restore)}"` : ''}></div>
<script type="module" nonce="${nonce}" src="${script}"></script>
</body>
</html>`;
  }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Restores a contract's panels after a window reload from what they wrote as `restore` (kept by the webview in its
 * persisted state). A state that does not match the schema, or a model that is gone, leaves a page that says so and
 * how to open the panel again (closing a panel while the workbench restores it races the workbench).
 */
export function registerPanelSerializer<R>(
  viewType: string,
  schema: import('zod/mini').ZodMiniType<R>,
  log: vscode.LogOutputChannel,
  unrestorable: { title: string; again: string },
  revive: (panel: vscode.WebviewPanel, restore: R) => Promise<unknown> | unknown,
): vscode.Disposable {
  const { title, again } = unrestorable;
  const deserialize = async (panel: vscode.WebviewPanel, state: unknown): Promise<void> => {
    const v = validate(schema, (state as { restore?: unknown } | undefined)?.restore);
    if (!v.ok) {
      log.warn(`[${viewType}] a panel's saved state cannot be read (${v.error})`);
      showUnrestorable(panel, title, again);
      return;
    }
    try {
      await revive(panel, v.value);
    } catch (e) {
      await reportError(log, e, `${viewType}/restore`);
      showUnrestorable(panel, title, again);
    }
  };
  restorers.set(viewType, deserialize);
  const registration = vscode.window.registerWebviewPanelSerializer(viewType, { deserializeWebviewPanel: deserialize });
  return new vscode.Disposable(() => {
    registration.dispose();
    if (restorers.get(viewType) === deserialize) restorers.delete(viewType);
  });
}

const restorers = new Map<string, (panel: vscode.WebviewPanel, state: unknown) => Promise<void>>();

/** Restores a panel as the serializer would after a reload, with the state the webview saved (for tests). */
export function restorePanel(viewType: string, panel: vscode.WebviewPanel, state: unknown): Promise<void> {
  const r = restorers.get(viewType);
  if (!r) throw new Error(`no serializer for ${viewType}`);
  return r(panel, state);
}

/** The page of a panel that could not be restored: what it was, and how to open it again. */
export function showUnrestorable(panel: vscode.WebviewPanel, title: string, again: string): void {
  panel.title = title;
  panel.webview.html = `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'">
<title>${escapeText(title)}</title></head>
<body style="font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 12px 24px">
<p id="unrestorable"><strong>This ${escapeText(title)} panel could not be restored after the reload.</strong></p>
<p>Close it, and ${escapeText(again)}.</p>
</body></html>`;
}

/** Text inside an element: only what could open a tag or an entity is escaped. */
function escapeText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
