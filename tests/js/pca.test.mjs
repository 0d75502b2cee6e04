// @ts-check
// The explore view's PCA (www/pca.js), against data whose principal axes are known.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { explainedVariance, fitPca, project } from '../../www/pca.js';

/**
 * Points at ±10, ±3 and ±0.5 along three orthonormal directions of R⁵ around a shift: their
 * mean is the shift and their covariance is diagonal in those directions, with variances
 * 2·spread² / (n − 1).
 */
function knownCloud() {
  const s = Math.SQRT1_2;
  const axes = [[s, s, 0, 0, 0], [s, -s, 0, 0, 0], [0, 0, 0, 0, 1]];
  const spreads = [10, 3, 0.5];
  const shift = [1, -2, 3, 0.5, 4];
  const rows = axes.flatMap((axis, k) => [1, -1].map((sign) => shift.map((x, j) => x + sign * spreads[k] * axis[j])));
  const variances = spreads.map((spread) => (2 * spread * spread) / (rows.length - 1));
  return { rows, axes, shift, variances };
}

describe('fitPca', () => {
  it('finds the two widest axes, their variances and the mean', () => {
    const { rows, axes, shift, variances } = knownCloud();
    const pca = fitPca(rows, 2);
    for (const [c, axis] of axes.slice(0, 2).entries()) {
      const alignment = Math.abs(pca.components[c].reduce((sum, x, j) => sum + x * axis[j], 0));
      assert.ok(alignment > 1 - 1e-9, `component ${c} is off its axis (|cos| ${alignment})`);
      assert.ok(Math.abs(pca.variances[c] - variances[c]) < 1e-9 * variances[c], `variance ${pca.variances[c]} vs ${variances[c]}`);
      assert.ok(Math.abs(Math.hypot(...pca.components[c]) - 1) < 1e-9);
    }
    assert.ok([...pca.mean].every((m, j) => Math.abs(m - shift[j]) < 1e-12), `mean ${pca.mean}`);
    // The projections' sample variances are the eigenvalues.
    for (const c of [0, 1]) {
      const values = rows.map((row) => project(pca, row)[c]);
      const variance = values.reduce((sum, x) => sum + x * x, 0) / (values.length - 1);
      assert.ok(Math.abs(variance - pca.variances[c]) < 1e-6 * variance, `${variance} vs ${pca.variances[c]}`);
    }
    assert.ok(pca.variances[0] > pca.variances[1]);
    const kept = explainedVariance(pca);
    const expected = (variances[0] + variances[1]) / variances.reduce((a, b) => a + b);
    assert.ok(Math.abs(kept - expected) < 1e-12, `explained ${kept}, expected ${expected}`);
  });

  it('is deterministic and signs each component by its largest entry', () => {
    const { rows } = knownCloud();
    const [a, b] = [fitPca(rows), fitPca(rows.map((row) => row.slice()))];
    assert.deepEqual(a.components.map((c) => [...c]), b.components.map((c) => [...c]));
    for (const component of a.components) {
      const largest = component.reduce((best, x) => (Math.abs(x) > Math.abs(best) ? x : best), 0);
      assert.ok(largest > 0);
    }
  });

  it('refuses fewer than two rows', () => {
    assert.throws(() => fitPca([[1, 2]]), /at least two rows/);
  });
});
