// @ts-check
// End-to-end tests of the browser app in headless Chromium: with WebGPU (SwiftShader, a software
// adapter, so the app takes its CPU path unless told the GPU) and without it (the CPU path).
// Run: node --test tests/e2e/   (after ./build.sh)

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import {
  FIXTURE,
  FULL_VOCAB_FIXTURE,
  REPO,
  SHARED_TOKENIZER,
  appSession,
  browserSkipReason,
  loadFromServer,
  numberIn,
  openApp,
  recordTrainLabels,
  screenshot,
  startTraining,
} from './harness.mjs';

const skip = browserSkipReason() ?? false;
/** Whether build.sh built the multithreaded CPU core (it needs a nightly toolchain). */
const THREADED_CORE = existsSync(join(REPO, 'pkg/threads/safer_clip_bg.wasm'));

const TIMEOUT = 120_000;
const IMAGES = ['down-57x83.png', 'wide-200x31.png'].map((name) => join(REPO, 'tests/fixtures/images', name));
// The tiny fixture's vocabulary is 512 ids; the real tokenizer gives ids up to 49407.
const OUT_OF_VOCABULARY = /outside the vocabulary of 512/;
const REFERENCE = JSON.parse(readFileSync(join(FULL_VOCAB_FIXTURE, 'reference.json'), 'utf8'));
const REFERENCE_INPUT = {
  texts: REFERENCE.texts,
  images: REFERENCE.images.map((/** @type {string} */ name) => [...readFileSync(join(REPO, 'tests/fixtures/images', name))]),
};

/** @typedef {import('playwright-core').Page} Page */

/**
 * @param {Page} page
 * @param {string} text
 */
const banner = (page, text) => page.locator('.banner', { hasText: text });

/**
 * Waits until `count` images are shown and all of them are encoded.
 * @param {Page} page
 * @param {number} count
 */
async function waitForImages(page, count) {
  await page.locator('#image-results li').nth(count - 1).waitFor();
  await page.waitForFunction(() => !document.querySelector('#image-results .note'), null, { timeout: TIMEOUT });
}

/**
 * A served model's embeddings of the reference images and of `texts` on `backend`, through the
 * client API, as plain arrays; with `dtype`, of its weights converted by the core in the page and
 * opened as picked files.
 * @param {Page} page
 * @param {'cpu' | 'gpu'} backend
 * @param {{ model?: string, texts?: string[], dtype?: 'f16' | 'q8' }} [options] by default the
 *   full-vocab model, the reference texts and the weights as served
 */
function referenceEmbeddings(page, backend, { model = 'full-vocab', texts = REFERENCE_INPUT.texts, dtype } = {}) {
  return page.evaluate(async ({ texts, images, backend, model, dtype }) => {
    const { ClipClient } = await import(/** @type {string} */ ('/clip-client.js'));
    /** @param {string} file */
    const served = async (file) => new Uint8Array(await (await fetch(`/models/${model}/${file}`)).arrayBuffer());
    /** @type {import('../../www/clip-client.js').ModelSource} */
    let source = { kind: 'server', name: model };
    if (dtype) {
      const core = await import(/** @type {string} */ ('/pkg/safer_clip.js'));
      await core.default();
      const weights = core.convertWeights(await served('model.safetensors'), dtype);
      const files = [['config.json', await served('config.json')], ['tokenizer.json', await served('tokenizer.json')], ['model.safetensors', weights]];
      source = { kind: 'files', files: files.map(([name, bytes]) => new File([/** @type {Uint8Array<ArrayBuffer>} */ (bytes)], /** @type {string} */ (name))) };
    }
    const client = new ClipClient();
    const loaded = await client.loadModel(source, () => {}, { backend });
    const blobs = images.map((bytes) => new Blob([new Uint8Array(bytes)], { type: 'image/png' }));
    /** @param {{ rows: number, cols: number, data: Float32Array }} m */
    const rows = (m) => Array.from({ length: m.rows }, (_, i) => [...m.data.slice(i * m.cols, (i + 1) * m.cols)]);
    const result = {
      backend: loaded.backend, threads: loaded.threads, cores: navigator.hardwareConcurrency,
      texts: rows(await client.encodeText(texts)), images: rows(await client.encodeImage(blobs)),
    };
    client.close();
    return result;
  }, { images: REFERENCE_INPUT.images, texts, backend, model, dtype });
}

