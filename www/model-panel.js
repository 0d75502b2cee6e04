// @ts-check
// The model panel: choose a checkpoint from this server, the Hugging Face hub or local files,
// follow its download and load, and choose the path it runs on (the CPU or WebGPU). Switching
// paths, or going on on the CPU after a GPU failure, loads the same model again from the copy
// this browser kept, not from the network.

import { clearBanner, showBanner } from './banners.js';
import { $ } from './dom.js';
import { acceptDrops } from './drop-zone.js';
import { fetchOk } from './fetch-file.js';

/** @typedef {import('./clip-client.js').ClipClient} ClipClient */
/** @typedef {import('./clip-client.js').ModelSource} ModelSource */
/** @typedef {import('./clip-client.js').LoadProgress} LoadProgress */
/** @typedef {import('./clip-client.js').BackendChoice} BackendChoice */
/** @typedef {import('./clip-client.js').Capabilities} Capabilities */
/** @typedef {import('./clip-client.js').LoadedModel & { name: string }} Model */

/** The errors after which the GPU path cannot be trusted in this visit, but the CPU path can. */
const GPU_FAILURES = new Set(['DeviceLost', 'OutOfMemory', 'Crashed']);

/**
 * @param {ClipClient} client
 * @param {{ onModel: (model: Model | null) => void }} handlers called with the new model once
 *   it is ready, and with null when the previous one is released
 */
export function setupModelPanel(client, { onModel }) {
  const panel = $('model-panel');
  const serverForm = $('server-form');
  const serverSelect = $('server-model', HTMLSelectElement);
  const hubForm = $('hub-form');
  const filesForm = $('files-form');
  const filesInput = $('model-files', HTMLInputElement);
  const pickedList = $('picked-files');
  const status = $('load-status');
  const statusLabel = $('load-label');
  const progressBar = $('load-progress', HTMLProgressElement);
  const summary = $('model-summary');
  const firstText = $('model-timings');
  const backendSelect = $('backend', HTMLSelectElement);
  const backendHint = $('backend-hint');

  /** The files picked or dropped so far, by name; a later pick replaces a same-named file. */
  const picked = new Map();
  let enabled = false;
  let loading = false;
  let serverModels = [];
  /** @type {Model | null} */
  let current = null;
  /** @type {{ source: ModelSource, name: string } | null} the model loaded last, to load again */
  let last = null;

  function setModel(model) {
    current = model;
    summary.textContent = model ? describe(model) : 'No model loaded.';
    firstText.textContent = '';
    onModel(model);
  }

  function updateButtons() {
    const usable = enabled && !loading;
    submitButton(serverForm).disabled = !usable || serverModels.length === 0;
    serverSelect.disabled = serverModels.length === 0;
    submitButton(hubForm).disabled = !usable;
    submitButton(filesForm).disabled = !usable || picked.size === 0;
    backendSelect.disabled = !usable;
  }

  async function listServerModels() {
    const hint = $('server-hint');
    try {
      serverModels = await (await fetchOk('../models/')).json();
      if (!Array.isArray(serverModels)) throw new Error('not a list');
    } catch {
      serverModels = [];
      hint.textContent = 'This server does not list a models/ folder.';
      return updateButtons();
    }
    serverSelect.replaceChildren(...serverModels.map((name) => new Option(name, name)));
    hint.textContent = serverModels.length > 0
      ? `${serverModels.length} model${serverModels.length > 1 ? 's' : ''} found.`
      : 'None yet: add a model folder to models/ (see models/README.md).';
    updateButtons();
  }

  function pick(files) {
    for (const file of files) picked.set(file.name, file);
    pickedList.replaceChildren(...[...picked.values()].map((file) => {
      const item = document.createElement('li');
      item.textContent = `${file.name} (${formatBytes(file.size)})`;
      return item;
    }));
    updateButtons();
  }

  /**
   * @param {ModelSource} source
   * @param {string} name
   * @param {{ again?: boolean }} [options] `again`: the model loaded last, on another path
   */
  async function load(source, name, { again = false } = {}) {
    last = { source, name };
    loading = true;
    updateButtons();
    panel.setAttribute('aria-busy', 'true');
    clearBanner('model');
    showProgress({ stage: 'fetch', file: '', loaded: 0, total: null, cached: false }, source);
    let released = false;
    try {
      const loaded = await client.loadModel(source, (progress) => {
        if (progress.stage === 'init' && !released) {
          released = true;
          setModel(null);
        }
        showProgress(progress, source);
      }, { backend: /** @type {BackendChoice} */ (backendSelect.value), again });
      setModel({ name, ...loaded });
    } catch (error) {
      if (released) setModel(null);
      showBanner({ key: 'model', title: `Could not load ${name}`, message: error.message });
    } finally {
      loading = false;
      status.hidden = true;
      panel.removeAttribute('aria-busy');
      updateButtons();
    }
  }

  /** @param {LoadProgress} progress */
  function showProgress(progress, source) {
    status.hidden = false;
    if (progress.stage === 'init') {
      statusLabel.textContent = progress.backend === 'gpu' ? 'Moving the weights to the GPU…' : 'Reading the weights for the CPU…';
      progressBar.removeAttribute('value');
      return;
    }
    const { file, loaded, total, cached } = progress;
    const verb = cached ? 'Reading from this browser’s cache' : source.kind === 'files' ? 'Reading' : 'Downloading';
    const amount = total ? `${formatBytes(loaded)} of ${formatBytes(total)}` : formatBytes(loaded);
    statusLabel.textContent = file ? `${verb} ${file}: ${amount}` : 'Starting…';
    if (total) {
      progressBar.max = total;
      progressBar.value = loaded;
    } else {
      progressBar.removeAttribute('value');
    }
  }

  serverForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = serverSelect.value;
    load({ kind: 'server', name }, name);
  });
  hubForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const repo = $('hub-repo', HTMLInputElement).value.trim();
    load({ kind: 'hub', repo }, repo);
  });
  filesForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const files = [...picked.values()];
    load({ kind: 'files', files }, files.find((f) => f.name.endsWith('.safetensors'))?.name ?? 'the picked files');
  });
  filesInput.addEventListener('change', () => pick([...(filesInput.files ?? [])]));
  acceptDrops(filesForm, pick);

  listServerModels();

  client.addEventListener('timings', (event) => {
    const { timings } = /** @type {CustomEvent<{ timings: import('./clip-client.js').FirstTextTimings }>} */ (event).detail;
    if (current) firstText.textContent = describeFirstText(timings);
  });

  backendSelect.addEventListener('change', () => {
    if (current && last) load(last.source, last.name, { again: true });
  });

  client.addEventListener('workerlost', (event) => {
    const error = /** @type {CustomEvent<import('./errors.js').ClipError>} */ (event).detail;
    if (!current) return;
    const lost = current;
    setModel(null);
    const banner = showBanner({ key: 'model', title: 'The model stopped working', message: error.message });
    if (lost.backend === 'gpu' && GPU_FAILURES.has(error.name) && last) banner.append(continueOnCpu(last));
  });

  /** A button that loads the lost model again on the CPU, from the copy this browser kept. */
  function continueOnCpu({ source, name }) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Continue on the CPU';
    button.addEventListener('click', () => {
      clearBanner('model');
      backendSelect.value = 'cpu';
      load(source, name, { again: true });
    });
    return button;
  }

  return {
    /**
     * Lets the user load models, on the paths this browser offers.
     * @param {Capabilities} capabilities
     */
    enable({ gpu, backend }) {
      enabled = true;
      const gpuOption = /** @type {HTMLOptionElement} */ (backendSelect.querySelector('option[value="gpu"]'));
      gpuOption.disabled = !gpu;
      /** @type {HTMLOptionElement} */ (backendSelect.querySelector('option[value="auto"]')).textContent =
        `Automatic (here: the ${backend === 'gpu' ? 'GPU' : 'CPU'})`;
      backendHint.textContent = gpu
        ? 'The CPU path needs no GPU; it is slower than a hardware GPU and faster than a software one.'
        : 'This browser grants no WebGPU adapter. For the GPU path, use a recent Chrome or Edge; on Linux, enable chrome://flags/#enable-unsafe-webgpu.';
      updateButtons();
    },
  };
}

