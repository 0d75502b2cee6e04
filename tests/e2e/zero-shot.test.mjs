// @ts-check
// The zero-shot panel in headless Chromium, on the CPU path with the full-vocab model (the tiny
// fixture with CLIP's vocabulary and context, so that it also trains on the bundled pairs): each
// image's class probabilities sum to 1 and equal the softmax of the native CLI's logits, with one
// template and with OpenAI's 18 averaged; an image the model cannot read fails alone; the panel says when
// there is no tuned model, and shows the tuned model's probabilities beside the original's once
// there is one.
//
// The reference is the native CLI built from the same core: target/ci/safer-clip in this
// repository (tests/run.sh builds it before the browser tests), or SAFER_CLIP_CLI. The test fails
// without it.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { CIFAR10_TEMPLATES } from '../../www/cifar10.js';
import { REPO, appSession, browserSkipReason, loadFromServer, openApp, screenshot, startTraining } from './harness.mjs';

const skip = browserSkipReason() ?? false;
const TIMEOUT = 120_000;
const CLI = process.env.SAFER_CLIP_CLI ?? join(REPO, 'target/ci/safer-clip');
const CLASSES = ['dog', 'cat', 'car', 'bird'];
const IMAGES = ['down-57x83.png', 'wide-200x31.png'].map((name) => join(REPO, 'tests/fixtures/images', name));

/** @typedef {import('playwright-core').Page} Page */

/**
 * Each image's probabilities by one model's column, in class order, keyed by the image's name.
 * @param {Page} page
 * @param {'original' | 'tuned'} model
 */
function probabilities(page, model) {
  return page.locator('#zero-shot-results .zero-shot-image').evaluateAll((items, model) => Object.fromEntries(items.map((item) => [
    item.querySelector('figcaption')?.textContent ?? '',
    [...item.querySelectorAll(`td[data-model="${model}"] .probability`)].map((bar) => Number(/** @type {HTMLElement} */ (bar).dataset.probability)),
  ])), model);
}

/**
 * What the native CLI makes of `texts` and the images: CLIPModel's embeddings and logits.
 * @param {string} modelDir
 * @param {string[]} texts
 * @returns {{ text_embeds: number[][], image_embeds: number[][], logits_per_text: number[][] }}
 */
function encodeWithCli(modelDir, texts) {
  assert.ok(existsSync(CLI), `the native CLI is missing at ${CLI}: build it (cargo build --profile ci, as tests/run.sh does) or set SAFER_CLIP_CLI`);
  const args = ['encode', '--model', modelDir, ...texts.flatMap((text) => ['--text', text]), ...IMAGES.flatMap((image) => ['--image', image]), '--json'];
  return JSON.parse(execFileSync(CLI, args, { encoding: 'utf8', maxBuffer: 1 << 26 }));
}

/**
 * Per image, the softmax over classes of the logit scale times the cosine between the image and
 * each class's embedding, the normalised mean of its templates' text embeddings: the
 * probabilities zero-shot classification gives, from the CLI's embeddings.
 * @param {{ text_embeds: number[][], image_embeds: number[][], logits_per_text: number[][] }} encoded
 *   texts in class order, `templates` per class
 * @param {number} templates
 */
function referenceProbabilities(encoded, templates) {
  const dot = (/** @type {number[]} */ a, /** @type {number[]} */ b) => a.reduce((sum, x, i) => sum + x * b[i], 0);
  const scale = encoded.logits_per_text[0][0] / dot(encoded.text_embeds[0], encoded.image_embeds[0]);
  const classes = CLASSES.map((_, c) => {
    const rows = encoded.text_embeds.slice(c * templates, (c + 1) * templates);
    const mean = rows[0].map((_, j) => rows.reduce((sum, row) => sum + row[j], 0) / rows.length);
    const norm = Math.hypot(...mean);
    return mean.map((x) => x / norm);
  });
  return encoded.image_embeds.map((image) => {
    const logits = classes.map((embedding) => scale * dot(embedding, image));
    const top = Math.max(...logits);
    const exps = logits.map((logit) => Math.exp(logit - top));
    const total = exps.reduce((a, b) => a + b, 0);
    return exps.map((e) => e / total);
  });
}

/**
 * @param {Record<string, number[]>} found by image name
 * @param {number[][]} expected in IMAGES' order
 * @param {string} what
 */
