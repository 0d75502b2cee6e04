// @ts-check
// The safety–knowledge dial in headless Chromium, on the CPU path with the full-vocab model (the
// tiny fixture with CLIP's vocabulary and context: tiny-words' 16 positions cannot take the
// bundled pairs it trains on): the strength slider re-ranks the search panel's tuned column
// between the original model's ranking (at 0, the same) and the trained model's (at 1), a drag
// sends the worker a strength or two and not one per step, and the trained model's curve is drawn
// with its five points and the dial's place on it.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { ARTIFACTS, appSession, browserSkipReason, loadFromServer, openApp, screenshot, startTraining } from './harness.mjs';

const skip = browserSkipReason() ?? false;
const TIMEOUT = 120_000;
const PROMPT = 'a photo of a dog';

/** @typedef {import('playwright-core').Page} Page */

/**
 * A column's captions and scores, in its order.
 * @param {Page} page
 * @param {string} list
 */
function column(page, list) {
  return page.locator(`${list} li:not(.note)`).evaluateAll((items) => items.map((item) => ({
    caption: item.querySelector('.caption')?.textContent ?? '',
    score: Number(/** @type {HTMLElement} */ (item.querySelector('.score')).dataset.score),
  })));
}

/**
 * Moves a strength slider as a drag does: an input event per step, `values` in a row.
 * @param {Page} page
 * @param {string} slider
 * @param {number[]} values
 */
function drag(page, slider, values) {
  return page.locator(slider).evaluate(async (input, values) => {
    for (const value of values) {
      /** @type {HTMLInputElement} */ (input).value = String(value);
      input.dispatchEvent(new Event('input', { bubbles: true }));
      await new Promise((resolve) => setTimeout(resolve, 8));
    }
  }, values);
}

/**
 * Waits until the tuned caption column, at the heading's strength, holds `expected` (scores to
 * within float rounding).
 * @param {Page} page
 * @param {{ caption: string, score: number }[]} expected
 */
async function waitForTunedColumn(page, expected) {
  await page.waitForFunction((expected) => {
    const items = [...document.querySelectorAll('#caption-results-tuned li:not(.note)')];
    return items.length === expected.length && items.every((item, i) => item.querySelector('.caption')?.textContent === expected[i].caption
      && Math.abs(Number(/** @type {HTMLElement} */ (item.querySelector('.score')).dataset.score) - expected[i].score) < 1e-5);
  }, expected, { timeout: TIMEOUT });
}

