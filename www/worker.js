// The module worker that owns the WebAssembly core and the loaded model, so the page never
// freezes. Protocol (see clip-client.js): requests `{id, type, args}`; replies
// `{id, ok: true, result}` or `{id, ok: false, error: {name, message}}`, and while a model loads,
// `{id, progress}`. Requests run one at a time, in order. A training run goes one step per turn
// of the same queue, so requests (pause, search) are answered between steps; its steps and its
// end are posted as events: `{event: 'trainstep', report}`, `{event: 'trainend', reason, error?,
// saved?}`. When the module traps or the GPU fails (lost device, out of memory), the worker says
// so once, `{event: 'crashed', error}`, and answers nothing else: the page starts a fresh one.

import { ClipError } from './errors.js';
import { gpuFailure, gpuFailureBehind, simulateGpuFailure, watchGpu } from './gpu-watch.js';
import { fetchModelFiles } from './model-files.js';
import { safetensorsMetadata } from './safetensors.js';

/** @type {typeof import('../pkg/safer_clip.js') | null} */
let wasm = null;
/** @type {import('../pkg/safer_clip.js').WebClip | null} */
let clip = null;
/**
 * Set once the WebAssembly module has trapped or its GPU device failed: neither its memory nor
 * its device can be trusted any more.
 */
let crash = null;
/** The model with safety adapters: from the current training run, or an uploaded adapter. */
let tuned = null;
/**
 * The caption pool embedded by the original model and, when there is one, the tuned model (and
 * lifted onto its hyperboloid, for a HySAC model).
 */
let pool = { captions: [], original: null, tuned: null, hyperbolic: null };
/** The current training run. */
let run = null;

const CHECKPOINT_CACHE = 'safer-clip-checkpoints';
const CHECKPOINT_URL = '/checkpoint/latest';

watchGpu((error) => fail(error));
// Test hook: the browser tests simulate GPU failures through this channel (gpu-watch.js).
new BroadcastChannel('safer-clip-test-hooks').addEventListener('message', ({ data }) => simulateGpuFailure(data));

