// @ts-check
// Class names as a teacher types them (www/class-names.js).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseClassNames } from '../../www/class-names.js';

describe('class names', () => {
  it('reads one per line or comma-separated, or both, trimmed', () => {
    assert.deepEqual(parseClassNames('cat\ndog\n  red car  '), ['cat', 'dog', 'red car']);
    assert.deepEqual(parseClassNames('cat, dog,bird'), ['cat', 'dog', 'bird']);
    assert.deepEqual(parseClassNames('cat, dog\r\nbird,\nfish'), ['cat', 'dog', 'bird', 'fish']);
  });

  it('drops blanks and repeats, keeping the first place of each', () => {
    assert.deepEqual(parseClassNames('\n cat,, ,\n\ndog\ncat\n'), ['cat', 'dog']);
    assert.deepEqual(parseClassNames('  \n , '), []);
  });
});
