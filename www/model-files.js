// @ts-check
// Fetching a checkpoint's three files from wherever the user points: this server's models/
// folder, a folder at any URL (the embeddable element's `model` attribute), the Hugging Face hub
// (cached with the Cache API, so a second visit works offline; fp32 weights are kept as f16, half
// the disk, for a cosine of 1.000000 to the original), or files the user picked. A copy
// of the last model fetched from a server or folder is kept too, so that the model can be
// loaded again (on the other backend, or in a fresh worker after a GPU failure) without the
// network. Runs in the worker.

import { ClipError } from './errors.js';
import { safetensorsDtypes } from './safetensors.js';

/** @typedef {import('./clip-client.js').ModelSource} ModelSource */
/** @typedef {import('./clip-client.js').LoadProgress} LoadProgress */
/** @typedef {{ config: Uint8Array<ArrayBuffer>, weights: Uint8Array<ArrayBuffer>, tokenizer: Uint8Array<ArrayBuffer> }} ModelBytes */

const CONFIG = 'config.json';
const TOKENIZER = 'tokenizer.json';
const WEIGHTS = 'model.safetensors';

const HUB = 'https://huggingface.co';
const HUB_CACHE = 'safer-clip-hub-v1';
/** The last model fetched from a server or folder, by URL. */
const COPY_CACHE = 'safer-clip-model-copy-v1';
const HALVE_LIMIT = 1 << 30;
const REPO_ID = /^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/;
const PROGRESS_INTERVAL_MS = 100;

/**
 * @param {ModelSource} source
 * @param {(progress: LoadProgress) => void} onProgress
 * @param {{ again?: boolean, halve?: (weights: Uint8Array) => Uint8Array }} [options] `again`: the
 *   model was fetched before in this browser; read its kept copy when there is one. `halve`: the
 *   weights with their fp32 tensors stored as f16, for the hub cache
 * @returns {Promise<ModelBytes>}
 */
export async function fetchModelFiles(source, onProgress, { again = false, halve } = {}) {
  switch (source.kind) {
    case 'server':
    case 'url': {
      const folder = source.kind === 'server' ? new URL(`../models/${encodeURIComponent(source.name)}/`, self.location.href) : source.url;
      const download = source.kind === 'server'
        ? (/** @type {string} */ file) => fetchFromServer(source.name, file, onProgress)
        : (/** @type {string} */ file) => fetchFromFolder(source.url, file, onProgress);
      const copies = await openCache(COPY_CACHE, { fresh: !again });
      return fetchEach((file) => fetchCopied(new URL(file, folder).href, file, copies, download, onProgress));
    }
    case 'hub':
      if (!REPO_ID.test(source.repo)) {
        throw new ClipError('ModelFileMissing', `“${source.repo}” is not a Hugging Face repo id (like openai/clip-vit-base-patch32).`);
      }
      return fetchEach((file) => fetchFromHub(source.repo, file, onProgress, file === WEIGHTS ? halve : undefined));
    case 'files':
      return readPickedFiles(source.files, onProgress);
    default:
      throw new ClipError('ModelFileMissing', `unknown model source “${/** @type {{ kind: string }} */ (source).kind}”`);
  }
}

/** The small files first, so a wrong folder or repo fails before the large download. */
async function fetchEach(fetchFile) {
  const config = await fetchFile(CONFIG);
  const tokenizer = await fetchFile(TOKENIZER);
  const weights = await fetchFile(WEIGHTS);
  return { config, weights, tokenizer };
}

async function fetchFromServer(name, file, onProgress) {
  const url = new URL(`../models/${encodeURIComponent(name)}/${file}`, self.location.href);
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new ClipError('NetworkError', `Could not reach this server for models/${name}/${file} (${error.message}). Is ./build.sh --serve still running?`);
  }
  if (response.status === 404) {
    throw new ClipError('ModelFileMissing', `models/${name}/${file} is missing on this server. A model folder needs config.json, model.safetensors and tokenizer.json (see models/README.md).`);
  }
  if (!response.ok) {
    throw new ClipError('NetworkError', `This server answered ${response.status} ${response.statusText} for models/${name}/${file}.`);
  }
  return readStream(response.body, { file, total: contentLength(response) }, onProgress);
}

