// @ts-check
// The module worker that owns the WebAssembly core and the loaded model, so the page never
// freezes: its lifecycle (starting the core, ending all model work after a trap or a GPU
// failure), its operations, and the one dispatch from the page's requests to them. The messages
// are described in protocol.js. The visitor's requests run before background work (scheduler.js);
// the models and pools live in session.js, the pool's background work in pool-work.js, the
// safety–knowledge curve in tradeoff-work.js, a folder of the visitor's images in folder-work.js,
// a training run in training-run.js, its checkpoints in checkpoint-cache.js.

import { gpuAdapter, hasWasmSimd, resolveBackend } from './capabilities.js';
import { checkpointOptions, savedCheckpoint, storedCheckpoint } from './checkpoint-cache.js';
import { settleEach } from './batches.js';
import { isDeviceFailure, isInputError, namedError } from './core-errors.js';
import { ClipError, errorData } from './errors.js';
import { gpuFailure, gpuFailureBehind, watchGpu } from './gpu-watch.js';
import { FolderWork } from './folder-work.js';
import { fetchModelFiles } from './model-files.js';
import { sha256 } from './pool-cache.js';
import { PoolWork } from './pool-work.js';
import { Scheduler } from './scheduler.js';
import { Session } from './session.js';
import { TradeoffWork } from './tradeoff-work.js';
import { Training } from './training-run.js';

/** @typedef {import('./protocol.js').WorkerEvent} WorkerEvent */
/** @typedef {import('./protocol.js').Request} Request */
/** @typedef {import('./protocol.js').LoadTimings} LoadTimings */

/** @typedef {typeof import('../pkg/safer_clip.js')} Core */
/** A core and the threads it computes on. @typedef {{ core: Core, threads: number }} LoadedCore */
/** The loaded model's core. @type {Core | null} */
let wasm = null;
/** Each core, initialised once: the one for every path, and the multithreaded CPU one. */
const cores = /** @type {{ plain?: Promise<LoadedCore>, threaded?: Promise<LoadedCore | null> }} */ ({});
/**
 * Set once the WebAssembly module has trapped or its GPU device failed: neither its memory nor
 * its device can be trusted any more.
 * @type {ClipError | null}
 */
let crash = null;
/**
 * The loaded model's load timings, until the first text result after the load completes them
 * (and is reported as a `timings` event).
 * @type {LoadTimings | null}
 */
let firstTextTimings = null;

const scheduler = new Scheduler({
  onError: (key, error) => console.warn(`background work “${key}” stopped: ${error instanceof Error ? error.message : error}`),
});
const session = new Session();
const lanes = { background, cancel: (/** @type {string} */ key) => scheduler.cancel(key), core, post };
const pools = new PoolWork({ session, ...lanes });
const tradeoff = new TradeoffWork({ session, ...lanes });
const folder = new FolderWork({ session, ...lanes });
/** Whether the tuned model will stay: false while a run steps, each step replacing it. */
let tunedFinal = true;
const training = new Training(lanes, (model, { final }) => {
  session.setTuned(model);
  tunedChanged({ final });
});

/** The visitor's requests whose first answer after a load is timed: they encode text. */
const TEXT_REQUESTS = new Set(['encodeText', 'nearestSafe', 'hysacView']);

watchGpu((error) => fail(error));
// The browser tests simulate GPU failures through this channel; test-hooks.js is served only by
// `serve.mjs --test-hooks`, so elsewhere a message here fails to import it and does nothing.
new BroadcastChannel('safer-clip-test-hooks').addEventListener('message', async ({ data }) => {
  const { simulateGpuFailure } = await import('./test-hooks.js');
  simulateGpuFailure(data);
});

