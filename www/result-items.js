// @ts-check
// Pieces of the result lists: a caption with its measure, a score bar, a distance, a HySAC
// model's safe/unsafe reading, and a line of explanation in place of results.

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
 * Shows a HySAC model's reading of a prompt on a badge: safe or unsafe, its root distance, the
 * safe region's bound when given, and where redirection moved it (`redirected` null: nowhere).
 * @param {HTMLElement} badge
 * @param {{ distance: number, unsafe: boolean | null }} reading
 * @param {{ bound?: number | null, redirected?: number | null }} [options]
 */
export function showReading(badge, { distance, unsafe }, { bound = null, redirected = null } = {}) {
  const verdict = unsafe ? 'unsafe' : 'safe';
  badge.dataset.verdict = verdict;
  badge.textContent = `Prompt reads as ${verdict}: root distance ${distance.toFixed(3)}`
    + (bound === null ? '' : ` (safe region up to ${bound.toFixed(3)})`)
    + (redirected === null ? '' : `; redirected to ${redirected.toFixed(3)}`);
}

/** A cosine similarity as a number and a bar from 0 to 1. */
export function scoreBar(score) {
  const bar = document.createElement('span');
  bar.className = 'score';
  const fill = document.createElement('span');
  fill.className = 'score-fill';
  fill.style.inlineSize = `${Math.min(Math.max(score, 0), 1) * 100}%`;
  fill.setAttribute('aria-hidden', 'true');
  const value = document.createElement('span');
  value.className = 'score-value';
  value.textContent = score.toFixed(3);
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
