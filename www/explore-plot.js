// @ts-check
// One picture of the explore view: captions as points in a 2-D projection of a model's text
// space, and an arrow from each unsafe caption to its nearest safe caption. SVG, scaled to its
// box; one tab stop per picture, the arrow keys move between points, and the focused (or
// hovered) point's caption is written out below the picture.

import { svgElement as element } from './svg.js';

export const WIDTH = 400;
export const HEIGHT = 300;
const MARGIN = 16;
const RADIUS = 5;
/** How far from a point, in CSS pixels, a tap still selects it: a fingertip is wider than a point. */
const TAP_REACH_PX = 22;

/**
 * @typedef {{ text: string, kind: 'safe' | 'unsafe', category: string, x: number, y: number }} PlotPoint
 * An arrow from point `from` (unsafe) to point `to` (its nearest safe caption), `score` their cosine.
 * @typedef {{ from: number, to: number, score: number }} PlotArrow
 * @typedef {{ x: (value: number) => number, y: (value: number) => number }} Frame
 */

let plots = 0;

/**
 * Maps projected coordinates into the picture with one scale for both axes (distances keep
 * their proportions), fitting every point given.
 * @param {[number, number][]} coordinates
 * @returns {Frame}
 */
export function frameFor(coordinates) {
  const xs = coordinates.map(([x]) => x);
  const ys = coordinates.map(([, y]) => y);
  const [xMin, xMax, yMin, yMax] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const scale = Math.min((WIDTH - 2 * MARGIN) / (xMax - xMin || 1), (HEIGHT - 2 * MARGIN) / (yMax - yMin || 1));
  const xOffset = (WIDTH - scale * (xMax - xMin)) / 2;
  const yOffset = (HEIGHT - scale * (yMax - yMin)) / 2;
  return {
    x: (value) => xOffset + scale * (value - xMin),
    // Up is positive, as on paper.
    y: (value) => HEIGHT - yOffset - scale * (value - yMin),
  };
}

/**
 * @param {{ title: string, summary: string[], categories: import('./caption-neighbours.js').CategoryCount[],
 *   points: PlotPoint[], arrows: PlotArrow[], frame: Frame, name: string }} plot `categories`: per
 *   category, how many unsafe captions have a safe nearest neighbour; `name` labels the picture
 *   for assistive technology
 * @returns {HTMLElement}
 */
