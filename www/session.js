// @ts-check
// What the worker holds for the page: the loaded model, the safety-tuned model (from a training
// run or an uploaded adapter) as trained and at the dial's strength, the caption pool, embedded by
// each model as far as the background work has got, and the search panel's galleries as a HySAC
// tuned model lifted them. Every handle here owns memory in the WebAssembly core (and on the
// GPU), so whatever is replaced is freed.

import { ClipError } from './errors.js';
import { Gallery } from './gallery.js';
import { TurnSize } from './turn-size.js';

/** @typedef {import('../pkg/safer_clip.js').WebClip} WebClip */
/** @typedef {import('../pkg/safer_clip.js').CaptionPool} CaptionPool */
/** @typedef {import('../pkg/safer_clip.js').HyperbolicPoints} HyperbolicPoints */
/**
 * The caption pool: embedded by the original model (`restored` when its embeddings came from
 * this browser's cache, kept under `key`), by the tuned model, and lifted onto a HySAC tuned
 * model's hyperboloid (its first `liftedCount` captions).
 * @typedef {{ captions: string[], key: string | null, original: CaptionPool | null, restored: boolean,
 *   tuned: CaptionPool | null, lifted: HyperbolicPoints | null, liftedCount: number }} Pool
 */

export class Session {
  /** @type {WebClip | null} */
  clip = null;
  /** The SHA-256 of the loaded model's weights file: the model's name in this browser's caches. */
  weights = '';
  /** @type {WebClip | null} the model with safety adapters, as trained (strength 1) */
  trained = null;
  /** The dial: how much of the adapters' update the tuned model applies, 0 (none) to 2. */
  strength = 1;
  /**
   * @type {WebClip | null} `trained` at the dial's strength (`trained` itself at 1): the model
   *   every view of the tuned model uses
   */
  tuned = null;
  /** @type {Uint8Array | null} the adapter file `tuned` came from, when it was uploaded */
  uploadedAdapter = null;
  /** @type {Pool} */
  pool = emptyPool();
  /** The search panel's galleries, lifted by a HySAC tuned model. */
  galleries = { captions: new Gallery(false), images: new Gallery(true) };
  /** How many texts, and images, a turn of background work takes with this model. */
  turns = turnSizes();

  loadedModel() {
    if (!this.clip) throw new ClipError('NoModel', 'Load a model first.');
    return this.clip;
  }

  tunedModel() {
    this.loadedModel();
    if (!this.tuned) throw new ClipError('NoAdapter', 'Train or upload an adapter first.');
    return this.tuned;
  }

  /**
   * @param {WebClip} clip
   * @param {string} weights the SHA-256 of its weights file
   */
  setModel(clip, weights) {
    this.release();
    this.clip = clip;
    this.weights = weights;
    this.turns = turnSizes();
  }

  /** Frees the model and everything derived from it; the dial goes back to 1. */
  release() {
    this.setTuned(null);
    this.strength = 1;
    this.setPool(emptyPool());
    this.clip?.free();
    this.clip = null;
    this.weights = '';
  }

  /**
   * Drops every handle without freeing it: after a trap or a GPU failure nothing of the module
   * is touched again.
   */
  abandon() {
    this.clip = null;
    this.trained = null;
    this.tuned = null;
    this.pool = emptyPool();
    this.galleries = { captions: new Gallery(false), images: new Gallery(true) };
  }

  /**
   * A new tuned model (or none), as trained; the tuned model is it at the dial's strength. The
   * pool's tuned embeddings and lifted points, and the lifted galleries, go with the old.
   * @param {WebClip | null} model
   * @param {Uint8Array | null} [uploadedAdapter] the adapter file it came from, if uploaded
   */
  setTuned(model, uploadedAdapter = null) {
    this.#freeTuned();
    this.trained?.free();
    this.trained = model;
    this.uploadedAdapter = uploadedAdapter;
    this.tuned = model && atStrength(model, this.strength);
    this.#dropTunedViews();
  }

  /**
   * Turns the dial: the tuned model becomes the trained one at `strength`, and what it embedded
   * goes. Without a trained model the strength waits for one.
   * @param {number} strength 0 to 2; the core refuses others (InvalidInput)
   */
  setStrength(strength) {
    const dialed = this.trained && atStrength(this.trained, strength);
    this.#freeTuned();
    this.strength = strength;
    this.tuned = dialed;
    this.#dropTunedViews();
  }

  /** Frees the tuned model when it is a dialed copy, not the trained model itself. */
  #freeTuned() {
    if (this.tuned && this.tuned !== this.trained) this.tuned.free();
    this.tuned = null;
  }

  #dropTunedViews() {
    this.pool.tuned?.free();
    this.pool.lifted?.free();
    this.pool.tuned = null;
    this.pool.lifted = null;
    this.pool.liftedCount = 0;
    this.galleries.captions.clear();
    this.galleries.images.clear();
  }

  /** @param {Pool} pool replaces the pool, which is freed */
  setPool(pool) {
    const old = this.pool;
    old.original?.free();
    old.tuned?.free();
    old.lifted?.free();
    this.pool = pool;
  }
}

/**
 * @param {WebClip} trained
 * @param {number} strength
 */
function atStrength(trained, strength) {
  return strength === 1 ? trained : trained.withStrength(strength);
}

function turnSizes() {
  return { texts: new TurnSize(), images: new TurnSize({ max: 16 }) };
}

/** @returns {Pool} */
export function emptyPool() {
  return { captions: [], key: null, original: null, restored: false, tuned: null, lifted: null, liftedCount: 0 };
}
