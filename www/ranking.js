// @ts-check
// Ranking a gallery against a query by cosine similarity. Embeddings from the core have unit
// length, so the cosine is a dot product.

/** @typedef {import('./clip-client.js').Embeddings} Embeddings */

/**
 * Row `index` of an embedding matrix.
 * @param {Embeddings} embeddings
 * @param {number} index
 */
export function row(embeddings, index) {
  return embeddings.data.subarray(index * embeddings.cols, (index + 1) * embeddings.cols);
}

/**
 * @param {Float32Array} a
 * @param {Float32Array} b
 */
export function cosine(a, b) {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

/**
 * Gallery items with their scores against `query`, best first.
 * @template T
 * @param {Float32Array} query
 * @param {{ item: T, embedding: Float32Array }[]} gallery
 * @returns {{ item: T, score: number }[]}
 */
export function rank(query, gallery) {
  return gallery
    .map(({ item, embedding }) => ({ item, score: cosine(query, embedding) }))
    .sort((a, b) => b.score - a.score);
}
