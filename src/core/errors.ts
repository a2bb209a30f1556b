/**
 * An error the user can act on: a one-line message that names the problem, and a hint that names the way out.
 * Anything else that escapes is an internal error: logged with its stack, shown to the user as one line.
 */
export class UserError extends Error {
  override readonly name = 'UserError';
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}

/** One line for a person: message and hint, no stack. */
export function describeError(e: unknown): string {
  if (e instanceof UserError) return e.hint ? `${e.message} ${e.hint}` : e.message;
  if (e instanceof Error) return firstLine(e.message) || e.name;
  return firstLine(String(e));
}

export function firstLine(s: string): string {
  return s.split(/\r?\n/, 1)[0]?.trim() ?? '';
}

/** Work the user stopped (Cancel, Ctrl-C): not a failure to report. Nothing half-done was kept. */
export class CancelledError extends UserError {
  constructor(message = 'cancelled.', hint?: string) {
    super(message, hint);
  }
}

export function isCancelled(e: unknown): e is CancelledError {
  return e instanceof CancelledError;
}
