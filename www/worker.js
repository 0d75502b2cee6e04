// The module worker that owns the WebAssembly core and the loaded model, so the page never
// freezes: its lifecycle (starting the core, ending all model work after a trap or a GPU
// failure), its operations, and the one dispatch from the page's requests to them. The messages
// are described in protocol.js; the models and pools live in session.js, a training run in
// training-run.js, its checkpoints in checkpoint-cache.js.

import { checkpointOptions, savedCheckpoint, storedCheckpoint } from './checkpoint-cache.js';
import { gpuAdapter, hasWasmSimd, resolveBackend } from './capabilities.js';
import { isDeviceFailure, namedError } from './core-errors.js';
import { ClipError } from './errors.js';
import { gpuFailure, gpuFailureBehind, simulateGpuFailure, watchGpu } from './gpu-watch.js';
import { fetchModelFiles } from './model-files.js';
import { Session } from './session.js';
import { Training } from './training-run.js';

/** @typedef {import('./errors.js').ClipErrorName} ClipErrorName */
/** @typedef {import('./protocol.js').WorkerEvent} WorkerEvent */

/** @type {typeof import('../pkg/safer_clip.js') | null} */
let wasm = null;
/**
 * Set once the WebAssembly module has trapped or its GPU device failed: neither its memory nor
 * its device can be trusted any more.
 * @type {ClipError | null}
 */
let crash = null;
const session = new Session();
const training = new Training({ session, schedule: enqueue, post, core, crashed: () => crash !== null });

watchGpu((error) => fail(error));
// Test hook: the browser tests simulate GPU failures through this channel (gpu-watch.js).
new BroadcastChannel('safer-clip-test-hooks').addEventListener('message', ({ data }) => simulateGpuFailure(data));

const operations = {
  /**
   * Initialises the core and says what this browser offers it: the WebGPU adapter (null
   * without one) and the path 'auto' takes.
   */
  async start() {
    await loadCore();
    const gpu = await gpuAdapter(navigator.gpu);
    return { gpu, simd: true, backend: resolveBackend('auto', gpu) };
  },

  /**
   * Loads a model on the CPU or GPU path ('auto': the GPU when there is a hardware adapter).
   * `again`: the model was loaded before in this browser, so its files may come from the copy
   * kept then (switching backends, or after a GPU failure) instead of the network.
   * @param {{ source: import('./clip-client.js').ModelSource, backend?: import('./capabilities.js').BackendChoice, again?: boolean }} args
   */
  async loadModel({ source, backend: choice = 'auto', again = false }, onProgress) {
    const module = await loadCore();
    const gpu = await gpuAdapter(navigator.gpu);
    const backend = resolveBackend(choice, gpu);
    if (backend === 'gpu' && !gpu) throw noWebGpu();
    const files = await fetchModelFiles(source, onProgress, { again });
    onProgress({ stage: 'init', backend });
    // Free the previous model first: two large models may not fit in memory together.
    training.stop('cancelled');
    session.release();
    const started = performance.now();
    session.clip = await core(() => module.WebClip.load(files.config, files.weights, files.tokenizer, backend), { DeviceError: 'NoWebGPU' });
    return { config: session.clip.config(), backend, loadMs: performance.now() - started };
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

  /** @param {{ captions: string[] }} args */
  async setPool({ captions }) {
    session.freePool();
    session.pool.captions = captions;
    session.pool.original = await core(() => session.loadedModel().embedPool(captions));
    return { size: captions.length };
  },

  /**
   * The pool captions nearest to each query, for the original model and, when there is one
   * (and `tuned`), the tuned model: `{original: [[{index, score}]], tuned: [[…]] | null}`.
   * @param {{ queries: string[], k: number, tuned?: boolean }} args
   */
  async nearestSafe({ queries, k, tuned: withTuned = true }) {
    const { pool } = session;
    const original = pool.original;
    if (!original) throw new ClipError('NoPool', 'Set a caption pool first.');
    const result = await core(() => session.loadedModel().nearest(original, queries, k));
    const tuned = session.tuned;
    let tunedResult = null;
    if (tuned && withTuned) {
      const tunedPool = pool.tuned ??= await core(() => tuned.embedPool(pool.captions));
      tunedResult = await core(() => tuned.nearest(tunedPool, queries, k));
    }
    return { original: result, tuned: tunedResult };
  },

  /**
   * What a HySAC model makes of a query, or null when the tuned model is not a HySAC one: its
   * safe/unsafe reading (`retrieval.query`), the pool captions nearest to it (moved to the safe
   * region first with `redirect`), and its traversal to the root in `steps` steps with the
   * caption retrieved at each.
   * @param {{ query: string, k: number, steps: number, redirect: boolean }} args
   */
  async hysacView({ query, k, steps, redirect }) {
    const { pool, tuned } = session;
    if (!tuned?.isHyperbolic) return null;
    if (!pool.original) throw new ClipError('NoPool', 'Set a caption pool first.');
    const lifted = pool.hyperbolic ??= await core(() => tuned.liftTexts(pool.captions));
    const point = await core(() => tuned.liftTexts([query]));
    try {
      const retrieval = await core(() => tuned.retrieveHyperbolic(lifted, point, k, redirect));
      const traversal = await core(() => tuned.traverse(lifted, point, steps));
      return { retrieval, traversal };
    } finally {
      point.free();
    }
  },

  /**
   * The safety-tuned model's embeddings of texts or of encoded images. A HySAC model's are its
   * lifted points, with each one's safe/unsafe reading; they rank by Lorentzian distance
   * (rankHyperbolic), not by cosine.
   * @param {{ texts?: string[], images?: Blob[] }} args one of the two
   */
  async encodeTuned({ texts, images }) {
    const model = session.tunedModel();
    const input = texts ?? await imageBytes(images ?? []);
    if (!model.isHyperbolic) {
      const embedded = await embeddings(() => (texts ? model.embedTexts(input) : model.embedImages(input)));
      return { ...embedded, hyperbolic: false };
    }
    const lifted = await core(() => (texts ? model.liftTexts(input) : model.liftImages(input)));
    try {
      const safety = await core(() => model.poolSafety(lifted));
      return { ...await embeddings(() => lifted.rows()), hyperbolic: true, safety };
    } finally {
      lifted.free();
    }
  },

  /**
   * A HySAC model's retrieval over points from encodeTuned (`rows` of `cols` values): the lifted
   * text `query`'s safe/unsafe reading and the `k` nearest `gallery` points, moved to the safe
   * region first with `redirect` (see WebClip.retrieveHyperbolic).
   * @param {{ query: Float32Array, gallery: Float32Array, cols: number, images: boolean, k: number, redirect: boolean }} args
   */
  async rankHyperbolic({ query, gallery, cols, images, k, redirect }) {
    const model = session.tunedModel();
    const point = await core(() => model.hyperbolicPointsFromRows(query, cols, false));
    let points = null;
    try {
      const galleryPoints = points = await core(() => model.hyperbolicPointsFromRows(gallery, cols, images));
      return await core(() => model.retrieveHyperbolic(galleryPoints, point, k, redirect));
    } finally {
      point.free();
      points?.free();
    }
  },

  /**
   * Starts a LoRA training run (or resumes the checkpoint kept in this browser) and returns at
   * once, with the run's options (a resumed run's come from its checkpoint); steps follow as
   * `trainstep` events. The caption pool (setPool) doubles as extra safe targets.
   * @param {{ pairs: string, options: import('./clip-client.js').TrainOptions, checkpointEvery?: number, resume?: boolean }} args
   */
  async train({ pairs, options, checkpointEvery = 10, resume = false }) {
    const model = session.loadedModel();
    const pool = session.pool.original;
    if (!pool) throw new ClipError('NoPool', 'Set a caption pool first: it holds the safe targets.');
    const module = await loadCore();
    training.stop('cancelled');
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
    return {};
  },
};

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
  try {
    return await call();
  } catch (error) {
    throw await coreError(error, renames);
  }
}