const operations = {
  /**
   * Initialises the core and says what this browser offers it: the WebGPU adapter (null
   * without one) and the path 'auto' takes.
   */
  async start() {
    const gpu = await gpuAdapter(navigator.gpu);
    const backend = resolveBackend('auto', gpu);
    await coreFor(backend);
    return { gpu, simd: true, backend };
  },

  /**
   * Loads a model on the CPU or GPU path ('auto': the GPU when there is a hardware adapter) and
   * warms it up, so that the first search pays no shader compilation. `again`: the model was
   * loaded before in this browser, so its files may come from the copy kept then (switching
   * backends, or after a GPU failure) instead of the network.
   * `precision`: 'auto' computes in f16 on a GPU whose adapter offers shader-f16, in f32 elsewhere.
   * @param {{ source: import('./clip-client.js').ModelSource, backend?: import('./capabilities.js').BackendChoice, precision?: 'auto' | 'f32' | 'f16', again?: boolean }} args
   * @param {(progress: import('./clip-client.js').LoadProgress) => void} onProgress
   */
  async loadModel({ source, backend: choice = 'auto', precision = 'auto', again = false }, onProgress) {
    const gpu = await gpuAdapter(navigator.gpu);
    const backend = resolveBackend(choice, gpu);
    if (backend === 'gpu' && !gpu) throw noWebGpu();
    const { core: module, threads } = await coreFor(backend);
    const fetchStarted = performance.now();
    const halve = (/** @type {Uint8Array} */ weights) => module.convertWeights(weights, 'f16');
    const files = await fetchModelFiles(source, onProgress, { again, halve });
    const loadStarted = performance.now();
    onProgress({ stage: 'init', backend });
    // Free the previous model first: two large models may not fit in memory together.
    training.stop('cancelled');
    pools.clear();
    tradeoff.cancel();
    folder.modelChanged();
    session.release();
    firstTextTimings = null;
    // The digest runs off this thread while the core reads the weights.
    const weights = sha256(files.weights);
    const clip = await core(() => module.WebClip.load(files.config, files.weights, files.tokenizer, backend, precision), { DeviceError: 'NoWebGPU' });
    wasm = module;
    session.setModel(clip, await weights);
    const warmUpStarted = performance.now();
    await core(() => clip.warmUp());
    const timings = {
      fetchMs: loadStarted - fetchStarted,
      loadMs: warmUpStarted - loadStarted,
      warmUpMs: performance.now() - warmUpStarted,
    };
    firstTextTimings = timings;
    return { config: clip.config(), backend, threads, precision: clip.precision, timings };
  },

  /** @param {{ texts: string[], tuned?: boolean }} args `tuned`: with the safety-tuned model */
  async encodeText({ texts, tuned = false }) {
    const model = tuned ? session.tunedModel() : session.loadedModel();
    return embeddings(() => model.embedTexts(texts));
  },

  /** @param {{ images: Blob[] }} args */
  async encodeImage({ images }) {
    const bytes = await imageBytes(images);
    return embeddings(() => session.loadedModel().embedImages(bytes));
  },

  /**
   * Sets the caption pool: restored from this browser, or embedded in the background from now
   * on (`pool` events tell how far).
   * @param {{ captions: string[] }} args
   */
  async setPool({ captions }) {
    return pools.set(captions);
  },

  /**
   * The pool captions nearest to each query, for the original model and, when there is one
   * (and `tuned`), the tuned model; while the pool is still being embedded, over the part
   * embedded so far (`poolEmbedded` of `poolSize`; `tunedEmbedded` for the tuned model's).
   * @param {{ queries: string[], k: number, tuned?: boolean }} args
   */
  async nearestSafe({ queries, k, tuned: withTuned = true }) {
    const model = session.loadedModel();
    const pool = await pools.ready('original');
    const original = await core(() => model.nearest(pool, queries, k));
    const result = { original, poolEmbedded: pool.embedded, poolSize: pool.size, tuned: null, tunedEmbedded: 0 };
    const tuned = session.tuned;
    if (!tuned || !withTuned) return result;
    const tunedPool = await pools.ready('tuned');
    const found = await core(() => tuned.nearest(tunedPool, queries, k));
    return { ...result, tuned: found, tunedEmbedded: tunedPool.embedded };
  },

  /**
   * What a HySAC model makes of a query, or null when the tuned model is not a HySAC one: its
   * safe/unsafe reading (`retrieval.query`, with the categories whose thresholds flag it), the
   * pool captions nearest to it (moved to the safe region first with `redirect`), and its
   * traversal to the root in `steps` steps with the caption retrieved at each; over the part of
   * the pool lifted so far (`poolEmbedded` of `poolSize`). `categories`: those the adapter has
   * thresholds for (null: none).
   * @param {{ query: string, k: number, steps: number, redirect: boolean }} args
   */
  async hysacView({ query, k, steps, redirect }) {
    const { tuned } = session;
    if (!tuned?.isHyperbolic) return null;
    const lifted = await pools.lifted();
    const point = await core(() => tuned.liftTexts([query]));
    try {
      const retrieval = await core(() => tuned.retrieveHyperbolic(lifted.points, point, k, redirect));
      const traversal = await core(() => tuned.traverse(lifted.points, point, steps));
      return { retrieval, traversal, categories: thresholdCategories(tuned), poolEmbedded: lifted.count, poolSize: session.pool.captions.length };
    } finally {
      point.free();
    }
  },

  /**
   * The safety-tuned model's view of texts or encoded images, for the search panel. A cosine
   * model's embeddings come back, for the page to rank. A HySAC model's lifted points stay here,
   * in a gallery (texts replace the captions gallery; images join the images gallery under the
   * page's `ids`), for rankTuned, and each one's safe/unsafe reading comes back.
   * @param {{ texts?: string[], images?: Blob[], ids?: number[] }} args texts or images
   */
  async encodeTuned({ texts, images, ids = [] }) {
    const model = session.tunedModel();
    const bytes = texts ? [] : await imageBytes(images ?? []);
    if (!model.isHyperbolic) {
      const embedded = await embeddings(() => (texts ? model.embedTexts(texts) : model.embedImages(bytes)));
      return { ...embedded, hyperbolic: false };
    }
    const lifted = await core(() => (texts ? model.liftTexts(texts) : model.liftImages(bytes)));
    let safety;
    try {
      safety = await core(() => model.poolSafety(lifted));
    } catch (error) {
      lifted.free();
      throw error;
    }
    const kept = texts ? session.galleries.captions : session.galleries.images;
    if (texts) kept.clear();
    await core(() => kept.add(texts ? texts.map((_, i) => i) : ids, lifted));
    return { hyperbolic: true, safety };
  },

  /**
   * Drops images from the HySAC tuned model's image gallery (encodeTuned).
   * @param {{ ids: number[] }} args
   */
  async forgetTunedImages({ ids }) {
    const { tuned } = session;
    if (tuned?.isHyperbolic) await core(() => session.galleries.images.remove(ids, tuned));
    return {};
  },

  /**
   * What the tuned model needs to rank the search panel's galleries for a prompt. A cosine
   * model: the prompt's embedding (the page ranks its own). A HySAC model: its ranking of the
   * galleries kept here (encodeTuned), with the prompt's safe/unsafe reading (and the categories
   * the adapter has thresholds for, null: none), its root distance after redirection
   * (`redirected`, null when it was not moved), and the `k` nearest captions (by index) and
   * images (by id), moved to the safe region first with `redirect`.
   * @param {{ query: string, k: { captions: number, images: number }, redirect: boolean }} args
   */
  async rankTuned({ query, k, redirect }) {
    const model = session.tunedModel();
    if (!model.isHyperbolic) {
      const { data } = await embeddings(() => model.embedTexts([query]));
      return { hyperbolic: false, embedding: data };
    }
    const point = await core(() => model.liftTexts([query]));
    try {
      /** @param {import('./gallery.js').Gallery} gallery @param {number} count */
      const rank = (gallery, count) => {
        const points = gallery.points;
        return points && count > 0 ? core(() => model.retrieveHyperbolic(points, point, Math.min(count, gallery.ids.length), redirect)) : null;
      };
      const { captions, images } = session.galleries;
      const byCaption = await rank(captions, k.captions);
      const byImage = await rank(images, k.images);
      const reading = byCaption ?? byImage ?? { query: (await core(() => model.poolSafety(point)))[0], redirected: null };
      return {
        hyperbolic: true,
        query: reading.query,
        categories: thresholdCategories(model),
        redirected: reading.redirected,
        captions: byCaption?.results ?? [],
        images: (byImage?.results ?? []).map((/** @type {{ index: number, distance: number }} */ { index, distance }) => ({ id: images.ids[index], distance })),
      };
    } finally {
      point.free();
    }
  },

  /**
   * Starts a LoRA training run (or resumes the checkpoint kept in this browser) and returns at
   * once, with the run's options (a resumed run's come from its checkpoint); steps follow as
   * `trainstep` events. The caption pool (setPool), embedded in full first, doubles as extra
   * safe targets.
   * @param {{ pairs: string, options: import('./clip-client.js').TrainOptions, checkpointEvery?: number, resume?: boolean }} args
   */
  async train({ pairs, options, checkpointEvery = 10, resume = false }) {
    const model = session.loadedModel();
    const module = /** @type {Core} */ (wasm);
    training.stop('cancelled');
    const pool = await pools.complete();
    let trainer;
    if (resume) {
      const checkpoint = await storedCheckpoint();
      trainer = await core(() => module.WebTrainer.resume(model, pairs, pool, checkpoint), {
        InvalidModel: 'InvalidCheckpoint', InvalidInput: 'InvalidTraining',
      });
      options = checkpointOptions(checkpoint);
    } else {
      trainer = await core(() => module.WebTrainer.create(model, pairs, pool, options), { InvalidInput: 'InvalidTraining' });
    }
    training.start(trainer, { checkpointEvery, hyperbolic: options.method === 'hysac' });
    return { totalSteps: trainer.totalSteps, stepsDone: trainer.stepsDone, options };
  },

  /** Stops after the current step and keeps a checkpoint of it in this browser. */
  async pauseTraining() {
    return training.pause();
  },

  async resumeTraining() {
    return training.resume();
  },

  async cancelTraining() {
    training.stop('cancelled');
    return {};
  },

  /** Whether this browser keeps a checkpoint, and how far it got. */
  async checkpointInfo() {
    return savedCheckpoint();
  },

  /** The adapters of the tuned model, as a safetensors file. */
  async exportAdapter() {
    const trained = await training.adapter();
    if (trained) return { bytes: trained };
    if (session.tuned && session.uploadedAdapter) return { bytes: session.uploadedAdapter };
    throw new ClipError('NoAdapter', 'Train or upload an adapter first.');
  },

  /** @param {{ bytes: Uint8Array }} args an adapter file */
  async importAdapter({ bytes }) {
    const model = session.loadedModel();
    const adapted = await core(() => model.withAdapter(bytes), { InvalidModel: 'InvalidAdapter' });
    training.stop('cancelled');
    session.setTuned(adapted, bytes);
    tunedChanged({ final: true });
    return {};
  },

  /**
   * Zero-shot classification of images into `classes` (each class described by `templates`,
   * with `{}` where its name goes), by the original model and, when there is one, the tuned
   * model at the dial's strength: per image, each class's probability, or the error that image
   * alone met (one the model cannot read fails alone).
   * @param {{ classes: string[], templates: string[], images: Blob[] }} args
   */
  async zeroShot({ classes, templates, images }) {
    const model = session.loadedModel();
    const bytes = await imageBytes(images);
    /** @param {import('../pkg/safer_clip.js').WebClip} clip */
    const classify = async (clip) => (await settleEach(bytes, (some) => core(() => clip.zeroShot(classes, templates, some)), isInputError))
      .map((settled) => (settled.ok ? { probabilities: settled.value } : { error: errorData(settled.error) }));
    const original = await classify(model);
    const tuned = session.tuned;
    return { original, tuned: tuned ? await classify(tuned) : null, strength: session.strength };
  },

  /**
   * Turns the dial: from now on the tuned model is the trained one with its adapters' update
   * scaled by `strength` (0: the original model, 1: as trained, up to 2), and its pool work
   * starts again. Without a trained model the strength waits for one.
   * @param {{ strength: number }} args
   */
  async setStrength({ strength }) {
    await core(() => session.setStrength(strength));
    tunedChanged({ final: tunedFinal });
    return { strength };
  },

  /**
   * Starts the trained model's safety–knowledge curve on `pairs` (JSONL) at `strengths`, as
   * background work; its points follow as `tradeoff` events carrying the answer's `trace`.
   * @param {{ pairs: string, strengths: number[] }} args
   */
  async traceTradeoff({ pairs, strengths }) {
    return tradeoff.trace(pairs, strengths);
  },

  /**
   * Adds images to the folder of the visitor's images (with `replace`, a new folder in place of
   * it): those this browser kept for the loaded model are restored, the others embedded in the
   * background (`folder` events tell how far).
   * @param {{ files: File[], replace?: boolean }} args
   */
  async addFolderImages({ files, replace = false }) {
    return folder.add(files, { replace });
  },

  /**
   * Brings the folder up to date with the loaded model: after a reload, the folder this browser
   * kept, with the embeddings it kept; the images it has files for and no embedding of are
   * embedded in the background.
   */
  async updateFolder() {
    return folder.update();
  },

  /** The folder as it stands: how far its embedding got, by the original and the tuned model. */
  async folderSummary() {
    return folder.summary();
  },

  /** Stops embedding the folder; updateFolder goes on. */
  async cancelFolder() {
    return folder.cancel();
  },

  /** Forgets the folder and everything this browser kept of it. */
  async forgetFolder() {
    return folder.forget();
  },

  /**
   * The folder's images nearest to a text or to one of its images (by id).
   * @param {{ text?: string, image?: number, k: number, redirect?: boolean }} args
   */
  async searchFolder({ text, image, k, redirect = true }) {
    return folder.search({ text, image, k, redirect });
  },

  /**
   * The kept thumbnails of the folder's images, by id.
   * @param {{ ids: number[] }} args
   */
  async folderThumbnails({ ids }) {
    return folder.thumbnails(ids);
  },
};

