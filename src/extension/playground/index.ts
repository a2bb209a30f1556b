import path from 'node:path';
import * as vscode from 'vscode';
import { sortedVersions } from '../../core/registry/state';
import { playgroundContract, playgroundRestore, type PlaygroundTab } from '../../shared/protocol/playground';
import { registerModelCommand } from '../commands';
import type { ModelResolver, ModelTarget } from '../modelTarget';
import { registerPanelSerializer } from '../panel';
import { gitUri } from '../registry/gitContent';
import type { ServeManager } from '../serve/serveManager';
import type { Services } from '../services';
import { PlaygroundPanel, type PlaygroundContext, type RemoteEndpoint } from './playgroundPanel';

interface CompareItem extends vscode.QuickPickItem {
  target?: ModelTarget;
  browse?: true;
}

/** Other versions of the same model first (from the registry), then the working file, then any file. */
export async function pickCompareTarget(services: { models: ModelResolver }, current: ModelTarget): Promise<ModelTarget | undefined> {
  const items: CompareItem[] = [];
  const model = current.model;
  const entry = model?.entry;
  if (current.root && model?.state && entry) {
    items.push({ label: 'Versions', kind: vscode.QuickPickItemKind.Separator });
    for (const v of sortedVersions(model.state).filter((x) => x.active)) {
      const label = `${model.name}@${v.registered ? v.version : v.commit.slice(0, 8)}`;
      const uri = gitUri(current.root, v.commit, entry.path, label);
      if (uri.toString() === current.uri.toString()) continue;
      const stages = [...model.state.stages].filter(([, x]) => x === v).map(([s]) => s);
      items.push({
        label,
        description: [stages.join(', '), new Date(v.createdBy.date * 1000).toLocaleDateString()].filter(Boolean).join(' · '),
        target: { uri, label, detail: `${entry.path} at ${v.commit.slice(0, 12)}`, root: current.root, model, version: v, commit: v.commit },
      });
    }
  }
  if (current.root && model && entry && current.uri.scheme !== 'file') {
    const uri = vscode.Uri.file(path.join(current.root, entry.path));
    items.push({ label: `${model.name} (working tree)`, description: entry.path, target: { uri, label: path.basename(entry.path), detail: entry.path, root: current.root, model } });
  }
  items.push({ label: '', kind: vscode.QuickPickItemKind.Separator }, { label: '$(folder-opened) Choose a File…', browse: true });
  const pick = await vscode.window.showQuickPick(items, { title: `Compare ${current.label} with…`, matchOnDescription: true });
  if (!pick) return undefined;
  if (pick.target) return pick.target;
  const files = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'ONNX models': ['onnx'] }, title: `Compare ${current.label} with…` });
  return files?.[0] ? services.models.fromUri(files[0]) : undefined;
}

/** The Playground: Open in Playground, Benchmark Model, Compare With…, and its panels restored after a reload. */
export function registerPlayground(context: vscode.ExtensionContext, services: Services, serve: ServeManager): PlaygroundContext {
  const ctx: PlaygroundContext = {
    services,
    pickCompareTarget: (current) => pickCompareTarget(services, current),
    serve: (target) => serve.start(target),
    servingUrl: (target) => serve.urlOf(target),
  };
  context.subscriptions.push(
    registerModelCommand('modelyard.playground.open', services, { model: 'model' }, (t, tab?: PlaygroundTab, remote?: RemoteEndpoint) => PlaygroundPanel.show(ctx, t, tab ?? 'run', undefined, undefined, remote)),
    registerModelCommand('modelyard.model.benchmark', services, { model: 'model' }, (t) => PlaygroundPanel.show(ctx, t, 'benchmark')),
    registerModelCommand('modelyard.model.compare', services, { model: 'model' }, async (a, other?: unknown) => {
      const b = other !== undefined ? await services.models.resolve(other, 'model') : await pickCompareTarget(services, a);
      if (!b) return undefined;
      return PlaygroundPanel.show(ctx, a, 'compare', b);
    }),
    registerPanelSerializer(playgroundContract.viewType, playgroundRestore, services.log, { title: 'Playground', again: 'open the model in the Playground again from the Models view' }, async (panel, r) =>
      PlaygroundPanel.show(ctx, await services.models.fromUri(vscode.Uri.parse(r.uri, true)), r.tab, undefined, panel),
    ),
    serve.onDidChange(() => {
      for (const p of PlaygroundPanel.all) void p.notifyServing(serve.urlOf(p.target));
    }),
  );
  return ctx;
}
