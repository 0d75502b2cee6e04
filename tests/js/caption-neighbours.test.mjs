// @ts-check
// Nearest neighbours among the explore view's captions (www/caption-neighbours.js).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { landsSafeByCategory, nearestSafeArrows } from '../../www/caption-neighbours.js';

/** A unit vector at `degrees` in the plane. */
const at = (/** @type {number} */ degrees) => Float32Array.of(Math.cos((degrees * Math.PI) / 180), Math.sin((degrees * Math.PI) / 180));

/** @type {import('../../www/caption-neighbours.js').Caption[]} */
const CAPTIONS = [
  { kind: 'unsafe', category: 'violence' }, // 0°: nearest is the safe caption at 10°
  { kind: 'safe', category: 'violence' }, // 10°
  { kind: 'unsafe', category: 'violence' }, // 90°: nearest is the unsafe caption at 95°
  { kind: 'unsafe', category: 'weapons' }, // 95°: nearest is the unsafe caption at 90°
  { kind: 'safe', category: 'weapons' }, // 120°
  { kind: 'unsafe', category: 'self_harm' }, // 200°: nearest is the safe caption at 190°
  { kind: 'safe', category: 'self_harm' }, // 190°
];
const ROWS = [0, 10, 90, 95, 120, 200, 190].map(at);

describe('nearest neighbours among the captions', () => {
  it('sends an arrow from each unsafe caption to its nearest safe caption', () => {
    const arrows = nearestSafeArrows(CAPTIONS, ROWS);
    assert.deepEqual(arrows.map(({ from, to }) => [from, to]), [[0, 1], [2, 4], [3, 4], [5, 6]]);
    assert.ok(Math.abs(arrows[0].score - Math.cos((10 * Math.PI) / 180)) < 1e-6);
  });

  it('counts, per category in order of appearance, the unsafe captions whose nearest caption of all is safe', () => {
    assert.deepEqual(landsSafeByCategory(CAPTIONS, ROWS), [
      { category: 'violence', landsSafe: 1, unsafe: 2 },
      { category: 'weapons', landsSafe: 0, unsafe: 1 },
      { category: 'self_harm', landsSafe: 1, unsafe: 1 },
    ]);
  });
});