const handlers = {
  /** Initialises the core and checks for a WebGPU adapter. */
  async start() {
    await loadCore();
    return adapterInfo();
  },

  /** @param {{ source: import('./clip-client.js').ModelSource }} args */
  async loadModel({ source }, onProgress) {
    await loadCore();
    await adapterInfo();
    const files = await fetchModelFiles(source, onProgress);
    onProgress({ stage: 'init' });
    // Free the previous model first: two large models may not fit in GPU memory together.
    stopRun('cancelled');
    setTuned(null);
    freePools();
    clip?.free();
    clip = null;
    const started = performance.now();
    try {
      clip = await wasm.WebClip.load(files.config, files.weights, files.tokenizer);
    } catch (error) {
      throw await coreError(error, 'InvalidModel');
    }
    return { config: clip.config(), loadMs: performance.now() - started };
  },

  /** @param {{ texts: string[], tuned?: boolean }} args `tuned`: with the safety-tuned model */
  async encodeText({ texts, tuned: withTuned = false }) {
    const model = withTuned ? tunedModel() : loadedModel();
    return embeddings(() => model.embedTexts(texts));
  },

  /** @param {{ images: Blob[] }} args */
  async encodeImage({ images }) {
    const bytes = await Promise.all(images.map(async (blob) => new Uint8Array(await blob.arrayBuffer())));
    return embeddings(() => loadedModel().embedImages(bytes));
  },

  /** @param {{ captions: string[] }} args */
  async setPool({ captions }) {
    freePools();
    pool.captions = captions;
    pool.original = await core(() => loadedModel().embedPool(captions));
    return { size: captions.length };
  },

  /**
   * The pool captions nearest to each query, for the original model and, when there is one
   * (and `withTuned`), the tuned model: `{original: [[{index, score}]], tuned: [[…]] | null}`.
   * @param {{ queries: string[], k: number, tuned?: boolean }} args
   */
  async nearestSafe({ queries, k, tuned: withTuned = true }) {
    if (!pool.original) throw new ClipError('NoPool', 'Set a caption pool first.');
    const original = await core(() => loadedModel().nearest(pool.original, queries, k));
    let tunedResult = null;
    if (tuned && withTuned) {
      pool.tuned ??= await core(() => tuned.embedPool(pool.captions));
      tunedResult = await core(() => tuned.nearest(pool.tuned, queries, k));
    }
    return { original, tuned: tunedResult };
  },

  /**
   * What a HySAC model makes of a query, or null when the tuned model is not a HySAC one: its
   * safe/unsafe reading (`retrieval.query`), the pool captions nearest to it (moved to the safe region first with
   * `redirect`), and its traversal to the root in `steps` steps with the caption retrieved at each.
   * @param {{ query: string, k: number, steps: number, redirect: boolean }} args
   */
  async hysacView({ query, k, steps, redirect }) {
    if (!tuned?.isHyperbolic) return null;
    if (!pool.original) throw new ClipError('NoPool', 'Set a caption pool first.');
    pool.hyperbolic ??= await core(() => tuned.liftTexts(pool.captions));
    const point = await core(() => tuned.liftTexts([query]));
    try {
      const retrieval = await core(() => tuned.retrieveHyperbolic(pool.hyperbolic, point, k, redirect));
      const traversal = await core(() => tuned.traverse(pool.hyperbolic, point, steps));
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
    const model = tunedModel();
    const input = texts ?? await Promise.all(images.map(async (blob) => new Uint8Array(await blob.arrayBuffer())));
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
    const model = tunedModel();
    const point = await core(() => model.hyperbolicPointsFromRows(query, cols, false));
    let points = null;
    try {
      points = await core(() => model.hyperbolicPointsFromRows(gallery, cols, images));
      return await core(() => model.retrieveHyperbolic(points, point, k, redirect));
    } finally {
      point.free();
      points?.free();
    }
  },

  /**
   * Starts a LoRA training run (or resumes the checkpoint kept in this browser) and returns at
   * once, with the run's options (a resumed run's come from its checkpoint); steps follow as
   * `trainstep` events.
   * The caption pool (setPool) doubles as extra safe targets.
   * @param {{ pairs: string, options: object, checkpointEvery?: number, resume?: boolean }} args
   */
  async train({ pairs, options, checkpointEvery = 10, resume = false }) {
    const model = loadedModel();
    if (!pool.original) throw new ClipError('NoPool', 'Set a caption pool first: it holds the safe targets.');
    stopRun('cancelled');
    let trainer;
    if (resume) {
      const checkpoint = await storedCheckpoint();
      trainer = await core(() => wasm.WebTrainer.resume(model, pairs, pool.original, checkpoint), 'InvalidCheckpoint');
      options = runOptions(checkpoint);
    } else {
      trainer = await core(() => wasm.WebTrainer.create(model, pairs, pool.original, options), 'InvalidTraining');
    }
    // A HySAC run's tuned model classifies and traverses once its safe region is measured: at
    // pauses and at the end (measuring it embeds every training pair).
    run = { trainer, paused: false, checkpointEvery, hyperbolic: options.method === 'hysac' };
    scheduleStep(run);
    return { totalSteps: trainer.totalSteps, stepsDone: trainer.stepsDone, options };
  },

  /** Stops after the current step and keeps a checkpoint of it in this browser. */
  async pauseTraining() {
    if (!run) return { stepsDone: 0 };
    run.paused = true;
    await saveCheckpoint(run.trainer);
    if (run.hyperbolic) setTuned(await core(() => run.trainer.tunedHyperbolic()));
    return { stepsDone: run.trainer.stepsDone };
  },

  async resumeTraining() {
    if (!run) throw new ClipError('NoTraining', 'There is no training run to resume.');
    if (run.paused) {
      run.paused = false;
      scheduleStep(run);
    }
    return { stepsDone: run.trainer.stepsDone };
  },

  async cancelTraining() {
    stopRun('cancelled');
    return {};
  },

  /** Whether this browser keeps a checkpoint, and how far it got. */
  async checkpointInfo() {
    return savedCheckpoint();
  },

  /** The adapters of the tuned model, as a safetensors file. */
  async exportAdapter() {
    if (run) return { bytes: await core(() => run.trainer.adapter()) };
    if (tuned && uploadedAdapter) return { bytes: uploadedAdapter };
    throw new ClipError('NoAdapter', 'Train or upload an adapter first.');
  },

  /** @param {{ bytes: Uint8Array }} args an adapter file */
  async importAdapter({ bytes }) {
    const model = loadedModel();
    const adapted = await core(() => model.withAdapter(bytes), 'InvalidAdapter');
    stopRun('cancelled');
    setTuned(adapted);
    uploadedAdapter = bytes;
    return {};
  },
};

let uploadedAdapter = null;

function setTuned(model) {
  tuned?.free();
  tuned = model;
  pool.tuned?.free();
  pool.hyperbolic?.free();
  pool.tuned = null;
  pool.hyperbolic = null;
}

function freePools() {
  pool.original?.free();
  pool.tuned?.free();
  pool.hyperbolic?.free();
  pool = { captions: [], original: null, tuned: null, hyperbolic: null };
}

function stopRun(reason, error) {
  if (!run) return;
  run.trainer.free();
  run = null;
  self.postMessage({ event: 'trainend', reason, error });
}

/** Queues the next step of `current` behind whatever requests are waiting. */
function scheduleStep(current) {
  queue = queue.then(() => trainStep(current));
}

async function trainStep(current) {
  if (run !== current || current.paused || crash) return;
  let report;
  try {
    report = await core(() => current.trainer.step(), 'TrainingStopped');
    if (report && report.step % current.checkpointEvery === 0) await saveCheckpoint(current.trainer);
  } catch (error) {
    // A GPU failure or a trap has ended the run already (fail), and the module is not to be used.
    if (crash) return;
    // The adapters stay the last good ones; keep them so they can still be downloaded.
    await saveCheckpoint(current.trainer).catch(() => {});
    const { name, message } = error instanceof ClipError ? error : new ClipError('TrainingStopped', String(error));
    current.paused = true;
    self.postMessage({ event: 'trainend', reason: 'error', error: { name, message } });
    return;
  }
  if (!report) {
    await saveCheckpoint(current.trainer);
    setTuned(current.hyperbolic ? await core(() => current.trainer.tunedHyperbolic()) : current.trainer.tuned());
    self.postMessage({ event: 'trainend', reason: 'done' });
    return;
  }
  // The tuned model is refreshed from the adapters after every step, for before/after views.
  setTuned(current.trainer.tuned());
  self.postMessage({ event: 'trainstep', report });
  scheduleStep(current);
}

async function saveCheckpoint(trainer) {
  const bytes = await trainer.checkpoint();
  const cache = await caches.open(CHECKPOINT_CACHE);
  await cache.put(CHECKPOINT_URL, new Response(bytes, {
    headers: { 'x-steps': String(trainer.stepsDone), 'x-saved-at': new Date().toISOString() },
  }));
}

async function savedCheckpoint() {
  const cache = await caches.open(CHECKPOINT_CACHE);
  const response = await cache.match(CHECKPOINT_URL);
  if (!response) return null;
  return { steps: Number(response.headers.get('x-steps')), savedAt: response.headers.get('x-saved-at') };
}

/** What the form asks of a run, as the checkpoint's training state holds it. */
function runOptions(checkpoint) {
  const { method, lora, optimizer, batch_size: batchSize, max_steps: maxSteps } =
    JSON.parse(safetensorsMetadata(checkpoint).training_state).config;
  return { method, rank: lora.rank, learningRate: optimizer.learning_rate, batchSize, maxSteps };
}

async function storedCheckpoint() {
  const cache = await caches.open(CHECKPOINT_CACHE);
  const response = await cache.match(CHECKPOINT_URL);
  if (!response) throw new ClipError('NoCheckpoint', 'This browser keeps no training checkpoint.');
  return new Uint8Array(await response.arrayBuffer());
}

/** Runs a core call, turning its failures into ClipErrors named `name`. */
async function core(call, name = 'InvalidInput') {
  try {
    return await call();
  } catch (error) {
    throw await coreError(error, name);
  }
}

async function loadCore() {
  if (wasm) return;
  try {
    const module = await import('../pkg/safer_clip.js');
    await module.default();
    wasm = module;
  } catch (error) {
    throw new ClipError('AppNotBuilt', `The WebAssembly core could not be loaded (${error.message}). Build it with ./build.sh, then reload.`);
  }
}

async function adapterInfo() {
  if (!navigator.gpu) {
    throw new ClipError('NoWebGPU', 'This browser does not offer WebGPU.');
  }
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) {
    throw new ClipError('NoWebGPU', 'This browser has WebGPU but granted no GPU adapter: WebGPU may be turned off, or the GPU is not supported.');
  }
  const { vendor, architecture, description, isFallbackAdapter = false } = adapter.info;
  return { vendor, architecture, description, isFallbackAdapter };
}

