import * as vscode from 'vscode';
import { describeError, isCancelled, isUserError } from '../core/errors';
import type { ModelNeed, ModelResolver, Resolved } from './modelTarget';

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

/**
 * Registers a command about a model, declaring what kind of model it needs (the way VS Code's git extension
 * declares `{repository: true}`): the first argument — a tree node, a URI, a target, or nothing — is resolved by the
 * one ModelResolver before `fn` runs. A registry command run from the palette asks which model; `fn` is not called
 * when the user dismisses that.
 */
export function registerModelCommand<N extends ModelNeed, R extends unknown[]>(
  id: string,
  ctx: { log: vscode.LogOutputChannel; models: ModelResolver },
  spec: { model: N; pickTitle?: string },
  fn: (target: Resolved<N>, ...rest: R) => unknown,
): vscode.Disposable {
  return registerCommand(id, ctx.log, async (arg: unknown, ...rest: unknown[]) => {
    const target = await ctx.models.resolve(arg, spec.model, spec.pickTitle);
    return target === undefined ? undefined : fn(target, ...(rest as R));
  });
}

/** Reports a failure: silent for a cancellation, a warning for a UserError, an error (stack in the log) otherwise. */
export async function reportError(log: vscode.LogOutputChannel, e: unknown, context: string): Promise<void> {
  if (e instanceof vscode.CancellationError || isCancelled(e)) {
    log.info(`${context}: cancelled`);
    return;
  }
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
