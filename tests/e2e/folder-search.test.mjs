// @ts-check
// Search over a folder of one's own images in headless Chromium (on the CPU path, the full-vocab
// model): 200 generated pictures and 2 corrupt files picked as a folder are embedded in the
// background, the corrupt ones listed as skipped; text and image queries rank them as the model's
// own embeddings do; a reload restores them from this browser without embedding them again; the
// safety-tuned model ranks them once the folder is picked again; and the embedding can be stopped
// and go on.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { ARTIFACTS, appSession, browserSkipReason, loadFromServer, openApp, screenshot, startTraining } from './harness.mjs';
import { testPicture } from './png.mjs';

const skip = browserSkipReason() ?? false;
const TIMEOUT = 120_000;
const IMAGES = 200;
const SHOWN = 24;
const CORRUPT = ['corrupt-bytes.png', 'truncated.png'];
const PROMPT = 'a photo of a dog';

/** @typedef {import('playwright-core').Page} Page */
/** @typedef {{ path: string, score: number }} Hit */

/**
 * A column of results: each image's path and cosine.
 * @param {Page} page
 * @param {string} list
 * @returns {Promise<Hit[]>}
 */
function column(page, list) {
  return page.locator(`${list} li:not(.note)`).evaluateAll((items) => items.map((item) => ({
    path: item.querySelector('figcaption')?.textContent ?? '',
    score: Number(/** @type {HTMLElement} */ (item.querySelector('.score')).dataset.score),
  })));
}

/**
 * The `k` pictures nearest to `query`, by the cosine of unit embeddings.
 * @param {Map<string, number[]>} embeddings by path
 * @param {number[]} query
 * @param {string | null} leaveOut
 */
function expectedNearest(embeddings, query, leaveOut = null) {
  return [...embeddings].filter(([path]) => path !== leaveOut)
    .map(([path, row]) => ({ path, score: row.reduce((sum, x, i) => sum + x * query[i], 0) }))
    .sort((a, b) => b.score - a.score).slice(0, SHOWN);
}

/**
 * @param {Hit[]} found
 * @param {Hit[]} expected
 * @param {string} what
 */
function assertRanking(found, expected, what) {
  assert.equal(found.length, expected.length, `${what}: ${found.length} shown`);
  found.forEach((hit, i) => {
    assert.ok(Math.abs(hit.score - expected[i].score) < 1e-5, `${what}: #${i + 1} scores ${hit.score}, expected ${expected[i].score}`);
    // Ties may come in either order; a different image with a different score may not.
    if (hit.path !== expected[i].path) assert.ok(Math.abs(hit.score - expected[i].score) < 1e-6, `${what}: #${i + 1} is ${hit.path}, expected ${expected[i].path}`);
  });
}

