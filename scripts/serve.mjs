// Tiny static file server for the playground (`make serve`) and the Playwright test: serves the repo
// root (index.html, www/, www/pkg/) on 127.0.0.1 with correct MIME types (application/wasm for
// streaming compilation, text/javascript for module workers) and no caching. Never serves a dotfile
// or anything under a dot-directory (.git/, .env) and never a path outside the root: both are 404.
// CLI: node scripts/serve.mjs [--port N] (default $PORT or 8000; 0 picks a free port).

import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

/** @type {Record<string, string>} */
export const MIME_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.csv': 'text/csv; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/**
 * Maps a request path to a file under `root`, or null when it would escape the root or name a
 * dotfile or anything inside a dot-directory (`.git/config`, `/www/.env`).
 * @param {string} root absolute directory
 * @param {string} urlPath the request's path, e.g. "/www/app.js"
 * @returns {string | null}
 */
export function resolveRequestPath(root, urlPath) {
  let path;
  try {
    path = decodeURIComponent(urlPath.split('?')[0].split('#')[0]);
  } catch {
    return null;
  }
  if (path.includes('\0')) return null;
  if (path.split(/[\\/]/).some((segment) => segment.startsWith('.'))) return null;
  if (path.endsWith('/')) path += 'index.html';
  const full = normalize(join(root, path));
  if (full !== root && !full.startsWith(root.endsWith(sep) ? root : root + sep)) return null;
  return full;
}

/**
 * Starts the server. Resolves once it listens.
 * @param {{root?: string, port?: number, host?: string, quiet?: boolean}} [options]
 * @returns {Promise<{url: string, port: number, close: () => Promise<void>}>}
 */
export function startServer({ root = REPO_ROOT, port = 8000, host = '127.0.0.1', quiet = true } = {}) {
  const absRoot = resolve(root);
  const server = createServer(async (req, res) => {
    const send = (/** @type {number} */ code, /** @type {string} */ text) => {
      res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(text);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    const file = resolveRequestPath(absRoot, req.url ?? '/');
    if (!file) return send(404, 'not found\n');
    try {
      const info = await stat(file);
      if (!info.isFile()) return send(404, 'not found\n');
      res.writeHead(200, {
        'Content-Type': MIME_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
        'Content-Length': info.size,
        'Cache-Control': 'no-store',
        'X-Content-Type-Options': 'nosniff',
      });
      if (req.method === 'HEAD') return res.end();
      createReadStream(file).pipe(res);
    } catch {
      send(404, 'not found\n');
    }
    if (!quiet) console.log(`${req.method} ${req.url}`);
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const address = server.address();
      const actualPort = typeof address === 'object' && address ? address.port : port;
      resolvePromise({
        url: `http://${host}:${actualPort}/`,
        port: actualPort,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--port');
  const port = Number(i >= 0 ? process.argv[i + 1] : (process.env.PORT ?? 8000));
  const { url } = await startServer({ port, quiet: !process.argv.includes('--verbose') });
  console.log(`minnow playground: ${url}  (Ctrl-C to stop)`);
}
