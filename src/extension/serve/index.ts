import * as vscode from 'vscode';
import { UserError } from '../../core/errors';
import { registerCommand, registerModelCommand } from '../commands';
import type { Services } from '../services';
import { ServeManager } from './serveManager';

/** Serve Model Locally: start, stop and manage local V2 servers (the status bar item opens the manager). */
export function registerServe(context: vscode.ExtensionContext, services: Services): ServeManager {
  const { log } = services;
  const serve = new ServeManager(services.cli, log);
  context.subscriptions.push(
    serve,
    registerModelCommand('modelyard.serve.start', services, { model: 'model' }, async (target) => {
      const url = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Serving ${target.label}…` }, () => serve.start(target));
      const name = serve.running.find((s) => s.url === url)?.name ?? '';
      void vscode.window.showInformationMessage(`Serving ${target.label} at ${url}/v2/models/${name}`, 'Copy URL', 'Open Playground').then((a) => {
        if (a === 'Copy URL') void vscode.env.clipboard.writeText(`${url}/v2/models/${name}`);
        if (a === 'Open Playground') void vscode.commands.executeCommand('modelyard.playground.open', target, 'remote');
      });
      return url;
    }),
    registerCommand('modelyard.serve.stop', log, async () => {
      if (!serve.running.length) throw new UserError('no model is served locally.');
      await serve.stop();
    }),
    registerCommand('modelyard.serve.manage', log, async () => {
      const items = serve.running.flatMap((s) => [
        { label: `$(copy) Copy ${s.url}/v2/models/${s.name}`, action: () => vscode.env.clipboard.writeText(`${s.url}/v2/models/${s.name}`) },
        { label: `$(debug-stop) Stop serving ${s.label}`, action: () => serve.stop(s.target) },
      ]);
      const pick = await vscode.window.showQuickPick(items, { title: 'Modelyard local server' });
      await pick?.action();
    }),
  );
  return serve;
}
