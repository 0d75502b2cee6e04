// End-to-end tests of the browser app in headless Chromium, WebGPU on the software adapter.
// Run: node --test tests/e2e/   (after ./build.sh)

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import {
  FIXTURE,
  FULL_VOCAB_FIXTURE,
  REPO,
  SHARED_TOKENIZER,
  appSession,
  browserSkipReason,
  openApp,
  screenshot,
} from './harness.mjs';

const skip = browserSkipReason() ?? false;

const TIMEOUT = 120_000;
const IMAGES = ['down-57x83.png', 'wide-200x31.png'].map((name) => join(REPO, 'tests/fixtures/images', name));
// The tiny fixture's vocabulary is 512 ids; the real tokenizer gives ids up to 49407.
const OUT_OF_VOCABULARY = /outside the vocabulary of 512/;

const banner = (page, text) => page.locator('.banner', { hasText: text });

/** Waits until `count` images are shown and all of them are encoded. */
async function waitForImages(page, count) {
  await page.locator('#image-results li').nth(count - 1).waitFor();
  await page.waitForFunction(() => !document.querySelector('#image-results .note'), null, { timeout: TIMEOUT });
}

async function loadFromServer(page, name) {
  await page.selectOption('#server-model', name);
  await page.click('#server-form button');
}

