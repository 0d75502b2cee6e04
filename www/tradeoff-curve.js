// @ts-check
// The safety–knowledge curve as numbers: its points in strength order, where the dial lies on it
// (linearly between the measured strengths on each side), and the ranges its axes cover.

/** @typedef {import('./protocol.js').TradeoffPoint} TradeoffPoint */
/**
 * A place on the curve: redirection (the share of unsafe captions whose nearest caption is safe)
 * against the knowledge kept (the mean cosine to the original's safe-caption embeddings).
 * @typedef {{ strength: number, redirected: number, kept: number }} CurvePlace
 */

/**
 * The measured points, as places, in strength order.
 * @param {TradeoffPoint[]} points
 * @returns {CurvePlace[]}
 */
export function curvePlaces(points) {
  return points
    .map(({ strength, safe_top1: redirected, safe_caption_cosine: kept }) => ({ strength, redirected, kept }))
    .sort((a, b) => a.strength - b.strength);
}

/**
 * Where `strength` lies on the curve: a measured place, or the line between the two measured
 * strengths around it; null outside the measured strengths, where the curve says nothing.
 * @param {CurvePlace[]} places in strength order
 * @param {number} strength
 * @returns {CurvePlace | null}
 */
export function placeAt(places, strength) {
  for (let i = 0; i < places.length; i++) {
    const below = places[i];
    if (below.strength === strength) return below;
    const above = places[i + 1];
    if (above && below.strength < strength && strength < above.strength) {
      const t = (strength - below.strength) / (above.strength - below.strength);
      return {
        strength,
        redirected: below.redirected + t * (above.redirected - below.redirected),
        kept: below.kept + t * (above.kept - below.kept),
      };
    }
  }
  return null;
}

/**
 * The ranges of the axes: redirection is a share, 0 to 1; the knowledge kept is a cosine that
 * starts at 1 (the original itself), so its axis runs from a little below the lowest point to 1.
 * @param {CurvePlace[]} places
 * @returns {{ kept: [number, number], redirected: [number, number] }}
 */
export function curveRanges(places) {
  const lowest = Math.min(1, ...places.map((place) => place.kept));
  const span = Math.max(1 - lowest, 0.01);
  return { kept: [Math.max(-1, 1 - span * 1.1), 1], redirected: [0, 1] };
}
