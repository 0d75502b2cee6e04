// The in-page half of bench.mjs: measures one backend per page (a fresh page each, so that the
// models never share GPU or wasm memory). Every figure goes to window.report (bound by bench.mjs
// to print a JSON line) as soon as it is measured. Ours runs in a dedicated worker, as the app's
// core does (www/worker.js): there a thread that waits for the others may block instead of spin.

const MODEL = '/models/bench';
const now = () => performance.now();
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function report(backend, measure, fields) {
  const line = { backend, measure, ...fields };
  if (typeof window === 'undefined') self.postMessage({ line: JSON.stringify(line) });
  else window.report?.(JSON.stringify(line));
  return line;
}

/** Runs {@link benchOurs} in a dedicated worker (ours-worker.js), passing its figures on. */
export function benchOursInWorker(backend, opts) {
  const worker = new Worker('/bench/ours-worker.js', { type: 'module' });
  return new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => {
      if (data.line) return window.report?.(data.line);
      worker.terminate();
      if ('error' in data) reject(new Error(data.error));
      else resolve(data.done);
    };
    worker.onerror = (event) => reject(new Error(`the bench worker failed: ${event.message}`));
    worker.postMessage({ backend, opts });
  });
}

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

async function fetchText(url) {
  return new TextDecoder().decode(await fetchBytes(url));
}

/** `count` distinct PNGs of `w`×`h`: gradients and noise, so every image is different. */
async function makeImages(count, w = 320, h = 240) {
  const images = [];
  for (let i = 0; i < count; i++) {
    const canvas = new OffscreenCanvas(w, h);
    const ctx = canvas.getContext('2d');
    const g = ctx.createLinearGradient(0, 0, w, h);
    g.addColorStop(0, `hsl(${(i * 37) % 360} 70% 50%)`);
    g.addColorStop(1, `hsl(${(i * 91 + 120) % 360} 60% 40%)`);
    ctx.fillStyle = g;
    ctx.fillRect(0, 0, w, h);
    const data = ctx.getImageData(0, 0, w, h);
    let seed = i + 1;
    for (let p = 0; p < data.data.length; p += 4) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      data.data[p] = (data.data[p] + (seed & 63)) & 255;
    }
    ctx.putImageData(data, 0, 0);
    const blob = await canvas.convertToBlob({ type: 'image/png' });
    images.push(new Uint8Array(await blob.arrayBuffer()));
  }
  return images;
}

export async function adapterInfo() {
  if (!navigator.gpu) return { error: 'navigator.gpu is undefined' };
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) return { error: 'no adapter granted' };
  const { vendor, architecture, device, description } = adapter.info;
  return {
    vendor, architecture, device, description,
    isFallbackAdapter: adapter.info.isFallbackAdapter ?? adapter.isFallbackAdapter ?? null,
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    crossOriginIsolated: self.crossOriginIsolated,
    hardwareConcurrency: navigator.hardwareConcurrency,
    userAgent: navigator.userAgent,
  };
}

/**
 * Runs `fn(i)` `warmup` times unmeasured, then `runs` times measured; reports the median.
 * `items`: texts or images per call, for the per-second rate.
 */
async function throughput(backend, measure, items, warmup, runs, fn) {
  if (runs <= 0) return report(backend, measure, { batch: items, skipped: 'runs set to 0' });
  let k = 0;
  for (let i = 0; i < warmup; i++) await fn(k++);
  const ms = [];
  for (let i = 0; i < runs; i++) {
    const t = now();
    await fn(k++);
    ms.push(now() - t);
  }
  const med = median(ms);
  return report(backend, measure, {
    batch: items, warmup, runs, median_ms: +med.toFixed(1),
    per_s: +((items * 1000) / med).toFixed(3), all_ms: ms.map((x) => +x.toFixed(1)),
  });
}

/** Texts for call `k` of a batch of `n`: distinct captions, so nothing can be cached. */
const textsFor = (captions, n, k) => Array.from({ length: n }, (_, j) => captions[(k * n + j) % captions.length]);
const imagesFor = (images, n, k) => Array.from({ length: n }, (_, j) => images[(k * n + j) % images.length]);

