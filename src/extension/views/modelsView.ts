import fs from 'node:fs/promises';
import path from 'node:path';
import * as vscode from 'vscode';
import { formatBytes } from '../../core/util/format';
import { Disposable } from '../disposable';

export interface ModelFile {
  uri: vscode.Uri;
  folder: vscode.WorkspaceFolder;
  /** Path relative to its workspace folder, with forward slashes. */
  relativePath: string;
  size: number;
  mtime: number;
}

type Node = { kind: 'folder'; folder: vscode.WorkspaceFolder; models: ModelFile[] } | { kind: 'model'; model: ModelFile } | { kind: 'note'; text: string };

const EXCLUDE = '{**/node_modules/**,**/.git/**}';

/**
 * The Models view, until the registry lands: every `.onnx` file of the workspace with its size, grouped by
 * workspace folder when there are several. Refreshes itself (debounced) when model files change.
 */
export class ModelsView extends Disposable implements vscode.TreeDataProvider<Node> {
  private readonly changed = this._register(new vscode.EventEmitter<Node | undefined>());
  readonly onDidChangeTreeData = this.changed.event;
  private models: Promise<ModelFile[]> | undefined;
  /** The models of the last finished scan. */
  private listed: ModelFile[] = [];
  private truncated = false;
  private refreshTimer: NodeJS.Timeout | undefined;
  readonly view: vscode.TreeView<Node>;

