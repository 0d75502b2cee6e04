#!/usr/bin/env node
// @ts-check
// The app's static server: www/ at /, the WebAssembly build (pkg/) at /pkg/, a folder of
// model checkpoints at /models/, and the project's safety data (data/: the bundled pairs and
// safe caption pool) at /data/. Nothing outside those four folders is ever served.
//
//   node www/serve.mjs [--port 8080] [--host 127.0.0.1] [--models DIR] [--cors] [--test-hooks]
//
// Port 0 picks a free port. The first line printed is `Serving http://HOST:PORT/`. `--cors` lets
// pages of other origins use what it serves (the <safer-clip-demo> element embedded elsewhere).
// `--test-hooks` serves www/test-hooks.js, through which the browser tests fail the GPU on
// purpose; without it that file is not served.

import { createReadStream } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { pipeline } from 'node:stream';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const MIME_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.jsonl': 'application/jsonl; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
  '.safetensors': 'application/octet-stream',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

// Cross-origin isolation, so the app may use SharedArrayBuffer (wasm threads) when it needs to.
const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
};

// What `--cors` adds: any origin may read the files (the element's modules, the WebAssembly core,
// models and data are fetched in CORS mode from another site's page).
const CROSS_ORIGIN_HEADERS = {
  'Access-Control-Allow-Origin': '*',
  'Cross-Origin-Resource-Policy': 'cross-origin',
};

/**
 * How long a client may take to send its request headers, and its whole request: a static
 * server answers GETs, so one that never finishes its headers (a slow-loris client) is cut off
 * instead of holding a connection for Node's default minute.
 */
export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 30_000;

/** The test hooks' file in www/, served only with `testHooks`. */
const TEST_HOOKS = '/test-hooks.js';

/**
 * @param {{ www?: string, pkg?: string, models?: string, data?: string }} [roots]
 * @param {{ cors?: boolean, testHooks?: boolean }} [options] `cors`: let pages of any origin read
 *   the files; `testHooks`: serve www/test-hooks.js
 * @returns {import('node:http').Server}
 */
export function createAppServer(roots = {}, { cors = false, testHooks = false } = {}) {
  const mounts = [
    { prefix: '/pkg/', root: resolve(roots.pkg ?? join(REPO, 'pkg')) },
    { prefix: '/models/', root: resolve(roots.models ?? join(REPO, 'models')), listing: true },
    { prefix: '/data/', root: resolve(roots.data ?? join(REPO, 'data')) },
    { prefix: '/', root: resolve(roots.www ?? join(REPO, 'www')) },
  ];

  const everyResponse = cors ? { ...ISOLATION_HEADERS, ...CROSS_ORIGIN_HEADERS } : ISOLATION_HEADERS;
  // Node checks the timeouts every `connectionsCheckingInterval` (30 s by default).
  const options = { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: 1_000 };
  return createServer(options, async (request, response) => {
    for (const [name, value] of Object.entries(everyResponse)) response.setHeader(name, value);
    try {
      await handle(request, response, mounts, testHooks);
    } catch (error) {
      console.error(`${request.method} ${request.url}:`, error);
      if (!response.headersSent) send(response, 500, 'Internal server error\n');
      else response.destroy();
    }
  });
}

async function handle(request, response, mounts, testHooks) {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    return send(response, 405, 'Method not allowed\n', { Allow: 'GET, HEAD' });
  }
  const segments = pathSegments(request.url);
  if (!segments) return send(response, 400, 'Bad request\n');
  if (segments.some((s) => s === '..' || s.includes('\\') || s.includes('\0'))) {
    return send(response, 403, 'Forbidden\n');
  }
  // Hidden files (.git, the .cache that `huggingface-cli download` leaves) are never served.
  if (segments.some((s) => s.startsWith('.'))) return send(response, 404, 'Not found\n');

  const path = '/' + segments.join('/');
  if (path === TEST_HOOKS && !testHooks) return send(response, 404, 'Not found\n');
  const mount = mounts.find((m) => path === m.prefix.slice(0, -1) || path.startsWith(m.prefix));
  const relative = path.slice(mount.prefix.length);
  const isDirectory = relative === '' || path.endsWith('/');

  if (mount.listing && relative === '') return sendJson(request, response, await listModels(mount.root));
  const file = await resolveInside(mount.root, isDirectory ? join(relative, 'index.html') : relative);
  if (!file) return send(response, 404, 'Not found\n');
  if (file === FORBIDDEN) return send(response, 403, 'Forbidden\n');
  return sendFile(request, response, file);
}

