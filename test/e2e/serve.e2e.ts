// e2e: Serve Model Locally from the Playground, checked against a local run through the Remote tab.
import path from 'node:path';
import { it } from 'node:test';
import { RESULTS, findFrame, runCommand, type Workbench } from './support';

/** Serve This Model Locally from the Playground, and its Remote tab against the endpoint. */
export function serveLocally(wb: Workbench): void {
  it('serves the model locally and checks the endpoint against a local run', async () => {
    const { page } = wb;
    await page.locator('.tab', { hasText: 'Playground: hello_deepa.onnx' }).click();
    const pg = await findFrame(page, '[data-input="onnx::Flatten_0"]', 30_000);
    await pg.locator('vscode-tab-header[data-tab="remote"]').click();
    await pg.locator('#serve').click();
    await page.locator('.statusbar-item', { hasText: /hello_deepa :\d+/ }).waitFor({ timeout: 30_000 });
    await pg.locator('.serving').waitFor({ timeout: 10_000 });
    await pg.locator('#remote').click();
    await pg.locator('.verdict.ok').waitFor({ timeout: 30_000 });
    // The page re-renders on each message: scroll from inside rather than through a handle that may be replaced.
    await pg.evaluate(() => document.querySelector('.verdict')?.scrollIntoView());
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-serve.png') });
    await runCommand(page, 'Modelyard: Stop Local Server');
    await page.locator('.statusbar-item', { hasText: /hello_deepa :\d+/ }).waitFor({ state: 'detached', timeout: 15_000 });
  });
}
