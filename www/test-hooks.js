// @ts-check
// Test hooks for the browser tests, served only by `node www/serve.mjs --test-hooks` (the
// worker imports this file when a test posts to the BroadcastChannel `safer-clip-test-hooks`).

import { watchedDevice } from './gpu-watch.js';

/**
 * `lose-device` destroys the device as a driver reset would lose it; `out-of-memory` raises the
 * error WebGPU raises when an allocation fails, for wgpu and the watch (gpu-watch.js) alike.
 * @param {'lose-device' | 'out-of-memory'} kind
 */
export function simulateGpuFailure(kind) {
  const device = watchedDevice();
  if (kind === 'lose-device') device?.destroy();
  if (kind === 'out-of-memory') {
    const error = new GPUOutOfMemoryError('simulated by a test');
    device?.dispatchEvent(new GPUUncapturedErrorEvent('uncapturederror', { error }));
  }
}
