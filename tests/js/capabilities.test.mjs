// @ts-check
// What the browser offers the model, and which path 'auto' takes (www/capabilities.js).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { gpuAdapter, hasWasmSimd, resolveBackend } from '../../www/capabilities.js';

/** A stand-in for navigator.gpu granting an adapter with this info, or none. */
function gpuWith(info) {
  return /** @type {GPU} */ (/** @type {unknown} */ ({ requestAdapter: async () => (info ? { info } : null) }));
}

describe('capabilities', () => {
  it('finds WebAssembly SIMD where the runtime has it (Node.js does)', () => {
    assert.equal(hasWasmSimd(), true);
  });

  it('describes the adapter, and tells software adapters from hardware ones', async () => {
    const hardware = await gpuAdapter(gpuWith({ vendor: 'nvidia', architecture: 'hopper', description: '' }));
    assert.deepEqual(hardware, { vendor: 'nvidia', architecture: 'hopper', description: '', isFallbackAdapter: false, software: false });
    const swiftshader = await gpuAdapter(gpuWith({ vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader Device (Subzero)' }));
    assert.equal(swiftshader?.software, true);
    const fallback = await gpuAdapter(gpuWith({ vendor: 'x', architecture: '', description: '', isFallbackAdapter: true }));
    assert.equal(fallback?.software, true);
    assert.equal(await gpuAdapter(gpuWith(null)), null);
    assert.equal(await gpuAdapter(undefined), null, 'no navigator.gpu');
  });

  it("takes the GPU on 'auto' only with a hardware adapter; an explicit choice stands", () => {
    const hardware = { vendor: 'a', architecture: 'b', description: '', isFallbackAdapter: false, software: false };
    const software = { ...hardware, software: true };
    assert.equal(resolveBackend('auto', hardware), 'gpu');
    assert.equal(resolveBackend('auto', software), 'cpu');
    assert.equal(resolveBackend('auto', null), 'cpu');
    assert.equal(resolveBackend('gpu', software), 'gpu');
    assert.equal(resolveBackend('cpu', hardware), 'cpu');
  });
});
