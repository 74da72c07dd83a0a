// The static build: scripts/dist.sh (make dist) writes dist/, and a plain static server with no
// special handling (python3 -m http.server, under a sub-path as GitHub Pages serves a project)
// serves it as it is: the page loads its engine, trains the spiral preset with a falling loss,
// fetches the digits set for a digits run, and logs no error.

import { test, expect } from '@playwright/test';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** @type {import('node:child_process').ChildProcess | undefined} */
let server;
let base = '';

test.beforeAll(async () => {
  const root = mkdtempSync(join(tmpdir(), 'minnow-dist-'));
  execFileSync('scripts/dist.sh', { env: { ...process.env, DIST: join(root, 'minnow') }, stdio: 'pipe' });
  expect(existsSync(join(root, 'minnow', 'www', 'pkg', 'minnow_bg.wasm'))).toBe(true);
  server = spawn('python3', ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1', '--directory', root], { stdio: ['ignore', 'pipe', 'pipe'] });
  const port = await new Promise((res, rej) => {
    let text = '';
    server?.stdout?.on('data', (d) => {
      text += d;
      const m = /port (\d+)/.exec(text);
      if (m) res(Number(m[1]));
    });
    server?.on('exit', (code) => rej(new Error(`http.server exited (${code})`)));
    setTimeout(() => rej(new Error(`http.server did not start: ${text}`)), 15_000);
  });
  base = `http://127.0.0.1:${port}/minnow/`;
});

test.afterAll(() => {
  server?.kill();
});

/** @param {import('@playwright/test').Page} page */
function collectErrors(page) {
  /** @type {string[]} */
  const errors = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
  page.on('response', (r) => {
    if (r.status() >= 400) errors.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  return errors;
}

/** @param {object} recipe */
const fragment = (recipe) => `#v=1&r=${Buffer.from(JSON.stringify(recipe)).toString('base64url')}`;

test('dist/ served by python3 -m http.server under a sub-path trains the spiral and a digits model', async ({ page }) => {
  test.setTimeout(180_000);
  const errors = collectErrors(page);
  const spiral = JSON.parse(readFileSync(resolve('presets/spiral-mlp.json'), 'utf8'));
  spiral.backend = 'cpu';
  spiral.training.epochs = 8;
  spiral.training.schedule.decay.t_max = 8;
  await page.goto(base + fragment(spiral));
  await page.evaluate(() => /** @type {any} */ (window).minnow.ready);
  await expect(page.locator('#backend-badge')).not.toHaveAttribute('data-state', 'error');
  const report = await page.evaluate(() => /** @type {any} */ (window).minnow.train());
  const losses = report.epochs.map((/** @type {any} */ e) => e.train_loss);
  expect(losses.length).toBe(8);
  expect(losses.at(-1)).toBeLessThan(losses[0]);
  await expect(page.locator('#epochs tbody tr')).toHaveCount(8);
  await expect(page.locator('body')).toHaveAttribute('data-status', 'done');

  // A digits run: the worker fetches data/digits.bin.gz relative to itself.
  const digits = { version: 1, dataset: { name: 'digits' }, model: { kind: 'mlp', hidden: [16] }, training: { epochs: 1, batch_size: 64, optimizer: { kind: 'adam', lr: 0.01 } }, seed: 1, backend: 'cpu' };
  await page.evaluate((r) => /** @type {any} */ (window).minnow.setRecipe(r), digits);
  const d = await page.evaluate(() => /** @type {any} */ (window).minnow.train());
  expect(d.final.test_accuracy).toBeGreaterThan(0.5);
  expect(errors).toEqual([]);
});