/**
 * The tuned model changed (Session.setTuned, setStrength): the work done with the old one starts
 * again, right away when the model is `final`, else (a run steps) when asked for.
 * @param {{ final: boolean }} change
 */
function tunedChanged({ final }) {
  tunedFinal = final;
  pools.tunedChanged({ final });
  folder.tunedChanged({ final });
}

/**
 * The categories a HySAC model's adapter has classifier thresholds for, or null without any.
 * @param {import('../pkg/safer_clip.js').WebClip} model
 * @returns {string[] | null}
 */
function thresholdCategories(model) {
  const thresholds = model.thresholds;
  return thresholds ? Object.keys(thresholds.by_category) : null;
}

/** @param {Blob[]} images */
function imageBytes(images) {
  return Promise.all(images.map(async (blob) => new Uint8Array(await blob.arrayBuffer())));
}

/**
 * Runs a core call, turning its failures into ClipErrors named as the core names them, renamed
 * by `renames` for this call.
 * @template T
 * @param {() => T | Promise<T>} call
 * @param {import('./core-errors.js').Renames} [renames]
 * @returns {Promise<T>}
 */
async function core(call, renames) {
  if (crash) throw crash;
  try {
    return await call();
  } catch (error) {
    throw await coreError(error, renames);
  }
}