async function fetchFromFolder(folder, file, onProgress) {
  const url = new URL(file, folder.endsWith('/') ? folder : `${folder}/`);
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new ClipError('NetworkError', `Could not download ${url} (${error.message}). From another site, its server must allow cross-origin requests (CORS).`);
  }
  if (response.status === 404) {
    throw new ClipError('ModelFileMissing', `${url} is missing. A model folder needs config.json, model.safetensors and tokenizer.json.`);
  }
  if (!response.ok) {
    throw new ClipError('NetworkError', `${url} answered ${response.status} ${response.statusText}.`);
  }
  return readStream(response.body, { file, total: contentLength(response) }, onProgress);
}

/**
 * A file from its kept copy, or downloaded and kept.
 * @param {string} url
 * @param {string} file
 * @param {Cache | null} copies
 * @param {(file: string) => Promise<Uint8Array<ArrayBuffer>>} download
 * @param {(progress: LoadProgress) => void} onProgress
 */
async function fetchCopied(url, file, copies, download, onProgress) {
  const kept = await copies?.match(url);
  if (kept?.body) return readStream(kept.body, { file, total: contentLength(kept), cached: true }, onProgress);
  const bytes = await download(file);
  await copies?.put(url, new Response(bytes, { headers: { 'Content-Length': String(bytes.length) } })).catch((error) => {
    console.warn(`${file} was not kept (${error.message}); loading it again will fetch it again.`);
  });
  return bytes;
}

/**
 * A hub file from this browser's cache, or downloaded and cached (the weights through `halve`
 * when they hold fp32 tensors). This visit gets the bytes as downloaded.
 * @param {string} repo
 * @param {string} file
 * @param {(progress: LoadProgress) => void} onProgress
 * @param {((weights: Uint8Array) => Uint8Array) | undefined} halve
 */
async function fetchFromHub(repo, file, onProgress, halve) {
  const url = `${HUB}/${repo}/resolve/main/${file}`;
  const cache = await openCache(HUB_CACHE);
  const cached = await cache?.match(url);
  if (cached) return readStream(cached.body, { file, total: contentLength(cached), cached: true }, onProgress);

  const offlineHint = 'If you are offline or huggingface.co is blocked, get config.json, model.safetensors and tokenizer.json another way and open them under “Files on this computer”.';
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new ClipError('NetworkError', `Could not download ${file} from huggingface.co (${error.message}). ${offlineHint}`);
  }
  if (response.status === 401 || response.status === 403) {
    throw new ClipError('NetworkError', `huggingface.co refused ${repo}/${file} (${response.status}): the repo is gated or private. ${offlineHint}`);
  }
  if (response.status === 404) {
    throw new ClipError('ModelFileMissing', `${repo} has no ${file} on huggingface.co (404). Check the repo id: the app needs config.json, model.safetensors and tokenizer.json.`);
  }
  if (!response.ok) {
    throw new ClipError('NetworkError', `huggingface.co answered ${response.status} for ${repo}/${file}. ${offlineHint}`);
  }
  let bytes;
  try {
    bytes = await readStream(response.body, { file, total: contentLength(response) }, onProgress);
  } catch (error) {
    throw new ClipError('NetworkError', `The download of ${file} from huggingface.co broke off (${error.message}). ${offlineHint}`);
  }
  // Only a complete download is stored.
  const kept = halve ? halvedOrAsIs(bytes, halve, `${repo}/${file}`) : bytes;
  await cache?.put(url, new Response(kept, { headers: { 'Content-Length': String(kept.length) } })).catch((error) => {
    console.warn(`${repo}/${file} was not cached (${error.message}); it will be downloaded again next time.`);
  });
  return bytes;
}

