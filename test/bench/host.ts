// Runs inside the real extension host (as an extensionTestsPath) and prints what only the host can measure.
import * as vscode from 'vscode';
import type { ModelyardApi } from '../../src/extension/main';

export async function run(): Promise<void> {
  const ext = vscode.extensions.getExtension<ModelyardApi>('modelyard.modelyard');
  if (!ext) throw new Error('Modelyard is not loaded in this host');
  const api = ext.isActive ? ext.exports : await ext.activate();
  // The cost activation avoids by loading onnxruntime-node lazily: its first load in this same host.
  const t0 = performance.now();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(require.resolve('onnxruntime-node', { paths: [ext.extensionPath] }));
  const ortLoadMs = performance.now() - t0;
  const t1 = performance.now();
  await api.models.getChildren();
  const modelsScanMs = performance.now() - t1;
  console.log(`BENCH ${JSON.stringify({ ...api.activation, ortLoadMs, modelsScanMs, node: process.versions.node, vscode: vscode.version })}`);
}
