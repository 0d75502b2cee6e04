// @ts-check
// Reading a caption pool file (one safe caption per line) as the core reads one
// (src/data/pool.rs): a caption's index is its 0-based line number, so a blank line is refused
// with its number rather than skipped; CRLF line ends are accepted, and a leading byte-order
// mark is dropped.

import { ClipError } from './errors.js';

/**
 * @param {string} text
 * @returns {string[]} the captions, in file order
 */
export function parseCaptionPool(text) {
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  // The line end of the last line ends no further line.
  if (lines[lines.length - 1] === '') lines.pop();
  const captions = lines.map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
  if (captions.length === 0) throw new ClipError('InvalidPool', 'The caption pool is empty.');
  const blank = captions.findIndex((caption) => caption.trim() === '');
  if (blank >= 0) {
    throw new ClipError('InvalidPool', `Line ${blank + 1} of the caption pool is blank; every line must hold a caption.`);
  }
  return captions;
}
