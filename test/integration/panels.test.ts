// What every panel gets from ContractPanel: one panel per model (revealed, not duplicated), correlated requests from
// the webview checked against the contract, and restoring after a window reload from the state the webview saved.
import assert from 'node:assert/strict';
import path from 'node:path';
import * as vscode from 'vscode';
import type { ResponseEnvelope } from '../../src/shared/contract';
import type { PlaygroundPanel } from '../../src/extension/playground/playgroundPanel';
import type { QuantizePanel } from '../../src/extension/quantize/quantizePanel';
import { activateModelyard, waitFor, workspaceRoot } from './helpers';

const WAKE = 'models/wakeword/hello_deepa.onnx';

describe('Panels: one per model, requests, restored after a reload', function () {
  this.timeout(60_000);
  afterEach(() => vscode.commands.executeCommand('workbench.action.closeAllEditors'));

  it('reveals the open panel of a model instead of opening a second one', async () => {
    const uri = vscode.Uri.file(path.join(workspaceRoot(), WAKE));
    const a = await vscode.commands.executeCommand<PlaygroundPanel>('modelyard.playground.open', uri);
    const b = await vscode.commands.executeCommand<PlaygroundPanel>('modelyard.playground.open', uri, 'benchmark');
    assert.ok(a);
    assert.equal(b, a);
    const api = await activateModelyard();
    assert.equal(api.playgrounds().filter((p) => p.target.uri.toString() === uri.toString()).length, 1);
    a.panel.dispose();
    assert.equal(api.playgrounds().some((p) => p === a), false, 'a closed panel is forgotten');
  });

  it('answers a request of the contract, refuses bad parameters with a message, and drops an unknown method', async () => {
    const uri = vscode.Uri.file(path.join(workspaceRoot(), WAKE));
    const panel = (await vscode.commands.executeCommand<QuantizePanel>('modelyard.model.quantize', uri))!;
    const answers: ResponseEnvelope[] = [];
    const sub = panel.onDidRespond((r) => answers.push(r));
    const dropped = panel.droppedMessages;
    await panel.receive({ type: 'request', id: 7, method: 'deleteEverything', params: {} });
    assert.equal(panel.droppedMessages, dropped + 1);
    assert.equal(answers.length, 0, 'no answer to a method the contract does not have');
    await panel.receive({ type: 'request', id: 8, method: 'pickCalibration', params: { kind: 'network-share' } });
    assert.equal(answers.length, 1);
    const a = answers[0]!;
    assert.equal(a.id, 8);
    assert.ok(!a.ok && /invalid request pickCalibration: kind/.test(a.error.message), JSON.stringify(a));
    await panel.receive({ type: 'request', id: 'nine', method: 'pickCalibration', params: { kind: 'folder' } });
    assert.equal(panel.droppedMessages, dropped + 2, 'a malformed envelope is dropped');
    sub.dispose();
  });

  for (const [viewType, restore, all] of [
    ['modelyard.playground', (uri: string) => ({ uri, tab: 'benchmark' }), (api: Awaited<ReturnType<typeof activateModelyard>>) => api.playgrounds()],
    ['modelyard.quantize', (uri: string) => ({ uri }), (api: Awaited<ReturnType<typeof activateModelyard>>) => api.quantizePanels()],
  ] as const) {
    it(`restores a ${viewType} panel from its saved state, and explains one that cannot be restored`, async () => {
      const api = await activateModelyard();
      const uri = vscode.Uri.file(path.join(workspaceRoot(), WAKE)).toString();
      const panel = vscode.window.createWebviewPanel(viewType, 'restored', vscode.ViewColumn.Active, { enableScripts: true });
      await api.restorePanel(viewType, panel, { __v: 1, data: undefined, restore: restore(uri) });
      const revived = await waitFor('the restored panel', () => (all(api) as (PlaygroundPanel | QuantizePanel)[]).find((p) => p.panel === panel));
      assert.equal(revived.target.uri.toString(), uri);
      assert.match(panel.title, /hello_deepa\.onnx/);
      assert.match(panel.webview.html, /data-restore="/, 'the page carries what restores it');
      revived.dispose();

      const bad = vscode.window.createWebviewPanel(viewType, 'broken', vscode.ViewColumn.Active, { enableScripts: true });
      await waitFor('the panel to open', () => (bad.visible ? true : undefined));
      await api.restorePanel(viewType, bad, { __v: 1, data: {} });
      assert.match(bad.webview.html, /could not be restored after the reload[\s\S]*Close it, and /);
      assert.equal((all(api) as { panel: vscode.WebviewPanel }[]).some((p) => p.panel === bad), false);
      // Closing a webview in the same moment its page is replaced races the workbench; a person closes it later.
      await new Promise((r) => setTimeout(r, 1000));
      bad.dispose();
    });
  }
});
