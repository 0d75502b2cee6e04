// @ts-check
// A folder of the visitor's own images in the worker, to search by text or by image: embedded in
// batches as background work (as many images as fit a turn, turn-size.js, so the visitor's
// requests wait for one batch at most), each batch's embeddings and small thumbnails kept in this
// browser (folder-cache.js) so that a reload restores them instead of embedding them again. The
// images themselves are read one batch at a time and let go; only their File handles are held,
// and after a reload not even those. An image the model cannot read is skipped with its reason,
// and the rest go on. Beside the original model's embeddings, the tuned model (at the dial's
// strength) embeds the images it has files for, or, a HySAC model, lifts them and reads each one
// as safe or unsafe; those are kept in memory only.

import { settleEach } from './batches.js';
import { isInputError } from './core-errors.js';
import { ClipError } from './errors.js';
import {
  embeddingKey, forgetFolder, haveThumbnails, imageKey, keepBatch, keepFolder, keepOnly, keptEmbeddings, keptFolder, keptThumbnails,
  openFolderCache,
} from './folder-cache.js';
import { Gallery } from './gallery.js';
import { IMAGE_TYPES } from './image-types.js';
import { cosine } from './ranking.js';
import { thumbnail } from './thumbnail.js';

/** @typedef {import('./scheduler.js').WorkContext} WorkContext */
/** @typedef {import('./protocol.js').Reading} Reading */
/** @typedef {import('./protocol.js').FolderSummary} FolderSummary */
/** @typedef {import('./protocol.js').FolderSearch} FolderSearch */
/** @typedef {import('../pkg/safer_clip.js').WebClip} WebClip */
/**
 * An image of the folder: its file (null once the page reloaded: only what was kept is left), its
 * embeddings by the original and the tuned model, a HySAC tuned model's reading of it, and why it
 * was skipped (null: it was not).
 * @typedef {{ id: number, key: string, path: string, size: number, lastModified: number, file: File | null,
 *   original: Float32Array | null, tuned: Float32Array | null, reading: Reading | null, skipped: string | null }} FolderImage
 */

const JOBS = /** @type {const} */ ({ original: 'folder:original', tuned: 'folder:tuned' });

export class FolderWork {
  #context;
  /** @type {FolderImage[]} in the order they came; an image's id is its place here */
  #images = [];
  /** The images a HySAC tuned model lifted, by id. */
  #lifted = new Gallery(true);
  /** Whether the tuned model will stay: not while a run steps, each step replacing it. */
  #tunedFinal = true;
  /** Whether the original model's embedding was stopped by the visitor. */
  #cancelled = false;
  /** @type {Promise<IDBDatabase | null> | null} */
  #db = null;

  /** @param {WorkContext} context */
  constructor(context) {
    this.#context = context;
  }

