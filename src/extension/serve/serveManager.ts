import * as vscode from 'vscode';
import { UserError, describeError, isUserError } from '../../core/errors';
import type { Cli, CliProcess } from '../cli';
import { Disposable } from '../disposable';
import { cliModelArgs, type ModelTarget } from '../modelTarget';
import { setting } from '../settings';

interface Server {
  target: ModelTarget;
  name: string;
  url: string;
  process: CliProcess;
  served: number;
}

/** A V2 model name from a label: "wakeword@v1.2.0" → "wakeword-v1.2.0". */
export function serveName(label: string): string {
  return label.replace(/\.onnx$/i, '').replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^-+|-+$/g, '') || 'model';
}

/**
 * "Serve Model Locally": runs `modelyard serve` (the same server the CLI runs) as a child process, so the server and
 * its inference worker never live in the extension host; a version from git is resolved by the CLI itself, without
 * a copy. It follows each server on the CLI's event channel and shows it in the status bar.
 */
export class ServeManager extends Disposable {
  private readonly servers = new Map<string, Server>();
  private readonly status = this._register(vscode.window.createStatusBarItem('modelyard.serve', vscode.StatusBarAlignment.Left, 10));
  private readonly changed = this._register(new vscode.EventEmitter<void>());
  readonly onDidChange = this.changed.event;

  constructor(
    private readonly cli: Cli,
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
    // A second server cannot share the configured port: it takes a free one.
    const port = this.servers.size ? 0 : setting('serve.port');
    const name = serveName(target.label);
    let server: Server | undefined;
    let listening!: (url: string) => void;
    const ready = new Promise<string>((resolve) => (listening = resolve));
    const proc = this.cli.start(['serve', ...cliModelArgs(target), '--port', String(port), '--name', name], {
      collectStdout: false,
      onEvent: (e) => {
        if (e.event === 'listening' && !server) {
          server = { target, name, url: e.url, process: proc, served: 0 };
          this.servers.set(key, server);
          listening(e.url);
        } else if (e.event === 'request' && server) {
          server.served += e.count;
          this.render();
        }
      },
    });
    const ended = proc.done.then(
      () => undefined,
      (e: unknown) => e,
    );
    void ended.then((e) => {
      if (this.servers.get(key)?.process !== proc) return;
      this.servers.delete(key);
      this.log.info(`[serve] ${target.label} stopped${e ? `: ${describeError(e)}` : ''}`);
      this.render();
      this.changed.fire();
    });
    const url = await Promise.race([
      ready,
      ended.then((e) => {
        throw new UserError(`the local server for ${target.label} stopped before listening${e ? `: ${isUserError(e) ? e.message : describeError(e)}` : '.'}`, isUserError(e) && e.hint ? e.hint : 'See the Modelyard log for its output.');
      }),
    ]);
    this.render();
    this.changed.fire();
    this.log.info(`[serve] ${target.label} at ${url}/v2/models/${name}`);
    return url;
  }

  async stop(target?: ModelTarget): Promise<void> {
    const list = target ? [this.servers.get(target.uri.toString())].filter((s): s is Server => !!s) : [...this.servers.values()];
    await Promise.all(list.map((s) => s.process.stop()));
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
