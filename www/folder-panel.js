// @ts-check
// The folder panel: search a folder of one's own images (picked, or dropped) by text or by image.
// The images are embedded in the worker's background, a batch at a time, with a progress bar and
// a way to stop; this browser keeps their embeddings and small thumbnails (never the images), so
// a reload searches them again at once. The original model's ranking stands beside the
// safety-tuned model's (at the dial's strength), a HySAC model's with its reading of the prompt
// and of each image. Only the thumbnails of the images shown are held, as object URLs.

import { clearBanner, showBanner } from './banners.js';
import { debounce } from './debounce.js';
import { $ } from './dom.js';
import { acceptDrops } from './drop-zone.js';
import { latestOnly } from './latest-only.js';
import { distanceLabel, imageBadge, note, scoreBar, showReading } from './result-items.js';

/** @typedef {import('./clip-client.js').ClipClient} ClipClient */
/** @typedef {import('./protocol.js').FolderSummary} FolderSummary */
/** @typedef {import('./protocol.js').FolderSearch} FolderSearch */
/** @typedef {import('./protocol.js').FolderHit} FolderHit */
/** @typedef {{ text: string } | { image: number, path: string }} FolderQuery */

/** Images shown per model. */
const SHOWN = 24;
const QUERY_DELAY_MS = 250;

