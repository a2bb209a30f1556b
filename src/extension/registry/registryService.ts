import path from 'node:path';
import * as vscode from 'vscode';
import { findRepositories } from '../../core/git/repos';
import { loadRegistry, type Registry } from '../../core/registry/registry';
import { run } from '../../core/util/proc';
import { Disposable } from '../disposable';
import { affects, setting } from '../settings';

interface RepoEntry {
  root: string;
  registry?: Promise<Registry>;
  /** Absolute paths of the model files of the last load, to notice a deleted folder that held one. */
  files: string[];
  watchers: vscode.Disposable[];
}

/**
 * The registries of the workspace's git repositories: loaded on demand, cached, and invalidated (debounced) when
 * tags, HEAD or model declarations change — including changes made outside VS Code.
 */
export class RegistryService extends Disposable {
  private readonly changed = this._register(new vscode.EventEmitter<string | undefined>());
  /** Fires with a repository root when its registry changed, or undefined when the set of repositories changed. */
  readonly onDidChange = this.changed.event;
  private roots: Promise<string[]> | undefined;
  private readonly repos = new Map<string, RepoEntry>();
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly log: vscode.LogOutputChannel) {
    super();
    this._register(
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.resetRepositories()),
    );
    this._register(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (affects(e, 'models')) this.invalidate();
      }),
    );
    // A new repository (git init, a clone) appears as a .git folder.
    const dotGit = this._register(vscode.workspace.createFileSystemWatcher('**/.git', false, true, false));
    this._register(dotGit.onDidCreate(() => this.resetRepositories()));
    this._register(dotGit.onDidDelete(() => this.resetRepositories()));
    this._register({
      dispose: () => {
        for (const t of this.timers.values()) clearTimeout(t);
        for (const r of this.repos.values()) r.watchers.forEach((w) => w.dispose());
      },
    });
  }

  private folders(): string[] {
    return (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
  }

  /** The repository roots of the workspace, found once and again when folders or .git folders come and go. */
  repositories(): Promise<string[]> {
    this.roots ??= findRepositories(this.folders(), { log: this.log }).then(
      (infos) => {
        const roots = infos.map((i) => i.root);
        for (const [root, entry] of this.repos) {
          if (!roots.includes(root)) {
            entry.watchers.forEach((w) => w.dispose());
            this.repos.delete(root);
          }
        }
        void vscode.commands.executeCommand('setContext', 'modelyard.noRepository', roots.length === 0);
        return roots;
      },
      (e: unknown) => {
        this.log.error(`[registry] finding repositories failed: ${e instanceof Error ? e.message : String(e)}`);
        void vscode.commands.executeCommand('setContext', 'modelyard.noRepository', true);
        throw e;
      },
    );
    return this.roots;
  }

  /** Finds the repositories again (after git init, a clone, a folder change). */
  resetRepositories(): void {
    this.roots = undefined;
    this.changed.fire(undefined);
  }

  /** The registry of one repository, loaded once until something changes. */
  registry(root: string): Promise<Registry> {
    let entry = this.repos.get(root);
    if (!entry) {
      entry = { root, files: [], watchers: [] };
      this.repos.set(root, entry);
      void this.watch(entry);
    }
    if (!entry.registry) {
      const include = setting('models.include', vscode.Uri.file(root));
      const t0 = performance.now();
      const e = entry;
      entry.registry = loadRegistry(root, { include, log: this.log }).then((reg) => {
        e.files = reg.models.flatMap((m) => (m.entry ? [path.join(root, m.entry.path)] : []));
        this.log.info(
          `[registry] ${path.basename(root)}: ${reg.models.length} models, ${reg.state.tagNames.length} tags, ${reg.problems.length} problems in ${(performance.now() - t0).toFixed(1)} ms`,
        );
        return reg;
      });
      entry.registry.catch(() => {
        if (entry) entry.registry = undefined; // try again next time
      });
    }
    return entry.registry;
  }

  /** Forgets a repository's registry (all when no root is given) and tells the views, debounced. */
  invalidate(root?: string): void {
    const roots = root ? [root] : [...this.repos.keys()];
    for (const r of roots) {
      const entry = this.repos.get(r);
      if (entry) entry.registry = undefined;
    }
    const key = root ?? '*';
    clearTimeout(this.timers.get(key));
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        this.changed.fire(root);
      }, 250),
    );
  }

  /** Watches what the registry is made of: tags and HEAD in the git dir; models and declarations in the work tree. */
  private async watch(entry: RepoEntry): Promise<void> {
    const r = await run('git', ['rev-parse', '--path-format=absolute', '--git-common-dir'], { cwd: entry.root, log: this.log }).catch(() => undefined);
    if (!r || this.isDisposed || this.repos.get(entry.root) !== entry) return;
    const gitDir = r.stdout.trim();
    const onChange = () => this.invalidate(entry.root);
    const refs = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(gitDir), '{HEAD,packed-refs,refs/tags/**,refs/heads/**}'));
    const include = setting('models.include', vscode.Uri.file(entry.root));
    const files = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(entry.root), `{${include},**/dvc.yaml,artifacts.yaml,.gto}`));
    for (const w of [refs, files]) {
      entry.watchers.push(w, w.onDidCreate(onChange), w.onDidChange(onChange), w.onDidDelete(onChange));
    }
    // Creating or deleting a folder is reported as the folder alone, not as the model files inside it.
    const folders = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(entry.root), '**/*'), false, true, false);
    entry.watchers.push(
      folders,
      folders.onDidCreate(async (uri) => {
        if (path.basename(uri.fsPath).includes('.')) return;
        try {
          if ((await vscode.workspace.fs.stat(uri)).type & vscode.FileType.Directory) onChange();
        } catch {
          // gone again
        }
      }),
      folders.onDidDelete((uri) => {
        const prefix = uri.fsPath + path.sep;
        if (entry.files.some((f) => f.startsWith(prefix))) onChange();
      }),
    );
  }
}
