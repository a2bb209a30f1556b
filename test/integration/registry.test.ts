import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as vscode from 'vscode';
import type { Node } from '../../src/extension/registry/modelsTree';
import { activateModelyard, waitFor, workspaceRoot } from './helpers';

const git = (...args: string[]) => execFileSync('git', args, { cwd: workspaceRoot(), encoding: 'utf8' }).trim();
// The History suite uses hello_deepa; this one works on the OCR direction classifier.
const MODEL = 'ch_ppocr_mobile_v2-0_cls_infer';
const FILE = 'models/ocr/ch_ppocr_mobile_v2.0_cls_infer.onnx';

async function modelNode(name = MODEL): Promise<Extract<Node, { kind: 'model' }>> {
  const api = await activateModelyard();
  const n = (await api.models.getChildren()).find((x) => x.kind === 'model' && x.model.name === name);
  assert.ok(n && n.kind === 'model', `no model ${name} in the tree`);
  return n;
}

async function item(n: Node): Promise<vscode.TreeItem> {
  return (await activateModelyard()).models.getTreeItem(n);
}

/** Waits until the tree (reloaded after the registry changed) shows what `probe` looks for. */
async function treeShows<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  return waitFor(what, probe, 15_000);
}

describe('Model registry in the tree', () => {
  before(async () => {
    await activateModelyard();
    assert.equal(git('tag', '-l', `${MODEL}*`), '', `the integration workspace should start without tags of ${MODEL}`);
  });

  it('registers a version from the tree: an annotated tag with the message, shown under the model', async () => {
    const r = await vscode.commands.executeCommand<{ tag: string; version: string }>('modelyard.version.register', await modelNode(), { version: 'v1.0.0', message: 'First release' });
    assert.equal(r.tag, `${MODEL}@v1.0.0`);
    assert.equal(git('cat-file', '-t', r.tag), 'tag');
    assert.match(git('cat-file', '-p', r.tag), /First release/);
    const m = await treeShows('v1.0.0 as the latest', async () => {
      const n = await modelNode();
      return String((await item(n)).description).startsWith('v1.0.0') ? n : undefined;
    });
    const api = await activateModelyard();
    const versions = (await api.models.getChildren(m)).filter((x) => x.kind === 'version');
    assert.deepEqual(await Promise.all(versions.map(async (v) => (await item(v)).label)), ['v1.0.0']);
  });

  it('commits a changed model first when asked, then registers the new commit', async () => {
    const file = path.join(workspaceRoot(), FILE);
    fs.appendFileSync(file, Buffer.from([0]));
    const before = git('rev-parse', 'HEAD');
    const r = await vscode.commands.executeCommand<{ tag: string; commit: string }>('modelyard.version.register', await modelNode(), { bump: 'minor', commitChanges: true, message: 'Retrained' });
    assert.notEqual(r.commit, before);
    assert.equal(r.commit, git('rev-parse', 'HEAD'));
    assert.equal(git('status', '--porcelain', '--', file), '');
    assert.equal(r.tag, `${MODEL}@v1.1.0`);
  });

  it('assigns and unassigns stages; the model and version rows show them', async () => {
    const m = await modelNode();
    const api = await activateModelyard();
    const v100 = (await api.models.getChildren(m)).find((x) => x.kind === 'version' && x.version.version === 'v1.0.0')!;
    await vscode.commands.executeCommand('modelyard.stage.assign', v100, { stage: 'prod', message: 'Canary passed' });
    await vscode.commands.executeCommand('modelyard.stage.assign', m, { stage: 'staging', message: '' }); // the latest: v1.1.0; '' = the default message
    const desc = await treeShows('both stages on the model row', async () => {
      const d = String((await item(await modelNode())).description);
      return d.includes('prod: v1.0.0') && d.includes('staging: v1.1.0') ? d : undefined;
    });
    assert.match(desc, /^v1\.1\.0 · prod: v1\.0\.0 · staging: v1\.1\.0 · \d/);
    const rows = (await api.models.getChildren(await modelNode())).filter((x) => x.kind === 'version');
    const labels = await Promise.all(rows.map(async (r) => `${(await item(r)).label} ${(await item(r)).description}`));
    assert.match(labels[0]!, /^v1\.1\.0 staging · \d{4}-\d\d-\d\d · /);
    assert.match(labels[1]!, /^v1\.0\.0 prod · /);
    await vscode.commands.executeCommand('modelyard.stage.unassign', rows[0], { stage: 'staging', message: 'Rolled back' });
    await treeShows('staging gone', async () => (String((await item(await modelNode())).description).includes('staging') ? undefined : true));
    assert.deepEqual(git('tag', '-l', `${MODEL}#*`).split('\n').sort(), [`${MODEL}#prod#1`, `${MODEL}#staging!#3`, `${MODEL}#staging#2`]);
  });

  it('follows tags made outside VS Code, and lists lightweight tags under Problems', async () => {
    const api = await activateModelyard();
    git('tag', '-a', '-m', 'from a terminal', `${MODEL}@v1.2.0`, 'HEAD~1');
    git('tag', `${MODEL}@v9.0.0`); // lightweight: GTO ignores it
    await treeShows('v1.2.0 from the terminal', async () => (String((await item(await modelNode())).description).startsWith('v1.2.0') ? true : undefined));
    const problems = await treeShows('the Problems node', async () => (await api.models.getChildren()).find((x) => x.kind === 'problems'));
    const entries = await api.models.getChildren(problems);
    const texts = await Promise.all(entries.map(async (e) => `${(await item(e)).label}: ${(await item(e)).description}`));
    assert.ok(texts.some((t) => t.startsWith(`${MODEL}@v9.0.0: lightweight tag`)), texts.join('\n'));
  });

  it('opens a version read-only from git, without a checkout', async () => {
    const api = await activateModelyard();
    const v = (await api.models.getChildren(await modelNode())).find((x) => x.kind === 'version' && x.version.version === 'v1.0.0')!;
    assert.ok(v.kind === 'version');
    const uri = await vscode.commands.executeCommand<vscode.Uri>('modelyard.version.open', v);
    assert.equal(uri.scheme, 'modelyard-git');
    const bytes = await vscode.workspace.fs.readFile(uri);
    const expected = execFileSync('git', ['cat-file', 'blob', `${v.version.commit}:${FILE}`], { cwd: workspaceRoot() });
    assert.equal(Buffer.compare(Buffer.from(bytes), expected), 0);
    await assert.rejects(Promise.resolve(vscode.workspace.fs.writeFile(uri, new Uint8Array([1]))));
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('copies a version’s tag', async () => {
    const api = await activateModelyard();
    const v = (await api.models.getChildren(await modelNode())).find((x) => x.kind === 'version' && x.version.version === 'v1.0.0')!;
    assert.equal(await vscode.commands.executeCommand('modelyard.version.copyTag', v), `${MODEL}@v1.0.0`);
    assert.equal(await vscode.env.clipboard.readText(), `${MODEL}@v1.0.0`);
  });

  it('lists unregistered commits of a model and registers one of them', async () => {
    const api = await activateModelyard();
    const commits = (await api.models.getChildren(await modelNode('silero_vad_v5'))).find((x) => x.kind === 'commits')!;
    const list = await api.models.getChildren(commits);
    assert.equal(list.length, 1);
    const r = await vscode.commands.executeCommand<{ tag: string }>('modelyard.version.register', list[0], { version: 'v5.0.0', message: 'From history' });
    assert.equal(r.tag, 'silero_vad_v5@v5.0.0');
  });

  it('deregisters a version and deprecates a model, by adding tags', async () => {
    const api = await activateModelyard();
    const before = git('for-each-ref', '--format=%(refname) %(objectname)', 'refs/tags').split('\n');
    const v = (await api.models.getChildren(await modelNode())).find((x) => x.kind === 'version' && x.version.version === 'v1.2.0')!;
    await vscode.commands.executeCommand('modelyard.version.deregister', v, { confirm: true, message: 'Bad calibration' });
    await treeShows('v1.1.0 latest again', async () => (String((await item(await modelNode())).description).startsWith('v1.1.0') ? true : undefined));
    await vscode.commands.executeCommand('modelyard.model.deprecate', await modelNode('silero_vad_v5'), { confirm: true, message: 'Replaced' });
    const vad = await treeShows('the deprecated model', async () => {
      const d = String((await item(await modelNode('silero_vad_v5'))).description);
      return d.startsWith('deprecated') ? d : undefined;
    });
    assert.match(vad, /^deprecated · v5\.0\.0/);
    const after = git('for-each-ref', '--format=%(refname) %(objectname)', 'refs/tags').split('\n');
    for (const line of before) assert.ok(after.includes(line), `tag moved or deleted: ${line}`);
  });

  it('refuses a second registration of an existing version with a clear message, and writes nothing', async () => {
    const tags = git('tag', '-l');
    const r = await vscode.commands.executeCommand('modelyard.version.register', await modelNode(), { version: 'v1.0.0', message: 'again' });
    assert.equal(r, undefined);
    assert.equal(git('tag', '-l'), tags);
  });

  it('shows a model’s history from the tree, from the shared registry', async () => {
    const panel = await vscode.commands.executeCommand<import('../../src/extension/registry/historyPanel').HistoryPanel>('modelyard.model.history', await modelNode());
    assert.ok(panel, 'the command returns its panel');
    const view = await waitFor('the history view', () => panel.view, 30_000);
    assert.equal(view.model.name, MODEL);
    const actions = view.events.map((e) => `${e.action} ${e.version ?? ''}${e.stage ? ` ${e.stage}` : ''}`.trim());
    // Newest first. The tag made from a terminal carries the clock's time, so only the oldest event is certain here.
    assert.equal(actions.at(-1), 'register v1.0.0');
    for (const a of ['register v1.1.0', 'register v1.2.0', 'assign v1.0.0 prod', 'assign v1.1.0 staging', 'unassign v1.1.0 staging', 'deregister v1.2.0']) {
      assert.ok(actions.includes(a), `${a} missing from: ${actions.join(', ')}`);
    }
    panel.panel.dispose();
  });

  it('pushes registry tags to a remote', async () => {
    const bare = fs.mkdtempSync(path.join(os.tmpdir(), 'modelyard-remote-'));
    execFileSync('git', ['init', '-q', '--bare', bare]);
    git('remote', 'add', 'origin', bare);
    try {
      const n = await vscode.commands.executeCommand<number>('modelyard.tags.push', undefined, { remote: 'origin' });
      const remoteTags = execFileSync('git', ['tag', '-l'], { cwd: bare, encoding: 'utf8' }).trim().split('\n');
      assert.equal(remoteTags.length, n);
      assert.ok(remoteTags.includes(`${MODEL}@v1.0.0`) && remoteTags.includes(`${MODEL}#prod#1`));
      assert.ok(!remoteTags.includes(`${MODEL}@v9.0.0`), 'a lightweight non-registry tag was pushed');
    } finally {
      git('remote', 'remove', 'origin');
      fs.rmSync(bare, { recursive: true, force: true });
    }
  });
});
