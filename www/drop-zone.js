// @ts-check
// Drop targets for files, beside the file inputs that keyboard and touch users pick with.

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
