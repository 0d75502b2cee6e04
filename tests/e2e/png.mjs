// @ts-check
// Small PNG files written from code, for the browser tests and benchmarks that need many images:
// an RGB picture from a function of the pixel, encoded with Node's zlib (no dependency).

import { deflateSync } from 'node:zlib';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** @param {Buffer} bytes */
function crc32(bytes) {
  let c = 0xffffffff;
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * @param {string} type
 * @param {Buffer} data
 */
function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/**
 * An 8-bit RGB PNG of `width` × `height` pixels, each `colour(x, y)`.
 * @param {number} width
 * @param {number} height
 * @param {(x: number, y: number) => [number, number, number]} colour
 */
export function png(width, height, colour) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const rows = Buffer.alloc(height * (1 + 3 * width));
  for (let y = 0; y < height; y++) {
    const start = y * (1 + 3 * width);
    for (let x = 0; x < width; x++) rows.set(colour(x, y), start + 1 + 3 * x);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * The `i`th of a family of test pictures: stripes and a gradient whose hue, direction and
 * frequency vary with `i`, so that images differ from each other by degrees.
 * @param {number} i
 * @param {number} [size] the side, in pixels
 */
export function testPicture(i, size = 48) {
  const hue = (i * 47) % 360;
  const [r, g, b] = [0, 120, 240].map((shift) => Math.round(127.5 + 127.5 * Math.cos(((hue + shift) * Math.PI) / 180)));
  const frequency = 1 + (i % 7);
  const angle = (i * 0.61) % Math.PI;
  return png(size, size, (x, y) => {
    const wave = 0.5 + 0.5 * Math.sin(((x * Math.cos(angle) + y * Math.sin(angle)) / size) * 2 * Math.PI * frequency);
    return [Math.round(r * wave), Math.round(g * (1 - wave)), Math.round(b * (x / size))];
  });
}
