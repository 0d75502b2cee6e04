#!/usr/bin/env node
// safer-clip (Burn → wasm, WebGPU) beside @huggingface/transformers (ONNX Runtime Web, WebGPU and
// WASM back ends) in headless Chromium, on the same random ViT-B/32 CLIP (make_model.py).
//
//   python3 benches/browser/make_model.py      # → /tmp/safer-clip-bench-model
//   cd benches/browser && npm ci && npm run bench [-- options]
//
// Options:
//   --model DIR      the model folder (default /tmp/safer-clip-bench-model)
//   --gpu            a machine with a real GPU: no software-adapter flags
//   --only LIST      comma-separated backends: ours-gpu,ours-cpu,ours-cpu-mt,webgpu,wasm,wasm-mt
//                    (default all six; ours-cpu-mt is the multithreaded CPU module, pkg/threads/,
//                    wasm-mt is ONNX Runtime's WASM with a thread per core, wasm its own count)
//   --warmup N       unmeasured calls before each throughput figure (default 1)
//   --b1 N           measured calls at batch 1 (default 5)
//   --b32 N          measured calls of 32 texts (default 3)
//   --b32img N       measured calls of 32 images (default 2)
//   --steps N        measured LoRA steps after the first (default 3; --steps=-1 skips training)
//   (--b1/--b32/--b32img 0 skip that figure)
//   --pool N         safe captions embedded as the training pool (default 64)
//   --pairs N        the first N of the bundled pairs train (default all 346; a run embeds them
//                    with the frozen model when it is created, minutes on a software adapter)
//   --precision P    what ours computes in on the GPU: auto (f16 where the adapter has
//                    shader-f16), f32 or f16 (default auto)
//   --timeout S      per-backend limit in seconds (default 420)
//   --chromium PATH  (default /usr/bin/chromium)
//
// Prints one JSON line per measurement, then a table with ours / transformers.js ratios.
// Serves only 127.0.0.1, and aborts every request the page makes elsewhere.

import { createReadStream, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '../..');
const NODE_MODULES = join(HERE, 'node_modules');

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: '/tmp/safer-clip-bench-model' },
    gpu: { type: 'boolean', default: false },
    only: { type: 'string', default: 'ours-gpu,ours-cpu,ours-cpu-mt,webgpu,wasm,wasm-mt' },
    warmup: { type: 'string', default: '1' },
    b1: { type: 'string', default: '5' },
    b32: { type: 'string', default: '3' },
    b32img: { type: 'string', default: '2' },
    steps: { type: 'string', default: '3' },
    pool: { type: 'string', default: '64' },
    pairs: { type: 'string', default: '0' },
    precision: { type: 'string', default: 'auto' },
    timeout: { type: 'string', default: '420' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
  },
});

const counts = {
  warmup: +args.warmup, b1: +args.b1, b32: +args.b32, b32img: +args.b32img, steps: +args.steps,
};
const opts = {
  counts, images: 64, poolSize: +args.pool, pairs: +args.pairs, trainBatch: 8, precision: args.precision,
};

const MODEL = resolve(args.model);
const BACKENDS = args.only.split(',').map((s) => s.trim());
// The ONNX export is for transformers.js alone: ours reads the safetensors.
const ONNX = BACKENDS.some((b) => !b.startsWith('ours-')) ? ['onnx/text_model.onnx', 'onnx/vision_model.onnx'] : [];
for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', ...ONNX]) {
  if (!existsSync(join(MODEL, f))) {
    console.error(`${join(MODEL, f)} is missing: run python3 benches/browser/make_model.py first`);
    process.exit(2);
  }
}
if (!existsSync(join(REPO, 'pkg/safer_clip_bg.wasm'))) {
  console.error(`${REPO}/pkg is not built: run ./build.sh at the repo root`);
  process.exit(2);
}

// URL prefix → folder. Nothing else is served.
const ROUTES = {
  '/pkg/': join(REPO, 'pkg'),
  '/www/': join(REPO, 'www'),
  '/data/': join(REPO, 'data'),
  '/models/bench/': MODEL,
  '/tfjs/': join(NODE_MODULES, '@huggingface/transformers/dist'),
  '/ort/': join(NODE_MODULES, 'onnxruntime-web/dist'),
  '/bench/': HERE,
};
const TYPES = {
  '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json',
  '.html': 'text/html', '.txt': 'text/plain', '.jsonl': 'text/plain', '.onnx': 'application/octet-stream',
  '.safetensors': 'application/octet-stream',
};
const PAGE = `<!doctype html><meta charset="utf-8"><title>safer-clip browser bench</title>
<script type="module">
  import * as bench from '/bench/page.js';
  window.bench = bench;
  window.benchReady = true;
</script>`;

