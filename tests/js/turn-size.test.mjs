// @ts-check
// How many items a background turn takes (www/turn-size.js), on a simulated clock.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { TURN_BUDGET_MS, TurnSize } from '../../www/turn-size.js';

/**
 * A TurnSize on a clock that a turn of n items moves by `overheadMs + n * itemMs`.
 * @param {{ overheadMs: number, itemMs: number, first?: number, max?: number }} machine
 */
function simulated({ overheadMs, itemMs, ...options }) {
  let time = 0;
  const size = new TurnSize({ ...options, now: () => time });
  const turn = (/** @type {number} */ items) => size.time(items, async () => {
    time += overheadMs + items * itemMs;
  });
  return { size, turn };
}

describe('TurnSize', () => {
  it('takes `first` items before it knows the pace', () => {
    assert.equal(new TurnSize().count, 1);
    assert.equal(new TurnSize({ first: 8 }).count, 8);
  });

  it('settles on as many items as fit the budget, overhead included', async () => {
    const { size, turn } = simulated({ overheadMs: 20, itemMs: 7 });
    for (let i = 0; i < 30; i++) await turn(size.count);
    const settled = size.count;
    assert.ok(20 + settled * 7 <= TURN_BUDGET_MS * 1.1, `${settled} items take ${20 + settled * 7} ms`);
    assert.ok(20 + (settled + 2) * 7 > TURN_BUDGET_MS * 0.9, `${settled} items use too little of the budget`);
  });

  it('keeps to one item when one takes longer than the budget, and to `max` when items are cheap', async () => {
    const slow = simulated({ overheadMs: 0, itemMs: TURN_BUDGET_MS * 3, first: 8 });
    await slow.turn(slow.size.count);
    assert.equal(slow.size.count, 1);
    const fast = simulated({ overheadMs: 0, itemMs: 0.01, max: 16 });
    await fast.turn(fast.size.count);
    assert.equal(fast.size.count, 16);
  });

  it('follows a machine that slows down', async () => {
    const { size, turn } = simulated({ overheadMs: 0, itemMs: 5 });
    for (let i = 0; i < 10; i++) await turn(size.count);
    assert.equal(size.count, 50);
    let time = 0;
    const slower = new TurnSize({ now: () => time });
    await slower.time(10, async () => { time += 50; });
    await slower.time(10, async () => { time += 500; });
    assert.ok(slower.count < 10, `still ${slower.count} items a turn after the pace went from 5 to 50 ms`);
  });

  it('learns nothing from a turn that failed or took no items', async () => {
    let time = 0;
    const size = new TurnSize({ first: 4, now: () => time });
    await assert.rejects(size.time(4, async () => {
      time += 10_000;
      throw new Error('no GPU');
    }), /no GPU/);
    await size.time(0, async () => { time += 10_000; });
    assert.equal(size.count, 4);
  });
});
