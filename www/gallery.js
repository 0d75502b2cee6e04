// @ts-check
// A gallery (the search panel's captions or images, or the folder of the visitor's images) lifted
// onto a HySAC tuned model's hyperboloid and kept in the worker, so that a prompt is ranked
// against it without the page sending the gallery again. Its items are known by ids, in order.

/** @typedef {import('../pkg/safer_clip.js').WebClip} WebClip */
/** @typedef {import('../pkg/safer_clip.js').HyperbolicPoints} HyperbolicPoints */

export class Gallery {
  /** @type {number[]} the page's ids of the points, row by row */
  ids = [];
  /** @type {HyperbolicPoints | null} */
  points = null;
  #images;

  /** @param {boolean} images whether it holds images (read against the bound for images) */
  constructor(images) {
    this.#images = images;
  }

  /**
   * Adds lifted points after those kept, and takes them over.
   * @param {number[]} ids one per point
   * @param {HyperbolicPoints} points
   */
  async add(ids, points) {
    if (this.points) {
      try {
        await this.points.append(points);
      } finally {
        points.free();
      }
    } else {
      this.points = points;
    }
    this.ids.push(...ids);
  }

  /**
   * Drops the points of `ids`: the others are kept, rebuilt from their rows.
   * @param {number[]} ids
   * @param {WebClip} model the HySAC model that lifted them
   */
  async remove(ids, model) {
    const points = this.points;
    const dropped = new Set(ids);
    if (!points || !this.ids.some((id) => dropped.has(id))) return;
    const matrix = await points.rows();
    const keep = this.ids.flatMap((id, row) => (dropped.has(id) ? [] : [row]));
    const data = new Float32Array(keep.length * matrix.cols);
    const rows = matrix.data;
    keep.forEach((row, i) => data.set(rows.subarray(row * matrix.cols, (row + 1) * matrix.cols), i * matrix.cols));
    const cols = matrix.cols;
    const keptIds = keep.map((row) => this.ids[row]);
    matrix.free();
    this.clear();
    if (keep.length === 0) return;
    this.points = model.hyperbolicPointsFromRows(data, cols, this.#images);
    this.ids = keptIds;
  }

  clear() {
    this.points?.free();
    this.points = null;
    this.ids = [];
  }
}