/**
 * The core for a path, initialised once, and how many threads it computes on; NoSimd where
 * WebAssembly lacks SIMD, which every core is built with. The CPU path runs the multithreaded
 * core (pkg/threads/: a thread per core, Web Workers sharing its memory) where the page is
 * cross-origin isolated, which shared memory needs, and that core was built; else the GPU
 * path's core, on one thread. A visitor who stays on one path downloads one core.
 * @param {import('./capabilities.js').Backend} backend
 * @returns {Promise<LoadedCore>}
 */
async function coreFor(backend) {
  if (!hasWasmSimd()) {
    throw new ClipError('NoSimd', 'This browser runs WebAssembly without SIMD, which the model needs. Use a browser from 2021 or later (Chrome or Edge 91, Firefox 89, Safari 16.4), and check that WebAssembly SIMD is not turned off.');
  }
  if (backend === 'cpu' && self.crossOriginIsolated) {
    cores.threaded ??= threadedCore();
    const threaded = await cores.threaded;
    if (threaded) return threaded;
  }
  cores.plain ??= import('../pkg/safer_clip.js').then(async (core) => {
    await core.default();
    return { core, threads: 1 };
  });
  try {
    return await cores.plain;
  } catch (error) {
    delete cores.plain;
    throw new ClipError('AppNotBuilt', `The WebAssembly core could not be loaded (${error instanceof Error ? error.message : error}). Build it with ./build.sh, then reload.`);
  }
}

