// @ts-check
// Drop targets for files, beside the file inputs that keyboard and touch users pick with, and
// the image files among those dropped or picked.

import { showBanner } from './banners.js';
import { IMAGE_TYPES } from './image-types.js';

/**
 * Makes `zone` take dropped files, with a visual cue while something is dragged over it.
 * @param {HTMLElement} zone
 * @param {(files: File[]) => void} onFiles
 */
export function acceptDrops(zone, onFiles) {
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('drag-over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('drag-over'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('drag-over');
    onFiles([...(event.dataTransfer?.files ?? [])]);
  });
}

/**
 * The images among `files`; the others are named in a warning banner (`key`) saying what only
 * images can be (`purpose`: "added", "classified").
 * @param {File[]} files
 * @param {{ key: string, purpose: string }} banner
 */
export function imageFiles(files, { key, purpose }) {
  const skipped = files.filter((file) => !IMAGE_TYPES.has(file.type));
  if (skipped.length > 0) {
    showBanner({
      key,
      kind: 'warning',
      title: 'Some files were not added',
      message: `Only PNG, JPEG and WebP images can be ${purpose}: ${skipped.map((file) => file.name).join(', ')}.`,
    });
  }
  return files.filter((file) => IMAGE_TYPES.has(file.type));
}
