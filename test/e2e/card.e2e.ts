// e2e: the model card of an .onnx file, and from it the Playground and a benchmark.
import assert from 'node:assert/strict';
import path from 'node:path';
import { it } from 'node:test';
import { RESULTS, findFrame, quickOpen, type Workbench } from './support';

/** The model card of an .onnx file, Run… into the Playground, and a benchmark there. */
export function cardRunBenchmark(wb: Workbench): void {
  it('opens a model as a card, runs it in the Playground, and benchmarks it', async () => {
    const { page, consoleProblems } = wb;
    await quickOpen(page, 'hello_deepa.onnx');
    const card = await findFrame(page, '.stats', 30_000);
    assert.match(await card.locator('.stats').innerText(), /29\s*Nodes/);
    assert.match(await card.locator('table.grid').first().innerText(), /onnx::Flatten_0\s+float32\s+\[1, 25, 96\]/);
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-card.png') });

    await card.locator('#run').click();
    const pg = await findFrame(page, '.input-card', 30_000);
    await pg.locator('#run').click();
    const row = pg.locator('table.outputs tr[data-output="39"]');
    await row.waitFor({ timeout: 30_000 });
    assert.match(await row.innerText(), /float32\s+\[1, 1\]/);
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-playground.png') });

    await pg.locator('vscode-tab-header[data-tab="benchmark"]').click();
    await pg.locator('#bench').click();
    await pg.locator('figure.histogram').first().waitFor({ timeout: 60_000 });
    assert.match(await pg.locator('table.bench').innerText(), /auto\s+100\s+\d/);
    await pg.evaluate(() => document.querySelector('figure.histogram')?.scrollIntoView());
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-benchmark.png') });
    assert.deepEqual(consoleProblems, [], 'no CSP violations in the card or the Playground');
  });
}
