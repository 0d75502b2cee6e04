// @ts-check
// How many items one turn of background work takes. A turn should end within TURN_BUDGET_MS, so
// that a request of the visitor's that comes meanwhile waits no longer than that; the time an item
// takes differs between a tiny model on a GPU and ViT-B/32 on a software one by a factor of a
// thousand, so it is learnt from the turns done, for each kind of item.

/** How long one turn of background work should take, at most, once the pace is known. */
export const TURN_BUDGET_MS = 250;

export class TurnSize {
  /** @type {number | null} milliseconds per item, a running mean of the turns timed */
  #msPerItem = null;
  #first;
  #max;
  #now;

  /**
   * @param {{ first?: number, max?: number, now?: () => number }} [options] `first`: the items of
   *   the first turn, before the pace is known; `max`: the most in any turn (larger batches gain
   *   little and hold more memory)
   */
  constructor({ first = 1, max = 64, now = () => performance.now() } = {}) {
    this.#first = first;
    this.#max = max;
    this.#now = now;
  }

  /** How many items the next turn takes: as many as fit the budget, at least one. */
  get count() {
    if (this.#msPerItem === null) return this.#first;
    return Math.max(1, Math.min(this.#max, Math.floor(TURN_BUDGET_MS / this.#msPerItem)));
  }

  /**
   * Runs a turn of `items` items and learns from how long it took; a turn that failed teaches
   * nothing.
   * @template T
   * @param {number} items
   * @param {() => Promise<T>} run
   * @returns {Promise<T>}
   */
  async time(items, run) {
    const started = this.#now();
    const result = await run();
    if (items > 0) {
      const pace = (this.#now() - started) / items;
      // The mean of the last pace and the one before weighs recent turns most, so the size
      // follows a machine that speeds up (pipelines compiled) or slows down (a busy tab).
      this.#msPerItem = this.#msPerItem === null ? pace : (this.#msPerItem + pace) / 2;
    }
    return result;
  }
}
