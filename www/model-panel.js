// The model panel: choose a checkpoint from this server, the Hugging Face hub or local files,
// and follow its download and load.

import { clearBanner, showBanner } from './banners.js';
import { acceptDrops } from './drop-zone.js';

/** @typedef {import('./clip-client.js').ClipClient} ClipClient */
/** @typedef {import('./clip-client.js').ModelSource} ModelSource */
/** @typedef {import('./clip-client.js').LoadProgress} LoadProgress */
/** @typedef {{ name: string, config: Record<string, any>, loadMs: number }} Model */

const $ = (id) => document.getElementById(id);

/**
 * @param {ClipClient} client
 * @param {{ onModel: (model: Model | null) => void }} handlers called with the new model once
 *   it is ready, and with null when the previous one is released
 */
export function setupModelPanel(client, { onModel }) {
  const panel = $('model-panel');
  const serverForm = $('server-form');
  const serverSelect = $('server-model');
  const hubForm = $('hub-form');
  const filesForm = $('files-form');
  const filesInput = $('model-files');
  const pickedList = $('picked-files');
  const status = $('load-status');
  const statusLabel = $('load-label');
  const progressBar = $('load-progress');
  const summary = $('model-summary');

  /** The files picked or dropped so far, by name; a later pick replaces a same-named file. */
  const picked = new Map();
  let enabled = false;
  let loading = false;
  let serverModels = [];
  /** @type {Model | null} */
  let current = null;

  function setModel(model) {
    current = model;
    summary.textContent = model ? describe(model) : 'No model loaded.';
    onModel(model);
  }

  function updateButtons() {
    const usable = enabled && !loading;
    serverForm.querySelector('button').disabled = !usable || serverModels.length === 0;
    serverSelect.disabled = serverModels.length === 0;
    hubForm.querySelector('button').disabled = !usable;
    filesForm.querySelector('button').disabled = !usable || picked.size === 0;
  }

  async function listServerModels() {
    const hint = $('server-hint');
    try {
      const response = await fetch('../models/');
      serverModels = response.ok ? await response.json() : [];
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
   */
  async function load(source, name) {
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
      });
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
      statusLabel.textContent = 'Moving the weights to the GPU…';
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
    const repo = hubForm.elements.repo.value.trim();
    load({ kind: 'hub', repo }, repo);
  });
  filesForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const files = [...picked.values()];
    load({ kind: 'files', files }, files.find((f) => f.name.endsWith('.safetensors'))?.name ?? 'the picked files');
  });
  filesInput.addEventListener('change', () => pick(filesInput.files));
  acceptDrops(filesForm, pick);

  listServerModels();

  client.addEventListener('workerlost', ({ detail: error }) => {
    if (!current) return;
    setModel(null);
    showBanner({ key: 'model', title: 'The model stopped working', message: error.message });
  });

  return {
    /** Lets the user load models, once WebGPU is known to work. */
    enable() {
      enabled = true;
      updateButtons();
    },
  };
}

/** @param {Model} model */
function describe({ name, config, loadMs }) {
  const vision = config.vision_config;
  return `${name}: ${config.projection_dim}-d embeddings, ${vision.image_size} px images `
    + `in ${vision.patch_size} px patches; loaded in ${(loadMs / 1000).toFixed(1)} s.`;
}

/** @param {number} bytes */
function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(0)} kB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
}
