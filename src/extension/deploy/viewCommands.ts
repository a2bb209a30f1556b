import * as vscode from 'vscode';
import { UserError, describeError } from '../../core/errors';
import { sortedVersions } from '../../core/registry/state';
import { targetArgs } from '../../shared/cli/deploy';
import { deploymentKey, type DeploymentRef } from '../../shared/protocol/deploy';
import type { CliEventOf } from '../../shared/cli/events';
import type { CliProcess } from '../cli';
import { registerCommand } from '../commands';
import { describeModelUri, type ModelTarget } from '../modelTarget';
import { gitUri } from '../registry/gitContent';
import type { Services } from '../services';
import { cloudEnv } from './cloudEnv';
import { deploymentLabel, type DeploymentNode, type DeploymentsView } from './deploymentsView';

/** Options of the commands that ask first (tests and callers that asked already pass confirm). */
export interface ConfirmOptions {
  confirm?: boolean;
}

/** What the view asks the Deploy panel for (modelyard.deploy.show, an internal command). */
export interface DeployShowRequest extends DeploymentRef {
  action: 'open' | 'smoke' | 'deployStage';
  /** The version that runs ("name@v1.0.0"), or for deployStage the version the stage names. */
  ref?: string;
  repo?: string;
  /** deployStage: the stage whose version is deployed. */
  stage?: string;
}

/** A log stream in a terminal, and the proxies the Playground talks to: one per deployment, stopped on close or deactivate. */
const logStreams = new Map<string, { terminal: vscode.Terminal; proc?: CliProcess; written: string[] }>();
const proxies = new Map<string, { proc: CliProcess; url: string }>();

/** The open log streams and proxies (for tests). */
export function deploymentChildren(): { logs: ReadonlyMap<string, { terminal: vscode.Terminal; written: readonly string[] }>; proxies: ReadonlyMap<string, { url: string }> } {
  return { logs: logStreams, proxies };
}

