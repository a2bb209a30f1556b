import { loadStart } from './perf';
import * as vscode from 'vscode';
import { registerCard } from './card';
import { ModelCardEditor, type ModelCard } from './card/cardEditor';
import { Cli } from './cli';
import { registerDeploy } from './deploy';
import { deploymentsView, type DeploymentsView } from './deploy/deploymentsView';
import { deploymentChildren } from './deploy/viewCommands';
import { registerEnvironment } from './environment';
import { EnvironmentPanel } from './environment/environmentPanel';
import { InferenceService } from './inference';
import { ModelResolver } from './modelTarget';
import { restorePanel } from './panel';
import { registerModelTests } from './modeltests';
import type { ModelTests } from './modeltests/modelTests';
import { registerPlayground } from './playground';
import { PlaygroundPanel } from './playground/playgroundPanel';
import { registerQuantize } from './quantize';
import { DeployPanel } from './deploy/deployPanel';
import { QuantizePanel } from './quantize/quantizePanel';
import { registerRegistry } from './registry';
import type { ModelsTree } from './registry/modelsTree';
import { RegistryService } from './registry/registryService';
import { Secrets } from './secrets';
import { registerServe } from './serve';
import type { ServeManager } from './serve/serveManager';
import type { Services } from './services';

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
  readonly deployPanels: () => DeployPanel[];
  readonly environmentPanel: () => EnvironmentPanel | undefined;
  /** The Deployments view, and the log streams and proxies its commands started. */
  readonly deployments: () => DeploymentsView | undefined;
  readonly deploymentChildren: typeof deploymentChildren;
  /** Restores a panel as VS Code's serializer does after a reload, from the state its webview saved. */
  readonly restorePanel: (viewType: string, panel: vscode.WebviewPanel, state: unknown) => Promise<void>;
  /** Milliseconds, from performance marks: evaluating the bundle, VS Code's gap before activate(), activate() itself. */
  readonly activation: { evaluateMs: number; hostGapMs: number; activateMs: number };
}

/**
 * Activation only registers: the services every feature shares, then one `register<Feature>` per folder. Nothing
 * here loads onnxruntime (it lives in the inference worker) or the heavy bundle (loaded on first use).
 */
export function activate(context: vscode.ExtensionContext): ModelyardApi {
  const activateStart = performance.now();
  performance.mark('modelyard:activate:start');
  const version = String((context.extension.packageJSON as { version?: string }).version ?? '0.0.0');
  const log = vscode.window.createOutputChannel('Modelyard', { log: true });
  const registries = new RegistryService(log);
  const inference = new InferenceService(context.extensionUri, log);
  context.subscriptions.push(log, registries, inference);
  const services: Services = {
    extensionUri: context.extensionUri,
    version,
    log,
    registries,
    models: new ModelResolver(registries),
    inference,
    cli: new Cli(context.extensionUri, log),
    secrets: new Secrets(context.secrets),
  };

  const models = registerRegistry(context, services);
  registerCard(context, services);
  const serve = registerServe(context, services);
  registerPlayground(context, services, serve);
  registerQuantize(context, services);
  const modelTests = registerModelTests(context, services);
  registerEnvironment(context, services);
  registerDeploy(context, services);

  performance.mark('modelyard:activate:end');
  const end = performance.now();
  const activation = { evaluateMs: evaluated - loadStart, hostGapMs: activateStart - evaluated, activateMs: end - activateStart };
  log.info(
    `Modelyard ${version} activated in ${activation.activateMs.toFixed(2)} ms ` +
      `(bundle evaluated in ${activation.evaluateMs.toFixed(2)} ms; ${vscode.env.appName} ${vscode.version}, Node ${process.versions.node})`,
  );
  return {
    version,
    models,
    registries,
    inference,
    serve,
    modelTests,
    modelCards: ModelCardEditor.open,
    playgrounds: () => PlaygroundPanel.all,
    quantizePanels: () => QuantizePanel.all,
    deployPanels: () => DeployPanel.all,
    environmentPanel: () => EnvironmentPanel.active,
    deployments: deploymentsView,
    deploymentChildren,
    restorePanel,
    activation,
  };
}

export function deactivate(): void {}
