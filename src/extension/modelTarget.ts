import path from 'node:path';
import * as vscode from 'vscode';
import { UserError } from '../core/errors';
import type { Source } from '../core/inference/host';
import type { Model } from '../core/registry/registry';
import { isVersion } from '../core/registry/semver';
import type { VersionState } from '../core/registry/state';
import { gitUri, gitUriParts } from './registry/gitContent';
import type { Node } from './registry/modelsTree';
import type { RegistryService } from './registry/registryService';

/**
 * The model a command is about, resolved once from whatever it was run on. Every command that takes a model
 * declares which kind it needs (see `ModelNeed` and `registerModelCommand` in commands.ts) and receives one of these.
 */
export interface ModelTarget {
  /** The file: a `file:` URI for the working tree, a `modelyard-git:` URI for a version or commit read from git. */
  uri: vscode.Uri;
  /** "hello_deepa.onnx", or "wakeword@v1.2.0" for a version from the registry. */
  label: string;
  detail: string;
  /** The git repository and registry model holding it, when there is one. */
  root?: string;
  model?: Model;
  /** A version from the registry, or an unregistered commit, read from git. */
  version?: VersionState;
  commit?: string;
}

/** A model of a registry, with the version or commit a command was run on (if any); it may have no file. */
export interface RegistryTarget {
  root: string;
  model: Model;
  version?: VersionState;
  commit?: string;
}

/**
 * What a command needs:
 *  - `file`: a working-tree file (Open, Reveal in Explorer, Copy Path);
 *  - `model`: any model file, also a version read from git (card, Playground, Quantize, Serve …);
 *  - `registry`: a registry model (and its version, when run on one); without an argument the user picks one.
 */
export type ModelNeed = 'file' | 'model' | 'registry';
export type Resolved<N extends ModelNeed> = N extends 'registry' ? RegistryTarget : ModelTarget;

/** What a model URI is called: the file name, and for a version read from git its label and commit. */
export function describeModelUri(uri: vscode.Uri): { label: string; detail: string; version?: string } {
  const base = path.posix.basename(uri.path);
  const git = gitUriParts(uri);
  if (git) {
    const version = git.label ?? git.commit.slice(0, 8);
    return { label: base, detail: `${git.path} at ${version} (${git.commit.slice(0, 12)})`, version };
  }
  return { label: base, detail: uri.scheme === 'file' ? vscode.workspace.asRelativePath(uri) : uri.toString(true) };
}

function isNode(arg: unknown): arg is Node {
  return !!arg && typeof arg === 'object' && 'kind' in arg && 'root' in arg;
}

/** The `.onnx` file of the active editor tab: a text editor, or a custom editor such as the model card. */
function activeModel(): vscode.Uri | undefined {
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  const uri = input instanceof vscode.TabInputCustom || input instanceof vscode.TabInputText ? input.uri : undefined;
  return uri && uri.path.toLowerCase().endsWith('.onnx') ? uri : undefined;
}

/**
 * The one place that answers "which model is this command about?": a Models tree node, an Explorer or editor URI,
 * a ModelTarget passed on by another command, else the active editor's `.onnx` (or, for registry commands, a pick).
 */
export class ModelResolver {
  constructor(private readonly registries: RegistryService) {}

  async resolve<N extends ModelNeed>(arg: unknown, need: N, title = 'Which model?'): Promise<Resolved<N> | undefined> {
    if (need === 'registry') return (await this.registryTarget(arg, title)) as Resolved<N> | undefined;
    const t = await this.modelTarget(arg);
    if (need === 'file' && t.uri.scheme !== 'file') {
      throw new UserError(`${t.label} is a version read from git, not a file in the working tree.`, 'Run this on the model itself in the Models view, or on its file.');
    }
    return t as Resolved<N>;
  }

  /** A model file from a URI, with the registry model it belongs to when there is one. */
  async fromUri(uri: vscode.Uri): Promise<ModelTarget> {
    const d = describeModelUri(uri);
    const git = gitUriParts(uri);
    const label = git ? (git.label ?? `${d.label}@${d.version}`) : d.label;
    let root: string | undefined;
    let rel: string | undefined;
    if (git) {
      root = git.root;
      rel = git.path;
    } else if (uri.scheme === 'file') {
      root = (await this.registries.repositories()).find((r) => uri.fsPath.startsWith(r + path.sep));
      rel = root ? path.relative(root, uri.fsPath).split(path.sep).join('/') : undefined;
    }
    const find = async () => (root && rel ? (await this.registries.registry(root).catch(() => undefined))?.models.find((m) => m.entry?.path === rel) : undefined);
    let model = await find();
    // A version URI names its version in its label (name@v1.2.3): that is the version meant, as the CLI would read it.
    // A tag made a moment ago (outside VS Code, before the watcher's debounce) may not be in the cached registry yet.
    const named = git?.label?.split('@').pop();
    if (root && model && named && isVersion(named) && !model.state?.versions.some((v) => v.version === named)) {
      this.registries.invalidate(root);
      model = await find();
    }
    const active = model?.state?.versions.filter((v) => v.registered && v.active) ?? [];
    const version = git && (active.find((v) => v.version === named) ?? active.find((v) => v.commit === git.commit && !named));
    return {
      uri,
      label,
      detail: d.detail,
      ...(root ? { root } : {}),
      ...(model ? { model } : {}),
      ...(version ? { version } : {}),
      ...(git ? { commit: git.commit } : {}),
    };
  }

