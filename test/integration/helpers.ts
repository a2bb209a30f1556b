import assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { ModelyardApi } from '../../src/extension/main';

export const EXTENSION_ID = 'modelyard.modelyard';

export async function activateModelyard(): Promise<ModelyardApi> {
  const ext = vscode.extensions.getExtension<ModelyardApi>(EXTENSION_ID);
  assert.ok(ext, `extension ${EXTENSION_ID} is not installed in this host`);
  return ext.isActive ? ext.exports : await ext.activate();
}

/** Waits until `probe` returns a value other than undefined, or fails with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

export function workspaceRoot(): string {
  const f = vscode.workspace.workspaceFolders?.[0];
  assert.ok(f, 'the integration suite needs a workspace folder');
  return f.uri.fsPath;
}
