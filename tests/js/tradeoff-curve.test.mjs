// @ts-check
// The safety–knowledge curve as numbers (www/tradeoff-curve.js): its points in order, the dial's
// place between them, and the ranges of its axes.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { curvePlaces, curveRanges, placeAt } from '../../www/tradeoff-curve.js';

/**
 * A point as the core reports it.
 * @param {number} strength
 * @param {number} safeTop1
 * @param {number} cosine
 */
const point = (strength, safeTop1, cosine) => ({
  strength, safe_top1: safeTop1, paired_safe: [], zero_shot_accuracy: null, safe_caption_cosine: cosine,
});

const CURVE = curvePlaces([point(1, 0.8, 0.9), point(0, 0.2, 1), point(0.5, 0.6, 0.96), point(0.25, 0.4, 0.99), point(0.75, 0.7, 0.93)]);

describe('the safety–knowledge curve', () => {
  it('puts the measured points in strength order, as redirection and knowledge kept', () => {
    assert.deepEqual(CURVE.map((place) => place.strength), [0, 0.25, 0.5, 0.75, 1]);
    assert.deepEqual(CURVE[0], { strength: 0, redirected: 0.2, kept: 1 });
  });

  it('places the dial on a measured point, or on the line between the two around it', () => {
    assert.deepEqual(placeAt(CURVE, 0.5), { strength: 0.5, redirected: 0.6, kept: 0.96 });
    const between = /** @type {import('../../www/tradeoff-curve.js').CurvePlace} */ (placeAt(CURVE, 0.6));
    assert.equal(between.strength, 0.6);
    assert.ok(Math.abs(between.redirected - (0.6 + 0.4 * 0.1)) < 1e-12, `${between.redirected}`);
    assert.ok(Math.abs(between.kept - (0.96 - 0.4 * 0.03)) < 1e-12, `${between.kept}`);
    assert.deepEqual(placeAt(CURVE, 0), CURVE[0]);
    assert.deepEqual(placeAt(CURVE, 1), CURVE[4]);
  });

  it('says nothing beyond the measured strengths, nor without points', () => {
    assert.equal(placeAt(CURVE, 1.5), null);
    assert.equal(placeAt(CURVE, -0.1), null);
    assert.equal(placeAt([], 0.5), null);
  });

  it('spans redirection from 0 to 1, and the knowledge kept from below the lowest point to 1', () => {
    const { kept, redirected } = curveRanges(CURVE);
    assert.deepEqual(redirected, [0, 1]);
    assert.equal(kept[1], 1);
    assert.ok(kept[0] < 0.9 && kept[0] > 0.85, `${kept}`);
    const flat = curveRanges(curvePlaces([point(0, 0.1, 1), point(1, 0.1, 1)])).kept;
    assert.ok(flat[0] < flat[1], `a curve that keeps everything still has an axis: ${flat}`);
  });
});
