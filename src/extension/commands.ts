import * as vscode from 'vscode';
import { describeError, isUserError } from '../core/errors';

/**
 * Registers a command whose failures reach the user as one toast (with "Show Log"), never as a stack trace.
 * UserErrors are the user's to fix and show as warnings; anything else is logged with its stack as an error.
 */
export function registerCommand(
  id: string,
  log: vscode.LogOutputChannel,
  fn: (...args: never[]) => unknown,
): vscode.Disposable {
  return vscode.commands.registerCommand(id, async (...args: unknown[]) => {
    try {
      return await (fn as (...a: unknown[]) => unknown)(...args);
    } catch (e) {
      await reportError(log, e, id);
      return undefined;
    }
  });
}

export async function reportError(log: vscode.LogOutputChannel, e: unknown, context: string): Promise<void> {
  if (e instanceof vscode.CancellationError) return;
  const message = describeError(e);
  // The toast is not awaited: a command must finish when its work does, not when the user dismisses the message.
  if (isUserError(e)) {
    log.warn(`${context}: ${message}`);
    void vscode.window.showWarningMessage(message, 'Show Log').then((pick) => pick && log.show());
  } else {
    log.error(`${context}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    void vscode.window.showErrorMessage(`Modelyard: ${message}`, 'Show Log').then((pick) => pick && log.show());
  }
}
