import { loadStart } from './perf';
import * as vscode from 'vscode';
import { registerCommand } from './commands';
import { EnvironmentPanel, type EnvironmentContext } from './panels/environmentPanel';
import { HistoryPanel, registerHistorySerializer } from './panels/historyPanel';
import path from 'node:path';
import { GIT_SCHEME, GitContentProvider } from './registry/gitContent';
import { ModelsTree, type Node } from './registry/modelsTree';
import { registerRegistryCommands } from './registry/registryCommands';
import { RegistryService } from './registry/registryService';
import { DeploymentsView } from './views/deploymentsView';
import { UserError } from '../core/errors';
import { ModelCardEditor, type ModelCard } from './onnx/cardEditor';
import { PlaygroundPanel } from './panels/playgroundPanel';
import { QuantizePanel } from './panels/quantizePanel';
import { registerInferenceCommands } from './inference/inferenceCommands';
import { InferenceService } from './inference/inferenceService';
import { ServeManager } from './inference/serveManager';
import { requireModelTarget } from './onnx/modelUri';
import { ModelTests } from './tests/modelTests';

/** When the bundle finished evaluating: after this, the time until activate() is VS Code's, not ours. */
const evaluated = performance.now();

/** What activate() returns: used by the integration suite to look at the real views and panels. */
export interface ModelyardApi {
  readonly version: string;
  readonly models: ModelsTree;
  readonly registries: RegistryService;
  readonly inference: InferenceService;
  readonly serve: ServeManager;
  readonly modelTests: ModelTests;
  /** Open model cards by URI, and open Playground panels. */
  readonly modelCards: ReadonlyMap<string, ModelCard>;
  readonly playgrounds: () => PlaygroundPanel[];
  readonly quantizePanels: () => QuantizePanel[];
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

  const registries = new RegistryService(log);
  const models = new ModelsTree(registries, log);
  context.subscriptions.push(registries, models);
  // History panels read the same cached registry as the tree, so a tag change loads it once, not once per view.
  const historyCtx = { extensionUri: context.extensionUri, log, registry: (root: string) => registries.registry(root) };
  context.subscriptions.push(vscode.workspace.registerFileSystemProvider(GIT_SCHEME, new GitContentProvider(), { isReadonly: true, isCaseSensitive: true }));
  context.subscriptions.push(vscode.window.registerTreeDataProvider('modelyard.deployments', new DeploymentsView()));
  context.subscriptions.push(ModelCardEditor.register({ extensionUri: context.extensionUri, log }));
  // The inference worker and local servers start on first use; nothing here loads onnxruntime.
  const inference = new InferenceService(context.extensionUri, log);
  const envCtx: EnvironmentContext = {
    extensionUri: context.extensionUri,
    version,
    log,
    onnxRuntime: async () => {
      const host = await inference.get();
      const [rt, providers] = await Promise.all([host.runtimeInfo(), host.availableProviders()]);
      return { version: rt.ortVersion, executionProviders: providers, location: rt.location };
    },
  };
  const serve = new ServeManager(context.extensionUri, log);
  context.subscriptions.push(inference, serve, ...registerInferenceCommands({ extensionUri: context.extensionUri, log }, inference, serve, registries));
  const modelTests = new ModelTests(inference, registries, log);
  context.subscriptions.push(modelTests);

  /** The working-tree file of the model a command was run on (a tree node, an Explorer URI, or the active editor). */
  const requireModel = (arg: unknown): vscode.Uri => {
    if (arg instanceof vscode.Uri) return arg;
    const node = arg as Node | undefined;
    if (node && 'model' in node && node.model.entry) return vscode.Uri.file(path.join(node.root, node.model.entry.path));
    const active = vscode.window.activeTextEditor?.document.uri;
    if (!node && active) return active;
    throw new UserError('No model file is selected.', 'Pick a model with a file in the Models view and try again.');
  };

  context.subscriptions.push(
    registerCommand('modelyard.log.show', log, () => log.show()),
    registerCommand('modelyard.environment.show', log, () => EnvironmentPanel.show(envCtx)),
    registerCommand('modelyard.models.refresh', log, () => {
      registries.resetRepositories();
      models.refresh();
    }),
    ...registerRegistryCommands(registries, log),
    registerCommand('modelyard.model.history', log, async (arg?: Node) => {
      let target = arg && 'model' in arg ? { root: arg.root, model: arg.model.name } : undefined;
      if (!target) {
        const roots = await registries.repositories();
        const picks = (await Promise.all(roots.map(async (root) => (await registries.registry(root)).models.filter((m) => m.state).map((m) => ({ label: m.name, description: m.state?.latest?.version ?? '', detail: root, root })))))
          .flat();
        if (!picks.length) throw new UserError('no model has registry events yet.', 'Register a version from the Models view first.');
        const pick = await vscode.window.showQuickPick(picks, { title: 'Show the history of which model?' });
        if (!pick) return undefined;
        target = { root: pick.root, model: pick.label };
      }
      return HistoryPanel.show(historyCtx, target);
    }),
    registerHistorySerializer(historyCtx),
    // Open History panels follow the registry, like the tree.
    registries.onDidChange((root) => void HistoryPanel.reloadAll(root)),
    registerCommand('modelyard.model.open', log, (arg: never) => vscode.commands.executeCommand('vscode.open', requireModel(arg))),
    registerCommand('modelyard.model.card', log, (arg: never) => vscode.commands.executeCommand('vscode.openWith', requireModelTarget(arg).uri, ModelCardEditor.viewType)),
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
  return { version, models, registries, inference, serve, modelTests, modelCards: ModelCardEditor.open, playgrounds: () => PlaygroundPanel.all, quantizePanels: () => QuantizePanel.all, environmentPanel: () => EnvironmentPanel.active, activation };
}

export function deactivate(): void {}
