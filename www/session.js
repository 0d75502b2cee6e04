// What the worker holds for the page: the loaded model, the safety-tuned model (from a training
// run or an uploaded adapter) and the caption pool embedded by each. Every handle here owns
// memory in the WebAssembly core (and on the GPU), so whatever is replaced is freed.

import { ClipError } from './errors.js';

/** @typedef {import('../pkg/safer_clip.js').WebClip} WebClip */
/** @typedef {import('../pkg/safer_clip.js').CaptionPool} CaptionPool */
/** @typedef {import('../pkg/safer_clip.js').HyperbolicPoints} HyperbolicPoints */

export class Session {
  /** @type {WebClip | null} */
  clip = null;
  /** @type {WebClip | null} the model with safety adapters */
  tuned = null;
  /** @type {Uint8Array | null} the adapter file `tuned` came from, when it was uploaded */
  uploadedAdapter = null;
  /**
   * The caption pool, embedded by the original model and, when there is one, the tuned model
   * (and lifted onto its hyperboloid, for a HySAC model).
   * @type {{ captions: string[], original: CaptionPool | null, tuned: CaptionPool | null,
   *   hyperbolic: HyperbolicPoints | null }}
   */
  pool = emptyPool();

  loadedModel() {
    if (!this.clip) throw new ClipError('NoModel', 'Load a model first.');
    return this.clip;
  }

  tunedModel() {
    this.loadedModel();
    if (!this.tuned) throw new ClipError('NoAdapter', 'Train or upload an adapter first.');
    return this.tuned;
  }

  /** Frees the model and everything derived from it. */
  release() {
    this.setTuned(null);
    this.freePool();
    this.clip?.free();
    this.clip = null;
  }

  /**
   * Drops every handle without freeing it: after a trap or a GPU failure nothing of the module
   * is touched again.
   */
  abandon() {
    this.clip = null;
    this.tuned = null;
    this.pool = emptyPool();
  }

  /**
   * @param {WebClip | null} model
   * @param {Uint8Array | null} [uploadedAdapter] the adapter file it came from, if uploaded
   */
  setTuned(model, uploadedAdapter = null) {
    this.tuned?.free();
    this.tuned = model;
    this.uploadedAdapter = uploadedAdapter;
    this.pool.tuned?.free();
    this.pool.hyperbolic?.free();
    this.pool.tuned = null;
    this.pool.hyperbolic = null;
  }

  freePool() {
    this.pool.original?.free();
    this.pool.tuned?.free();
    this.pool.hyperbolic?.free();
    this.pool = emptyPool();
  }
}

function emptyPool() {
  return { captions: [], original: null, tuned: null, hyperbolic: null };
}
