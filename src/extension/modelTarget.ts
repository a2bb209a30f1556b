import path from 'node:path';
import * as vscode from 'vscode';
import { UserError } from '../../core/errors';
import { gitUri, gitUriParts } from '../registry/gitContent';
import type { Node } from '../registry/modelsTree';

/** The URI of the model a command runs on, and what to call it. */
export interface ModelTarget {
  uri: vscode.Uri;
  /** "hello_deepa.onnx", or "wakeword@v1.2.0" for a version from the registry. */
  label: string;
  detail: string;
}

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

function fromUri(uri: vscode.Uri): ModelTarget {
  const d = describeModelUri(uri);
  const git = gitUriParts(uri);
  return { uri, label: git ? (git.label ?? `${d.label}@${d.version}`) : d.label, detail: d.detail };
}

/** The `.onnx` file of the active editor tab: a text editor, or a custom editor such as the model card. */
function activeModel(): vscode.Uri | undefined {
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  const uri = input instanceof vscode.TabInputCustom || input instanceof vscode.TabInputText ? input.uri : undefined;
  return uri && uri.path.toLowerCase().endsWith('.onnx') ? uri : undefined;
}

/**
 * The model a command was run on: an Explorer or editor URI, a Models tree node (a model's working file, or a
 * version or commit read from git), else the active editor's `.onnx`. Undefined when there is none.
 */
export function modelTargetOf(arg: unknown): ModelTarget | undefined {
  if (arg instanceof vscode.Uri) return fromUri(arg);
  const node = arg as Node | undefined;
  if (node && typeof node === 'object' && 'kind' in node && 'model' in node) {
    const entry = node.model.entry;
    if (!entry) throw new UserError(`${node.model.name} has no file path.`, 'Declare its path in dvc.yaml.');
    if (node.kind === 'version') {
      const label = `${node.model.name}@${node.version.registered ? node.version.version : node.version.commit.slice(0, 8)}`;
      return fromUri(gitUri(node.root, node.version.commit, entry.path, label));
    }
    if (node.kind === 'commit') return fromUri(gitUri(node.root, node.commit.commit, entry.path, `${node.model.name}@${node.commit.commit.slice(0, 8)}`));
    return fromUri(vscode.Uri.file(path.join(node.root, entry.path)));
  }
  const active = activeModel();
  return active ? fromUri(active) : undefined;
}

export function requireModelTarget(arg: unknown): ModelTarget {
  const t = modelTargetOf(arg);
  if (!t) throw new UserError('No model is selected.', 'Open an .onnx file, or pick a model in the Models view, and try again.');
  return t;
}
