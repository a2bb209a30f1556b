import fs from 'node:fs/promises';
import path from 'node:path';
import * as vscode from 'vscode';
import { describeError } from '../../core/errors';
import { blobInfo, fileHistory, type FileCommit } from '../../core/registry/blobs';
import type { Model, Registry } from '../../core/registry/registry';
import { sortedVersions, type Problem, type VersionState } from '../../core/registry/state';
import { formatBytes } from '../../core/util/format';
import { Disposable } from '../disposable';
import type { RegistryService } from './registryService';

export type Node =
  | { kind: 'repo'; root: string }
  | { kind: 'model'; root: string; model: Model; size?: number }
  | { kind: 'version'; root: string; model: Model; version: VersionState }
  | { kind: 'commits'; root: string; model: Model }
  | { kind: 'commit'; root: string; model: Model; commit: FileCommit }
  | { kind: 'problems'; root: string; problems: Problem[] }
  | { kind: 'problem'; root: string; problem: Problem }
  | { kind: 'error'; root?: string; message: string };

/** The scheme of model items, so that a FileDecorationProvider can dim deprecated models and deregistered versions. */
const DECORATION_SCHEME = 'modelyard-item';

const date = (seconds: number) => new Date(seconds * 1000).toISOString().slice(0, 10);
const short = (v: string) => (v.startsWith('v') ? v : v.slice(0, 8));

function stagesOf(v: VersionState, model: Model): string[] {
  return [...(model.state?.stages ?? [])].filter(([, x]) => x === v).map(([s]) => s);
}

function md(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, (c) => `\\${c}`);
}

/** The Models view: repository → model → versions (newest first) with stages, and the commits not registered. */
export class ModelsTree extends Disposable implements vscode.TreeDataProvider<Node>, vscode.FileDecorationProvider {
  private readonly changed = this._register(new vscode.EventEmitter<Node | undefined>());
  readonly onDidChangeTreeData = this.changed.event;
  private readonly decorationsChanged = this._register(new vscode.EventEmitter<vscode.Uri[] | undefined>());
  readonly onDidChangeFileDecorations = this.decorationsChanged.event;
  readonly view: vscode.TreeView<Node>;
  /** Resolves when the first full listing is done: tests and the welcome view wait for it. */
  private loadedOnce = false;

  constructor(
    private readonly registries: RegistryService,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this.view = this._register(vscode.window.createTreeView('modelyard.models', { treeDataProvider: this, showCollapseAll: true }));
    this._register(vscode.window.registerFileDecorationProvider(this));
    this._register(
      registries.onDidChange(() => {
        this.changed.fire(undefined);
        this.decorationsChanged.fire(undefined);
      }),
    );
  }

  refresh(): void {
    this.registries.invalidate();
  }

  provideFileDecoration(uri: vscode.Uri): vscode.FileDecoration | undefined {
    if (uri.scheme !== DECORATION_SCHEME) return undefined;
    const q = new URLSearchParams(uri.query);
    if (q.get('dim') === '1') return { color: new vscode.ThemeColor('disabledForeground'), tooltip: q.get('why') ?? undefined };
    return undefined;
  }

  async getChildren(node?: Node): Promise<Node[]> {
    try {
      return await this.children(node);
    } catch (e) {
      this.log.error(`[models] ${describeError(e)}`);
      return [{ kind: 'error', ...(node && 'root' in node && node.root ? { root: node.root } : {}), message: describeError(e) }];
    } finally {
      if (!node && !this.loadedOnce) {
        this.loadedOnce = true;
        void vscode.commands.executeCommand('setContext', 'modelyard.models.loaded', true);
      }
    }
  }

  private async children(node?: Node): Promise<Node[]> {
    if (!node) {
      const roots = await this.registries.repositories();
      if (roots.length === 1) return this.repoChildren(roots[0]!);
      return roots.map((root) => ({ kind: 'repo', root }));
    }
    switch (node.kind) {
      case 'repo':
        return this.repoChildren(node.root);
      case 'model': {
        const versions: Node[] = node.model.state ? sortedVersions(node.model.state).map((version) => ({ kind: 'version', root: node.root, model: node.model, version })) : [];
        if (node.model.entry) versions.push({ kind: 'commits', root: node.root, model: node.model });
        return versions;
      }
      case 'commits': {
        const commits = await fileHistory(node.root, node.model.entry!.path, { log: this.log });
        const registered = new Set(node.model.state?.versions.filter((v) => v.registered).map((v) => v.commit));
        return commits.filter((c) => !registered.has(c.commit) && c.size !== undefined).map((commit) => ({ kind: 'commit', root: node.root, model: node.model, commit }));
      }
      case 'problems':
        return node.problems.map((problem) => ({ kind: 'problem', root: node.root, problem }));
      default:
        return [];
    }
  }