/** @param {Model} model */
function describe({ name, config, backend, threads, precision, timings }) {
  const vision = config.vision_config;
  const cpu = `CPU (WebAssembly, ${threads} ${threads === 1 ? 'thread' : 'threads'})`;
  const gpu = `GPU (WebGPU, computing in ${precision})`;
  return `${name}: ${config.projection_dim}-d embeddings, ${vision.image_size} px images `
    + `in ${vision.patch_size} px patches; on the ${backend === 'gpu' ? gpu : cpu},`
    + ` loaded in ${seconds(timings.loadMs)} (warm-up ${seconds(timings.warmUpMs)}).`;
}

/**
 * Where the first text result after the load spent its time.
 * @param {import('./clip-client.js').FirstTextTimings} timings
 */
function describeFirstText({ fetchMs, loadMs, warmUpMs, waitMs, computeMs }) {
  return `First text result: fetching ${seconds(fetchMs)}, loading ${seconds(loadMs)}, warm-up ${seconds(warmUpMs)},`
    + ` waiting behind other work ${seconds(waitMs)}, computing ${seconds(computeMs)}.`;
}

/** @param {number} ms */
function seconds(ms) {
  return `${(ms / 1000).toFixed(ms < 1000 ? 2 : 1)} s`;
}

/** @param {HTMLElement} form */
function submitButton(form) {
  return /** @type {HTMLButtonElement} */ (form.querySelector('button'));
}

/** @param {number} bytes */
function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(0)} kB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
}