/**
 * The multithreaded CPU core with its threads started, or null, saying why in the console.
 * @returns {Promise<LoadedCore | null>}
 */
async function threadedCore() {
  try {
    // By address, not by name: build.sh may have skipped this core (no nightly toolchain).
    const url = new URL('../pkg/threads/safer_clip.js', import.meta.url).href;
    const core = /** @type {Core & { initThreadPool: (threads: number) => Promise<void> }} */ (await import(url));
    await core.default();
    const threads = Math.max(1, navigator.hardwareConcurrency || 1);
    await core.initThreadPool(threads);
    return { core, threads };
  } catch (error) {
    console.warn(`the multithreaded CPU core is not available (${error instanceof Error ? error.message : error}): the CPU path runs on one thread`);
    return null;
  }
}

function noWebGpu() {
  return new ClipError('NoWebGPU', 'This browser grants no WebGPU adapter, so the model cannot run on the GPU: WebGPU may be missing or turned off, or the GPU is not supported. The CPU path works without it.');
}

/**
 * Runs an embedding call and hands its matrix over as plain data.
 * @param {() => Promise<import('../pkg/safer_clip.js').Matrix>} embed
 */
async function embeddings(embed) {
  const matrix = await core(embed);
  try {
    return { rows: matrix.rows, cols: matrix.cols, data: matrix.data };
  } finally {
    matrix.free();
  }
}

