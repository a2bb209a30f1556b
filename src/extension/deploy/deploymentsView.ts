import * as vscode from 'vscode';
import { deploymentKey } from '../../shared/protocol/deploy';
import { describeError } from '../../core/errors';
import { driftBadge, driftOf, driftText, type Drift } from '../../core/deploy/drift';
import { contextsResultSchema, type ContextsResult } from '../../shared/cli/deploy';
import type { DeploymentItem } from '../../shared/cli/events';
import type { CliProcess } from '../cli';
import { Disposable } from '../disposable';
import type { Services } from '../services';
import { affects, setting } from '../settings';
import { cloudEnv } from './cloudEnv';
import { registerDeploymentCommands } from './viewCommands';

type KubeContext = ContextsResult['contexts'][number];

export interface ContextNode {
  kind: 'context';
  context: KubeContext;
  current: boolean;
}
export interface NamespaceNode {
  kind: 'namespace';
  context: string;
  namespace: string;
}
export interface DeploymentNode {
  kind: 'deployment';
  context: string;
  item: DeploymentItem;
  drift: Drift;
  /** The repository whose registry has the model, if one does. */
  repo?: string;
}
export interface MessageNode {
  kind: 'message';
  context: string;
  text: string;
  hint?: string;
  icon: string;
  command?: vscode.Command;
}
export type Node = ContextNode | NamespaceNode | DeploymentNode | MessageNode;

/** What one context's `deployments --watch` child reports. */
interface Watch {
  proc?: CliProcess;
  /** -A, or the one namespace when listing across namespaces is denied. */
  namespace: string | null;
  state: 'starting' | 'live' | 'reconnecting' | 'failed';
  message?: string;
  hint?: string;
  items: DeploymentItem[];
  /** Whether a first list has arrived. */
  listed: boolean;
}

/** The registry stages of each model the workspace's registries know: model name → {repo, stage → version}. */
type StageIndex = Map<string, { root: string; stages: Map<string, string> }>;


/**
 * The Deployments view: kube contexts (from `modelyard contexts`), their namespaces, and what runs there, live —
 * expanding a context starts one `modelyard deployments --watch` child for it, whose events update the tree. Each
 * deployment is compared with what its registry stage names now (drift). The extension host never loads the
 * Kubernetes client: every call to a cluster is a CLI child.
 */
export class DeploymentsView extends Disposable implements vscode.TreeDataProvider<Node> {
  private readonly changed = this._register(new vscode.EventEmitter<Node | undefined>());
  readonly onDidChangeTreeData = this.changed.event;
  private readonly updated = this._register(new vscode.EventEmitter<void>());
  /** Fires after any change the tree shows (for tests and commands that wait for the cluster). */
  readonly onDidUpdate = this.updated.event;
  readonly view: vscode.TreeView<Node>;
  private contexts: Promise<ContextsResult> | undefined;
  private loadError: { message: string; hint?: string } | undefined;
  private readonly watches = new Map<string, Watch>();
  private stages: StageIndex = new Map();
  private stagesLoaded: Promise<void> | undefined;
  private generation = 0;

