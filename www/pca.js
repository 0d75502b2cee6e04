// @ts-check
// Principal component analysis of a few hundred embeddings, small enough to run on the page:
// the top components by power iteration on the covariance, applied as Xᵀ(Xv) so that the
// d × d matrix is never formed.

const ITERATIONS = 500;
const TOLERANCE = 1e-15;

/**
 * @typedef {{ mean: Float64Array, components: Float64Array[], variances: number[],
 *   totalVariance: number }} Pca
 */

/**
 * The `count` leading principal components of `rows` (all the same length). Deterministic:
 * the same rows give the same basis, each component signed so that its largest entry is
 * positive.
 * @param {ArrayLike<number>[]} rows
 * @param {number} [count]
 * @returns {Pca}
 */
export function fitPca(rows, count = 2) {
  if (rows.length < 2) throw new Error('PCA needs at least two rows');
  const dim = rows[0].length;
  const mean = new Float64Array(dim);
  for (const row of rows) for (let j = 0; j < dim; j++) mean[j] += row[j] / rows.length;
  const centred = rows.map((row) => Float64Array.from(row, (x, j) => x - mean[j]));
  const totalVariance = centred.reduce((sum, row) => sum + dot(row, row), 0) / (rows.length - 1);

  const components = [];
  const variances = [];
  for (let c = 0; c < Math.min(count, dim); c++) {
    // Start from a fixed, generic direction, made orthogonal to the components found so far.
    let v = Float64Array.from({ length: dim }, (_, j) => 1 + ((j * 7919) % 13) / 13);
    for (const found of components) subtract(v, found, dot(v, found));
    scale(v, 1 / Math.sqrt(dot(v, v)));
    let variance = 0;
    for (let step = 0; step < ITERATIONS; step++) {
      const next = covarianceTimes(centred, v);
      for (const found of components) subtract(next, found, dot(next, found));
      const norm = Math.sqrt(dot(next, next));
      if (norm === 0) break;
      scale(next, 1 / norm);
      const change = 1 - Math.abs(dot(next, v));
      v = next;
      variance = norm;
      if (change < TOLERANCE) break;
    }
    let largest = 0;
    for (let j = 1; j < dim; j++) if (Math.abs(v[j]) > Math.abs(v[largest])) largest = j;
    if (v[largest] < 0) scale(v, -1);
    components.push(v);
    variances.push(variance);
  }
  return { mean, components, variances, totalVariance };
}

/**
 * The coordinates of `row` in the basis of `pca`.
 * @param {Pca} pca
 * @param {ArrayLike<number>} row
 * @returns {number[]}
 */
export function project(pca, row) {
  return pca.components.map((component) => {
    let sum = 0;
    for (let j = 0; j < component.length; j++) sum += (row[j] - pca.mean[j]) * component[j];
    return sum;
  });
}

/** The share of the rows' variance the components keep, from 0 to 1. */
export function explainedVariance(pca) {
  return pca.totalVariance > 0 ? pca.variances.reduce((a, b) => a + b, 0) / pca.totalVariance : 0;
}

/** C v with C the covariance of the centred rows. */
function covarianceTimes(centred, v) {
  const out = new Float64Array(v.length);
  for (const row of centred) {
    const weight = dot(row, v);
    for (let j = 0; j < v.length; j++) out[j] += weight * row[j];
  }
  for (let j = 0; j < v.length; j++) out[j] /= centred.length - 1;
  return out;
}

function dot(a, b) {
  let sum = 0;
  for (let j = 0; j < a.length; j++) sum += a[j] * b[j];
  return sum;
}

/** a -= factor · b */
function subtract(a, b, factor) {
  for (let j = 0; j < a.length; j++) a[j] -= factor * b[j];
}

/** a *= factor */
function scale(a, factor) {
  for (let j = 0; j < a.length; j++) a[j] *= factor;
}
