// @ts-check
// Running a task for the latest state only (www/latest-only.js).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { latestOnly } from '../../www/latest-only.js';

describe('latestOnly', () => {
  it('runs once more after the current run for any number of calls during it, never twice at once', async () => {
    let state = 0;
    const seen = [];
    let running = 0;
    const task = latestOnly(async () => {
      running++;
      assert.equal(running, 1, 'one run at a time');
      const at = state;
      await new Promise((resolve) => setTimeout(resolve, 5));
      seen.push(at);
      running--;
    });
    const first = task();
    state = 1;
    task();
    state = 2;
    const last = task();
    assert.equal(last, first, 'calls during a run share its promise');
    await last;
    assert.deepEqual(seen, [0, 2], 'the run after sees the latest state; the middle one is skipped');
    state = 3;
    await task();
    assert.deepEqual(seen, [0, 2, 3]);
  });

  it('can run again after a failed run', async () => {
    let fail = true;
    const task = latestOnly(async () => {
      if (fail) throw new Error('failed');
    });
    await assert.rejects(task(), /failed/);
    fail = false;
    await task();
  });
});
