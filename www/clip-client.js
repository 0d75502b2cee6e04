// @ts-check
// A promise-based client for the CLIP worker (worker.js; the messages between them are described
// in protocol.js). The page calls these methods and never touches the WebAssembly core itself.

import { ClipError } from './errors.js';

export { ClipError };

/**
 * Where a checkpoint comes from.
 * @typedef {{ kind: 'server', name: string }    // a folder in this server's models/
 *   | { kind: 'url', url: string }               // a folder at an absolute URL
 *   | { kind: 'hub', repo: string }              // a Hugging Face repo id
 *   | { kind: 'files', files: File[] }           // config.json, model.safetensors, tokenizer.json
 * } ModelSource
 */

/**
 * @typedef {{ stage: 'fetch', file: string, loaded: number, total: number | null, cached: boolean }
 *   | { stage: 'init', backend: Backend }        // reading the weights into the backend
 * } LoadProgress
 */

/** @typedef {import('./capabilities.js').AdapterInfo} AdapterInfo */
/** @typedef {import('./capabilities.js').Backend} Backend */
/** @typedef {import('./capabilities.js').BackendChoice} BackendChoice */
/**
 * What the browser offers: its WebGPU adapter (null without one), and the path 'auto' takes.
 * @typedef {{ gpu: AdapterInfo | null, simd: boolean, backend: Backend }} Capabilities
 */
/** @typedef {import('./protocol.js').LoadTimings} LoadTimings */
/** @typedef {import('./protocol.js').FirstTextTimings} FirstTextTimings */
/**
 * `threads`: how many threads the model computes on (the CPU path's multithreaded core: one per
 * core; otherwise 1). `precision`: what it computes in ('f16' on a GPU whose adapter offers
 * shader-f16).
 * @typedef {{ config: Record<string, any>, backend: Backend, threads: number, precision: 'f32' | 'f16', timings: LoadTimings }} LoadedModel
 */
/** Unit-length embeddings, one per row: row `i` is `data.subarray(i * cols, (i + 1) * cols)`. */
/** @typedef {{ rows: number, cols: number, data: Float32Array }} Embeddings */
/** @typedef {{ index: number, score: number }} Neighbour */
/** @typedef {import('./protocol.js').Reading} Reading */
/** @typedef {import('./protocol.js').FolderSummary} FolderSummary */
/** @typedef {import('./protocol.js').FolderSearch} FolderSearch */
/**
 * One image's zero-shot reading: a probability per class, in the classes' order, or why the model
 * could not read it.
 * @typedef {{ probabilities: number[] } | { error: import('./protocol.js').ErrorData }} ClassReading
 */
/**
 * @typedef {{ method: 'safer' | 'safeclip' | 'hysac', rank?: number, learningRate?: number, batchSize?: number,
 *   epochs?: number, maxSteps?: number, seed?: number }} TrainOptions
 */

/**
 * Fires the worker's events (protocol.js) as CustomEvents: `trainstep` (`detail`: the step's
 * report), `trainend`, `pool` (`detail`: `{kind, embedded, size}`), `tradeoff` (`detail`:
 * `{trace, points, size, error?}`), `folder` (`detail`: `{summary}`), `timings` (`detail`:
 * `{timings}`, FirstTextTimings); and `workerlost` (`detail`: the ClipError: Crashed,
 * DeviceLost, OutOfMemory or WorkerError) when the worker stops and takes the loaded model with
 * it; the next request starts a fresh worker.
 */
export class ClipClient extends EventTarget {
  /** @type {Worker | null} started on the first request, and again after a crash */
  #worker = null;
  #nextId = 1;
  /** @type {Map<number, { resolve: Function, reject: Function, onProgress?: Function }>} */
  #pending = new Map();

  constructor(workerUrl = new URL('./worker.js', import.meta.url)) {
    super();
    this.workerUrl = workerUrl;
  }

  /**
   * Loads the WebAssembly core and says what the browser offers it.
   * @returns {Promise<Capabilities>} rejects with a ClipError named NoSimd or AppNotBuilt
   */
  start() {
    return this.#request('start');
  }

