import assert from 'node:assert/strict';
import path from 'node:path';
import * as vscode from 'vscode';
import type { EnvReport } from '../../src/core/env/report';
import { activateModelyard, waitFor, workspaceRoot } from './helpers';

describe('Environment panel', () => {
  after(() => vscode.commands.executeCommand('workbench.action.closeAllEditors'));

  it('opens and reports onnxruntime-node as the inference worker loaded it (never this extension host)', async () => {
    const api = await activateModelyard();
    await vscode.commands.executeCommand('modelyard.environment.show');
    const panel = await waitFor('the Environment panel', () => api.environmentPanel());
    assert.equal(panel.panel.visible, true);
    // The host sends the report only when the webview's script has run and said 'ready': a report here proves
    // the page loaded under its CSP and the messages crossed both ways.
    const report: EnvReport = await waitFor('the report', () => panel.report, 60_000);
    assert.ok(report.onnxruntime.ok, `onnxruntime-node failed to load: ${!report.onnxruntime.ok && report.onnxruntime.error}`);
    // The version the host loaded is the one installed beside the extension.
    const ext = vscode.extensions.getExtension('modelyard.modelyard')!;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pkg = require(path.join(ext.extensionPath, 'node_modules', 'onnxruntime-node', 'package.json')) as { version: string };
    assert.equal(report.onnxruntime.value.version, pkg.version);
    assert.equal(report.onnxruntime.value.location, require.resolve(path.join(ext.extensionPath, 'node_modules', 'onnxruntime-node')));
    assert.ok(!Object.keys(require.cache).some((k) => k.includes(`${path.sep}onnxruntime-node${path.sep}`) && !k.endsWith('package.json')), 'not loaded in the extension host');
    assert.ok(report.onnxruntime.value.executionProviders.some((p) => p.name === 'cpu'));
    assert.equal(report.node.version, process.versions.node);
    assert.equal(report.host.appVersion, vscode.version);
    assert.equal(report.modelyard.version, api.version);
  });

  it('finds the git repository of the workspace', async () => {
    const api = await activateModelyard();
    const report = api.environmentPanel()?.report;
    assert.ok(report?.git.ok, 'git should be available');
    assert.ok(report.repositories.ok);
    const roots = report.repositories.value.map((r) => r.root);
    assert.ok(roots.includes(workspaceRoot()), `repositories ${JSON.stringify(roots)} lack ${workspaceRoot()}`);
  });

  it('shows one panel at a time and refreshes on request', async () => {
    const api = await activateModelyard();
    const first = api.environmentPanel();
    await vscode.commands.executeCommand('modelyard.environment.show');
    assert.equal(api.environmentPanel(), first);
  });

  it('survives a closed panel and opens again', async () => {
    const api = await activateModelyard();
    api.environmentPanel()?.panel.dispose();
    await waitFor('the panel to close', () => (api.environmentPanel() ? undefined : true));
    await vscode.commands.executeCommand('modelyard.environment.show');
    const again = await waitFor('a new panel', () => api.environmentPanel());
    const report = await waitFor('a new report', () => again.report, 60_000);
    assert.ok(report.onnxruntime.ok);
  });
});
