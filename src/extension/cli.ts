import { spawn, type ChildProcess } from 'node:child_process';
import * as vscode from 'vscode';

/**
 * `modelyard ARGS…` as a child process: the extension's own dist/cli.js on the extension host's Node (Electron run
 * as Node), standard output and error piped. Long work (a server, a quantization) runs there so that it never blocks
 * the extension host, and stopping it is ending the process.
 */
export function spawnCli(extensionUri: vscode.Uri, args: readonly string[], opts: { cwd?: string } = {}): ChildProcess {
  const cli = vscode.Uri.joinPath(extensionUri, 'dist', 'cli.js').fsPath;
  return spawn(process.execPath, [cli, ...args], {
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    windowsHide: true,
  });
}