function loadedModel() {
  if (!clip) throw new ClipError('NoModel', 'Load a model first.');
  return clip;
}

function tunedModel() {
  loadedModel();
  if (!tuned) throw new ClipError('NoAdapter', 'Train or upload an adapter first.');
  return tuned;
}

/** Runs an embedding call and hands its matrix over as plain data. */
async function embeddings(embed) {
  let matrix;
  try {
    matrix = await embed();
  } catch (error) {
    throw await coreError(error, 'InvalidInput');
  }
  try {
    return { rows: matrix.rows, cols: matrix.cols, data: matrix.data };
  } finally {
    matrix.free();
  }
}

/**
 * A ClipError for an error thrown by the core: `name` for its readable errors; the GPU failure
 * when the device was lost or ran out of memory (wgpu reports those as read-back failures or
 * panics); Crashed when the module trapped otherwise (a panic aborts).
 */
async function coreError(error, name) {
  if (error instanceof ClipError) return error;
  const device = error instanceof WebAssembly.RuntimeError || /^device:/.test(error.message);
  const failure = device ? await gpuFailureBehind() : gpuFailure();
  if (failure) return fail(failure);
  if (error instanceof WebAssembly.RuntimeError) return fail(trapped(error));
  if (/^device:/.test(error.message)) return new ClipError('NoWebGPU', error.message);
  return new ClipError(name, error.message);
}

