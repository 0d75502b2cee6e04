// @ts-check
// Reading the header of a safetensors file: 8 bytes of little-endian length, then JSON.

/**
 * The free-form `__metadata__` strings of a safetensors file's header.
 * @param {Uint8Array} bytes the file, or at least its header
 * @returns {Record<string, string>}
 */
export function safetensorsMetadata(bytes) {
  if (bytes.length < 8) throw new Error('not a safetensors file: shorter than its header length');
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (8 + length > bytes.length) throw new Error('not a safetensors file: the header runs past the end');
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
  return header.__metadata__ ?? {};
}
