import * as vscode from 'vscode';
import { UserError } from '../../core/errors';
import { sortedVersions } from '../../core/registry/state';
import { contextsResultSchema } from '../../shared/cli/deploy';
import { deployContract, deployRestore, type DeployForm } from '../../shared/protocol/deploy';
import { registerCommand, registerModelCommand } from '../commands';
import { registerPanelSerializer } from '../panel';
import type { Services } from '../services';
import { setting } from '../settings';
import { cloudEnv } from './cloudEnv';
import { DeployPanel } from './deployPanel';
import { registerDeploymentsView } from './deploymentsView';
import type { DeployShowRequest } from './viewCommands';

/** Deployment: Deploy Version… and its panel, and the Deployments view with its commands. */
export function registerDeploy(context: vscode.ExtensionContext, services: Services): void {
  registerDeploymentsView(context, services);
  context.subscriptions.push(
    registerModelCommand('modelyard.deploy.version', services, { model: 'registry', pickTitle: 'Deploy which model?' }, async (t, preset?: Partial<DeployForm>) => {
      let version = t.version?.registered ? t.version.version : undefined;
      if (!version) {
        const versions = t.model.state ? sortedVersions(t.model.state).filter((v) => v.registered && v.active) : [];
        if (!versions.length) throw new UserError(`${t.model.name} has no registered version to deploy.`, 'Register a version first (Register Version… in the Models view).');
        const pick = await vscode.window.showQuickPick(
          versions.map((v) => ({ label: v.version, description: [...v.stages.entries()].filter(([, s]) => s.active).map(([s]) => s).join(', '), detail: `commit ${v.commit.slice(0, 8)}`, version: v.version })),
          { title: `Deploy which version of ${t.model.name}?` },
        );
        if (!pick) return undefined;
        version = pick.version;
      }
      return DeployPanel.show(services, { ref: `${t.model.name}@${version}`, repo: t.root, ...(preset ? { preset } : {}) });
    }),
    registerCommand('modelyard.deploy.show', services.log, async (a: DeployShowRequest) => {
      const attach = { context: a.context, namespace: a.namespace, name: a.name };
      const { ref, repo } = await refOf(services, a);
      if (a.action === 'deployStage') {
        return DeployPanel.show(services, { ref, repo, preset: { context: a.context, namespace: a.namespace, name: a.name, ...(a.stage ? { stage: a.stage } : {}) } });
      }
      return DeployPanel.show(services, { ref, repo, attach, ...(a.action === 'smoke' ? { action: 'smoke' as const } : {}) });
    }),
    registerCommand('modelyard.deploy.forgetCredentials', services.log, async () => {
      // SecretStorage lists nothing: the keys are those the settings name (S3) and the kubeconfig's contexts (tokens).
      const targets = Object.entries(setting('deploy.targets')).filter(([, t]) => t.s3AccessKeyId);
      for (const [, t] of targets) await services.secrets.delete({ kind: 's3', endpoint: t.s3Endpoint ?? '', accessKeyId: t.s3AccessKeyId! });
      const { env } = await cloudEnv();
      const contexts = await services.cli.run(['contexts', '--json'], { env }).then(
        (r) => contextsResultSchema.safeParse(JSON.parse(r.stdout)).data?.contexts.map((c) => c.name) ?? [],
        () => [] as string[],
      );
      for (const context of contexts) await services.secrets.delete({ kind: 'kube-token', context });
      void vscode.window.showInformationMessage(
        targets.length || contexts.length
          ? `Forgot the stored deploy credentials: ${[...targets.map(([c, t]) => `the secret key of ${t.s3AccessKeyId} (${c})`), contexts.length ? `any token of ${contexts.length} kube context${contexts.length === 1 ? '' : 's'}` : ''].filter(Boolean).join(', ')}.`
          : 'Modelyard keeps no deploy credentials.',
      );
    }),
    registerPanelSerializer(deployContract.viewType, deployRestore, services.log, { title: 'Deploy', again: 'run Deploy Version… again from the Models view' }, (panel, r) =>
      DeployPanel.show(services, { ref: r.ref, repo: r.repo, ...(r.attach ? { attach: r.attach } : {}) }, panel),
    ),
    { dispose: () => DeployPanel.stopAll() },
  );
}

/** The registered version a deployment runs (or the one given), and the workspace repository that holds its model. */
async function refOf(services: Services, a: DeployShowRequest): Promise<{ ref: string; repo: string }> {
  let ref = a.ref;
  if (!ref) throw new UserError(`${a.name} runs no registered version Modelyard knows.`, 'Deploy a registered version from the Models view.');
  const name = ref.split('@')[0]!;
  let repo = a.repo;
  if (!repo) {
    for (const root of await services.registries.repositories()) {
      if ((await services.registries.registry(root).catch(() => undefined))?.models.some((m) => m.name === name)) {
        repo = root;
        break;
      }
    }
  }
  if (!repo) throw new UserError(`no repository of this workspace has a model named ${name}.`, 'Open the repository that registers it.');
  ref = ref.includes('@') ? ref : `${ref}@latest`;
  return { ref, repo };
}
