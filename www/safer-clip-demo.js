// @ts-check
// <safer-clip-demo>: a prompt and its nearest safe captions, by CLIP on the visitor's own device
// (the GPU through WebGPU, or the CPU), for any web page: one script tag and one element. It runs its own model worker and keeps its
// markup and styles in a shadow root.
//
//   <script type="module" src="https://HOST/safer-clip-demo.js"></script>
//   <safer-clip-demo model="openai/clip-vit-base-patch32" prompt="a man holding a knife"></safer-clip-demo>
//
// Attributes:
//   model    a Hugging Face repo id (default openai/clip-vit-base-patch32), or the URL of a folder
//            holding config.json, model.safetensors and tokenizer.json: absolute, or a path
//            starting with /, ./ or ../ (resolved against the page)
//   prompt   the prompt shown first
//   adapter  the URL of an adapter file (safer-clip train, or the app's download): the tuned
//            model's nearest captions appear beside the original model's
//   pool     the URL of the safe captions to search, one per line (default: the bundled 2,400)
//   compact  fewer captions and less text, for narrow spaces
//   backend  auto (default: the GPU where there is a hardware WebGPU adapter, else the CPU),
//            cpu or gpu
//
// Served from another origin than the page's, the files need CORS (`node www/serve.mjs --cors`).

import { parseCaptionPool } from './caption-pool.js';
import { ClipClient } from './clip-client.js';
import { debounce } from './debounce.js';
import { fetchBytes, fetchText } from './fetch-file.js';
import { note, scoreBar } from './result-items.js';

const DEFAULT_MODEL = 'openai/clip-vit-base-patch32';
const DEFAULT_POOL = new URL('data/safe_pool.txt', import.meta.url);
const PROMPT_DELAY_MS = 250;
const SHOWN = { full: 5, compact: 3 };
/** What this browser lacks when the model cannot run in it at all (or on the path asked for). */
const CANNOT_RUN = new Set(['NoSimd', 'NoWebGPU']);

const STYLE = `
:host {
  display: block;
  --accent: #2454d6;
  --text: #1b1f24;
  --muted: #5b6470;
  --surface: #ffffff;
  --border: #d5dae1;
  --bar: #8fb0ff;
  --error: #c62828;
  color: var(--text);
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  line-height: 1.45;
}
@media (prefers-color-scheme: dark) {
  :host {
    --accent: #6d94ff;
    --text: #e7eaee;
    --muted: #9aa4b1;
    --surface: #1a1f25;
    --border: #333b45;
    --bar: #3e62c8;
    --error: #ef6b6b;
  }
}
* { box-sizing: border-box; }
.demo {
  background: var(--surface);
  border: 1px solid var(--border);
  border-radius: 8px;
  padding: 0.9rem 1rem 1rem;
}
header { display: flex; flex-wrap: wrap; gap: 0.25rem 0.75rem; align-items: baseline; }
.name { font-weight: 700; }
.status, .footer, .note { color: var(--muted); font-size: 0.85rem; margin: 0; }
.error { color: var(--error); font-size: 0.9rem; margin: 0.5rem 0 0; overflow-wrap: anywhere; }
label { display: block; font-weight: 600; margin: 0.6rem 0 0.25rem; }
input {
  width: 100%;
  font: inherit;
  color: inherit;
  background: transparent;
  border: 1px solid var(--border);
  border-radius: 6px;
  padding: 0.45rem 0.6rem;
}
input:disabled { opacity: 0.5; }
input:focus-visible { outline: 3px solid #ff9f1c; outline-offset: 1px; }
progress { width: 100%; height: 0.6rem; margin-top: 0.5rem; }
.columns {
  display: grid;
  grid-template-columns: repeat(auto-fit, minmax(min(100%, 15rem), 1fr));
  gap: 0.75rem 1.25rem;
  margin-top: 0.6rem;
}
h3 { font-size: 0.95rem; margin: 0 0 0.35rem; }
ol { list-style: none; margin: 0; padding: 0; display: grid; gap: 0.3rem; }
li:not(.note) {
  display: grid;
  grid-template-columns: minmax(0, 1fr) minmax(4.5rem, 35%);
  gap: 0.5rem;
  align-items: center;
  font-size: 0.9rem;
}
.caption { overflow-wrap: anywhere; }
.score {
  position: relative;
  display: block;
  height: 1.3rem;
  background: color-mix(in srgb, var(--border) 45%, transparent);
  border-radius: 4px;
  overflow: hidden;
}
.score-fill { position: absolute; inset: 0 auto 0 0; background: var(--bar); }
.score-value {
  position: relative;
  padding: 0 0.35rem;
  font-variant-numeric: tabular-nums;
  font-size: 0.8rem;
  line-height: 1.3rem;
}
.footer { margin-top: 0.6rem; }
:host([compact]) .demo { padding: 0.6rem 0.75rem 0.75rem; }
:host([compact]) .footer, :host([compact]) label { display: none; }
:host([compact]) input { margin-top: 0.4rem; }
`;

