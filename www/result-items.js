// Pieces of the result lists: a score bar, and a line of explanation in place of results.

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
