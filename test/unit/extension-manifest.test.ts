import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

const root = path.resolve(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const contributes = pkg.contributes;

describe('package.json contributions', () => {
  it('never activates on *', () => {
    assert.ok(!pkg.activationEvents.includes('*'));
    assert.ok(!pkg.activationEvents.includes('onStartupFinished'));
  });

  it('names every command modelyard.<noun>.<verb> with category Modelyard', () => {
    for (const c of contributes.commands) {
      assert.match(c.command, /^modelyard\.[a-z][a-zA-Z]*\.[a-z][a-zA-Z]*$/, c.command);
      assert.equal(c.category, 'Modelyard', c.command);
      assert.ok(c.title.length > 0);
    }
  });

  it('refers in menus only to declared commands and declared views', () => {
    const commands = new Set(contributes.commands.map((c: { command: string }) => c.command));
    const views = new Set(Object.values(contributes.views).flat().map((v) => (v as { id: string }).id));
    for (const [menu, items] of Object.entries(contributes.menus)) {
      for (const item of items as { command: string; when?: string }[]) {
        assert.ok(commands.has(item.command), `${menu} refers to undeclared ${item.command}`);
        for (const [, view] of (item.when ?? '').matchAll(/view == ([\w.]+)/g)) assert.ok(views.has(view ?? ''), `${menu}: unknown view ${view}`);
      }
    }
    for (const w of contributes.viewsWelcome) assert.ok(views.has(w.view), w.view);
  });

  it('keeps onnxruntime-node the only runtime dependency (everything else is bundled)', () => {
    assert.deepEqual(Object.keys(pkg.dependencies), ['onnxruntime-node']);
  });

  it('tells npm to skip onnxruntime-node’s download of CUDA files', () => {
    assert.match(fs.readFileSync(path.join(root, '.npmrc'), 'utf8'), /^onnxruntime-node-install=skip$/m);
  });

  it('has the icons it names', () => {
    for (const c of contributes.viewsContainers.activitybar) assert.ok(fs.existsSync(path.join(root, c.icon)), c.icon);
  });
});