describe('the app with WebGPU', { skip, timeout: TIMEOUT * 5 }, () => {
  const session = appSession({ webgpu: true });

  it('finds the WebGPU adapter and lists the models folder', { timeout: TIMEOUT }, async () => {
    const { page } = await openApp(session.browser.context, session.server.url);
    await page.locator('#gpu-status', { hasText: 'WebGPU on' }).waitFor();
    const options = await page.locator('#server-model option').allTextContents();
    assert.deepEqual(options, ['full-vocab', 'no-tokenizer', 'tiny', 'tiny-words', 'truncated']);
    assert.equal(await page.locator('#server-form button').isEnabled(), true);
    await screenshot(page, 'start');
    await page.close();
  });

  it('loads a model from the server; with the real tokenizer, texts report the tiny vocabulary', { timeout: TIMEOUT }, async () => {
    const { page, logs } = await openApp(session.browser.context, session.server.url);
    await page.locator('#gpu-status', { hasText: 'WebGPU on' }).waitFor();
    await loadFromServer(page, 'tiny');
    await page.locator('#model-summary', { hasText: 'tiny: 24-d embeddings, 32 px images in 8 px patches' }).waitFor({ timeout: TIMEOUT });

    const error = banner(page, 'Could not encode the captions');
    await error.waitFor({ timeout: TIMEOUT });
    assert.match(await error.textContent(), OUT_OF_VOCABULARY);

    await page.setInputFiles('#image-files', IMAGES);
    await waitForImages(page, 2);
    await screenshot(page, 'vocabulary-error');
    assert.deepEqual(logs.filter((line) => line.startsWith('pageerror')), []);
    await page.close();
  });

  it('ranks captions and images against a typed prompt', { timeout: TIMEOUT }, async () => {
    const { page, logs } = await openApp(session.browser.context, session.server.url);
    await page.locator('#gpu-status', { hasText: 'WebGPU on' }).waitFor();
    await loadFromServer(page, 'tiny-words');
    await page.locator('#caption-results', { hasText: 'Type a prompt' }).waitFor({ timeout: TIMEOUT });
    await page.setInputFiles('#image-files', IMAGES);
    await waitForImages(page, 2);

    await page.fill('#prompt', 'a photo of a dog');
    await page.locator('#caption-results .score').nth(10).waitFor({ timeout: TIMEOUT });
    await page.locator('#image-results .score').nth(1).waitFor({ timeout: TIMEOUT });
    const scores = async (list) => (await page.locator(`${list} .score`).evaluateAll(
      (bars) => bars.map((bar) => Number(bar.dataset.score)),
    ));
    for (const list of ['#caption-results', '#image-results']) {
      const values = await scores(list);
      assert.ok(values.every((v) => v >= -1 && v <= 1), `${list}: ${values}`);
      assert.deepEqual(values, [...values].sort((a, b) => b - a), `${list} is ranked`);
    }
    assert.equal(await page.locator('.banner').count(), 0);
    await screenshot(page, 'ranked');
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, 'ranked-phone');
    assert.deepEqual(logs.filter((line) => line.startsWith('pageerror')), []);
    await page.close();
  });

  it('embeds texts and images as transformers does (full vocabulary, real tokenizer)', { timeout: TIMEOUT }, async () => {
    const reference = JSON.parse(readFileSync(join(FULL_VOCAB_FIXTURE, 'reference.json'), 'utf8'));
    const images = reference.images.map((name) => [...readFileSync(join(REPO, 'tests/fixtures/images', name))]);
    const { page } = await openApp(session.browser.context, session.server.url);
    const result = await page.evaluate(async ({ texts, images }) => {
      const { ClipClient } = await import('/clip-client.js');
      const client = new ClipClient();
      await client.loadModel({ kind: 'server', name: 'full-vocab' }, () => {});
      const blobs = images.map((bytes) => new Blob([new Uint8Array(bytes)], { type: 'image/png' }));
      const rows = (m) => Array.from({ length: m.rows }, (_, i) => [...m.data.slice(i * m.cols, (i + 1) * m.cols)]);
      return { texts: rows(await client.encodeText(texts)), images: rows(await client.encodeImage(blobs)) };
    }, { texts: reference.texts, images });

    const maxAbsDiff = (a, b) => Math.max(...a.flatMap((row, i) => row.map((v, j) => Math.abs(v - b[i][j]))));
    assert.equal(result.texts.length, reference.text_embeds.length);
    assert.equal(result.images.length, reference.image_embeds.length);
    const textError = maxAbsDiff(result.texts, reference.text_embeds);
    const imageError = maxAbsDiff(result.images, reference.image_embeds);
    console.log(`browser vs transformers: texts ${textError.toExponential(2)}, images ${imageError.toExponential(2)}`);
    assert.ok(textError <= 1e-4, `text embeddings differ by ${textError}`);
    assert.ok(imageError <= 1e-4, `image embeddings differ by ${imageError}`);
  });

  it('gives unit-length image embeddings through the client API', { timeout: TIMEOUT }, async () => {
    const { page } = await openApp(session.browser.context, session.server.url);
    const images = IMAGES.map((path) => [...readFileSync(path)]);
    const result = await page.evaluate(async (images) => {
      const { ClipClient } = await import('/clip-client.js');
      const client = new ClipClient();
      const progress = [];
      const model = await client.loadModel({ kind: 'server', name: 'tiny' }, (p) => progress.push(p));
      const blobs = images.map((bytes) => new Blob([new Uint8Array(bytes)], { type: 'image/png' }));
      const embeddings = await client.encodeImage(blobs);
      const textError = await client.encodeText(['a photo of a dog']).then(
        () => null,
        (error) => ({ name: error.name, message: error.message }),
      );
      return {
        projectionDim: model.config.projection_dim,
        stages: [...new Set(progress.map((p) => p.stage))],
        rows: embeddings.rows,
        cols: embeddings.cols,
        data: [...embeddings.data],
        textError,
      };
    }, images);

    assert.deepEqual(result.stages, ['fetch', 'init']);
    assert.equal(result.rows, 2);
    assert.equal(result.cols, result.projectionDim);
    const rows = [result.data.slice(0, result.cols), result.data.slice(result.cols)];
    for (const row of rows) {
      assert.ok(row.every(Number.isFinite));
      assert.ok(Math.abs(Math.hypot(...row) - 1) < 1e-4, `norm ${Math.hypot(...row)}`);
    }
    const cosine = rows[0].reduce((sum, x, i) => sum + x * rows[1][i], 0);
    assert.ok(cosine < 0.9999, `two different images embed alike (cosine ${cosine})`);
    assert.equal(result.textError?.name, 'InvalidInput');
    assert.match(result.textError.message, OUT_OF_VOCABULARY);
    await page.close();
  });

  it('loads a model from picked files', { timeout: TIMEOUT }, async () => {
    const { page } = await openApp(session.browser.context, session.server.url);
    await page.locator('#gpu-status', { hasText: 'WebGPU on' }).waitFor();
    await page.setInputFiles('#model-files', [join(FIXTURE, 'config.json'), join(FIXTURE, 'model.safetensors'), SHARED_TOKENIZER]);
    await page.click('#files-form button');
    await page.locator('#model-summary', { hasText: 'model.safetensors: 24-d embeddings' }).waitFor({ timeout: TIMEOUT });
    await page.close();
  });

  it('says which file is missing', { timeout: TIMEOUT }, async () => {
    const { page } = await openApp(session.browser.context, session.server.url);
    await page.locator('#gpu-status', { hasText: 'WebGPU on' }).waitFor();
    await loadFromServer(page, 'no-tokenizer');
    const error = banner(page, 'Could not load no-tokenizer');
    await error.waitFor({ timeout: TIMEOUT });
    assert.match(await error.textContent(), /models\/no-tokenizer\/tokenizer\.json is missing/);
    await screenshot(page, 'missing-file');
    await page.close();
  });

  it('says when the weights are corrupt', { timeout: TIMEOUT }, async () => {
    const { page } = await openApp(session.browser.context, session.server.url);
    await page.locator('#gpu-status', { hasText: 'WebGPU on' }).waitFor();
    await loadFromServer(page, 'truncated');
    const error = banner(page, 'Could not load truncated');
    await error.waitFor({ timeout: TIMEOUT });
    assert.match(await error.textContent(), /cannot read weights/);
    assert.equal(await page.locator('#model-summary').textContent(), 'No model loaded.');
    await screenshot(page, 'corrupt-weights');
    await page.close();
  });

  it('points to local files when the hub cannot be reached', { timeout: TIMEOUT }, async () => {
    await session.browser.context.route('https://huggingface.co/**', (route) => route.abort('internetdisconnected'));
    try {
      const { page } = await openApp(session.browser.context, session.server.url);
      await page.locator('#gpu-status', { hasText: 'WebGPU on' }).waitFor();
      await page.click('#hub-form button');
      const error = banner(page, 'Could not load openai/clip-vit-base-patch32');
      await error.waitFor({ timeout: TIMEOUT });
      assert.match(await error.textContent(), /Could not download config\.json from huggingface\.co.*Files on this computer/s);
      await screenshot(page, 'hub-offline');
      await page.close();
    } finally {
      await session.browser.context.unroute('https://huggingface.co/**');
    }
  });

  it('downloads from the hub once, then loads offline from the cache', { timeout: TIMEOUT }, async () => {
    const files = {
      'config.json': readFileSync(join(FIXTURE, 'config.json')),
      'model.safetensors': readFileSync(join(FIXTURE, 'model.safetensors')),
      'tokenizer.json': readFileSync(SHARED_TOKENIZER),
    };
    const served = [];
    // The weights are held back on the first download, to see the page while it loads.
    let releaseWeights;
    const weightsReleased = new Promise((resolve) => { releaseWeights = resolve; });
    await session.browser.context.route('https://huggingface.co/test/tiny-clip/resolve/main/*', async (route) => {
      const file = new URL(route.request().url()).pathname.split('/').pop();
      served.push(file);
      if (file === 'model.safetensors') await weightsReleased;
      await route.fulfill({
        status: 200,
        headers: { 'Access-Control-Allow-Origin': '*', 'Content-Type': 'application/octet-stream' },
        body: files[file],
      });
    });
    const loadFromHub = async ({ whileLoading = async () => {} } = {}) => {
      const { page } = await openApp(session.browser.context, session.server.url);
      await page.locator('#gpu-status', { hasText: 'WebGPU on' }).waitFor();
      await page.fill('#hub-repo', 'test/tiny-clip');
      await page.click('#hub-form button');
      await whileLoading(page);
      await page.locator('#model-summary', { hasText: 'test/tiny-clip: 24-d embeddings' }).waitFor({ timeout: TIMEOUT });
      await page.close();
    };
    try {
      await loadFromHub({
        whileLoading: async (page) => {
          await page.locator('#load-label', { hasText: 'Downloading tokenizer.json' }).waitFor();
          assert.equal(await page.locator('#hub-form button').isDisabled(), true);
          await screenshot(page, 'loading');
          releaseWeights();
        },
      });
      assert.deepEqual(served.sort(), Object.keys(files).sort());
      await session.browser.context.unroute('https://huggingface.co/test/tiny-clip/resolve/main/*');
      await session.browser.context.route('https://huggingface.co/**', (route) => route.abort('internetdisconnected'));
      await loadFromHub();
    } finally {
      await session.browser.context.unroute('https://huggingface.co/test/tiny-clip/resolve/main/*');
      await session.browser.context.unroute('https://huggingface.co/**');
    }
  });
});

