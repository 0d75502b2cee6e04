// @ts-check
// The static server: what it serves, with which headers, and what it refuses.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS, createAppServer } from '../../www/serve.mjs';
import { REPO } from './harness.mjs';

/**
 * The port a listening server took.
 * @param {import('node:http').Server} server
 */
function port(server) {
  return /** @type {import('node:net').AddressInfo} */ (server.address()).port;
}

/** A raw request, so paths reach the server exactly as written (fetch would normalise them). */
function get(base, path, { method = 'GET', headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = request(new URL(base), { method, path, headers }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('www/serve.mjs', () => {
  let root;
  let server;
  let base;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'safer-clip-serve-'));
    const dir = (...parts) => {
      mkdirSync(join(root, ...parts), { recursive: true });
      return join(root, ...parts);
    };
    writeFileSync(join(dir('www'), 'index.html'), '<!doctype html><title>app</title>');
    writeFileSync(join(dir('www'), 'app.js'), 'export {};');
    writeFileSync(join(dir('pkg'), 'safer_clip_bg.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d]));
    writeFileSync(join(dir('data'), 'pairs.jsonl'), '{"safe": "a", "unsafe": "b"}\n');
    writeFileSync(join(dir('models', 'tiny'), 'config.json'), '{}');
    writeFileSync(join(root, 'models', 'tiny', 'model.safetensors'), '0123456789');
    dir('models', 'no-config');
    writeFileSync(join(dir('models', '.cache'), 'config.json'), '{}');
    writeFileSync(join(dir('outside'), 'config.json'), '{"secret": true}');
    symlinkSync(join(root, 'outside'), join(root, 'models', 'escape'));
    symlinkSync(join(root, 'outside', 'config.json'), join(root, 'models', 'tiny', 'leak.json'));
    symlinkSync(join(root, 'models', 'tiny'), join(root, 'models', 'alias'));

    server = createAppServer({ www: join(root, 'www'), pkg: join(root, 'pkg'), models: join(root, 'models'), data: join(root, 'data') });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
    base = `http://127.0.0.1:${port(server)}`;
  });

  after(() => {
    server?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('serves the four roots with their MIME types and isolation headers', async () => {
    const cases = [
      ['/', 'text/html; charset=utf-8'],
      ['/app.js', 'text/javascript; charset=utf-8'],
      ['/pkg/safer_clip_bg.wasm', 'application/wasm'],
      ['/models/tiny/config.json', 'application/json; charset=utf-8'],
      ['/models/tiny/model.safetensors', 'application/octet-stream'],
      ['/data/pairs.jsonl', 'application/jsonl; charset=utf-8'],
    ];
    for (const [path, type] of cases) {
      const { status, headers } = await get(base, path);
      assert.equal(status, 200, path);
      assert.equal(headers['content-type'], type, path);
      assert.equal(headers['cross-origin-opener-policy'], 'same-origin');
      assert.equal(headers['cross-origin-embedder-policy'], 'require-corp');
      assert.equal(headers['cross-origin-resource-policy'], 'same-origin');
    }
  });

  it('lists the model folders that hold a config.json, inside the folder only', async () => {
    const { status, body } = await get(base, '/models/');
    assert.equal(status, 200);
    assert.deepEqual(JSON.parse(body), ['alias', 'tiny']);
  });

  it('refuses paths that leave the roots', async () => {
    const refused = [
      '/../outside/config.json',
      '/pkg/../../outside/config.json',
      '/models/%2e%2e/outside/config.json',
      '/models/..%2foutside%2fconfig.json',
      '/models/..%2F..%2Fetc%2Fpasswd',
      '/models/..%5coutside%5cconfig.json',
      '/models/escape/config.json',
      '/models/tiny/leak.json',
      '/models/.cache/config.json',
      '/models/tiny/config.json%00.png',
      '/%ff',
    ];
    for (const path of refused) {
      const { status, body } = await get(base, path);
      assert.ok([400, 403, 404].includes(status), `${path}: ${status}`);
      assert.doesNotMatch(body, /secret/, path);
    }
  });

  it('answers byte ranges and HEAD', async () => {
    const path = '/models/tiny/model.safetensors';
    const range = async (spec) => get(base, path, { headers: { Range: `bytes=${spec}` } });

    let response = await range('2-5');
    assert.equal(response.status, 206);
    assert.equal(response.body, '2345');
    assert.equal(response.headers['content-range'], 'bytes 2-5/10');

    response = await range('7-');
    assert.equal(response.body, '789');
    response = await range('-3');
    assert.equal(response.body, '789');
    response = await range('5-100');
    assert.equal(response.body, '56789');

    response = await range('10-');
    assert.equal(response.status, 416);
    assert.equal(response.headers['content-range'], 'bytes */10');

    response = await get(base, path, { headers: { Range: 'bytes=0-1,4-5' } });
    assert.equal(response.status, 200, 'several ranges: the whole file');

    response = await get(base, path, { method: 'HEAD' });
    assert.equal(response.status, 200);
    assert.equal(response.headers['content-length'], '10');
    assert.equal(response.headers['accept-ranges'], 'bytes');
    assert.equal(response.body, '');
  });

  it('only answers GET and HEAD', async () => {
    const { status, headers } = await get(base, '/', { method: 'POST' });
    assert.equal(status, 405);
    assert.equal(headers.allow, 'GET, HEAD');
  });

  it('serves the test hooks only when told --test-hooks', async () => {
    writeFileSync(join(root, 'www', 'test-hooks.js'), 'export {};');
    assert.equal((await get(base, '/test-hooks.js')).status, 404);
    const testing = createAppServer({ www: join(root, 'www'), pkg: join(root, 'pkg'), models: join(root, 'models'), data: join(root, 'data') }, { testHooks: true });
    await new Promise((resolve) => testing.listen(0, '127.0.0.1', () => resolve(undefined)));
    try {
      const { status, headers } = await get(`http://127.0.0.1:${port(testing)}`, '/test-hooks.js');
      assert.equal(status, 200);
      assert.equal(headers['content-type'], 'text/javascript; charset=utf-8');
    } finally {
      testing.close();
    }
  });

  it('keeps its files to its own origin unless told --cors', async () => {
    const { headers } = await get(base, '/app.js');
    assert.equal(headers['access-control-allow-origin'], undefined);
    const open = createAppServer({ www: join(root, 'www'), pkg: join(root, 'pkg'), models: join(root, 'models'), data: join(root, 'data') }, { cors: true });
    await new Promise((resolve) => open.listen(0, '127.0.0.1', () => resolve(undefined)));
    try {
      const openBase = `http://127.0.0.1:${port(open)}`;
      for (const path of ['/app.js', '/pkg/safer_clip_bg.wasm', '/models/tiny/config.json', '/data/pairs.jsonl', '/missing.js']) {
        const response = await get(openBase, path);
        assert.equal(response.headers['access-control-allow-origin'], '*', path);
        assert.equal(response.headers['cross-origin-resource-policy'], 'cross-origin', path);
        assert.equal(response.headers['x-content-type-options'], 'nosniff', path);
      }
    } finally {
      open.close();
    }
  });

  it('cuts off a client that never finishes its headers', async () => {
    const slow = createAppServer({ www: join(root, 'www'), pkg: join(root, 'pkg'), models: join(root, 'models'), data: join(root, 'data') });
    assert.equal(slow.headersTimeout, HEADERS_TIMEOUT_MS);
    assert.equal(slow.requestTimeout, REQUEST_TIMEOUT_MS);
    // The same mechanism at a test's pace.
    slow.headersTimeout = 300;
    await new Promise((resolve) => slow.listen(0, '127.0.0.1', () => resolve(undefined)));
    try {
      const started = Date.now();
      const closed = await new Promise((resolve) => {
        const socket = connect(port(slow), '127.0.0.1', () => socket.write('GET /app.js HTTP/1.1\r\nHost: x\r\n'));
        const giveUp = setTimeout(() => { socket.destroy(); resolve(null); }, 5_000);
        socket.on('data', () => {});
        socket.on('close', () => { clearTimeout(giveUp); resolve(Date.now() - started); });
      });
      assert.notEqual(closed, null, 'the connection was still open after 5 s');
    } finally {
      slow.close();
    }
  });
});

describe('node www/serve.mjs', () => {
  const serve = (...args) => spawnSync(process.execPath, [join(REPO, 'www/serve.mjs'), ...args], { encoding: 'utf8', timeout: 10_000 });

  it('refuses an unknown option or a missing models folder in one line, without a stack trace', () => {
    /** @type {Array<[string[], RegExp]>} */
    const cases = [
      [['--bogus'], /Unknown option '--bogus'/],
      [['--models', '/nonexistent'], /--models \/nonexistent: no such folder/],
      [['--port', 'x'], /invalid port: x/],
    ];
    for (const [args, expected] of cases) {
      const { status, stderr } = serve(...args);
      assert.equal(status, 2, stderr);
      assert.match(stderr, expected);
      assert.match(stderr, /^Usage: node www\/serve.mjs/m);
      assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
    }
  });
});
