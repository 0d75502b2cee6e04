// @ts-check
// The picture of the safety–knowledge curve: unsafe captions redirected (up) against the knowledge
// kept (across, falling to the left), a point per measured strength, and the dial's place on the
// line between them. SVG, scaled to its box, described in words for assistive technology (the
// dial panel also gives the curve as a table).

import { curveRanges } from './tradeoff-curve.js';
import { svgElement as element } from './svg.js';

/** @typedef {import('./tradeoff-curve.js').CurvePlace} CurvePlace */

const WIDTH = 420;
const HEIGHT = 280;
const LEFT = 52;
const RIGHT = 24;
const TOP = 14;
const BOTTOM = 46;
const TICKS = 4;
/** Points closer than this, in the picture's units, share one label. */
const LABEL_REACH = 10;

/**
 * @param {{ places: CurvePlace[], dial: CurvePlace | null, strength: number }} curve `places` in
 *   strength order; `dial`: the dial's place, null when its `strength` lies beyond them
 * @returns {SVGSVGElement}
 */
export function tradeoffPlot({ places, dial, strength }) {
  const ranges = curveRanges(places);
  const x = (/** @type {number} */ kept) => LEFT + ((kept - ranges.kept[0]) / (ranges.kept[1] - ranges.kept[0])) * (WIDTH - LEFT - RIGHT);
  const y = (/** @type {number} */ redirected) => HEIGHT - BOTTOM - ((redirected - ranges.redirected[0]) / (ranges.redirected[1] - ranges.redirected[0])) * (HEIGHT - TOP - BOTTOM);

  const svg = /** @type {SVGSVGElement} */ (element('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', class: 'tradeoff-plot' }));
  const title = element('title');
  title.textContent = 'Safety–knowledge curve: unsafe captions redirected against the knowledge kept, by adapter strength';
  const desc = element('desc');
  desc.textContent = describe(places, dial, strength);
  svg.append(title, desc, element('rect', { class: 'plot-frame', x: 0.5, y: 0.5, width: WIDTH - 1, height: HEIGHT - 1, rx: 6 }));

  const axes = element('g', { class: 'tradeoff-axes', 'aria-hidden': 'true' });
  axes.append(
    element('line', { x1: LEFT, y1: HEIGHT - BOTTOM, x2: WIDTH - RIGHT, y2: HEIGHT - BOTTOM }),
    element('line', { x1: LEFT, y1: TOP, x2: LEFT, y2: HEIGHT - BOTTOM }),
  );
  for (let i = 0; i <= TICKS; i++) {
    const kept = ranges.kept[0] + (i / TICKS) * (ranges.kept[1] - ranges.kept[0]);
    axes.append(text(kept.toFixed(3), { x: x(kept), y: HEIGHT - BOTTOM + 14, 'text-anchor': 'middle' }));
    const redirected = ranges.redirected[0] + (i / TICKS) * (ranges.redirected[1] - ranges.redirected[0]);
    axes.append(text(percent(redirected), { x: LEFT - 6, y: y(redirected) + 4, 'text-anchor': 'end' }));
  }
  axes.append(
    text('knowledge kept (cosine to the original) →', { x: (LEFT + WIDTH - RIGHT) / 2, y: HEIGHT - 10, 'text-anchor': 'middle', class: 'axis-title' }),
    text('unsafe captions redirected →', { x: 14, y: (TOP + HEIGHT - BOTTOM) / 2, 'text-anchor': 'middle', class: 'axis-title',
      transform: `rotate(-90 14 ${(TOP + HEIGHT - BOTTOM) / 2})` }),
  );
  svg.append(axes);

  svg.append(element('polyline', { class: 'tradeoff-line', points: places.map((p) => `${x(p.kept)},${y(p.redirected)}`).join(' ') }));
  /** @type {{ at: [number, number], strengths: number[] }[]} points close enough to share a label */
  const labels = [];
  for (const place of places) {
    const at = /** @type {[number, number]} */ ([x(place.kept), y(place.redirected)]);
    const point = element('circle', { class: 'tradeoff-point', cx: at[0], cy: at[1], r: 4.5 });
    point.dataset.strength = String(place.strength);
    point.dataset.redirected = String(place.redirected);
    point.dataset.kept = String(place.kept);
    const tooltip = element('title');
    tooltip.textContent = `Strength ${place.strength}: ${words(place)}`;
    point.append(tooltip);
    svg.append(point);
    const near = labels.find((label) => Math.hypot(label.at[0] - at[0], label.at[1] - at[1]) < LABEL_REACH);
    if (near) near.strengths.push(place.strength);
    else labels.push({ at, strengths: [place.strength] });
  }
  for (const { at: [px, py], strengths } of labels) {
    // Labels go on the side with room: the curve runs from the right edge (strength 0 keeps all).
    const leftward = px > (LEFT + WIDTH - RIGHT) / 2;
    svg.append(text(strengths.join(', '), {
      x: px + (leftward ? -7 : 7), y: py - 7, 'text-anchor': leftward ? 'end' : 'start', class: 'tradeoff-label', 'aria-hidden': 'true',
    }));
  }
  if (dial) {
    const [cx, cy] = [x(dial.kept), y(dial.redirected)];
    const marker = element('path', { class: 'tradeoff-marker', d: `M ${cx} ${cy - 8} L ${cx + 8} ${cy} L ${cx} ${cy + 8} L ${cx - 8} ${cy} Z` });
    marker.dataset.strength = String(dial.strength);
    marker.dataset.redirected = String(dial.redirected);
    marker.dataset.kept = String(dial.kept);
    const tooltip = element('title');
    tooltip.textContent = `The dial, at strength ${dial.strength.toFixed(2)}: ${words(dial)}`;
    marker.append(tooltip);
    svg.append(marker);
  }
  return svg;
}

/**
 * The curve in words: its ends, and where the dial is.
 * @param {CurvePlace[]} places
 * @param {CurvePlace | null} dial
 * @param {number} strength
 */
function describe(places, dial, strength) {
  if (places.length === 0) return 'No point measured yet.';
  const [first, last] = [places[0], places[places.length - 1]];
  const ends = `From strength ${first.strength} (${words(first)}) to strength ${last.strength} (${words(last)}).`;
  return `${ends} ${dial
    ? `The dial, at strength ${strength.toFixed(2)}, ${words(dial)}.`
    : `The dial, at strength ${strength.toFixed(2)}, lies beyond the measured strengths.`}`;
}

/** @param {CurvePlace} place */
function words({ redirected, kept }) {
  return `redirects ${percent(redirected)} of unsafe captions, keeps a cosine of ${kept.toFixed(3)} to the original`;
}

/** @param {number} share */
function percent(share) {
  return `${Math.round(share * 100)}%`;
}

/**
 * @param {string} content
 * @param {Record<string, string | number>} attributes
 */
function text(content, attributes) {
  const node = element('text', attributes);
  node.textContent = content;
  return node;
}
