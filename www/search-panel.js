// @ts-check
// The search panel: a prompt, ranked live against a gallery of captions and of the user's own
// images; once there is a safety-tuned model, its ranking beside the original's (a HySAC model's
// by hyperbolic distance, with each prompt and image read as safe or unsafe and a redirect toggle).

import { clearBanner, showBanner } from './banners.js';
import { $ } from './dom.js';
import { acceptDrops, imageFiles } from './drop-zone.js';
import { rank, row } from './ranking.js';
import { debounce } from './debounce.js';
import { latestOnly } from './latest-only.js';
import { captionItem, distanceLabel, imageBadge, imageFigure, note, removeImageButton, scoreBar, showReading } from './result-items.js';

/** @typedef {import('./clip-client.js').ClipClient} ClipClient */
/** @typedef {{ id: number, name: string, blob: Blob, url: string, embedding: Float32Array | null }} GalleryImage */
/** @typedef {{ distance: number, unsafe: boolean | null }} Safety */
/**
 * The safety-tuned model's view of a gallery image: its unit embedding, or for a HySAC model
 * (whose points the worker keeps) its safe/unsafe reading.
 * @typedef {{ embedding: Float32Array | null, safety: Safety | null }} TunedEmbedding
 */
/**
 * The safety-tuned model's ranking for a prompt: cosine scores (higher is nearer), or for a HySAC
 * model Lorentzian distances (lower is nearer) with the prompt's reading (and the categories the
 * adapter has thresholds for: null, none).
 * @typedef {{ hyperbolic: boolean, query: import('./protocol.js').Reading | null, categories: string[] | null, redirected: number | null,
 *   captions: { item: string, value: number }[], images: { item: GalleryImage, value: number }[] }} TunedRanking
 */

const PROMPT_DELAY_MS = 250;
const CAPTIONS_DELAY_MS = 600;
const SHOWN_CAPTIONS = 20;

/** What an encoding returns when the model changed while it ran: the result is dropped. */
const STALE = Symbol('stale');

