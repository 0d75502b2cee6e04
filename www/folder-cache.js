// @ts-check
// What this browser keeps of a folder of the visitor's images (IndexedDB), so that a reload does
// not embed them again: each image's embedding per model (by the weights' hash and the backend,
// as the caption pool's are kept), a small thumbnail per image, and the list of the folder's
// images. The images themselves are never kept. An image is known by its path in the folder, its
// size and its modification time: a changed file is a new image. Runs in the worker.

const DATABASE = 'safer-clip-folder';
const EMBEDDINGS = 'embeddings';
const THUMBNAILS = 'thumbnails';
const FOLDER = 'folder';
const LIST = 'images';

/**
 * An image of the folder as the browser describes its file.
 * @typedef {{ path: string, size: number, lastModified: number }} ImageFile
 * The folder's list as kept: each image, and why it was skipped (null: it was not).
 * @typedef {{ images: (ImageFile & { skipped: string | null })[] }} KeptFolder
 */

/**
 * An image's key: its path, size and modification time.
 * @param {ImageFile} file
 */
export function imageKey({ path, size, lastModified }) {
  return JSON.stringify([path, size, lastModified]);
}

/**
 * Where an image's embedding by a model is kept: by the model's weights (their SHA-256), the
 * backend that embedded it, and the image's key.
 * @param {{ weights: string, backend: string, image: string }} what `image`: imageKey's
 */
export function embeddingKey({ weights, backend, image }) {
  return JSON.stringify([weights, backend, image]);
}

/** The database, or null where the browser withholds IndexedDB (some private windows). */
export async function openFolderCache() {
  try {
    return await new Promise((resolve, reject) => {
      const request = indexedDB.open(DATABASE, 1);
      request.onupgradeneeded = () => {
        for (const store of [EMBEDDINGS, THUMBNAILS, FOLDER]) request.result.createObjectStore(store);
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  } catch {
    return null;
  }
}

/**
 * The embeddings kept under `keys` (embeddingKey's), null where none is.
 * @param {IDBDatabase} db
 * @param {string[]} keys
 * @returns {Promise<(Float32Array | null)[]>}
 */
export function keptEmbeddings(db, keys) {
  const store = db.transaction(EMBEDDINGS).objectStore(EMBEDDINGS);
  return Promise.all(keys.map((key) => request(store.get(key)).then((value) => (value instanceof Float32Array ? value : null))));
}

/**
 * Which of the images (imageKey's) have a thumbnail kept.
 * @param {IDBDatabase} db
 * @param {string[]} images
 * @returns {Promise<boolean[]>}
 */
export function haveThumbnails(db, images) {
  const store = db.transaction(THUMBNAILS).objectStore(THUMBNAILS);
  return Promise.all(images.map((key) => request(store.getKey(key)).then((found) => found !== undefined)));
}

/**
 * The thumbnails of the images (imageKey's), null where none is kept.
 * @param {IDBDatabase} db
 * @param {string[]} images
 * @returns {Promise<(Blob | null)[]>}
 */
export function keptThumbnails(db, images) {
  const store = db.transaction(THUMBNAILS).objectStore(THUMBNAILS);
  return Promise.all(images.map((key) => request(store.get(key)).then((value) => (value instanceof Blob ? value : null))));
}

/**
 * Keeps a batch of embeddings and thumbnails, in one transaction.
 * @param {IDBDatabase} db
 * @param {{ embeddings: [string, Float32Array][], thumbnails: [string, Blob][] }} batch keyed by
 *   embeddingKey's and imageKey's
 */
export function keepBatch(db, { embeddings, thumbnails }) {
  const transaction = db.transaction([EMBEDDINGS, THUMBNAILS], 'readwrite');
  for (const [key, data] of embeddings) transaction.objectStore(EMBEDDINGS).put(data, key);
  for (const [key, blob] of thumbnails) transaction.objectStore(THUMBNAILS).put(blob, key);
  return done(transaction);
}

/** @param {IDBDatabase} db @returns {Promise<KeptFolder | null>} */
export function keptFolder(db) {
  return request(db.transaction(FOLDER).objectStore(FOLDER).get(LIST)).then((value) => value ?? null);
}

/**
 * @param {IDBDatabase} db
 * @param {KeptFolder} folder
 */
export function keepFolder(db, folder) {
  const transaction = db.transaction(FOLDER, 'readwrite');
  transaction.objectStore(FOLDER).put(folder, LIST);
  return done(transaction);
}

/**
 * Forgets the embeddings and thumbnails of images that are no longer in the folder.
 * @param {IDBDatabase} db
 * @param {Set<string>} images the folder's images (imageKey's)
 */
export function keepOnly(db, images) {
  const transaction = db.transaction([EMBEDDINGS, THUMBNAILS], 'readwrite');
  /**
   * @param {string} store
   * @param {(key: string) => string} image the image a key is of
   */
  const prune = (store, image) => {
    const cursor = transaction.objectStore(store).openKeyCursor();
    cursor.onsuccess = () => {
      const at = cursor.result;
      if (!at) return;
      if (!images.has(image(String(at.key)))) transaction.objectStore(store).delete(at.key);
      at.continue();
    };
  };
  prune(EMBEDDINGS, (key) => JSON.parse(key)[2]);
  prune(THUMBNAILS, (key) => key);
  return done(transaction);
}

/**
 * Forgets the folder: its list, and every embedding and thumbnail kept of it.
 * @param {IDBDatabase} db
 */
export function forgetFolder(db) {
  const transaction = db.transaction([EMBEDDINGS, THUMBNAILS, FOLDER], 'readwrite');
  for (const store of [EMBEDDINGS, THUMBNAILS, FOLDER]) transaction.objectStore(store).clear();
  return done(transaction);
}

/**
 * @template T
 * @param {IDBRequest<T>} pending
 * @returns {Promise<T>}
 */
function request(pending) {
  return new Promise((resolve, reject) => {
    pending.onsuccess = () => resolve(pending.result);
    pending.onerror = () => reject(pending.error);
  });
}

/** @param {IDBTransaction} transaction */
function done(transaction) {
  return new Promise((resolve, reject) => {
    transaction.oncomplete = () => resolve(undefined);
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error ?? new Error('the transaction was aborted'));
  });
}