  /**
   * Adds files to the folder (with `replace`, in place of it, and what this browser kept of the
   * previous folder goes): those kept before are restored, the others embedded in the
   * background. A file of another type than PNG, JPEG or WebP is listed as skipped.
   * @param {File[]} files
   * @param {{ replace: boolean }} options
   * @returns {Promise<FolderSummary & { restored: number }>}
   */
  async add(files, { replace }) {
    this.#context.session.loadedModel();
    if (replace) this.#clear();
    else await this.#readKeptList();
    const byKey = new Map(this.#images.map((image) => [image.key, image]));
    for (const file of files) {
      const described = { path: file.webkitRelativePath || file.name, size: file.size, lastModified: file.lastModified };
      const key = imageKey(described);
      const known = byKey.get(key);
      if (known) {
        known.file = file;
        continue;
      }
      const image = {
        id: this.#images.length, key, ...described, file, original: null, tuned: null, reading: null,
        skipped: IMAGE_TYPES.has(file.type) ? null : 'not a PNG, JPEG or WebP image',
      };
      this.#images.push(image);
      byKey.set(key, image);
    }
    await this.#keepList();
    const db = await this.#cache();
    if (replace && db) {
      await keepOnly(db, new Set(this.#images.map((image) => image.key)))
        .catch((error) => console.warn(`What was kept of the previous folder stays (${error.message}).`));
    }
    return this.update();
  }

  /**
   * Brings the folder up to date with the loaded model: reads the list this browser kept when
   * there is none yet (after a reload), restores the embeddings kept for this model, and embeds
   * the rest of the images it has files for in the background.
   * @returns {Promise<FolderSummary & { restored: number }>} `restored`: the embeddings restored now
   */
  async update() {
    const model = this.#context.session.loadedModel();
    await this.#readKeptList();
    const missing = this.#images.filter((image) => !image.original && !image.skipped);
    const db = await this.#cache();
    let restored = 0;
    if (db && missing.length > 0) {
      const keys = missing.map((image) => this.#embeddingKey(image, model));
      const kept = await keptEmbeddings(db, keys).catch(() => keys.map(() => null));
      missing.forEach((image, i) => {
        image.original = kept[i];
        if (kept[i]) restored++;
      });
    }
    this.#cancelled = false;
    this.#schedule();
    return { ...this.#summary(), restored };
  }

  /** Stops embedding; what is embedded stays searchable, and `update` goes on. */
  cancel() {
    this.#context.cancel(JOBS.original);
    this.#context.cancel(JOBS.tuned);
    this.#cancelled = true;
    return this.#summary();
  }

  /** Forgets the folder, here and in this browser. */
  async forget() {
    this.#clear();
    const db = await this.#cache();
    if (db) await forgetFolder(db);
    return this.#summary();
  }

  /**
   * The loaded model changed: every embedding goes (those of the new model are restored or made
   * by `update`).
   */
  modelChanged() {
    this.#context.cancel(JOBS.original);
    this.#context.cancel(JOBS.tuned);
    for (const image of this.#images) [image.original, image.tuned, image.reading] = [null, null, null];
    this.#lifted.clear();
  }

  /**
   * The tuned model changed: its embeddings go, and are made again in the background once the
   * model is `final` (not while a run steps).
   * @param {{ final: boolean }} options
   */
  tunedChanged({ final }) {
    this.#tunedFinal = final;
    this.#context.cancel(JOBS.tuned);
    for (const image of this.#images) [image.tuned, image.reading] = [null, null];
    this.#lifted.clear();
    this.#schedule();
  }

  /** Forgets every handle without freeing it (after a trap or a GPU failure). */
  abandon() {
    this.#images = [];
    this.#lifted = new Gallery(true);
  }

  /**
   * The images nearest to a text or to one of the folder's images, by the original model and by
   * the tuned model, over the images each has embedded so far. A HySAC tuned model ranks by
   * Lorentzian distance (texts only), moving an unsafe text to the safe region first with
   * `redirect`, and reads the text as safe or unsafe.
   * @param {{ text?: string, image?: number, k: number, redirect: boolean }} query
   * @returns {Promise<FolderSearch>}
   */
  async search({ text, image, k, redirect }) {
    const model = this.#context.session.loadedModel();
    const embedded = this.#images.filter((item) => item.original);
    const byImage = image === undefined ? null : this.#images[image];
    if (byImage === undefined || (byImage && !byImage.original)) {
      throw new ClipError('InvalidInput', 'That image is not embedded.');
    }
    const others = (/** @type {FolderImage[]} */ list) => list.filter((item) => item !== byImage);
    const originalQuery = byImage ? /** @type {Float32Array} */ (byImage.original) : await this.#embedText(model, /** @type {string} */ (text));
    const original = nearest(others(embedded), (item) => /** @type {Float32Array} */ (item.original), originalQuery, k);
    const tuned = this.#context.session.tuned;
    if (!tuned) return { original, tuned: null };
    if (tuned.isHyperbolic) {
      if (byImage || text === undefined) return { original, tuned: null };
      return { original, tuned: await this.#rankLifted(tuned, text, k, redirect) };
    }
    const withTuned = this.#images.filter((item) => item.tuned);
    const tunedQuery = byImage ? byImage.tuned : await this.#embedText(tuned, /** @type {string} */ (text));
    const found = tunedQuery ? nearest(others(withTuned), (item) => /** @type {Float32Array} */ (item.tuned), tunedQuery, k) : [];
    return { original, tuned: { hyperbolic: false, results: found, query: null, categories: null, redirected: null } };
  }

  /**
   * The kept thumbnails of images, by id (null: none kept, or the image is unknown).
   * @param {number[]} ids
   * @returns {Promise<{ id: number, thumbnail: Blob | null }[]>}
   */
  async thumbnails(ids) {
    const db = await this.#cache();
    const images = ids.map((id) => this.#images[id]);
    const blobs = db ? await keptThumbnails(db, images.map((image) => image?.key ?? '')) : ids.map(() => null);
    return ids.map((id, i) => ({ id, thumbnail: images[i] ? blobs[i] : null }));
  }

  /** The folder as the page shows it. */
  summary() {
    return this.#summary();
  }

  /** @returns {FolderSummary} */
  #summary() {
    const images = this.#images;
    const tuned = this.#context.session.tuned;
    const tunedDone = (/** @type {FolderImage} */ image) => (tuned?.isHyperbolic ? image.reading !== null : image.tuned !== null);
    const embeddable = images.filter((image) => !image.skipped);
    return {
      size: images.length,
      embedded: embeddable.filter((image) => image.original).length,
      pending: embeddable.filter((image) => !image.original && image.file).length,
      withoutFiles: embeddable.filter((image) => !image.file && !image.original).length,
      skipped: images.flatMap((image) => (image.skipped ? [{ id: image.id, path: image.path, reason: image.skipped }] : [])),
      cancelled: this.#cancelled,
      tuned: tuned ? {
        hyperbolic: tuned.isHyperbolic,
        embedded: embeddable.filter(tunedDone).length,
        embeddable: embeddable.filter((image) => image.file && image.original).length,
      } : null,
    };
  }

  #schedule() {
    if (this.#cancelled) return;
    if (this.#images.some((image) => image.file && !image.skipped && !image.original)) this.#context.background(JOBS.original, () => this.#embedOriginal());
    this.#scheduleTuned();
  }

  /** The tuned model's work, when it will stay and has images to embed. */
  #scheduleTuned() {
    const tuned = this.#context.session.tuned;
    if (this.#cancelled || !tuned || !this.#tunedFinal) return;
    if (this.#images.some((image) => image.file && !image.skipped && image.original && !this.#hasTuned(image, tuned))) {
      this.#context.background(JOBS.tuned, () => this.#embedTuned());
    }
  }

  /**
   * One batch more embedded by the original model and kept, with the thumbnails not kept yet;
   * says whether more is left.
   */
  async #embedOriginal() {
    const { clip: model, turns } = this.#context.session;
    if (!model) return false;
    const batch = this.#images.filter((image) => image.file && !image.original && !image.skipped).slice(0, turns.images.count);
    if (batch.length === 0) return false;
    const read = await this.#read(batch);
    const settled = await turns.images.time(read.length, () => settleEach(read, (some) => this.#embedImages(model, some), isInputError));
    if (this.#context.session.clip !== model) return false;
    /** @type {[string, Float32Array][]} */
    const embeddings = [];
    const embedded = /** @type {{ image: FolderImage, bytes: Uint8Array }[]} */ ([]);
    settled.forEach((result, i) => {
      const { image } = read[i];
      if (!result.ok) {
        image.skipped = /** @type {Error} */ (result.error).message;
        return;
      }
      image.original = result.value;
      embeddings.push([this.#embeddingKey(image, model), result.value]);
      embedded.push(read[i]);
    });
    await this.#keep(embeddings, embedded);
    if (batch.some((image) => image.skipped)) await this.#keepList();
    this.#progress();
    this.#scheduleTuned();
    return this.#images.some((image) => image.file && !image.original && !image.skipped);
  }

  /** One batch more embedded (or lifted and read) by the tuned model; says whether more is left. */
  async #embedTuned() {
    const { tuned, turns } = this.#context.session;
    if (!tuned || !this.#tunedFinal) return false;
    const batch = this.#images.filter((image) => image.file && image.original && !image.skipped && !this.#hasTuned(image, tuned))
      .slice(0, turns.images.count);
    if (batch.length === 0) return false;
    const read = await this.#read(batch);
    /** @type {(some: typeof read) => Promise<(Float32Array | Reading)[]>} */
    const embed = (some) => (tuned.isHyperbolic ? this.#lift(tuned, some) : this.#embedImages(tuned, some));
    const settled = await turns.images.time(read.length, () => settleEach(read, embed, isInputError));
    if (this.#context.session.tuned !== tuned) return false;
    settled.forEach((result, i) => {
      const { image } = read[i];
      if (!result.ok) image.skipped = /** @type {Error} */ (result.error).message;
      else if (result.value instanceof Float32Array) image.tuned = result.value;
      else image.reading = result.value;
    });
    this.#progress();
    return this.#images.some((image) => image.file && image.original && !image.skipped && !this.#hasTuned(image, tuned));
  }

  /**
   * The batch's files as bytes; a file that can no longer be read (moved, changed) is skipped.
   * @param {FolderImage[]} batch
   * @returns {Promise<{ image: FolderImage, bytes: Uint8Array }[]>}
   */
  async #read(batch) {
    const read = await Promise.all(batch.map(async (image) => {
      try {
        return { image, bytes: new Uint8Array(await /** @type {File} */ (image.file).arrayBuffer()) };
      } catch (error) {
        image.skipped = `could not be read (${error.message})`;
        return null;
      }
    }));
    return read.filter((item) => item !== null);
  }

  /**
   * Unit embeddings of images, one row each.
   * @param {WebClip} model
   * @param {{ bytes: Uint8Array }[]} images
   */
  async #embedImages(model, images) {
    const matrix = await this.#context.core(() => model.embedImages(images.map((image) => image.bytes)));
    try {
      const { cols } = matrix;
      const data = matrix.data;
      return images.map((_, i) => data.slice(i * cols, (i + 1) * cols));
    } finally {
      matrix.free();
    }
  }

  /**
   * Lifts images onto a HySAC model's hyperboloid, keeps their points for ranking, and reads each.
   * @param {WebClip} model
   * @param {{ image: FolderImage, bytes: Uint8Array }[]} images
   * @returns {Promise<Reading[]>}
   */
  async #lift(model, images) {
    const points = await this.#context.core(() => model.liftImages(images.map((image) => image.bytes)));
    let readings;
    try {
      readings = await this.#context.core(() => model.poolSafety(points));
    } catch (error) {
      points.free();
      throw error;
    }
    await this.#context.core(() => this.#lifted.add(images.map(({ image }) => image.id), points));
    return readings;
  }

  /**
   * A HySAC tuned model's ranking of the lifted images for a text.
   * @param {WebClip} model
   * @param {string} text
   * @param {number} k
   * @param {boolean} redirect
   * @returns {Promise<FolderSearch['tuned']>}
   */
  async #rankLifted(model, text, k, redirect) {
    const thresholds = model.thresholds;
    const categories = thresholds ? Object.keys(thresholds.by_category) : null;
    const point = await this.#context.core(() => model.liftTexts([text]));
    try {
      const points = this.#lifted.points;
      const ids = this.#lifted.ids;
      if (!points || ids.length === 0) {
        const [query] = await this.#context.core(() => model.poolSafety(point));
        return { hyperbolic: true, results: [], query, categories, redirected: null };
      }
      const found = await this.#context.core(() => model.retrieveHyperbolic(points, point, Math.min(k, ids.length), redirect));
      return {
        hyperbolic: true,
        results: found.results.map((/** @type {{ index: number, distance: number }} */ { index, distance }) => ({
          id: ids[index], path: this.#images[ids[index]].path, distance, reading: this.#images[ids[index]].reading,
        })),
        query: found.query,
        categories,
        redirected: found.redirected,
      };
    } finally {
      point.free();
    }
  }

  /**
   * @param {WebClip} model
   * @param {string} text
   */
  async #embedText(model, text) {
    const matrix = await this.#context.core(() => model.embedTexts([text]));
    try {
      return matrix.data;
    } finally {
      matrix.free();
    }
  }

  /**
   * Keeps a batch's embeddings, and thumbnails of its images that have none kept yet.
   * @param {[string, Float32Array][]} embeddings
   * @param {{ image: FolderImage, bytes: Uint8Array }[]} images
   */
  async #keep(embeddings, images) {
    const db = await this.#cache();
    if (!db) return;
    try {
      const have = await haveThumbnails(db, images.map(({ image }) => image.key));
      /** @type {[string, Blob][]} */
      const thumbnails = [];
      for (const [i, { image, bytes }] of images.entries()) {
        if (have[i]) continue;
        const made = await thumbnail(new Blob([/** @type {Uint8Array<ArrayBuffer>} */ (bytes)])).catch(() => null);
        if (made) thumbnails.push([image.key, made]);
      }
      await keepBatch(db, { embeddings, thumbnails });
    } catch (error) {
      console.warn(`A batch of the folder was not kept (${error.message}); a reload will embed it again.`);
    }
  }

  /**
   * @param {FolderImage} image
   * @param {WebClip} tuned
   */
  #hasTuned(image, tuned) {
    return tuned.isHyperbolic ? image.reading !== null : image.tuned !== null;
  }

  /**
   * @param {FolderImage} image
   * @param {WebClip} model
   */
  #embeddingKey(image, model) {
    return embeddingKey({ weights: this.#context.session.weights, backend: model.backend, image: image.key });
  }

  /** Keeps the folder's list, with the images skipped so far, in this browser. */
  async #keepList() {
    const db = await this.#cache();
    if (!db) return;
    await keepFolder(db, { images: this.#images.map(({ path, size, lastModified, skipped }) => ({ path, size, lastModified, skipped })) })
      .catch((error) => console.warn(`The folder's list was not kept (${error.message}); a reload will not restore it.`));
  }

  /** Reads the list this browser kept, when the folder holds nothing yet. */
  async #readKeptList() {
    if (this.#images.length > 0) return;
    const db = await this.#cache();
    const kept = db ? await keptFolder(db).catch(() => null) : null;
    this.#images = (kept?.images ?? []).map(({ path, size, lastModified, skipped }, id) => ({
      id, key: imageKey({ path, size, lastModified }), path, size, lastModified, file: null, original: null, tuned: null, reading: null, skipped,
    }));
  }

  #clear() {
    this.#context.cancel(JOBS.original);
    this.#context.cancel(JOBS.tuned);
    this.#images = [];
    this.#lifted.clear();
    this.#cancelled = false;
  }

  #progress() {
    this.#context.post({ event: 'folder', summary: this.#summary() });
  }

  #cache() {
    this.#db ??= openFolderCache();
    return this.#db;
  }
}

/**
 * The `k` images whose embeddings are nearest to `query` by cosine (embeddings have unit length),
 * nearest first.
 * @param {FolderImage[]} images
 * @param {(image: FolderImage) => Float32Array} embedding
 * @param {Float32Array} query
 * @param {number} k
 */
function nearest(images, embedding, query, k) {
  return images
    .map((image) => ({ id: image.id, path: image.path, score: cosine(query, embedding(image)) }))
    .sort((a, b) => b.score - a.score)
    .slice(0, k);
}
