// @ts-check
// The caption pool's embeddings, kept in this browser (Cache API) per model, pool and backend, so
// that a second visit restores them instead of embedding the pool again. A model is known by a
// hash of its weights, a pool by a hash of its captions. Runs in the worker.

const POOL_CACHE = 'safer-clip-pools-v1';

/** @typedef {{ rows: number, cols: number, data: Float32Array }} Embeddings */

/**
 * The SHA-256 of `bytes`, in hex.
 * @param {BufferSource} bytes
 */
export async function sha256(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/**
 * Where a pool's embeddings are kept: by the model's weights, the captions (in order) and the
 * backend that embedded them.
 * @param {{ weights: string, captions: string[], backend: string }} what `weights`: sha256 of
 *   the weights file
 */
export async function poolKey({ weights, captions, backend }) {
  const pool = await sha256(new TextEncoder().encode(JSON.stringify(captions)));
  return `/pool/${weights}/${pool}/${backend}`;
}

/**
 * @param {string} key
 * @returns {Promise<Embeddings | null>} the embeddings kept under `key`, or null
 */
export async function keptEmbeddings(key) {
  const cache = await openPools();
  const response = await cache?.match(key);
  if (!response) return null;
  const rows = Number(response.headers.get('x-rows'));
  const cols = Number(response.headers.get('x-cols'));
  const data = new Float32Array(await response.arrayBuffer());
  return data.length === rows * cols ? { rows, cols, data } : null;
}

/**
 * @param {string} key
 * @param {Embeddings} embeddings
 */
export async function keepEmbeddings(key, { rows, cols, data }) {
  const cache = await openPools();
  await cache?.put(key, new Response(/** @type {Float32Array<ArrayBuffer>} */ (data), { headers: { 'x-rows': String(rows), 'x-cols': String(cols) } }));
}

/** The Cache API, or null where the browser withholds it (private windows, some embeds). */
async function openPools() {
  try {
    return await caches.open(POOL_CACHE);
  } catch {
    return null;
  }
}
