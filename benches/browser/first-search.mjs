// @ts-check
// The visitor's first search, timed in the app itself: headless Chromium opens the page, loads the
// tests' tiny model with CLIP's real vocabulary (tests/fixtures/tiny-fullvocab, served from a
// models/ folder) on the chosen path, and types a prompt; the figure is the time from the model
// panel saying the model is loaded to the caption ranking on screen, with the bundled 2,400-caption
// safe pool still being embedded behind it. A second prompt is timed the same way. Each path runs
// in a fresh browser profile, so nothing is cached from an earlier visit. The model panel's own
// account of where the first text result's time went is printed beside the figures.
//
//     node benches/browser/first-search.mjs [--paths gpu,cpu] [--runs 3]
//
// On a machine without a GPU, the GPU path is SwiftShader (Chromium's software WebGPU).

import { parseArgs } from 'node:util';

import { launchBrowser, loadFromServer, makeModelsDir, openApp, startServer } from '../../tests/e2e/harness.mjs';

const { values } = parseArgs({
  options: {
    paths: { type: 'string', default: 'gpu,cpu' },
    runs: { type: 'string', default: '3' },
  },
});
const PROMPTS = ['a photo of a dog', 'two cats sleeping on a sofa'];
const TIMEOUT = 300_000;

/**
 * Types `prompt` and times its caption ranking, from the keystrokes to the first score on screen,
 * by the page's own clock (a MutationObserver; Playwright's polling would add up to half a
 * second). The list is emptied first, so the ranking timed is the new one.
 * @param {import('playwright-core').Page} page
 * @param {string} prompt
 */
async function rank(page, prompt) {
  await page.locator('#caption-results').evaluate((list, timeout) => {
    list.replaceChildren();
    /** @type {any} */ (window).ranked = new Promise((resolve, reject) => {
      const observer = new MutationObserver(() => {
        if (!list.querySelector('.score')) return;
        observer.disconnect();
        resolve(performance.now());
      });
      observer.observe(list, { childList: true, subtree: true });
      setTimeout(() => reject(new Error(`no ranking within ${timeout} ms`)), timeout);
    });
  }, TIMEOUT);
  const started = await page.evaluate(() => performance.now());
  await page.fill('#prompt', prompt);
  return Math.round(await page.evaluate(() => /** @type {any} */ (window).ranked) - started);
}

/**
 * @param {'gpu' | 'cpu'} path
 * @param {string} url
 */
async function visit(path, url) {
  const browser = await launchBrowser({ webgpu: path === 'gpu' });
  try {
    const { page, logs } = await openApp(browser.context, url);
    const started = Date.now();
    await loadFromServer(page, 'full-vocab', { backend: path });
    const where = path === 'gpu' ? 'on the GPU' : 'on the CPU';
    await page.locator('#model-summary', { hasText: where }).waitFor({ timeout: TIMEOUT });
    const loadMs = Date.now() - started;
    const firstMs = await rank(page, PROMPTS[0]);
    const firstText = page.locator('#model-timings', { hasText: 'First text result' });
    const breakdown = await firstText.textContent({ timeout: TIMEOUT });
    const secondMs = await rank(page, PROMPTS[1]);
    const errors = logs.filter((line) => line.startsWith('pageerror') || line.startsWith('error'));
    return { path, load_ms: loadMs, first_search_ms: firstMs, second_search_ms: secondMs, breakdown, errors };
  } finally {
    await browser.close();
  }
}

const models = makeModelsDir();
const server = await startServer(models.root);
try {
  for (const path of /** @type {('gpu' | 'cpu')[]} */ (values.paths.split(','))) {
    for (let run = 0; run < Number(values.runs); run++) {
      console.log(JSON.stringify({ run, ...(await visit(path, server.url)) }));
    }
  }
} finally {
  server.stop();
  models.remove();
}
