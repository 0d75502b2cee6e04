// @ts-check
// Where this browser keeps a folder's images' embeddings (www/folder-cache.js): an image by its
// path, size and modification time; its embedding per model weights and backend as well.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { embeddingKey, imageKey } from '../../www/folder-cache.js';

const FILE = { path: 'holiday/beach.jpg', size: 123456, lastModified: 1733130000000 };

describe('folder cache keys', () => {
  it('know an image by its path, size and modification time', () => {
    const keys = [
      FILE,
      { ...FILE, path: 'holiday/beach.png' },
      { ...FILE, path: 'other/beach.jpg' },
      { ...FILE, size: FILE.size + 1 },
      { ...FILE, lastModified: FILE.lastModified + 1 },
    ].map(imageKey);
    assert.equal(new Set(keys).size, keys.length, keys.join('\n'));
    assert.equal(imageKey({ ...FILE }), keys[0], 'the same file, the same key');
  });

  it('cannot be confused by separators in a path', () => {
    assert.notEqual(imageKey({ path: 'a","1', size: 2, lastModified: 3 }), imageKey({ path: 'a', size: 1, lastModified: 2 }));
    assert.notEqual(
      embeddingKey({ weights: 'aa', backend: 'cpu/x', image: 'y' }),
      embeddingKey({ weights: 'aa', backend: 'cpu', image: 'x/y' }),
    );
  });

  it('keep an embedding per model weights, backend and image', () => {
    const image = imageKey(FILE);
    const base = { weights: 'aa', backend: 'cpu', image };
    const keys = [base, { ...base, weights: 'bb' }, { ...base, backend: 'gpu' }, { ...base, image: imageKey({ ...FILE, size: 1 }) }].map(embeddingKey);
    assert.equal(new Set(keys).size, keys.length, keys.join('\n'));
    assert.equal(embeddingKey({ ...base }), keys[0]);
  });
});
