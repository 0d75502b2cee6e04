// @ts-check
// GPU failures during a training run on WebGPU, simulated in headless Chromium through the
// worker's test hook (the BroadcastChannel `safer-clip-test-hooks`, see www/test-hooks.js, which
// the server serves with --test-hooks): a lost device and an out-of-memory error each get their
// own state in the safety panel; a run saved before the failure resumes on a freshly loaded
// model, with its own options in the form, or on the CPU path, from the model this browser kept.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  appSession, browserSkipReason, loadFromServer, numberIn, openApp, recordTrainLabels, screenshot, startTraining,
} from './harness.mjs';

const skip = browserSkipReason() ?? false;
const TIMEOUT = 120_000;

/** @typedef {import('playwright-core').Page} Page */

/** @param {Page} page */
async function loadFullVocabOnGpu(page) {
  await loadFromServer(page, 'full-vocab', { backend: 'gpu' });
  await page.locator('#compare-prompt:enabled').waitFor({ timeout: TIMEOUT });
}

/** @param {Page} page */
const stepsDone = (page) => numberIn(page, '#train-progress');

/**
 * @param {Page} page
 * @param {'lose-device' | 'out-of-memory'} failure
 */
function simulate(page, failure) {
  return page.evaluate((data) => new BroadcastChannel('safer-clip-test-hooks').postMessage(data), failure);
}

/**
 * Trains a step, pauses (a checkpoint is kept), goes on, and loses the device.
 * @param {Page} page
 * @returns {Promise<number>} the step the kept checkpoint holds
 */
async function saveThenLoseDevice(page) {
  await loadFullVocabOnGpu(page);
  await startTraining(page, { method: 'safeclip', steps: 30, batch: 6 });
  await page.waitForFunction(() => Number(/** @type {HTMLProgressElement} */ (document.querySelector('#train-progress')).value) >= 1, null, { timeout: TIMEOUT * 2 });
  await page.click('#train-pause');
  const paused = page.locator('#train-label', { hasText: 'saved in this browser' });
  await paused.waitFor({ timeout: TIMEOUT });
  const savedAt = Number(/step (\d+)/.exec(await paused.textContent() ?? '')?.[1]);
  await page.click('#train-pause');
  await simulate(page, 'lose-device');
  await page.locator('#train-failure').waitFor({ state: 'visible', timeout: TIMEOUT });
  return savedAt;
}

