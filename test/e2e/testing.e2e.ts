// e2e: the model tests in the Testing view.
import path from 'node:path';
import { it } from 'node:test';
import { RESULTS, runCommand, type Workbench } from './support';

/** The model tests in the Testing view. */
export function testingView(wb: Workbench): void {
  it('runs the model tests from the Testing view', async () => {
    const { page } = wb;
    await runCommand(page, 'View: Show Testing');
    await page.locator('.part.sidebar .monaco-list-row', { hasText: 'voice-activity' }).first().waitFor({ timeout: 30_000 });
    await runCommand(page, 'Test: Run All Tests');
    await page.locator('.part.sidebar', { hasText: '5/5' }).waitFor({ timeout: 60_000 });
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(RESULTS, 'e2e-tests.png') });
  });
}
