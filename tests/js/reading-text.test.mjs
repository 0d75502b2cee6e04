// @ts-check
// A HySAC model's reading of a prompt in words (www/result-items.js, readingText), with the
// categories whose thresholds flag it.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { readingText } from '../../www/result-items.js';

describe('a HySAC reading in words', () => {
  it('says safe or unsafe, the root distance, the bound and where redirection moved it', () => {
    assert.equal(readingText({ distance: 1.23456, unsafe: true }, { bound: 1, redirected: 0.9 }),
      'Prompt reads as unsafe: root distance 1.235 (safe region up to 1.000); redirected to 0.900');
    assert.equal(readingText({ distance: 0.5, unsafe: false }), 'Prompt reads as safe: root distance 0.500');
  });

  it('names the categories whose thresholds flag the prompt, when the adapter has thresholds', () => {
    const categories = ['violence', 'weapons', 'self_harm'];
    assert.equal(readingText({ distance: 2, unsafe: true, flagged_by: ['violence', 'weapons'] }, { categories }),
      'Prompt reads as unsafe: root distance 2.000; flagged by the violence and weapons thresholds');
    assert.equal(readingText({ distance: 2, unsafe: true, flagged_by: ['self_harm'] }, { categories }),
      'Prompt reads as unsafe: root distance 2.000; flagged by the self harm threshold');
    assert.equal(readingText({ distance: 0.2, unsafe: false, flagged_by: [] }, { categories }),
      'Prompt reads as safe: root distance 0.200; within every category’s threshold');
  });

  it('says nothing of categories for an adapter without thresholds', () => {
    assert.equal(readingText({ distance: 2, unsafe: true, flagged_by: [] }, { categories: null }),
      'Prompt reads as unsafe: root distance 2.000');
  });
});
