// @ts-check
// Watching the GPU device the core works on, from the worker's JavaScript side. WebGPU tells a
// device's own listeners when the device is lost and when it runs out of memory; inside the core
// (wgpu) the first becomes a generic read-back failure and the second a panic. The watch hears
// both first and names them, so the page can say what happened.

import { ClipError } from './errors.js';

/** @type {GPUDevice | null} the device the core requested last */
let device = null;
/** @type {ClipError | null} the first failure seen */
let failure = null;

/**
 * Watches every device requested from now on (the core requests its own, through
 * `GPUAdapter.requestDevice`); `onFailure` hears of the first lost device or out-of-memory error.
 * @param {(error: ClipError) => void} onFailure
 */
export function watchGpu(onFailure) {
  if (!self.GPUAdapter) return;
  const requestDevice = GPUAdapter.prototype.requestDevice;
  /** @param {GPUDeviceDescriptor} [descriptor] */
  GPUAdapter.prototype.requestDevice = async function watchedRequestDevice(descriptor) {
    const requested = await requestDevice.call(this, descriptor);
    watch(requested, onFailure);
    return requested;
  };
}

function watch(requested, onFailure) {
  device = requested;
  const fail = (error) => {
    if (failure) return;
    failure = error;
    onFailure(error);
  };
  // Registered before wgpu's handler, so this runs before that one panics.
  requested.addEventListener('uncapturederror', ({ error }) => {
    if (error instanceof GPUOutOfMemoryError) {
      fail(new ClipError('OutOfMemory', `The GPU ran out of memory${error.message ? ` (${error.message})` : ''}.`));
    }
  });
  requested.lost.then(({ reason, message }) => {
    fail(new ClipError('DeviceLost', `The GPU device was lost (${reason}${message ? `: ${message}` : ''}).`));
  });
}

/** The lost device or out-of-memory error seen so far, or null. */
export function gpuFailure() {
  return failure;
}

/**
 * The GPU failure behind a call that failed, or null. A lost device fails the read-backs in
 * flight at about the time its `lost` promise settles, sometimes just before: this gives the
 * promise `graceMs` to settle.
 */
export async function gpuFailureBehind(graceMs = 250) {
  if (failure || !device) return failure;
  await Promise.race([device.lost, new Promise((resolve) => setTimeout(resolve, graceMs))]);
  return failure;
}

/** The device the core requested last (test-hooks.js fails it on purpose), or null. */
export function watchedDevice() {
  return device;
}
