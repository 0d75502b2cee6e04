// @ts-check
// Reading the class names a teacher types for zero-shot classification: one per line or
// separated by commas, blanks dropped, each name once.

/**
 * @param {string} text
 * @returns {string[]} the names, in the order typed
 */
export function parseClassNames(text) {
  const names = text.split(/[\n,]/).map((name) => name.trim()).filter(Boolean);
  return [...new Set(names)];
}