/**
 * Weights with fp32 tensors, stored as f16; others as they are: weights in f16, bf16 or q8
 * already, weights the conversion refuses (a value beyond f16's range), and weights over
 * HALVE_LIMIT, whose conversion would need about twice their size in the core's memory while it
 * must still hold the model (WebAssembly's memory stops at 4 GiB and never shrinks).
 * @param {Uint8Array<ArrayBuffer>} weights
 * @param {(weights: Uint8Array) => Uint8Array} halve
 * @param {string} name for the console
 * @returns {Uint8Array<ArrayBuffer>}
 */
function halvedOrAsIs(weights, halve, name) {
  try {
    const dtypes = safetensorsDtypes(weights);
    if (!dtypes.has('F32') || dtypes.has('I8') || weights.length > HALVE_LIMIT) return weights;
    return /** @type {Uint8Array<ArrayBuffer>} */ (halve(weights));
  } catch (error) {
    console.warn(`${name} is cached as downloaded, not as f16: ${error.message}`);
    return weights;
  }
}

/**
 * A cache of the Cache API, emptied first when `fresh`; null where the browser withholds the
 * Cache API (private windows, some embeds).
 * @param {string} name
 * @param {{ fresh?: boolean }} [options]
 */
async function openCache(name, { fresh = false } = {}) {
  try {
    if (fresh) await caches.delete(name);
    return await caches.open(name);
  } catch {
    return null;
  }
}

/** @param {File[]} files */
async function readPickedFiles(files, onProgress) {
  const byName = new Map(files.map((f) => [f.name, f]));
  const weights = files.find((f) => f.name.endsWith('.safetensors'));
  const picked = { config: byName.get(CONFIG), tokenizer: byName.get(TOKENIZER), weights };
  const missing = [[CONFIG, picked.config], [TOKENIZER, picked.tokenizer], [WEIGHTS, picked.weights]]
    .filter(([, file]) => !file)
    .map(([name]) => name);
  if (missing.length > 0) {
    throw new ClipError('ModelFileMissing', `Missing ${missing.join(' and ')}: pick or drop config.json, model.safetensors and tokenizer.json together.`);
  }
  const read = (file) => readStream(file.stream(), { file: file.name, total: file.size }, onProgress);
  return { config: await read(picked.config), tokenizer: await read(picked.tokenizer), weights: await read(picked.weights) };
}

function contentLength(response) {
  const length = Number(response.headers.get('Content-Length'));
  return Number.isFinite(length) && length > 0 ? length : null;
}

/**
 * Reads a whole stream into one buffer, reporting progress at most every 100 ms.
 *
 * @param {ReadableStream<Uint8Array<ArrayBuffer>> | null} stream a response's body (null: none)
 * @param {{ file: string, total: number | null, cached?: boolean }} what `total` is the expected
 *   size; a compressed transfer may deliver more
 * @param {(progress: LoadProgress) => void} onProgress
 * @returns {Promise<Uint8Array<ArrayBuffer>>}
 */
async function readStream(stream, { file, total, cached = false }, onProgress) {
  if (!stream) throw new Error('the response has no body');
  let buffer = new Uint8Array(total ?? 1 << 20);
  let loaded = 0;
  let reportedAt = 0;
  const report = () => onProgress({ stage: 'fetch', file, loaded, total, cached });
  report();
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (loaded + value.length > buffer.length) {
      const grown = new Uint8Array(Math.max(buffer.length * 2, loaded + value.length));
      grown.set(buffer.subarray(0, loaded));
      buffer = grown;
    }
    buffer.set(value, loaded);
    loaded += value.length;
    if (performance.now() - reportedAt > PROGRESS_INTERVAL_MS) {
      reportedAt = performance.now();
      report();
    }
  }
  if (total !== null && loaded < total) {
    throw new Error(`received ${loaded} of ${total} bytes`);
  }
  total = loaded;
  report();
  return buffer.subarray(0, loaded);
}