describe('the app without WebGPU', { skip, timeout: TIMEOUT }, () => {
  const session = appSession({ webgpu: false });

  it('explains what to do and offers no model loading', { timeout: TIMEOUT }, async () => {
    const { page } = await openApp(session.browser.context, session.server.url);
    const notice = banner(page, 'WebGPU is not available');
    await notice.waitFor({ timeout: TIMEOUT });
    assert.match(await notice.textContent(), /chrome:\/\/flags/);
    assert.equal(await page.locator('body.no-webgpu').count(), 1);
    for (const button of ['#server-form button', '#hub-form button', '#files-form button']) {
      assert.equal(await page.locator(button).isDisabled(), true, button);
    }
    await screenshot(page, 'no-webgpu');
    await page.close();
  });
});

describe('safety tuning in the browser', { skip, timeout: TIMEOUT * 12 }, () => {
  const session = appSession({ webgpu: true });

  async function loadFullVocab(page) {
    await page.locator('#gpu-status', { hasText: 'WebGPU on' }).waitFor();
    await loadFromServer(page, 'full-vocab');
    await page.locator('#compare-prompt:enabled').waitFor({ timeout: TIMEOUT });
  }

  it('trains LoRA steps, compares before/after, and round-trips the adapter', { timeout: TIMEOUT * 6 }, async () => {
    const { page } = await openApp(session.browser.context, session.server.url);
    await loadFullVocab(page);
    await page.fill('#compare-prompt', 'a man punching another man outside a bar at night');
    await page.locator('#compare-original li .caption').first().waitFor({ timeout: TIMEOUT });
    assert.match(await page.locator('#compare-tuned').textContent(), /Train or upload an adapter/);

    await page.selectOption('#train-method', 'safeclip');
    await page.fill('#train-lr', '0.01');
    await page.fill('#train-steps', '8');
    await page.click('#train-start');
    await page.locator('#train-label', { hasText: 'Done: 8 steps' }).waitFor({ timeout: TIMEOUT * 2 });
    const losses = await page.evaluate(() => [...document.querySelectorAll('#loss-legend li')].map((li) => li.textContent));
    assert.ok(losses.length >= 5, `a line per term and the total: ${losses}`);
    await page.locator('#compare-tuned li .caption').first().waitFor({ timeout: TIMEOUT });
    for (const view of ['#traversal', '#hysac-controls']) {
      assert.ok(await page.locator(view).isHidden(), `a Safe-CLIP model has no HySAC views: ${view}`);
    }
    await screenshot(page, 'training-done');

    // The search panel ranks the captions and images with both models, side by side.
    await page.setInputFiles('#image-files', IMAGES);
    await page.fill('#prompt', 'a photo of a dog');
    await page.locator('#caption-results-tuned .score').nth(10).waitFor({ timeout: TIMEOUT });
    await page.locator('#image-results-tuned .score').nth(IMAGES.length - 1).waitFor({ timeout: TIMEOUT });
    const scores = (list) => page.locator(`${list} .score`).evaluateAll((bars) => bars.map((bar) => Number(bar.dataset.score)));
    const [before, after] = [await scores('#caption-results'), await scores('#caption-results-tuned')];
    assert.equal(after.length, before.length);
    assert.ok(after.every((s, i) => Math.abs(s) <= 1 + 1e-5 && (i === 0 || s <= after[i - 1])), `ranked cosines: ${after}`);
    assert.notDeepEqual(after, before, 'the tuned column ranks with the tuned model');
    assert.ok(await page.locator('#search-hysac').isHidden(), 'a Safe-CLIP model reads no prompt as safe or unsafe');
    await screenshot(page, 'search-compared');

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#adapter-download')]);
    const adapterPath = await download.path();
    const adapter = readFileSync(adapterPath);
    assert.ok(adapter.length > 1000, 'an adapter file');
    const header = JSON.parse(adapter.subarray(8, 8 + Number(adapter.readBigUInt64LE(0))).toString());
    assert.equal(header.__metadata__.format, 'safer-clip-lora');
    assert.ok(Object.keys(header).some((key) => key.endsWith('.lora_A.weight')));

    // A fresh page: upload the adapter instead of training.
    await page.reload();
    await loadFullVocab(page);
    await page.setInputFiles('#adapter-upload', adapterPath);
    await page.fill('#compare-prompt', 'a man punching another man outside a bar at night');
    await page.locator('#compare-tuned li .caption').first().waitFor({ timeout: TIMEOUT });
    await page.setInputFiles('#adapter-upload', { name: 'bad.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from('not an adapter') });
    await banner(page, 'is not a usable adapter').waitFor({ timeout: TIMEOUT });
    await page.close();
  });

  it('the loss of a Safe-CLIP run falls, and a paused run resumes from its checkpoint after a reload', { timeout: TIMEOUT * 6 }, async () => {
    const { page } = await openApp(session.browser.context, session.server.url);
    await loadFullVocab(page);
    const reports = [];
    await page.exposeFunction('recordStep', (label) => reports.push(label));
    await page.evaluate(() => {
      new MutationObserver(() => window.recordStep(document.querySelector('#train-label').textContent))
        .observe(document.querySelector('#train-label'), { childList: true, characterData: true, subtree: true });
    });
    await page.selectOption('#train-method', 'safeclip');
    await page.fill('#train-lr', '0.01');
    await page.fill('#train-steps', '6');
    await page.click('#train-start');
    await page.waitForFunction(() => Number(document.querySelector('#train-progress').value) >= 3, null, { timeout: TIMEOUT * 2 });
    await page.click('#train-pause');
    const paused = page.locator('#train-label', { hasText: 'saved in this browser' });
    await paused.waitFor({ timeout: TIMEOUT });
    const pausedAt = Number(/step (\d+)/.exec(await paused.textContent())[1]);
    const loss = (label) => Number(/loss ([\d.]+)/.exec(label)?.[1]);
    const stepLosses = [...new Set(reports.filter((label) => /loss/.test(label)))].map(loss);
    const later = stepLosses.slice(1);
    const mean = later.reduce((a, b) => a + b, 0) / later.length;
    assert.ok(later.length >= 2 && mean < stepLosses[0], `the loss should fall from step 1: ${stepLosses}`);

    await page.reload();
    await loadFullVocab(page);
    const resume = page.locator('#train-resume-saved');
    await resume.waitFor({ timeout: TIMEOUT });
    const savedAt = Number(/step (\d+)/.exec(await resume.textContent())[1]);
    assert.equal(savedAt, pausedAt, 'the checkpoint holds the step the run paused at');
    await resume.click();
    await page.locator('#train-label', { hasText: `Step ${savedAt + 1} of 6` }).waitFor({ timeout: TIMEOUT * 2 });
    assert.deepEqual(
      await page.evaluate(() => ['#train-method', '#train-lr', '#train-steps'].map((id) => document.querySelector(id).value)),
      ['safeclip', '0.01', '6'],
      'the form shows the resumed run’s options, not the page’s defaults',
    );
    await page.locator('#train-label', { hasText: 'Done: 6 steps' }).waitFor({ timeout: TIMEOUT * 2 });
    await screenshot(page, 'training-resumed');
    await page.close();
  });
});
