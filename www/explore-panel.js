// @ts-check
// The explore view: a sample of the bundled pairs in the first two principal components of the
// original model's text embeddings, with an arrow from each unsafe caption to its nearest safe
// caption, for the original model and, once there is one, the safety-tuned model in the same
// projection, so that the two pictures compare. Its captions are embedded as background work,
// behind the visitor's own requests.

import { $ } from './dom.js';
import { fetchText } from './fetch-file.js';
import { latestOnly } from './latest-only.js';
import { explainedVariance, fitPca, project } from './pca.js';
import { landsSafeByCategory, nearestSafeArrows } from './caption-neighbours.js';
import { frameFor, redirectionPlot } from './explore-plot.js';
import { row } from './ranking.js';

/** @typedef {import('./clip-client.js').ClipClient} ClipClient */
/** @typedef {import('./explore-plot.js').PlotPoint} PlotPoint */
/** @typedef {import('./explore-plot.js').PlotArrow} PlotArrow */
/** @typedef {{ safe: string, unsafe: string, category: string }} Pair */

const BUNDLED_PAIRS = '/data/pairs.jsonl';
const SAMPLED_PAIRS = 40;

/** @param {ClipClient} client */
export function setupExplorePanel(client) {
  const status = $('explore-status');
  const redrawButton = $('explore-redraw', HTMLButtonElement);
  const plots = $('explore-plots');
  const table = $('explore-table', HTMLTableElement);

  let hasModel = false;
  /** Bumped when the model changes, so that results of the previous one are dropped. */
  let generation = 0;
  /** @type {Pair[] | null} */
  let pairs = null;
  /** The original model's embeddings and projection, computed once per model. */
  let original = null;
  /** The dial's strength, which the tuned model's picture is drawn at. */
  let strength = 1;

  /**
   * The captions as points, each unsafe caption followed by its safe counterpart, so that the
   * arrow keys walk through the pairs.
   */
  /** @param {Pair[]} pairs */
  function captionPoints(pairs) {
    return pairs.flatMap(({ safe, unsafe, category }) => [
      { text: unsafe, kind: 'unsafe', category },
      { text: safe, kind: 'safe', category },
    ]);
  }

  const draw = latestOnly(async () => {
    if (!hasModel) return;
    const started = generation;
    const stale = () => started !== generation;
    try {
      const sample = pairs ??= samplePairs(await fetchPairs());
      const points = captionPoints(sample);
      const texts = points.map((point) => point.text);
      if (!original) {
        status.textContent = `Embedding ${texts.length} captions with the original model…`;
        const embeddings = await client.encodeText(texts, { background: true });
        if (stale()) return;
        const rows = texts.map((_, i) => row(embeddings, i));
        const pca = fitPca(rows);
        original = { rows, pca, coordinates: rows.map((r) => project(pca, r)) };
      }
      status.textContent = 'Embedding the captions with the tuned model…';
      const tunedRows = await client.encodeText(texts, { tuned: true, background: true }).then(
        (embeddings) => texts.map((_, i) => row(embeddings, i)),
        (error) => {
          if (error.name === 'NoAdapter') return null;
          throw error;
        },
      );
      if (stale()) return;
      render(sample, points, tunedRows);
    } catch (error) {
      if (!stale()) status.textContent = `The captions could not be embedded: ${error.message}`;
    }
  });

  function render(pairs, points, tunedRows) {
    const tuned = tunedRows && { rows: tunedRows, coordinates: tunedRows.map((r) => project(original.pca, r)) };
    const frame = frameFor([...original.coordinates, ...(tuned?.coordinates ?? [])]);
    const originalView = view(points, original);
    const tunedView = tuned && view(points, tuned);
    const tunedTitle = `Safety-tuned model${strength === 1 ? '' : ` at strength ${strength.toFixed(2)}`}`;
    plots.replaceChildren(
      redirectionPlot({ title: 'Original model', name: 'Original model', frame, ...originalView }),
      tunedView
        ? redirectionPlot({ title: tunedTitle, name: tunedTitle, frame, ...tunedView })
        : placeholder(),
    );
    fillTable(points, originalView.arrows, tunedView?.arrows ?? null);
    const kept = (explainedVariance(original.pca) * 100).toFixed(1);
    status.textContent = `${pairs.length} pairs of the bundled data; the two axes keep ${kept}% of the`
      + ` variance of the original model’s embeddings of these captions.`
      + (tuned ? ' Both pictures use the original model’s axes.' : ' Train first (Safety tuning) to see the tuned model beside it.');
  }

  /** Points at a model's coordinates, arrows by its embeddings, and what they add up to. */
  function view(points, { rows, coordinates }) {
    const placed = points.map((point, i) => ({ ...point, x: coordinates[i][0], y: coordinates[i][1] ?? 0 }));
    const arrows = nearestSafeArrows(points, rows);
    const meanScore = arrows.reduce((sum, arrow) => sum + arrow.score, 0) / arrows.length;
    const categories = landsSafeByCategory(points, rows);
    const landsSafe = categories.reduce((sum, count) => sum + count.landsSafe, 0);
    return {
      points: placed,
      arrows,
      summary: [
        `Unsafe → nearest safe caption: mean cosine ${meanScore.toFixed(3)}`,
        `Unsafe captions whose nearest caption is a safe one: ${landsSafe} of ${arrows.length}`,
      ],
      categories,
    };
  }

  function placeholder() {
    const box = document.createElement('div');
    box.className = 'explore-plot explore-placeholder';
    const heading = document.createElement('h3');
    heading.textContent = 'Safety-tuned model';
    const text = document.createElement('p');
    text.className = 'note';
    text.textContent = 'Train a few steps or upload an adapter in Safety tuning: the tuned model’s picture appears here, in the same projection.';
    box.append(heading, text);
    return box;
  }

  function fillTable(points, originalArrows, tunedArrows) {
    const body = table.tBodies[0];
    const cell = (arrow) => {
      const td = document.createElement('td');
      td.textContent = arrow ? `${points[arrow.to].text} (${arrow.score.toFixed(3)})` : '—';
      return td;
    };
    body.replaceChildren(...originalArrows.map((arrow, a) => {
      const tr = document.createElement('tr');
      const unsafe = document.createElement('th');
      unsafe.scope = 'row';
      unsafe.textContent = points[arrow.from].text;
      tr.append(unsafe, cell(arrow), cell(tunedArrows?.[a]));
      return tr;
    }));
  }

  redrawButton.addEventListener('click', draw);

  return {
    /** Draws the original model's picture for a new model (or clears it for none). */
    setModel(model) {
      hasModel = model !== null;
      generation++;
      original = null;
      strength = 1;
      redrawButton.disabled = !hasModel;
      plots.replaceChildren();
      table.tBodies[0].replaceChildren();
      status.textContent = hasModel ? '' : 'Load a model to explore its text space.';
      draw();
    },
    /**
     * Redraws after the tuned model changed (a run stepped, paused or ended; an adapter came; the
     * dial turned to `strength`).
     * @param {{ strength?: number }} [change]
     */
    tunedChanged(change = {}) {
      strength = change.strength ?? strength;
      draw();
    },
  };
}

async function fetchPairs() {
  return (await fetchText(BUNDLED_PAIRS)).split('\n').filter((line) => line.trim()).map((line) => JSON.parse(line));
}

/** Pairs spread evenly over the file, so that every category is in the sample. */
function samplePairs(all, count = SAMPLED_PAIRS) {
  if (all.length <= count) return all;
  return Array.from({ length: count }, (_, i) => all[Math.floor((i * all.length) / count)]);
}
