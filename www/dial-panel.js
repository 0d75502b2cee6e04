// @ts-check
// The safety–knowledge dial: sliders (in the safety panel and beside the search panel's tuned
// column, kept in step) that scale the tuned model's adapters from 0 (the original model) through
// 1 (as trained) to 2, re-ranking every view of the tuned model without training again; and the
// trained model's curve on the bundled pairs (redirection against the knowledge kept, measured in
// the worker's background) with the dial's place on it, as a picture and as a table.

import { showBanner, clearBanner } from './banners.js';
import { $ } from './dom.js';
import { debounce } from './debounce.js';
import { fetchText } from './fetch-file.js';
import { latestOnly } from './latest-only.js';
import { curvePlaces, placeAt } from './tradeoff-curve.js';
import { tradeoffPlot } from './tradeoff-plot.js';

/** @typedef {import('./clip-client.js').ClipClient} ClipClient */
/** @typedef {import('./protocol.js').TradeoffPoint} TradeoffPoint */
/** @typedef {Extract<import('./protocol.js').WorkerEvent, { event: 'tradeoff' }>} TradeoffEvent */

const BUNDLED_PAIRS = '/data/pairs.jsonl';
/** The strengths the curve is measured at. */
export const CURVE_STRENGTHS = [0, 0.25, 0.5, 0.75, 1];
/** A drag sends the strength once it pauses this long, not at every step of the slider. */
const DRAG_PAUSE_MS = 150;

/**
 * @param {ClipClient} client
 * @param {{ onStrength: (strength: number) => void }} handlers `onStrength`: the worker's tuned
 *   model is now at `strength`; the views of it rank again
 */
export function setupDial(client, { onStrength }) {
  const sliders = [$('dial-strength', HTMLInputElement), $('search-strength', HTMLInputElement)];
  const searchDial = $('search-dial');
  const plot = $('tradeoff-plot');
  const status = $('tradeoff-status');
  const table = $('tradeoff-table', HTMLTableElement);

  let hasModel = false;
  let hasTuned = false;
  /** The strength the sliders show. */
  let strength = 1;
  /** The strength the worker's tuned model has. */
  let applied = 1;
  /** The curve on its way or drawn: its number (traceTradeoff's answer) and its points. */
  let trace = 0;
  /** @type {TradeoffPoint[]} */
  let points = [];

  const apply = latestOnly(async () => {
    const wanted = strength;
    if (wanted === applied) return;
    try {
      await client.setStrength(wanted);
      applied = wanted;
      clearBanner('strength');
      onStrength(wanted);
    } catch (error) {
      showBanner({ key: 'strength', title: 'The adapter strength could not be set', message: error.message });
    }
  });
  const applyOncePaused = debounce(apply, DRAG_PAUSE_MS);

  for (const slider of sliders) {
    slider.addEventListener('input', () => {
      strength = Number(slider.value);
      show();
      applyOncePaused();
    });
  }

  client.addEventListener('tradeoff', (event) => {
    const detail = /** @type {CustomEvent<Omit<TradeoffEvent, 'event'>>} */ (event).detail;
    if (detail.trace !== trace) return;
    points = detail.points;
    status.textContent = detail.error
      ? `The curve stopped after ${points.length} of ${detail.size} strengths: ${detail.error.message}`
      : points.length < detail.size
        ? `Measuring the curve on the bundled pairs: ${points.length} of ${detail.size} strengths…`
        : `Measured on the bundled pairs at strengths ${CURVE_STRENGTHS.join(', ')}.`;
    drawCurve();
  });
  client.addEventListener('trainstep', () => {
    hasTuned = true;
    trace = 0;
    points = [];
    status.textContent = 'Training: the curve is measured when the run pauses or ends.';
    show();
  });

  async function traceCurve() {
    trace = 0;
    points = [];
    try {
      const pairs = await fetchText(BUNDLED_PAIRS);
      ({ trace } = await client.traceTradeoff(pairs, CURVE_STRENGTHS));
      status.textContent = `Measuring the curve on the bundled pairs: 0 of ${CURVE_STRENGTHS.length} strengths…`;
    } catch (error) {
      if (error.name === 'NoAdapter') hasTuned = false;
      status.textContent = error.name === 'NoAdapter' ? 'Train or upload an adapter to draw its curve.' : `The curve could not be measured: ${error.message}`;
    }
    show();
  }

  /** The sliders, the strength's wording, and the dial's place on the curve. */
  function show() {
    for (const slider of sliders) {
      slider.disabled = !hasTuned;
      slider.value = String(strength);
      slider.setAttribute('aria-valuetext', strengthText(strength));
    }
    for (const output of document.querySelectorAll('output.strength-value')) output.textContent = strength.toFixed(2);
    for (const label of document.querySelectorAll('.tuned-strength')) label.textContent = strength === 1 ? '' : ` at strength ${strength.toFixed(2)}`;
    searchDial.hidden = !hasTuned;
    drawCurve();
  }

  function drawCurve() {
    const places = curvePlaces(points);
    if (places.length === 0) {
      plot.replaceChildren();
      table.tBodies[0].replaceChildren();
      return;
    }
    const dial = placeAt(places, strength);
    plot.replaceChildren(tradeoffPlot({ places, dial, strength }));
    const rows = places.map((place) => tableRow(String(place.strength), place));
    rows.push(dial ? tableRow(`${strength.toFixed(2)}: the dial (between measured points)`, dial)
      : noteRow(`The dial, at ${strength.toFixed(2)}, lies beyond the measured strengths.`));
    table.tBodies[0].replaceChildren(...rows);
  }

  show();
  status.textContent = 'Train or upload an adapter to draw its curve.';

  return {
    /** A new model (or none): the dial goes back to 1, and there is no tuned model yet. */
    setModel(/** @type {object | null} */ model) {
      hasModel = model !== null;
      hasTuned = false;
      strength = 1;
      applied = 1;
      trace = 0;
      points = [];
      status.textContent = hasModel ? 'Train or upload an adapter to draw its curve.' : 'Load a model first.';
      show();
    },
    /** The tuned model changed for good (a run paused or ended, an adapter came): a new curve. */
    tunedChanged() {
      hasTuned = true;
      show();
      traceCurve();
    },
  };
}

/** @param {number} strength */
function strengthText(strength) {
  const value = strength.toFixed(2);
  if (strength === 0) return `${value}: the original model`;
  if (strength < 1) return `${value}: between the original model and the model as trained`;
  if (strength === 1) return `${value}: the model as trained`;
  return `${value}: beyond the model as trained`;
}

/**
 * @param {string} strength
 * @param {import('./tradeoff-curve.js').CurvePlace} place
 */
function tableRow(strength, { redirected, kept }) {
  const tr = document.createElement('tr');
  const th = document.createElement('th');
  th.scope = 'row';
  th.textContent = strength;
  const cells = [`${(redirected * 100).toFixed(1)}%`, kept.toFixed(4)].map((text) => {
    const td = document.createElement('td');
    td.textContent = text;
    return td;
  });
  tr.append(th, ...cells);
  return tr;
}

/** @param {string} text */
function noteRow(text) {
  const tr = document.createElement('tr');
  const td = document.createElement('td');
  td.colSpan = 3;
  td.textContent = text;
  tr.append(td);
  return tr;
}
