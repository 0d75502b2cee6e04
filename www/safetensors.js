// @ts-check
// Reading the header of a safetensors file: 8 bytes of little-endian length, then JSON.

/**
 * The parsed header of a safetensors file: tensor entries by key, and `__metadata__`.
 * @param {Uint8Array} bytes the file, or at least its header
 * @returns {Record<string, any>}
 */
function safetensorsHeader(bytes) {
  if (bytes.length < 8) throw new Error('not a safetensors file: shorter than its header length');
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (8 + length > bytes.length) throw new Error('not a safetensors file: the header runs past the end');
  return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
}

/**
 * The free-form `__metadata__` strings of a safetensors file's header.
 * @param {Uint8Array} bytes the file, or at least its header
 * @returns {Record<string, string>}
 */
export function safetensorsMetadata(bytes) {
  return safetensorsHeader(bytes).__metadata__ ?? {};
}

/**
 * The dtypes its tensors are stored as ('F32', 'F16', 'I8', …).
 * @param {Uint8Array} bytes the file, or at least its header
 * @returns {Set<string>}
 */
export function safetensorsDtypes(bytes) {
  const { __metadata__: _, ...tensors } = safetensorsHeader(bytes);
  return new Set(Object.values(tensors).map((tensor) => tensor.dtype));
}
