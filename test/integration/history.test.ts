import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as vscode from 'vscode';
import { describeEvent, type HistoryView } from '../../src/core/registry/history';
import { assign, register, unassign } from '../../src/core/registry/write';
import { HistoryPanel, type HistoryContext } from '../../src/extension/registry/historyPanel';
import { EXTENSION_ID, waitFor, workspaceRoot } from './helpers';

const MODEL = 'hello_deepa'; // models/wakeword/hello_deepa.onnx

/** The panel's history once it has one; while waiting, a failure names what the panel showed instead. */
function viewOf(panel: HistoryPanel): () => HistoryView | undefined {
  return () => {
    if (!panel.view) throw new Error(panel.error ? `the panel shows an error: ${panel.error.message}` : `no history yet (panel visible: ${panel.panel.visible})`);
    return panel.view;
  };
}

describe('History panel', () => {
  let ctx: HistoryContext;
  let root: string;
  const created: string[] = [];
  const channels: vscode.Disposable[] = [];

  before(async () => {
    root = workspaceRoot();
    const log = vscode.window.createOutputChannel('Modelyard history test', { log: true });
    channels.push(log);
    ctx = { extensionUri: vscode.extensions.getExtension(EXTENSION_ID)!.extensionUri, log };
    created.push((await register(root, MODEL, { version: 'v1.0.0', message: 'First wake word model', log })).tag);
    created.push((await assign(root, MODEL, 'staging', { message: 'Try it on the team first', log })).tag);
  });

  after(async () => {
    // Closing the editors closes the panels; disposing them one by one races the workbench activating the next.
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    for (const p of HistoryPanel.all()) p.dispose();
    // Leave the shared workspace as the other suites expect it: without these registry tags.
    if (created.length) execFileSync('git', ['tag', '-d', ...created], { cwd: root });
    for (const c of channels) c.dispose();
  });

  it('loads under its CSP and shows the events newest first, with who, what and why', async () => {
    const panel = HistoryPanel.show(ctx, { root, model: MODEL });
    assert.equal(panel.panel.title, `History: ${MODEL}`);
    // The host reads the registry only once the page's script ran and said 'ready': a view proves the page
    // loaded under its CSP and that messages crossed both ways.
    const view: HistoryView = await waitFor('the history', viewOf(panel), 30_000);
    assert.equal(view.model.name, MODEL);
    assert.equal(view.model.path, 'models/wakeword/hello_deepa.onnx');
    assert.equal(view.model.latest, 'v1.0.0');
    assert.deepEqual(view.model.stages, { staging: 'v1.0.0' });
    assert.deepEqual(view.events.map(describeEvent), ['assigned staging to v1.0.0', 'registered v1.0.0']);
    assert.deepEqual(view.events.map((e) => e.tag), [...created].reverse());
    assert.deepEqual(view.events.map((e) => e.message), ['Try it on the team first', 'First wake word model']);
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    assert.ok(view.events.every((e) => e.commit === head));
    const who = execFileSync('git', ['var', 'GIT_COMMITTER_IDENT'], { cwd: root, encoding: 'utf8' });
    assert.ok(who.startsWith(`${view.events[0]!.author} <${view.events[0]!.authorEmail}>`), `tagger ${who}`);
    assert.equal(panel.droppedMessages, 0, 'every message from the page matched the contract');
  });

  it('reveals the same panel for the same model, and reloads when the tags change', async () => {
    const panel = HistoryPanel.show(ctx, { root, model: MODEL });
    assert.equal(HistoryPanel.show(ctx, { root, model: MODEL }), panel);
    assert.equal(HistoryPanel.all().length, 1);
    created.push((await unassign(root, MODEL, 'staging', { message: 'Too many false wakes', log: ctx.log })).tag);
    const rendered = new Promise<HistoryView | undefined>((resolve) => {
      const d = panel.onDidRender((r) => {
        d.dispose();
        resolve(r.ok ? r.view : undefined);
      });
    });
    await panel.reload();
    const view = await rendered;
    assert.ok(view, `the reload failed: ${panel.error?.message}`);
    assert.deepEqual(view.events.map((e) => e.action), ['unassign', 'assign', 'register']);
    assert.deepEqual(view.model.stages, {});
    assert.equal(panel.view, view);
  });

  it('copies a tag of the history, and nothing else', async () => {
    const panel = HistoryPanel.show(ctx, { root, model: MODEL });
    await panel.copyTag(created[0]!);
    assert.equal(await vscode.env.clipboard.readText(), created[0]);
    await panel.copyTag('not-a-tag-of-this-model@v1.0.0');
    assert.equal(await vscode.env.clipboard.readText(), created[0]);
  });

  it('opens a commit of the history, and ignores one that is not', async () => {
    const panel = HistoryPanel.show(ctx, { root, model: MODEL });
    const commit = panel.view!.events[0]!.commit;
    await panel.openCommit(commit);
    const tab = await waitFor('a tab for the commit', () => {
      const t = vscode.window.tabGroups.all.flatMap((g) => g.tabs).find((x) => x.label.includes(commit.slice(0, 7)));
      return t;
    });
    // Either the git extension's commit view (a multi-diff editor) or the read-only `git show --stat` document.
    const input = tab.input;
    const fallback = input instanceof vscode.TabInputText && input.uri.scheme === 'modelyard-commit';
    assert.ok(fallback || !(input instanceof vscode.TabInputText), `unexpected tab ${tab.label}`);
    if (fallback) {
      const doc = await vscode.workspace.openTextDocument(input.uri);
      assert.match(doc.getText(), new RegExp(`^commit ${commit}`));
      assert.match(doc.getText(), /hello_deepa\.onnx/);
    }
    const before = vscode.window.tabGroups.all.flatMap((g) => g.tabs).length;
    await panel.openCommit('f'.repeat(40));
    assert.equal(vscode.window.tabGroups.all.flatMap((g) => g.tabs).length, before);
  });

  it("shows a commit as a read-only `git show --stat` document when the git extension does not have the repository open", async () => {
    const other = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-history-'));
    try {
      const git = (...args: string[]) => execFileSync('git', args, { cwd: other, encoding: 'utf8' }).trim();
      git('init', '-q', '-b', 'main');
      fs.mkdirSync(path.join(other, 'models'));
      fs.writeFileSync(path.join(other, 'models', 'vad.onnx'), Buffer.alloc(2048, 7));
      git('add', '-A');
      git('commit', '-q', '-m', 'Add the voice activity detector');
      await register(other, 'vad', { version: 'v0.1.0', log: ctx.log });
      const panel = HistoryPanel.show(ctx, { root: other, model: 'vad' });
      const view = await waitFor('the history of the other repository', viewOf(panel), 30_000);
      const commit = view.events[0]!.commit;
      await panel.openCommit(commit);
      const tab = await waitFor('the git show document', () =>
        vscode.window.tabGroups.all.flatMap((g) => g.tabs).find((t) => t.input instanceof vscode.TabInputText && t.input.uri.scheme === 'modelyard-commit' && t.label.includes(commit.slice(0, 8))),
      );
      const doc = await vscode.workspace.openTextDocument((tab.input as vscode.TabInputText).uri);
      assert.match(doc.getText(), new RegExp(`^commit ${commit}`));
      assert.match(doc.getText(), /Add the voice activity detector/);
      assert.match(doc.getText(), /models\/vad\.onnx/);
      panel.dispose();
      await vscode.window.tabGroups.close(tab);
    } finally {
      fs.rmSync(other, { recursive: true, force: true });
    }
  });

  it('shows a model that is not there as a message with the way out, not a crash', async () => {
    const panel = HistoryPanel.show(ctx, { root, model: 'no_such_model' });
    assert.equal(panel.panel.title, 'History: no_such_model');
    const error = await waitFor('the error', () => panel.error, 30_000);
    assert.match(error.message, /no model named 'no_such_model'/);
    assert.match(error.hint ?? '', /Models view/);
    assert.equal(panel.view, undefined);
    assert.equal(HistoryPanel.get({ root, model: 'no_such_model' }), panel, 'one panel per model');
    assert.notEqual(HistoryPanel.get({ root, model: MODEL }), panel);
    panel.dispose();
  });

  it('restores a panel from its saved state, and explains one whose state cannot be read', async () => {
    const opts = { enableScripts: true };
    const good = vscode.window.createWebviewPanel('modelyard.history', 'restored', vscode.ViewColumn.Active, opts);
    const revived = HistoryPanel.revive(good, ctx, { __v: 1, data: { target: { root, model: 'silero_vad_v5' } } });
    assert.ok(revived);
    assert.equal(revived.panel.title, 'History: silero_vad_v5');
    const view = await waitFor('the restored history', viewOf(revived), 30_000);
    assert.equal(view.model.path, 'models/vad/silero_vad_v5.onnx');
    revived.dispose();

    const bad = vscode.window.createWebviewPanel('modelyard.history', 'broken', vscode.ViewColumn.Active, opts);
    // As the serializer gets it: a panel the workbench has finished opening.
    await waitFor('the panel to open', () => (bad.visible ? true : undefined));
    assert.equal(HistoryPanel.revive(bad, ctx, { __v: 1, data: {} }), undefined);
    assert.equal(bad.title, 'History');
    assert.match(bad.webview.html, /could not be restored[\s\S]*open the model's history again from the Models view/);
    assert.equal(HistoryPanel.all().some((p) => p.panel === bad), false);
    // Closing a webview in the same moment its page is replaced races the workbench ("OverlayWebview has been
    // disposed" in the console); a person closes it much later.
    await new Promise((r) => setTimeout(r, 1000));
    bad.dispose();
  });
});