  /**
   * @param {ModelSource} source
   * @param {(progress: LoadProgress) => void} [onProgress]
   * @param {{ backend?: BackendChoice, precision?: 'auto' | 'f32' | 'f16', again?: boolean }} [options]
   *   `backend`: the CPU or GPU path ('auto', the default: the GPU where there is a hardware
   *   adapter); `precision`: what the GPU computes in ('auto', the default: f16 where the
   *   adapter offers shader-f16); `again`: the model was loaded before in this browser, so read
   *   the copy kept then rather than the network
   * @returns {Promise<LoadedModel>} rejects with NoWebGPU when the GPU path is asked for
   *   without an adapter
   */
  loadModel(source, onProgress, { backend = 'auto', precision = 'auto', again = false } = {}) {
    return this.#request('loadModel', { source, backend, precision, again }, onProgress);
  }

  /**
   * @param {string[]} texts
   * @param {{ tuned?: boolean, background?: boolean }} [options] `tuned`: embed with the
   *   safety-tuned model (from the current training run or an uploaded adapter); rejects with
   *   NoAdapter when there is none. `background`: the visitor is not waiting for these; they
   *   wait behind the visitor's requests
   * @returns {Promise<Embeddings>}
   */
  encodeText(texts, { tuned = false, background = false } = {}) {
    return this.#request('encodeText', { texts, tuned }, undefined, background);
  }

  /**
   * @param {Blob[]} images encoded PNG, JPEG or WebP
   * @returns {Promise<Embeddings>}
   */
  encodeImage(images) {
    return this.#request('encodeImage', { images });
  }

  /**
   * Sets the caption pool (the safe captions nearest-safe lookups search): restored from this
   * browser when it kept the model's embeddings of it (`restored`), else embedded in the
   * background with the original and, later, the tuned model (`pool` events tell how far).
   * @param {string[]} captions
   * @returns {Promise<{ size: number, embedded: number, restored: boolean }>}
   */
  setPool(captions) {
    return this.#request('setPool', { captions });
  }

  /**
   * The pool captions nearest to each query, by the original and (when there is one, unless
   * `tuned` is false) the tuned model. While the pool is being embedded, the search covers the
   * captions embedded so far: `poolEmbedded` of `poolSize` (`tunedEmbedded` for the tuned model).
   * @param {string[]} queries
   * @param {number} k
   * @param {{ tuned?: boolean }} [options]
   * @returns {Promise<{ original: Neighbour[][], tuned: Neighbour[][] | null, poolEmbedded: number,
   *   poolSize: number, tunedEmbedded: number }>}
   */
  nearestSafe(queries, k, { tuned = true } = {}) {
    return this.#request('nearestSafe', { queries, k, tuned });
  }

  /**
   * A HySAC tuned model's view of a query over the caption pool, or null when the tuned model is
   * not a HySAC one: `retrieval` (the query's reading, `query`: root distance, unsafe beyond the
   * safe region; the `k` nearest captions by Lorentzian distance, after moving an unsafe query to
   * the safe region when `redirect`), `traversal` (the caption retrieved at each of `steps` points from the query to
   * the root, `caption` null where only the root entails the point); over the captions lifted
   * so far (`poolEmbedded` of `poolSize`). `retrieval.query.flagged_by` names the categories
   * whose classifier thresholds flag the query; `categories`: those the adapter has thresholds
   * for (null: it has none).
   * @param {string} query
   * @param {{ k: number, steps: number, redirect: boolean }} options
   * @returns {Promise<{
   *   retrieval: { query: Reading, redirected: number | null, results: { index: number, distance: number }[] },
   *   traversal: { bound: number, boundary: number, steps: { caption: number | null, distance: number }[] },
   *   categories: string[] | null, poolEmbedded: number, poolSize: number,
   * } | null>}
   */
  hysacView(query, { k, steps, redirect }) {
    return this.#request('hysacView', { query, k, steps, redirect });
  }

  /**
   * The safety-tuned model's view of texts or of images, for the search panel's galleries. A
   * cosine model's embeddings come back (`hyperbolic` false), to rank on the page. A HySAC
   * model's points stay in the worker, in the captions gallery (texts, which replace it) or the
   * images gallery (images, which join it under the page's `ids`), to rank with rankTuned;
   * each one's safe/unsafe reading comes back (`unsafe` null for images when the adapter has no
   * bound for images).
   * @param {{ texts: string[] } | { images: Blob[], ids?: number[] }} input
   * @returns {Promise<(Embeddings & { hyperbolic: false })
   *   | { hyperbolic: true, safety: { distance: number, unsafe: boolean | null }[] }>}
   */
  encodeTuned(input) {
    return this.#request('encodeTuned', input);
  }

  /**
   * Drops images from the HySAC tuned model's image gallery.
   * @param {number[]} ids
   */
  forgetTunedImages(ids) {
    return this.#request('forgetTunedImages', { ids });
  }

