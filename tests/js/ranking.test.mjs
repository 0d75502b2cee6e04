// @ts-check
// Ranking by cosine (www/ranking.js).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { cosine, rank, row } from '../../www/ranking.js';

describe('ranking', () => {
  it('reads a row of a row-major matrix without copying it', () => {
    const embeddings = { rows: 3, cols: 2, data: Float32Array.from([1, 2, 3, 4, 5, 6]) };
    assert.deepEqual([...row(embeddings, 1)], [3, 4]);
    row(embeddings, 2)[0] = 50;
    assert.equal(embeddings.data[4], 50);
  });

  it('ranks a gallery by cosine, best first, keeping each item', () => {
    const query = Float32Array.from([1, 0]);
    const gallery = [
      { item: 'orthogonal', embedding: Float32Array.from([0, 1]) },
      { item: 'same', embedding: Float32Array.from([1, 0]) },
      { item: 'opposite', embedding: Float32Array.from([-1, 0]) },
      { item: 'between', embedding: Float32Array.from([Math.SQRT1_2, Math.SQRT1_2]) },
    ];
    const ranked = rank(query, gallery);
    assert.deepEqual(ranked.map(({ item }) => item), ['same', 'between', 'orthogonal', 'opposite']);
    assert.ok(Math.abs(ranked[1].score - Math.SQRT1_2) < 1e-7);
    assert.equal(cosine(query, gallery[2].embedding), -1);
  });
});