/**
 * Checks embeddings against what `transformers` returns (tests/fixtures/tiny-fullvocab).
 * @param {{ texts: number[][], images: number[][] }} result
 * @param {string} path the backend, for the log
 */
function assertMatchesReference(result, path) {
  /** @param {number[][]} a @param {number[][]} b */
  const maxAbsDiff = (a, b) => Math.max(...a.flatMap((row, i) => row.map((v, j) => Math.abs(v - b[i][j]))));
  assert.equal(result.texts.length, REFERENCE.text_embeds.length);
  assert.equal(result.images.length, REFERENCE.image_embeds.length);
  const textError = maxAbsDiff(result.texts, REFERENCE.text_embeds);
  const imageError = maxAbsDiff(result.images, REFERENCE.image_embeds);
  console.log(`browser (${path}) vs transformers: texts ${textError.toExponential(2)}, images ${imageError.toExponential(2)}`);
  assert.ok(textError <= 1e-4, `text embeddings differ by ${textError}`);
  assert.ok(imageError <= 1e-4, `image embeddings differ by ${imageError}`);
}

describe('the app with WebGPU', { skip, timeout: TIMEOUT * 8 }, () => {
  const session = appSession({ webgpu: true });

  it('finds the WebGPU adapter and lists the models folder', { timeout: TIMEOUT }, async () => {
    const { page, logs } = await openApp(session.browser.context, session.server.url);
    await page.locator('#gpu-status', { hasText: 'WebGPU on' }).waitFor();
    // SwiftShader emulates a GPU on the CPU, slower than the CPU path, which 'auto' takes.
    assert.match(await page.locator('#gpu-status').textContent() ?? '', /software.*runs on the CPU/);
    assert.match(await page.locator('#backend option[value="auto"]').textContent() ?? '', /the CPU/);
    assert.equal(await page.locator('#backend option[value="gpu"]').isDisabled(), false, 'the GPU path can be chosen');
    const options = await page.locator('#server-model option').allTextContents();
    assert.deepEqual(options, ['full-vocab', 'no-tokenizer', 'tiny', 'tiny-words', 'truncated']);
    assert.equal(await page.locator('#server-form button').isEnabled(), true);
    assert.deepEqual(logs.filter((line) => /404|Failed to load/.test(line)), [], 'no file missing (the favicon is there)');
    await screenshot(page, 'start');
    await page.close();
  });

  it('loads a model from the server; with the real tokenizer, texts report the tiny vocabulary', { timeout: TIMEOUT }, async () => {
    const { page, logs } = await openApp(session.browser.context, session.server.url);
    await loadFromServer(page, 'tiny');
    await page.locator('#model-summary', { hasText: 'tiny: 24-d embeddings, 32 px images in 8 px patches' }).waitFor({ timeout: TIMEOUT });

    const error = banner(page, 'Could not encode the captions');
    await error.waitFor({ timeout: TIMEOUT });
    assert.match(await error.textContent() ?? '', OUT_OF_VOCABULARY);

    await page.setInputFiles('#image-files', IMAGES);
    await waitForImages(page, 2);
    await screenshot(page, 'vocabulary-error');
    assert.deepEqual(logs.filter((line) => line.startsWith('pageerror')), []);
    await page.close();
  });

  it('ranks captions and images against a typed prompt', { timeout: TIMEOUT }, async () => {
    const { page, logs } = await openApp(session.browser.context, session.server.url);
    await loadFromServer(page, 'tiny-words');
    await page.locator('#caption-results', { hasText: 'Type a prompt' }).waitFor({ timeout: TIMEOUT });
    await page.setInputFiles('#image-files', IMAGES);
    await waitForImages(page, 2);

    await page.fill('#prompt', 'a photo of a dog');
    await page.locator('#caption-results .score').nth(10).waitFor({ timeout: TIMEOUT });
    await page.locator('#image-results .score').nth(1).waitFor({ timeout: TIMEOUT });
    const scores = async (/** @type {string} */ list) => (await page.locator(`${list} .score`).evaluateAll(
      (bars) => bars.map((bar) => Number(/** @type {HTMLElement} */ (bar).dataset.score)),
    ));
    for (const list of ['#caption-results', '#image-results']) {
      const values = await scores(list);
      // A caption equal to the prompt scores 1, give or take float rounding.
      assert.ok(values.every((v) => Math.abs(v) <= 1 + 1e-6), `${list}: ${values}`);
      assert.deepEqual(values, [...values].sort((a, b) => b - a), `${list} is ranked`);
    }
    assert.equal(await page.locator('.banner').count(), 0);
    await page.locator('#model-timings', { hasText: /^First text result: fetching .* s, loading .* s, warm-up .* s, waiting behind other work .* s, computing .* s\.$/ }).waitFor();
    await screenshot(page, 'ranked');
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, 'ranked-phone');
    assert.deepEqual(logs.filter((line) => line.startsWith('pageerror')), []);
    await page.close();
  });

  it('embeds texts and images as transformers does on WebGPU (full vocabulary, real tokenizer)', { timeout: TIMEOUT }, async () => {
    const { page } = await openApp(session.browser.context, session.server.url);
    const result = await referenceEmbeddings(page, 'gpu');
    assert.equal(result.backend, 'gpu');
    assertMatchesReference(result, 'WebGPU');
    await page.close();
  });

  it('switches the model between the CPU and the GPU both ways, without fetching it again', { timeout: TIMEOUT * 2 }, async () => {
    const { page, logs } = await openApp(session.browser.context, session.server.url);
    /** @type {string[]} */
    const fetched = [];
    const listen = (/** @type {import('playwright-core').Request} */ request) => {
      if (request.url().includes('/models/tiny-words/')) fetched.push(request.url());
    };
    session.browser.context.on('request', listen);
    try {
      await loadFromServer(page, 'tiny-words', { backend: 'cpu' });
      await page.locator('#model-summary', { hasText: 'on the CPU (WebAssembly, ' }).waitFor({ timeout: TIMEOUT });
      assert.equal(fetched.length, 3, `the three files, once: ${fetched}`);
      const ranking = async () => {
        await page.fill('#prompt', '');
        await page.fill('#prompt', 'a photo of a dog');
        await page.locator('#caption-results .score').nth(10).waitFor({ timeout: TIMEOUT });
        return page.locator('#caption-results .caption').allTextContents();
      };
      const onCpu = await ranking();

      await page.selectOption('#backend', 'gpu');
      // SwiftShader's adapter has no shader-f16, so the page computes in f32 without a word.
      await page.locator('#model-summary', { hasText: 'on the GPU (WebGPU, computing in f32)' }).waitFor({ timeout: TIMEOUT });
      assert.deepEqual(await ranking(), onCpu, 'the same model, the same ranking');
      await page.selectOption('#backend', 'cpu');
      await page.locator('#model-summary', { hasText: 'on the CPU (WebAssembly, ' }).waitFor({ timeout: TIMEOUT });
      assert.deepEqual(await ranking(), onCpu);
      assert.equal(fetched.length, 3, `switching reads the copy this browser kept: ${fetched}`);
      assert.deepEqual(logs.filter((line) => line.startsWith('pageerror')), []);
    } finally {
      session.browser.context.off('request', listen);
    }
    await page.close();
  });

  it('gives unit-length image embeddings through the client API', { timeout: TIMEOUT }, async () => {
    const { page } = await openApp(session.browser.context, session.server.url);
    const images = IMAGES.map((path) => [...readFileSync(path)]);
    const result = await page.evaluate(async (images) => {
      const { ClipClient } = await import(/** @type {string} */ ('/clip-client.js'));
      const client = new ClipClient();
      /** @type {{ stage: string }[]} */
      const progress = [];
      const model = await client.loadModel({ kind: 'server', name: 'tiny' }, (/** @type {{ stage: string }} */ p) => progress.push(p));
      const blobs = images.map((bytes) => new Blob([new Uint8Array(bytes)], { type: 'image/png' }));
      const embeddings = await client.encodeImage(blobs);
      const textError = await client.encodeText(['a photo of a dog']).then(
        () => null,
        (/** @type {Error} */ error) => ({ name: error.name, message: error.message }),
      );
      return {
        projectionDim: model.config.projection_dim,
        stages: [...new Set(progress.map((p) => p.stage))],
        timings: model.timings,
        rows: embeddings.rows,
        cols: embeddings.cols,
        data: [...embeddings.data],
        textError,
      };
    }, images);

    assert.deepEqual(result.stages, ['fetch', 'init']);
    assert.deepEqual(Object.keys(result.timings).sort(), ['fetchMs', 'loadMs', 'warmUpMs']);
    assert.ok(Object.values(result.timings).every((ms) => Number.isFinite(ms) && ms >= 0), JSON.stringify(result.timings));
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
    assert.match(result.textError?.message ?? '', OUT_OF_VOCABULARY);
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
    await loadFromServer(page, 'no-tokenizer');
    const error = banner(page, 'Could not load no-tokenizer');
    await error.waitFor({ timeout: TIMEOUT });
    assert.match(await error.textContent() ?? '', /models\/no-tokenizer\/tokenizer\.json is missing/);
    await screenshot(page, 'missing-file');
    await page.close();
  });

  it('says when the weights are corrupt', { timeout: TIMEOUT }, async () => {
    const { page } = await openApp(session.browser.context, session.server.url);
    await loadFromServer(page, 'truncated');
    const error = banner(page, 'Could not load truncated');
    await error.waitFor({ timeout: TIMEOUT });
    assert.match(await error.textContent() ?? '', /cannot read weights/);
    assert.equal(await page.locator('#model-summary').textContent(), 'No model loaded.');
    await screenshot(page, 'corrupt-weights');
    await page.close();
  });

  it('points to local files when the hub cannot be reached', { timeout: TIMEOUT }, async () => {
    await session.browser.context.route('https://huggingface.co/**', (route) => route.abort('internetdisconnected'));
    try {
      const { page } = await openApp(session.browser.context, session.server.url);
      await page.locator('#backend:enabled').waitFor();
      await page.click('#hub-form button');
      const error = banner(page, 'Could not load openai/clip-vit-base-patch32');
      await error.waitFor({ timeout: TIMEOUT });
      assert.match(await error.textContent() ?? '', /Could not download config\.json from huggingface\.co.*Files on this computer/s);
      await screenshot(page, 'hub-offline');
      await page.close();
    } finally {
      await session.browser.context.unroute('https://huggingface.co/**');
    }
  });

  it('downloads from the hub once, keeps fp32 weights as f16, then loads offline from the cache', { timeout: TIMEOUT }, async () => {
    /** @type {Record<string, Buffer>} */
    const files = {
      'config.json': readFileSync(join(FIXTURE, 'config.json')),
      'model.safetensors': readFileSync(join(FIXTURE, 'model.safetensors')),
      'tokenizer.json': readFileSync(SHARED_TOKENIZER),
    };
    /** @type {string[]} */
    const served = [];
    // The weights are held back on the first download, to see the page while it loads.
    /** @type {(value?: unknown) => void} */
    let releaseWeights = () => {};
    const weightsReleased = new Promise((resolve) => { releaseWeights = resolve; });
    await session.browser.context.route('https://huggingface.co/test/tiny-clip/resolve/main/*', async (route) => {
      const file = /** @type {string} */ (new URL(route.request().url()).pathname.split('/').pop());
      served.push(file);
      if (file === 'model.safetensors') await weightsReleased;
      await route.fulfill({
        status: 200,
        headers: { 'Access-Control-Allow-Origin': '*', 'Content-Type': 'application/octet-stream' },
        body: files[file],
      });
    });
    /** @param {{ whileLoading?: (page: Page) => Promise<void> }} [options] */
    const loadFromHub = async ({ whileLoading = async () => {} } = {}) => {
      const { page } = await openApp(session.browser.context, session.server.url);
      await page.locator('#backend:enabled').waitFor();
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
      const { page } = await openApp(session.browser.context, session.server.url);
      const cached = await page.evaluate(async () => {
        const cache = await caches.open('safer-clip-hub-v1');
        const response = await cache.match('https://huggingface.co/test/tiny-clip/resolve/main/model.safetensors');
        const bytes = new Uint8Array(await /** @type {Response} */ (response).arrayBuffer());
        const length = Number(new DataView(bytes.buffer).getBigUint64(0, true));
        const { __metadata__: _, ...tensors } = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
        return { size: bytes.length, dtypes: [...new Set(Object.values(tensors).map((t) => t.dtype))] };
      });
      await page.close();
      assert.deepEqual(cached.dtypes, ['F16'], 'the cached weights are f16');
      const downloaded = files['model.safetensors'].length;
      assert.ok(cached.size < downloaded * 0.55, `cached ${cached.size} bytes of ${downloaded}`);
      await session.browser.context.unroute('https://huggingface.co/test/tiny-clip/resolve/main/*');
      await session.browser.context.route('https://huggingface.co/**', (route) => route.abort('internetdisconnected'));
      await loadFromHub();
    } finally {
      await session.browser.context.unroute('https://huggingface.co/test/tiny-clip/resolve/main/*');
      await session.browser.context.unroute('https://huggingface.co/**');
    }
  });
});

