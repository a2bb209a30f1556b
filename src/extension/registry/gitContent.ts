import * as vscode from 'vscode';
import { blobInfo, readBlob } from '../../core/registry/blobs';

export const GIT_SCHEME = 'modelyard-git';

/** A read-only URI for a file at a commit: modelyard-git:/<path>?<query>, read with `git cat-file` (LFS smudged). */
export function gitUri(root: string, commit: string, relPath: string, label?: string): vscode.Uri {
  const q = new URLSearchParams({ root, commit, path: relPath, ...(label ? { label } : {}) });
  // The path keeps the file name (and so the editor that opens it); the label tells versions apart in the tab.
  return vscode.Uri.from({ scheme: GIT_SCHEME, path: `/${label ? `${label}/` : ''}${relPath}`, query: q.toString() });
}

/** What a modelyard-git: URI names (see gitUri); undefined for any other URI. */
export function gitUriParts(uri: vscode.Uri): { root: string; commit: string; path: string; label?: string } | undefined {
  if (uri.scheme !== GIT_SCHEME) return undefined;
  const q = new URLSearchParams(uri.query);
  const root = q.get('root');
  const commit = q.get('commit');
  const p = q.get('path');
  const label = q.get('label');
  return root && commit && p ? { root, commit, path: p, ...(label ? { label } : {}) } : undefined;
}

function parse(uri: vscode.Uri): { root: string; commit: string; path: string } {
  const parts = gitUriParts(uri);
  if (!parts) throw vscode.FileSystemError.FileNotFound(uri);
  return parts;
}

/** Serves model bytes of any version without a checkout. Read-only: every write is refused. */
export class GitContentProvider implements vscode.FileSystemProvider {
  private readonly emitter = new vscode.EventEmitter<vscode.FileChangeEvent[]>();
  readonly onDidChangeFile = this.emitter.event;

  watch(): vscode.Disposable {
    return new vscode.Disposable(() => undefined);
  }

  async stat(uri: vscode.Uri): Promise<vscode.FileStat> {
    const { root, commit, path } = parse(uri);
    const info = await blobInfo(root, commit, path);
    return { type: vscode.FileType.File, ctime: 0, mtime: 0, size: info.size, permissions: vscode.FilePermission.Readonly };
  }

  async readFile(uri: vscode.Uri): Promise<Uint8Array> {
    const { root, commit, path } = parse(uri);
    return readBlob(root, commit, path);
  }

  readDirectory(): never {
    throw vscode.FileSystemError.NoPermissions('a model version is a single file');
  }
  createDirectory(): never {
    throw vscode.FileSystemError.NoPermissions('model versions in git are read-only');
  }
  writeFile(): never {
    throw vscode.FileSystemError.NoPermissions('model versions in git are read-only');
  }
  delete(): never {
    throw vscode.FileSystemError.NoPermissions('model versions in git are read-only');
  }
  rename(): never {
    throw vscode.FileSystemError.NoPermissions('model versions in git are read-only');
  }
}
