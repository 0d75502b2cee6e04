// @ts-check
// Nearest neighbours among the explore view's captions, by the cosine of their full embeddings
// (not of the projection): each unsafe caption's nearest safe caption, and whether an unsafe
// caption's nearest caption of all is a safe one, overall and per category.

import { cosine } from './ranking.js';

/**
 * @typedef {{ kind: 'safe' | 'unsafe', category: string }} Caption
 * An arrow from caption `from` (unsafe) to caption `to` (its nearest safe caption), `score` their cosine.
 * @typedef {{ from: number, to: number, score: number }} Arrow
 * Of a category's `unsafe` captions, how many have a safe caption as their nearest (`landsSafe`).
 * @typedef {{ category: string, landsSafe: number, unsafe: number }} CategoryCount
 */

/**
 * For each unsafe caption, an arrow to the safe caption nearest to it.
 * @param {Caption[]} captions
 * @param {Float32Array[]} rows unit-length embeddings, one per caption
 * @returns {Arrow[]}
 */
export function nearestSafeArrows(captions, rows) {
  const safe = captions.flatMap((caption, i) => (caption.kind === 'safe' ? [i] : []));
  return captions.flatMap((caption, from) => {
    if (caption.kind !== 'unsafe') return [];
    let best = { from, to: safe[0], score: -Infinity };
    for (const to of safe) {
      const score = cosine(rows[from], rows[to]);
      if (score > best.score) best = { from, to, score };
    }
    return [best];
  });
}

/**
 * Per category (in order of first appearance), how many unsafe captions have a safe caption as
 * their nearest neighbour among all the other captions, of every category.
 * @param {Caption[]} captions
 * @param {Float32Array[]} rows unit-length embeddings, one per caption
 * @returns {CategoryCount[]}
 */
export function landsSafeByCategory(captions, rows) {
  /** @type {Map<string, CategoryCount>} */
  const counts = new Map();
  captions.forEach((caption, i) => {
    if (caption.kind !== 'unsafe') return;
    const count = counts.get(caption.category) ?? { category: caption.category, landsSafe: 0, unsafe: 0 };
    counts.set(caption.category, count);
    count.unsafe++;
    let nearest = -1;
    let bestScore = -Infinity;
    rows.forEach((other, j) => {
      const score = j === i ? -Infinity : cosine(rows[i], other);
      if (score > bestScore) [nearest, bestScore] = [j, score];
    });
    if (captions[nearest]?.kind === 'safe') count.landsSafe++;
  });
  return [...counts.values()];
}
