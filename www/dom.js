// @ts-check
// Finding the page's elements by id, typed, and failing loudly when one is missing.

/**
 * The element with this id, checked to be of `type` (HTMLElement unless given).
 * @template {typeof HTMLElement} T
 * @param {string} id
 * @param {T} [type]
 * @returns {InstanceType<T>}
 */
export function $(id, type) {
  const element = document.getElementById(id);
  const expected = type ?? HTMLElement;
  if (!(element instanceof expected)) throw new Error(`the page has no ${expected.name} #${id}`);
  return /** @type {InstanceType<T>} */ (element);
}