const TEMPLATE = `
<div class="demo" part="container">
  <header>
    <span class="name">safer-clip</span>
    <p class="status" role="status">Starting…</p>
  </header>
  <label for="prompt">Prompt</label>
  <input id="prompt" type="search" disabled spellcheck="false" autocomplete="off" aria-label="Prompt">
  <progress hidden></progress>
  <p class="error" role="alert" hidden></p>
  <div class="columns">
    <section aria-labelledby="original-heading">
      <h3 id="original-heading">Original model</h3>
      <ol class="original" aria-label="Nearest safe captions, original model"></ol>
    </section>
    <section class="tuned-column" aria-labelledby="tuned-heading" hidden>
      <h3 id="tuned-heading">Safety-tuned model</h3>
      <ol class="tuned" aria-label="Nearest safe captions, safety-tuned model"></ol>
    </section>
  </div>
  <p class="footer">CLIP runs in this page, on your GPU or CPU; nothing you type leaves it.</p>
</div>`;

export class SaferClipDemo extends HTMLElement {
  static observedAttributes = ['model', 'prompt', 'adapter', 'pool', 'backend'];

  /** @type {ClipClient | null} */
  #client = null;
  /** Bumped on every (re)start, so that a superseded start stops where it is. */
  #generation = 0;
  /** @type {string[]} */
  #pool = [];
  #ready = false;
  #hasAdapter = false;
  /** Whether the captions shown come from part of a pool still being embedded. */
  #partial = false;
  #parts;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.innerHTML = `<style>${STYLE}</style>${TEMPLATE}`;
    const $ = (selector) => root.querySelector(selector);
    this.#parts = {
      status: $('.status'),
      input: /** @type {HTMLInputElement} */ ($('input')),
      progress: /** @type {HTMLProgressElement} */ ($('progress')),
      error: $('.error'),
      original: $('.original'),
      tuned: $('.tuned'),
      tunedColumn: $('.tuned-column'),
    };
    this.#parts.input.addEventListener('input', debounce(() => this.#search(), PROMPT_DELAY_MS));
  }

  connectedCallback() {
    this.#start();
  }

  disconnectedCallback() {
    this.#stop();
  }

  attributeChangedCallback(name, previous, value) {
    // Before the first start (as the element is created or upgraded) the start reads them all.
    if (!this.#client || previous === value) return;
    if (name === 'prompt') {
      this.#parts.input.value = value ?? '';
      this.#search();
    } else {
      this.#start();
    }
  }

  /** Loads the model (and the adapter, and the pool) into a fresh worker. */
  async #start() {
    this.#stop();
    const generation = this.#generation;
    const client = new ClipClient(workerUrl());
    this.#client = client;
    const current = () => generation === this.#generation;
    const { input, progress, tunedColumn } = this.#parts;
    client.addEventListener('workerlost', (event) => {
      const error = /** @type {CustomEvent<Error>} */ (event).detail;
      if (current()) this.#fail(`The model stopped working: ${error.message} Reload the page to start again.`);
    });
    // A search over part of the pool is run again once the pool is embedded.
    client.addEventListener('pool', (event) => {
      const { embedded, size } = /** @type {CustomEvent<{ embedded: number, size: number }>} */ (event).detail;
      if (current() && this.#partial && embedded === size) this.#search();
    });
    input.value = this.getAttribute('prompt') ?? '';
    this.#parts.error.hidden = true;
    const adapter = this.getAttribute('adapter');
    tunedColumn.hidden = !adapter;
    try {
      this.#say('Starting…');
      await client.start();
      const source = modelSource(this.getAttribute('model') || DEFAULT_MODEL);
      await client.loadModel(source, (update) => current() && this.#showProgress(update), { backend: backendChoice(this.getAttribute('backend')) });
      if (!current()) return;
      progress.removeAttribute('value');
      this.#say('Setting the safe captions…');
      const captions = parseCaptionPool(await fetchText(this.getAttribute('pool') || DEFAULT_POOL));
      await client.setPool(captions);
      if (adapter) {
        this.#say('Loading the adapter…');
        await client.importAdapter(await fetchBytes(adapter));
      }
      if (!current()) return;
      this.#pool = captions;
      this.#hasAdapter = Boolean(adapter);
      this.#ready = true;
      progress.hidden = true;
      input.disabled = false;
      this.#say(`${captions.length.toLocaleString()} safe captions.`);
      this.#search();
    } catch (error) {
      if (current()) this.#fail(CANNOT_RUN.has(error.name) ? `This browser cannot run the model: ${error.message}` : error.message);
    }
  }

  #stop() {
    this.#generation++;
    this.#ready = false;
    this.#client?.close();
    this.#client = null;
    this.#parts.input.disabled = true;
    this.#parts.original.replaceChildren();
    this.#parts.tuned.replaceChildren();
  }

  async #search() {
    if (!this.#ready) return;
    const { input, original, tuned } = this.#parts;
    const query = input.value.trim();
    const shown = this.hasAttribute('compact') ? SHOWN.compact : SHOWN.full;
    if (!query) {
      original.replaceChildren(note('Type a prompt.'));
      tuned.replaceChildren();
      return;
    }
    const client = this.#client;
    if (!client) return;
    try {
      const found = await client.nearestSafe([query], shown);
      if (input.value.trim() !== query) return;
      original.replaceChildren(...this.#captions(found.original[0]));
      if (found.tuned) tuned.replaceChildren(...this.#captions(found.tuned[0]));
      const searched = this.#hasAdapter ? Math.min(found.poolEmbedded, found.tunedEmbedded) : found.poolEmbedded;
      this.#partial = searched < found.poolSize;
      this.#say(this.#partial
        ? `Nearest of the ${searched.toLocaleString()} of ${found.poolSize.toLocaleString()} safe captions embedded so far…`
        : `Nearest of ${found.poolSize.toLocaleString()} safe captions.`);
      this.#parts.error.hidden = true;
      this.dispatchEvent(new CustomEvent('results', { detail: { prompt: query, ...found } }));
    } catch (error) {
      this.#fail(`The search failed: ${error.message}`);
    }
  }

  #captions(neighbours) {
    return neighbours.map(({ index, score }) => {
      const item = document.createElement('li');
      const caption = document.createElement('span');
      caption.className = 'caption';
      caption.textContent = this.#pool[index];
      item.append(caption, scoreBar(score));
      return item;
    });
  }

  #showProgress(update) {
    const { progress } = this.#parts;
    progress.hidden = false;
    if (update.stage === 'init' || !update.total) {
      progress.removeAttribute('value');
    } else {
      progress.max = update.total;
      progress.value = update.loaded;
    }
    if (update.stage === 'init') this.#say(update.backend === 'gpu' ? 'Moving the model to the GPU…' : 'Reading the model for the CPU…');
    else this.#say(`${update.cached ? 'Reading' : 'Downloading'} ${update.file}: ${megabytes(update.loaded)}${update.total ? ` of ${megabytes(update.total)}` : ''}`);
  }

  #say(message) {
    this.#parts.status.textContent = message;
  }

  #fail(message) {
    const { error, progress, status } = this.#parts;
    progress.hidden = true;
    status.textContent = '';
    error.textContent = message;
    error.hidden = false;
  }
}