/**
 * Ours: the wasm core in pkg/, used as www/worker.js uses it, on `backend`: 'gpu' (Burn's
 * WebGPU backend), 'cpu' (Burn's flex backend in wasm, SIMD, one thread) or 'cpu-mt' (the
 * multithreaded CPU module in pkg/threads/, a thread per core).
 */
export async function benchOurs(backend, opts) {
  const B = `ours-${backend}`;
  const t0 = now();
  const threaded = backend === 'cpu-mt';
  const wasm = await import(threaded ? '/pkg/threads/safer_clip.js' : '/pkg/safer_clip.js');
  await wasm.default();
  if (threaded) {
    await wasm.initThreadPool(navigator.hardwareConcurrency);
    backend = 'cpu';
  }
  const [config, weights, tokenizer] = await Promise.all(
    ['config.json', 'model.safetensors', 'tokenizer.json'].map((f) => fetchBytes(`${MODEL}/${f}`)));
  const tFetched = now();
  const clip = await wasm.WebClip.load(config, weights, tokenizer, backend, backend === 'gpu' ? opts.precision : 'f32');
  const tLoaded = now();
  // As the app does right after a load: the first search then pays no shader compilation.
  await clip.warmUp();
  const warmUp = now() - tLoaded;
  const captions = (await fetchText('/data/safe_pool.txt')).split('\n').map((s) => s.trim()).filter(Boolean);
  const images = await makeImages(opts.images);
  const tPrep = now() - tLoaded - warmUp;

  let t = now();
  const first = await clip.embedTexts([captions[0]]);
  const firstText = now() - t;
  t = now();
  const firstImg = await clip.embedImages([images[0]]);
  const firstImage = now() - t;
  const load = tLoaded - t0 + warmUp;
  report(B, 'first_result', {
    init_and_fetch_ms: +(tFetched - t0).toFixed(0), load_ms: +(tLoaded - tFetched).toFixed(0), warm_up_ms: +warmUp.toFixed(0),
    first_text_call_ms: +firstText.toFixed(0), first_image_call_ms: +firstImage.toFixed(0),
    to_first_text_ms: +(load + firstText).toFixed(0),
    to_first_image_ms: +(load + firstText + firstImage).toFixed(0),
    dims: [first.cols, firstImg.cols], precision: clip.precision, note: `${tPrep.toFixed(0)} ms of test-data preparation excluded`,
  });

  const c = opts.counts;
  await throughput(B, 'texts_b1', 1, c.warmup, c.b1, (k) => clip.embedTexts(textsFor(captions, 1, k)));
  await throughput(B, 'texts_b32', 32, c.warmup, c.b32, (k) => clip.embedTexts(textsFor(captions, 32, k + 1)));
  await throughput(B, 'images_b1', 1, c.warmup, c.b1, (k) => clip.embedImages(imagesFor(images, 1, k)));
  await throughput(B, 'images_b32', 32, c.warmup, c.b32img, (k) => clip.embedImages(imagesFor(images, 32, k)));

  // LoRA training: the app's "safer" run on the bundled pairs, its pool a slice of the bundled
  // safe captions (the whole 2400-caption pool takes too long to embed on a software adapter).
  if (c.steps < 0) return report(B, 'train_step', { skipped: 'steps set to -1' });
  try {
    const lines = (await fetchText('/data/pairs.jsonl')).split('\n').filter((l) => l.trim());
    const pairs = (opts.pairs > 0 ? lines.slice(0, opts.pairs) : lines).join('\n');
    let t1 = now();
    const pool = clip.createPool(captions.slice(0, opts.poolSize));
    await clip.extendPool(pool, opts.poolSize);
    const trainer = await wasm.WebTrainer.create(clip, pairs, pool, {
      method: 'safer', maxSteps: c.steps + 1, batchSize: opts.trainBatch,
    });
    const create = now() - t1;
    const ms = [];
    let last;
    for (let i = 0; i < c.steps + 1; i++) {
      t1 = now();
      last = await trainer.step();
      ms.push(now() - t1);
      if (last === null) throw new Error(`the run stopped after ${i} steps`);
    }
    const med = median(ms.slice(1));
    report(B, 'train_step', {
      method: 'safer', batch: opts.trainBatch, pool: opts.poolSize, pairs: pairs.split('\n').length,
      create_ms: +create.toFixed(0),
      first_step_ms: +ms[0].toFixed(0), runs: c.steps, median_ms: +med.toFixed(0),
      all_ms: ms.slice(1).map((x) => +x.toFixed(0)), loss: last?.loss,
    });
  } catch (e) {
    report(B, 'train_step', { error: String(e?.message ?? e) });
  }
  return 'done';
}