describe('GPU failures during training', { skip, timeout: TIMEOUT * 16 }, () => {
  const session = appSession({ webgpu: true, serverArgs: ['--test-hooks'] });

  it('a lost device shows what was kept and what to do; the saved run resumes on a reloaded model', { timeout: TIMEOUT * 6 }, async () => {
    const { page, logs } = await openApp(session.browser.context, session.server.url);
    const savedAt = await saveThenLoseDevice(page);
    const failure = page.locator('#train-failure');
    assert.match(await failure.locator('h3').textContent() ?? '', /the GPU device was lost/);
    assert.match(await page.locator('#train-failure-what').textContent() ?? '', /The GPU device was lost \(destroyed/);
    assert.match(await page.locator('#train-failure-saved').textContent() ?? '', new RegExp(`The last checkpoint, of step ${savedAt}, saved at .*, is kept in this browser`));
    assert.match(await page.locator('#train-failure-todo').textContent() ?? '', /Load the model again.*“Resume saved run”/);
    await page.locator('#model-summary', { hasText: 'No model loaded.' }).waitFor();
    assert.equal(await page.locator('#train-start').isDisabled(), true, 'no model, no training');
    await page.locator('.banner', { hasText: 'The model stopped working' }).getByRole('button', { name: 'Continue on the CPU' }).waitFor();
    await screenshot(page, 'training-device-lost');

    // A fresh worker gets a fresh device: the saved run continues, with its options in the form.
    await page.fill('#train-steps', '60');
    await page.fill('#train-batch', '8');
    await page.selectOption('#train-method', 'safer');
    await loadFullVocabOnGpu(page);
    const resume = page.locator('#train-resume-saved');
    await resume.waitFor({ timeout: TIMEOUT });
    assert.match(await resume.textContent() ?? '', new RegExp(`step ${savedAt}\\)`));
    // A step of this model can be shorter than Playwright's polling: record every label.
    const labels = await recordTrainLabels(page);
    await resume.click();
    await page.locator('#train-label', { hasText: 'Done: 30 steps' }).waitFor({ timeout: TIMEOUT * 2 });
    const steps = labels.filter((label) => /^Step \d+ of 30 ·/.test(label));
    assert.match(steps[0] ?? '', new RegExp(`^Step ${savedAt + 1} of 30 .* pairs/s on the GPU$`), `${steps}`);
    assert.equal(await failure.isHidden(), true, 'the failure notice goes once a run starts again');
    assert.deepEqual(
      await Promise.all(['#train-method', '#train-lr', '#train-steps', '#train-batch'].map((id) => page.locator(id).inputValue())),
      ['safeclip', '0.01', '30', '6'],
      'the form shows the resumed run’s options',
    );
    assert.deepEqual(logs.filter((line) => line.startsWith('pageerror')), []);
    await page.close();
  });

  it('after a lost device the model goes on on the CPU, without fetching it again, and the saved run resumes there', { timeout: TIMEOUT * 6 }, async () => {
    const { page, logs } = await openApp(session.browser.context, session.server.url);
    /** @type {string[]} */
    const fetched = [];
    const listen = (/** @type {import('playwright-core').Request} */ request) => {
      if (request.url().includes('/models/full-vocab/')) fetched.push(request.url());
    };
    session.browser.context.on('request', listen);
    try {
      const savedAt = await saveThenLoseDevice(page);
      assert.equal(fetched.length, 3);
      await page.locator('.banner').getByRole('button', { name: 'Continue on the CPU' }).click();
      await page.locator('#model-summary', { hasText: 'full-vocab: 8-d embeddings, 32 px images in 16 px patches; on the CPU (WebAssembly, ' }).waitFor({ timeout: TIMEOUT });
      assert.equal(await page.locator('#backend').inputValue(), 'cpu');
      assert.equal(fetched.length, 3, `read from the copy this browser kept: ${fetched}`);
      const resume = page.locator('#train-resume-saved');
      await resume.waitFor({ timeout: TIMEOUT });
      const labels = await recordTrainLabels(page);
      await resume.click();
      await page.locator('#train-label', { hasText: 'Done: 30 steps' }).waitFor({ timeout: TIMEOUT * 2 });
      const steps = labels.filter((label) => /^Step \d+ of 30 ·/.test(label));
      assert.match(steps[0] ?? '', new RegExp(`^Step ${savedAt + 1} of 30 .* pairs/s on the CPU$`), `${steps}`);
      assert.deepEqual(logs.filter((line) => line.startsWith('pageerror')), []);
    } finally {
      session.browser.context.off('request', listen);
    }
    await page.close();
  });

  it('running out of GPU memory suggests a smaller batch', { timeout: TIMEOUT * 4 }, async () => {
    const { page } = await openApp(session.browser.context, session.server.url);
    await loadFullVocabOnGpu(page);
    await startTraining(page, { method: 'safeclip', steps: 30, batch: 6 });
    await page.waitForFunction(() => Number(/** @type {HTMLProgressElement} */ (document.querySelector('#train-progress')).value) >= 1, null, { timeout: TIMEOUT * 2 });
    await simulate(page, 'out-of-memory');
    const failure = page.locator('#train-failure');
    await failure.waitFor({ state: 'visible', timeout: TIMEOUT });
    assert.match(await failure.locator('h3').textContent() ?? '', /the GPU ran out of memory/);
    assert.match(await page.locator('#train-failure-what').textContent() ?? '', /The run stopped after step \d+ and the model was unloaded/);
    assert.match(await page.locator('#train-failure-todo').textContent() ?? '', /smaller batch size \(this run used 6; try 3\)/);
    await page.locator('#model-summary', { hasText: 'No model loaded.' }).waitFor();
    assert.ok(await stepsDone(page) >= 1);
    await screenshot(page, 'training-out-of-memory');
    await page.close();
  });
});
