// End-to-end tests of the teaching controls: one mini-batch per Step press, the slow speed, and
// the accuracy-vs-size plot's tooltip and click-to-restore.

import { test, expect } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { startServer } from '../../scripts/serve.mjs';

/** @type {{url: string, close: () => Promise<void>}} */
let server;

test.beforeAll(async () => {
  server = await startServer({ port: 0 });
});

test.afterAll(async () => {
  await server?.close();
});

/** The spiral-mlp preset on the CPU backend, with `epochs`. */
function spiralRecipe(epochs = 12) {
  const r = JSON.parse(readFileSync('presets/spiral-mlp.json', 'utf8'));
  r.backend = 'cpu';
  r.training.epochs = epochs;
  r.training.schedule.decay.t_max = epochs;
  return r;
}

/** @param {object} recipe */
function link(recipe) {
  return `${server.url}#v=1&r=${Buffer.from(JSON.stringify(recipe)).toString('base64url')}`;
}

/** @param {import('@playwright/test').Page} page */
async function ready(page) {
  await page.evaluate(() => /** @type {any} */ (window).minnow.ready);
}

/** @param {import('@playwright/test').Page} page */
async function batches(page) {
  return Number(await page.locator('#batch-counter').getAttribute('data-batches'));
}

test('Step trains one mini-batch per press and the boundary shows the points before training', async ({ page }) => {
  await page.goto(link(spiralRecipe()));
  await ready(page);
  await page.click('#step');
  await expect(page.locator('#batch-counter')).toHaveAttribute('data-batches', '1');
  await expect(page.locator('body')).toHaveAttribute('data-status', 'paused');
  await expect(page.locator('#boundary-card')).toBeVisible();
  await expect(page.locator('#step')).toBeEnabled();
  await page.click('#step');
  await expect(page.locator('#batch-counter')).toHaveAttribute('data-batches', '2');
  await expect(page.locator('#step')).toBeEnabled();
  await page.click('#step');
  await expect(page.locator('#batch-counter')).toHaveAttribute('data-batches', '3');
  await expect(page.locator('#batch-counter')).toContainText('batch 3 /');
  await expect(page.locator('#train')).toHaveText('Resume');
});

test('slow speed reaches fewer batches than fast in the same time', async ({ page }) => {
  await page.goto(link(spiralRecipe(400)));
  await ready(page);
  await page.click('#train');
  await expect(page.locator('body')).toHaveAttribute('data-status', 'training');
  await page.waitForTimeout(500); // past the first calls, whose batch count ramps up
  const a0 = await batches(page);
  await page.waitForTimeout(2000);
  const fast = (await batches(page)) - a0;
  await page.selectOption('#speed', 'slow');
  await page.waitForTimeout(300); // the new pace takes over from the next call
  const b0 = await batches(page);
  await page.waitForTimeout(2000);
  const slow = (await batches(page)) - b0;
  await page.click('#pause');
  expect(fast).toBeGreaterThan(0);
  expect(slow).toBeGreaterThan(0);
  // Slow waits 9× each call's time and trains at most 8 batches a call (fast: no wait, up to 64):
  // a factor 2 leaves room for a busy machine.
  expect(slow * 2).toBeLessThan(fast);
});

test('the size plot has a tooltip and a click moves the explorer to a sweep point', async ({ page }) => {
  const r = spiralRecipe(10);
  r.compression = [{ kind: 'sweep', stage: { kind: 'magnitude', scope: 'global' }, grid: { amount: [0.5, 0.9] } }];
  await page.goto(link(r));
  await ready(page);
  await page.evaluate(() => /** @type {any} */ (window).minnow.train());
  const canvas = page.locator('#size-chart');
  await expect(canvas).toBeVisible();
  await expect(canvas).toHaveAttribute('data-points', /sweep/);
  /** @type {[number, number, string][]} */
  const pts = JSON.parse(/** @type {string} */ (await canvas.getAttribute('data-points')));
  const sweep = pts.filter((p) => p[2] === 'sweep');
  expect(sweep.length).toBe(2);
  // The sweep point at 90 % is the smaller one.
  const [x, y] = sweep.sort((a, b) => a[0] - b[0])[0];
  await canvas.hover({ position: { x, y } });
  const tip = page.locator('#size-tip');
  await expect(tip).toBeVisible();
  await expect(tip).toContainText('amount 0.9');
  await expect(tip).toContainText('test accuracy');
  await expect(tip).toContainText('bytes');
  await canvas.click({ position: { x, y } });
  await expect(page.locator('#size-note')).toContainText('Explore shows');
  const setting = await page.evaluate(() => /** @type {any} */ (window).minnow.state());
  expect(setting.status).toBe('done');
  await expect(page.locator('#explore-card')).toBeVisible();
  await expect(page.locator('#ex-sparsity')).toHaveValue('90');
  await expect(page.locator('#ex-method')).toHaveValue('global');
});

test('a 2-D recipe shows its points before Train', async ({ page }) => {
  await page.goto(link(spiralRecipe()));
  await ready(page);
  await expect(page.locator('#boundary-card')).toBeVisible();
  await expect(page.locator('#boundary-card')).toHaveAttribute('data-preview', 'true');
  await expect(page.locator('#boundary-title')).toHaveText('The data');
  await expect(page.locator('body')).toHaveAttribute('data-status', 'idle');
});

test('a digits MLP draws its first layer as one 8x8 image per hidden unit, pruned weights grey', async ({ page }) => {
  const r = JSON.parse(readFileSync('presets/digits-mlp.json', 'utf8'));
  r.backend = 'cpu';
  r.training.epochs = 2;
  if (r.training.schedule?.decay?.t_max) r.training.schedule.decay.t_max = 2;
  r.compression = [{ kind: 'magnitude', scope: 'global', amount: 0.5 }];
  await page.goto(link(r));
  await ready(page);
  await expect(page.locator('#boundary-card')).toBeHidden();
  await page.evaluate(() => /** @type {any} */ (window).minnow.train());
  await expect(page.locator('#filters-card')).toBeVisible();
  await expect(page.locator('#filters-note')).toContainText('8×8');
  await expect(page.locator('#filters-note')).toContainText('the first 64 of');
  // A pruned first layer shows grey pixels.
  const grey = await page.evaluate(() => {
    const c = /** @type {HTMLCanvasElement} */ (document.getElementById('unit-images'));
    const d = /** @type {CanvasRenderingContext2D} */ (c.getContext('2d')).getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] === 150 && d[i + 1] === 150 && d[i + 2] === 150) n++;
    return n;
  });
  expect(grey).toBeGreaterThan(50);
});

test('the batch counter counts the mini-batches trained, not the ones asked for', async ({ page }) => {
  // 600 spiral points, 20 % held out, batch 32: 15 batches an epoch; a sensitivity stage trains none.
  const r = spiralRecipe(12);
  r.compression = [{ kind: 'sensitivity', sparsities: [0.5, 0.9] }];
  await page.goto(link(r));
  await ready(page);
  await page.evaluate(() => /** @type {any} */ (window).minnow.train());
  await expect(page.locator('#batch-counter')).toHaveAttribute('data-batches', String(12 * 15));
});
