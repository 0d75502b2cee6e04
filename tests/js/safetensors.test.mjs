// @ts-check
// Reading a safetensors file's header: its metadata and its tensors' dtypes (www/safetensors.js).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { safetensorsDtypes, safetensorsMetadata } from '../../www/safetensors.js';

/** A safetensors file with this header and `data` bytes after it, at an offset in a larger buffer. */
function file(header, data = 4) {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const buffer = new Uint8Array(3 + 8 + json.length + data);
  const bytes = buffer.subarray(3);
  new DataView(bytes.buffer, bytes.byteOffset).setBigUint64(0, BigInt(json.length), true);
  bytes.set(json, 8);
  return bytes;
}

describe('safetensorsMetadata', () => {
  it('reads __metadata__ from the header, wherever the bytes sit in their buffer', () => {
    const metadata = { format: 'safer-clip-lora', training_state: '{"step": 3}' };
    const bytes = file({ __metadata__: metadata, 'a.weight': { dtype: 'F32', shape: [1], data_offsets: [0, 4] } });
    assert.deepEqual(safetensorsMetadata(bytes), metadata);
  });

  it('gives an empty object for a header without metadata', () => {
    assert.deepEqual(safetensorsMetadata(file({})), {});
  });

  it('refuses a file shorter than its header says', () => {
    assert.throws(() => safetensorsMetadata(new Uint8Array(5)), /shorter than its header length/);
    const bytes = file({ __metadata__: { a: 'b' } }, 0);
    assert.throws(() => safetensorsMetadata(bytes.subarray(0, bytes.length - 1)), /runs past the end/);
  });
});

describe('safetensorsDtypes', () => {
  it('lists the dtypes the tensors are stored as, leaving out the metadata', () => {
    const bytes = file({
      __metadata__: { safer_clip_quantization: 'q8_block32' },
      'a.weight': { dtype: 'I8', shape: [2, 2], data_offsets: [0, 4] },
      'a.weight.q8_scales': { dtype: 'F16', shape: [2, 1], data_offsets: [4, 8] },
      'a.bias': { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
    }, 12);
    assert.deepEqual([...safetensorsDtypes(bytes)].sort(), ['F16', 'F32', 'I8']);
    assert.deepEqual([...safetensorsDtypes(file({}))], []);
  });
});
