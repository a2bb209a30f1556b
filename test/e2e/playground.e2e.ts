// e2e: the Playground — a WAV file as an input, and two registered versions compared.
import assert from 'node:assert/strict';
import path from 'node:path';
import { it } from 'node:test';
import { RESULTS, findFrame, modelsTree, quickOpen, runCommand, showModels, type Workbench } from './support';

/** A WAV file picked in VS Code's file dialog as a Playground input. */
export function wavInput(wb: Workbench): void {
  it('runs the voice activity detector on a WAV file chosen in the Playground', async () => {
    const { page, folder } = wb;
    await runCommand(page, 'View: Hide Panel');
    await quickOpen(page, 'silero_vad_v5.onnx');
    // This card, not an earlier one whose frame may linger: its title names the file; Run… works once it has read it.
    const card = await findFrame(page, 'h1:has-text("silero_vad_v5.onnx")', 30_000);
    await card.locator('.stats').waitFor({ timeout: 30_000 });
    await card.locator('#run').click();
    const pg = await findFrame(page, '[data-input="state"]', 30_000);
    const input = pg.locator('[data-input="input"]');
    // The source select and the open length, as a user sets them (custom elements take their value and a change).
    await input.locator('vscode-single-select').first().evaluate((e) => {
      (e as unknown as { value: string }).value = 'wav';
      e.dispatchEvent(new Event('change'));
    });
    await input.locator('vscode-textfield.dim-field').nth(1).evaluate((e) => {
      (e as unknown as { value: string }).value = '512';
      e.dispatchEvent(new Event('change'));
    });
    // "Choose File…" opens VS Code's own file dialog (a quick input in this workbench): type the path, Enter.
    await pg.locator('[data-input="input"] .file vscode-button').click();
    const dialog = page.locator('.quick-input-widget input.input');
    await dialog.waitFor({ state: 'visible', timeout: 10_000 });
    // Type the file's path and press Enter, as a user would. The dialog reads the folder as the path is typed and may
    // take an Enter before it has: press again (with the path typed again) until it closes.
    const wavPath = path.join(folder, 'samples', 'voiced-32ms.wav');
    await dialog.fill(wavPath);
    for (let i = 0; i < 30 && (await dialog.isVisible()); i++) {
      await page.waitForTimeout(500);
      if (!(await dialog.isVisible())) break;
      if ((await dialog.inputValue().catch(() => wavPath)) !== wavPath) await dialog.fill(wavPath);
      await page.keyboard.press('Enter');
    }
    await dialog.waitFor({ state: 'hidden', timeout: 10_000 });
    await pg.locator('[data-input="input"] code.path', { hasText: 'voiced-32ms.wav' }).waitFor({ timeout: 10_000 });
    await pg.locator('#run').click();
    const row = pg.locator('table.outputs tr[data-output="output"]');
    await row.waitFor({ timeout: 30_000 });
    assert.match(await row.innerText(), /float32\s+\[1, 1\]/);
    const history = await pg.locator('table.outputs').innerText();
    assert.match(history, /stateN\s+float32\s+\[2, 1, 128\]/);
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-playground-wav.png') });
  });
}

/** Compare With… on a registered version: two versions on the same inputs. */
export function compareVersions(wb: Workbench): void {
  it('compares two registered versions from the Models tree', async () => {
    const { page } = wb;
    await showModels(page);
    const { row } = modelsTree(page);
    if (!(await row(/^v1\.1\.0$/).isVisible())) await row(/^hello_deepa$/).click();
    await row(/^v1\.1\.0$/).click();
    await row(/^v1\.1\.0$/).click({ button: 'right' });
    const item = page.getByRole('menuitem', { name: 'Compare With…' });
    await item.waitFor({ timeout: 10_000 });
    await item.hover();
    await item.click();
    const pick = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'hello_deepa@v1.0.0' }).first();
    await pick.waitFor({ timeout: 15_000 }).catch(async (e: unknown) => {
      await page.screenshot({ path: path.join(RESULTS, 'e2e-compare-failed.png') });
      throw e;
    });
    await pick.click();
    // Several Playgrounds are open by now: the one comparing v1.1.0 with v1.0.0 is the one showing that target.
    const pg = await findFrame(page, 'code.target:has-text("hello_deepa@v1.0.0")', 30_000);
    await pg.locator('#compare').click();
    await pg.locator('.verdict').waitFor({ timeout: 60_000 });
    // v1.1.0 is v1.0.0 with one weight nudged by 2%: a real difference, reported against the tolerances.
    const table = await pg.locator('table.compare').innerText();
    assert.match(table, /^39\s/m);
    await pg.evaluate(() => document.querySelector('.verdict')?.scrollIntoView());
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-compare.png') });
  });
}
