/**
 * Marks a UserError. From the global symbol registry, so that the bundles that each carry a copy of this module
 * (dist/cli.js and dist/cli-cloud.js, dist/extension.js and dist/heavy.js) agree on what is one.
 */
const USER_ERROR = Symbol.for('modelyard.user-error');

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
    Object.defineProperty(this, USER_ERROR, { value: true });
  }

  /** `instanceof UserError` holds for one made by another bundle's copy too; subclasses check as usual. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this !== UserError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as { [USER_ERROR]?: unknown })[USER_ERROR] === true;
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}

/**
 * Marks a cancellation. From the global symbol registry, so that the bundles that each carry a copy of this module
 * (dist/extension.js and dist/heavy.js) agree on what is one.
 */
const CANCELLED = Symbol.for('modelyard.cancelled');

/**
 * The one cancellation: the work was stopped on request (a signal, Cancel, Ctrl-C), which is not a failure to report
 * as one. A UserError, so that it still reads as one line with its hint. `instanceof CancelledError` and isCancelled
 * hold for it and for the errors of other classes marked with markCancelled (a cancelled InferenceError).
 */
export class CancelledError extends UserError {
  constructor(message = 'Cancelled.', hint?: string) {
    super(message, hint);
    markCancelled(this);
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isCancelled(value);
  }
}

/** Makes an error of another class stand for a cancellation: isCancelled, and instanceof CancelledError, hold for it. */
export function markCancelled<E extends Error>(e: E): E {
  Object.defineProperty(e, CANCELLED, { value: true });
  return e;
}

/** Whether the work was cancelled rather than failed. */
export function isCancelled(e: unknown): e is CancelledError {
  return typeof e === 'object' && e !== null && (e as { [CANCELLED]?: unknown })[CANCELLED] === true;
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
