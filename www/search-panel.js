// The search panel: a prompt, ranked live against a gallery of captions and of the user's own
// images.

import { clearBanner, showBanner } from './banners.js';
import { acceptDrops } from './drop-zone.js';
import { rank, row } from './ranking.js';
import { debounce } from './debounce.js';
import { latestOnly } from './latest-only.js';
import { note, scoreBar } from './result-items.js';

/** @typedef {import('./clip-client.js').ClipClient} ClipClient */
/** @typedef {{ id: number, name: string, blob: Blob, url: string, embedding: Float32Array | null }} GalleryImage */

const PROMPT_DELAY_MS = 250;
const CAPTIONS_DELAY_MS = 600;
const SHOWN_CAPTIONS = 20;
const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/webp']);

const $ = (id) => document.getElementById(id);
/** What an encoding returns when the model changed while it ran: the result is dropped. */
const STALE = Symbol('stale');

/** @param {ClipClient} client */
export function setupSearchPanel(client) {
  const promptInput = $('prompt');
  const captionsInput = $('captions');
  const captionResults = $('caption-results');
  const imageResults = $('image-results');
  const imageInput = $('image-files');
  const clearImagesButton = $('clear-images');
  const searchStatus = $('search-status');

  /**
   * Everything derived from the model is tagged with its generation, so results that arrive
   * after the model changed are dropped.
   */
  let generation = 0;
  let hasModel = false;
  /** @type {{ text: string, embedding: Float32Array } | null} */
  let prompt = null;
  /** @type {{ texts: string[], embeddings: Float32Array[] } | null} */
  let captions = null;
  /** @type {'idle' | 'encoding' | 'failed'} what happened to the captions that are not encoded */
  let captionsState = 'idle';
  /** @type {GalleryImage[]} */
  let images = [];
  let nextImageId = 1;

  /**
   * Embeds a batch with the current model: the embeddings, null if it failed (a banner says
   * why), or STALE if the model changed meanwhile.
   */
  async function embed(what, encode, bannerKey, bannerTitle) {
    const started = generation;
    searchStatus.textContent = `Encoding ${what}…`;
    try {
      const embeddings = await encode();
      if (started !== generation) return STALE;
      clearBanner(bannerKey);
      return embeddings;
    } catch (error) {
      if (started !== generation) return STALE;
      showBanner({ key: bannerKey, title: bannerTitle, message: error.message });
      return null;
    } finally {
      searchStatus.textContent = '';
    }
  }

  const updatePrompt = latestOnly(async () => {
    const text = promptInput.value.trim();
    if (!hasModel || !text) {
      prompt = null;
      return render();
    }
    if (prompt?.text === text) return;
    const embeddings = await embed('the prompt', () => client.encodeText([text]), 'prompt', 'Could not encode the prompt');
    if (embeddings === STALE) return;
    prompt = embeddings ? { text, embedding: row(embeddings, 0) } : null;
    render();
  });

  const updateCaptions = latestOnly(async () => {
    const texts = captionsInput.value.split('\n').map((line) => line.trim()).filter(Boolean);
    if (!hasModel || texts.length === 0) {
      captions = null;
      captionsState = 'idle';
      return render();
    }
    if (captions && sameTexts(captions.texts, texts)) return;
    captions = null;
    captionsState = 'encoding';
    render();
    const embeddings = await embed(`${texts.length} captions`, () => client.encodeText(texts), 'captions', 'Could not encode the captions');
    if (embeddings === STALE) return;
    captions = embeddings ? { texts, embeddings: texts.map((_, i) => row(embeddings, i)) } : null;
    captionsState = embeddings ? 'idle' : 'failed';
    render();
  });

  /** Images are embedded one at a time, so one unreadable file does not fail the others. */
  const embedNewImages = latestOnly(async () => {
    for (const image of images.filter((i) => !i.embedding)) {
      if (!hasModel || !images.includes(image)) continue;
      const embeddings = await embed(image.name, () => client.encodeImage([image.blob]), `image-${image.id}`, `Could not read ${image.name}`);
      if (embeddings === STALE) continue;
      if (embeddings) image.embedding = row(embeddings, 0);
      else removeImage(image);
      render();
    }
  });

  function addImages(files) {
    const accepted = files.filter((file) => IMAGE_TYPES.has(file.type));
    const skipped = files.filter((file) => !IMAGE_TYPES.has(file.type));
    if (skipped.length > 0) {
      showBanner({
        key: 'image-types',
        kind: 'warning',
        title: 'Some files were not added',
        message: `Only PNG, JPEG and WebP images can be added: ${skipped.map((f) => f.name).join(', ')}.`,
      });
    }
    for (const file of accepted) {
      images.push({ id: nextImageId++, name: file.name, blob: file, url: URL.createObjectURL(file), embedding: null });
    }
    render();
    embedNewImages();
  }

  function removeImage(image) {
    URL.revokeObjectURL(image.url);
    images = images.filter((i) => i !== image);
    render();
  }

  function render() {
    renderCaptions();
    renderImages();
    clearImagesButton.hidden = images.length === 0;
  }

  function renderCaptions() {
    if (!hasModel) {
      captionResults.replaceChildren(note('Load a model to rank these captions.'));
    } else if (!captions) {
      captionResults.replaceChildren(note({
        idle: 'Add captions below, one per line.',
        encoding: 'Encoding the captions…',
        failed: 'The captions could not be encoded.',
      }[captionsState]));
    } else if (!prompt) {
      captionResults.replaceChildren(note('Type a prompt to rank these captions.'));
    } else {
      const ranked = rank(prompt.embedding, captions.texts.map((text, i) => ({ item: text, embedding: captions.embeddings[i] })));
      const items = ranked.slice(0, SHOWN_CAPTIONS).map(({ item, score }) => {
        const li = document.createElement('li');
        const text = document.createElement('span');
        text.className = 'caption';
        text.textContent = item;
        li.append(text, scoreBar(score));
        return li;
      });
      if (ranked.length > SHOWN_CAPTIONS) items.push(note(`and ${ranked.length - SHOWN_CAPTIONS} more`));
      captionResults.replaceChildren(...items);
    }
  }

  function renderImages() {
    const embedded = images.filter((image) => image.embedding);
    const scored = prompt && embedded.length > 0
      ? rank(prompt.embedding, embedded.map((image) => ({ item: image, embedding: image.embedding })))
      : [];
    const scores = new Map(scored.map(({ item, score }) => [item, score]));
    const ordered = [...scored.map(({ item }) => item), ...images.filter((image) => !scores.has(image))];
    imageResults.replaceChildren(...ordered.map((image) => {
      const li = document.createElement('li');
      const figure = document.createElement('figure');
      const img = document.createElement('img');
      img.src = image.url;
      img.alt = image.name;
      const caption = document.createElement('figcaption');
      caption.textContent = image.name;
      figure.append(img, caption);
      if (scores.has(image)) figure.append(scoreBar(scores.get(image)));
      else if (hasModel && !image.embedding) figure.append(note('Encoding…', 'p'));
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.className = 'remove-image secondary';
      remove.textContent = 'Remove';
      remove.setAttribute('aria-label', `Remove ${image.name}`);
      remove.addEventListener('click', () => removeImage(image));
      li.append(figure, remove);
      return li;
    }));
  }

  promptInput.addEventListener('input', debounce(updatePrompt, PROMPT_DELAY_MS));
  captionsInput.addEventListener('input', debounce(updateCaptions, CAPTIONS_DELAY_MS));
  imageInput.addEventListener('change', () => {
    addImages([...imageInput.files]);
    imageInput.value = '';
  });
  acceptDrops($('image-drop'), addImages);
  clearImagesButton.addEventListener('click', () => {
    for (const image of images) URL.revokeObjectURL(image.url);
    images = [];
    render();
  });
  render();

  return {
    /** Switches to a new model (or to none): every embedding is recomputed with it. */
    setModel(model) {
      generation++;
      hasModel = model !== null;
      prompt = null;
      captions = null;
      captionsState = 'idle';
      for (const image of images) image.embedding = null;
      promptInput.disabled = !hasModel;
      render();
      if (hasModel) {
        updateCaptions();
        updatePrompt();
        embedNewImages();
      }
    },
  };
}

function sameTexts(a, b) {
  return a.length === b.length && a.every((text, i) => text === b[i]);
}
