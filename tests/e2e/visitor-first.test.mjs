// @ts-check
// The visitor first, on the CPU path in headless Chromium: a search typed while the caption pool
// is still being embedded is answered before the embedding ends, over the part embedded; the
// panel searches again once the pool is complete; and a second visit restores the pool's
// embeddings from this browser instead of embedding them again.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { TEST_POOL, appSession, browserSkipReason, loadFromServer, openApp } from './harness.mjs';

const skip = browserSkipReason() ?? false;
const TIMEOUT = 120_000;
const PROMPT = 'a man punching another man outside a bar at night';

/**
 * In the page, through the client API: loads the full-vocab model on the CPU path, sets
 * `captions` as the pool and searches it at once; records, in order, the answers and the pool's
 * progress events until the pool is embedded, then searches once more.
 * @param {import('playwright-core').Page} page
 * @param {string[]} captions
 */
function searchWhileEmbedding(page, captions) {
  return page.evaluate(async ({ captions, prompt }) => {
    const { ClipClient } = await import(/** @type {string} */ ('/clip-client.js'));
    const client = new ClipClient();
    /** @type {(string | object)[]} */
    const log = [];
    /** @type {() => void} */
    let complete = () => {};
    const embedded = new Promise((resolve) => { complete = () => resolve(undefined); });
    client.addEventListener('pool', (/** @type {Event} */ event) => {
      const { kind, embedded: done, size } = /** @type {CustomEvent} */ (event).detail;
      log.push(`pool ${kind} ${done} of ${size}`);
      if (done === size) complete();
    });
    client.addEventListener('timings', (/** @type {Event} */ event) => log.push({ timings: /** @type {CustomEvent} */ (event).detail.timings }));
    await client.loadModel({ kind: 'server', name: 'full-vocab' }, () => {}, { backend: 'cpu' });
    // The search is sent with the pool, before any of it is embedded.
    const setting = client.setPool(captions);
    const searching = client.nearestSafe([prompt], 5);
    const set = await setting;
    log.push({ set });
    const first = await searching;
    log.push({ answer: { poolEmbedded: first.poolEmbedded, poolSize: first.poolSize, found: first.original[0].length } });
    if (!set.restored) await embedded;
    const last = await client.nearestSafe([prompt], 5);
    log.push({ answer: { poolEmbedded: last.poolEmbedded, poolSize: last.poolSize, found: last.original[0].length } });
    client.close();
    return log;
  }, { captions, prompt: PROMPT });
}

describe('the visitor first', { skip, timeout: TIMEOUT * 6 }, () => {
  const session = appSession({ webgpu: false });

  it('answers a search typed while the pool is embedded first, over the part embedded, and restores the pool on a second visit', { timeout: TIMEOUT * 2 }, async () => {
    // A pool no other test sets, so that this browser keeps no embeddings of it yet.
    const captions = [...TEST_POOL].reverse();
    const { page } = await openApp(session.browser.context, session.server.url);
    const log = await searchWhileEmbedding(page, captions);
    const answers = log.flatMap((entry) => (typeof entry === 'object' && 'answer' in entry ? [entry.answer] : []));
    const done = log.indexOf(`pool original ${captions.length} of ${captions.length}`);
    assert.ok(done > 0, `the pool was embedded: ${JSON.stringify(log)}`);
    const firstAnswer = log.findIndex((entry) => typeof entry === 'object' && 'answer' in entry);
    assert.ok(firstAnswer < done, `the search came before the end of the embedding: ${JSON.stringify(log)}`);
    assert.equal(answers[0].poolEmbedded, 64, 'one chunk, embedded for the search');
    assert.equal(answers[0].poolSize, captions.length);
    assert.equal(answers[0].found, 5);
    assert.deepEqual(answers[1], { poolEmbedded: captions.length, poolSize: captions.length, found: 5 });
    assert.deepEqual(log.find((entry) => typeof entry === 'object' && 'set' in entry), { set: { size: captions.length, embedded: 0, restored: false } });
    const timings = /** @type {{ timings: Record<string, number> }} */ (log.find((entry) => typeof entry === 'object' && 'timings' in entry)).timings;
    assert.deepEqual(Object.keys(timings).sort(), ['computeMs', 'fetchMs', 'loadMs', 'waitMs', 'warmUpMs']);
    assert.ok(Object.values(timings).every((ms) => Number.isFinite(ms) && ms >= 0), JSON.stringify(timings));
    await page.close();

    // A second visit: the same model, pool and backend.
    const again = await openApp(session.browser.context, session.server.url);
    const second = await searchWhileEmbedding(again.page, captions);
    assert.deepEqual(second.find((entry) => typeof entry === 'object' && 'set' in entry),
      { set: { size: captions.length, embedded: captions.length, restored: true } });
    assert.deepEqual(second.filter((entry) => typeof entry === 'string' && entry.startsWith('pool original')), [],
      'nothing embedded again');
    const secondAnswers = second.flatMap((entry) => (typeof entry === 'object' && 'answer' in entry ? [entry.answer] : []));
    assert.deepEqual(secondAnswers[0], { poolEmbedded: captions.length, poolSize: captions.length, found: 5 });
    await again.page.close();
  });

  it('the safety panel says a search covered part of the pool, and searches again when it is complete', { timeout: TIMEOUT }, async () => {
    const { page } = await openApp(session.browser.context, session.server.url);
    await loadFromServer(page, 'full-vocab');
    await page.locator('#compare-prompt:enabled').waitFor({ timeout: TIMEOUT });
    // Typed at once: the pool (the app's bundled one, TEST_POOL here) has just begun.
    await page.fill('#compare-prompt', PROMPT);
    const status = page.locator('#compare-status');
    await status.filter({ hasText: /^Nearest of (the \d+ of \d+ safe captions embedded so far|\d+ safe captions)/ }).waitFor({ timeout: TIMEOUT });
    await status.filter({ hasText: `Nearest of ${TEST_POOL.length} safe captions.` }).waitFor({ timeout: TIMEOUT });
    assert.equal(await page.locator('#compare-original li .caption').count(), 5);
    await page.close();
  });
});