/** @param {ClipClient} client */
export function setupSearchPanel(client) {
  const promptInput = $('prompt', HTMLInputElement);
  const captionsInput = $('captions', HTMLTextAreaElement);
  const captionResults = $('caption-results');
  const imageResults = $('image-results');
  const imageInput = $('image-files', HTMLInputElement);
  const clearImagesButton = $('clear-images');
  const searchStatus = $('search-status');
  const tunedCaptionResults = $('caption-results-tuned');
  const tunedImageResults = $('image-results-tuned');
  const hysacControls = $('search-hysac');
  const safetyBadge = $('search-safety');
  const redirectToggle = $('search-redirect', HTMLInputElement);

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
   * The safety-tuned side. Its embeddings belong to one tuned model: a new one (a run stepped,
   * paused or ended; an adapter came) bumps the generation and drops them. While a run steps, the
   * side waits for it to pause or end rather than re-embed the gallery at every step.
   */
  let tunedGeneration = 0;
  /** @type {'none' | 'training' | 'ready'} */
  let tunedState = 'none';
  /**
   * The captions as the tuned model embedded them (null embeddings: a HySAC model, whose points
   * the worker keeps).
   * @type {{ texts: string[], embeddings: import('./clip-client.js').Embeddings | null } | null}
   */
  let tunedCaptions = null;
  /** @type {WeakMap<GalleryImage, TunedEmbedding>} */
  let tunedImages = new WeakMap();
  /** @type {TunedRanking | null} */
  let tunedRanking = null;

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
    updateTuned();
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
    updateTuned();
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
    updateTuned();
  });

  /** Brings the tuned side up to date with the prompt, the captions and the images. */
  const updateTuned = latestOnly(async () => {
    if (!hasModel || tunedState !== 'ready') return render();
    const started = tunedGeneration;
    const current = () => started === tunedGeneration;
    try {
      if (captions && !(tunedCaptions && sameTexts(tunedCaptions.texts, captions.texts))) {
        const { texts } = captions;
        searchStatus.textContent = 'Encoding the captions with the safety-tuned model…';
        const embedded = await client.encodeTuned({ texts });
        if (!current()) return;
        tunedCaptions = embedded.hyperbolic ? { texts, embeddings: null } : { texts, embeddings: embedded };
      }
      for (const image of images.filter((i) => i.embedding && !tunedImages.has(i))) {
        searchStatus.textContent = `Encoding ${image.name} with the safety-tuned model…`;
        const embedded = await client.encodeTuned({ images: [image.blob], ids: [image.id] });
        if (!current()) return;
        tunedImages.set(image, embedded.hyperbolic
          ? { embedding: null, safety: embedded.safety[0] }
          : { embedding: embedded.data, safety: null });
      }
      const ranking = prompt ? await rankTuned(prompt.text) : null;
      if (!current()) return;
      tunedRanking = ranking;
      clearBanner('tuned-search');
    } catch (error) {
      if (!current()) return;
      tunedRanking = null;
      // A cancelled run before its first step leaves no tuned model: nothing to say.
      if (error.name === 'NoAdapter') tunedState = 'none';
      else showBanner({ key: 'tuned-search', title: 'The safety-tuned model could not rank the gallery', message: error.message });
    } finally {
      if (current()) searchStatus.textContent = '';
    }
    render();
  });

  /**
   * @param {string} text
   * @returns {Promise<TunedRanking>}
   */
  async function rankTuned(text) {
    const gallery = images.filter((image) => tunedImages.has(image));
    const found = await client.rankTuned(text, {
      k: { captions: Math.min(SHOWN_CAPTIONS, tunedCaptions?.texts.length ?? 0), images: gallery.length },
      redirect: redirectToggle.checked,
    });
    if (!found.hyperbolic) return rankByCosine(found.embedding, gallery);
    const byId = new Map(gallery.map((image) => [image.id, image]));
    const texts = tunedCaptions?.texts ?? [];
    return {
      hyperbolic: true,
      query: found.query,
      categories: found.categories,
      redirected: found.redirected,
      captions: found.captions.map(({ index, distance }) => ({ item: texts[index], value: distance })),
      images: found.images.flatMap(({ id, distance }) => {
        const image = byId.get(id);
        return image ? [{ item: image, value: distance }] : [];
      }),
    };
  }

  /**
   * The galleries ranked by the cosine of the tuned model's embeddings to the prompt's.
   * @param {Float32Array} query
   * @param {GalleryImage[]} gallery
   * @returns {TunedRanking}
   */
  function rankByCosine(query, gallery) {
    const embedded = tunedCaptions?.embeddings;
    const captionList = tunedCaptions && embedded
      ? tunedCaptions.texts.map((item, i) => ({ item, embedding: row(embedded, i) }))
      : [];
    const imageList = gallery.flatMap((image) => {
      const embedding = tunedImages.get(image)?.embedding;
      return embedding ? [{ item: image, embedding }] : [];
    });
    /** @template T @param {{ item: T, score: number }} ranked */
    const score = ({ item, score: value }) => ({ item, value });
    return {
      hyperbolic: false,
      query: null,
      categories: null,
      redirected: null,
      captions: rank(query, captionList).map(score),
      images: rank(query, imageList).map(score),
    };
  }

  function addImages(files) {
    const accepted = imageFiles(files, { key: 'image-types', purpose: 'added' });
    for (const file of accepted) {
      images.push({ id: nextImageId++, name: file.name, blob: file, url: URL.createObjectURL(file), embedding: null });
    }
    render();
    embedNewImages();
  }

  /** @param {GalleryImage} image */
  function removeImage(image) {
    if (tunedImages.has(image)) client.forgetTunedImages([image.id]).catch(() => {});
    URL.revokeObjectURL(image.url);
    images = images.filter((i) => i !== image);
    render();
    updateTuned();
  }

  function render() {
    renderCaptions();
    renderImages();
    renderTuned();
    clearImagesButton.hidden = images.length === 0;
  }

  function renderTuned() {
    const shown = hasModel && tunedState !== 'none';
    $('search-galleries').classList.toggle('compared', shown);
    for (const id of ['caption-tuned', 'image-tuned']) $(id).hidden = !shown;
    for (const id of ['captions-original-heading', 'images-original-heading']) $(id).hidden = !shown;
    const ranking = shown && tunedState === 'ready' ? tunedRanking : null;
    hysacControls.hidden = !ranking?.hyperbolic;
    if (!shown) return;
    const waiting = tunedState === 'training'
      ? 'Training: this column catches up when the run pauses or ends.'
      : prompt ? 'Ranking with the safety-tuned model…' : 'Type a prompt.';
    if (ranking?.hyperbolic && ranking.query) showReading(safetyBadge, ranking.query, { redirected: ranking.redirected, categories: ranking.categories });

    const captionItems = (ranking?.captions ?? []).slice(0, SHOWN_CAPTIONS)
      .map(({ item, value }) => captionItem(item, measure(ranking, value)));
    tunedCaptionResults.replaceChildren(...(captionItems.length > 0 ? captionItems
      : [note(ranking || !captions ? 'No captions to rank.' : waiting)]));

    const imageItems = (ranking?.images ?? []).filter(({ item }) => images.includes(item)).map(({ item, value }) => {
      const li = document.createElement('li');
      const figure = imageFigure(item);
      figure.append(measure(ranking, value));
      const safety = tunedImages.get(item)?.safety;
      if (safety) figure.append(imageBadge(safety));
      li.append(figure);
      return li;
    });
    tunedImageResults.replaceChildren(...(imageItems.length > 0 ? imageItems
      : [note(ranking || images.length === 0 ? 'No images to rank.' : waiting)]));
  }

  /** A cosine score bar, or a HySAC distance. */
  function measure(ranking, value) {
    return ranking.hyperbolic ? distanceLabel(value) : scoreBar(value);
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
      const { texts, embeddings } = captions;
      const ranked = rank(prompt.embedding, texts.map((text, i) => ({ item: text, embedding: embeddings[i] })));
      /** @type {HTMLElement[]} */
      const items = ranked.slice(0, SHOWN_CAPTIONS).map(({ item, score }) => captionItem(item, scoreBar(score)));
      if (ranked.length > SHOWN_CAPTIONS) items.push(note(`and ${ranked.length - SHOWN_CAPTIONS} more`));
      captionResults.replaceChildren(...items);
    }
  }

  function renderImages() {
    const embedded = images.flatMap((image) => (image.embedding ? [{ item: image, embedding: image.embedding }] : []));
    const scored = prompt && embedded.length > 0 ? rank(prompt.embedding, embedded) : [];
    const scores = new Map(scored.map(({ item, score }) => [item, score]));
    const ordered = [...scored.map(({ item }) => item), ...images.filter((image) => !scores.has(image))];
    imageResults.replaceChildren(...ordered.map((image) => {
      const li = document.createElement('li');
      const figure = imageFigure(image);
      const score = scores.get(image);
      if (score !== undefined) figure.append(scoreBar(score));
      else if (hasModel && !image.embedding) figure.append(note('Encoding…', 'p'));
      li.append(figure, removeImageButton(image.name, () => removeImage(image)));
      return li;
    }));
  }

  promptInput.addEventListener('input', debounce(updatePrompt, PROMPT_DELAY_MS));
  redirectToggle.addEventListener('change', updateTuned);
  client.addEventListener('trainstep', () => {
    if (tunedState === 'training') return;
    dropTuned('training');
    render();
  });
  captionsInput.addEventListener('input', debounce(updateCaptions, CAPTIONS_DELAY_MS));
  imageInput.addEventListener('change', () => {
    addImages([...(imageInput.files ?? [])]);
    imageInput.value = '';
  });
  acceptDrops($('image-drop'), addImages);
  clearImagesButton.addEventListener('click', () => {
    const tunedIds = images.filter((image) => tunedImages.has(image)).map((image) => image.id);
    if (tunedIds.length > 0) client.forgetTunedImages(tunedIds).catch(() => {});
    for (const image of images) URL.revokeObjectURL(image.url);
    images = [];
    render();
    updateTuned();
  });

  function dropTuned(state) {
    tunedGeneration++;
    tunedState = state;
    tunedCaptions = null;
    tunedImages = new WeakMap();
    tunedRanking = null;
  }
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
      dropTuned('none');
      promptInput.disabled = !hasModel;
      render();
      if (hasModel) {
        updateCaptions();
        updatePrompt();
        embedNewImages();
      }
    },
    /** A new safety-tuned model: a run paused or ended, or an adapter came. */
    tunedChanged() {
      dropTuned('ready');
      render();
      updateTuned();
    },
  };
}

function sameTexts(a, b) {
  return a.length === b.length && a.every((text, i) => text === b[i]);
}