/** The decoded path segments of a request URL, or null when it cannot be decoded. */
function pathSegments(url) {
  try {
    // Splitting again after decoding turns an encoded slash (`..%2f..`) into segments too, so
    // the `..` check in handle() sees every one.
    const { pathname } = new URL(url, 'http://localhost');
    return pathname
      .split('/')
      .slice(1)
      .flatMap((segment) => decodeURIComponent(segment).split('/'));
  } catch {
    return null;
  }
}

const FORBIDDEN = Symbol('forbidden');

/**
 * The real path of `relative` under `root` if it is a file inside root (symbolic links
 * included), FORBIDDEN if it resolves outside, and null if there is no such file.
 */
async function resolveInside(root, relative) {
  let realRoot;
  let real;
  try {
    realRoot = await realpath(root);
    real = await realpath(join(realRoot, relative));
  } catch {
    return null;
  }
  if (real !== realRoot && !real.startsWith(realRoot + sep)) return FORBIDDEN;
  const info = await stat(real);
  return info.isFile() ? real : null;
}

/** Names of the model folders under `root` that hold a config.json, sorted. */
async function listModels(root) {
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch {
    return [];
  }
  const names = [];
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const config = await resolveInside(root, join(entry.name, 'config.json'));
    if (typeof config === 'string') names.push(entry.name);
  }
  return names.sort();
}

async function sendFile(request, response, file) {
  const { size, mtime } = await stat(file);
  const headers = {
    'Content-Type': MIME_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Accept-Ranges': 'bytes',
    'Last-Modified': mtime.toUTCString(),
    'Cache-Control': 'no-cache',
  };
  let status = 200;
  let start = 0;
  let end = size - 1;
  const range = request.headers.range && parseRange(request.headers.range, size);
  if (range === 'unsatisfiable') {
    return send(response, 416, 'Range not satisfiable\n', { 'Content-Range': `bytes */${size}` });
  }
  if (range) {
    status = 206;
    [start, end] = range;
    headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  }
  headers['Content-Length'] = String(Math.max(0, end - start + 1));
  response.writeHead(status, headers);
  if (request.method === 'HEAD' || size === 0) return response.end();
  // pipeline() closes the file when the client goes away mid-download.
  pipeline(createReadStream(file, { start, end }), response, () => {});
}

/**
 * A single `bytes=` range as inclusive [start, end], 'unsatisfiable', or null to send the
 * whole file (a header this server does not understand, such as several ranges, is ignored as
 * RFC 9110 allows).
 */
function parseRange(header, size) {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return null;
  if (size === 0) return 'unsatisfiable';
  let start;
  let end;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(match[1]);
    if (start >= size) return 'unsatisfiable';
    end = match[2] === '' ? size - 1 : Number(match[2]);
    if (end < start) return null;
    end = Math.min(end, size - 1);
  }
  return [start, end];
}

function sendJson(request, response, value) {
  const body = JSON.stringify(value);
  response.writeHead(200, {
    'Content-Type': MIME_TYPES['.json'],
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-cache',
  });
  response.end(request.method === 'HEAD' ? undefined : body);
}

function send(response, status, body, headers = {}) {
  response.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    ...headers,
  });
  response.end(body);
}

const USAGE = 'Usage: node www/serve.mjs [--port 8080] [--host 127.0.0.1] [--models DIR] [--cors] [--test-hooks]';

/** A command-line mistake: said in one line with the usage, exit status 2. */
function refuse(message) {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

async function main() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: 'string', default: '8080' },
        host: { type: 'string', default: '127.0.0.1' },
        models: { type: 'string' },
        cors: { type: 'boolean', default: false },
        'test-hooks': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    return refuse(/** @type {Error} */ (error).message);
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (values.models !== undefined) {
    const models = await stat(values.models).catch(() => null);
    if (!models?.isDirectory()) return refuse(`--models ${values.models}: no such folder`);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return refuse(`invalid port: ${values.port}`);
  const server = createAppServer({ models: values.models }, { cors: values.cors, testHooks: values['test-hooks'] });
  server.on('error', (error) => {
    console.error(`cannot serve on ${values.host}:${port}: ${error.message}`);
    process.exit(1);
  });
  server.listen(port, values.host, () => {
    const { address, port: bound } = /** @type {import('node:net').AddressInfo} */ (server.address());
    const host = address.includes(':') ? `[${address}]` : address;
    console.log(`Serving http://${host}:${bound}/`);
    console.log(`  models from ${resolve(values.models ?? join(REPO, 'models'))}`);
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
