// The dedicated worker in which page.js measures ours, as www/worker.js hosts the app's core.
import { benchOurs } from './page.js';

self.onmessage = async ({ data: { backend, opts } }) => {
  try {
    self.postMessage({ done: await benchOurs(backend, opts) });
  } catch (e) {
    self.postMessage({ error: String(e?.stack ?? e) });
  }
};
