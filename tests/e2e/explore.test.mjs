// @ts-check
// The explore view in headless Chromium (on the CPU path): the original model's picture of the
// bundled pairs with its per-category counts, keyboard use, and the tuned model's picture after
// two training steps.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { REPO, appSession, browserSkipReason, loadFromServer, openApp, screenshot, startTraining } from './harness.mjs';

const skip = browserSkipReason() ?? false;
const TIMEOUT = 120_000;
const PAIRS = 40;

const captions = new Set(readFileSync(join(REPO, 'data/pairs.jsonl'), 'utf8').split('\n').filter(Boolean)
  .flatMap((line) => { const { safe, unsafe } = JSON.parse(line); return [safe, unsafe]; }));

/**
 * Every point's kind and position, and every arrow, of the explore view's pictures.
 * @param {import('playwright-core').Page} page
 */
function plotContents(page) {
  return page.locator('#explore-plots figure.explore-plot').evaluateAll((figures) => figures.map((figure) => ({
    title: figure.querySelector('h3')?.textContent ?? '',
    points: [...figure.querySelectorAll('.point')].map((point) => ({
      kind: point.classList.contains('safe') ? 'safe' : 'unsafe',
      at: [Number(/** @type {SVGElement} */ (point).dataset.x), Number(/** @type {SVGElement} */ (point).dataset.y)],
      label: point.getAttribute('aria-label') ?? '',
    })),
    arrows: figure.querySelectorAll('line.arrow').length,
    summary: figure.querySelector('.explore-summary')?.textContent ?? '',
    categories: [...figure.querySelectorAll('.explore-categories li')].map((item) => ({
      category: /** @type {HTMLElement} */ (item).dataset.category ?? '',
      landsSafe: Number(/** @type {HTMLElement} */ (item).dataset.landsSafe),
      unsafe: Number(/** @type {HTMLElement} */ (item).dataset.unsafe),
      text: item.textContent ?? '',
    })),
  })));
}

/**
 * Checks a picture's per-category counts against the pairs shown and its overall count.
 * @param {Awaited<ReturnType<typeof plotContents>>[number]} plot
 */
function checkCategories(plot) {
  const shown = new Map();
  for (const { label, kind } of plot.points) {
    if (kind !== 'unsafe') continue;
    const category = (/\((.+?)\)/.exec(label)?.[1] ?? '').replaceAll(' ', '_');
    shown.set(category, (shown.get(category) ?? 0) + 1);
  }
  assert.deepEqual(new Map(plot.categories.map(({ category, unsafe }) => [category, unsafe])), shown, 'a count per category of the pairs shown');
  for (const { category, landsSafe, unsafe, text } of plot.categories) {
    assert.ok(landsSafe >= 0 && landsSafe <= unsafe, `${category}: ${landsSafe} of ${unsafe}`);
    assert.equal(text, `${category.replaceAll('_', ' ')}: ${landsSafe} of ${unsafe}`);
  }
  const overall = Number(/safe one: (\d+) of/.exec(plot.summary)?.[1]);
  assert.equal(plot.categories.reduce((sum, { landsSafe }) => sum + landsSafe, 0), overall, plot.summary);
}