function serve() {
  const server = createServer((req, res) => {
    // Cross-origin isolation: lets ONNX Runtime Web use its threaded wasm (SharedArrayBuffer).
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cache-Control': 'no-store',
    };
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (path === '/') {
      res.writeHead(200, { ...headers, 'Content-Type': 'text/html' });
      return res.end(PAGE);
    }
    const prefix = Object.keys(ROUTES).find((p) => path.startsWith(p));
    const file = prefix && normalize(join(ROUTES[prefix], path.slice(prefix.length)));
    if (!file || !file.startsWith(ROUTES[prefix]) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, headers);
      return res.end('not found\n');
    }
    res.writeHead(200, {
      ...headers,
      'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
      'Content-Length': statSync(file).size,
    });
    createReadStream(file).pipe(res);
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

const BASE_FLAGS = [
  '--headless=new', '--no-sandbox', '--enable-unsafe-webgpu',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
  '--disable-dev-shm-usage',
];
// No GPU: WebGPU on SwiftShader, Chromium's software adapter.
const SOFTWARE_FLAGS = ['--use-webgpu-adapter=swiftshader', '--enable-unsafe-swiftshader'];
// A real GPU on Linux: Vulkan, and no blocklist.
const GPU_FLAGS = ['--enable-features=Vulkan', '--ignore-gpu-blocklist'];

const results = [];
function print(line) {
  console.log(line);
  try {
    results.push(JSON.parse(line));
  } catch {
    /* not JSON */
  }
}

async function main() {
  const started = Date.now();
  const loadBefore = loadavg();
  const server = await serve();
  const url = `http://127.0.0.1:${server.address().port}/`;
  const flags = [...BASE_FLAGS, ...(args.gpu ? GPU_FLAGS : SOFTWARE_FLAGS)];
  const blocked = [];
  // A fresh browser per backend: a backend that times out leaves its queued GPU work running in
  // the browser's GPU process, which would slow the next one.
  const launch = async () => {
    const profile = mkdtempSync(join(tmpdir(), 'safer-clip-bench-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: args.chromium, args: flags, ignoreDefaultArgs: ['--headless'],
    });
    await context.route('**/*', (route) => {
      const u = new URL(route.request().url());
      if (u.hostname === '127.0.0.1' || u.protocol === 'blob:' || u.protocol === 'data:') return route.continue();
      blocked.push(u.href);
      return route.abort();
    });
    const close = async () => {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    };
    return { context, close };
  };

  const cpu = cpus();
  const env = {
    cpu: `${cpu[0]?.model} × ${cpu.length}`, load_avg_at_start: loadBefore.map((x) => +x.toFixed(2)),
    chromium: null, flags, counts, pool: opts.poolSize,
  };

  const newPage = async (context) => {
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') console.error(`  [console.${m.type()}] ${m.text().slice(0, 400)}`);
    });
    page.on('pageerror', (e) => console.error(`  [pageerror] ${e.message}`));
    await page.exposeFunction('report', print);
    await page.goto(url);
    await page.waitForFunction(() => window.benchReady === true);
    return page;
  };

  {
    const { context, close } = await launch();
    env.chromium = context.browser()?.version() ?? null;
    env.adapter = await (await newPage(context)).evaluate(() => window.bench.adapterInfo());
    await close();
  }
  print(JSON.stringify({ measure: 'environment', ...env }));

  for (const backend of BACKENDS) {
    const { context, close } = await launch();
    const page = await newPage(context);
    const t = Date.now();
    const ours = backend.startsWith('ours-');
    const run = ours
      ? page.evaluate(([b, o]) => window.bench.benchOursInWorker(b, o), [backend.slice('ours-'.length), opts])
      : page.evaluate(([d, o]) => window.bench.benchTransformers(d, o), [backend, opts]);
    let timer;
    const limit = new Promise((_, fail) => {
      timer = setTimeout(() => fail(new Error(`no result within --timeout ${args.timeout} s`)), +args.timeout * 1000);
    });
    const name = ours ? backend : `transformers.js-${backend}`;
    try {
      await Promise.race([run, limit]);
    } catch (e) {
      const done = results.filter((r) => r.backend === name).map((r) => r.measure);
      print(JSON.stringify({
        backend: name, measure: 'error', error: String(e?.message ?? e).slice(0, 2000),
        after: done.length ? done[done.length - 1] : 'nothing',
      }));
    } finally {
      clearTimeout(timer);
    }
    print(JSON.stringify({ backend: name, measure: 'backend_seconds', seconds: +((Date.now() - t) / 1000).toFixed(1) }));
    await close();
  }

  server.close();
  if (blocked.length) print(JSON.stringify({ measure: 'blocked_requests', urls: [...new Set(blocked)] }));
  const seconds = (Date.now() - started) / 1000;
  print(JSON.stringify({ measure: 'done', bench_seconds: +seconds.toFixed(1), load_avg_at_end: loadavg().map((x) => +x.toFixed(2)) }));
  table(env, seconds);
}

