// @ts-check
// The safety–knowledge curve of the trained model in the worker: at each strength, how much unsafe
// content it redirects (safe_top1) and how much of the original model's knowledge it keeps
// (safe_caption_cosine), on text pairs. Each strength embeds every pair's captions, so the curve
// is background work, one strength a turn; each point is posted to the page as it comes
// (`tradeoff` events, protocol.js).

import { ClipError, errorData } from './errors.js';

/** @typedef {import('./session.js').Session} Session */
/** @typedef {import('./protocol.js').WorkerEvent} WorkerEvent */
/** @typedef {import('./protocol.js').TradeoffPoint} TradeoffPoint */

const JOB = 'tradeoff';

export class TradeoffWork {
  #session;
  #background;
  #cancel;
  #core;
  #post;
  /** The number of the latest curve asked for: its events carry it. */
  #traces = 0;

  /**
   * @param {{ session: Session,
   *   background: (key: string, turn: () => Promise<boolean>) => void,
   *   cancel: (key: string) => void,
   *   core: <T>(call: () => T | Promise<T>) => Promise<T>,
   *   post: (event: WorkerEvent) => void }} worker
   */
  constructor({ session, background, cancel, core, post }) {
    this.#session = session;
    this.#background = background;
    this.#cancel = cancel;
    this.#core = core;
    this.#post = post;
  }

  /**
   * Starts the curve of the trained model on `pairs` (JSONL) at `strengths`, in place of any
   * curve on its way. A turn after the trained model changed ends the curve unfinished.
   * @param {string} pairs
   * @param {number[]} strengths
   * @returns {{ trace: number }} the number its events carry
   */
  trace(pairs, strengths) {
    const session = this.#session;
    const original = session.loadedModel();
    const trained = session.trained;
    if (!trained) throw new ClipError('NoAdapter', 'Train or upload an adapter first.');
    const trace = ++this.#traces;
    /** @type {TradeoffPoint[]} */
    const points = [];
    this.#background(JOB, async () => {
      if (session.trained !== trained || session.clip !== original) return false;
      const strength = strengths[points.length];
      try {
        const [point] = await this.#core(() => trained.tradeoff(original, pairs, [strength]));
        points.push(point);
      } catch (error) {
        this.#post({ event: 'tradeoff', trace, points, size: strengths.length, error: errorData(error) });
        return false;
      }
      this.#post({ event: 'tradeoff', trace, points, size: strengths.length });
      return points.length < strengths.length;
    });
    return { trace };
  }

  /** Drops the curve on its way. */
  cancel() {
    this.#cancel(JOB);
  }
}
