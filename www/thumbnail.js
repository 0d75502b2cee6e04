// @ts-check
// A small JPEG of an image, to show it in a result list without keeping the image: decoded once,
// drawn at most `size` pixels on its longer side, and the decoded picture let go at once. Works
// in a worker (OffscreenCanvas).

const QUALITY = 0.8;

/**
 * @param {Blob} image PNG, JPEG or WebP
 * @param {number} [size] the longer side, in pixels
 * @returns {Promise<Blob>} rejects when the browser cannot decode the image
 */
export async function thumbnail(image, size = 96) {
  const bitmap = await createImageBitmap(image);
  try {
    const scale = Math.min(1, size / Math.max(bitmap.width, bitmap.height));
    const width = Math.max(1, Math.round(bitmap.width * scale));
    const height = Math.max(1, Math.round(bitmap.height * scale));
    const canvas = new OffscreenCanvas(width, height);
    const context = /** @type {OffscreenCanvasRenderingContext2D} */ (canvas.getContext('2d'));
    context.imageSmoothingQuality = 'high';
    context.drawImage(bitmap, 0, 0, width, height);
    return await canvas.convertToBlob({ type: 'image/jpeg', quality: QUALITY });
  } finally {
    bitmap.close();
  }
}
