import type * as vscode from 'vscode';
import type { Cli } from './cli';
import type { InferenceService } from './inference';
import type { ModelResolver } from './modelTarget';
import type { RegistryService } from './registry/registryService';
import type { Secrets } from './secrets';

/**
 * What every feature folder is handed by main.ts: the log, the registries of the workspace, the one model resolver,
 * the inference worker, the CLI runner and the secret store. A feature registers its own commands, views and panels
 * with `register<Feature>(context, services)`.
 */
export interface Services {
  readonly extensionUri: vscode.Uri;
  readonly version: string;
  readonly log: vscode.LogOutputChannel;
  readonly registries: RegistryService;
  readonly models: ModelResolver;
  readonly inference: InferenceService;
  readonly cli: Cli;
  readonly secrets: Secrets;
}