/**
 * A ClipError for an error thrown by the core: the GPU failure behind it when the device was
 * lost or ran out of memory (wgpu reports those as failed read-backs or panics); Crashed when the
 * module trapped otherwise (a panic aborts); else the core's own error, by its name.
 * @param {unknown} error
 * @param {import('./core-errors.js').Renames} [renames]
 */
async function coreError(error, renames) {
  if (error instanceof ClipError) return error;
  const failure = isDeviceFailure(error) ? await gpuFailureBehind() : gpuFailure();
  if (failure) return fail(failure);
  if (error instanceof WebAssembly.RuntimeError) return fail(trapped(error));
  return namedError(error, renames);
}

/** @param {WebAssembly.RuntimeError} error */
function trapped(error) {
  const gpu = session.clip?.backend === 'gpu' ? ': the GPU device may have been lost' : '';
  return new ClipError('Crashed', `The model stopped working (${error.message})${gpu}. Load the model again.`);
}

/**
 * Ends all model work after a GPU failure or a trap, once: a run in progress ends with the
 * error and the checkpoint this browser keeps, then the page hears that this worker is done.
 * Nothing of the module is touched again, not even to free it.
 * @param {ClipError} error
 * @returns {ClipError} the error every later request fails with
 */
function fail(error) {
  if (crash) return crash;
  crash = error;
  session.abandon();
  folder.abandon();
  const stopped = training.abandon();
  const { name, message } = error;
  savedCheckpoint().catch(() => null).then((saved) => {
    if (stopped) post({ event: 'trainend', reason: 'error', error: { name, message }, saved });
    post({ event: 'crashed', error: { name, message } });
  });
  return crash;
}

/** @param {WorkerEvent} event */
function post(event) {
  self.postMessage(event);
}

/**
 * Adds a job to the background lane; after a crash its turns do nothing.
 * @param {string} key
 * @param {() => Promise<boolean>} turn
 */
