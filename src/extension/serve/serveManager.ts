import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import * as vscode from 'vscode';
import { UserError } from '../../core/errors';
import { spawnCli } from '../cli';
import { Disposable } from '../disposable';
import type { ModelTarget } from '../onnx/modelUri';

interface Server {
  target: ModelTarget;
  name: string;
  url: string;
  child: ChildProcess;
  served: number;
  /** A version from git is served from a temporary copy, removed when the server stops. */
  tempDir?: string;
}

/** A V2 model name from a label: "wakeword@v1.2.0" → "wakeword-v1.2.0". */
export function serveName(label: string): string {
  return label.replace(/\.onnx$/i, '').replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^-+|-+$/g, '') || 'model';
}

/**
 * "Serve Model Locally": runs `modelyard serve` (dist/cli.js, the same server the CLI runs) as a child process, so
 * the server and its inference worker never live in the extension host. Shows each server in the status bar.
 */
export class ServeManager extends Disposable {
  private readonly servers = new Map<string, Server>();
  private readonly status = this._register(vscode.window.createStatusBarItem('modelyard.serve', vscode.StatusBarAlignment.Left, 10));
  private readonly changed = this._register(new vscode.EventEmitter<void>());
  readonly onDidChange = this.changed.event;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this.status.name = 'Modelyard Local Server';
    this.status.command = 'modelyard.serve.manage';
  }

  urlOf(target: ModelTarget): string | null {
    return this.servers.get(target.uri.toString())?.url ?? null;
  }

  get running(): { target: ModelTarget; label: string; url: string; name: string; served: number }[] {
    return [...this.servers.values()].map((s) => ({ target: s.target, label: s.target.label, url: s.url, name: s.name, served: s.served }));
  }

  async start(target: ModelTarget): Promise<string> {
    const key = target.uri.toString();
    const open = this.servers.get(key);
    if (open) return open.url;
    let file: string;
    let tempDir: string | undefined;
    if (target.uri.scheme === 'file') file = target.uri.fsPath;
    else {
      tempDir = await fs.mkdtemp(path.join(os.tmpdir(), 'modelyard-serve-'));
      file = path.join(tempDir, `${serveName(target.label)}.onnx`);
      await fs.writeFile(file, await vscode.workspace.fs.readFile(target.uri));
    }
    const configured = vscode.workspace.getConfiguration('modelyard.serve').get<number>('port', 8080);
    // A second server cannot share the configured port: it takes a free one.
    const port = this.servers.size ? 0 : configured;
    const name = serveName(target.label);
    const child = spawnCli(this.extensionUri, ['serve', file, '--port', String(port), '--name', name, '--json']);
    this.log.info(`[serve] starting ${target.label} (pid ${child.pid}) on port ${port || 'any'}`);
    const stderr: string[] = [];
    child.stderr!.setEncoding('utf8').on('data', (t: string) => {
      for (const line of t.split('\n').filter(Boolean)) {
        stderr.push(line);
        this.log.info(`[serve] ${line}`);
      }
    });
    let server: Server | undefined;
    const url = await new Promise<string>((resolve, reject) => {
      const lines = readline.createInterface({ input: child.stdout! });
      lines.on('line', (line) => {
        let ev: { event?: string; url?: string; status?: number; count?: number };
        try {
          ev = JSON.parse(line) as typeof ev;
        } catch {
          this.log.info(`[serve] ${line}`);
          return;
        }
        if (ev.event === 'listening' && typeof ev.url === 'string') {
          server = { target, name, url: ev.url, child, served: 0, ...(tempDir ? { tempDir } : {}) };
          this.servers.set(key, server);
          resolve(ev.url);
        } else if (ev.event === 'request' && server) {
          server.served += typeof ev.count === 'number' ? ev.count : 1;
          this.render();
        }
      });
      child.once('error', (e) => reject(new UserError(`the local server could not start: ${e.message}.`)));
      child.once('exit', (code, signal) => {
        if (!server) reject(new UserError(`the local server for ${target.label} stopped before listening (${signal ?? `exit ${code}`}): ${(stderr.at(-1) ?? '').replace(/^modelyard: /, '')}`, 'See the Modelyard log for its output.'));
      });
    }).catch(async (e: unknown) => {
      if (tempDir) await fs.rm(tempDir, { recursive: true, force: true });
      throw e;
    });
    child.once('exit', (code, signal) => {
      if (this.servers.get(key)?.child !== child) return;
      this.servers.delete(key);
      if (tempDir) void fs.rm(tempDir, { recursive: true, force: true });
      this.log.info(`[serve] ${target.label} stopped (${signal ?? `exit ${code}`})`);
      this.render();
      this.changed.fire();
    });
    this.render();
    this.changed.fire();
    this.log.info(`[serve] ${target.label} at ${url}/v2/models/${name}`);
    return url;
  }

  async stop(target?: ModelTarget): Promise<void> {
    const list = target ? [this.servers.get(target.uri.toString())].filter((s): s is Server => !!s) : [...this.servers.values()];
    await Promise.all(
      list.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.child.exitCode !== null || s.child.signalCode !== null) return resolve();
            const timer = setTimeout(() => s.child.kill('SIGKILL'), 5000);
            s.child.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            s.child.kill('SIGTERM');
          }),
      ),
    );
  }

  private render(): void {
    void vscode.commands.executeCommand('setContext', 'modelyard.serving', this.servers.size > 0);
    const all = [...this.servers.values()];
    if (!all.length) {
      this.status.hide();
      return;
    }
    const first = all[0]!;
    this.status.text = all.length === 1 ? `$(broadcast) ${first.name} :${new URL(first.url).port}` : `$(broadcast) ${all.length} models served`;
    const md = new vscode.MarkdownString(undefined, true);
    md.appendMarkdown('**Serving locally (Open Inference Protocol, KServe V2)**\n\n');
    for (const s of all) md.appendMarkdown(`- ${s.target.label}: \`${s.url}/v2/models/${s.name}\` (${s.served} requests)\n`);
    md.appendMarkdown('\nClick to copy a URL or stop a server.');
    this.status.tooltip = md;
    this.status.show();
  }

  override dispose(): void {
    void this.stop();
    super.dispose();
  }
}