  private async repoChildren(root: string): Promise<Node[]> {
    const reg: Registry = await this.registries.registry(root);
    const sizes = await Promise.all(
      reg.models.map((m) => (m.entry ? fs.stat(path.join(root, m.entry.path)).then((s) => s.size, () => undefined) : undefined)),
    );
    const nodes: Node[] = reg.models.map((model, i) => ({ kind: 'model', root, model, ...(sizes[i] !== undefined ? { size: sizes[i] } : {}) }));
    if (reg.problems.length) nodes.push({ kind: 'problems', root, problems: reg.problems });
    return nodes;
  }

  getParent(node: Node): Node | undefined {
    if (node.kind === 'version' || node.kind === 'commits') return { kind: 'model', root: node.root, model: node.model };
    return undefined;
  }

  getTreeItem(node: Node): vscode.TreeItem {
    switch (node.kind) {
      case 'repo': {
        const item = new vscode.TreeItem(path.basename(node.root), vscode.TreeItemCollapsibleState.Expanded);
        item.iconPath = new vscode.ThemeIcon('repo');
        item.description = path.dirname(node.root);
        item.contextValue = 'modelyard.repository';
        item.id = `repo:${node.root}`;
        return item;
      }
      case 'model':
        return this.modelItem(node.root, node.model, node.size);
      case 'version':
        return this.versionItem(node.root, node.model, node.version);
      case 'commits': {
        const item = new vscode.TreeItem('Unregistered commits', vscode.TreeItemCollapsibleState.Collapsed);
        item.iconPath = new vscode.ThemeIcon('git-commit');
        item.tooltip = `Commits that changed ${node.model.entry!.path} and are not registered as a version`;
        item.contextValue = 'modelyard.commits';
        item.id = `commits:${node.root}:${node.model.name}`;
        return item;
      }
      case 'commit': {
        const c = node.commit;
        const item = new vscode.TreeItem(`${c.commit.slice(0, 8)} ${c.subject}`, vscode.TreeItemCollapsibleState.None);
        item.description = `${date(c.date)} · ${c.author}${c.size !== undefined ? ` · ${formatBytes(c.size)}` : ''}`;
        item.iconPath = new vscode.ThemeIcon('git-commit');
        item.contextValue = 'modelyard.commit';
        item.id = `commit:${node.root}:${node.model.name}:${c.commit}`;
        item.tooltip = new vscode.MarkdownString(`**${md(c.subject)}**\n\n${md(c.author)} <${md(c.authorEmail)}>, ${new Date(c.date * 1000).toLocaleString()}\n\n\`${c.commit}\`\n\nNot registered: right-click → *Register Version…*`);
        return item;
      }
      case 'problems': {
        const item = new vscode.TreeItem(`Problems (${node.problems.length})`, vscode.TreeItemCollapsibleState.Collapsed);
        item.iconPath = new vscode.ThemeIcon('warning', new vscode.ThemeColor('problemsWarningIcon.foreground'));
        item.tooltip = 'Tags and declarations that the registry ignores, and why';
        item.contextValue = 'modelyard.problems';
        item.id = `problems:${node.root}`;
        return item;
      }
      case 'problem': {
        const item = new vscode.TreeItem(node.problem.tag, vscode.TreeItemCollapsibleState.None);
        item.description = node.problem.reason;
        item.tooltip = `${node.problem.tag}: ${node.problem.reason}`;
        item.iconPath = new vscode.ThemeIcon('circle-slash');
        item.contextValue = 'modelyard.problem';
        return item;
      }
      case 'error': {
        const item = new vscode.TreeItem(node.message, vscode.TreeItemCollapsibleState.None);
        item.iconPath = new vscode.ThemeIcon('error', new vscode.ThemeColor('errorForeground'));
        item.tooltip = `${node.message}\n\nSee Modelyard: Show Log for details.`;
        item.command = { command: 'modelyard.log.show', title: 'Show Log' };
        return item;
      }
    }
  }

