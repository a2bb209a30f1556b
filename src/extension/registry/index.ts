import * as vscode from 'vscode';
import { registerCommand, registerModelCommand } from '../commands';
import type { Services } from '../services';
import { GIT_SCHEME, GitContentProvider } from './gitContent';
import { HistoryPanel, registerHistorySerializer } from './historyPanel';
import { ModelsTree } from './modelsTree';
import { registerRegistryCommands } from './registryCommands';

/**
 * The model registry in git: the Models view, its commands (register, stages, deprecate, tags …), the History
 * panel, read-only files at any version (the modelyard-git: file system), and Open / Reveal / Copy Path.
 */
export function registerRegistry(context: vscode.ExtensionContext, services: Services): ModelsTree {
  const { log, registries } = services;
  const models = new ModelsTree(registries, log);
  // History panels read the same cached registry as the tree, so a tag change loads it once, not once per view.
  const historyCtx = { extensionUri: services.extensionUri, log, registry: (root: string) => registries.registry(root) };
  context.subscriptions.push(
    models,
    vscode.workspace.registerFileSystemProvider(GIT_SCHEME, new GitContentProvider(), { isReadonly: true, isCaseSensitive: true }),
    registerCommand('modelyard.models.refresh', log, () => {
      registries.resetRepositories();
      models.refresh();
    }),
    ...registerRegistryCommands(services),
    registerModelCommand('modelyard.model.history', services, { model: 'registry', pickTitle: 'Show the history of which model?' }, (t) =>
      HistoryPanel.show(historyCtx, { root: t.root, model: t.model.name }),
    ),
    registerHistorySerializer(historyCtx),
    // Open History panels follow the registry, like the tree.
    registries.onDidChange((root) => void HistoryPanel.reloadAll(root)),
    registerModelCommand('modelyard.model.open', services, { model: 'file' }, (t) => vscode.commands.executeCommand('vscode.open', t.uri)),
    registerModelCommand('modelyard.model.revealInExplorer', services, { model: 'file' }, (t) => vscode.commands.executeCommand('revealInExplorer', t.uri)),
    registerModelCommand('modelyard.model.copyPath', services, { model: 'file' }, (t) => vscode.env.clipboard.writeText(t.uri.fsPath)),
  );
  return models;
}
