// e2e: the Environment panel (onnxruntime-node as the VSIX ships it, loaded by the inference worker) and the log.
import assert from 'node:assert/strict';
import path from 'node:path';
import { it } from 'node:test';
import { RESULTS, findFrame, ortVersion, runCommand, type Workbench } from './support';

/** Show Environment: onnxruntime-node loaded from the VSIX by the inference worker, git and the repository. */
export function environmentPanel(wb: Workbench): void {
  it('Show Environment shows the VSIX onnxruntime-node (loaded by the inference worker), git and the repository', async () => {
    const { page, folder, server, consoleProblems } = wb;
    await runCommand(page, 'Modelyard: Show Environment');
    // The report table, once gathered: its onnxruntime-node row shows either the version or why loading failed.
    const frame = await findFrame(page, 'tr[data-part="onnxruntime-node"]', 30_000);
    const ortRow = frame.locator('tr[data-part="onnxruntime-node"]');
    const failure = await ortRow.locator('.error').count();
    assert.equal(failure, 0, `onnxruntime-node did not load: ${failure ? await ortRow.locator('.error').innerText() : ''}`);
    const ort = frame.locator('#ort-version');
    await ort.waitFor({ timeout: 10_000 });
    assert.equal((await ort.textContent())?.trim(), ortVersion);

    // The binding was loaded from the installed VSIX, not from the repository's node_modules.
    const location = (await ortRow.locator('.path').textContent()) ?? '';
    assert.ok(location.startsWith(server.dirs.extensions), `onnxruntime-node comes from the installed extension: ${location}`);
    assert.ok((await ortRow.locator('vscode-badge').allTextContents()).some((t) => t.trim() === 'cpu'), 'the CPU execution provider is listed');

    const gitRow = frame.locator('tr[data-part="git"]');
    assert.match((await gitRow.innerText()).trim(), /\d+\.\d+/, 'a git version');
    assert.equal(await gitRow.locator('vscode-icon.ok').count(), 1, 'git is marked available');
    const repos = frame.locator('tr[data-part="Repositories"]');
    assert.ok((await repos.innerText()).includes(folder), `the workspace repository ${folder} is listed`);
    assert.ok((await repos.locator('vscode-badge').allTextContents()).some((t) => t.trim() === 'main'), 'its branch is main');

    // The codicon font loaded under the panel's CSP: <vscode-icon> draws glyphs, not empty boxes.
    await frame.waitForFunction(() => document.fonts.check('16px codicon'), undefined, { timeout: 10_000 });
    const fontStatus = await frame.evaluate(async () => {
      const { fonts } = document;
      await fonts.ready;
      return [...fonts].filter((f) => /codicon/i.test(f.family)).map((f) => f.status);
    });
    assert.ok(fontStatus.includes('loaded'), `the codicon font is loaded in the webview: ${JSON.stringify(fontStatus)}`);
    const iconWidth = await frame.locator('tr[data-part="git"] vscode-icon').evaluate((e) => e.getBoundingClientRect().width);
    assert.ok(iconWidth >= 12, `status icons have a size (${iconWidth}px)`);
    // The buttons are rendered custom elements, not unknown tags.
    const defined = await frame.evaluate(() =>
      ['vscode-button', 'vscode-badge', 'vscode-icon'].filter((t) => !customElements.get(t)),
    );
    assert.deepEqual(defined, [], 'the vscode-elements are defined');
    assert.equal(await frame.locator('vscode-button').count(), 3);

    await page.waitForTimeout(300); // let the last paint land
    await page.screenshot({ path: path.join(RESULTS, 'e2e-environment.png') });
    assert.deepEqual(consoleProblems, [], 'no CSP violations in the console');
  });
}

/** Show Log: the Modelyard output channel. */
export function showLog(wb: Workbench): void {
  it('Show Log opens the Modelyard output with the activation line', async () => {
    const { page } = wb;
    await runCommand(page, 'Modelyard: Show Log');
    const output = page.locator('.part.panel .monaco-editor .view-lines');
    await page.waitForFunction(
      () => {
        const el = document.querySelector<HTMLElement>('.part.panel .monaco-editor .view-lines');
        // Monaco renders spaces as no-break spaces.
        return !!el && /activated in/.test(el.innerText.replace(/\u00a0/g, ' '));
      },
      undefined,
      { timeout: 15_000 },
    );
    const text = (await output.innerText()).replace(/\u00a0/g, ' ');
    assert.match(text, /Modelyard/);
    assert.match(text, /Modelyard \S+ activated in [\d.]+ ms/);
    // The output view shows the Modelyard channel, not another one that happens to match.
    const channel = await page.locator('.part.panel .monaco-select-box, .part.panel select').evaluateAll((els) =>
      els.map((e) => (e instanceof HTMLSelectElement ? e.value : e.textContent)),
    );
    assert.ok(channel.some((c) => /Modelyard/.test(String(c))), `the Modelyard channel is selected: ${JSON.stringify(channel)}`);
  });
}