function table(env, seconds) {
  const get = (backend, measure) => results.find((r) => r.backend === backend && r.measure === measure);
  const rows = [
    ['time to first text result, ms', 'first_result', (r) => r.to_first_text_ms, 'lower'],
    ['time to first image result, ms', 'first_result', (r) => r.to_first_image_ms, 'lower'],
    ['texts/s, batch 1', 'texts_b1', (r) => r.per_s, 'higher'],
    ['texts/s, batch 32', 'texts_b32', (r) => r.per_s, 'higher'],
    ['images/s, batch 1', 'images_b1', (r) => r.per_s, 'higher'],
    ['images/s, batch 32', 'images_b32', (r) => r.per_s, 'higher'],
    ['LoRA training step, ms', 'train_step', (r) => r.median_ms, 'lower'],
  ];
  const cols = ['ours-gpu', 'ours-cpu', 'ours-cpu-mt', 'transformers.js-webgpu', 'transformers.js-wasm', 'transformers.js-wasm-mt'];
  const cell = (backend, measure, pick) => {
    const r = get(backend, measure);
    if (!r) return get(backend, 'error') ? 'not reached' : '—';
    if (r.error) return 'failed';
    if (r.unsupported) return 'n/a';
    if (r.skipped) return 'skipped';
    const v = pick(r);
    return v === undefined ? '—' : String(v);
  };
  // Measured calls per backend, in the columns' order.
  const runs = (measure) => {
    if (measure === 'first_result') return '1';
    return cols.map((b) => get(b, measure)?.runs ?? '-').join('/');
  };
  const ratio = (a, b) => (a && b && Number.isFinite(+a) && Number.isFinite(+b) ? (+a / +b).toFixed(2) : '—');
  // Each of ours beside its like: the GPU path beside ONNX Runtime's WebGPU, the one-thread CPU
  // path beside its WASM back end with its own thread count, the multithreaded one beside it with
  // a thread per core.
  const header = ['figure', 'runs (gpu/cpu/cpu-mt/tjs-gpu/tjs-wasm/tjs-wasm-mt)', ...cols.map((c) => c.replace('transformers.js', 'tjs')),
    'gpu ÷ tjs-webgpu', 'cpu ÷ tjs-wasm', 'cpu-mt ÷ tjs-wasm-mt'];
  const body = rows.map(([label, measure, pick]) => {
    const [g, c, t, w, m, mt] = cols.map((b) => cell(b, measure, pick));
    return [label, runs(measure), g, c, t, w, m, mt, ratio(g, w), ratio(c, m), ratio(t, mt)];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const fmt = (r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log('');
  console.log(`CPU: ${env.cpu}; load average at start ${env.load_avg_at_start.join(' ')}; bench ${seconds.toFixed(0)} s`);
  const a = env.adapter ?? {};
  console.log(`WebGPU adapter: ${a.error ?? `${a.vendor} / ${a.architecture} / ${a.device || '-'} / ${a.description || '-'}, fallback ${a.isFallbackAdapter}`}`);
  console.log(`Chromium ${env.chromium}; flags: ${env.flags.join(' ')}`);
  console.log('Ratios are ours ÷ transformers.js: above 1 means ours is faster for rates, slower for times.');
  console.log(`Medians after ${counts.warmup} warm-up call(s); "runs" = measured calls per figure (time to first result: one cold run).`);
  console.log('');
  console.log(fmt(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of body) console.log(fmt(r));
  for (const b of cols) {
    const e = get(b, 'error');
    if (e) console.log(`\n${b} failed after ${e.after} (later figures not reached): ${e.error}`);
  }
  for (const b of ['ours-gpu', 'ours-cpu', 'ours-cpu-mt']) {
    const train = get(b, 'train_step');
    if (train?.error) console.log(`\n${b}'s training step failed: ${train.error}`);
  }
  console.log('\ntransformers.js cannot train: it runs ONNX models for inference only, so it has no LoRA step.');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