describe('the app without WebGPU: the CPU path', { skip, timeout: TIMEOUT * 6 }, () => {
  const session = appSession({ webgpu: false });

  it('runs on the CPU with a note, searches, and trains with its speed shown', { timeout: TIMEOUT * 3 }, async () => {
    const { page, logs } = await openApp(session.browser.context, session.server.url);
    await page.locator('#gpu-status', { hasText: 'No WebGPU in this browser: the model runs on the CPU' }).waitFor({ timeout: TIMEOUT });
    assert.equal(await page.locator('.banner').count(), 0, 'no error page');
    assert.equal(await page.locator('#backend option[value="gpu"]').isDisabled(), true, 'no GPU path to choose');
    assert.match(await page.locator('#backend-hint').textContent() ?? '', /chrome:\/\/flags/);
    await screenshot(page, 'no-webgpu');

    await loadFromServer(page, 'full-vocab');
    await page.locator('#model-summary', { hasText: 'full-vocab: 8-d embeddings, 32 px images in 16 px patches; on the CPU (WebAssembly, ' }).waitFor({ timeout: TIMEOUT });
    await page.fill('#prompt', 'a photo of a dog');
    await page.locator('#caption-results .score').nth(10).waitFor({ timeout: TIMEOUT });
    await page.locator('#compare-prompt:enabled').waitFor({ timeout: TIMEOUT });
    await page.fill('#compare-prompt', 'a man punching another man outside a bar at night');
    await page.locator('#compare-original li .caption').first().waitFor({ timeout: TIMEOUT });

    const labels = await recordTrainLabels(page);
    await startTraining(page, { method: 'safeclip', steps: 2 });
    await page.locator('#train-label', { hasText: 'Done: 2 steps' }).waitFor({ timeout: TIMEOUT });
    assert.ok(labels.some((label) => /^Step 1 of 2 .* [\d.]+ pairs\/s on the CPU$/.test(label)), `the speed of a step: ${labels}`);
    await page.locator('#compare-tuned li .caption').first().waitFor({ timeout: TIMEOUT });
    await screenshot(page, 'cpu-trained');
    assert.deepEqual(logs.filter((line) => line.startsWith('pageerror')), []);
    await page.close();
  });

  it('embeds texts and images as transformers does on the CPU path, on a thread per core', { timeout: TIMEOUT }, async () => {
    const { page } = await openApp(session.browser.context, session.server.url);
    const result = await referenceEmbeddings(page, 'cpu');
    assert.equal(result.backend, 'cpu');
    // serve.mjs isolates the page, so the multithreaded core runs where build.sh built it.
    assert.equal(result.threads, THREADED_CORE ? result.cores : 1, `threads on ${result.cores} cores`);
    assertMatchesReference(result, 'CPU path');
    await page.close();
  });

  it('loads f16 and q8 weights that the core converts, within their drift from fp32', { timeout: TIMEOUT }, async () => {
    const { page } = await openApp(session.browser.context, session.server.url);
    // tiny-words: fp32 weights (full-vocab's are stored as f16 already) and a tokenizer that fits.
    const options = { model: 'tiny-words', texts: ['a photo of dog', 'red car parked on city street', 'child riding bicycle in park'] };
    const original = await referenceEmbeddings(page, 'cpu', options);
    /** @param {number[][]} a @param {number[][]} b */
    const drift = (a, b) => ({
      maxAbs: Math.max(...a.flatMap((row, i) => row.map((v, j) => Math.abs(v - b[i][j])))),
      minCos: Math.min(...a.map((row, i) => row.reduce((sum, v, j) => sum + v * b[i][j], 0))),
    });
    // The bounds tests/it/convert.rs holds the same loader to natively.
    for (const [dtype, maxAbs, minCos] of /** @type {const} */ ([['f16', 5e-3, 0.999], ['q8', Infinity, 0.99]])) {
      const converted = await referenceEmbeddings(page, 'cpu', { ...options, dtype });
      for (const kind of /** @type {const} */ (['texts', 'images'])) {
        const d = drift(converted[kind], original[kind]);
        console.log(`browser ${dtype} ${kind} drift from fp32: max abs ${d.maxAbs.toExponential(2)}, min cosine ${d.minCos.toFixed(6)}`);
        assert.ok(d.maxAbs <= maxAbs && d.minCos >= minCos, `${dtype} ${kind}: ${JSON.stringify(d)}`);
      }
    }
    await page.close();
  });

  it('refuses the GPU path by name where there is no adapter', { timeout: TIMEOUT }, async () => {
    const { page } = await openApp(session.browser.context, session.server.url);
    const error = await page.evaluate(async () => {
      const { ClipClient } = await import(/** @type {string} */ ('/clip-client.js'));
      const client = new ClipClient();
      const started = await client.start();
      const refused = await client.loadModel({ kind: 'server', name: 'tiny' }, () => {}, { backend: 'gpu' })
        .then(() => null, (/** @type {Error} */ e) => e.name);
      client.close();
      return { gpu: started.gpu, backend: started.backend, refused };
    });
    assert.deepEqual(error, { gpu: null, backend: 'cpu', refused: 'NoWebGPU' });
    await page.close();
  });
});