describe('search over a folder of one’s own images', { skip, timeout: TIMEOUT * 8 }, () => {
  const session = appSession({ webgpu: false });
  const root = mkdtempSync(join(tmpdir(), 'safer-clip-folder-'));
  const folder = join(root, 'holiday');
  before(() => {
    mkdirSync(folder);
    for (let i = 0; i < IMAGES; i++) writeFileSync(join(folder, `picture-${String(i).padStart(3, '0')}.png`), testPicture(i));
    writeFileSync(join(folder, CORRUPT[0]), Buffer.from('these bytes are not an image at all'));
    writeFileSync(join(folder, CORRUPT[1]), testPicture(7).subarray(0, 60));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('embeds a folder, skips what it cannot read, ranks by text and by image, and restores it after a reload', { timeout: TIMEOUT * 7 }, async () => {
    const { page, logs } = await openApp(session.browser.context, session.server.url);
    await loadFromServer(page, 'full-vocab', { backend: 'cpu' });
    await page.locator('#folder-input:enabled').waitFor({ timeout: TIMEOUT });
    await page.setInputFiles('#folder-input', folder);
    const status = page.locator('#folder-status');
    await status.filter({ hasText: `${IMAGES + 2} files: ${IMAGES} embedded, 2 skipped.` }).waitFor({ timeout: TIMEOUT });
    assert.ok(await page.locator('#folder-progress-box').isHidden(), 'no progress bar once all are embedded');
    const skipped = await page.locator('#folder-skipped li').allTextContents();
    assert.deepEqual(skipped.map((line) => line.split(':')[0]).sort(), CORRUPT.map((name) => `holiday/${name}`).sort());
    assert.ok(skipped.every((line) => /not a recognised image|cannot|invalid|decode/i.test(line)), skipped.join('\n'));

    // The model's own embeddings of the pictures, from a client of its own, to check the rankings.
    const names = readdirSync(folder).filter((name) => name.startsWith('picture-')).sort();
    const reference = await page.evaluate(async ({ pictures, prompt }) => {
      const { ClipClient } = await import(/** @type {string} */ ('/clip-client.js'));
      const client = new ClipClient();
      await client.loadModel({ kind: 'server', name: 'full-vocab' }, () => {}, { backend: 'cpu' });
      const blobs = pictures.map((bytes) => new Blob([new Uint8Array(bytes)], { type: 'image/png' }));
      const images = await client.encodeImage(blobs);
      const text = await client.encodeText([prompt]);
      client.close();
      return {
        images: Array.from({ length: images.rows }, (_, i) => [...images.data.slice(i * images.cols, (i + 1) * images.cols)]),
        text: [...text.data],
      };
    }, { pictures: names.map((name) => [...readFileSync(join(folder, name))]), prompt: PROMPT });
    const embeddings = new Map(names.map((name, i) => [`holiday/${name}`, reference.images[i]]));

    await page.fill('#folder-query', PROMPT);
    await page.locator('#folder-results li .score').nth(SHOWN - 1).waitFor({ timeout: TIMEOUT });
    const byText = await column(page, '#folder-results');
    assertRanking(byText, expectedNearest(embeddings, reference.text), 'by text');
    assert.equal(await page.locator('#folder-results img[src^="blob:"]').count(), SHOWN, 'each shown image has its thumbnail');
    await screenshot(page, 'folder-text');

    // A click on an image: the images nearest to it, itself left out.
    const clicked = byText[3].path;
    await page.click(`#folder-results [aria-label="Find images like ${clicked}"]`);
    await page.locator('#folder-query-status', { hasText: `Images like ${clicked}` }).waitFor({ timeout: TIMEOUT });
    await page.waitForFunction((first) => document.querySelector('#folder-results figcaption')?.textContent !== first, byText[0].path);
    const byImage = await column(page, '#folder-results');
    assertRanking(byImage, expectedNearest(embeddings, /** @type {number[]} */ (embeddings.get(clicked)), clicked), 'by image');
    assert.ok(!byImage.some((hit) => hit.path === clicked), 'the image itself is left out');
    await page.click('#folder-text-search');
    await page.waitForFunction(() => !document.querySelector('#folder-query-status')?.textContent);

    // A reload: the embeddings and thumbnails come back from this browser, nothing is embedded.
    await page.reload();
    await loadFromServer(page, 'full-vocab', { backend: 'cpu' });
    await status.filter({ hasText: `Restored ${IMAGES} images’ embeddings from this browser. ${IMAGES + 2} files: ${IMAGES} embedded, 2 skipped.` })
      .waitFor({ timeout: TIMEOUT });
    assert.ok(await page.locator('#folder-progress-box').isHidden(), 'nothing to embed again');
    assert.equal(await page.locator('#folder-skipped li').count(), 2, 'the skipped files are still listed');
    await page.fill('#folder-query', PROMPT);
    await page.locator('#folder-results li .score').nth(SHOWN - 1).waitFor({ timeout: TIMEOUT });
    assertRanking(await column(page, '#folder-results'), expectedNearest(embeddings, reference.text), 'by text, after a reload');
    assert.equal(await page.locator('#folder-results img[src^="blob:"]').count(), SHOWN, 'the thumbnails were kept');

    // The safety-tuned model needs the images themselves: after a reload, the folder again.
    await startTraining(page, { method: 'safeclip', steps: 2 });
    await page.locator('#train-label', { hasText: 'Done: 2 steps' }).waitFor({ timeout: TIMEOUT * 2 });
    await page.locator('#folder-results-tuned', { hasText: 'Pick the folder again' }).waitFor({ timeout: TIMEOUT });
    await page.setInputFiles('#folder-input', folder);
    await page.locator('#folder-results-tuned li .score').nth(SHOWN - 1).waitFor({ timeout: TIMEOUT });
    await page.waitForFunction(() => !/With the safety-tuned model/.test(document.querySelector('#folder-status')?.textContent ?? ''), null, { timeout: TIMEOUT });
    const tuned = await column(page, '#folder-results-tuned');
    assert.ok(tuned.every((hit, i) => i === 0 || hit.score <= tuned[i - 1].score), 'the tuned column is ranked');
    assert.ok(tuned.every((hit) => embeddings.has(hit.path)), 'only pictures, no corrupt file');
    await page.locator('#folder-panel').screenshot({ path: join(ARTIFACTS, 'folder-panel.png') });
    assert.ok(await page.locator('#folder-results img[src^="blob:"]').count() <= SHOWN, 'only the thumbnails shown are held');
    assert.deepEqual(logs.filter((line) => line.startsWith('pageerror')), []);
    await page.close();
  });

  it('stops embedding when asked, keeps what it has, and goes on', { timeout: TIMEOUT }, async () => {
    const { page } = await openApp(session.browser.context, session.server.url);
    const log = await page.evaluate(async (count) => {
      const { ClipClient } = await import(/** @type {string} */ ('/clip-client.js'));
      const client = new ClipClient();
      await client.loadModel({ kind: 'server', name: 'full-vocab' }, () => {}, { backend: 'cpu' });
      const canvas = new OffscreenCanvas(16, 16);
      const context = /** @type {OffscreenCanvasRenderingContext2D} */ (canvas.getContext('2d'));
      const files = [];
      for (let i = 0; i < count; i++) {
        context.fillStyle = `hsl(${(i * 37) % 360} 80% 50%)`;
        context.fillRect(0, 0, 16, 16);
        files.push(new File([await canvas.convertToBlob({ type: 'image/png' })], `stop-${i}.png`, { type: 'image/png' }));
      }
      // Both requests run before any background turn: nothing is embedded before the stop.
      const adding = client.addFolderImages(files, { replace: true });
      const stopped = await client.cancelFolder();
      const added = await adding;
      await new Promise((resolve) => setTimeout(resolve, 500));
      const still = await client.folderSummary();
      const done = new Promise((resolve) => client.addEventListener('folder', (/** @type {Event} */ event) => {
        const { summary } = /** @type {CustomEvent} */ (event).detail;
        if (summary.pending === 0) resolve(summary);
      }));
      await client.updateFolder();
      const finished = /** @type {{ embedded: number, pending: number }} */ (await done);
      client.close();
      return { added: added.pending, stopped, still, finished };
    }, 40);
    assert.equal(log.added, 40);
    assert.equal(log.stopped.cancelled, true);
    assert.equal(log.stopped.pending, 40, 'nothing embedded before the stop');
    assert.equal(log.still.embedded, 0, 'nothing embedded after it');
    assert.equal(log.finished.embedded, 40, 'all embedded once it goes on');
    await page.close();
  });
});
