import { loadStart } from './perf';
import * as vscode from 'vscode';
import { registerCommand } from './commands';
import { EnvironmentPanel, type EnvironmentContext } from './panels/environmentPanel';
import { DeploymentsView } from './views/deploymentsView';
import { ModelsView, modelUriOf } from './views/modelsView';
import { UserError } from '../core/errors';

/** When the bundle finished evaluating: after this, the time until activate() is VS Code's, not ours. */
const evaluated = performance.now();

/** What activate() returns: used by the integration suite to look at the real views and panels. */
export interface ModelyardApi {
  readonly version: string;
  readonly models: ModelsView;
  readonly environmentPanel: () => EnvironmentPanel | undefined;
  /** Milliseconds, from performance marks: evaluating the bundle, VS Code's gap before activate(), activate() itself. */
  readonly activation: { evaluateMs: number; hostGapMs: number; activateMs: number };
}

export function activate(context: vscode.ExtensionContext): ModelyardApi {
  const activateStart = performance.now();
  performance.mark('modelyard:activate:start');
  const version = String((context.extension.packageJSON as { version?: string }).version ?? '0.0.0');
  const log = vscode.window.createOutputChannel('Modelyard', { log: true });
  context.subscriptions.push(log);
  const envCtx: EnvironmentContext = { extensionUri: context.extensionUri, version, log };

  const models = new ModelsView(log);
  context.subscriptions.push(models);
  context.subscriptions.push(vscode.window.registerTreeDataProvider('modelyard.deployments', new DeploymentsView()));

  const requireModel = (arg: unknown): vscode.Uri => {
    const uri = modelUriOf(arg);
    if (!uri) throw new UserError('No model is selected.', 'Pick a model in the Models view and try again.');
    return uri;
  };

  context.subscriptions.push(
    registerCommand('modelyard.log.show', log, () => log.show()),
    registerCommand('modelyard.environment.show', log, () => EnvironmentPanel.show(envCtx)),
    registerCommand('modelyard.models.refresh', log, () => models.refresh()),
    registerCommand('modelyard.model.open', log, (arg: never) => vscode.commands.executeCommand('vscode.open', requireModel(arg))),
    registerCommand('modelyard.model.revealInExplorer', log, (arg: never) =>
      vscode.commands.executeCommand('revealInExplorer', requireModel(arg)),
    ),
    registerCommand('modelyard.model.copyPath', log, async (arg: never) => {
      await vscode.env.clipboard.writeText(requireModel(arg).fsPath);
    }),
    vscode.window.registerWebviewPanelSerializer('modelyard.environment', {
      deserializeWebviewPanel: async (panel) => {
        EnvironmentPanel.revive(panel, envCtx);
      },
    }),
  );

  performance.mark('modelyard:activate:end');
  const end = performance.now();
  const activation = { evaluateMs: evaluated - loadStart, hostGapMs: activateStart - evaluated, activateMs: end - activateStart };
  log.info(
    `Modelyard ${version} activated in ${activation.activateMs.toFixed(2)} ms ` +
      `(bundle evaluated in ${activation.evaluateMs.toFixed(2)} ms; ${vscode.env.appName} ${vscode.version}, Node ${process.versions.node})`,
  );
  return { version, models, environmentPanel: () => EnvironmentPanel.active, activation };
}

export function deactivate(): void {}
