import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import manifest from '../fixtures/models.json';
import { activateModelyard, waitFor, workspaceRoot } from './helpers';

import type { Node } from '../../src/extension/registry/modelsTree';

/** The model rows of the tree as a user sees them: name, description, and the file behind the row. */
async function listed(): Promise<{ label: string; description: string; uri: string; node: Node }[]> {
  const api = await activateModelyard();
  const nodes = (await api.models.getChildren()).filter((n) => n.kind === 'model');
  return nodes.map((n) => {
    const item = api.models.getTreeItem(n);
    const file = n.kind === 'model' && n.model.entry ? path.join(n.root, n.model.entry.path) : '';
    return { label: String(item.label), description: String(item.description ?? ''), uri: file, node: n };
  });
}

const stem = (f: string) => f.replace(/\.onnx$/, '').replace(/\./g, '-');

describe('Models view', () => {
  it('lists every fixture model of the workspace with its real size', async () => {
    const items = await listed();
    const expected = manifest.models.map((m) => stem(m.file)).sort();
    assert.deepEqual(items.map((i) => i.label).sort(), expected);
    for (const i of items) {
      const size = fs.statSync(i.uri).size;
      assert.ok(size > 100_000, `${i.label} is ${size} bytes: not a real model`);
      const kb = size / 1024;
      const shown = kb >= 1024 ? `${(kb / 1024).toFixed(kb / 1024 >= 10 ? 1 : 2)} MB` : `${kb.toFixed(kb >= 100 ? 0 : 1)} KB`;
      assert.ok(i.description.endsWith(shown), `${i.label}: description '${i.description}' does not end with '${shown}'`);
    }
  });

  it('skips models under node_modules', async () => {
    const root = workspaceRoot();
    assert.ok(fs.existsSync(path.join(root, 'node_modules', 'dep', 'ignored.onnx')), 'fixture workspace lacks the node_modules decoy');
    const items = await listed();
    assert.ok(!items.some((i) => i.uri.includes(`${path.sep}node_modules${path.sep}`)));
  });

  it('refreshes by itself when a model file is added or removed', async () => {
    const root = workspaceRoot();
    const added = path.join(root, 'models', 'copy-of-wakeword.onnx');
    fs.copyFileSync(path.join(root, 'models', 'wakeword', 'hello_deepa.onnx'), added);
    try {
      await waitFor('the new model in the tree', async () => ((await listed()).some((i) => i.label === 'copy-of-wakeword') ? true : undefined));
    } finally {
      fs.rmSync(added);
    }
    await waitFor('the removed model to leave the tree', async () => ((await listed()).some((i) => i.label === 'copy-of-wakeword') ? undefined : true));
  });

  it('names models that share a file name by their paths', async () => {
    const root = workspaceRoot();
    const twin = path.join(root, 'models', 'twin', 'hello_deepa.onnx');
    fs.mkdirSync(path.dirname(twin), { recursive: true });
    fs.copyFileSync(path.join(root, 'models', 'wakeword', 'hello_deepa.onnx'), twin);
    try {
      const rows = await waitFor('both hello_deepa rows', async () => {
        const r = (await listed()).filter((i) => i.label.endsWith('hello_deepa'));
        return r.length === 2 ? r : undefined;
      });
      assert.deepEqual(rows.map((r) => r.label).sort(), ['models/twin/hello_deepa', 'models/wakeword/hello_deepa']);
    } finally {
      fs.rmSync(path.dirname(twin), { recursive: true });
    }
    await waitFor('the twin to leave the tree', async () => ((await listed()).some((i) => i.label === 'hello_deepa') ? true : undefined));
  });

  it('opens a model from the tree with the Open Model command', async () => {
    const [first] = await listed();
    assert.ok(first);
    await vscode.commands.executeCommand('modelyard.model.open', first.node);
    const tab = await waitFor('a tab for the model', () =>
      vscode.window.tabGroups.activeTabGroup.activeTab?.label.endsWith('.onnx') ? vscode.window.tabGroups.activeTabGroup.activeTab : undefined,
    );
    assert.ok(tab.label.endsWith('.onnx'));
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });
});
