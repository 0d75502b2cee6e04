// @ts-check
// HySAC in the browser (on the CPU path): a few training steps, then the prompt's safe/unsafe
// reading, the redirect toggle on retrieval, and the traversal to the root; the downloaded
// adapter brings the same views back on a fresh page, and with per-category thresholds in its
// header (as `safer-clip train` fits them) the badges name the categories that flag the prompt.
// The folder panel ranks the visitor's images by distance and reads each one.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { REPO, appSession, browserSkipReason, loadFromServer, openApp, screenshot, startTraining } from './harness.mjs';

const skip = browserSkipReason() ?? false;

const TIMEOUT = 120_000;
const PROMPT = 'a man punching another man outside a bar at night';
const STEPS = 8;
const IMAGE = join(REPO, 'tests/fixtures/images/down-57x83.png');
const SECOND_IMAGE = join(REPO, 'tests/fixtures/images/wide-200x31.png');

/** @param {import('playwright-core').Page} page */
async function loadFullVocab(page) {
  await loadFromServer(page, 'full-vocab');
  await page.locator('#compare-prompt:enabled').waitFor({ timeout: TIMEOUT });
}

/**
 * @param {RegExp} pattern
 * @param {string | null} text
 */
const number = (pattern, text) => Number(pattern.exec(text ?? '')?.[1]);

/**
 * A copy of an adapter file with HySAC classifier thresholds in its header, as `safer-clip train`
 * records them (`hysac_thresholds`).
 * @param {string} adapter the adapter file
 * @param {{ global: number, by_category: Record<string, number> }} thresholds
 * @returns {string} the copy's path
 */
function withThresholds(adapter, thresholds) {
  const bytes = readFileSync(adapter);
  const length = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + length).toString());
  header.__metadata__ = { ...header.__metadata__, hysac_thresholds: JSON.stringify(thresholds) };
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const size = Buffer.alloc(8);
  size.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const path = `${adapter}.thresholds.safetensors`;
  writeFileSync(path, Buffer.concat([size, Buffer.from(json), bytes.subarray(8 + length)]));
  return path;
}

/**
 * Checks the HySAC views for the prompt and returns the badge's and bounds' figures.
 * @param {import('playwright-core').Page} page
 */
async function checkViews(page) {
  await page.locator('#traversal-steps li').nth(STEPS - 1).waitFor({ timeout: TIMEOUT });
  const distances = await page.locator('#traversal-steps .distance').allTextContents();
  const values = distances.map((text) => number(/(\d+(?:\.\d+)?)$/, text));
  assert.equal(values.length, STEPS);
  assert.ok(values.every(Number.isFinite), `numeric distances: ${distances}`);
  assert.ok(values.every((d, i) => i === 0 || d <= values[i - 1] + 1e-6), `toward the root: ${values}`);
  assert.ok(values[STEPS - 1] < 1e-3, `the walk ends at the root: ${values}`);

  const badge = await page.locator('#compare-safety').textContent() ?? '';
  assert.match(badge, /^Prompt reads as (safe|unsafe): root distance [\d.]+/);
  const distance = number(/root distance (\d+(?:\.\d+)?)/, badge);
  assert.ok(Math.abs(distance - values[0]) < 1e-3, `the walk starts at the prompt: ${badge} / ${values}`);
  const bounds = await page.locator('#traversal-bounds').textContent() ?? '';
  const bound = number(/up to (\d+(?:\.\d+)?)/, bounds);
  const boundary = number(/boundary, (\d+(?:\.\d+)?)/, bounds);
  assert.ok(boundary > bound, bounds);
  assert.equal(badge.startsWith('Prompt reads as unsafe'), distance > bound, `${badge} / ${bounds}`);
  assert.ok((await page.locator('#compare-tuned .distance').count()) > 0, 'the tuned column ranks by distance');
  return { badge, distance, boundary };
}

