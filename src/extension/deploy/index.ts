import * as vscode from 'vscode';
import type { Services } from '../services';
import { DeploymentsView } from './deploymentsView';

/** Deployment: the Deployments view (empty until deployment lands: VS Code then shows its welcome content). */
export function registerDeploy(context: vscode.ExtensionContext, _services: Services): void {
  context.subscriptions.push(vscode.window.registerTreeDataProvider('modelyard.deployments', new DeploymentsView()));
}
