import assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { EXTENSION_ID, activateModelyard } from './helpers';

interface Contributes {
  commands: { command: string; title: string; category?: string }[];
  views: Record<string, { id: string }[]>;
}

describe('activation', () => {
  it('activates and reports how long activation took', async () => {
    const api = await activateModelyard();
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    assert.equal(ext.isActive, true);
    assert.equal(api.version, (ext.packageJSON as { version: string }).version);
    assert.ok(api.activation.activateMs > 0 && Number.isFinite(api.activation.activateMs));
    assert.ok(api.activation.evaluateMs > 0 && api.activation.hostGapMs >= 0);
  });

  it('registers every contributed command', async () => {
    await activateModelyard();
    const contributes = (vscode.extensions.getExtension(EXTENSION_ID)!.packageJSON as { contributes: Contributes }).contributes;
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = contributes.commands.map((c) => c.command).filter((c) => !registered.has(c));
    assert.deepEqual(missing, [], `contributed but not registered: ${missing.join(', ')}`);
    assert.ok(contributes.commands.length >= 5);
  });

  it('registers no command it does not contribute', async () => {
    await activateModelyard();
    const contributes = (vscode.extensions.getExtension(EXTENSION_ID)!.packageJSON as { contributes: Contributes }).contributes;
    const declared = new Set(contributes.commands.map((c) => c.command));
    // VS Code itself registers these for every contributed view.
    const viewCommand = /^modelyard\.(models|deployments)\.(focus|resetViewLocation|toggleVisibility|removeView|open)$/;
    const ours = (await vscode.commands.getCommands(true)).filter((c) => c.startsWith('modelyard.'));
    const undeclared = ours.filter((c) => !declared.has(c) && !viewCommand.test(c));
    assert.deepEqual(undeclared, []);
  });

  it('"Modelyard: Show Log" opens the log without an error', async () => {
    await activateModelyard();
    await vscode.commands.executeCommand('modelyard.log.show');
  });
});
