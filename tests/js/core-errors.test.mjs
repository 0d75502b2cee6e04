// @ts-check
// Reading the core's errors by name, renamed per call (www/core-errors.js).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { isDeviceFailure, namedError } from '../../www/core-errors.js';
import { ClipError } from '../../www/errors.js';

/** An error as the core throws it: an Error with a name. */
function coreError(name, message) {
  const error = new Error(message);
  error.name = name;
  return error;
}

describe('core errors', () => {
  it('keeps the core’s name and message', () => {
    const error = namedError(coreError('InvalidInput', 'text 2 is empty'));
    assert.ok(error instanceof ClipError);
    assert.equal(error.name, 'InvalidInput');
    assert.equal(error.message, 'text 2 is empty');
  });

  it('renames by name for the call, whatever the message says', () => {
    const renames = { InvalidModel: /** @type {const} */ ('InvalidAdapter') };
    assert.equal(namedError(coreError('InvalidModel', 'device: anything'), renames).name, 'InvalidAdapter');
    assert.equal(namedError(coreError('InvalidInput', 'invalid model'), renames).name, 'InvalidInput');
  });

  it('calls an error without a core name a WorkerError', () => {
    assert.equal(namedError(new TypeError('x is undefined')).name, 'WorkerError');
    assert.equal(namedError('a string').name, 'WorkerError');
  });

  it('passes a ClipError through', () => {
    const error = new ClipError('NoModel', 'Load a model first.');
    assert.equal(namedError(error, { InvalidModel: 'InvalidAdapter' }), error);
  });

  it('takes DeviceError and traps, never the message, for device failures', () => {
    assert.equal(isDeviceFailure(coreError('DeviceError', 'read-back failed')), true);
    assert.equal(isDeviceFailure(new WebAssembly.RuntimeError('unreachable')), true);
    assert.equal(isDeviceFailure(coreError('InvalidInput', 'device: lost')), false);
  });
});