  private async modelTarget(arg: unknown): Promise<ModelTarget> {
    if (arg instanceof vscode.Uri) return this.fromUri(arg);
    if (isTarget(arg)) return arg;
    if (isNode(arg) && 'model' in arg) {
      const entry = arg.model.entry;
      if (!entry) throw new UserError(`${arg.model.name} has no file path.`, 'Declare its path in dvc.yaml.');
      const base = { root: arg.root, model: arg.model };
      if (arg.kind === 'version') {
        const label = `${arg.model.name}@${arg.version.registered ? arg.version.version : arg.version.commit.slice(0, 8)}`;
        const uri = gitUri(arg.root, arg.version.commit, entry.path, label);
        return { ...base, uri, label, detail: describeModelUri(uri).detail, version: arg.version, commit: arg.version.commit };
      }
      if (arg.kind === 'commit') {
        const label = `${arg.model.name}@${arg.commit.commit.slice(0, 8)}`;
        const uri = gitUri(arg.root, arg.commit.commit, entry.path, label);
        return { ...base, uri, label, detail: describeModelUri(uri).detail, commit: arg.commit.commit };
      }
      const uri = vscode.Uri.file(path.join(arg.root, entry.path));
      return { ...base, uri, label: path.basename(entry.path), detail: describeModelUri(uri).detail };
    }
    const active = arg === undefined ? activeModel() : undefined;
    if (active) return this.fromUri(active);
    throw new UserError('No model is selected.', 'Open an .onnx file, or pick a model in the Models view, and try again.');
  }

  private async registryTarget(arg: unknown, title: string): Promise<RegistryTarget | undefined> {
    if (isNode(arg) && 'model' in arg) {
      return {
        root: arg.root,
        model: arg.model,
        ...(arg.kind === 'version' ? { version: arg.version } : {}),
        ...(arg.kind === 'commit' ? { commit: arg.commit.commit } : {}),
      };
    }
    if (arg instanceof vscode.Uri || isTarget(arg)) {
      const t = arg instanceof vscode.Uri ? await this.fromUri(arg) : arg;
      if (!t.root || !t.model) throw new UserError(`${t.label} is not a model of a registry.`, 'Commit it to a git repository of the workspace first.');
      return { root: t.root, model: t.model, ...(t.version ? { version: t.version } : {}), ...(t.commit && !t.version ? { commit: t.commit } : {}) };
    }
    const roots = await this.registries.repositories();
    if (!roots.length) throw new UserError('no git repository is open.', 'Open a folder with a git repository, or run "Modelyard: Initialize Repository".');
    const items: (vscode.QuickPickItem & { root: string; model: Model })[] = [];
    for (const root of roots) {
      for (const model of (await this.registries.registry(root)).models) {
        items.push({ label: model.name, description: model.state?.latest?.version ?? 'unregistered', detail: roots.length > 1 ? root : model.entry?.path, root, model });
      }
    }
    if (!items.length) throw new UserError('there are no models in the workspace.', 'Add an .onnx file, or declare artifacts in dvc.yaml.');
    const pick = await vscode.window.showQuickPick(items, { title, placeHolder: 'Which model?', matchOnDetail: true });
    return pick && { root: pick.root, model: pick.model };
  }

  /** What the inference worker loads: a file by path (external data beside it works), a version from git by its bytes. */
  async source(t: ModelTarget): Promise<Source> {
    if (t.uri.scheme === 'file') return { path: t.uri.fsPath };
    const bytes = await vscode.workspace.fs.readFile(t.uri);
    return { bytes, key: `${t.uri.scheme}:${t.uri.query}`, label: t.label };
  }
}

/**
 * MODEL as the `modelyard` CLI takes it (core/registry/modelRef resolves it there): the working file's path, or
 * `name@v1.2.3` / `name@<commit>` with `--repo` for a version read from git.
 */
export function cliModelArgs(t: ModelTarget): string[] {
  if (t.uri.scheme === 'file') return [t.uri.fsPath];
  if (!t.root || !t.model) throw new UserError(`${t.label} is not in a registry this window knows.`, 'Open the model from the Models view.');
  const ref = t.version?.registered ? `${t.model.name}@${t.version.version}` : `${t.model.name}@${t.commit}`;
  return [ref, '--repo', t.root];
}

function isTarget(arg: unknown): arg is ModelTarget {
  return !!arg && typeof arg === 'object' && 'uri' in arg && (arg as { uri: unknown }).uri instanceof vscode.Uri && 'label' in arg;
}
