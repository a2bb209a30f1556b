import path from 'node:path';
import * as vscode from 'vscode';
import { UserError } from '../../core/errors';
import { sortedVersions } from '../../core/registry/state';
import type { PlaygroundTab } from '../../shared/protocol/playground';
import { registerCommand } from '../commands';
import { modelTargetOf, requireModelTarget, type ModelTarget } from '../onnx/modelUri';
import { PlaygroundPanel, type PlaygroundContext } from '../panels/playgroundPanel';
import { QuantizePanel } from '../panels/quantizePanel';
import { gitUri, gitUriParts } from '../registry/gitContent';
import type { RegistryService } from '../registry/registryService';
import type { InferenceService } from './inferenceService';
import type { ServeManager } from './serveManager';

interface Pick extends vscode.QuickPickItem {
  target?: ModelTarget;
  browse?: true;
}

/** Where a working-tree model file sits in the registry: its repository and model, if any. */
async function registryModelOf(registries: RegistryService, uri: vscode.Uri): Promise<{ root: string; name: string } | undefined> {
  let root: string | undefined;
  let rel: string | undefined;
  const git = gitUriParts(uri);
  if (git) {
    root = git.root;
    rel = git.path;
  } else if (uri.scheme === 'file') {
    root = (await registries.repositories()).find((r) => uri.fsPath.startsWith(r + path.sep));
    rel = root ? path.relative(root, uri.fsPath).split(path.sep).join('/') : undefined;
  }
  if (!root || !rel) return undefined;
  const m = (await registries.registry(root)).models.find((x) => x.entry?.path === rel);
  return m ? { root, name: m.name } : undefined;
}

/** Other versions of the same model first (from the registry), then the working file, then any file. */
export async function pickCompareTarget(registries: RegistryService, current: ModelTarget): Promise<ModelTarget | undefined> {
  const items: Pick[] = [];
  const where = await registryModelOf(registries, current.uri).catch(() => undefined);
  if (where) {
    const reg = await registries.registry(where.root);
    const model = reg.models.find((m) => m.name === where.name);
    const entry = model?.entry;
    if (model?.state && entry) {
      items.push({ label: 'Versions', kind: vscode.QuickPickItemKind.Separator });
      for (const v of sortedVersions(model.state).filter((x) => x.active)) {
        const label = `${model.name}@${v.registered ? v.version : v.commit.slice(0, 8)}`;
        const uri = gitUri(where.root, v.commit, entry.path, label);
        if (uri.toString() === current.uri.toString()) continue;
        const stages = [...model.state.stages].filter(([, x]) => x === v).map(([s]) => s);
        items.push({
          label,
          description: [stages.join(', '), new Date(v.createdBy.date * 1000).toLocaleDateString()].filter(Boolean).join(' · '),
          target: { uri, label, detail: `${entry.path} at ${v.commit.slice(0, 12)}` },
        });
      }
    }
    if (entry && current.uri.scheme !== 'file') {
      const uri = vscode.Uri.file(path.join(where.root, entry.path));
      items.push({ label: `${model!.name} (working tree)`, description: entry.path, target: { uri, label: path.basename(entry.path), detail: entry.path } });
    }
  }
  items.push({ label: '', kind: vscode.QuickPickItemKind.Separator }, { label: '$(folder-opened) Choose a File…', browse: true });
  const pick = await vscode.window.showQuickPick(items, { title: `Compare ${current.label} with…`, matchOnDescription: true });
  if (!pick) return undefined;
  if (pick.target) return pick.target;
  const files = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'ONNX models': ['onnx'] }, title: `Compare ${current.label} with…` });
  return files?.[0] ? modelTargetOf(files[0]) : undefined;
}

export function registerInferenceCommands(
  ctx: { extensionUri: vscode.Uri; log: vscode.LogOutputChannel },
  inference: InferenceService,
  serve: ServeManager,
  registries: RegistryService,
): vscode.Disposable[] {
  const { log } = ctx;
  const playground: PlaygroundContext = {
    extensionUri: ctx.extensionUri,
    log,
    inference,
    pickCompareTarget: (current) => pickCompareTarget(registries, current),
    serve: (target) => serve.start(target),
    servingUrl: (target) => serve.urlOf(target),
  };
  return [
    registerCommand('modelyard.playground.open', log, (arg?: unknown, tab?: PlaygroundTab) => PlaygroundPanel.show(playground, requireModelTarget(arg), tab ?? 'run')),
    registerCommand('modelyard.model.quantize', log, (arg?: unknown) => QuantizePanel.show({ extensionUri: ctx.extensionUri, log, registries }, requireModelTarget(arg))),
    registerCommand('modelyard.model.benchmark', log, (arg?: unknown) => PlaygroundPanel.show(playground, requireModelTarget(arg), 'benchmark')),
    registerCommand('modelyard.model.compare', log, async (arg?: unknown, other?: unknown) => {
      const a = requireModelTarget(arg);
      const b = other !== undefined ? requireModelTarget(other) : await pickCompareTarget(registries, a);
      if (!b) return undefined;
      return PlaygroundPanel.show(playground, a, 'compare', b);
    }),
    registerCommand('modelyard.serve.start', log, async (arg?: unknown) => {
      const target = requireModelTarget(arg);
      const url = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Serving ${target.label}…` }, () => serve.start(target));
      const name = serve.running.find((s) => s.url === url)?.name ?? '';
      void vscode.window.showInformationMessage(`Serving ${target.label} at ${url}/v2/models/${name}`, 'Copy URL', 'Open Playground').then((a) => {
        if (a === 'Copy URL') void vscode.env.clipboard.writeText(`${url}/v2/models/${name}`);
        if (a === 'Open Playground') PlaygroundPanel.show(playground, target, 'remote');
      });
      for (const p of PlaygroundPanel.all) if (p.target.uri.toString() === target.uri.toString()) void p.notifyServing(url);
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
  ];
}
