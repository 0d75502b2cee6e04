// @ts-check
// Messages at the top of the page: errors, warnings and what to do about them. A banner has a
// key, so a repeated problem replaces its banner instead of stacking copies.

import { $ } from './dom.js';

const region = $('banners');

/**
 * @param {{ key: string, kind?: 'error' | 'warning', title: string, message: string,
 *           details?: Node, dismissible?: boolean }} banner
 */
export function showBanner({ key, kind = 'error', title, message, details, dismissible = true }) {
  clearBanner(key);
  const element = document.createElement('section');
  element.className = `banner banner-${kind}`;
  element.dataset.key = key;
  element.setAttribute('role', kind === 'error' ? 'alert' : 'status');

  const heading = document.createElement('h2');
  heading.textContent = title;
  const text = document.createElement('p');
  text.textContent = message;
  element.append(heading, text);
  if (details) element.append(details);

  if (dismissible) {
    const dismiss = document.createElement('button');
    dismiss.type = 'button';
    dismiss.className = 'banner-dismiss secondary';
    dismiss.textContent = 'Dismiss';
    dismiss.setAttribute('aria-label', `Dismiss: ${title}`);
    dismiss.addEventListener('click', () => element.remove());
    element.append(dismiss);
  }
  region.append(element);
  return element;
}

/** @param {string} key */
export function clearBanner(key) {
  region.querySelector(`[data-key="${CSS.escape(key)}"]`)?.remove();
}
