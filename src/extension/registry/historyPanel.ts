import fs from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import { describeError, isUserError } from '../../core/errors';
import { historyView, type HistoryView } from '../../core/registry/history';
import { loadRegistry, type Registry } from '../../core/registry/registry';
import { run } from '../../core/util/proc';
import { validate, type Handlers } from '../../shared/contract';
import { historyContract, historyPersisted, type HistoryTarget, type HistoryToHost } from '../../shared/protocol/history';
import { ContractPanel, showUnrestorable, webviewOptions, type PanelOptions } from '../panel';

export interface HistoryContext {
  extensionUri: vscode.Uri;
  log: vscode.LogOutputChannel;
  /** Where the registry comes from: the extension passes its shared, cached one; tests may leave it out. */
  registry?: (root: string) => Promise<Registry>;
}

/** What the panel last showed: the history, or why it could not be loaded. */
export type HistoryRender = { ok: true; view: HistoryView } | { ok: false; message: string; hint?: string };

function keyOf(t: HistoryTarget): string {
  return `${path.resolve(t.root)}\0${t.model}`;
}

/**
 * "Show History" of a model: the timeline of its registry events (who, when, what, why), read from the tags.
 * One panel per repository and model; showing it again reveals it.
 */
export class HistoryPanel extends ContractPanel<typeof historyContract> {

  /** The history last sent to the webview; undefined until the webview said ready and the registry was read. */
  view: HistoryView | undefined;
  /** The error last shown instead of a history. */
  error: { message: string; hint?: string } | undefined;
  private readonly renderEmitter = this._register(new vscode.EventEmitter<HistoryRender>());
  /** Fires each time the webview was sent a history or an error. */
  readonly onDidRender = this.renderEmitter.event;
  private ready = false;
  private generation = 0;

  /** The open panel for this repository and model, if any. */
  static get(target: HistoryTarget): HistoryPanel | undefined {
    return HistoryPanel.all().find((p) => keyOf(p.target) === keyOf(target));
  }

  static all(): HistoryPanel[] {
    return ContractPanel.openPanels<HistoryPanel>(historyContract.viewType);
  }

  /** Reloads every open panel of a repository (all of them when no root is given): call it when tags change. */
  static async reloadAll(root?: string): Promise<void> {
    const r = root === undefined ? undefined : path.resolve(root);
    await Promise.all(HistoryPanel.all().filter((p) => r === undefined || path.resolve(p.target.root) === r).map((p) => p.reload()));
  }

  static show(ctx: HistoryContext, target: { root: string; model: string; include?: string }): HistoryPanel {
    return ContractPanel.revealOrCreate(historyContract.viewType, keyOf(target), () => {
      const panel = vscode.window.createWebviewPanel(historyContract.viewType, titleOf(target.model), vscode.ViewColumn.Active, webviewOptions(ctx.extensionUri));
      return new HistoryPanel(panel, ctx, target);
    });
  }

  /**
   * Restores a panel after a reload from the webview's persisted state (which holds the repository and model).
   * A state that cannot be read leaves a panel that says so and how to get the history back (without a target
   * there is nothing to load; closing the panel during deserialization would race the workbench restoring it).
   */
  static revive(panel: vscode.WebviewPanel, ctx: HistoryContext, state: unknown): HistoryPanel | undefined {
    const v = validate(historyPersisted, state);
    if (!v.ok) {
      ctx.log.warn(`[${historyContract.viewType}] a History panel's saved state cannot be read (${v.error})`);
      showUnrestorable(panel, 'History', "open the model's history again from the Models view");
      return undefined;
    }
    const target = v.value.data.target;
    const existing = HistoryPanel.get(target);
    if (existing) {
      panel.dispose();
      existing.panel.reveal();
      return existing;
    }
    return new HistoryPanel(panel, ctx, target);
  }

