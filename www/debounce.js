// @ts-check
// Calling a function once input has paused.

/** `fn`, called `delayMs` after the last of a burst of calls. */
export function debounce(fn, delayMs) {
  let timer;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, delayMs);
  };
}