describe('safety tuning in the browser', { skip, timeout: TIMEOUT * 12 }, () => {
  const session = appSession({ webgpu: true });

  /**
   * @param {Page} page
   * @param {'auto' | 'gpu'} [backend]
   */
  async function loadFullVocab(page, backend = 'auto') {
    await loadFromServer(page, 'full-vocab', { backend });
    await page.locator('#compare-prompt:enabled').waitFor({ timeout: TIMEOUT });
  }

  it('trains LoRA steps on WebGPU, compares before/after, and round-trips the adapter', { timeout: TIMEOUT * 6 }, async () => {
    const { page } = await openApp(session.browser.context, session.server.url);
    await loadFullVocab(page, 'gpu');
    await page.locator('#model-summary', { hasText: 'on the GPU (WebGPU, ' }).waitFor();
    await page.fill('#compare-prompt', 'a man punching another man outside a bar at night');
    await page.locator('#compare-original li .caption').first().waitFor({ timeout: TIMEOUT });
    assert.match(await page.locator('#compare-tuned').textContent() ?? '', /Train or upload an adapter/);

    await startTraining(page, { method: 'safeclip', steps: 8 });
    await page.locator('#train-label', { hasText: 'pairs/s on the GPU' }).waitFor({ timeout: TIMEOUT * 2 });
    await page.locator('#train-label', { hasText: 'Done: 8 steps' }).waitFor({ timeout: TIMEOUT * 2 });
    const losses = await page.locator('#loss-legend li').allTextContents();
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
    const scores = (/** @type {string} */ list) => page.locator(`${list} .score`).evaluateAll(
      (bars) => bars.map((bar) => Number(/** @type {HTMLElement} */ (bar).dataset.score)),
    );
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

    // A fresh page: upload the adapter instead of training (on the CPU path: the same file).
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
    const reports = await recordTrainLabels(page);
    // Enough steps that the run cannot finish between reaching step 3 and the click on Pause: on
    // the CPU path's threaded core a step of this model takes milliseconds.
    const steps = 60;
    await startTraining(page, { method: 'safeclip', steps });
    await page.waitForFunction(() => Number(/** @type {HTMLProgressElement} */ (document.querySelector('#train-progress')).value) >= 3, null, { timeout: TIMEOUT * 2 });
    await page.click('#train-pause');
    const paused = page.locator('#train-label', { hasText: 'saved in this browser' });
    await paused.waitFor({ timeout: TIMEOUT });
    const pausedAt = Number(/step (\d+)/.exec(await paused.textContent() ?? '')?.[1]);
    const loss = (/** @type {string} */ label) => Number(/loss ([\d.]+)/.exec(label)?.[1]);
    const stepLosses = [...new Set(reports.filter((label) => /loss/.test(label)))].map(loss);
    const later = stepLosses.slice(1);
    const mean = later.reduce((a, b) => a + b, 0) / later.length;
    assert.ok(later.length >= 2 && mean < stepLosses[0], `the loss should fall from step 1: ${stepLosses}`);

    await page.reload();
    await loadFullVocab(page);
    const resume = page.locator('#train-resume-saved');
    await resume.waitFor({ timeout: TIMEOUT });
    const savedAt = Number(/step (\d+)/.exec(await resume.textContent() ?? '')?.[1]);
    assert.equal(savedAt, pausedAt, 'the checkpoint holds the step the run paused at');
    const resumedFrom = reports.length;
    await resume.click();
    await page.locator('#train-label', { hasText: `Done: ${steps} steps` }).waitFor({ timeout: TIMEOUT * 2 });
    const resumed = reports.slice(resumedFrom).filter((label) => new RegExp(`^Step \\d+ of ${steps} ·`).test(label));
    assert.match(resumed[0] ?? '', new RegExp(`^Step ${savedAt + 1} of ${steps} ·`), `the run goes on after the saved step: ${resumed}`);
    assert.deepEqual(
      await Promise.all(['#train-method', '#train-lr', '#train-steps'].map((id) => page.locator(id).inputValue())),
      ['safeclip', '0.01', String(steps)],
      'the form shows the resumed run’s options, not the page’s defaults',
    );
    assert.ok(await numberIn(page, '#train-progress') === steps);
    await screenshot(page, 'training-resumed');
    await page.close();
  });
});
