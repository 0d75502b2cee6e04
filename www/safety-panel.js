// @ts-check
// The safety panel: LoRA training (on the GPU or the CPU) with live loss curves and its speed, pause/resume, a checkpoint
// kept in this browser, adapter download/upload, and the nearest safe captions of a prompt for
// the original and the tuned model side by side. A GPU that is lost or runs out of memory during
// a run gets its own explanation: what happened, what was kept, what to do. A HySAC model also
// reads the prompt as safe or unsafe, can redirect it to the safe region before retrieving, and
// shows its traversal toward the root.

import { clearBanner, showBanner } from './banners.js';
import { $ } from './dom.js';
import { parseCaptionPool } from './caption-pool.js';
import { debounce } from './debounce.js';
import { fetchText } from './fetch-file.js';
import { latestOnly } from './latest-only.js';
import { captionItem, distanceLabel, note, scoreBar, showReading } from './result-items.js';

/** @typedef {import('./clip-client.js').ClipClient} ClipClient */
/** @typedef {import('./clip-client.js').TrainOptions} TrainOptions */
/** @typedef {Extract<import('./protocol.js').WorkerEvent, { event: 'trainend' }>} TrainEnd */

const BUNDLED_PAIRS = '/data/pairs.jsonl';
const BUNDLED_POOL = '/data/safe_pool.txt';
const SHOWN = 5;
/** Points of a HySAC traversal, from the prompt to the root. */
const TRAVERSAL_STEPS = 8;
const PROMPT_DELAY_MS = 250;
/** The errors of a run that take the GPU (and so the model) with them. */
const GPU_FAILURES = new Set(['DeviceLost', 'OutOfMemory']);
const COLOURS = ['#1b1b1b', '#c0392b', '#2471a3', '#229954', '#b9770e', '#7d3c98', '#117a65', '#a04000', '#5d6d7e'];

/**
 * @param {ClipClient} client
 * @param {{ onTunedChange: () => void }} handlers `onTunedChange`: the tuned model changed
 *   (a run paused or ended, an adapter was uploaded)
 */