/**
 * The core, initialised once; NoSimd where WebAssembly lacks SIMD, which the core is built with.
 * @returns {Promise<typeof import('../pkg/safer_clip.js')>}
 */
async function loadCore() {
  if (wasm) return wasm;
  if (!hasWasmSimd()) {
    throw new ClipError('NoSimd', 'This browser runs WebAssembly without SIMD, which the model needs. Use a browser from 2021 or later (Chrome or Edge 91, Firefox 89, Safari 16.4), and check that WebAssembly SIMD is not turned off.');
  }
  try {
    const module = await import('../pkg/safer_clip.js');
    await module.default();
    wasm = module;
    return module;
  } catch (error) {
    throw new ClipError('AppNotBuilt', `The WebAssembly core could not be loaded (${error.message}). Build it with ./build.sh, then reload.`);
  }
}

function noWebGpu() {
  return new ClipError('NoWebGPU', 'This browser grants no WebGPU adapter, so the model cannot run on the GPU: WebGPU may be missing or turned off, or the GPU is not supported. The CPU path works without it.');
}

/** Runs an embedding call and hands its matrix over as plain data. */
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

// A trap in a callback from the browser (wgpu panics on an uncaptured GPU error) answers no
// request; it ends the model work here, before it reaches the page as a bare worker error.
self.addEventListener('error', (event) => {
  if (!(event.error instanceof WebAssembly.RuntimeError) && !gpuFailure()) return;
  event.preventDefault();
  fail(gpuFailure() ?? trapped(event.error));
});

let queue = Promise.resolve();

/** Queues `task` behind every request and step waiting. */
function enqueue(task) {
  queue = queue.then(task);
}

self.addEventListener('message', ({ data: { id, type, args } }) => enqueue(() => handle(id, type, args)));

async function handle(id, type, args) {
  try {
    if (crash) throw crash;
    const operation = operations[type];
    if (!operation) throw new ClipError('WorkerError', `unknown request “${type}”`);
    const result = await operation(args ?? {}, (progress) => self.postMessage({ id, progress }));
    self.postMessage({ id, ok: true, result }, result?.data ? [result.data.buffer] : []);
  } catch (error) {
    const { name, message } = error instanceof ClipError ? error : new ClipError('WorkerError', String(error?.message ?? error));
    self.postMessage({ id, ok: false, error: { name, message } });
  }
}
