import * as vscode from 'vscode';
import { registerModelCommand } from '../commands';
import type { Services } from '../services';
import { ModelCardEditor } from './cardEditor';

/** The model card: the custom editor of `.onnx` files (and versions read from git), and Show Model Card. */
export function registerCard(context: vscode.ExtensionContext, services: Services): void {
  context.subscriptions.push(
    ModelCardEditor.register({ extensionUri: services.extensionUri, log: services.log }),
    registerModelCommand('modelyard.model.card', services, { model: 'model' }, (t) => vscode.commands.executeCommand('vscode.openWith', t.uri, ModelCardEditor.viewType)),
  );
}
