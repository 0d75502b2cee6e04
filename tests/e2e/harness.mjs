// @ts-check
// Shared set-up for the end-to-end tests: the app's server on a free port, a folder of test
// models, and headless Chromium (Debian's, driven by playwright-core) with or without WebGPU.
// Without WebGPU the app runs the model on its CPU path, about a hundred times faster here than
// WebGPU on SwiftShader; the tests that are not about the GPU use it.

import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const ARTIFACTS = join(REPO, 'tests/e2e/artifacts');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const FIXTURE = join(REPO, 'tests/fixtures/tiny-quickgelu');
export const FULL_VOCAB_FIXTURE = join(REPO, 'tests/fixtures/tiny-fullvocab');
export const SHARED_TOKENIZER = resolve(REPO, '../shared/assets/clip-vit-base-patch32/tokenizer.json');

/** Why the browser tests cannot run here, or null when they can. */
export function browserSkipReason() {
  if (!existsSync(join(REPO, 'pkg/safer_clip_bg.wasm'))) return 'pkg/ is not built: run ./build.sh first';
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM)`;
  if (!existsSync(SHARED_TOKENIZER)) return `no tokenizer at ${SHARED_TOKENIZER} (../shared is absent)`;
  return null;
}

/**
 * A temporary models/ folder:
 * - `tiny`: the tiny-quickgelu fixture with the real CLIP tokenizer (its vocabulary is 512, so
 *   real token ids are out of range: images encode, texts fail with a readable error);
 * - `no-tokenizer`: tokenizer.json is missing;
 * - `truncated`: model.safetensors is cut in half;
 * - `tiny-words`: the same weights with a word-level tokenizer that fits the 512 ids, so that
 *   texts encode too (to meaningless but well-formed embeddings);
 * - `full-vocab`: the tiny-fullvocab fixture (CLIP's real vocabulary) with the real tokenizer,
 *   whose reference.json holds what `transformers` returns for its texts and images.
 */
export function makeModelsDir() {
  const root = mkdtempSync(join(tmpdir(), 'safer-clip-models-'));
  const folder = (name, files) => {
    mkdirSync(join(root, name));
    for (const [file, write] of Object.entries(files)) write(join(root, name, file));
  };
  const copy = (from) => (to) => copyFileSync(from, to);
  const config = copy(join(FIXTURE, 'config.json'));
  const weights = copy(join(FIXTURE, 'model.safetensors'));
  const tokenizer = copy(SHARED_TOKENIZER);
  folder('tiny', { 'config.json': config, 'model.safetensors': weights, 'tokenizer.json': tokenizer });
  folder('no-tokenizer', { 'config.json': config, 'model.safetensors': weights });
  const bytes = readFileSync(join(FIXTURE, 'model.safetensors'));
  folder('truncated', {
    'config.json': config,
    'model.safetensors': (to) => writeFileSync(to, bytes.subarray(0, bytes.length >> 1)),
    'tokenizer.json': tokenizer,
  });
  folder('full-vocab', {
    'config.json': copy(join(FULL_VOCAB_FIXTURE, 'config.json')),
    'model.safetensors': copy(join(FULL_VOCAB_FIXTURE, 'model.safetensors')),
    'tokenizer.json': tokenizer,
  });
  folder('tiny-words', {
    'config.json': config,
    'model.safetensors': weights,
    'tokenizer.json': (to) => writeFileSync(to, JSON.stringify(wordTokenizer(WORDS))),
  });
  return { root, remove: () => rmSync(root, { recursive: true, force: true }) };
}

/** The words the tests type, and those of the page's example captions. */
const WORDS = `a photo of dog cat red car parked on city street bowl fresh fruit kitchen table people
  walking beach at sunset snowy mountain landscape plate pasta with tomato sauce child riding
  bicycle in park skyline night small bird sitting branch an empty classroom wooden desks`.split(/\s+/);

/**
 * A tokenizer.json in the format of Hugging Face `tokenizers`: lower-cased words, one id each,
 * between CLIP's start (510) and end (511) tokens. The end token has the highest id, as in
 * CLIP, so the tiny fixture's legacy pooling (at the highest id) reads the end token.
 */
function wordTokenizer(words) {
  const special = { '<|startoftext|>': 510, '<|endoftext|>': 511 };
  const vocab = { '<unk>': 0, ...Object.fromEntries(words.map((word, i) => [word, i + 1])) };
  const specialToken = (id) => ({ SpecialToken: { id, type_id: 0 } });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: Object.entries(special).map(([content, id]) => ({
      id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
    })),
    normalizer: { type: 'Lowercase' },
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [specialToken('<|startoftext|>'), { Sequence: { id: 'A', type_id: 0 } }, specialToken('<|endoftext|>')],
      pair: [specialToken('<|startoftext|>'), { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 0 } }, specialToken('<|endoftext|>')],
      special_tokens: Object.fromEntries(Object.entries(special).map(([token, id]) => [token, { id: token, ids: [id], tokens: [token] }])),
    },
    decoder: null,
    model: { type: 'WordLevel', vocab: { ...vocab, ...special }, unk_token: '<unk>' },
  };
}

/**
 * Starts www/serve.mjs on a free port (with `args` added); resolves to its base URL and a way to
 * stop it.
 */
/**
 * @param {string} modelsDir
 * @param {string[]} [args]
 * @returns {Promise<{ url: string, stop: () => void }>}
 */
export async function startServer(modelsDir, args = []) {
  const server = spawn(process.execPath, [join(REPO, 'www/serve.mjs'), '--port', '0', '--models', modelsDir, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const firstLine = await new Promise((resolveLine, reject) => {
    server.once('exit', (code) => reject(new Error(`serve.mjs exited with ${code}`)));
    createInterface({ input: server.stdout }).once('line', resolveLine);
  });
  const url = /^Serving (\S+)$/.exec(firstLine)?.[1];
  if (!url) throw new Error(`unexpected first line from serve.mjs: ${firstLine}`);
  return { url, stop: () => server.kill() };
}

/**
 * Headless Chromium in a fresh profile. With `webgpu`, WebGPU runs on SwiftShader, Chromium's
 * software adapter; without it, Chromium on Linux grants no WebGPU adapter.
 */
/** @param {{ webgpu: boolean }} options */
export async function launchBrowser({ webgpu }) {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'safer-clip-chromium-'));
  const args = [
    '--headless=new',
    '--no-sandbox',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    ...(webgpu ? ['--enable-unsafe-webgpu'] : []),
  ];
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args,
    ignoreDefaultArgs: ['--headless'],
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * The safe captions the app gets in tests: the first 300 of the bundled 2,400. SwiftShader takes
 * minutes to embed all of them, once per model load and once more per tuned model, and the
 * mechanics under test do not depend on the pool's size.
 */
export const TEST_POOL = readFileSync(join(REPO, 'data/safe_pool.txt'), 'utf8').split('\n')
  .filter((line) => line.trim()).slice(0, 300);

/**
 * A models folder, the app's server and a browser, set up before a suite and torn down after.
 * The app's requests for the bundled pool get TEST_POOL.
 * @param {{ webgpu: boolean, serverArgs?: string[] }} options
 */
export function appSession({ webgpu, serverArgs = [] }) {
  const session = /** @type {{ models: { root: string, remove: () => void }, server: { url: string, stop: () => void },
    browser: { context: import('playwright-core').BrowserContext, close: () => Promise<void> } }} */ ({});
  before(async () => {
    session.models = makeModelsDir();
    session.server = await startServer(session.models.root, serverArgs);
    session.browser = await launchBrowser({ webgpu });
    const body = `${TEST_POOL.join('\n')}\n`;
    await session.browser.context.route('**/data/safe_pool.txt', (route) => route.fulfill({
      headers: { 'Access-Control-Allow-Origin': '*', 'Content-Type': 'text/plain; charset=utf-8' }, body,
    }));
  });
  after(async () => {
    await session.browser?.close();
    session.server?.stop();
    session.models?.remove();
  });
  return session;
}

/**
 * Opens the app and collects what the page and its worker print to the console.
 * @param {import('playwright-core').BrowserContext} context
 * @param {string} url
 */
export async function openApp(context, url) {
  const page = await context.newPage();
  /** @type {string[]} */
  const logs = [];
  page.on('console', (message) => logs.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => logs.push(`pageerror: ${error.message}`));
  await page.goto(url);
  return { page, logs };
}

/**
 * Loads a model of the test models folder on the app's page, once the app has started, on the
 * path `backend` ('auto': the CPU here, where WebGPU is SwiftShader or missing).
 * @param {import('playwright-core').Page} page
 * @param {string} name
 * @param {{ backend?: 'auto' | 'cpu' | 'gpu' }} [options]
 */
export async function loadFromServer(page, name, { backend = 'auto' } = {}) {
  await page.locator('#backend:enabled').waitFor({ timeout: 60_000 });
  await page.selectOption('#backend', backend);
  await page.selectOption('#server-model', name);
  await page.click('#server-form button');
}

/**
 * Starts a training run in the safety panel: learning rate 0.01 (the tiny models move visibly in
 * a few steps) and LoRA rank 4, the largest the tiny models' width-4 text layers take.
 * @param {import('playwright-core').Page} page
 * @param {{ method: 'safer' | 'safeclip' | 'hysac', steps: number, batch?: number }} run
 */
export async function startTraining(page, { method, steps, batch }) {
  await page.selectOption('#train-method', method);
  await page.fill('#train-lr', '0.01');
  await page.fill('#train-rank', '4');
  await page.fill('#train-steps', String(steps));
  if (batch !== undefined) await page.fill('#train-batch', String(batch));
  await page.click('#train-start');
}

/**
 * Every text the training label shows from now on, also after the page reloads: on the CPU path
 * a step can pass faster than a locator polls.
 * @param {import('playwright-core').Page} page
 * @returns {Promise<string[]>} filled as the label changes
 */
export async function recordTrainLabels(page) {
  /** @type {string[]} */
  const labels = [];
  await page.exposeFunction('recordTrainLabel', (/** @type {string} */ text) => labels.push(text));
  const observe = () => {
    const label = /** @type {HTMLElement} */ (document.querySelector('#train-label'));
    const record = /** @type {(text: string) => void} */ (/** @type {any} */ (window).recordTrainLabel);
    new MutationObserver(() => record(label.textContent ?? '')).observe(label, { childList: true, characterData: true, subtree: true });
  };
  await page.addInitScript(`addEventListener('DOMContentLoaded', ${observe})`);
  await page.evaluate(observe);
  return labels;
}

/**
 * The value of a form control of the page, as a number (a progress bar's, an input's).
 * @param {import('playwright-core').Page} page
 * @param {string} selector
 */
export function numberIn(page, selector) {
  return page.locator(selector).evaluate((element) => Number(/** @type {HTMLInputElement} */ (element).value));
}

/**
 * @param {import('playwright-core').Page} page
 * @param {string} name
 */
export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}
