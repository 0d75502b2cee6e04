// @ts-check
// Where a pool's embeddings are kept (www/pool-cache.js): per weights, captions and backend.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { poolKey, sha256 } from '../../www/pool-cache.js';

describe('pool cache keys', () => {
  it('hashes bytes with SHA-256', async () => {
    assert.equal(await sha256(new TextEncoder().encode('abc')), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('differ with the weights, the captions, their order and the backend', async () => {
    const base = { weights: 'aa', captions: ['a cat', 'a dog'], backend: 'cpu' };
    const keys = await Promise.all([
      base,
      { ...base, weights: 'bb' },
      { ...base, captions: ['a dog', 'a cat'] },
      { ...base, captions: ['a cat\na dog'] },
      { ...base, backend: 'gpu' },
    ].map(poolKey));
    assert.equal(new Set(keys).size, keys.length, keys.join('\n'));
    assert.equal(await poolKey({ ...base }), keys[0], 'the same pool, the same key');
  });
});