export function redirectionPlot({ title, summary, categories, points, arrows, frame, name }) {
  const id = `plot-${++plots}`;
  const figure = document.createElement('figure');
  figure.className = 'explore-plot';
  const heading = document.createElement('figcaption');
  const titleElement = document.createElement('h3');
  titleElement.textContent = title;
  const facts = document.createElement('ul');
  facts.className = 'explore-summary';
  facts.append(...summary.map((line) => Object.assign(document.createElement('li'), { textContent: line })));
  const lead = document.createElement('p');
  lead.className = 'explore-categories-lead';
  lead.id = `${id}-categories`;
  lead.textContent = 'By category:';
  const byCategory = document.createElement('ul');
  byCategory.className = 'explore-categories';
  byCategory.setAttribute('aria-labelledby', lead.id);
  byCategory.append(...categories.map(({ category, landsSafe, unsafe }) => {
    const item = document.createElement('li');
    item.dataset.category = category;
    item.dataset.landsSafe = String(landsSafe);
    item.dataset.unsafe = String(unsafe);
    item.textContent = `${category.replaceAll('_', ' ')}: ${landsSafe} of ${unsafe}`;
    return item;
  }));
  heading.append(titleElement, facts, lead, byCategory);

  const svg = /** @type {SVGSVGElement} */ (element('svg', {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: 'group',
    'aria-label': `${name}: ${points.length} captions; use the arrow keys to move between them`,
  }));
  const defs = element('defs');
  const marker = element('marker', {
    id: `${id}-head`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse',
  });
  marker.append(element('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrow-head' }));
  defs.append(marker);
  svg.append(defs, element('rect', { class: 'plot-frame', x: 0.5, y: 0.5, width: WIDTH - 1, height: HEIGHT - 1, rx: 6 }));

  const position = (i) => [frame.x(points[i].x), frame.y(points[i].y)];
  const arrowLines = arrows.map(({ from, to }) => {
    const [x1, y1] = position(from);
    const [x2, y2] = position(to);
    const length = Math.hypot(x2 - x1, y2 - y1);
    const [ux, uy] = length > 0 ? [(x2 - x1) / length, (y2 - y1) / length] : [0, 0];
    // Start beside the unsafe point, stop at the safe point's edge; hidden when they touch.
    const [start, end] = [RADIUS + 1, length - RADIUS - 2];
    const line = element('line', {
      class: 'arrow',
      x1: x1 + ux * start,
      y1: y1 + uy * start,
      x2: x1 + ux * end,
      y2: y1 + uy * end,
      'marker-end': `url(#${id}-head)`,
    });
    if (end <= start) line.setAttribute('visibility', 'hidden');
    return line;
  });
  svg.append(...arrowLines);

  const label = document.createElement('p');
  label.className = 'explore-focus';
  label.setAttribute('aria-live', 'polite');
  label.textContent = 'Hover over or focus a point to read its caption.';

  const descriptions = points.map((point, i) => describe(points, arrows, i));
  const markers = points.map((point, i) => {
    const [x, y] = position(i);
    const shape = point.kind === 'safe'
      ? element('circle', { cx: x, cy: y, r: RADIUS })
      : element('path', { d: `M ${x} ${y - RADIUS - 1.5} L ${x + RADIUS + 1} ${y + RADIUS - 0.5} L ${x - RADIUS - 1} ${y + RADIUS - 0.5} Z` });
    shape.classList.add('point', point.kind);
    shape.setAttribute('tabindex', i === 0 ? '0' : '-1');
    shape.setAttribute('role', 'img');
    shape.setAttribute('aria-label', descriptions[i]);
    shape.dataset.index = String(i);
    // The projected coordinates themselves, for reading off (the picture's are scaled).
    shape.dataset.x = String(point.x);
    shape.dataset.y = String(point.y);
    const tooltip = element('title');
    tooltip.textContent = descriptions[i];
    shape.append(tooltip);
    return shape;
  });
  svg.append(...markers);

  const show = (i) => {
    label.textContent = descriptions[i];
    arrowLines.forEach((line, a) => line.classList.toggle('highlight', arrows[a].from === i || arrows[a].to === i));
  };
  svg.addEventListener('focusin', (event) => {
    const i = pointIndex(event);
    if (!Number.isInteger(i)) return;
    markers.forEach((marker, m) => marker.setAttribute('tabindex', m === i ? '0' : '-1'));
    show(i);
  });
  svg.addEventListener('pointerover', (event) => {
    const i = pointIndex(event);
    if (Number.isInteger(i)) show(i);
  });
  svg.addEventListener('pointerdown', (event) => {
    if (event.pointerType === 'mouse') return;
    const toScreen = svg.getScreenCTM();
    if (!toScreen) return;
    const at = new DOMPoint(event.clientX, event.clientY).matrixTransform(toScreen.inverse());
    let nearest = -1;
    let reach = TAP_REACH_PX / toScreen.a;
    points.forEach((_, i) => {
      const [x, y] = position(i);
      const distance = Math.hypot(x - at.x, y - at.y);
      if (distance <= reach) [nearest, reach] = [i, distance];
    });
    if (nearest >= 0) markers[nearest].focus();
  });
  svg.addEventListener('keydown', (event) => {
    const i = pointIndex(event);
    if (!Number.isInteger(i)) return;
    const next = {
      ArrowRight: i + 1, ArrowDown: i + 1, ArrowLeft: i - 1, ArrowUp: i - 1, Home: 0, End: points.length - 1,
    }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    markers[(next + points.length) % points.length].focus();
  });

  figure.append(heading, svg, label);
  return figure;
}

/**
 * The index of the point an event happened on (NaN when it was not on a point).
 * @param {Event} event
 */
function pointIndex(event) {
  return Number(/** @type {SVGElement | null} */ (event.target)?.dataset?.index);
}

/** What a point is, in words: its caption and where its arrow points (or what points at it). */
function describe(points, arrows, i) {
  const point = points[i];
  const head = `${point.kind === 'safe' ? 'Safe' : 'Unsafe'} (${point.category.replaceAll('_', ' ')}): “${point.text}”`;
  if (point.kind === 'unsafe') {
    const arrow = arrows.find((a) => a.from === i);
    return arrow ? `${head} → nearest safe: “${points[arrow.to].text}” (cosine ${arrow.score.toFixed(3)})` : head;
  }
  const incoming = arrows.filter((a) => a.to === i).length;
  return incoming === 0
    ? `${head}; no unsafe caption here is nearest to it`
    : `${head}; the nearest safe caption of ${incoming} unsafe caption${incoming > 1 ? 's' : ''} here`;
}
