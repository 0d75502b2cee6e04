// @ts-check
// Working through many items (images, above all) in batches: the batches themselves, and a batch
// call that, when one item spoils it, is retried item by item so that the others still go through.

/**
 * `items` in runs of at most `size`, in order.
 * @template T
 * @param {T[]} items
 * @param {number} size at least 1
 * @returns {T[][]}
 */
export function batches(items, size) {
  if (!(size >= 1)) throw new RangeError(`a batch holds at least one item, not ${size}`);
  const runs = [];
  for (let start = 0; start < items.length; start += size) runs.push(items.slice(start, start + size));
  return runs;
}

/**
 * @template R
 * @typedef {{ ok: true, value: R } | { ok: false, error: unknown }} Settled
 */

/**
 * Each item's result of `call`, which takes items together and answers one result per item.
 * When the call fails with an error that `itemError` says one item may cause (an image the model
 * cannot read), it is made again for each item alone: the item at fault gets the error, the
 * others their results. Any other error fails the whole batch (it is thrown).
 * @template T, R
 * @param {T[]} items
 * @param {(items: T[]) => Promise<R[]>} call
 * @param {(error: unknown) => boolean} itemError
 * @returns {Promise<Settled<R>[]>}
 */
export async function settleEach(items, call, itemError) {
  if (items.length === 0) return [];
  try {
    const values = await call(items);
    return values.map((value) => ({ ok: true, value }));
  } catch (error) {
    if (!itemError(error)) throw error;
    if (items.length === 1) return [{ ok: false, error }];
  }
  /** @type {Settled<R>[]} */
  const settled = [];
  for (const item of items) settled.push(...await settleEach([item], call, itemError));
  return settled;
}
