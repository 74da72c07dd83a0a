// End-to-end tests of what a new user met on the page: the stats and the Result card agree after
// compression, an old error banner goes after a good run, focus after Train, the link during a run,
// and changing the preset while a run starts.

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

/** A short spiral-mlp run on the CPU backend, with `compression` stages. */
function spiralRecipe(epochs = 4, compression = /** @type {object[]} */ ([])) {
  const r = JSON.parse(readFileSync('presets/spiral-mlp.json', 'utf8'));
  r.backend = 'cpu';
  r.training.epochs = epochs;
  r.training.schedule.decay.t_max = epochs;
  if (compression.length) r.compression = compression;
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

test('after compression the stats and the Result card show the final model, the dense one beside it', async ({ page }) => {
  const recipe = spiralRecipe(4, [
    { kind: 'magnitude', amount: 0.9, scope: 'global' },
    { kind: 'quantize', bits: 4, scheme: 'symmetric', granularity: 'per_channel' },
  ]);
  await page.goto(link(recipe));
  await ready(page);
  const report = await page.evaluate(() => /** @type {any} */ (window).minnow.train());
  const last = report.stages.at(-1);
  const bytes = last.bytes.quantized ?? last.bytes.sparse;
  const shown = Number(await page.locator('#stat-test-acc').getAttribute('data-value'));
  expect(shown).toBeCloseTo(report.final.test_accuracy, 6);
  await expect(page.locator('#final-summary')).toHaveAttribute('data-test-accuracy', String(report.final.test_accuracy));
  await expect(page.locator('#final-summary')).toHaveAttribute('data-bytes', String(bytes));
  await expect(page.locator('#stat-model')).toHaveAttribute('data-value', String(bytes));
  const summary = await page.locator('#final-summary').textContent();
  expect(summary).toContain('(dense ');
  expect(summary).toMatch(/size .* \(dense /);
  expect(bytes).toBeLessThan(report.model.bytes);
});

test('an old error banner goes once a good run trains', async ({ page }) => {
  await page.goto(link(spiralRecipe(2)));
  await ready(page);
  // A bad field through the API is refused (no banner); a broken model file makes one.
  await expect(page.evaluate(() => /** @type {any} */ (window).minnow.setRecipe({ version: 1, bogus: 1 }))).rejects.toThrow();
  await page.setInputFiles('#model-file', { name: 'broken.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from('not a model') });
  await expect(page.locator('#notice')).toBeVisible();
  await expect(page.locator('#notice')).toHaveAttribute('data-kind', 'error');
  await page.click('#train');
  await expect(page.locator('body')).toHaveAttribute('data-status', 'done', { timeout: 60_000 });
  await expect(page.locator('#notice')).toBeHidden();
});

test('focus moves to Pause when Train starts a run, and back to Train when it ends', async ({ page }) => {
  await page.goto(link(spiralRecipe(60)));
  await ready(page);
  await page.locator('#train').focus();
  await page.keyboard.press('Enter');
  await expect(page.locator('body')).toHaveAttribute('data-status', 'training');
  await expect(page.locator('#pause')).toBeFocused();
  await page.keyboard.press('Enter'); // Pause from the keyboard
  await expect(page.locator('body')).toHaveAttribute('data-status', 'paused');
  await expect(page.locator('#train')).toBeFocused();
  await expect(page.locator('#train')).toHaveText('Resume');
});

/** @param {import('@playwright/test').Page} page the recipe the address carries */
async function linkRecipe(page) {
  const hash = await page.evaluate(() => location.hash);
  return JSON.parse(Buffer.from(hash.split('r=')[1], 'base64url').toString());
}

test('while a run trains the link keeps the running recipe; an edit reaches it on reset', async ({ page }) => {
  const running = spiralRecipe(200);
  await page.goto(link(running));
  await ready(page);
  await page.click('#train');
  await expect(page.locator('body')).toHaveAttribute('data-status', 'training');
  await page.evaluate((r) => /** @type {any} */ (window).minnow.setRecipe(r), { ...running, seed: 777 });
  expect(JSON.parse(await page.locator('#recipe').inputValue()).seed).toBe(777);
  expect((await linkRecipe(page)).seed).toBe(running.seed);
  await page.click('#reset');
  await expect(page.locator('body')).toHaveAttribute('data-status', 'idle');
  expect((await linkRecipe(page)).seed).toBe(777);
});

test('a new run puts its recipe in the link', async ({ page }) => {
  const running = spiralRecipe(200);
  await page.goto(link(running));
  await ready(page);
  await page.click('#train');
  await expect(page.locator('body')).toHaveAttribute('data-status', 'training');
  await page.evaluate((r) => /** @type {any} */ (window).minnow.setRecipe(r), { ...running, seed: 778 });
  expect((await linkRecipe(page)).seed).toBe(running.seed);
  await page.click('#pause');
  await expect(page.locator('body')).toHaveAttribute('data-status', 'paused');
  await page.click('#train'); // a changed recipe: Train starts a new run of it
  await expect(page.locator('body')).toHaveAttribute('data-status', 'training');
  expect((await linkRecipe(page)).seed).toBe(778);
});

/**
 * Holds the worker's `create` requests for `ms` (a slow start, as a big data set or a GPU adapter
 * makes), so a test can act while the page says "Starting…".
 * @param {import('@playwright/test').Page} page
 * @param {number} ms
 */
async function slowCreate(page, ms) {
  await page.addInitScript((delay) => {
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (/** @type {any} */ msg, /** @type {any} */ ...rest) {
      if (msg && msg.type === 'create') setTimeout(() => post.call(this, msg, ...rest), delay);
      else post.call(this, msg, ...rest);
    };
  }, ms);
}

test('changing the preset while a run starts drops that run; Pause and Reset work while it starts', async ({ page }) => {
  await slowCreate(page, 1500);
  await page.goto(link(spiralRecipe(200)));
  await ready(page);
  await page.click('#train');
  await expect(page.locator('#train')).toHaveText('Starting…');
  await expect(page.locator('#pause')).toBeEnabled();
  await expect(page.locator('#reset')).toBeEnabled();
  await page.selectOption('#preset', 'spiral-prune');
  await expect(page.locator('body')).toHaveAttribute('data-status', 'idle');
  // The old run never trains: nothing in the epochs table, no batches, and the editor holds the new preset.
  await page.waitForTimeout(500);
  await expect(page.locator('body')).toHaveAttribute('data-status', 'idle');
  expect(await page.evaluate(() => /** @type {any} */ (window).minnow.state().epoch)).toBe(0);
  expect(JSON.parse(await page.locator('#recipe').inputValue()).name).toBe('spiral-prune');
  await expect(page.locator('#preset')).toHaveValue('spiral-prune');

  // Pause while it starts: the run is made and waits, paused.
  await page.click('#train');
  await expect(page.locator('#train')).toHaveText('Starting…');
  await page.click('#pause');
  await expect(page.locator('body')).toHaveAttribute('data-status', 'paused');
  await page.waitForTimeout(300);
  await expect(page.locator('body')).toHaveAttribute('data-status', 'paused');
  await expect(page.locator('#batch-counter')).toHaveAttribute('data-batches', '0');
  await expect(page.locator('#train')).toHaveText('Resume');

  // Reset while it starts: back to idle, no run.
  await page.click('#reset');
  await expect(page.locator('body')).toHaveAttribute('data-status', 'idle');
  await page.click('#train');
  await expect(page.locator('#train')).toHaveText('Starting…');
  await page.click('#reset');
  await expect(page.locator('body')).toHaveAttribute('data-status', 'idle');
  await page.waitForTimeout(1800);
  await expect(page.locator('body')).toHaveAttribute('data-status', 'idle');
  await expect(page.locator('#reset')).toBeDisabled();
});