/**
 * transformers.js (ONNX Runtime Web) on `device` ('webgpu' | 'wasm' | 'wasm-mt'), fp32 like ours.
 * 'wasm' keeps ONNX Runtime's own thread count (half the cores, at most 4); 'wasm-mt' asks for a
 * thread per core, as ours-cpu-mt has.
 */
export async function benchTransformers(device, opts) {
  const B = `transformers.js-${device}`;
  const threads = device === 'wasm-mt' ? navigator.hardwareConcurrency : undefined;
  if (threads) device = 'wasm';
  const t0 = now();
  const T = await import('/tfjs/transformers.js');
  const { env } = T;
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = '/models/';
  env.useBrowserCache = false;
  env.useWasmCache = false;
  const ort = env.backends.onnx;
  ort.wasm.wasmPaths = {
    mjs: new URL('/ort/ort-wasm-simd-threaded.asyncify.mjs', location.href).href,
    wasm: new URL('/ort/ort-wasm-simd-threaded.asyncify.wasm', location.href).href,
  };
  if (threads) ort.wasm.numThreads = threads;
  const options = { device, dtype: 'fp32' };
  const [tokenizer, processor, textModel, visionModel] = await Promise.all([
    T.AutoTokenizer.from_pretrained('bench'),
    T.AutoProcessor.from_pretrained('bench'),
    T.CLIPTextModelWithProjection.from_pretrained('bench', options),
    T.CLIPVisionModelWithProjection.from_pretrained('bench', options),
  ]);
  const tLoaded = now();
  const captions = (await fetchText('/data/safe_pool.txt')).split('\n').map((s) => s.trim()).filter(Boolean);
  const images = await makeImages(opts.images);
  const tPrep = now() - tLoaded;

  // The same work as ours: strings → tokens → unit embeddings; PNG bytes → decode, resize,
  // crop, normalise → unit embeddings, read back to the CPU.
  const embedTexts = async (texts) => {
    const inputs = tokenizer(texts, { padding: true, truncation: true });
    const { text_embeds } = await textModel(inputs);
    return text_embeds.normalize(2, -1).tolist();
  };
  const embedImages = async (pngs) => {
    const raw = await Promise.all(pngs.map((b) => T.RawImage.fromBlob(new Blob([b], { type: 'image/png' }))));
    const { pixel_values } = await processor(raw);
    const { image_embeds } = await visionModel({ pixel_values });
    return image_embeds.normalize(2, -1).tolist();
  };

  let t = now();
  const first = await embedTexts([captions[0]]);
  const firstText = now() - t;
  t = now();
  const firstImg = await embedImages([images[0]]);
  const firstImage = now() - t;
  const load = tLoaded - t0;
  report(B, 'first_result', {
    load_ms: +load.toFixed(0), first_text_call_ms: +firstText.toFixed(0), first_image_call_ms: +firstImage.toFixed(0),
    to_first_text_ms: +(load + firstText).toFixed(0),
    to_first_image_ms: +(load + firstText + firstImage).toFixed(0),
    dims: [first[0].length, firstImg[0].length],
    ort: { numThreads: ort.wasm.numThreads ?? null, version: ort.versions?.web ?? null },
    note: `${tPrep.toFixed(0)} ms of test-data preparation excluded`,
  });

  const c = opts.counts;
  await throughput(B, 'texts_b1', 1, c.warmup, c.b1, (k) => embedTexts(textsFor(captions, 1, k)));
  await throughput(B, 'texts_b32', 32, c.warmup, c.b32, (k) => embedTexts(textsFor(captions, 32, k + 1)));
  await throughput(B, 'images_b1', 1, c.warmup, c.b1, (k) => embedImages(imagesFor(images, 1, k)));
  await throughput(B, 'images_b32', 32, c.warmup, c.b32img, (k) => embedImages(imagesFor(images, 32, k)));
  report(B, 'train_step', { unsupported: 'transformers.js runs inference only: it cannot train (no LoRA step)' });
  return 'done';
}
