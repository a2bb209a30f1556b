import * as vscode from 'vscode';
import { registerCommand } from '../commands';
import type { Services } from '../services';
import { EnvironmentPanel, type EnvironmentContext } from './environmentPanel';

/** Show Environment (the panel, restored after a reload) and Show Log. */
export function registerEnvironment(context: vscode.ExtensionContext, services: Services): void {
  const { log, inference } = services;
  const envCtx: EnvironmentContext = {
    extensionUri: services.extensionUri,
    version: services.version,
    log,
    onnxRuntime: async () => {
      const host = await inference.get();
      const [rt, providers] = await Promise.all([host.runtimeInfo(), host.availableProviders()]);
      return { version: rt.ortVersion, executionProviders: providers, location: rt.location };
    },
  };
  context.subscriptions.push(
    registerCommand('modelyard.log.show', log, () => log.show()),
    registerCommand('modelyard.environment.show', log, () => EnvironmentPanel.show(envCtx)),
    vscode.window.registerWebviewPanelSerializer('modelyard.environment', {
      deserializeWebviewPanel: async (panel) => {
        EnvironmentPanel.revive(panel, envCtx);
      },
    }),
  );
}