  /**
   * What the tuned model makes of `query` against the galleries. A cosine model: the query's
   * embedding, to rank the page's own embeddings with. A HySAC model: its ranking of the
   * galleries it keeps (encodeTuned) by Lorentzian distance: the query's reading, where
   * redirection moved it (null: nowhere), the `k.captions` nearest captions by index and the
   * `k.images` nearest images by id; with `redirect`, an unsafe query is first moved to the
   * safe region. The reading's `flagged_by` names the categories whose classifier thresholds
   * flag the query; `categories`: those the adapter has thresholds for (null: it has none).
   * @param {string} query
   * @param {{ k: { captions: number, images: number }, redirect: boolean }} options
   * @returns {Promise<{ hyperbolic: false, embedding: Float32Array }
   *   | { hyperbolic: true, query: Reading, categories: string[] | null, redirected: number | null,
   *     captions: { index: number, distance: number }[], images: { id: number, distance: number }[] }>}
   */
  rankTuned(query, { k, redirect }) {
    return this.#request('rankTuned', { query, k, redirect });
  }

  /**
   * Starts LoRA safety training on the GPU, with the caption pool (setPool) as extra safe
   * targets; progress arrives as `trainstep` events (detail: the step's report) and the end as a
   * `trainend` event (detail: `{reason: 'done' | 'cancelled' | 'error', error?, saved?}`; after a
   * GPU failure `saved` is the checkpoint this browser keeps, as checkpointInfo gives it).
   * @param {{ pairs: string, options?: TrainOptions, checkpointEvery?: number, resume?: boolean }} run
   * @returns {Promise<{ totalSteps: number, stepsDone: number, options: TrainOptions }>} a resumed
   *   run's options are those of its checkpoint
   */
  train(run) {
    return this.#request('train', run);
  }

  pauseTraining() {
    return this.#request('pauseTraining');
  }

  resumeTraining() {
    return this.#request('resumeTraining');
  }

  cancelTraining() {
    return this.#request('cancelTraining');
  }

  /** @returns {Promise<{ steps: number, savedAt: string } | null>} the checkpoint this browser keeps */
  checkpointInfo() {
    return this.#request('checkpointInfo');
  }

  /** @returns {Promise<{ bytes: Uint8Array<ArrayBuffer> }>} the tuned model's adapters as a safetensors file */
  exportAdapter() {
    return this.#request('exportAdapter');
  }

  /** @param {Uint8Array} bytes an adapter file from a run here or from `safer-clip train` */
  importAdapter(bytes) {
    return this.#request('importAdapter', { bytes });
  }

  /**
   * Zero-shot classification: each image's probability of each of `classes`, described by
   * `templates` (`{}` where the class name goes; a class's embedding is the normalised mean of
   * its templates'), by the original model and by the tuned model at the dial's `strength`
   * (`tuned` null without one). An image the model cannot read gets its own `error`; the others
   * are classified.
   * @param {{ classes: string[], templates: string[], images: Blob[] }} input
   * @returns {Promise<{ original: ClassReading[], tuned: ClassReading[] | null, strength: number }>}
   */
  zeroShot(input) {
    return this.#request('zeroShot', input);
  }

  /**
   * Turns the safety–knowledge dial: every view of the tuned model (nearestSafe, encodeTuned,
   * rankTuned, hysacView, the tuned model's encodeText) uses the trained adapters with their
   * update scaled by `strength` from now on: 0 is the original model exactly, 1 the model as
   * trained, up to 2. Set before there is a tuned model, it waits for one; loading a model sets
   * it back to 1.
   * @param {number} strength 0 to 2; others are refused (InvalidInput)
   * @returns {Promise<{ strength: number }>}
   */
  setStrength(strength) {
    return this.#request('setStrength', { strength });
  }

  /**
   * Starts the trained model's safety–knowledge curve on `pairs` (JSONL) at each of `strengths`,
   * as background work behind the visitor's requests; the points come as `tradeoff` events
   * (detail: `{trace, points, size, error?}`) with the answer's `trace`. A later curve, or a new
   * tuned model, ends it. Rejects with NoAdapter without a tuned model.
   * @param {string} pairs
   * @param {number[]} strengths
   * @returns {Promise<{ trace: number }>}
   */
  traceTradeoff(pairs, strengths) {
    return this.#request('traceTradeoff', { pairs, strengths });
  }

