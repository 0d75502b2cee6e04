// @ts-check
// What this browser offers the model: WebAssembly SIMD, which the core needs on either path, and
// a WebGPU adapter, which the GPU path needs; and which path to take. The CPU path (the core's
// own CPU backend in WebAssembly) is taken where WebGPU is missing, grants no adapter, or grants
// a fallback or software one, which would be slower than the CPU path.

/**
 * @typedef {{ vendor: string, architecture: string, description: string,
 *   isFallbackAdapter: boolean, software: boolean }} AdapterInfo
 * @typedef {'cpu' | 'gpu'} Backend
 * @typedef {'auto' | Backend} BackendChoice
 */

/** `(func (result v128) i32.const 0 i8x16.splat i8x16.popcnt)`: valid only where SIMD is. */
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);

/** Adapters that emulate a GPU on the CPU, as their info names them. */
const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|softpipe|software|basic render/i;

export function hasWasmSimd() {
  return WebAssembly.validate(SIMD_PROBE);
}

/**
 * The WebGPU adapter this browser grants, described, or null where it grants none.
 * @param {GPU | undefined} gpu `navigator.gpu`
 * @returns {Promise<AdapterInfo | null>}
 */
export async function gpuAdapter(gpu) {
  const adapter = await gpu?.requestAdapter().catch(() => null);
  if (!adapter) return null;
  const { vendor, architecture, description } = adapter.info;
  const isFallbackAdapter = Boolean(/** @type {{ isFallbackAdapter?: boolean }} */ (adapter.info).isFallbackAdapter);
  return {
    vendor,
    architecture,
    description,
    isFallbackAdapter,
    software: isFallbackAdapter || SOFTWARE_ADAPTER.test(`${vendor} ${architecture} ${description}`),
  };
}

/**
 * The path a choice comes to: 'auto' takes the GPU only when there is a hardware adapter.
 * @param {BackendChoice} choice
 * @param {AdapterInfo | null} adapter
 * @returns {Backend}
 */
export function resolveBackend(choice, adapter) {
  if (choice === 'auto') return adapter && !adapter.software ? 'gpu' : 'cpu';
  return choice;
}