  constructor(private readonly services: Services) {
    super();
    this.view = this._register(vscode.window.createTreeView('modelyard.deployments', { treeDataProvider: this, showCollapseAll: true }));
    this._register(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (affects(e, 'deploy.kubeconfig', 'deploy.extraPath')) this.reload();
        else if (affects(e, 'deploy.targets')) this.changed.fire(undefined);
      }),
    );
    this._register(
      services.registries.onDidChange(() => {
        this.stagesLoaded = undefined;
        void this.loadStages().then(() => this.fire());
      }),
    );
    this._register({ dispose: () => this.stopAll() });
  }

  /** Reads the contexts again and restarts every watch (a changed kubeconfig or PATH setting). */
  reload(): void {
    this.stopAll();
    this.contexts = undefined;
    this.loadError = undefined;
    this.fire();
  }

  private stopAll(): void {
    this.generation++;
    for (const w of this.watches.values()) void w.proc?.stop();
    this.watches.clear();
  }

  private fire(): void {
    this.changed.fire(undefined);
    this.updated.fire();
    this.updateEmpty();
  }

  /** The contexts of the kubeconfig in force (`modelyard contexts --json`, no network). */
  loadContexts(): Promise<ContextsResult> {
    this.contexts ??= (async () => {
      try {
        const r = await this.services.cli.run(['contexts', '--json'], { env: (await cloudEnv()).env });
        const parsed = contextsResultSchema.safeParse(JSON.parse(r.stdout));
        if (!parsed.success) throw new Error(`modelyard contexts printed what the editor does not understand: ${parsed.error.message}`);
        void vscode.commands.executeCommand('setContext', 'modelyard.deploy.noKubeconfig', parsed.data.contexts.length === 0);
        return parsed.data;
      } catch (e) {
        this.loadError = { message: describeError(e), ...(e instanceof Error && 'hint' in e && typeof e.hint === 'string' ? { hint: e.hint } : {}) };
        this.services.log.warn(`[deployments] reading the kubeconfig failed: ${this.loadError.message}`);
        void vscode.commands.executeCommand('setContext', 'modelyard.deploy.noKubeconfig', false);
        return { files: [], current: null, contexts: [] };
      }
    })();
    return this.contexts;
  }

  async getChildren(node?: Node): Promise<Node[]> {
    if (!node) {
      const r = await this.loadContexts();
      if (this.loadError) return [{ kind: 'message', context: '', text: this.loadError.message, ...(this.loadError.hint ? { hint: this.loadError.hint } : {}), icon: 'error', command: { title: 'Open Settings', command: 'workbench.action.openSettings', arguments: ['modelyard.deploy.kubeconfig'] } }];
      const sorted = [...r.contexts].sort((a, b) => Number(b.name === r.current) - Number(a.name === r.current) || a.name.localeCompare(b.name));
      return sorted.map((c) => ({ kind: 'context', context: c, current: c.name === r.current }));
    }
    if (node.kind === 'context') return this.contextChildren(node.context);
    if (node.kind === 'namespace') {
      await this.loadStages();
      const w = this.watches.get(node.context);
      return (w?.items ?? []).filter((i) => i.namespace === node.namespace).map((item) => this.deploymentNode(node.context, item));
    }
    return [];
  }

  private contextChildren(c: KubeContext): Node[] {
    if (c.exec && !c.exec.found) {
      return [
        {
          kind: 'message',
          context: c.name,
          icon: 'warning',
          text: `The credential plugin '${c.exec.command}' is not on the editor's PATH.`,
          hint: `Install it, or add its folder to the setting modelyard.deploy.extraPath (the editor may have been started without your shell's PATH).`,
          command: { title: 'Open Settings', command: 'workbench.action.openSettings', arguments: ['modelyard.deploy.extraPath'] },
        },
      ];
    }
    const w = this.watch(c);
    const out: Node[] = [];
    if (w.state === 'failed') {
      out.push({ kind: 'message', context: c.name, icon: 'error', text: w.message ?? 'the deployments of this context cannot be listed.', ...(w.hint ? { hint: w.hint } : {}), command: { title: 'Show Log', command: 'modelyard.showLog' } });
      return out;
    }
    if (w.state === 'starting') return [{ kind: 'message', context: c.name, icon: 'loading~spin', text: 'Connecting…' }];
    if (w.message) out.push({ kind: 'message', context: c.name, icon: w.state === 'reconnecting' ? 'debug-disconnect' : 'info', text: w.message });
    const namespaces = [...new Set(w.items.map((i) => i.namespace))].sort();
    if (!namespaces.length) out.push({ kind: 'message', context: c.name, icon: 'info', text: w.namespace ? `Nothing deployed in namespace ${w.namespace}.` : 'Nothing deployed on this cluster.' });
    for (const ns of namespaces) out.push({ kind: 'namespace', context: c.name, namespace: ns });
    return out;
  }

  /** The watch of a context, started on first use. */
  private watch(c: KubeContext, namespace: string | null = null): Watch {
    let w = this.watches.get(c.name);
    if (w) return w;
    w = { namespace, state: 'starting', items: [], listed: false };
    this.watches.set(c.name, w);
    void this.startWatch(c, w);
    return w;
  }

  private async startWatch(c: KubeContext, w: Watch): Promise<void> {
    const generation = this.generation;
    const args = ['deployments', '--watch', '--context', c.name, ...(w.namespace ? ['-n', w.namespace] : ['-A']), '--json'];
    const { env } = await cloudEnv({ context: c.name, secrets: this.services.secrets });
    if (generation !== this.generation || this.watches.get(c.name) !== w) return;
    const proc = this.services.cli.start(args, {
      env,
      collectStdout: false,
      onEvent: (e) => {
        if (e.event !== 'deployments' || this.watches.get(c.name) !== w) return;
        w.state = e.state;
        w.items = e.items;
        w.listed = true;
        if (e.message) w.message = e.message;
        else delete w.message;
        void this.loadStages().then(() => this.fire());
      },
    });
    w.proc = proc;
    proc.done.then(
      () => {
        if (this.watches.get(c.name) !== w) return;
        w.state = 'failed';
        w.message = 'the watch of this context ended.';
        w.hint = 'Collapse and expand the context, or reload the window, to watch it again.';
        this.fire();
      },
      (e: unknown) => {
        if (this.watches.get(c.name) !== w || this.isDisposed) return;
        const message = describeError(e);
        // May not list across namespaces: watch the one this user works in (the target setting's, or the context's).
        if (!w.namespace && !w.listed && /permission denied|forbidden/i.test(message)) {
          const ns = setting('deploy.targets')[c.name]?.namespace || c.namespace || 'default';
          this.services.log.info(`[deployments] ${c.name}: listing across namespaces is denied; watching namespace ${ns}`);
          const next: Watch = { namespace: ns, state: 'starting', items: [], listed: false };
          this.watches.set(c.name, next);
          void this.startWatch(c, next);
          return;
        }
        w.state = 'failed';
        w.message = (e as { message?: string }).message ?? message;
        const hint = (e as { hint?: unknown }).hint;
        if (typeof hint === 'string') w.hint = hint;
        this.fire();
      },
    );
  }

  private deploymentNode(context: string, item: DeploymentItem): DeploymentNode {
    const entry = item.model ? this.stages.get(item.model) : undefined;
    const drift = item.managed ? driftOf(item, entry?.stages) : ({ kind: 'unknown', reason: 'no-stage' } as const);
    return { kind: 'deployment', context, item, drift, ...(entry ? { repo: entry.root } : {}) };
  }

  /** The stages every model of the workspace's registries names now. */
  private loadStages(): Promise<void> {
    this.stagesLoaded ??= (async () => {
      const index: StageIndex = new Map();
      try {
        for (const root of await this.services.registries.repositories()) {
          const reg = await this.services.registries.registry(root).catch(() => undefined);
          for (const m of reg?.models ?? []) {
            if (index.has(m.name) || !m.state) continue;
            index.set(m.name, { root, stages: new Map([...m.state.stages].map(([s, v]) => [s, v.version])) });
          }
        }
      } catch (e) {
        this.services.log.warn(`[deployments] reading the registries for drift failed: ${describeError(e)}`);
      }
      this.stages = index;
    })();
    return this.stagesLoaded;
  }

  getTreeItem(node: Node): vscode.TreeItem {
    switch (node.kind) {
      case 'context': {
        const c = node.context;
        const item = new vscode.TreeItem(c.name, vscode.TreeItemCollapsibleState.Collapsed);
        item.id = `context:${c.name}`;
        item.description = [node.current ? 'current' : undefined, c.server].filter(Boolean).join(' · ');
        item.iconPath = new vscode.ThemeIcon(node.current ? 'vm-active' : 'vm', node.current ? new vscode.ThemeColor('charts.green') : undefined);
        const w = this.watches.get(c.name);
        const tip = new vscode.MarkdownString();
        tip.appendMarkdown(`**${md(c.name)}**${node.current ? ' (current context)' : ''}\n\n`);
        tip.appendMarkdown(`| | |\n|---|---|\n| Server | ${md(c.server)} |\n| Cluster | ${md(c.cluster)} |\n| User | ${md(c.user)} (${c.auth}${c.exec ? `: ${md(c.exec.command)}${c.exec.found ? '' : ', not on PATH'}` : ''}) |\n| Namespace | ${md(c.namespace ?? 'default')} |\n`);
        if (w) tip.appendMarkdown(`| Watching | ${w.namespace ? `namespace ${md(w.namespace)}` : 'all namespaces'}, ${w.state} |\n`);
        item.tooltip = tip;
        item.contextValue = `modelyard.kubeContext${node.current ? ' current' : ''}`;
        return item;
      }
      case 'namespace': {
        const item = new vscode.TreeItem(node.namespace, vscode.TreeItemCollapsibleState.Expanded);
        item.id = `namespace:${node.context}/${node.namespace}`;
        item.iconPath = new vscode.ThemeIcon('symbol-namespace');
        const n = this.watches.get(node.context)?.items.filter((i) => i.namespace === node.namespace).length ?? 0;
        item.description = `${n} deployment${n === 1 ? '' : 's'}`;
        item.contextValue = 'modelyard.kubeNamespace';
        return item;
      }
      case 'message': {
        const item = new vscode.TreeItem(node.text, vscode.TreeItemCollapsibleState.None);
        item.iconPath = new vscode.ThemeIcon(node.icon, node.icon === 'error' ? new vscode.ThemeColor('errorForeground') : node.icon === 'warning' ? new vscode.ThemeColor('problemsWarningIcon.foreground') : undefined);
        item.tooltip = node.hint ? `${node.text}\n\n${node.hint}` : node.text;
        if (node.hint) item.description = node.hint;
        if (node.command) item.command = node.command;
        item.contextValue = 'modelyard.deploymentMessage';
        return item;
      }
      case 'deployment':
        return deploymentTreeItem(node);
    }
  }

  /** The deployments the view knows now, for commands and tests. */
  deployments(): DeploymentNode[] {
    const out: DeploymentNode[] = [];
    for (const [context, w] of this.watches) for (const item of w.items) out.push(this.deploymentNode(context, item));
    return out;
  }

  /** Finds a deployment by its context, namespace and name. */
  find(context: string, namespace: string, name: string): DeploymentNode | undefined {
    const item = this.watches.get(context)?.items.find((i) => i.namespace === namespace && i.name === name);
    return item ? this.deploymentNode(context, item) : undefined;
  }

  /** The state of a context's watch, for tests and messages. */
  watchState(context: string): { state: Watch['state']; namespace: string | null; message?: string } | undefined {
    const w = this.watches.get(context);
    return w ? { state: w.state, namespace: w.namespace, ...(w.message ? { message: w.message } : {}) } : undefined;
  }

  /** Starts watching a context as expanding it does (for commands that need its deployments). */
  async ensureWatching(context: string): Promise<void> {
    const c = (await this.loadContexts()).contexts.find((x) => x.name === context);
    if (c && !(c.exec && !c.exec.found)) this.watch(c);
  }

  /** Whether the registry changed: the drift is computed again. */
  invalidateStages(): void {
    this.stagesLoaded = undefined;
  }

  private updateEmpty(): void {
    const watched = [...this.watches.values()];
    const empty = watched.length > 0 && watched.every((w) => w.listed && w.items.length === 0);
    void vscode.commands.executeCommand('setContext', 'modelyard.deployments.empty', empty);
  }

  key(node: DeploymentNode): string {
    return deploymentKey({ context: node.context, namespace: node.item.namespace, name: node.item.name });
  }
}

