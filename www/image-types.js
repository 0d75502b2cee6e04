// @ts-check
// The image files the core decodes, for the panels that take images and the worker's folder work.

/** PNG, JPEG and WebP: the formats the core's decoder is built with. */
export const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/webp']);