  /**
   * Adds images to the folder of the visitor's own images (`replace`: a new folder in place of
   * it): those whose embeddings by the loaded model this browser kept are restored, the others
   * embedded in the background, a batch at a time (`folder` events, detail `{summary}`, tell how
   * far). Files of other types, and images the model cannot read, are listed as skipped.
   * @param {File[]} files
   * @param {{ replace?: boolean }} [options]
   * @returns {Promise<FolderSummary & { restored: number }>}
   */
  addFolderImages(files, { replace = false } = {}) {
    return this.#request('addFolderImages', { files, replace });
  }

  /**
   * Brings the folder up to date with the loaded model: after a reload, the folder this browser
   * kept, with the embeddings it kept (`restored`: how many now); the images it has files for and
   * no embedding of are embedded in the background. Also goes on after cancelFolder.
   * @returns {Promise<FolderSummary & { restored: number }>}
   */
  updateFolder() {
    return this.#request('updateFolder');
  }

  /**
   * The folder as it stands: how far the original and the tuned model got with it.
   * @returns {Promise<FolderSummary>}
   */
  folderSummary() {
    return this.#request('folderSummary');
  }

  /**
   * Stops embedding the folder; what is embedded stays searchable.
   * @returns {Promise<FolderSummary>}
   */
  cancelFolder() {
    return this.#request('cancelFolder');
  }

  /**
   * Forgets the folder, and everything this browser kept of it.
   * @returns {Promise<FolderSummary>}
   */
  forgetFolder() {
    return this.#request('forgetFolder');
  }

  /**
   * The folder's `k` images nearest to a text, or to one of its images (by id, itself left out),
   * by the original model and by the tuned model at the dial's strength, over the images each has
   * embedded so far. A HySAC tuned model ranks texts only (`tuned` null for an image), by
   * Lorentzian distance after moving an unsafe text to the safe region when `redirect`, with its
   * reading of the text and of each image.
   * @param {{ text: string } | { image: number }} query
   * @param {{ k: number, redirect?: boolean }} options
   * @returns {Promise<FolderSearch>}
   */
  searchFolder(query, { k, redirect = true }) {
    return this.#request('searchFolder', { ...query, k, redirect });
  }

  /**
   * The small thumbnails this browser keeps of the folder's images, by id (null: none kept).
   * @param {number[]} ids
   * @returns {Promise<{ id: number, thumbnail: Blob | null }[]>}
   */
  folderThumbnails(ids) {
    return this.#request('folderThumbnails', { ids });
  }

  /** Ends the worker and the model it holds; a later request starts a fresh one. */
  close() {
    this.#worker?.terminate();
    this.#worker = null;
    for (const pending of this.#pending.values()) pending.reject(new ClipError('WorkerError', 'The client was closed.'));
    this.#pending.clear();
  }

  /**
   * @param {string} type
   * @param {object} [args]
   * @param {(progress: any) => void} [onProgress]
   * @param {boolean} [background] run behind the visitor's requests
   * @returns {Promise<any>}
   */
  #request(type, args, onProgress, background = false) {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, onProgress });
      this.#worker ??= this.#spawn();
      /** @type {import('./protocol.js').Request} */
      const request = background ? { id, type, args, background } : { id, type, args };
      this.#worker.postMessage(request);
    });
  }

  #spawn() {
    const worker = new Worker(this.workerUrl, { type: 'module' });
    worker.addEventListener('message', ({ data }) => this.#receive(data));
    worker.addEventListener('error', (event) => {
      event.preventDefault();
      this.#discardWorker(new ClipError('WorkerError', `The model worker failed: ${event.message || 'it could not start'}.`));
    });
    return worker;
  }

  #receive(message) {
    const { id, ok, result, error, progress, event } = message;
    if (event === 'crashed') {
      this.#discardWorker(new ClipError(error.name, error.message));
      return;
    }
    if (event) {
      const { event: _, ...detail } = message;
      this.dispatchEvent(new CustomEvent(event, { detail: event === 'trainstep' ? detail.report : detail }));
      return;
    }
    const request = this.#pending.get(id);
    if (!request) return;
    if (progress) {
      request.onProgress?.(progress);
      return;
    }
    this.#pending.delete(id);
    if (ok) {
      request.resolve(result);
    } else {
      request.reject(new ClipError(error.name, error.message));
    }
  }

  /** Ends a worker that can no longer be trusted; everything pending fails with `error`. */
  #discardWorker(error) {
    this.#worker?.terminate();
    this.#worker = null;
    this.dispatchEvent(new CustomEvent('workerlost', { detail: error }));
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}
