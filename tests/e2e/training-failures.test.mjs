// GPU failures during a training run, simulated in headless Chromium through the worker's test
// hook (the BroadcastChannel `safer-clip-test-hooks`, see www/test-hooks.js, which the server
// serves with --test-hooks): a lost device and
// an out-of-memory error each get their own state in the safety panel, and a run saved before
// the failure resumes on a freshly loaded model, with its own options in the form.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { appSession, browserSkipReason, openApp, screenshot } from './harness.mjs';

const skip = browserSkipReason() ?? false;
const TIMEOUT = 120_000;

async function loadFullVocab(page) {
  await page.locator('#gpu-status', { hasText: 'WebGPU on' }).waitFor();
  await page.selectOption('#server-model', 'full-vocab');
  await page.click('#server-form button');
  await page.locator('#compare-prompt:enabled').waitFor({ timeout: TIMEOUT });
}

async function startRun(page, { steps, batch }) {
  await page.selectOption('#train-method', 'safeclip');
  await page.fill('#train-lr', '0.01');
  await page.fill('#train-steps', String(steps));
  await page.fill('#train-batch', String(batch));
  await page.click('#train-start');
}

const stepsDone = (page) => page.evaluate(() => Number(document.querySelector('#train-progress').value));

function simulate(page, failure) {
  return page.evaluate((data) => new BroadcastChannel('safer-clip-test-hooks').postMessage(data), failure);
}

describe('GPU failures during training', { skip, timeout: TIMEOUT * 12 }, () => {
  const session = appSession({ webgpu: true, serverArgs: ['--test-hooks'] });

  it('a lost device shows what was kept and what to do; the saved run resumes on a reloaded model', { timeout: TIMEOUT * 6 }, async () => {
    const { page, logs } = await openApp(session.browser.context, session.server.url);
    await loadFullVocab(page);
    await startRun(page, { steps: 30, batch: 6 });
    await page.waitForFunction(() => Number(document.querySelector('#train-progress').value) >= 1, null, { timeout: TIMEOUT * 2 });
    await page.click('#train-pause');
    const paused = page.locator('#train-label', { hasText: 'saved in this browser' });
    await paused.waitFor({ timeout: TIMEOUT });
    const savedAt = Number(/step (\d+)/.exec(await paused.textContent())[1]);
    await page.click('#train-pause');

    await simulate(page, 'lose-device');
    const failure = page.locator('#train-failure');
    await failure.waitFor({ state: 'visible', timeout: TIMEOUT });
    assert.match(await failure.locator('h3').textContent(), /the GPU device was lost/);
    assert.match(await page.locator('#train-failure-what').textContent(), /The GPU device was lost \(destroyed/);
    assert.match(await page.locator('#train-failure-saved').textContent(), new RegExp(`The last checkpoint, of step ${savedAt}, saved at .*, is kept in this browser`));
    assert.match(await page.locator('#train-failure-todo').textContent(), /Load the model again.*“Resume saved run”/);
    await page.locator('#model-summary', { hasText: 'No model loaded.' }).waitFor();
    assert.equal(await page.locator('#train-start').isDisabled(), true, 'no model, no training');
    await screenshot(page, 'training-device-lost');

    // A fresh worker gets a fresh device: the saved run continues, with its options in the form.
    await page.fill('#train-steps', '60');
    await page.fill('#train-batch', '8');
    await page.selectOption('#train-method', 'safer');
    await loadFullVocab(page);
    const resume = page.locator('#train-resume-saved');
    await resume.waitFor({ timeout: TIMEOUT });
    assert.match(await resume.textContent(), new RegExp(`step ${savedAt}\\)`));
    await resume.click();
    await page.locator('#train-label', { hasText: `Step ${savedAt + 1} of 30` }).waitFor({ timeout: TIMEOUT * 2 });
    assert.equal(await failure.isHidden(), true, 'the failure notice goes once a run starts again');
    assert.deepEqual(
      await page.evaluate(() => ['#train-method', '#train-lr', '#train-steps', '#train-batch'].map((id) => document.querySelector(id).value)),
      ['safeclip', '0.01', '30', '6'],
      'the form shows the resumed run’s options',
    );
    await page.click('#train-cancel');
    assert.deepEqual(logs.filter((line) => line.startsWith('pageerror')), []);
    await page.close();
  });

  it('running out of GPU memory suggests a smaller batch', { timeout: TIMEOUT * 4 }, async () => {
    const { page } = await openApp(session.browser.context, session.server.url);
    await loadFullVocab(page);
    await startRun(page, { steps: 30, batch: 6 });
    await page.waitForFunction(() => Number(document.querySelector('#train-progress').value) >= 1, null, { timeout: TIMEOUT * 2 });
    await simulate(page, 'out-of-memory');
    const failure = page.locator('#train-failure');
    await failure.waitFor({ state: 'visible', timeout: TIMEOUT });
    assert.match(await failure.locator('h3').textContent(), /the GPU ran out of memory/);
    assert.match(await page.locator('#train-failure-what').textContent(), /The run stopped after step \d+ and the model was unloaded/);
    assert.match(await page.locator('#train-failure-todo').textContent(), /smaller batch size \(this run used 6; try 3\)/);
    await page.locator('#model-summary', { hasText: 'No model loaded.' }).waitFor();
    assert.ok(await stepsDone(page) >= 1);
    await screenshot(page, 'training-out-of-memory');
    await page.close();
  });
});