function trapped(error) {
  return new ClipError('Crashed', `The model stopped working (${error.message}): the GPU device may have been lost. Load the model again.`);
}

/**
 * Ends all model work after a GPU failure or a trap, once: a run in progress ends with the
 * error and the checkpoint this browser keeps, then the page hears that this worker is done.
 * Nothing of the module is touched again, not even to free it.
 * @returns {ClipError} the error every later request fails with
 */
function fail(error) {
  if (crash) return crash;
  crash = error;
  clip = null;
  const stopped = run !== null;
  run = null;
  const { name, message } = error;
  savedCheckpoint().catch(() => null).then((saved) => {
    if (stopped) self.postMessage({ event: 'trainend', reason: 'error', error: { name, message }, saved });
    self.postMessage({ event: 'crashed', error: { name, message } });
  });
  return crash;
}

// A trap in a callback from the browser (wgpu panics on an uncaptured GPU error) answers no
// request; it ends the model work here, before it reaches the page as a bare worker error.
self.addEventListener('error', (event) => {
  if (!(event.error instanceof WebAssembly.RuntimeError) && !gpuFailure()) return;
  event.preventDefault();
  fail(gpuFailure() ?? trapped(event.error));
});

let queue = Promise.resolve();

self.addEventListener('message', ({ data: { id, type, args } }) => {
  queue = queue.then(() => handle(id, type, args));
});

async function handle(id, type, args) {
  try {
    if (crash) throw crash;
    const handler = handlers[type];
    if (!handler) throw new ClipError('WorkerError', `unknown request “${type}”`);
    const result = await handler(args ?? {}, (progress) => self.postMessage({ id, progress }));
    self.postMessage({ id, ok: true, result }, result?.data ? [result.data.buffer] : []);
  } catch (error) {
    const { name, message } = error instanceof ClipError ? error : new ClipError('WorkerError', String(error?.message ?? error));
    self.postMessage({ id, ok: false, error: { name, message } });
  }
}