export function registerDeploymentCommands(context: vscode.ExtensionContext, services: Services, view: DeploymentsView): void {
  const { log, cli } = services;

  /** The deployment a command is about: the node it was run on, a reference, or one the user picks. */
  const resolve = async (arg: unknown, title: string): Promise<DeploymentNode | undefined> => {
    if (arg && typeof arg === 'object' && (arg as DeploymentNode).kind === 'deployment') {
      const n = arg as DeploymentNode;
      return view.find(n.context, n.item.namespace, n.item.name) ?? n;
    }
    if (arg && typeof arg === 'object' && 'context' in arg && 'name' in arg && 'namespace' in arg) {
      const r = arg as DeploymentRef;
      await view.ensureWatching(r.context);
      const found = view.find(r.context, r.namespace, r.name);
      if (!found) throw new UserError(`${r.name} is not among the deployments the Deployments view sees in ${r.namespace} on ${r.context}.`, 'Expand the context in the Deployments view, or check the name and namespace.');
      return found;
    }
    const all = view.deployments().filter((d) => d.item.managed);
    if (!all.length) throw new UserError('no Modelyard deployment is in view.', 'Expand a context in the Deployments view to see what runs there.');
    const pick = await vscode.window.showQuickPick(
      all.map((d) => ({ label: d.item.name, description: [deploymentLabel(d.item), d.item.stage, `${d.item.namespace} on ${d.context}`].filter(Boolean).join(' · '), d })),
      { title },
    );
    return pick?.d;
  };

  const managed = (d: DeploymentNode): DeploymentNode => {
    if (!d.item.managed) throw new UserError(`${d.item.name} was not deployed by Modelyard.`, 'Modelyard changes only what it deployed; use the tool that made it.');
    return d;
  };

  const target = (d: DeploymentNode, repo?: string) => targetArgs({ context: d.context, namespace: d.item.namespace, ...(repo ? { repo } : {}) });
  const envFor = async (d: DeploymentNode) => (await cloudEnv({ context: d.context, secrets: services.secrets })).env;

  /** Runs a verb that changes the cluster under a cancellable notification that shows its phases. */
  const withPhases = (title: string, args: string[], d: DeploymentNode) =>
    vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, async (progress, token) => {
      const r = await cli.run([...args, '--json'], {
        env: await envFor(d),
        token,
        onEvent: (e) => {
          if (e.event === 'phase') progress.report({ message: e.message });
        },
      });
      return r.stdout;
    });

  const showPanel = (request: DeployShowRequest) => vscode.commands.executeCommand('modelyard.deploy.show', request);
  const refOf = (d: DeploymentNode): DeploymentRef => ({ context: d.context, namespace: d.item.namespace, name: d.item.name });
  /** The version a deployment runs, as the panel opens it. */
  const running = (d: DeploymentNode) => (d.item.model && d.item.version ? { ref: `${d.item.model}@${d.item.version}` } : {});

  context.subscriptions.push(
    registerCommand('modelyard.deployments.open', log, async (arg?: unknown) => {
      const d = await resolve(arg, 'Open which deployment?');
      if (d) return showPanel({ ...refOf(managed(d)), action: 'open', ...running(d), ...(d.repo ? { repo: d.repo } : {}) });
    }),
    registerCommand('modelyard.deployments.smoke', log, async (arg?: unknown) => {
      const d = await resolve(arg, 'Smoke-test which deployment?');
      if (d) return showPanel({ ...refOf(managed(d)), action: 'smoke', ...running(d), ...(d.repo ? { repo: d.repo } : {}) });
    }),
    registerCommand('modelyard.deployments.deployStageVersion', log, async (arg?: unknown) => {
      const d = await resolve(arg, "Deploy the stage's version to which deployment?");
      if (!d) return;
      managed(d);
      const drift = d.drift;
      if (drift.kind !== 'moved') throw new UserError(drift.kind === 'unassigned' ? `the stage ${drift.stage} of ${d.item.model} names no version now: there is nothing to deploy.` : `${d.item.name} runs what its stage names: there is nothing to deploy.`, drift.kind === 'unassigned' ? 'Assign the stage to a version first (Models view), or undeploy it.' : undefined);
      return showPanel({ ...refOf(d), action: 'deployStage', ref: `${d.item.model}@${drift.named}`, stage: drift.stage, ...(d.repo ? { repo: d.repo } : {}) });
    }),

    registerCommand('modelyard.deployments.logs', log, async (arg?: unknown) => {
      const d = await resolve(arg, 'Show the log of which deployment?');
      if (!d) return;
      managed(d);
      const key = deploymentKey(refOf(d));
      const open = logStreams.get(key);
      if (open) return open.terminal.show();
      const write = new vscode.EventEmitter<string>();
      const entry: { terminal: vscode.Terminal; proc?: CliProcess; written: string[] } = { terminal: undefined as unknown as vscode.Terminal, written: [] };
      const out = (text: string) => {
        entry.written.push(text);
        write.fire(text.replace(/\r?\n/g, '\r\n'));
      };
      const env = await envFor(d);
      const pty: vscode.Pseudoterminal = {
        onDidWrite: write.event,
        open: () => {
          out(`modelyard logs ${d.item.name} --follow (${d.item.namespace} on ${d.context}); close this terminal to stop.\n`);
          entry.proc = cli.start(['logs', d.item.name, '--follow', '--tail', '200', ...target(d)], { env, collectStdout: false, onStdout: out });
          entry.proc.done.then(
            () => out('\n[the log stream ended]\n'),
            (e: unknown) => out(`\n[the log stream failed: ${describeError(e)}]\n`),
          );
        },
        close: () => {
          void entry.proc?.stop();
          logStreams.delete(key);
          write.dispose();
        },
      };
      entry.terminal = vscode.window.createTerminal({ name: `Logs: ${d.item.name}`, pty, iconPath: new vscode.ThemeIcon('output') });
      logStreams.set(key, entry);
      entry.terminal.show();
      return entry.terminal;
    }),

    registerCommand('modelyard.deployments.rollback', log, async (arg?: unknown, opts: ConfirmOptions = {}) => {
      const d = await resolve(arg, 'Roll back which deployment?');
      if (!d) return;
      managed(d);
      const from = deploymentLabel(d.item) ?? d.item.name;
      if (!d.item.previous) throw new UserError(`${d.item.name} has no earlier version to roll back to: Modelyard deployed only ${from} there.`, 'Deploy the version you want instead.');
      if (!opts.confirm) {
        const ok = await vscode.window.showWarningMessage(
          `Roll back ${d.item.name} from ${from} to ${d.item.previous}?`,
          { modal: true, detail: `${d.item.namespace} on ${d.context}. The earlier version's spec is applied again and followed until it is ready${d.item.stage ? `; the registry records stage ${d.item.stage} for it` : ''}.` },
          'Roll Back',
        );
        if (ok !== 'Roll Back') return;
      }
      const repo = d.repo;
      const stdout = await withPhases(`Rolling ${d.item.name} back to ${d.item.previous}`, ['rollback', d.item.name, ...target(d, repo)], d);
      const r = JSON.parse(stdout) as { from: string; to: string; rollout: { ready: boolean }; recorded?: { tag: string } };
      if (repo) services.registries.invalidate(repo);
      view.invalidateStages();
      if (!r.rollout.ready) throw new UserError(`the rollback of ${d.item.name} to ${r.to} was applied but is not ready.`, `\`modelyard status ${d.item.name} -n ${d.item.namespace}\` says why.`);
      void vscode.window.showInformationMessage(`Rolled ${d.item.name} back from ${r.from} to ${r.to}${r.recorded ? `; recorded as ${r.recorded.tag}` : ''}.`);
      return r;
    }),

    registerCommand('modelyard.deployments.undeploy', log, async (arg?: unknown, opts: ConfirmOptions = {}) => {
      const d = await resolve(arg, 'Undeploy which deployment?');
      if (!d) return;
      managed(d);
      if (!opts.confirm) {
        const ok = await vscode.window.showWarningMessage(
          `Undeploy ${d.item.name} (${deploymentLabel(d.item) ?? d.item.kind}) from ${d.item.namespace} on ${d.context}?`,
          { modal: true, detail: `What Modelyard created for it is deleted; the stored model stays.${d.item.stage ? ` If this deployment assigned stage ${d.item.stage}, the registry withdraws it.` : ''}` },
          'Undeploy',
        );
        if (ok !== 'Undeploy') return;
      }
      const repo = d.repo;
      const stdout = await withPhases(`Undeploying ${d.item.name}`, ['undeploy', d.item.name, ...target(d, repo)], d);
      const r = JSON.parse(stdout) as { removed: string[]; recorded?: string };
      if (repo) services.registries.invalidate(repo);
      view.invalidateStages();
      void vscode.window.showInformationMessage(`Removed ${r.removed.join(', ') || 'nothing (it was gone)'} from ${d.item.namespace}${r.recorded ? `; recorded as ${r.recorded}` : ''}.`);
      return r;
    }),

    registerCommand('modelyard.deployments.openInPlayground', log, async (arg?: unknown) => {
      const d = await resolve(arg, 'Open which deployment in the Playground?');
      if (!d) return;
      managed(d);
      const t = await modelTarget(services, d);
      const url = await proxyFor(d);
      return vscode.commands.executeCommand('modelyard.playground.open', t, 'remote', { url, model: d.item.name });
    }),

    { dispose: () => stopChildren() },
  );

  /** A local proxy child for the deployment (`modelyard proxy`), started once and kept until deactivation. */
  async function proxyFor(d: DeploymentNode): Promise<string> {
    const key = deploymentKey(refOf(d));
    const running = proxies.get(key);
    if (running) return running.url;
    const env = await envFor(d);
    return new Promise<string>((resolve, reject) => {
      const proc = cli.start(['proxy', d.item.name, ...target(d)], {
        env,
        collectStdout: false,
        onEvent: (e) => {
          if (e.event !== 'listening') return;
          proxies.set(key, { proc, url: (e as CliEventOf<'listening'>).url });
          resolve(e.url);
        },
      });
      proc.done.then(
        () => {
          proxies.delete(key);
          reject(new UserError(`the proxy to ${d.item.name} ended before it listened.`, 'See the log (Modelyard: Show Log).'));
        },
        (e: unknown) => {
          proxies.delete(key);
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  }
}

/** The registry version a deployment runs, as the Playground opens it (read from git). */
async function modelTarget(services: Services, d: DeploymentNode): Promise<ModelTarget> {
  const { model, version } = d.item;
  if (!model || !version) throw new UserError(`${d.item.name} runs a model that is not a registry version, so the Playground has nothing to compare it with.`, 'Open the model file in the Playground and give the endpoint by hand on its Remote tab.');
  if (!d.repo) throw new UserError(`${model}@${version} is in no registry of this workspace.`, 'Open the repository that holds the model, then try again.');
  const reg = await services.registries.registry(d.repo);
  const m = reg.models.find((x) => x.name === model);
  const v = m?.state ? sortedVersions(m.state).find((x) => x.version === version) : undefined;
  if (!m?.entry || !v) throw new UserError(`${model}@${version} is not a version of the registry in ${d.repo}.`, 'Fetch its tags (git fetch --tags), or check which version was deployed.');
  const label = `${model}@${version}`;
  const uri = gitUri(d.repo, v.commit, m.entry.path, label);
  return { uri, label, detail: describeModelUri(uri).detail, root: d.repo, model: m, version: v, commit: v.commit };
}

/** Ends the log streams and proxies (deactivation). */
function stopChildren(): void {
  for (const e of logStreams.values()) {
    void e.proc?.stop();
    e.terminal.dispose();
  }
  logStreams.clear();
  for (const p of proxies.values()) void p.proc.stop();
  proxies.clear();
}
