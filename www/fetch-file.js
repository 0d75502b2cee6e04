// @ts-check
// Fetching the app's files (the bundled pairs and pool, an adapter) with a readable error when
// they cannot be had.

import { ClipError } from './errors.js';

/**
 * @param {string | URL} url
 * @returns {Promise<Response>} an OK response; NetworkError otherwise
 */
export async function fetchOk(url) {
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new ClipError('NetworkError', `Could not fetch ${url} (${error instanceof Error ? error.message : error}).`);
  }
  if (!response.ok) throw new ClipError('NetworkError', `${url} answered ${response.status} ${response.statusText}.`);
  return response;
}

/** @param {string | URL} url */
export async function fetchText(url) {
  return (await fetchOk(url)).text();
}

/** @param {string | URL} url */
export async function fetchBytes(url) {
  return new Uint8Array(await (await fetchOk(url)).arrayBuffer());
}
