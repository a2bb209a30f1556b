import * as vscode from 'vscode';
import { quantizeContract, quantizeRestore } from '../../shared/protocol/quantize';
import { registerModelCommand } from '../commands';
import { registerPanelSerializer } from '../panel';
import type { Services } from '../services';
import { QuantizePanel } from './quantizePanel';

/** Quantize Model…: the command, and its panels restored after a reload. */
export function registerQuantize(context: vscode.ExtensionContext, services: Services): void {
  context.subscriptions.push(
    registerModelCommand('modelyard.model.quantize', services, { model: 'model' }, (t) => QuantizePanel.show(services, t)),
    registerPanelSerializer(quantizeContract.viewType, quantizeRestore, services.log, { title: 'Quantize', again: 'run Quantize Model… again from the Models view' }, async (panel, r) =>
      QuantizePanel.show(services, await services.models.fromUri(vscode.Uri.parse(r.uri, true)), panel),
    ),
  );
}
