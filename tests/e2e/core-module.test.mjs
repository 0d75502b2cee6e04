// @ts-check
// The built WebAssembly cores, as the linker left them. A module whose static constructors are
// never called by its own code is linked "command style": wasm-ld wraps every export so that it
// runs all constructors first (naming the wrapped originals `…_command_export`), which made each
// call from JavaScript cost some 0.15 ms. src/web/mod.rs calls them once at start instead.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { REPO } from './harness.mjs';

const CORES = ['pkg/safer_clip_bg.wasm', 'pkg/threads/safer_clip_bg.wasm'];

describe('the built cores', () => {
  for (const core of CORES) {
    const path = join(REPO, core);
    const skip = existsSync(path) ? false : `${core} is not built (./build.sh builds it)`;
    it(`${core} runs its constructors once, not at every export`, { skip }, async () => {
      const module = await WebAssembly.compile(readFileSync(path));
      const exports = WebAssembly.Module.exports(module).map(({ name }) => name);
      assert.ok(exports.includes('__wbindgen_malloc'), `no __wbindgen_malloc export in ${core}: ${exports.join(', ')}`);
      assert.deepEqual(exports.filter((name) => name.endsWith('_command_export')), []);
    });
  }
});
