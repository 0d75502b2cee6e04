// @ts-check
// Pieces of the result lists: a caption with its measure, a score bar, a distance, a HySAC
// model's safe/unsafe reading of a prompt or an image, a line of explanation in place of
// results, and a picked image with the button that removes it.

/** A ranked caption: its text and its measure (a score bar or a distance). */
export function captionItem(text, measure) {
  const li = document.createElement('li');
  const caption = document.createElement('span');
  caption.className = 'caption';
  caption.textContent = text;
  li.append(caption, measure);
  return li;
}

/** A HySAC distance (smaller is nearer), labelled with what it is measured from. */
export function distanceLabel(distance, what = 'distance') {
  const span = document.createElement('span');
  span.className = 'distance';
  span.textContent = `${what} ${distance.toFixed(3)}`;
  return span;
}

/**
 * @typedef {import('./protocol.js').Reading} Reading
 * @typedef {{ bound?: number | null, redirected?: number | null, categories?: string[] | null }} ReadingContext
 *   `bound`: the safe region's; `redirected`: where redirection moved the prompt (null:
 *   nowhere); `categories`: those the adapter has thresholds for (null: it has none)
 */

/**
 * Shows a HySAC model's reading of a prompt on a badge (readingText).
 * @param {HTMLElement} badge
 * @param {Reading} reading
 * @param {ReadingContext} [context]
 */
export function showReading(badge, reading, context = {}) {
  badge.dataset.verdict = reading.unsafe ? 'unsafe' : 'safe';
  badge.dataset.flaggedBy = (reading.flagged_by ?? []).join(' ');
  badge.textContent = readingText(reading, context);
}

/**
 * A HySAC model's reading of a prompt in words: safe or unsafe, its root distance, the safe
 * region's bound when given, where redirection moved it, and, when the adapter has per-category
 * thresholds, which of them flag the prompt.
 * @param {Reading} reading
 * @param {ReadingContext} [context]
 */
export function readingText({ distance, unsafe, flagged_by: flaggedBy = [] }, { bound = null, redirected = null, categories = null } = {}) {
  const verdict = unsafe ? 'unsafe' : 'safe';
  return `Prompt reads as ${verdict}: root distance ${distance.toFixed(3)}`
    + (bound === null ? '' : ` (safe region up to ${bound.toFixed(3)})`)
    + (redirected === null ? '' : `; redirected to ${redirected.toFixed(3)}`)
    + (categories === null ? '' : flaggedBy.length === 0
      ? '; within every category’s threshold'
      : `; flagged by the ${new Intl.ListFormat('en', { type: 'conjunction' }).format(flaggedBy.map((c) => c.replaceAll('_', ' ')))}`
        + ` threshold${flaggedBy.length > 1 ? 's' : ''}`);
}

/**
 * A HySAC model's reading of an image; only its root distance when the adapter has no bound for
 * images.
 * @param {Reading} reading
 */
export function imageBadge({ distance, unsafe }) {
  const p = document.createElement('p');
  p.className = 'safety-badge';
  if (unsafe === null) {
    p.textContent = `root distance ${distance.toFixed(3)}`;
    p.title = 'This adapter was trained without images, so it has no safe-region bound for an image.';
  } else {
    p.dataset.verdict = unsafe ? 'unsafe' : 'safe';
    p.textContent = `${unsafe ? 'unsafe' : 'safe'} · ${distance.toFixed(3)}`;
  }
  return p;
}

/**
 * A score as a number and a bar from 0 to 1: a cosine similarity by default, or what `text` says.
 * @param {number} score
 * @param {string} [text]
 */
export function scoreBar(score, text = score.toFixed(3)) {
  const bar = document.createElement('span');
  bar.className = 'score';
  const fill = document.createElement('span');
  fill.className = 'score-fill';
  fill.style.inlineSize = `${Math.min(Math.max(score, 0), 1) * 100}%`;
  fill.setAttribute('aria-hidden', 'true');
  const value = document.createElement('span');
  value.className = 'score-value';
  value.textContent = text;
  bar.append(fill, value);
  bar.dataset.score = String(score);
  return bar;
}

export function note(text, tag = 'li') {
  const element = document.createElement(tag);
  element.className = 'note';
  element.textContent = text;
  return element;
}

/**
 * A picked image as a figure: the picture and its file name.
 * @param {{ url: string, name: string }} image
 */
export function imageFigure({ url, name }) {
  const figure = document.createElement('figure');
  const img = document.createElement('img');
  img.src = url;
  img.alt = name;
  const caption = document.createElement('figcaption');
  caption.textContent = name;
  figure.append(img, caption);
  return figure;
}

/**
 * The button that takes a picked image out of its list.
 * @param {string} name the image's file name
 * @param {() => void} onRemove
 */
export function removeImageButton(name, onRemove) {
  const remove = document.createElement('button');
  remove.type = 'button';
  remove.className = 'remove-image secondary';
  remove.textContent = 'Remove';
  remove.setAttribute('aria-label', `Remove ${name}`);
  remove.addEventListener('click', onRemove);
  return remove;
}
