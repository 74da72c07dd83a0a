// Set-up the end-to-end specs share: a static server per spec file, a preset shortened for a quick
// run, a link that carries a recipe (as an object or as JSON text), the page's errors collected,
// waiting for window.minnow, and waiting for the page's status.

import { test } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { startServer } from '../../scripts/serve.mjs';

/**
 * Starts the static server before the spec file's tests and stops it after them.
 * @returns {{url: () => string}} the server's base URL, once started
 */
export function useServer() {
  /** @type {{url: string, close: () => Promise<void>} | undefined} */
  let server;
  test.beforeAll(async () => {
    server = await startServer({ port: 0 });
  });
  test.afterAll(async () => {
    await server?.close();
  });
  return {
    url: () => {
      if (!server) throw new Error('the server is not started (useServer() outside a describe?)');
      return server.url;
    },
  };
}

/**
 * A preset's recipe with fewer epochs (its cosine schedule fitted to them) on `backend`.
 * @param {string} name the preset (presets/<name>.json)
 * @param {{epochs?: number, backend?: string, compression?: object[]}} [changes]
 */
export function presetRecipe(name, { epochs, backend = 'cpu', compression } = {}) {
  const r = JSON.parse(readFileSync(`presets/${name}.json`, 'utf8'));
  r.backend = backend;
  if (epochs !== undefined) {
    r.training.epochs = epochs;
    if (r.training.schedule?.decay?.t_max !== undefined) r.training.schedule.decay.t_max = epochs;
  }
  if (compression) r.compression = compression;
  return r;
}

/**
 * The page's address carrying `recipe` in its fragment.
 * @param {string} base the server's URL
 * @param {object} recipe
 * @param {string} [query] e.g. "?autorun"
 */
export function link(base, recipe, query = '') {
  return linkText(base, JSON.stringify(recipe), query);
}

/**
 * The page's address carrying a recipe's JSON `text` in its fragment, as written: for a text
 * JSON.stringify cannot give (a seed above 2^53, a recipe nested too deep).
 * @param {string} base the server's URL
 * @param {string} text
 * @param {string} [query] e.g. "?autorun"
 */
export function linkText(base, text, query = '') {
  return `${base}${query}#v=1&r=${Buffer.from(text).toString('base64url')}`;
}

/**
 * Collects uncaught page errors and console errors, for an assertion at the end of a test.
 * @param {import('@playwright/test').Page} page
 */
export function collectErrors(page) {
  /** @type {string[]} */
  const errors = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  return errors;
}

/**
 * Opens `url` and waits until window.minnow is ready.
 * @param {import('@playwright/test').Page} page
 * @param {string} url
 */
export async function openPage(page, url) {
  await page.goto(url);
  await page.evaluate(() => /** @type {any} */ (window).minnow.ready);
}

/**
 * Waits until the page's status (body[data-status]) is one of `states`; a "broken" or "failed"
 * page ends the wait early with an error that quotes the notice.
 * @param {import('@playwright/test').Page} page
 * @param {string[]} states
 * @param {number} [timeout] milliseconds
 */
export async function waitForStatus(page, states, timeout = 30_000) {
  const ends = [...states, 'broken', 'failed'];
  await page.waitForFunction((s) => s.includes(document.body.dataset.status ?? ''), ends, { timeout });
  const status = await page.evaluate(() => document.body.dataset.status);
  if (!states.includes(status ?? '')) {
    const notice = await page.locator('#notice').innerText().catch(() => '');
    throw new Error(`page status "${status}" while waiting for ${states.join('/')}: ${notice}`);
  }
}