  private constructor(
    panel: vscode.WebviewPanel,
    private readonly ctx: HistoryContext,
    readonly target: HistoryTarget,
  ) {
    const options: PanelOptions<{ target: HistoryTarget }> = {
      extensionUri: ctx.extensionUri,
      log: ctx.log,
      title: titleOf(target.model),
      script: 'history',
      initial: { target },
      iconPath: vscode.Uri.joinPath(ctx.extensionUri, 'media', 'modelyard.svg'),
      key: keyOf(target),
    };
    super(panel, historyContract, options);
  }

  protected get handlers(): Handlers<HistoryToHost> {
    return {
      ready: () => {
        this.ready = true;
        return this.reload();
      },
      refresh: () => this.reload(),
      copyTag: (m) => this.copyTag(m.tag),
      openCommit: (m) => this.openCommit(m.commit),
      showLog: () => this.ctx.log.show(),
    };
  }

  /**
   * Reads the registry again and sends the history to the webview. Before the webview is ready this does nothing:
   * its 'ready' loads it. Of overlapping reloads only the last one's result is shown.
   */
  async reload(): Promise<void> {
    if (!this.ready || this.isDisposed) return;
    const generation = ++this.generation;
    const t0 = performance.now();
    let result: HistoryRender;
    try {
      const reg =
        this.ctx.registry && !this.target.include
          ? await this.ctx.registry(this.target.root)
          : await loadRegistry(this.target.root, { log: this.ctx.log, ...(this.target.include ? { include: this.target.include } : {}) });
      result = { ok: true, view: historyView(reg, this.target.model) };
    } catch (e) {
      result = this.errorOf(e);
    }
    if (generation !== this.generation || this.isDisposed) return;
    if (result.ok) {
      this.ctx.log.info(`[history] ${this.target.model}: ${result.view.events.length} events in ${(performance.now() - t0).toFixed(1)} ms`);
      // Checked here as well as in post(), so that a history the contract refuses shows as an error, not as nothing.
      const v = validate(historyContract.toWebview, { type: 'history', history: result.view });
      if (!v.ok) {
        this.ctx.log.error(`[history] ${this.target.model}: the history does not fit the panel's contract (${v.error})`);
        result = { ok: false, message: `The history of ${this.target.model} could not be shown.`, hint: 'The log has the details.' };
      }
    }
    await this.post(
      result.ok
        ? { type: 'history', history: result.view }
        : { type: 'error', message: clip(result.message), ...(result.hint ? { hint: clip(result.hint) } : {}) },
    );
    if (generation !== this.generation || this.isDisposed) return;
    this.view = result.ok ? result.view : undefined;
    this.error = result.ok ? undefined : { message: result.message, ...(result.hint ? { hint: result.hint } : {}) };
    this.renderEmitter.fire(result);
  }