  private modelItem(root: string, m: Model, size: number | undefined): vscode.TreeItem {
    const a = m.state;
    const item = new vscode.TreeItem(m.name, vscode.TreeItemCollapsibleState.Collapsed);
    const stages = [...(a?.stages ?? [])].map(([s, v]) => `${s}: ${short(v.version)}`);
    item.description = [a?.deprecated ? 'deprecated' : undefined, a?.latest ? a.latest.version : 'unregistered', ...stages, size !== undefined ? formatBytes(size) : undefined]
      .filter(Boolean)
      .join(' · ');
    item.iconPath = new vscode.ThemeIcon(a?.deprecated ? 'archive' : 'symbol-structure');
    item.resourceUri = vscode.Uri.from({ scheme: DECORATION_SCHEME, path: `/${m.name}`, query: a?.deprecated ? 'dim=1&why=deprecated' : '' });
    item.id = `model:${root}:${m.name}`;
    item.contextValue = ['modelyard.model', m.entry ? 'file' : 'nofile', a ? 'tagged' : 'untagged', a?.deprecated ? 'deprecated' : 'active', a?.stages.size ? 'staged' : ''].join(' ').trim();
    const lines = [`### ${md(m.name)}${a?.deprecated ? ' (deprecated)' : ''}`, ''];
    if (m.entry?.description) lines.push(md(m.entry.description), '');
    lines.push('| | |', '|---|---|');
    lines.push(`| Path | ${m.entry ? `\`${m.entry.path}\`` : '*no file in the work tree*'} |`);
    if (size !== undefined) lines.push(`| Size | ${formatBytes(size)} (${size.toLocaleString('en-US')} bytes) |`);
    if (m.entry?.type) lines.push(`| Type | ${md(m.entry.type)} |`);
    lines.push(`| Declared | ${m.entry ? (m.entry.source === 'file' ? 'found by file pattern' : `\`${m.entry.source}\``) : 'only in tags'} |`);
    lines.push(`| Latest | ${a?.latest ? a.latest.version : '—'} |`);
    for (const [s, v] of a?.stages ?? []) lines.push(`| Stage ${md(s)} | ${short(v.version)} |`);
    lines.push(`| Registered versions | ${a?.versions.filter((v) => v.registered && v.active).length ?? 0} |`);
    item.tooltip = new vscode.MarkdownString(lines.join('\n'));
    return item;
  }

  private versionItem(root: string, m: Model, v: VersionState): vscode.TreeItem {
    const stages = stagesOf(v, m);
    const label = v.registered ? v.version : v.commit.slice(0, 8);
    const item = new vscode.TreeItem(label, vscode.TreeItemCollapsibleState.None);
    const by = v.createdBy;
    item.description = [stages.length ? stages.join(', ') : undefined, !v.active ? 'deregistered' : !v.registered ? 'unregistered commit' : undefined, date(by.date), by.author]
      .filter(Boolean)
      .join(' · ');
    item.iconPath = new vscode.ThemeIcon(!v.active ? 'circle-slash' : stages.length ? 'rocket' : 'tag');
    item.resourceUri = vscode.Uri.from({ scheme: DECORATION_SCHEME, path: `/${m.name}/${label}`, query: v.active ? '' : 'dim=1&why=deregistered' });
    item.id = `version:${root}:${m.name}:${v.version}`;
    item.contextValue = ['modelyard.version', v.registered ? 'registered' : 'unregistered', v.active ? 'active' : 'inactive', stages.length ? 'staged' : '', m.entry ? 'file' : ''].join(' ').trim();
    const tooltip = new vscode.MarkdownString(undefined, true);
    tooltip.appendMarkdown(`### ${md(m.name)}@${md(label)}${v.active ? '' : ' (deregistered)'}\n\n`);
    if (stages.length) tooltip.appendMarkdown(`Stages: ${stages.map((s) => `**${md(s)}**`).join(', ')}\n\n`);
    for (const e of [...v.events].reverse().slice(0, 6)) {
      tooltip.appendMarkdown(`$(tag) \`${md(e.tag)}\` — ${md(e.author)}, ${new Date(e.date * 1000).toLocaleString()}\n\n> ${md(e.message.split('\n')[0] ?? '')}\n\n`);
    }
    tooltip.appendMarkdown(`Commit \`${v.commit}\``);
    item.tooltip = tooltip;
    return item;
  }

  /** For Open at Version and the model card: the size of a version's file, read from git. */
  async sizeAt(root: string, m: Model, commit: string): Promise<number | undefined> {
    if (!m.entry) return undefined;
    return (await blobInfo(root, commit, m.entry.path, this.log)).size;
  }
}