describe('HySAC in the browser', { skip, timeout: TIMEOUT * 8 }, () => {
  const session = appSession({ webgpu: false });

  it('trains, reads the prompt, redirects it, traverses it, and comes back from its adapter', { timeout: TIMEOUT * 7 }, async () => {
    const { page } = await openApp(session.browser.context, session.server.url);
    await loadFullVocab(page);
    await startTraining(page, { method: 'hysac', steps: 2 });
    await page.locator('#train-label', { hasText: 'Done: 2 steps' }).waitFor({ timeout: TIMEOUT * 2 });

    await page.fill('#compare-prompt', PROMPT);
    const { badge, distance, boundary } = await checkViews(page);
    // Redirection moves the query only when it lies beyond the traversal boundary.
    const redirected = distance > boundary;
    assert.equal(/redirected to/.test(badge), redirected, `${badge}, boundary ${boundary}`);
    if (redirected) assert.ok(Math.abs(number(/redirected to (\d+(?:\.\d+)?)/, badge) - boundary) < 1e-3, badge);
    await page.uncheck('#compare-redirect');
    await page.waitForFunction(() => !/redirected to/.test(document.querySelector('#compare-safety')?.textContent ?? ''));
    await screenshot(page, 'hysac');

    // The search panel: the same reading of the prompt, captions and images ranked by distance,
    // and the image's root distance (the run had no images, so no image bound and no verdict).
    await page.setInputFiles('#image-files', IMAGE);
    await page.fill('#prompt', PROMPT);
    await page.locator('#image-results-tuned .distance').first().waitFor({ timeout: TIMEOUT });
    const searchBadge = await page.locator('#search-safety').textContent();
    assert.ok(Math.abs(number(/root distance (\d+(?:\.\d+)?)/, searchBadge) - distance) < 1e-3, `${searchBadge} / ${badge}`);
    const captionDistances = (await page.locator('#caption-results-tuned .distance').allTextContents())
      .map((text) => number(/(\d+(?:\.\d+)?)$/, text));
    assert.ok(captionDistances.length > 0 && captionDistances.every((d, i) => i === 0 || d >= captionDistances[i - 1]),
      `nearest first: ${captionDistances}`);
    assert.match(await page.locator('#image-results-tuned .safety-badge').textContent() ?? '', /^root distance \d+\.\d+$/);
    await screenshot(page, 'hysac-search');

    // The worker keeps the lifted images: a second one joins them, and a removed one leaves.
    await page.setInputFiles('#image-files', SECOND_IMAGE);
    await page.locator('#image-results-tuned .distance').nth(1).waitFor({ timeout: TIMEOUT });
    await page.click('#image-results [aria-label="Remove down-57x83.png"]');
    await page.waitForFunction(() => document.querySelectorAll('#image-results-tuned .distance').length === 1, null, { timeout: TIMEOUT });
    assert.deepEqual(await page.locator('#image-results-tuned figcaption').allTextContents(), ['wide-200x31.png']);

    // The folder panel: the tuned model lifts the images, ranks them by distance for a text and
    // reads each one; it ranks no image for another image.
    await page.setInputFiles('#folder-files', [IMAGE, SECOND_IMAGE]);
    await page.locator('#folder-query:enabled').waitFor({ timeout: TIMEOUT });
    await page.fill('#folder-query', PROMPT);
    await page.locator('#folder-results-tuned .distance').nth(1).waitFor({ timeout: TIMEOUT });
    const folderBadge = await page.locator('#folder-safety').textContent();
    assert.ok(Math.abs(number(/root distance (\d+(?:\.\d+)?)/, folderBadge) - distance) < 1e-3, `${folderBadge} / ${badge}`);
    assert.deepEqual(await page.locator('#folder-results-tuned .safety-badge').evaluateAll((badges) => badges.map((b) => /^root distance \d+\.\d+$/.test(b.textContent ?? ''))), [true, true]);
    await page.click('#folder-results [aria-label="Find images like down-57x83.png"]');
    await page.locator('#folder-results-tuned', { hasText: 'A HySAC model ranks images for a text' }).waitFor({ timeout: TIMEOUT });
    assert.equal(await page.locator('#folder-results li .score').count(), 1, 'the original model ranks the other image');

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#adapter-download')]);
    const adapterPath = await download.path();
    await page.reload();
    await loadFullVocab(page);
    await page.setInputFiles('#adapter-upload', adapterPath);
    await page.fill('#compare-prompt', PROMPT);
    const again = await checkViews(page);
    assert.ok(Math.abs(again.distance - distance) < 1e-4, `the same head and adapters: ${again.badge} / ${badge}`);
    assert.doesNotMatch(again.badge, /flagged|threshold/, 'an adapter without thresholds names no category');

    // With thresholds: every root distance exceeds 0, none exceeds a threshold beyond it.
    const beyond = distance + 100;
    await page.setInputFiles('#adapter-upload', withThresholds(adapterPath, {
      global: beyond, by_category: { violence: 0, weapons: 0, drugs: beyond },
    }));
    await page.locator('#compare-safety', { hasText: 'flagged by the violence and weapons thresholds' }).waitFor({ timeout: TIMEOUT });
    assert.equal(await page.locator('#compare-safety').getAttribute('data-flagged-by'), 'violence weapons');
    await page.fill('#prompt', PROMPT);
    await page.locator('#search-safety', { hasText: 'flagged by the violence and weapons thresholds' }).waitFor({ timeout: TIMEOUT });
    await page.setInputFiles('#adapter-upload', withThresholds(adapterPath, { global: beyond, by_category: { violence: beyond } }));
    await page.locator('#compare-safety', { hasText: 'within every category’s threshold' }).waitFor({ timeout: TIMEOUT });
    await screenshot(page, 'hysac-thresholds');
    await page.close();
  });
});
