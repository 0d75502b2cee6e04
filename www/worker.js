// The module worker that owns the WebAssembly core and the loaded model, so the page never
// freezes. Protocol (see clip-client.js): requests `{id, type, args}`; replies
// `{id, ok: true, result}` or `{id, ok: false, error: {name, message}}`, and while a model loads,
// `{id, progress}`. Requests run one at a time, in order.

import { ClipError } from './errors.js';
import { fetchModelFiles } from './model-files.js';

/** @type {typeof import('../pkg/safer_clip.js') | null} */
let core = null;
/** @type {import('../pkg/safer_clip.js').WebClip | null} */
let clip = null;
/** Set once the WebAssembly module has trapped: its memory can no longer be trusted. */
let crash = null;

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
    clip?.free();
    clip = null;
    const started = performance.now();
    try {
      clip = await core.WebClip.load(files.config, files.weights, files.tokenizer);
    } catch (error) {
      throw coreError(error, 'InvalidModel');
    }
    return { config: clip.config(), loadMs: performance.now() - started };
  },

  /** @param {{ texts: string[] }} args */
  async encodeText({ texts }) {
    return embeddings(() => loadedModel().embedTexts(texts));
  },

  /** @param {{ images: Blob[] }} args */
  async encodeImage({ images }) {
    const bytes = await Promise.all(images.map(async (blob) => new Uint8Array(await blob.arrayBuffer())));
    return embeddings(() => loadedModel().embedImages(bytes));
  },
};

async function loadCore() {
  if (core) return;
  try {
    const module = await import('../pkg/safer_clip.js');
    await module.default();
    core = module;
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

/** Runs an embedding call and hands its matrix over as plain data. */
async function embeddings(embed) {
  let matrix;
  try {
    matrix = await embed();
  } catch (error) {
    throw coreError(error, 'InvalidInput');
  }
  try {
    return { rows: matrix.rows, cols: matrix.cols, data: matrix.data };
  } finally {
    matrix.free();
  }
}

/**
 * A ClipError for an error thrown by the core: `name` for its readable errors, Crashed when the
 * module trapped (a panic aborts, which is also how a lost GPU device ends).
 */
function coreError(error, name) {
  if (error instanceof ClipError) return error;
  if (error instanceof WebAssembly.RuntimeError) {
    clip = null;
    crash = new ClipError('Crashed', `The model stopped working (${error.message}): the GPU device may have been lost. Load the model again.`);
    return crash;
  }
  if (/^device:/.test(error.message)) return new ClipError('NoWebGPU', error.message);
  return new ClipError(name, error.message);
}

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
