// Tests for scripts/serve.mjs, the static server behind `make serve` and the Playwright test:
// MIME types (application/wasm matters for streaming compilation), index.html for "/", 404s,
// and that no request escapes the served root. Run with `node --test tests/js/`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveRequestPath, startServer } from '../../scripts/serve.mjs';

test('serves files with the right types and refuses to leave the root', async () => {
  const root = await mkdtemp(join(tmpdir(), 'minnow-serve-'));
  await mkdir(join(root, 'www', 'pkg'), { recursive: true });
  await writeFile(join(root, 'index.html'), '<!doctype html><title>t</title>');
  await writeFile(join(root, 'www', 'pkg', 'm_bg.wasm'), Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0));
  await writeFile(join(root, 'www', 'app.js'), 'export {};');
  const server = await startServer({ root, port: 0 });
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const index = await fetch(server.url);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type') ?? '', /^text\/html/);
    const wasm = await fetch(new URL('www/pkg/m_bg.wasm', server.url));
    assert.equal(wasm.headers.get('content-type'), 'application/wasm');
    assert.equal((await wasm.arrayBuffer()).byteLength, 8);
    const js = await fetch(new URL('www/app.js?v=2', server.url));
    assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.equal((await fetch(new URL('nope.js', server.url))).status, 404);
    assert.equal((await fetch(new URL('www/', server.url))).status, 404, 'no directory listings');
  } finally {
    await server.close();
    await rm(root, { recursive: true, force: true });
  }
});

test('resolveRequestPath keeps every path inside the root', () => {
  assert.equal(resolveRequestPath('/srv', '/'), '/srv/index.html');
  assert.equal(resolveRequestPath('/srv', '/www/a%20b.js?x=1'), '/srv/www/a b.js');
  assert.equal(resolveRequestPath('/srv', '/../etc/passwd'), null);
  assert.equal(resolveRequestPath('/srv', '/%2e%2e/%2e%2e/etc/passwd'), null);
  assert.equal(resolveRequestPath('/srv', '/www/%00'), null);
  assert.equal(resolveRequestPath('/srv', '/%E0%A4%A'), null);
});

test('dotfiles, dot-directories and paths out of the root are 404, never served', async () => {
  const parent = await mkdtemp(join(tmpdir(), 'minnow-serve-'));
  const root = join(parent, 'site');
  await mkdir(join(root, '.git'), { recursive: true });
  await mkdir(join(root, 'www', '.cache'), { recursive: true });
  await writeFile(join(root, 'index.html'), '<!doctype html><title>t</title>');
  await writeFile(join(root, '.git', 'config'), '[core] secret');
  await writeFile(join(root, '.env'), 'TOKEN=secret');
  await writeFile(join(root, 'www', '.cache', 'x.js'), 'secret');
  await writeFile(join(parent, 'outside.txt'), 'secret');
  const server = await startServer({ root, port: 0 });
  try {
    for (const path of ['.git/config', '.git/', '.env', 'www/.cache/x.js', '%2egit/config', 'www/%2e%2e/.env', '..%2foutside.txt', '%2e%2e/outside.txt']) {
      const res = await fetch(`${server.url}${path}`);
      const body = await res.text();
      assert.equal(res.status, 404, `${path}: ${res.status}`);
      assert.doesNotMatch(body, /secret/, path);
    }
    assert.equal((await fetch(server.url)).status, 200, 'the page itself still is');
  } finally {
    await server.close();
    await rm(parent, { recursive: true, force: true });
  }
  assert.equal(resolveRequestPath('/srv', '/.git/HEAD'), null);
  assert.equal(resolveRequestPath('/srv', '/www/.env'), null);
  assert.equal(resolveRequestPath('/srv', '/www/a.b.js'), '/srv/www/a.b.js', 'dots inside a name are fine');
});
