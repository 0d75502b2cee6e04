// @ts-check
// The safety–knowledge curve of the trained model in the worker: at each strength, how much unsafe
// content it redirects (safe_top1) and how much of the original model's knowledge it keeps
// (safe_caption_cosine), on text pairs. Each strength embeds every pair's captions, so the curve
// is background work, one strength a turn; each point is posted to the page as it comes
// (`tradeoff` events, protocol.js).

import { ClipError, errorData } from './errors.js';

/** @typedef {import('./scheduler.js').WorkContext} WorkContext */
/** @typedef {import('./protocol.js').TradeoffPoint} TradeoffPoint */

const JOB = 'tradeoff';

export class TradeoffWork {
  #context;
  /** The number of the latest curve asked for: its events carry it. */
  #traces = 0;

  /** @param {WorkContext} context */
  constructor(context) {
    this.#context = context;
  }

  /**
   * Starts the curve of the trained model on `pairs` (JSONL) at `strengths`, in place of any
   * curve on its way. A turn after the trained model changed ends the curve unfinished.
   * @param {string} pairs
   * @param {number[]} strengths
   * @returns {{ trace: number }} the number its events carry
   */
  trace(pairs, strengths) {
    const session = this.#context.session;
    const original = session.loadedModel();
    const trained = session.trained;
    if (!trained) throw new ClipError('NoAdapter', 'Train or upload an adapter first.');
    const trace = ++this.#traces;
    /** @type {TradeoffPoint[]} */
    const points = [];
    this.#context.background(JOB, async () => {
      if (session.trained !== trained || session.clip !== original) return false;
      const strength = strengths[points.length];
      try {
        const [point] = await this.#context.core(() => trained.tradeoff(original, pairs, [strength]));
        points.push(point);
      } catch (error) {
        this.#context.post({ event: 'tradeoff', trace, points, size: strengths.length, error: errorData(error) });
        return false;
      }
      this.#context.post({ event: 'tradeoff', trace, points, size: strengths.length });
      return points.length < strengths.length;
    });
    return { trace };
  }

  /** Drops the curve on its way. */
  cancel() {
    this.#context.cancel(JOB);
  }
}
