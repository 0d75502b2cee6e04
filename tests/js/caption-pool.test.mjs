// @ts-check
// Reading a caption pool file as the core does (www/caption-pool.js, src/data/pool.rs).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseCaptionPool } from '../../www/caption-pool.js';

describe('parseCaptionPool', () => {
  it('reads one caption per line, with or without a final line end, LF or CRLF', () => {
    assert.deepEqual(parseCaptionPool('a cat\na dog\n'), ['a cat', 'a dog']);
    assert.deepEqual(parseCaptionPool('a cat\r\na dog'), ['a cat', 'a dog']);
    assert.deepEqual(parseCaptionPool('  spaced out  \n'), ['  spaced out  '], 'a caption is kept as written');
  });

  it('drops a leading byte-order mark', () => {
    assert.deepEqual(parseCaptionPool('\uFEFFa cat\n'), ['a cat']);
  });

  it('refuses a blank line with its number, where it would shift every index after it', () => {
    for (const [text, line] of [['a\n\nb\n', 2], ['a\n \t\nb', 2], ['\na', 1], ['a\r\n\r\nb', 2], ['a\n\n', 2]]) {
      assert.throws(() => parseCaptionPool(String(text)), (error) => {
        assert.equal(/** @type {Error} */ (error).name, 'InvalidPool');
        assert.match(/** @type {Error} */ (error).message, new RegExp(`^Line ${line} of the caption pool is blank`));
        return true;
      }, JSON.stringify(text));
    }
  });

  it('refuses an empty pool', () => {
    assert.throws(() => parseCaptionPool(''), /empty/);
    assert.throws(() => parseCaptionPool('\uFEFF'), /empty/);
  });
});