export function setupSafetyPanel(client, { onTunedChange }) {
  const form = $('train-form');
  const startButton = $('train-start', HTMLButtonElement);
  const pauseButton = $('train-pause', HTMLButtonElement);
  const cancelButton = $('train-cancel', HTMLButtonElement);
  const resumeSavedButton = $('train-resume-saved', HTMLButtonElement);
  const status = $('train-status');
  const label = $('train-label');
  const progress = $('train-progress', HTMLProgressElement);
  const canvas = $('loss-curve', HTMLCanvasElement);
  const legend = $('loss-legend');
  const downloadButton = $('adapter-download', HTMLButtonElement);
  const uploadInput = $('adapter-upload', HTMLInputElement);
  const comparePrompt = $('compare-prompt', HTMLInputElement);
  const compareStatus = $('compare-status');
  const originalList = $('compare-original');
  const tunedList = $('compare-tuned');
  const failure = $('train-failure');
  const hysacControls = $('hysac-controls');
  const safetyBadge = $('compare-safety');
  const redirectToggle = $('compare-redirect', HTMLInputElement);
  const traversal = $('traversal');

  let hasModel = false;
  /** The path the model runs on, for the speed of each step: 'the CPU' or 'the GPU'. */
  let backendName = '';
  let training = false;
  let paused = false;
  let hasTuned = false;
  /** @type {string[]} */
  let pool = [];
  /** Loss history: one `{step, loss, terms: {name: value}}` per step. */
  let history = [];
  /** The data of the current run, kept to resume its checkpoint. */
  let runData = null;
  /** The options of the current run, as the form shows them. */
  let runOptions = null;
  /** The checkpoint this browser keeps, as checkpointInfo gives it. */
  let savedRun = null;
  /** Whether the results shown cover only part of a pool still being embedded. */
  let partial = false;

  function setButtons() {
    startButton.disabled = !hasModel || training;
    pauseButton.disabled = !training;
    pauseButton.textContent = paused ? 'Resume' : 'Pause';
    cancelButton.disabled = !training;
    // Also when the answer to a checkpoint query arrives after a run started or the model went.
    resumeSavedButton.hidden = !savedRun || !hasModel || training;
    downloadButton.disabled = !hasTuned;
    uploadInput.disabled = !hasModel || training;
    comparePrompt.disabled = !hasModel || pool.length === 0;
  }

  async function trainingData() {
    const file = $('train-pairs', HTMLInputElement).files?.[0];
    return { pairs: file ? await file.text() : await fetchText(BUNDLED_PAIRS) };
  }

  function options() {
    const number = (/** @type {string} */ id) => Number($(id, HTMLInputElement).value);
    return {
      method: /** @type {TrainOptions['method']} */ ($('train-method', HTMLSelectElement).value),
      rank: number('train-rank'),
      learningRate: number('train-lr'),
      maxSteps: number('train-steps'),
      batchSize: number('train-batch'),
    };
  }

  /**
   * Shows a run's options in the form (a resumed run's, instead of the page's defaults).
   * @param {TrainOptions} options
   * @param {number} totalSteps
   */
  function showOptions({ method, rank, learningRate, maxSteps, batchSize }, totalSteps) {
    const methodSelect = $('train-method', HTMLSelectElement);
    if ([...methodSelect.options].some((option) => option.value === method)) methodSelect.value = method;
    $('train-rank', HTMLInputElement).value = String(rank);
    $('train-lr', HTMLInputElement).value = String(learningRate);
    $('train-steps', HTMLInputElement).value = String(maxSteps ?? totalSteps);
    $('train-batch', HTMLInputElement).value = String(batchSize);
  }

  async function start(resume) {
    clearBanner('training');
    failure.hidden = true;
    training = true;
    paused = false;
    history = [];
    drawCurve();
    setButtons();
    status.hidden = false;
    label.textContent = 'Embedding the pairs and finding each unsafe caption’s nearest safe caption…';
    progress.removeAttribute('value');
    try {
      runData ??= await trainingData();
      const run = await client.train({ ...runData, options: options(), resume });
      runOptions = run.options;
      if (resume) showOptions(run.options, run.totalSteps);
      progress.max = run.totalSteps;
      progress.value = run.stepsDone;
      label.textContent = `Step ${run.stepsDone} of ${run.totalSteps}`;
    } catch (error) {
      training = false;
      status.hidden = true;
      setButtons();
      showBanner({ key: 'training', title: 'Training could not start', message: error.message });
    }
  }

  client.addEventListener('trainstep', (event) => {
    const report = /** @type {CustomEvent<Record<string, any>>} */ (event).detail;
    history.push({
      step: report.step,
      loss: report.loss,
      terms: Object.fromEntries(report.terms.map((t) => [t.name, t.value])),
    });
    progress.max = report.total_steps;
    progress.value = report.step;
    label.textContent = `Step ${report.step} of ${report.total_steps} · epoch ${report.epoch + 1}` +
      ` · loss ${report.loss.toFixed(4)} · ${report.examples_per_s.toFixed(1)} pairs/s on ${backendName}`;
    hasTuned = true;
    drawCurve();
    setButtons();
  });

  client.addEventListener('trainend', (event) => {
    const end = /** @type {CustomEvent<TrainEnd>} */ (event).detail;
    if (end.reason === 'error' && GPU_FAILURES.has(end.error.name)) {
      // The run and the model are gone with the GPU; the checkpoint in this browser is not.
      training = false;
      paused = false;
      status.hidden = true;
      showFailure(end.error, end.saved ?? null);
      setButtons();
      return;
    }
    if (end.reason === 'error') {
      // The run is kept, paused, with its last good adapters: it can be downloaded.
      paused = true;
      showBanner({ key: 'training', title: 'Training stopped', message: end.error.message });
      label.textContent = `Stopped at step ${progress.value}: the adapters of the last good step are kept.`;
    } else {
      training = false;
      paused = false;
      label.textContent = end.reason === 'done' ? `Done: ${progress.value} steps.` : 'Cancelled.';
    }
    setButtons();
    refreshSaved();
    compare();
    onTunedChange();
  });

  /** What happened to the GPU, what this browser kept, and what to do next. */
  function showFailure(error, saved) {
    const stepsDone = Number(progress.value) || 0;
    const outOfMemory = error.name === 'OutOfMemory';
    $('train-failure-title').textContent = outOfMemory
      ? 'Training stopped: the GPU ran out of memory'
      : 'Training stopped: the GPU device was lost';
    $('train-failure-what').textContent = `${error.message} The run stopped after step ${stepsDone}`
      + ' and the model was unloaded.';
    $('train-failure-saved').textContent = saved
      ? `The last checkpoint, of step ${saved.steps}${savedTime(saved)}, is kept in this browser.`
      : 'No checkpoint was saved in this browser yet (one is kept every ten steps and on pause).';
    const batch = runOptions?.batchSize;
    const smaller = batch ? ` (this run used ${batch}; try ${Math.max(1, Math.floor(batch / 2))})` : '';
    const reset = ' If the GPU is lost again, lower the batch size: a step that needs too much memory or time'
      + ' can make the system reset the GPU.';
    $('train-failure-todo').textContent = outOfMemory
      ? `Load the model again, then train with a smaller batch size${smaller} or a lower LoRA rank.`
        + (saved ? ' Or, to continue the saved run (it keeps its batch size), close other tabs and programs'
          + ' that use the GPU, load the model again and press “Resume saved run”.' : '')
      : 'Load the model again (on the CPU, or reload the page for a fresh GPU device), then '
        + (saved ? 'press “Resume saved run” to continue from the checkpoint.' : 'train again.') + reset;
    failure.hidden = false;
  }

  function savedTime(saved) {
    const time = new Date(saved.savedAt);
    return Number.isNaN(time.getTime()) ? '' : `, saved at ${time.toLocaleTimeString()}`;
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    runData = null;
    start(false);
  });
  resumeSavedButton.addEventListener('click', () => start(true));
  pauseButton.addEventListener('click', async () => {
    paused = !paused;
    setButtons();
    if (!paused) {
      await client.resumeTraining().catch(runLost);
      return;
    }
    label.textContent = 'Pausing after this step…';
    try {
      const { stepsDone } = await client.pauseTraining();
      label.textContent = `Paused at step ${stepsDone}; saved in this browser.`;
    } catch (error) {
      showBanner({ key: 'training', title: 'The checkpoint could not be saved', message: error.message });
    }
    compare();
    onTunedChange();
  });
  cancelButton.addEventListener('click', () => client.cancelTraining().catch(runLost));

  /**
   * A resume or cancel that failed: a GPU failure is explained by the failure notice (the run
   * ended with it); anything else gets a banner.
   * @param {import('./errors.js').ClipError} error
   */
  function runLost(error) {
    if (!GPU_FAILURES.has(error.name)) showBanner({ key: 'training', title: 'The run did not answer', message: error.message });
  }

  downloadButton.addEventListener('click', async () => {
    try {
      const { bytes } = await client.exportAdapter();
      const link = document.createElement('a');
      link.href = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
      link.download = 'adapter.safetensors';
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    } catch (error) {
      showBanner({ key: 'adapter', title: 'The adapter could not be exported', message: error.message });
    }
  });
  uploadInput.addEventListener('change', async () => {
    const file = uploadInput.files?.[0];
    if (!file) return;
    clearBanner('adapter');
    try {
      await client.importAdapter(new Uint8Array(await file.arrayBuffer()));
      hasTuned = true;
      setButtons();
      compare();
      onTunedChange();
    } catch (error) {
      showBanner({ key: 'adapter', title: `${file.name} is not a usable adapter`, message: error.message });
    } finally {
      uploadInput.value = '';
    }
  });

  const compare = latestOnly(async () => {
    const query = comparePrompt.value.trim();
    partial = false;
    if (!hasModel || pool.length === 0 || !query) {
      originalList.replaceChildren(note('Type a prompt to see its nearest safe captions.'));
      tunedList.replaceChildren(note(hasTuned ? 'Type a prompt.' : 'Train or upload an adapter.'));
      showHysac(null);
      return;
    }
    compareStatus.textContent = 'Searching…';
    try {
      // A HySAC model ranks by distance: its cosine ranking would be computed for nothing.
      const hysac = await client.hysacView(query, { k: SHOWN, steps: TRAVERSAL_STEPS, redirect: redirectToggle.checked });
      const found = await client.nearestSafe([query], SHOWN, { tuned: !hysac });
      if (comparePrompt.value.trim() !== query) return;
      originalList.replaceChildren(...neighbours(found.original[0]));
      if (hysac) {
        tunedList.replaceChildren(...distances(hysac.retrieval.results));
      } else {
        tunedList.replaceChildren(...(found.tuned ? neighbours(found.tuned[0]) : [note('Train or upload an adapter.')]));
      }
      showHysac(hysac);
      const searched = Math.min(found.poolEmbedded, found.tuned ? found.tunedEmbedded : Infinity, hysac ? hysac.poolEmbedded : Infinity);
      partial = searched < found.poolSize;
      compareStatus.textContent = (partial
        ? `Nearest of the ${searched.toLocaleString()} of ${found.poolSize.toLocaleString()} safe captions embedded so far;`
          + ' the lists update when all are.'
        : `Nearest of ${found.poolSize.toLocaleString()} safe captions.`)
        + (hysac ? ' The tuned model (HySAC) ranks them by hyperbolic distance: smaller is nearer.' : '');
    } catch (error) {
      compareStatus.textContent = `The search failed: ${error.message}`;
    }
  });

  comparePrompt.addEventListener('input', debounce(compare, PROMPT_DELAY_MS));
  redirectToggle.addEventListener('change', compare);

  // Results over part of the pool are brought up to date once the pool is embedded.
  client.addEventListener('pool', (event) => {
    const { embedded, size } = /** @type {CustomEvent<{ embedded: number, size: number }>} */ (event).detail;
    if (partial && embedded === size) compare();
  });

  /** The HySAC views for a prompt, or none (`hysac` null: the tuned model is not a HySAC one). */
  function showHysac(hysac) {
    hysacControls.hidden = !hysac;
    traversal.hidden = !hysac;
    if (!hysac) return;
    const { retrieval, traversal: walk } = hysac;
    showReading(safetyBadge, retrieval.query, { bound: walk.bound, redirected: retrieval.redirected, categories: hysac.categories });
    $('traversal-bounds').textContent = `Safe region: root distance up to ${walk.bound.toFixed(3)};`
      + ` a redirected query stops at the traversal boundary, ${walk.boundary.toFixed(3)}.`;
    $('traversal-steps').replaceChildren(...walk.steps.map(({ caption, distance }) => captionItem(
      caption === null ? '(the root: no caption’s cone holds this point)' : pool[caption],
      distanceLabel(distance, 'root distance'),
    )));
  }

  function distances(list) {
    return list.map(({ index, distance }) => captionItem(pool[index], distanceLabel(distance)));
  }

  function neighbours(list) {
    return list.map(({ index, score }) => captionItem(pool[index], scoreBar(score)));
  }

  function drawCurve() {
    const context = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
    const { width, height } = canvas;
    context.clearRect(0, 0, width, height);
    const names = history.length ? ['loss', ...Object.keys(history[0].terms)] : [];
    const value = (entry, name) => (name === 'loss' ? entry.loss : entry.terms[name]);
    const all = history.flatMap((entry) => names.map((name) => value(entry, name))).filter(Number.isFinite);
    const top = Math.max(...all, 1e-6);
    const last = Math.max(history.length - 1, 1);
    names.forEach((name, i) => {
      context.strokeStyle = COLOURS[i % COLOURS.length];
      context.lineWidth = name === 'loss' ? 2.5 : 1.2;
      context.beginPath();
      history.forEach((entry, j) => {
        const x = 4 + (j / last) * (width - 8);
        const y = height - 4 - (value(entry, name) / top) * (height - 8);
        if (j === 0) context.moveTo(x, y);
        else context.lineTo(x, y);
      });
      context.stroke();
    });
    legend.replaceChildren(...names.map((name, i) => {
      const li = document.createElement('li');
      li.style.setProperty('--colour', COLOURS[i % COLOURS.length]);
      const latest = history.length ? value(history[history.length - 1], name) : NaN;
      li.textContent = `${name} ${Number.isFinite(latest) ? latest.toFixed(4) : ''}`;
      return li;
    }));
  }

  async function refreshSaved() {
    try {
      savedRun = hasModel && !training ? await client.checkpointInfo() : null;
    } catch {
      savedRun = null;
    }
    if (savedRun) resumeSavedButton.textContent = `Resume saved run (step ${savedRun.steps})`;
    setButtons();
  }

  setButtons();
  compare();

  return {
    /** The dial turned: the tuned model's nearest captions again. */
    strengthChanged() {
      compare();
    },
    /** Switches to a new model (or to none); a run and adapters of the old model are gone. */
    async setModel(model) {
      hasModel = model !== null;
      backendName = model?.backend === 'gpu' ? 'the GPU' : 'the CPU';
      training = false;
      paused = false;
      hasTuned = false;
      pool = [];
      compareStatus.textContent = '';
      setButtons();
      compare();
      if (!hasModel) return;
      try {
        const captions = parseCaptionPool(await fetchText(BUNDLED_POOL));
        await client.setPool(captions);
        pool = captions;
      } catch (error) {
        // Said in the panel, not in a page banner: the rest of the page works without the pool.
        compareStatus.textContent = `The safe caption pool could not be set for this model: ${error.message}`;
      }
      setButtons();
      compare();
      refreshSaved();
    },
  };
}