  private errorOf(e: unknown): HistoryRender & { ok: false } {
    if (isUserError(e)) {
      this.ctx.log.warn(`[history] ${this.target.model}: ${describeError(e)}`);
      return { ok: false, message: capitalize(e.message), ...(e.hint ? { hint: e.hint } : {}) };
    }
    this.ctx.log.error(`[history] ${this.target.model}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    const gone = !fs.existsSync(this.target.root);
    return gone
      ? { ok: false, message: `The repository ${this.target.root} is not there any more.`, hint: 'Close this panel, or open the folder again.' }
      : { ok: false, message: `The registry of ${this.target.root} could not be read: ${describeError(e)}`, hint: 'Check that it is a git repository, then Refresh. The log has the details.' };
  }

  /** Copies a tag name of this history to the clipboard; a name the history does not hold is refused. */
  async copyTag(tag: string): Promise<void> {
    const known = this.view?.events.some((e) => e.tag === tag) || this.view?.problems.some((p) => p.tag === tag);
    if (!known) {
      this.ctx.log.warn(`[history] not copying '${tag.slice(0, 80)}': it is not a tag of this history`);
      return;
    }
    await vscode.env.clipboard.writeText(tag);
    vscode.window.setStatusBarMessage(`Copied ${tag}`, 2000);
  }

  /**
   * Shows a commit of this history: in the git extension's commit view when it has the repository open, otherwise
   * as a read-only `git show --stat` document.
   */
  async openCommit(commit: string): Promise<void> {
    if (!this.view?.events.some((e) => e.commit === commit)) {
      this.ctx.log.warn(`[history] not opening ${commit.slice(0, 12)}: it is not a commit of this history`);
      return;
    }
    const root = this.target.root;
    if (await gitExtensionHas(root)) {
      try {
        await vscode.commands.executeCommand('git.viewCommit', vscode.Uri.file(root), commit);
        return;
      } catch (e) {
        this.ctx.log.warn(`[history] git.viewCommit failed (${describeError(e)}); showing git show --stat instead`);
      }
    }
    ensureCommitProvider(this.ctx.log);
    const doc = await vscode.workspace.openTextDocument(commitUri(root, commit));
    await vscode.window.showTextDocument(doc, { preview: true, viewColumn: vscode.ViewColumn.Beside });
  }
}

/** A static page, without scripts, for a panel that cannot be restored. */
function titleOf(model: string): string {
  return `History: ${model}`;
}

/** Error texts can quote git's output: kept within the contract's bound for strings. */
function clip(s: string): string {
  return s.length > 4000 ? `${s.slice(0, 3999)}…` : s;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function sameDir(a: string, b: string): boolean {
  const real = (p: string) => {
    try {
      return fs.realpathSync.native(p);
    } catch {
      return path.resolve(p);
    }
  };
  return real(a) === real(b);
}

interface GitApi {
  getRepository(uri: vscode.Uri): { rootUri: vscode.Uri } | null;
}

/** True when VS Code's git extension is running, has git.viewCommit, and has this repository open. */
async function gitExtensionHas(root: string): Promise<boolean> {
  const ext = vscode.extensions.getExtension<{ enabled?: boolean; getAPI(version: 1): GitApi }>('vscode.git');
  if (!ext?.isActive || ext.exports?.enabled === false) return false;
  if (!(await vscode.commands.getCommands(true)).includes('git.viewCommit')) return false;
  try {
    const repo = ext.exports.getAPI(1).getRepository(vscode.Uri.file(root));
    return !!repo && sameDir(repo.rootUri.fsPath, root);
  } catch {
    return false;
  }
}

const COMMIT_SCHEME = 'modelyard-commit';
let commitProvider: vscode.Disposable | undefined;

function commitUri(root: string, commit: string): vscode.Uri {
  const q = new URLSearchParams({ root, commit });
  return vscode.Uri.from({ scheme: COMMIT_SCHEME, path: `/git show ${commit.slice(0, 8)}`, query: q.toString() });
}

/** Documents of this scheme come from a content provider, so VS Code opens them read-only. */
function ensureCommitProvider(log: vscode.LogOutputChannel): void {
  if (commitProvider) return;
  commitProvider = vscode.workspace.registerTextDocumentContentProvider(COMMIT_SCHEME, {
    async provideTextDocumentContent(uri) {
      const q = new URLSearchParams(uri.query);
      const root = q.get('root');
      const commit = q.get('commit');
      if (!root || !commit || !/^[0-9a-f]{40}$|^[0-9a-f]{64}$/.test(commit)) return 'Not a commit.';
      try {
        const r = await run('git', ['show', '--stat', '--format=fuller', '--no-color', commit, '--'], { cwd: root, log });
        return r.stdout;
      } catch (e) {
        return `git show ${commit} failed in ${root}:\n\n${describeError(e)}\n`;
      }
    },
  });
}

/** Restores History panels after a window reload. Register it once, at activation. */
export function registerHistorySerializer(ctx: HistoryContext): vscode.Disposable {
  const serializer = vscode.window.registerWebviewPanelSerializer(historyContract.viewType, {
    deserializeWebviewPanel: async (panel, state: unknown) => {
      HistoryPanel.revive(panel, ctx, state);
    },
  });
  return new vscode.Disposable(() => {
    serializer.dispose();
    commitProvider?.dispose();
    commitProvider = undefined;
  });
}
