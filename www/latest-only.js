// @ts-check
// Running an async task for the latest state only.

/** `task`, run now, or once more after the current run when called while it runs. */
export function latestOnly(task) {
  let running = null;
  let again = false;
  return () => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await task();
        } while (again);
      } finally {
        running = null;
      }
    })();
    return running;
  };
}