function md(s: string): string {
  return s.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, (c) => `\\${c}`);
}

export function deploymentLabel(i: DeploymentItem): string | undefined {
  return i.model ? `${i.model}@${i.version ?? i.sha256?.slice(0, 12) ?? '?'}` : undefined;
}

function deploymentTreeItem(node: DeploymentNode): vscode.TreeItem {
  const i = node.item;
  const item = new vscode.TreeItem(i.name, vscode.TreeItemCollapsibleState.None);
  item.id = `deployment:${deploymentKey({ context: node.context, namespace: i.namespace, name: i.name })}`;
  const counts = i.ready !== undefined && i.desired !== undefined ? `${i.ready}/${i.desired}` : undefined;
  const badge = driftBadge(node.drift);
  if (!i.managed) {
    item.description = ["not Modelyard's", counts].filter(Boolean).join(' · ');
    item.iconPath = new vscode.ThemeIcon('circle-outline', new vscode.ThemeColor('disabledForeground'));
    item.contextValue = 'modelyard.deployment foreign';
  } else {
    item.description = [deploymentLabel(i), i.stage, counts, badge].filter(Boolean).join(' · ');
    const failed = i.state === 'failed' || i.state === 'not ready';
    item.iconPath = badge
      ? new vscode.ThemeIcon('warning', new vscode.ThemeColor('problemsWarningIcon.foreground'))
      : failed
        ? new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed'))
        : i.state === 'ready'
          ? new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed'))
          : new vscode.ThemeIcon('sync~spin');
    item.contextValue = ['modelyard.deployment', 'managed', i.previous ? 'previous' : '', badge ? 'drift' : ''].filter(Boolean).join(' ');
  }
  const tip = new vscode.MarkdownString();
  tip.appendMarkdown(`**${md(i.name)}** — ${md(i.kind)}${i.managed ? '' : ", not Modelyard's"}\n\n`);
  const rows: [string, string | undefined][] = [
    ['Context', node.context],
    ['Namespace', i.namespace],
    ['Model', deploymentLabel(i)],
    ['Stage', i.stage],
    ['Before it', i.previous],
    ['Replicas', counts ? `${counts} ready` : undefined],
    ['State', i.state],
    ['sha256', i.sha256?.slice(0, 16)],
  ];
  tip.appendMarkdown('| | |\n|---|---|\n' + rows.filter(([, v]) => v).map(([k, v]) => `| ${k} | ${md(v!)} |`).join('\n') + '\n');
  const drift = i.model ? driftText(node.drift, i.model) : undefined;
  if (drift) tip.appendMarkdown(`\n\n⚠ ${md(drift)}`);
  item.tooltip = tip;
  return item;
}

let current: DeploymentsView | undefined;

/** The Deployments view of this window (tests reach it through the extension's API). */
export function deploymentsView(): DeploymentsView | undefined {
  return current;
}

/** The Deployments view: contexts → namespaces → deployments, live, with drift, and its commands. */
export function registerDeploymentsView(context: vscode.ExtensionContext, services: Services): void {
  const view = new DeploymentsView(services);
  current = view;
  context.subscriptions.push(view, { dispose: () => (current = current === view ? undefined : current) });
  registerDeploymentCommands(context, services, view);
}
