// e2e: Quantize Model… on a registered version, its report, and one-click registration of the result; the input
// shapes of a model with open dims (the voice activity detector), set in the panel.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { it } from 'node:test';
import { RESULTS, escapeRe, findFrame, modelsTree, showModels, type Workbench } from './support';

/** Quantize Model… with Auto on a registered version, the report, and one-click registration. */
export function quantizeAuto(wb: Workbench): void {
  it('quantizes a version from the Models tree with Auto, reads the report, registers it in one click, and sees the new model', async () => {
    const { page, folder } = wb;
    await showModels(page);
    const { row } = modelsTree(page);
    if (!(await row(/^v1\.0\.0$/).isVisible())) await row(/^hello_deepa$/).click();
    await row(/^v1\.0\.0$/).click();
    await row(/^v1\.0\.0$/).click({ button: 'right' });
    const item = page.getByRole('menuitem', { name: 'Quantize Model…' });
    await item.waitFor({ timeout: 10_000 });
    await item.hover();
    await item.click();
    const q = await findFrame(page, 'vscode-button.start', 30_000);
    assert.match(await q.locator('h1').innerText(), /Quantize hello_deepa@v1\.0\.0/);
    await q.locator('vscode-button.start').click();
    await q.locator('.verdict').waitFor({ timeout: 240_000 });
    const verdict = await q.locator('.verdict').innerText();
    assert.match(verdict, /Passes the fidelity gate/, verdict);
    assert.match(verdict, /Auto chose/);
    assert.ok((await q.locator('table.auto tbody tr').count()) >= 3, 'the forms Auto tried are listed');
    assert.match(await q.locator('table.decisions').innerText(), /Gemm/);
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-quantize-report.png') });

    // One click: the quantized model becomes a new artifact, first version v1.0.0 like its source.
    const name = (await q.locator('vscode-textfield.register-name').evaluate((e) => (e as unknown as { value: string }).value)).trim();
    assert.match(name, /^hello_deepa-(int8|int4|int8w|fp16)$/);
    await q.locator('vscode-button.register-button').click();
    await q.locator('.register.done').waitFor({ timeout: 30_000 });
    assert.match(await q.locator('.register.done').innerText(), new RegExp(`Registered ${escapeRe(name)}@v1\\.0\\.0`));
    const tagMessage = execFileSync('git', ['tag', '-l', '--format=%(contents)', `${name}@v1.0.0`], { cwd: folder, encoding: 'utf8' });
    assert.match(tagMessage, /quantized-from: hello_deepa@v1\.0\.0/);
    await q.locator('.register.done').scrollIntoViewIfNeeded();
    await row(new RegExp(`^${escapeRe(name)}$`)).waitFor({ timeout: 20_000 });
    await row(new RegExp(`^${escapeRe(name)}$`)).click();
    await page.waitForFunction(
      (n) => {
        const rows = [...document.querySelectorAll('.part.sidebar .monaco-list-row')];
        const i = rows.findIndex((r) => r.querySelector('.label-name')?.textContent === n);
        return i >= 0 && rows.slice(i + 1, i + 4).some((r) => r.querySelector('.label-name')?.textContent === 'v1.0.0');
      },
      name,
      { timeout: 20_000 },
    );
    await page.mouse.move(900, 700);
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-quantize-registered.png') });
  });
}

/** Quantize Model… on the VAD from the Models tree: its open input dims shown with their guesses, one set by hand. */
export function quantizeInputShapes(wb: Workbench): void {
  it('shows the guessed sizes of a model\'s open input dims in the Quantize panel, takes one set by hand, and quantizes with it', async () => {
    const { page } = wb;
    await showModels(page);
    const { row } = modelsTree(page);
    await row(/^silero_vad_v5$/).click();
    await row(/^silero_vad_v5$/).click({ button: 'right' });
    const item = page.getByRole('menuitem', { name: 'Quantize Model…' });
    await item.waitFor({ timeout: 10_000 });
    await item.hover();
    await item.click();
    const q = await findFrame(page, 'vscode-textfield.shape', 30_000);
    assert.match(await q.locator('h1').innerText(), /Quantize silero_vad_v5/);
    const shapes = await q.locator('.shapes').innerText();
    assert.match(shapes, /input float32 \[\?, \?\]/);
    assert.match(shapes, /Empty: 1,512 \(guessed: dim 1 = 512 \(audio\); other usual sizes are tried/);
    assert.match(shapes, /state float32 \[2, \?, 128\]/);
    // Static int8, and 576 samples (the 64 of context silero's own wrapper adds) for the random inputs.
    await q.locator('vscode-single-select.mode-select').evaluate((e) => {
      (e as unknown as { value: string }).value = 'int8-static';
      e.dispatchEvent(new Event('change'));
    });
    await q.locator('vscode-textfield[aria-label="Shape of input"]').evaluate((e) => {
      (e as unknown as { value: string }).value = '1, 576';
      e.dispatchEvent(new Event('change'));
    });
    await q.locator('vscode-button.start').click();
    await q.locator('.verdict, .error').first().waitFor({ timeout: 240_000 });
    if (await q.locator('.error').isVisible()) {
      await page.screenshot({ path: path.join(RESULTS, 'e2e-quantize-shapes-error.png') });
      assert.fail(`the run failed: ${await q.locator('.error').innerText()}`);
    }
    const report = await q.locator('body').innerText();
    assert.match(report, /Passes the fidelity gate/, report.slice(0, 2000));
    // The shape given was used: only the state's open dim is left to guess.
    assert.match(report, /open dims were guessed: state\[1\] = 1/);
    assert.doesNotMatch(report, /input\[1\] = /);
    assert.match(await q.locator('table.decisions').innerText(), /Conv/);
    await q.locator('.shapes').scrollIntoViewIfNeeded();
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-quantize-shapes.png') });
  });
}
