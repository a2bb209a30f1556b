import type * as vscode from 'vscode';
import type { Services } from '../services';
import { ModelTests } from './modelTests';

/** Model tests (`*.modeltest.json`) in VS Code's Testing view. */
export function registerModelTests(context: vscode.ExtensionContext, services: Services): ModelTests {
  const tests = new ModelTests(services.inference, services.registries, services.log);
  context.subscriptions.push(tests);
  return tests;
}
