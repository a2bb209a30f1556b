import * as vscode from 'vscode';
import type { Services } from '../services';
import { registerDeploymentsView } from './deploymentsView';

/** Deployment: the Deploy panel, and the Deployments view with its commands. */
export function registerDeploy(context: vscode.ExtensionContext, services: Services): void {
  registerDeploymentsView(context, services);
}