/**
 * The worker, as a URL this page may start: a page may only start workers of its own origin,
 * so from another origin a tiny same-origin module imports the real one.
 * @returns {URL}
 */
function workerUrl() {
  const url = new URL('./worker.js', import.meta.url);
  if (url.origin === location.origin) return url;
  return new URL(URL.createObjectURL(new Blob([`import ${JSON.stringify(url.href)};`], { type: 'text/javascript' })));
}

/**
 * A `backend` attribute as a choice of path; anything else than cpu or gpu is 'auto'.
 * @param {string | null} value
 * @returns {import('./clip-client.js').BackendChoice}
 */
function backendChoice(value) {
  return value === 'cpu' || value === 'gpu' ? value : 'auto';
}

/**
 * A `model` attribute as a model source: a folder URL, or a Hugging Face repo id.
 * @param {string} model
 * @returns {import('./clip-client.js').ModelSource}
 */
function modelSource(model) {
  return /^(https?:\/\/|\/|\.\.?\/)/.test(model)
    ? { kind: 'url', url: new URL(model, document.baseURI).href }
    : { kind: 'hub', repo: model };
}

function megabytes(count) {
  return `${(count / 1024 ** 2).toFixed(1)} MB`;
}

customElements.define('safer-clip-demo', SaferClipDemo);