function assertProbabilities(found, expected, what) {
  IMAGES.forEach((path, i) => {
    const name = /** @type {string} */ (path.split('/').pop());
    const values = found[name];
    assert.equal(values?.length, CLASSES.length, `${what}: ${name} has a probability per class`);
    const sum = values.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-5, `${what}: ${name}'s probabilities sum to ${sum}`);
    const error = Math.max(...values.map((p, c) => Math.abs(p - expected[i][c])));
    console.log(`zero-shot (${what}) ${name}: browser ${values.map((p) => p.toFixed(5))} vs CLI ${expected[i].map((p) => p.toFixed(5))}, max difference ${error.toExponential(2)}`);
    assert.ok(error <= 1e-4, `${what}: ${name} differs from the CLI's softmax by ${error}`);
  });
}

describe('zero-shot classification', { skip, timeout: TIMEOUT * 5 }, () => {
  const session = appSession({ webgpu: false });

  it('gives the CLI’s probabilities, an unreadable image alone fails, and the tuned model comes beside the original', { timeout: TIMEOUT * 4 }, async () => {
    const modelDir = join(session.models.root, 'full-vocab');
    const { page, logs } = await openApp(session.browser.context, session.server.url);
    await loadFromServer(page, 'full-vocab', { backend: 'cpu' });
    await page.locator('#zero-shot-images:enabled').waitFor({ timeout: TIMEOUT });
    await page.fill('#zero-shot-classes', CLASSES.join(', '));
    await page.check('input[name="zero-shot-templates"][value="single"]');
    await page.setInputFiles('#zero-shot-images', IMAGES);
    await page.locator('#zero-shot-results td[data-model="original"]').nth(2 * CLASSES.length - 1).waitFor({ timeout: TIMEOUT });
    const single = referenceProbabilities(encodeWithCli(modelDir, CLASSES.map((name) => `a photo of a ${name}.`)), 1);
    assertProbabilities(await probabilities(page, 'original'), single, 'one template');
    assert.match(await page.locator('#zero-shot-status').textContent() ?? '', /No safety-tuned model yet/);
    assert.equal(await page.locator('#zero-shot-results td[data-model="tuned"]').count(), 0);

    // OpenAI's 18 templates, each class's embedding the normalised mean of its 18.
    await page.check('input[name="zero-shot-templates"][value="cifar10"]');
    const texts = CLASSES.flatMap((name) => CIFAR10_TEMPLATES.map((template) => template.replace('{}', name)));
    const averaged = referenceProbabilities(encodeWithCli(modelDir, texts), CIFAR10_TEMPLATES.length);
    await page.waitForFunction(({ expected, classes }) => {
      const bars = [...document.querySelectorAll('#zero-shot-results td[data-model="original"] .probability')];
      return bars.length === 2 * classes && Math.abs(Number(/** @type {HTMLElement} */ (bars[0]).dataset.probability) - expected) < 1e-4;
    }, { expected: averaged[0][0], classes: CLASSES.length }, { timeout: TIMEOUT });
    assertProbabilities(await probabilities(page, 'original'), averaged, '18 templates');

    // An image the model cannot read is listed with its error; the others are still classified.
    await page.setInputFiles('#zero-shot-images', { name: 'broken.png', mimeType: 'image/png', buffer: Buffer.from('not a png') });
    const broken = page.locator('#zero-shot-results .zero-shot-image', { hasText: 'broken.png' }).locator('[data-error]');
    await broken.waitFor({ timeout: TIMEOUT });
    assert.equal(await broken.getAttribute('data-error'), 'InvalidInput');
    assert.match(await broken.textContent() ?? '', /^broken\.png could not be classified: /);
    assertProbabilities(await probabilities(page, 'original'), averaged, 'beside an unreadable image');

    await startTraining(page, { method: 'safeclip', steps: 2 });
    await page.locator('#train-label', { hasText: 'Done: 2 steps' }).waitFor({ timeout: TIMEOUT * 2 });
    await page.locator('#zero-shot-results td[data-model="tuned"]').nth(2 * CLASSES.length - 1).waitFor({ timeout: TIMEOUT });
    const tuned = await probabilities(page, 'tuned');
    for (const [name, values] of Object.entries(tuned)) {
      if (name === 'broken.png') continue;
      const sum = values.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-5, `tuned: ${name}'s probabilities sum to ${sum}`);
    }
    assert.equal(await page.locator('#zero-shot-status').textContent(), '');
    await page.locator('#zero-shot-panel').screenshot({ path: join(REPO, 'tests/e2e/artifacts/zero-shot.png') });
    await screenshot(page, 'zero-shot-page');
    assert.deepEqual(logs.filter((line) => line.startsWith('pageerror')), []);
    await page.close();
  });
});
