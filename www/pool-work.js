// @ts-check
// The caption pool's background work in the worker: embedding it with the original and the tuned
// model, and lifting it onto a HySAC tuned model's hyperboloid, a turn's worth of captions at a
// time (turn-size.js), so that the visitor's requests never wait behind more than one chunk. A
// search before the work is done answers over the part done (at least one chunk). The original
// model's embeddings are kept in this browser once complete (pool-cache.js), and restored on the
// next visit.

import { ClipError } from './errors.js';
import { keepEmbeddings, keptEmbeddings, poolKey } from './pool-cache.js';
import { emptyPool } from './session.js';

/** @typedef {import('./scheduler.js').WorkContext} WorkContext */
/** @typedef {import('./session.js').Pool} Pool */
/** @typedef {import('../pkg/safer_clip.js').CaptionPool} CaptionPool */
/** @typedef {'original' | 'tuned' | 'lifted'} PoolWorkKind */

/**
 * Captions embedded at a time when the visitor waits for them: the first chunk that a search
 * needs (nearest of fewer would say little), and all of the pool for a training run.
 */
const CHUNK = 64;

const JOBS = /** @type {const} */ ({ original: 'pool:original', tuned: 'pool:tuned', lifted: 'pool:lifted' });

export class PoolWork {
  #context;

  /** @param {WorkContext} context */
  constructor(context) {
    this.#context = context;
  }

  /**
   * Sets the caption pool: restored from this browser when it kept the original model's
   * embeddings of it, else embedded in the background from now on.
   * @param {string[]} captions
   * @returns {Promise<{ size: number, embedded: number, restored: boolean }>}
   */
  async set(captions) {
    this.clear();
    const session = this.#context.session;
    const model = session.loadedModel();
    const key = await poolKey({ weights: session.weights, captions, backend: model.backend });
    const kept = await keptEmbeddings(key).catch(() => null);
    const restored = kept && await this.#context.core(() => model.poolFromEmbeddings(captions, kept.data)).catch(() => null);
    const original = restored ?? await this.#context.core(() => model.createPool(captions));
    session.setPool({ ...emptyPool(), captions, key, original, restored: Boolean(restored) });
    if (!original.complete) this.#context.background(JOBS.original, () => this.#extend('original'));
    this.tunedChanged({ final: true });
    return { size: original.size, embedded: original.embedded, restored: Boolean(restored) };
  }

  /** Stops all pool work and frees the pool. */
  clear() {
    for (const job of Object.values(JOBS)) this.#context.cancel(job);
    this.#context.session.setPool(emptyPool());
  }

  /**
   * The tuned model changed (Session.setTuned): its pool work starts again, right away when the
   * model is `final` (a run paused or ended, an adapter came), else when a search asks for it
   * (a run steps: each step's model would be embedded for nothing).
   * @param {{ final: boolean }} options
   */
  tunedChanged({ final }) {
    this.#context.cancel(JOBS.tuned);
    this.#context.cancel(JOBS.lifted);
    const { tuned, pool } = this.#context.session;
    if (!final || !tuned || pool.captions.length === 0) return;
    if (tuned.isHyperbolic) this.#context.background(JOBS.lifted, () => this.#lift());
    else this.#context.background(JOBS.tuned, () => this.#extend('tuned'));
  }

  /**
   * The original or tuned model's pool with at least one chunk embedded (embedded now, for the
   * request that asks, when none is yet), and the rest on its way.
   * @param {'original' | 'tuned'} kind
   * @returns {Promise<CaptionPool>}
   */
  async ready(kind) {
    const pool = await this.#pool(kind);
    if (pool.embedded === 0) await this.#extend(kind, CHUNK);
    if (!pool.complete) this.#context.background(JOBS[kind], () => this.#extend(kind));
    return pool;
  }

  /** The original model's pool, embedded in full now (a training run needs all of it). */
  async complete() {
    const pool = await this.#pool('original');
    while (!pool.complete) await this.#extend('original', CHUNK);
    this.#context.cancel(JOBS.original);
    return pool;
  }

  /**
   * The pool lifted onto the HySAC tuned model's hyperboloid, at least one chunk of it.
   * @returns {Promise<{ points: import('../pkg/safer_clip.js').HyperbolicPoints, count: number }>}
   */
  async lifted() {
    const { pool } = this.#context.session;
    if (pool.captions.length === 0) throw new ClipError('NoPool', 'Set a caption pool first.');
    if (!pool.lifted) await this.#lift();
    if (pool.liftedCount < pool.captions.length) this.#context.background(JOBS.lifted, () => this.#lift());
    return { points: /** @type {NonNullable<Pool['lifted']>} */ (pool.lifted), count: pool.liftedCount };
  }

  /**
   * @param {'original' | 'tuned'} kind
   * @returns {Promise<CaptionPool>}
   */
  async #pool(kind) {
    const session = this.#context.session;
    const { pool } = session;
    if (pool.captions.length === 0 || !pool.original) {
      throw new ClipError('NoPool', 'Set a caption pool first.');
    }
    if (kind === 'original') return pool.original;
    const tuned = session.tunedModel();
    pool.tuned ??= await this.#context.core(() => tuned.createPool(pool.captions));
    return pool.tuned;
  }

  /**
   * One chunk more of a model's pool (`count` captions, else a turn's worth); says whether more
   * is left.
   * @param {'original' | 'tuned'} kind
   * @param {number} [count]
   */
  async #extend(kind, count) {
    const session = this.#context.session;
    const model = kind === 'original' ? session.clip : session.tuned;
    if (!model || session.pool.captions.length === 0) return false;
    const pool = await this.#pool(kind);
    const take = count ?? session.turns.texts.count;
    const items = Math.min(take, pool.size - pool.embedded);
    const embedded = await session.turns.texts.time(items, () => this.#context.core(() => model.extendPool(pool, take)));
    this.#progress(kind, embedded, pool.size);
    if (pool.complete && kind === 'original') await this.#keep(pool);
    return !pool.complete;
  }

  /** One chunk more of the pool lifted onto the tuned model's hyperboloid; says whether more is left. */
  async #lift() {
    const { tuned, pool, turns } = this.#context.session;
    if (!tuned?.isHyperbolic || pool.liftedCount >= pool.captions.length) return false;
    const chunk = pool.captions.slice(pool.liftedCount, pool.liftedCount + turns.texts.count);
    const points = await turns.texts.time(chunk.length, () => this.#context.core(() => tuned.liftTexts(chunk)));
    if (pool.lifted) {
      const lifted = pool.lifted;
      try {
        await this.#context.core(() => lifted.append(points));
      } finally {
        points.free();
      }
    } else {
      pool.lifted = points;
    }
    pool.liftedCount += chunk.length;
    this.#progress('lifted', pool.liftedCount, pool.captions.length);
    return pool.liftedCount < pool.captions.length;
  }

  /** Keeps the original model's complete embeddings of the pool in this browser. */
  async #keep(/** @type {CaptionPool} */ pool) {
    const { key } = this.#context.session.pool;
    if (!key) return;
    const matrix = await this.#context.core(() => pool.embeddings());
    try {
      await keepEmbeddings(key, { rows: matrix.rows, cols: matrix.cols, data: matrix.data });
    } catch (error) {
      console.warn(`The pool's embeddings were not kept (${error.message}); the next visit embeds them again.`);
    } finally {
      matrix.free();
    }
  }

  /**
   * @param {PoolWorkKind} kind
   * @param {number} embedded
   * @param {number} size
   */
  #progress(kind, embedded, size) {
    this.#context.post({ event: 'pool', kind, embedded, size });
  }
}
