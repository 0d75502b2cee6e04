// @ts-check
// The embeddable element <safer-clip-demo> in headless Chromium (WebGPU on SwiftShader): on the
// example page, and on a page of another origin with an adapter, as another site embeds it.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import {
  ARTIFACTS, FULL_VOCAB_FIXTURE, SHARED_TOKENIZER, TEST_POOL, appSession, browserSkipReason, openApp, screenshot,
} from './harness.mjs';

const skip = browserSkipReason() ?? false;
const TIMEOUT = 120_000;
const POOL = new Set(TEST_POOL);

/** The captions and scores a column of the element shows. */
async function column(page, which) {
  return page.locator(`safer-clip-demo .${which} li:not(.note)`).evaluateAll((items) => items.map((item) => ({
    caption: item.querySelector('.caption').textContent,
    score: Number(item.querySelector('.score').dataset.score),
  })));
}

/**
 * An adapter file for the tiny-fullvocab fixture (2 layers per tower; text width 4, vision 16):
 * rank-1 LoRA on every out_proj with fixed, large factors, so that the tuned model visibly
 * differs from the original.
 */
function outProjAdapter() {
  /** @type {[string, number[], number[]][]} */
  const tensors = [];
  for (const [tower, width] of /** @type {[string, number][]} */ ([['text_model', 4], ['vision_model', 16]])) {
    for (const layer of [0, 1]) {
      const prefix = `base_model.model.${tower}.encoder.layers.${layer}.self_attn.out_proj`;
      tensors.push([`${prefix}.lora_A.weight`, [1, width], Array.from({ length: width }, (_, i) => (i % 2 ? 1.5 : -1))]);
      tensors.push([`${prefix}.lora_B.weight`, [width, 1], Array.from({ length: width }, (_, i) => (i % 3 ? 2 : -2))]);
    }
  }
  const header = {
    __metadata__: {
      format: 'safer-clip-lora',
      lora_config: JSON.stringify({ rank: 1, alpha: 1, dropout: 0, targets: ['out_proj'] }),
    },
  };
  let offset = 0;
  for (const [name, shape, values] of tensors) {
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + 4 * values.length] };
    offset += 4 * values.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  const data = Buffer.from(new Float32Array(tensors.flatMap(([, , values]) => values)).buffer);
  return Buffer.concat([length, Buffer.from(json), data]);
}

describe('the embeddable element', { skip, timeout: TIMEOUT * 8 }, () => {
  const session = appSession({ webgpu: true, serverArgs: ['--cors'] });

  it('loads on the example page and answers its prompt and a typed one', { timeout: TIMEOUT * 3 }, async () => {
    // The example asks the hub for openai/clip-vit-base-patch32: the tiny model stands in.
    const files = {
      'config.json': readFileSync(join(FULL_VOCAB_FIXTURE, 'config.json')),
      'model.safetensors': readFileSync(join(FULL_VOCAB_FIXTURE, 'model.safetensors')),
      'tokenizer.json': readFileSync(SHARED_TOKENIZER),
    };
    await session.browser.context.route('https://huggingface.co/openai/clip-vit-base-patch32/resolve/main/*', (route) => route.fulfill({
      status: 200,
      headers: { 'Access-Control-Allow-Origin': '*', 'Content-Type': 'application/octet-stream' },
      body: files[new URL(route.request().url()).pathname.split('/').pop()],
    }));
    try {
      const { page, logs } = await openApp(session.browser.context, `${session.server.url}embed-example.html`);
      const status = page.locator('safer-clip-demo .status');
      await status.filter({ hasText: `Nearest of ${TEST_POOL.length} safe captions` }).waitFor({ timeout: TIMEOUT * 2 });
      await page.locator('safer-clip-demo .original li .caption').first().waitFor({ timeout: TIMEOUT });
      const first = await column(page, 'original');
      assert.equal(first.length, 5);
      assert.ok(first.every(({ caption }) => POOL.has(caption)), 'captions of the safe pool');
      assert.deepEqual(first.map((c) => c.score), first.map((c) => c.score).sort((a, b) => b - a), 'best first');
      assert.equal(await page.locator('safer-clip-demo .tuned-column').isHidden(), true, 'no adapter, no tuned column');
      assert.equal(await page.locator('safer-clip-demo input').inputValue(), 'a man punching another man outside a bar at night');
      await screenshot(page, 'embed-example');

      const answered = page.evaluate(() => new Promise((resolve) => {
        document.querySelector('safer-clip-demo')?.addEventListener('results', (event) => resolve(/** @type {CustomEvent} */ (event).detail.prompt), { once: true });
      }));
      await page.locator('safer-clip-demo input').fill('a child riding a bicycle in a park');
      assert.equal(await answered, 'a child riding a bicycle in a park');
      const second = await column(page, 'original');
      assert.notDeepEqual(second, first, 'another prompt, other neighbours');
      await page.setViewportSize({ width: 390, height: 844 });
      await screenshot(page, 'embed-example-phone');
      assert.deepEqual(logs.filter((line) => line.startsWith('pageerror')), []);
      await page.close();
    } finally {
      await session.browser.context.unroute('https://huggingface.co/openai/clip-vit-base-patch32/resolve/main/*');
    }
  });

  it('works from another origin, with an adapter beside the original model', { timeout: TIMEOUT * 3 }, async () => {
    // Another site: a page and an adapter file served from another port, so another origin.
    const app = session.server.url;
    const html = `<!doctype html><meta charset="utf-8"><title>Another site</title>
      <h1>Another site</h1>
      <script type="module" src="${app}safer-clip-demo.js"></script>
      <safer-clip-demo compact backend="cpu" model="${app}models/full-vocab/" adapter="/adapter.safetensors"
                       pool="${app}data/safe_pool.txt" prompt="two boys fighting in a school hallway"></safer-clip-demo>`;
    const site = createServer((request, response) => {
      const adapter = request.url === '/adapter.safetensors';
      response.writeHead(200, { 'Content-Type': adapter ? 'application/octet-stream' : 'text/html; charset=utf-8' });
      response.end(adapter ? outProjAdapter() : html);
    });
    await new Promise((resolve) => site.listen(0, '127.0.0.1', () => resolve(undefined)));
    try {
      const { port } = /** @type {import('node:net').AddressInfo} */ (site.address());
      const { page, logs } = await openApp(session.browser.context, `http://127.0.0.1:${port}/`);
      await page.locator('safer-clip-demo .tuned li .caption').first().waitFor({ timeout: TIMEOUT * 2 });
      const original = await column(page, 'original');
      const tuned = await column(page, 'tuned');
      assert.equal(original.length, 3, 'compact: three captions');
      assert.equal(tuned.length, 3);
      assert.ok([...original, ...tuned].every(({ caption }) => POOL.has(caption)));
      assert.notDeepEqual(tuned.map((c) => c.score), original.map((c) => c.score), 'the adapter changes the model');
      await page.locator('safer-clip-demo').screenshot({ path: join(ARTIFACTS, 'embed-cross-origin.png') });
      assert.deepEqual(logs.filter((line) => line.startsWith('pageerror')), []);
      await page.close();
    } finally {
      site.close();
    }
  });
});