function background(key, turn) {
  scheduler.background(key, () => (crash ? Promise.resolve(false) : turn()));
}

// A trap in a callback from the browser (wgpu panics on an uncaptured GPU error) answers no
// request; it ends the model work here, before it reaches the page as a bare worker error.
self.addEventListener('error', (event) => {
  if (!(event.error instanceof WebAssembly.RuntimeError) && !gpuFailure()) return;
  event.preventDefault();
  fail(gpuFailure() ?? trapped(event.error));
});

self.addEventListener('message', (/** @type {MessageEvent<Request>} */ { data: { id, type, args, background: later } }) => {
  if (later && type === 'encodeText') background(`request:${id}`, textTurns(id, /** @type {any} */ (args)));
  else if (later) background(`request:${id}`, () => handle(id, type, args, null).then(() => false));
  else scheduler.request((waitedMs) => handle(id, type, args, waitedMs));
});

/**
 * Runs one request and posts its answer.
 * @param {number} id
 * @param {string} type
 * @param {object | undefined} args
 * @param {number | null} waitedMs how long the visitor's request waited behind other work;
 *   null for background work
 */
function handle(id, type, args, waitedMs) {
  return answer(id, async () => {
    const operation = /** @type {Record<string, (args: any, onProgress: (progress: any) => void) => Promise<any>>} */ (operations)[type];
    if (!operation) throw new ClipError('WorkerError', `unknown request “${type}”`);
    const started = performance.now();
    const result = await operation(args ?? {}, (progress) => self.postMessage({ id, progress }));
    if (firstTextTimings && TEXT_REQUESTS.has(type) && waitedMs !== null) {
      post({ event: 'timings', timings: { ...firstTextTimings, waitMs: waitedMs, computeMs: performance.now() - started } });
      firstTextTimings = null;
    }
    return result;
  });
}

/**
 * Background encodeText, a turn's worth of texts at a time (turn-size.js), so that the visitor's
 * requests wait for one turn rather than for all the texts; answered once every text is embedded,
 * all by one model: when the model changes between turns, it starts over with the new one.
 * @param {number} id
 * @param {{ texts: string[], tuned?: boolean }} args
 * @returns {() => Promise<boolean>} the job's turn
 */
function textTurns(id, { texts, tuned = false }) {
  /** @type {{ model: import('../pkg/safer_clip.js').WebClip, parts: Float32Array[], cols: number, done: number } | null} */
  let progress = null;
  return async () => {
    let more = false;
    await answerWhen(id, async () => {
      const model = tuned ? session.tunedModel() : session.loadedModel();
      if (progress?.model !== model) progress = { model, parts: [], cols: 0, done: 0 };
      const chunk = texts.slice(progress.done, progress.done + session.turns.texts.count);
      const part = await session.turns.texts.time(chunk.length, () => embeddings(() => model.embedTexts(chunk)));
      progress.parts.push(part.data);
      progress.cols = part.cols;
      progress.done += chunk.length;
      more = progress.done < texts.length;
      if (more) return null;
      const data = new Float32Array(texts.length * progress.cols);
      progress.parts.reduce((at, rows) => (data.set(rows, at), at + rows.length), 0);
      return { answer: { rows: texts.length, cols: progress.cols, data } };
    });
    return more;
  };
}

/**
 * Runs `run` and posts its result as the answer to request `id`, or its failure.
 * @param {number} id
 * @param {() => Promise<any>} run
 */
function answer(id, run) {
  return answerWhen(id, async () => ({ answer: await run() }));
}

/**
 * Runs `run`, and posts the answer to request `id` when it gives one (null: not yet), or its
 * failure.
 * @param {number} id
 * @param {() => Promise<{ answer: any } | null>} run
 */
async function answerWhen(id, run) {
  try {
    if (crash) throw crash;
    const done = await run();
    if (!done) return;
    const result = done.answer;
    self.postMessage({ id, ok: true, result }, result?.data ? [result.data.buffer] : []);
  } catch (error) {
    self.postMessage({ id, ok: false, error: errorData(error) });
  }
}
