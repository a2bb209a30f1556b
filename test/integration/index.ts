// The integration suite's entry, loaded by VS Code's extension host (code-server here, @vscode/test-electron on a
// desktop): it exports run() exactly as @vscode/test-electron expects.
import fs from 'node:fs';
import path from 'node:path';
import Mocha from 'mocha';

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 60_000, reporter: 'spec' });
  const grep = process.env.MODELYARD_TEST_GREP;
  if (grep) mocha.grep(grep);
  for (const f of fs.readdirSync(__dirname).sort()) {
    if (f.endsWith('.test.js')) mocha.addFile(path.join(__dirname, f));
  }
  return new Promise((resolve, reject) => {
    const runner = mocha.run((failures) => {
      const stats = runner.stats;
      // The closing line the test orchestrator (and CI) reads.
      console.log(`integration: ${stats?.passes ?? 0} passed, ${stats?.failures ?? failures} failed, ${stats?.pending ?? 0} skipped`);
      if (failures > 0) reject(new Error(`${failures} integration test(s) failed`));
      else resolve();
    });
  });
}
