#!/usr/bin/env node
// @ts-check
// Folder search in headless Chromium: picks a folder of generated pictures in the app, times
// their embedding (the original model, in batches as background work) and the restore after a
// reload, and reports the tab's peak memory while it embeds: the JavaScript heaps of the page and
// its worker (performance.measureUserAgentSpecificMemory, which also counts the WebAssembly
// core's memory), the page's own heap (CDP Performance.getMetrics), and the resident memory of
// this browser's renderer processes, where the page, its worker and the decoded images live
// (from /proc).
//
//   node benches/folder-search.mjs [--images 2000] [--size 160] [--model DIR] [--backend cpu|gpu]
//
// --model: a model folder (config.json, model.safetensors, tokenizer.json); default the tests'
// full-vocab fixture, whose tiny towers leave the timing to the page's own work (reading,
// thumbnails, keeping). Needs pkg/ (./build.sh), Chromium at /usr/bin/chromium (or CHROMIUM)
// and ../shared for the fixture's tokenizer. Prints one JSON object.

import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { CHROMIUM, TEST_POOL, browserSkipReason, loadFromServer, makeModelsDir, startServer } from '../tests/e2e/harness.mjs';
import { testPicture } from '../tests/e2e/png.mjs';

const { values: args } = parseArgs({
  options: {
    images: { type: 'string', default: '2000' },
    size: { type: 'string', default: '160' },
    model: { type: 'string' },
    backend: { type: 'string', default: 'cpu' },
    timeout: { type: 'string', default: '3600' },
  },
});
const COUNT = Number(args.images);
const SIZE = Number(args.size);
const TIMEOUT_MS = Number(args.timeout) * 1000;
const SAMPLE_MS = 500;

const missing = browserSkipReason();
if (missing) {
  console.error(`cannot run: ${missing}`);
  process.exit(2);
}

const root = mkdtempSync(join(tmpdir(), 'safer-clip-folder-bench-'));
const folder = join(root, 'pictures');
mkdirSync(folder);
for (let i = 0; i < COUNT; i++) writeFileSync(join(folder, `picture-${String(i).padStart(5, '0')}.png`), testPicture(i, SIZE));
const folderBytes = readdirSync(folder).reduce((sum, name) => sum + readFileSync(join(folder, name)).length, 0);

const models = makeModelsDir();
let modelName = 'full-vocab';
if (args.model) {
  modelName = 'bench';
  mkdirSync(join(models.root, modelName));
  for (const file of ['config.json', 'model.safetensors', 'tokenizer.json']) copyFileSync(join(args.model, file), join(models.root, modelName, file));
}
const server = await startServer(models.root);
const { chromium } = await import('playwright-core');
const profile = mkdtempSync(join(tmpdir(), 'safer-clip-bench-profile-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  ignoreDefaultArgs: ['--headless'],
  args: ['--headless=new', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--no-first-run', '--enable-blink-features=ForceEagerMeasureMemory', ...(args.backend === 'gpu' ? ['--enable-unsafe-webgpu'] : [])],
  viewport: { width: 1280, height: 900 },
});
await context.route('**/data/safe_pool.txt', (route) => route.fulfill({ headers: { 'Content-Type': 'text/plain' }, body: `${TEST_POOL.join('\n')}\n` }));

try {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  await page.goto(server.url);
  await loadFromServer(page, modelName, { backend: /** @type {'cpu' | 'gpu'} */ (args.backend) });
  await page.locator('#folder-input:enabled').waitFor({ timeout: 600_000 });

  const peak = { userAgentBytes: 0, pageHeapBytes: 0, rendererRssBytes: 0 };
  const sample = async () => {
    const measured = await page.evaluate(async () => (/** @type {any} */ (performance)).measureUserAgentSpecificMemory?.().then((/** @type {{ bytes: number }} */ m) => m.bytes).catch(() => null));
    const { metrics } = await cdp.send('Performance.getMetrics');
    const heap = metrics.find((metric) => metric.name === 'JSHeapUsedSize')?.value ?? 0;
    peak.userAgentBytes = Math.max(peak.userAgentBytes, measured ?? 0);
    peak.pageHeapBytes = Math.max(peak.pageHeapBytes, heap);
    peak.rendererRssBytes = Math.max(peak.rendererRssBytes, rendererRss());
  };
  await sample();
  const before = { ...peak };

  const started = Date.now();
  await page.setInputFiles('#folder-input', folder);
  const done = page.locator('#folder-status', { hasText: `${COUNT.toLocaleString('en')} files: ${COUNT.toLocaleString('en')} embedded` }).waitFor({ timeout: TIMEOUT_MS });
  let finished = false;
  done.then(() => { finished = true; }, () => { finished = true; });
  while (!finished) {
    await sample();
    await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
  }
  await done;
  const embedMs = Date.now() - started;
  await sample();

  await page.fill('#folder-query', 'a photo of a dog');
  const queried = Date.now();
  await page.locator('#folder-results li .score').first().waitFor({ timeout: 60_000 });
  const textQueryMs = Date.now() - queried;

  await page.reload();
  const reloaded = Date.now();
  await loadFromServer(page, modelName, { backend: /** @type {'cpu' | 'gpu'} */ (args.backend) });
  await page.locator('#folder-status', { hasText: `Restored ${COUNT.toLocaleString('en')} images’ embeddings` }).waitFor({ timeout: 600_000 });
  const restoreMs = Date.now() - reloaded;

  const mb = (/** @type {number} */ bytes) => Math.round((bytes / 2 ** 20) * 10) / 10;
  console.log(JSON.stringify({
    images: COUNT,
    image_px: SIZE,
    folder_mb: mb(folderBytes),
    model: modelName,
    backend: args.backend,
    chromium: context.browser()?.version() ?? null,
    embed_s: embedMs / 1000,
    images_per_s: Math.round((COUNT / (embedMs / 1000)) * 10) / 10,
    text_query_ms: textQueryMs,
    reload_to_restored_s: restoreMs / 1000,
    memory_mb: {
      before: { page_and_worker: mb(before.userAgentBytes), page_heap: mb(before.pageHeapBytes), renderers_rss: mb(before.rendererRssBytes) },
      peak: { page_and_worker: mb(peak.userAgentBytes), page_heap: mb(peak.pageHeapBytes), renderers_rss: mb(peak.rendererRssBytes) },
    },
  }, null, 2));
} finally {
  await context.close();
  server.stop();
  models.remove();
  rmSync(profile, { recursive: true, force: true });
  rmSync(root, { recursive: true, force: true });
}

/**
 * The resident memory of this browser's renderer processes together (descendants of this
 * process: other browsers on the machine are not counted), in bytes; 0 without /proc.
 */
function rendererRss() {
  const parents = new Map();
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      // The parent is the fourth field, after the command in parentheses.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      parents.set(Number(pid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // The process ended meanwhile.
    }
  }
  const ours = (/** @type {number} */ pid) => {
    for (let at = pid; at > 1; at = parents.get(at) ?? 0) if (at === process.pid) return true;
    return false;
  };
  let total = 0;
  for (const pid of parents.keys()) {
    if (!ours(pid)) continue;
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--type=renderer')) continue;
      total += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
    } catch {
      // The process ended meanwhile.
    }
  }
  return total;
}
