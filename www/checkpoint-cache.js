// @ts-check
// The training checkpoint this browser keeps (Cache API): one, the latest, so that a reload or a
// crash loses at most the steps since it was saved. Runs in the worker.

import { ClipError } from './errors.js';
import { safetensorsMetadata } from './safetensors.js';

const CHECKPOINT_CACHE = 'safer-clip-checkpoints';
const CHECKPOINT_URL = '/checkpoint/latest';

/** @typedef {{ steps: number, savedAt: string | null }} SavedCheckpoint */

/**
 * Keeps `trainer`'s checkpoint, replacing the one kept before.
 * @param {import('../pkg/safer_clip.js').WebTrainer} trainer
 */
export async function saveCheckpoint(trainer) {
  const bytes = /** @type {Uint8Array<ArrayBuffer>} */ (await trainer.checkpoint());
  const cache = await caches.open(CHECKPOINT_CACHE);
  await cache.put(CHECKPOINT_URL, new Response(bytes, {
    headers: { 'x-steps': String(trainer.stepsDone), 'x-saved-at': new Date().toISOString() },
  }));
}

/** @returns {Promise<SavedCheckpoint | null>} how far the kept checkpoint got, or null */
export async function savedCheckpoint() {
  const cache = await caches.open(CHECKPOINT_CACHE);
  const response = await cache.match(CHECKPOINT_URL);
  if (!response) return null;
  return { steps: Number(response.headers.get('x-steps')), savedAt: response.headers.get('x-saved-at') };
}

/** The kept checkpoint's bytes; NoCheckpoint when there is none. */
export async function storedCheckpoint() {
  const cache = await caches.open(CHECKPOINT_CACHE);
  const response = await cache.match(CHECKPOINT_URL);
  if (!response) throw new ClipError('NoCheckpoint', 'This browser keeps no training checkpoint.');
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * What the form asks of a run, as the checkpoint's training state holds it.
 * @param {Uint8Array} checkpoint
 * @returns {import('./clip-client.js').TrainOptions}
 */
export function checkpointOptions(checkpoint) {
  const { method, lora, optimizer, batch_size: batchSize, max_steps: maxSteps } =
    JSON.parse(safetensorsMetadata(checkpoint).training_state).config;
  return { method, rank: lora.rank, learningRate: optimizer.learning_rate, batchSize, maxSteps };
}