/** @param {ClipClient} client */
export function setupFolderPanel(client) {
  const folderInput = $('folder-input', HTMLInputElement);
  const filesInput = $('folder-files', HTMLInputElement);
  const progressBox = $('folder-progress-box');
  const progressLabel = $('folder-progress-label');
  const progress = $('folder-progress', HTMLProgressElement);
  const cancelButton = $('folder-cancel', HTMLButtonElement);
  const continueButton = $('folder-continue', HTMLButtonElement);
  const status = $('folder-status');
  const skippedBox = $('folder-skipped', HTMLDetailsElement);
  const queryInput = $('folder-query', HTMLInputElement);
  const queryStatus = $('folder-query-status');
  const textSearchButton = $('folder-text-search', HTMLButtonElement);
  const hysacControls = $('folder-hysac');
  const safetyBadge = $('folder-safety');
  const redirectToggle = $('folder-redirect', HTMLInputElement);
  const originalResults = $('folder-results');
  const tunedColumn = $('folder-tuned');
  const tunedResults = $('folder-results-tuned');
  const forgetButton = $('folder-forget', HTMLButtonElement);

  let hasModel = false;
  /** Bumped when the model changes, so that answers about the previous one are dropped. */
  let generation = 0;
  /** @type {FolderSummary | null} */
  let summary = null;
  /** @type {FolderQuery | null} */
  let imageQuery = null;
  /** @type {FolderSearch | null} */
  let found = null;
  /** The thumbnails shown, as object URLs by image id (null: none kept); the others are revoked. */
  let thumbnails = new Map();

  /** @param {FolderSummary} next */
  function showSummary(next) {
    summary = next;
    const { size, embedded, pending, withoutFiles, skipped, cancelled, tuned } = next;
    const total = embedded + pending + skipped.length;
    const working = pending > 0 && !cancelled;
    progressBox.hidden = !working && !(cancelled && pending > 0);
    progress.max = Math.max(total, 1);
    progress.value = embedded + skipped.length;
    progressLabel.textContent = cancelled
      ? `Stopped: ${embedded.toLocaleString()} of ${total.toLocaleString()} images embedded.`
      : `Embedding your images: ${(embedded + skipped.length).toLocaleString()} of ${total.toLocaleString()}…`;
    cancelButton.hidden = !working;
    continueButton.hidden = !(cancelled && pending > 0);
    const lines = [];
    if (size > 0) lines.push(`${size.toLocaleString()} file${size > 1 ? 's' : ''}: ${embedded.toLocaleString()} embedded`
      + (skipped.length > 0 ? `, ${skipped.length} skipped` : '') + '.');
    if (withoutFiles > 0) {
      lines.push(`${withoutFiles.toLocaleString()} image${withoutFiles > 1 ? 's' : ''} from your last visit ${withoutFiles > 1 ? 'are' : 'is'} not embedded by this model,`
        + ' and this browser keeps no image: pick the folder again to embed them.');
    }
    if (tuned && tuned.embeddable < embedded && embedded > 0) {
      lines.push('The safety-tuned model ranks the images it has files for: this browser keeps the images’ embeddings, not the images.'
        + ' Pick the folder again to rank all of them with it.');
    }
    if (tuned && tuned.embedded < tuned.embeddable && !cancelled) {
      lines.push(`With the safety-tuned model: ${tuned.embedded.toLocaleString()} of ${tuned.embeddable.toLocaleString()} ${tuned.hyperbolic ? 'lifted' : 'embedded'}…`);
    }
    status.textContent = lines.join(' ');
    skippedBox.hidden = skipped.length === 0;
    /** @type {HTMLElement} */ (skippedBox.querySelector('summary')).textContent = `${skipped.length} file${skipped.length > 1 ? 's' : ''} skipped`;
    /** @type {HTMLElement} */ (skippedBox.querySelector('ul')).replaceChildren(...skipped.map(({ path, reason }) => {
      const li = document.createElement('li');
      li.textContent = `${path}: ${reason}`;
      return li;
    }));
    forgetButton.hidden = size === 0;
    queryInput.disabled = !hasModel || embedded === 0;
  }

  const search = latestOnly(async () => {
    const text = queryInput.value.trim();
    const query = imageQuery ?? (text ? { text } : null);
    const started = generation;
    if (!hasModel || !query || !summary || summary.embedded === 0) {
      found = null;
      return render();
    }
    try {
      const answer = await client.searchFolder('image' in query ? { image: query.image } : { text: query.text }, { k: SHOWN, redirect: redirectToggle.checked });
      if (started !== generation) return;
      found = answer;
      clearBanner('folder-search');
      await loadThumbnails([...answer.original, ...(answer.tuned?.results ?? [])].map((hit) => hit.id));
    } catch (error) {
      if (started !== generation) return;
      found = null;
      showBanner({ key: 'folder-search', title: 'Your images could not be searched', message: error.message });
    }
    render();
  });

  /**
   * Fetches the thumbnails of the images to show, and lets go of the others'.
   * @param {number[]} ids
   */
  async function loadThumbnails(ids) {
    const wanted = new Set(ids);
    const missing = [...wanted].filter((id) => !thumbnails.has(id));
    const fetched = missing.length > 0 ? await client.folderThumbnails(missing) : [];
    const next = new Map();
    for (const id of wanted) if (thumbnails.has(id)) next.set(id, thumbnails.get(id));
    for (const { id, thumbnail } of fetched) next.set(id, thumbnail ? URL.createObjectURL(thumbnail) : null);
    for (const [id, url] of thumbnails) if (!wanted.has(id) && url) URL.revokeObjectURL(url);
    thumbnails = next;
  }

  function render() {
    const tuned = summary?.tuned ?? null;
    tunedColumn.hidden = !hasModel || !tuned;
    $('folder-original-heading').hidden = tunedColumn.hidden;
    textSearchButton.hidden = !imageQuery;
    queryStatus.textContent = imageQuery && 'path' in imageQuery ? `Images like ${imageQuery.path}, nearest first.` : '';
    const reading = found?.tuned?.hyperbolic ? found.tuned.query : null;
    hysacControls.hidden = !reading;
    if (reading && found?.tuned) {
      showReading(safetyBadge, reading, { redirected: found.tuned.redirected, categories: found.tuned.categories });
    }
    if (!found) {
      const waiting = !hasModel ? 'Load a model first.' : !summary || summary.size === 0 ? 'Pick a folder or drop images.'
        : summary.embedded === 0 ? 'Embedding…' : 'Type what to look for, or click an image.';
      originalResults.replaceChildren(note(waiting));
      tunedResults.replaceChildren(note(waiting));
      return;
    }
    originalResults.replaceChildren(...hits(found.original, false));
    if (!found.tuned) {
      tunedResults.replaceChildren(note(tuned?.hyperbolic && imageQuery
        ? 'A HySAC model ranks images for a text, not for another image.'
        : 'Train or upload an adapter (Safety tuning) to compare.'));
    } else if (found.tuned.results.length === 0) {
      tunedResults.replaceChildren(note(tuned && tuned.embeddable === 0
        ? 'Pick the folder again: the safety-tuned model needs the images themselves.'
        : 'The safety-tuned model has not embedded these images yet.'));
    } else {
      tunedResults.replaceChildren(...hits(found.tuned.results, found.tuned.hyperbolic));
    }
  }

  /**
   * The found images, each a button that searches for images like it.
   * @param {FolderHit[]} list
   * @param {boolean} hyperbolic ranked by distance, with each image's reading
   */
  function hits(list, hyperbolic) {
    return list.map(({ id, path, score, distance, reading }) => {
      const li = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'folder-image';
      button.dataset.id = String(id);
      button.setAttribute('aria-label', `Find images like ${path}`);
      const figure = document.createElement('figure');
      const url = thumbnails.get(id);
      const picture = document.createElement(url ? 'img' : 'div');
      if (picture instanceof HTMLImageElement && url) {
        picture.src = url;
        picture.alt = '';
      } else {
        picture.className = 'no-thumbnail';
      }
      const caption = document.createElement('figcaption');
      caption.textContent = path;
      figure.append(picture, caption);
      button.append(figure);
      button.addEventListener('click', () => {
        imageQuery = { image: id, path };
        search();
      });
      li.append(button, hyperbolic ? distanceLabel(/** @type {number} */ (distance)) : scoreBar(/** @type {number} */ (score)));
      if (reading) li.append(imageBadge(reading));
      return li;
    });
  }

  /**
   * @param {Promise<FolderSummary & { restored?: number }>} answer
   * @param {string} failure the banner's title when it fails
   */
  async function update(answer, failure) {
    const started = generation;
    try {
      const next = await answer;
      if (started !== generation) return;
      clearBanner('folder');
      showSummary(next);
      if (next.restored) status.textContent = `Restored ${next.restored.toLocaleString()} images’ embeddings from this browser. ${status.textContent}`;
      search();
    } catch (error) {
      if (started === generation) showBanner({ key: 'folder', title: failure, message: error.message });
    }
  }

  client.addEventListener('folder', (event) => {
    showSummary(/** @type {CustomEvent<{ summary: FolderSummary }>} */ (event).detail.summary);
    search();
  });
  folderInput.addEventListener('change', () => {
    const files = [...(folderInput.files ?? [])];
    folderInput.value = '';
    if (files.length > 0) update(client.addFolderImages(files, { replace: true }), 'The folder could not be added');
  });
  filesInput.addEventListener('change', () => {
    const files = [...(filesInput.files ?? [])];
    filesInput.value = '';
    if (files.length > 0) update(client.addFolderImages(files), 'The images could not be added');
  });
  acceptDrops($('folder-drop'), (files) => {
    if (hasModel && files.length > 0) update(client.addFolderImages(files), 'The images could not be added');
  });
  cancelButton.addEventListener('click', () => update(client.cancelFolder(), 'The embedding could not be stopped'));
  continueButton.addEventListener('click', () => update(client.updateFolder(), 'The embedding could not go on'));
  forgetButton.addEventListener('click', () => {
    imageQuery = null;
    found = null;
    update(client.forgetFolder(), 'The images could not be forgotten');
  });
  queryInput.addEventListener('input', debounce(() => {
    imageQuery = null;
    search();
  }, QUERY_DELAY_MS));
  textSearchButton.addEventListener('click', () => {
    imageQuery = null;
    search();
  });
  redirectToggle.addEventListener('change', search);
  render();

  return {
    /** A new model (or none): the folder is brought up to date with it. */
    setModel(/** @type {object | null} */ model) {
      hasModel = model !== null;
      generation++;
      found = null;
      imageQuery = null;
      folderInput.disabled = !hasModel;
      filesInput.disabled = !hasModel;
      queryInput.disabled = true;
      render();
      if (hasModel) update(client.updateFolder(), 'Your images could not be restored');
    },
    /** The tuned model changed (a run paused or ended, an adapter came, the dial turned). */
    tunedChanged() {
      if (hasModel) update(client.folderSummary(), 'Your images could not be ranked with the safety-tuned model');
    },
  };
}
