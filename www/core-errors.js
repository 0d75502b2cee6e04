// @ts-check
// Reading the errors the WebAssembly core throws: each is an `Error` whose `name` says what went
// wrong (errors.js, CoreErrorName) and whose `message` is for the user. The worker acts on the
// name alone, never on the message's wording.

import { ClipError } from './errors.js';

/** @typedef {import('./errors.js').ClipErrorName} ClipErrorName */
/** @typedef {import('./errors.js').CoreErrorName} CoreErrorName */
/** @typedef {Partial<Record<CoreErrorName, ClipErrorName>>} Renames */

/** @type {ReadonlySet<string>} */
const CORE_NAMES = new Set(['InvalidModel', 'InvalidInput', 'DeviceError', 'TrainingStopped', 'NotHyperbolic', 'NoAdapter']);

/**
 * Whether `error` is the core's report that its backend failed, or a trap (a panic aborts the
 * module): either may be a GPU failure behind it.
 * @param {unknown} error
 */
export function isDeviceFailure(error) {
  return error instanceof WebAssembly.RuntimeError || (error instanceof Error && error.name === 'DeviceError');
}

/**
 * Whether an error is the core refusing an input, which in a batch may be one item's alone (an
 * image it cannot read): InvalidInput.
 * @param {unknown} error
 */
export function isInputError(error) {
  return error instanceof ClipError && error.name === 'InvalidInput';
}

/**
 * A readable core error as a ClipError, its name renamed by `renames` for the call that failed;
 * anything else the core threw (not one of its names) as a WorkerError.
 * @param {unknown} error
 * @param {Renames} [renames]
 */
export function namedError(error, renames = {}) {
  if (error instanceof ClipError) return error;
  if (!(error instanceof Error)) return new ClipError('WorkerError', String(error));
  if (!CORE_NAMES.has(error.name)) return new ClipError('WorkerError', error.message);
  const name = /** @type {CoreErrorName} */ (error.name);
  return new ClipError(renames[name] ?? name, error.message);
}
