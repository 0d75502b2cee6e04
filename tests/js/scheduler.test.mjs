// @ts-check
// The worker's two lanes (www/scheduler.js): the visitor's requests before background turns.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Scheduler } from '../../www/scheduler.js';

/** A background job of `turns` turns that logs each. */
function job(log, name, turns) {
  let done = 0;
  return async () => {
    log.push(`${name} ${++done}`);
    return done < turns;
  };
}

describe('Scheduler', () => {
  it('answers a request that comes during background work after the turn in progress', async () => {
    const log = [];
    const scheduler = new Scheduler();
    scheduler.background('pool', job(log, 'pool', 4));
    // Arrives while the first turn runs (a macrotask later).
    const answered = new Promise((resolve) => setTimeout(() => resolve(scheduler.request(async () => {
      log.push('search');
      return 'found';
    })), 0));
    assert.equal(await answered, 'found');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(log, ['pool 1', 'search', 'pool 2', 'pool 3', 'pool 4']);
  });

  it('runs requests in order, all before any background turn', async () => {
    const log = [];
    const scheduler = new Scheduler();
    const requests = ['a', 'b', 'c'].map((name) => scheduler.request(async () => log.push(name)));
    scheduler.background('job', job(log, 'job', 1));
    await Promise.all(requests);
    await scheduler.request(async () => {});
    assert.deepEqual(log, ['a', 'b', 'c', 'job 1']);
  });

  it('gives background jobs turns in rotation', async () => {
    const log = [];
    const scheduler = new Scheduler({ pause: async () => {} });
    await scheduler.request(async () => {
      scheduler.background('x', job(log, 'x', 2));
      scheduler.background('y', job(log, 'y', 2));
    });
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(log, ['x 1', 'y 1', 'x 2', 'y 2']);
  });

  it('tells a request how long it waited', async () => {
    let time = 0;
    const scheduler = new Scheduler({ now: () => time });
    scheduler.background('slow', async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      time += 40;
      return false;
    });
    const waited = await new Promise((resolve) => setTimeout(() => resolve(scheduler.request(async (ms) => ms)), 0));
    assert.equal(waited, 40);
  });

  it('stops a cancelled job, also one whose turn is running, and replaces a job by key', async () => {
    const log = [];
    const scheduler = new Scheduler();
    scheduler.background('pool', async () => {
      log.push('old pool');
      scheduler.cancel('pool');
      return true;
    });
    await scheduler.request(async () => {});
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(log, ['old pool']);
    await scheduler.request(async () => {
      scheduler.background('tuned', job(log, 'first', 3));
      scheduler.background('tuned', job(log, 'second', 1));
    });
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(log, ['old pool', 'second 1']);
  });

  it('rejects a failed request and drops a failed job, and goes on', async () => {
    const errors = [];
    const scheduler = new Scheduler({ onError: (key, error) => errors.push([key, /** @type {Error} */ (error).message]) });
    scheduler.background('broken', async () => {
      throw new Error('turn failed');
    });
    await assert.rejects(scheduler.request(async () => {
      throw new Error('request failed');
    }), /request failed/);
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(errors, [['broken', 'turn failed']]);
    assert.equal(await scheduler.request(async () => 'still running'), 'still running');
  });
});