  constructor(private readonly log: vscode.LogOutputChannel) {
    super();
    this.view = this._register(vscode.window.createTreeView('modelyard.models', { treeDataProvider: this, showCollapseAll: true }));
    this.watchModels();
    // Creating or deleting a folder is reported as the folder alone, not as the files inside it.
    const folders = this._register(vscode.workspace.createFileSystemWatcher('**/*', false, true, false));
    this._register(
      folders.onDidCreate(async (uri) => {
        if (path.basename(uri.fsPath).includes('.')) return; // a file: the model watchers see it if it matters
        try {
          if ((await fs.stat(uri.fsPath)).isDirectory()) this.scheduleRefresh();
        } catch {
          // gone again
        }
      }),
    );
    this._register(
      folders.onDidDelete((uri) => {
        const prefix = uri.fsPath.endsWith(path.sep) ? uri.fsPath : uri.fsPath + path.sep;
        if (this.listed.some((m) => m.uri.fsPath.startsWith(prefix))) this.scheduleRefresh();
      }),
    );
    this._register(
      vscode.workspace.onDidChangeWorkspaceFolders(() => {
        this.watchModels();
        this.refresh();
      }),
    );
    this._register(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (!e.affectsConfiguration('modelyard.models')) return;
        this.watchModels();
        this.refresh();
      }),
    );
    this._register({ dispose: () => this.modelWatchers.forEach((w) => w.dispose()) });
    this._register({ dispose: () => clearTimeout(this.refreshTimer) });
  }

  private modelWatchers: vscode.Disposable[] = [];

  /** One watcher per workspace folder on its include glob, so a changed setting is watched as it is listed. */
  private watchModels(): void {
    this.modelWatchers.forEach((w) => w.dispose());
    this.modelWatchers = (vscode.workspace.workspaceFolders ?? []).flatMap((folder) => {
      const include = vscode.workspace.getConfiguration('modelyard.models', folder.uri).get<string>('include', '**/*.onnx');
      const w = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(folder, include));
      return [w, w.onDidCreate(() => this.scheduleRefresh()), w.onDidDelete(() => this.scheduleRefresh()), w.onDidChange(() => this.scheduleRefresh())];
    });
  }

  refresh(): void {
    this.models = undefined;
    this.changed.fire(undefined);
  }

  private scheduleRefresh(): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.refresh(), 300);
  }

  /** The model files, scanned once per refresh. */
  getModels(): Promise<ModelFile[]> {
    this.models ??= this.scan().finally(() => void vscode.commands.executeCommand('setContext', 'modelyard.models.loaded', true));
    return this.models;
  }

  private async scan(): Promise<ModelFile[]> {
    const t0 = performance.now();
    const folders = vscode.workspace.workspaceFolders ?? [];
    const max = vscode.workspace.getConfiguration('modelyard.models').get<number>('maxFiles', 5000);
    const found: ModelFile[] = [];
    this.truncated = false;
    for (const folder of folders) {
      const include = vscode.workspace.getConfiguration('modelyard.models', folder.uri).get<string>('include', '**/*.onnx');
      const uris = await vscode.workspace.findFiles(new vscode.RelativePattern(folder, include), EXCLUDE, max + 1);
      if (uris.length > max) {
        this.truncated = true;
        uris.length = max;
      }
      const stats = await Promise.all(
        uris.map(async (uri) => {
          try {
            const st = await fs.stat(uri.fsPath);
            return st.isFile() ? { uri, st } : undefined;
          } catch {
            return undefined; // deleted between the search and the stat
          }
        }),
      );
      for (const s of stats) {
        if (!s) continue;
        found.push({
          uri: s.uri,
          folder,
          relativePath: path.relative(folder.uri.fsPath, s.uri.fsPath).split(path.sep).join('/'),
          size: s.st.size,
          mtime: s.st.mtimeMs,
        });
      }
    }
    found.sort((a, b) => a.folder.index - b.folder.index || a.relativePath.localeCompare(b.relativePath));
    this.listed = found;
    this.log.info(`[models] ${found.length} model file(s) in ${folders.length} folder(s), ${(performance.now() - t0).toFixed(1)} ms`);
    return found;
  }

  async getChildren(node?: Node): Promise<Node[]> {
    if (node?.kind === 'folder') return node.models.map((model) => ({ kind: 'model', model }));
    if (node) return [];
    const models = await this.getModels();
    if (!models.length) return [];
    const seen = new Set<string>();
    this.sharedNames = new Set();
    for (const m of models) {
      const name = path.posix.basename(m.relativePath);
      if (seen.has(name)) this.sharedNames.add(name);
      seen.add(name);
    }
    const folders = vscode.workspace.workspaceFolders ?? [];
    const nodes: Node[] =
      folders.length > 1
        ? folders
            .map((folder) => ({ kind: 'folder' as const, folder, models: models.filter((m) => m.folder === folder) }))
            .filter((n) => n.models.length)
        : models.map((model) => ({ kind: 'model' as const, model }));
    if (this.truncated) nodes.push({ kind: 'note', text: 'More model files than modelyard.models.maxFiles: narrow modelyard.models.include' });
    return nodes;
  }

  /** File names that occur more than once: those rows also show their folder, so they can be told apart. */
  private sharedNames = new Set<string>();

  getTreeItem(node: Node): vscode.TreeItem {
    if (node.kind === 'note') {
      const item = new vscode.TreeItem(node.text);
      item.iconPath = new vscode.ThemeIcon('warning');
      return item;
    }
    if (node.kind === 'folder') {
      const item = new vscode.TreeItem(node.folder.name, vscode.TreeItemCollapsibleState.Expanded);
      item.iconPath = vscode.ThemeIcon.Folder;
      item.description = `${node.models.length} model${node.models.length === 1 ? '' : 's'}`;
      item.contextValue = 'modelyard.folder';
      return item;
    }
    const m = node.model;
    const item = new vscode.TreeItem(path.posix.basename(m.relativePath), vscode.TreeItemCollapsibleState.None);
    const dir = path.posix.dirname(m.relativePath);
    item.id = m.uri.toString();
    item.resourceUri = m.uri;
    // The size comes first and alone, so that long file names do not push it out of a narrow sidebar.
    item.description = this.sharedNames.has(path.posix.basename(m.relativePath)) && dir !== '.' ? `${formatBytes(m.size)} · ${dir}` : formatBytes(m.size);
    item.iconPath = new vscode.ThemeIcon('symbol-structure');
    item.contextValue = 'modelyard.modelFile';
    item.tooltip = new vscode.MarkdownString(
      `**${path.posix.basename(m.relativePath)}**\n\n` +
        `| | |\n|---|---|\n| Path | \`${m.relativePath}\` |\n| Folder | ${m.folder.name} |\n| Size | ${formatBytes(m.size)} (${m.size.toLocaleString('en-US')} bytes) |\n| Modified | ${new Date(m.mtime).toLocaleString()} |`,
    );
    item.command = { command: 'modelyard.model.open', title: 'Open Model', arguments: [node] };
    return item;
  }
}

/** The model file a command was invoked on: a tree node, a URI (Explorer) or nothing (active editor). */
export function modelUriOf(arg: unknown): vscode.Uri | undefined {
  if (arg instanceof vscode.Uri) return arg;
  const node = arg as Partial<Node> | undefined;
  if (node?.kind === 'model' && node.model) return node.model.uri;
  return vscode.window.activeTextEditor?.document.uri;
}