describe('the safety–knowledge dial', { skip, timeout: TIMEOUT * 6 }, () => {
  const session = appSession({ webgpu: false });

  it('re-ranks the tuned column from the original (0) to the trained model (1), and marks its place on the curve', { timeout: TIMEOUT * 5 }, async () => {
    /** @type {string[]} */
    const sent = [];
    await session.browser.context.exposeBinding('recordRequest', (_, type) => { sent.push(type); });
    await session.browser.context.addInitScript(() => {
      const post = Worker.prototype.postMessage;
      Worker.prototype.postMessage = function (message, ...rest) {
        /** @type {any} */ (window).recordRequest(message?.type);
        return post.call(this, message, ...rest);
      };
    });
    const { page, logs } = await openApp(session.browser.context, session.server.url);
    await loadFromServer(page, 'full-vocab', { backend: 'cpu' });
    await page.locator('#compare-prompt:enabled').waitFor({ timeout: TIMEOUT });
    assert.equal(await page.locator('#dial-strength').isDisabled(), true, 'no dial before there is a tuned model');
    assert.ok(await page.locator('#search-dial').isHidden());

    await page.fill('#prompt', PROMPT);
    await page.locator('#caption-results .score').nth(10).waitFor({ timeout: TIMEOUT });
    const original = await column(page, '#caption-results');

    await startTraining(page, { method: 'safeclip', steps: 4 });
    await page.locator('#train-label', { hasText: 'Done: 4 steps' }).waitFor({ timeout: TIMEOUT * 2 });
    await page.locator('#caption-results-tuned .score').nth(10).waitFor({ timeout: TIMEOUT });
    const trained = await column(page, '#caption-results-tuned');
    assert.notDeepEqual(trained.map((item) => item.score), original.map((item) => item.score), 'training moved the tuned model');

    // The curve: five strengths measured in the background, and the dial at 1 on its last point.
    await page.locator('#tradeoff-plot .tradeoff-point').nth(4).waitFor({ timeout: TIMEOUT });
    await page.locator('#tradeoff-status', { hasText: 'Measured on the bundled pairs' }).waitFor({ timeout: TIMEOUT });
    const points = await page.locator('#tradeoff-plot .tradeoff-point').evaluateAll((circles) => circles.map((circle) => ({
      strength: Number(/** @type {SVGElement} */ (circle).dataset.strength),
      redirected: Number(/** @type {SVGElement} */ (circle).dataset.redirected),
      kept: Number(/** @type {SVGElement} */ (circle).dataset.kept),
    })));
    assert.deepEqual(points.map((p) => p.strength), [0, 0.25, 0.5, 0.75, 1]);
    assert.ok(Math.abs(points[0].kept - 1) < 1e-5, `strength 0 is the original: it keeps everything (${points[0].kept})`);
    assert.ok(points.every((p) => p.redirected >= 0 && p.redirected <= 1 && Number.isFinite(p.kept)), JSON.stringify(points));
    const marker = () => page.locator('#tradeoff-plot .tradeoff-marker').evaluate((path) => ({
      strength: Number(/** @type {SVGElement} */ (path).dataset.strength),
      redirected: Number(/** @type {SVGElement} */ (path).dataset.redirected),
      kept: Number(/** @type {SVGElement} */ (path).dataset.kept),
    }));
    assert.deepEqual(await marker(), points[4], 'the dial at 1 sits on the last point');
    assert.equal(await page.locator('#tradeoff-table tbody tr').count(), 6, 'a row per point and one for the dial');
    assert.ok(await page.locator('#search-dial').isVisible(), 'the search panel has the dial beside its tuned column');

    // A drag of the safety panel's slider down to 0: a strength or two reach the worker, not one per step.
    const before = sent.filter((type) => type === 'setStrength').length;
    await drag(page, '#dial-strength', Array.from({ length: 21 }, (_, i) => 1 - i * 0.05).map((v) => Math.max(0, Number(v.toFixed(2)))));
    await page.locator('#captions-tuned-heading', { hasText: 'at strength 0.00' }).waitFor();
    await waitForTunedColumn(page, original);
    const strengthsSent = sent.filter((type) => type === 'setStrength').length - before;
    assert.ok(strengthsSent >= 1 && strengthsSent <= 2, `a drag of 21 steps sent ${strengthsSent} strengths`);
    assert.equal(await page.locator('#search-strength').inputValue(), '0', 'the two sliders move together');
    assert.deepEqual(await marker(), points[0], 'the dial at 0 sits on the first point');
    await screenshot(page, 'dial-at-0');

    // Between two measured strengths the dial lies on the line between them.
    await drag(page, '#search-strength', [0.6]);
    const between = await marker();
    assert.equal(between.strength, 0.6);
    const t = (0.6 - 0.5) / 0.25;
    assert.ok(Math.abs(between.redirected - (points[2].redirected + t * (points[3].redirected - points[2].redirected))) < 1e-9, JSON.stringify(between));
    assert.ok(Math.abs(between.kept - (points[2].kept + t * (points[3].kept - points[2].kept))) < 1e-9, JSON.stringify(between));
    await page.locator('#dial').screenshot({ path: join(ARTIFACTS, 'dial-curve.png') });

    // Beyond the measured strengths the curve says nothing about the dial.
    await drag(page, '#search-strength', [1.5]);
    assert.equal(await page.locator('#tradeoff-plot .tradeoff-marker').count(), 0);
    assert.match(await page.locator('#tradeoff-table tbody').textContent() ?? '', /at 1\.50, lies beyond the measured strengths/);

    // Back at 1: the trained model's ranking again.
    await drag(page, '#search-strength', [1]);
    await page.waitForFunction(() => !document.querySelector('#captions-tuned-heading')?.textContent?.includes('at strength'));
    await waitForTunedColumn(page, trained);
    await screenshot(page, 'dial');
    assert.deepEqual(logs.filter((line) => line.startsWith('pageerror')), []);
    await page.close();
  });
});