describe('the explore view', { skip, timeout: TIMEOUT * 8 }, () => {
  const session = appSession({ webgpu: false });

  it('draws the original model, then the tuned one beside it after two steps', { timeout: TIMEOUT * 6 }, async () => {
    const { page, logs } = await openApp(session.browser.context, session.server.url);
    await loadFromServer(page, 'full-vocab');
    await page.locator('#explore-plots figure.explore-plot').first().waitFor({ timeout: TIMEOUT });

    const [original] = await plotContents(page);
    assert.equal(original.title, 'Original model');
    assert.equal(original.points.filter((p) => p.kind === 'safe').length, PAIRS);
    assert.equal(original.points.filter((p) => p.kind === 'unsafe').length, PAIRS);
    assert.equal(original.arrows, PAIRS, 'an arrow per unsafe caption');
    assert.equal(original.categories.length, 9, 'the sample holds every category of the bundled pairs');
    checkCategories(original);
    assert.match(original.summary, /mean cosine -?\d\.\d{3}/);
    assert.match(await page.locator('#explore-plots').textContent() ?? '', /Train a few steps or upload an adapter/);
    assert.match(await page.locator('#explore-status').textContent() ?? '', /Train first/);
    for (const { label } of original.points) {
      const quoted = /“(.*?)”/.exec(label)?.[1] ?? '';
      assert.ok(captions.has(quoted), `a caption of the pairs: ${quoted}`);
    }

    // Keyboard: one tab stop, the arrow keys walk through the points and the label follows.
    await page.locator('#compare-prompt').focus();
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    const focusedIndex = () => page.evaluate(() => /** @type {HTMLElement | null} */ (document.activeElement)?.dataset?.index ?? null);
    for (let tabs = 0; (await focusedIndex()) === null && tabs < 10; tabs++) await page.keyboard.press('Tab');
    assert.equal(await focusedIndex(), '0', 'Tab reaches the first point');
    await page.keyboard.press('ArrowRight');
    assert.equal(await focusedIndex(), '1');
    const label = await page.locator('#explore-plots .explore-focus').first().textContent() ?? '';
    assert.match(label, /^Safe \([a-z ]+\): “.+”/);
    assert.equal(label, original.points[1].label);
    await page.keyboard.press('End');
    assert.equal(await focusedIndex(), String(2 * PAIRS - 1));
    await page.locator('#explore-panel').screenshot({ path: join(REPO, 'tests/e2e/artifacts/explore-original.png') });

    await startTraining(page, { method: 'safeclip', steps: 2 });
    await page.locator('#train-label', { hasText: 'Done: 2 steps' }).waitFor({ timeout: TIMEOUT * 3 });
    await page.locator('#explore-plots figure.explore-plot').nth(1).waitFor({ timeout: TIMEOUT });

    const [before, after] = await plotContents(page);
    assert.equal(after.title, 'Safety-tuned model');
    assert.equal(after.points.length, 2 * PAIRS);
    assert.equal(after.arrows, PAIRS);
    checkCategories(after);
    assert.deepEqual(before.points, original.points, 'the original picture is unchanged by training');
    const moved = after.points.filter((p, i) => Math.hypot(p.at[0] - before.points[i].at[0], p.at[1] - before.points[i].at[1]) > 1e-6).length;
    assert.ok(moved > 0, 'training moves captions in the shared projection');
    assert.match(await page.locator('#explore-status').textContent() ?? '', /Both pictures use the original model’s axes/);
    const tunedColumn = await page.locator('#explore-table tbody tr td:nth-child(3)').allTextContents();
    assert.equal(tunedColumn.length, PAIRS);
    assert.ok(tunedColumn.every((text) => /\(-?\d\.\d{3}\)$/.test(text)), tunedColumn[0]);
    console.log(`explore: ${moved} of ${after.points.length} points moved after 2 steps; ${before.summary} → ${after.summary}`);

    await page.locator('#explore-panel').screenshot({ path: join(REPO, 'tests/e2e/artifacts/explore-tuned.png') });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.locator('#explore-panel').screenshot({ path: join(REPO, 'tests/e2e/artifacts/explore-phone.png') });

    // On a phone, a tap beside a point (within a fingertip's reach, not on it) selects the
    // point nearest to it.
    const tuned = page.locator('#explore-plots figure.explore-plot').nth(1);
    const centres = await tuned.locator('.point').evaluateAll((shapes) => shapes.map((shape) => {
      const { x, y, width, height } = shape.getBoundingClientRect();
      return [x + width / 2, y + height / 2, width];
    }));
    const tap = [centres[7][0] + 9, centres[7][1] + 6];
    assert.ok(Math.hypot(9, 6) > centres[7][2] / 2, 'the tap misses the point itself');
    const distances = centres.map(([x, y]) => Math.hypot(x - tap[0], y - tap[1]));
    const nearest = distances.indexOf(Math.min(...distances));
    await tuned.locator('svg').evaluate((svg, [x, y]) => svg.dispatchEvent(new PointerEvent('pointerdown', {
      bubbles: true, pointerType: 'touch', clientX: x, clientY: y,
    })), tap);
    assert.equal(await page.evaluate(() => /** @type {HTMLElement | null} */ (document.activeElement)?.dataset?.index), String(nearest));
    assert.equal(await tuned.locator('.explore-focus').textContent(), after.points[nearest].label);
    await screenshot(page, 'explore-page');
    assert.deepEqual(logs.filter((line) => line.startsWith('pageerror')), []);
    await page.close();
  });
});
