// @ts-check
// Batches, and a batch call retried item by item when one item spoils it (www/batches.js).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { batches, settleEach } from '../../www/batches.js';

/** A call that doubles numbers and cannot read negative ones, and the batches it was given. */
function doubler() {
  /** @type {number[][]} */
  const calls = [];
  /** @param {number[]} items */
  const call = async (items) => {
    calls.push(items);
    const bad = items.find((item) => item < 0);
    if (bad !== undefined) throw Object.assign(new Error(`cannot read ${bad}`), { name: 'InvalidInput' });
    return items.map((item) => item * 2);
  };
  return { call, calls };
}

const isInputError = (/** @type {any} */ error) => error?.name === 'InvalidInput';

describe('batches', () => {
  it('cuts items into runs of the size, the last one shorter', () => {
    assert.deepEqual(batches([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
    assert.deepEqual(batches([1, 2, 3, 4], 2), [[1, 2], [3, 4]]);
    assert.deepEqual(batches([], 16), []);
    assert.equal(batches(Array.from({ length: 200 }, (_, i) => i), 16).length, 13);
  });

  it('refuses a batch of no item', () => {
    assert.throws(() => batches([1], 0), RangeError);
    assert.throws(() => batches([1], NaN), RangeError);
  });
});

describe('settleEach', () => {
  it('makes one call for a batch that goes through', async () => {
    const { call, calls } = doubler();
    assert.deepEqual(await settleEach([1, 2, 3], call, isInputError), [2, 4, 6].map((value) => ({ ok: true, value })));
    assert.deepEqual(calls, [[1, 2, 3]]);
  });

  it('retries item by item when an item spoils the batch: the others go through', async () => {
    const { call, calls } = doubler();
    const settled = await settleEach([1, -2, 3, -4], call, isInputError);
    assert.deepEqual(settled.map((result) => (result.ok ? result.value : /** @type {Error} */ (result.error).message)),
      [2, 'cannot read -2', 6, 'cannot read -4']);
    assert.deepEqual(calls, [[1, -2, 3, -4], [1], [-2], [3], [-4]]);
  });

  it('fails the whole batch on an error that is not an item’s', async () => {
    const call = async () => { throw Object.assign(new Error('the device is lost'), { name: 'DeviceLost' }); };
    await assert.rejects(settleEach([1, 2], call, isInputError), /device is lost/);
  });
});
