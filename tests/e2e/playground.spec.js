// End-to-end test of the playground in headless Chromium: the page loads the wasm engine in its
// worker, trains the spiral preset for a few epochs and shows a falling loss; the recipe survives
// a round trip through the URL fragment; a bad link shows a message and falls back to a preset;
// a small pruning recipe runs its stages, reports them in the Stages card and draws the weights;
// a trained model downloads as a .safetensors file that opens again with the same test accuracy,
// and a bad file is refused without harming the run; the page and the CLI give the same run.

import { test, expect } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { collectErrors, link, useServer, waitForStatus } from './helpers.js';

const server = useServer();

/**
 * Pauses a run that is still training and waits until it is paused (or done). The check and the
 * click happen in one task of the page, so a run that ends just then is not clicked at: Playwright
 * would wait for the disabled Pause button until the test times out.
 * @param {import('@playwright/test').Page} page
 */
async function pauseIfTraining(page) {
  await page.evaluate(() => {
    if (document.body.dataset.status === 'training') /** @type {HTMLButtonElement} */ (document.getElementById('pause')).click();
  });
  await waitForStatus(page, ['paused', 'done']);
}

/** @param {import('@playwright/test').Page} page */
async function editorRecipe(page) {
  return JSON.parse(await page.locator('#recipe').inputValue());
}

test('trains the spiral preset and the displayed loss falls', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto(server.url());
  await waitForStatus(page, ['idle']);
  await expect(page.locator('#backend-badge')).not.toHaveAttribute('data-state', 'error');

  await page.selectOption('#preset', 'spiral-mlp');
  await expect(page.locator('#validation')).toHaveAttribute('data-state', 'ok');
  expect(page.url()).toContain('#v=1&r=');

  await page.click('#train');
  await waitForStatus(page, ['training', 'done'], 60_000);
  await expect(page.locator('#backend-badge')).toHaveAttribute('data-state', /^(cpu|gpu|fallback)$/);
  await expect(page.locator('#boundary-card')).toBeVisible();

  // A few epochs, then pause (the run may also finish by itself).
  await page.waitForFunction(
    () => document.querySelectorAll('#epochs tbody tr').length >= 3 || document.body.dataset.status !== 'training',
    null,
    { timeout: 120_000 },
  );
  await pauseIfTraining(page);

  const rows = await page.locator('#epochs tbody tr').evaluateAll((trs) =>
    trs.map((tr) => ({ epoch: Number(tr.getAttribute('data-epoch')), loss: Number(tr.getAttribute('data-train-loss')) })),
  );
  rows.sort((a, b) => a.epoch - b.epoch);
  expect(rows.length).toBeGreaterThanOrEqual(3);
  for (const r of rows) expect(Number.isFinite(r.loss)).toBe(true);
  expect(rows.at(-1).loss).toBeLessThan(rows[0].loss);

  const shownLoss = Number(await page.locator('#stat-loss').getAttribute('data-value'));
  expect(Number.isFinite(shownLoss)).toBe(true);
  await expect(page.locator('#stat-epoch')).not.toHaveText('–');

  // Resume continues the same run; Reset clears it.
  if ((await page.evaluate(() => document.body.dataset.status)) === 'paused') {
    await expect(page.locator('#train')).toHaveText('Resume');
    await page.click('#reset');
    await waitForStatus(page, ['idle']);
    await expect(page.locator('#epochs tbody tr')).toHaveCount(0);
  }
  expect(errors).toEqual([]);
});

test('the recipe round-trips through the URL fragment', async ({ page, context }) => {
  await page.goto(server.url());
  await waitForStatus(page, ['idle']);
  const recipe = await editorRecipe(page);
  recipe.seed = 4242;
  await page.click('#tab-json'); // the JSON editor is the Recipe card's second tab
  await page.locator('#recipe').fill(JSON.stringify(recipe, null, 2));
  await expect(page.locator('#validation')).toHaveAttribute('data-state', 'ok');
  await expect(page.locator('#recipe-diff')).toContainText('seed');
  await expect.poll(() => page.url()).toMatch(/#v=1&r=[A-Za-z0-9_-]+$/);
  const shared = page.url();

  const other = await context.newPage();
  await other.goto(shared);
  await waitForStatus(other, ['idle']);
  expect((await editorRecipe(other)).seed).toBe(4242);
  await expect(other.locator('#notice')).toBeHidden();
});

test('a bad link shows a message and falls back without losing what it can', async ({ page }) => {
  await page.goto(`${server.url()}#v=1&r=this-is-not-a-recipe`);
  await waitForStatus(page, ['idle']);
  await expect(page.locator('#notice')).toBeVisible();
  await expect(page.locator('#validation')).toHaveAttribute('data-state', 'ok');
  const fallback = await editorRecipe(page);
  expect(fallback.version).toBe(1);

  // A recipe with one broken section keeps the rest.
  const damaged = { ...fallback, seed: 777, training: 'not an object' };
  await page.goto('about:blank'); // a fresh load, not just a hashchange
  await page.goto(link(server.url(), damaged));
  await waitForStatus(page, ['idle']);
  await expect(page.locator('#notice')).toBeVisible();
  await expect(page.locator('#notice')).toContainText('training');
  await expect(page.locator('#validation')).toHaveAttribute('data-state', 'ok');
  const salvaged = await editorRecipe(page);
  expect(salvaged.seed).toBe(777);
  expect(typeof salvaged.training).toBe('object');
});

test('pasting a new link into the address bar loads it (hashchange)', async ({ page }) => {
  await page.goto(server.url());
  await waitForStatus(page, ['idle']);
  const recipe = { ...(await editorRecipe(page)), seed: 31337 };
  await page.evaluate((hash) => (location.hash = hash), `v=1&r=${Buffer.from(JSON.stringify(recipe)).toString('base64url')}`);
  await expect.poll(async () => (await editorRecipe(page)).seed).toBe(31337);
});

/**
 * Counts pixels of a canvas that are not transparent (the views clear to transparent).
 * @param {import('@playwright/test').Page} page
 * @param {string} selector
 */
function paintedPixels(page, selector) {
  return page.locator(selector).evaluate((/** @type {HTMLCanvasElement} */ c) => {
    const data = /** @type {CanvasRenderingContext2D} */ (c.getContext('2d')).getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
    return n;
  });
}

test('a pruning recipe runs its stages and shows them with the weights', async ({ page }) => {
  test.setTimeout(180_000);
  const errors = collectErrors(page);
  const recipe = {
    version: 1,
    dataset: { name: 'spiral', samples: 200, noise: 0.1, classes: 2 },
    model: { kind: 'mlp', hidden: [16, 16], activation: 'tanh' },
    training: { epochs: 3, batch_size: 50, optimizer: { kind: 'adam', lr: 0.02 } },
    compression: [
      { kind: 'magnitude', amount: 0.6, scope: 'global' },
      { kind: 'finetune', epochs: 1 },
    ],
    seed: 5,
    backend: 'auto',
  };
  await page.goto(link(server.url(), recipe));
  await waitForStatus(page, ['idle']);
  await expect(page.locator('#validation')).toHaveAttribute('data-state', 'ok');
  await page.click('#train');
  await waitForStatus(page, ['done'], 150_000);

  // The badge names the GPU adapter, or says why it fell back to the CPU.
  const badge = page.locator('#backend-badge');
  const state = await badge.getAttribute('data-state');
  expect(['gpu', 'cpu', 'fallback']).toContain(state);
  if (state === 'gpu') await expect(badge).toContainText(/gpu · \S/);
  if (state === 'fallback') await expect(badge).toContainText(/cpu · \S/);

  // One row per stage; the magnitude stage pruned 60 % of the weights.
  const rows = page.locator('#stages tbody tr');
  await expect(rows).toHaveCount(2);
  const magnitude = page.locator('#stages tbody tr[data-kind="magnitude"]');
  const sparsity = Number(await magnitude.getAttribute('data-sparsity'));
  expect(sparsity).toBeGreaterThan(0.5);
  await expect(magnitude).toContainText('magnitude pruning');
  await expect(page.locator('#phase')).toContainText('done');

  // The weight views and the accuracy-vs-size plot are drawn.
  await expect(page.locator('#weights-card')).toBeVisible();
  await expect(page.locator('#weights-note')).toContainText('pruned');
  await expect.poll(() => paintedPixels(page, '#weight-hist')).toBeGreaterThan(500);
  expect(await paintedPixels(page, '#sparsity-map')).toBeGreaterThan(500);
  expect(await paintedPixels(page, '#size-chart')).toBeGreaterThan(500);
  // The epoch table tags the fine-tuning epoch.
  await expect(page.locator('#epochs tbody tr').first()).toContainText('finetune');
  expect(errors).toEqual([]);
});

test('a trained model downloads, opens again with its accuracy, and bad files are refused', async ({ page }) => {
  test.setTimeout(180_000);
  const errors = collectErrors(page);
  await page.goto(server.url());
  await waitForStatus(page, ['idle']);
  await page.selectOption('#preset', 'spiral-mlp');
  await expect(page.locator('#validation')).toHaveAttribute('data-state', 'ok');
  await expect(page.locator('#download-model')).toBeDisabled();

  // The spiral preset, briefly: a few epochs to the end, so the model is the one last evaluated.
  const recipe = await editorRecipe(page);
  recipe.training.epochs = 4;
  if (recipe.training.schedule?.decay?.t_max) recipe.training.schedule.decay.t_max = 4;
  await page.click('#tab-json');
  await page.locator('#recipe').fill(JSON.stringify(recipe, null, 2));
  await expect(page.locator('#recipe-diff')).toContainText('epochs'); // validated (after a debounce)
  await expect(page.locator('#validation')).toHaveAttribute('data-state', 'ok');
  await page.click('#train');
  await waitForStatus(page, ['done'], 120_000);
  const firstLoss = Math.max(
    ...(await page.locator('#epochs tbody tr').evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute('data-train-loss'))))),
  );
  const shownText = await page.locator('#stat-test-acc').innerText();
  const shown = Number(await page.locator('#final-summary').getAttribute('data-test-accuracy'));
  expect(shown).toBeGreaterThan(0);
  expect(shownText).toBe(`${(shown * 100).toFixed(1)}%`);

  // Download model: a safetensors file named after the recipe.
  await expect(page.locator('#download-model')).toBeEnabled();
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-model')]);
  expect(download.suggestedFilename()).toMatch(/^minnow-[\w-]+\.safetensors$/);
  const bytes = readFileSync(/** @type {string} */ (await download.path()));
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  expect(header.__metadata__.minnow_format).toBe('2');
  expect(header['0.weight']).toBeTruthy();

  // Open it: the notice, the file's recipe in the editor and the link, the same test accuracy.
  const name = download.suggestedFilename();
  await page.setInputFiles('#model-file', { name, mimeType: 'application/octet-stream', buffer: bytes });
  await waitForStatus(page, ['loaded'], 60_000);
  const notice = page.locator('#notice');
  await expect(notice).toBeVisible();
  await expect(notice).toHaveAttribute('data-kind', 'info');
  await expect(notice).toContainText(`Loaded ${name}`);
  await expect(notice).toContainText('Train continues training from these weights');
  await expect(notice).toContainText('not the weights');
  await expect(notice).toContainText(`test accuracy ${shownText}`);
  await expect(page.locator('#stat-test-acc')).toHaveText(shownText);
  const opened = Number(await page.locator('#final-summary').getAttribute('data-test-accuracy'));
  expect(Math.abs(opened - shown)).toBeLessThan(1e-6);
  await expect(page.locator('#final-summary')).toContainText(`weights from ${name}`);
  expect((await editorRecipe(page)).training.epochs).toBe(4);
  await expect(page.locator('#validation')).toHaveAttribute('data-state', 'ok');
  await expect(page.locator('#boundary-card')).toBeVisible();
  await expect(page.locator('#weights-card')).toBeVisible();
  await expect.poll(() => paintedPixels(page, '#weight-hist')).toBeGreaterThan(500);
  await expect.poll(() => paintedPixels(page, '#boundary')).toBeGreaterThan(500);
  await expect(page.locator('#epochs tbody tr')).toHaveCount(0);
  await expect(page.locator('#train')).toBeEnabled();
  await expect(page.locator('#download-model')).toBeEnabled();

  // Garbage and a truncated copy: minnow's message, and the opened run stays as it was.
  await page.setInputFiles('#model-file', { name: 'garbage.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from('not a model at all') });
  await expect(notice).toHaveAttribute('data-kind', 'error');
  await expect(notice).toContainText('garbage.safetensors could not be opened');
  await expect(notice).toContainText('safetensors file');
  await page.setInputFiles('#model-file', { name: 'half.safetensors', mimeType: 'application/octet-stream', buffer: bytes.subarray(0, bytes.length >> 1) });
  await expect(notice).toContainText('half.safetensors could not be opened');
  expect(await page.evaluate(() => document.body.dataset.status)).toBe('loaded');
  await expect(page.locator('#stat-test-acc')).toHaveText(shownText);
  await expect(page.locator('#model-file')).toBeEnabled();

  // Train continues from the file's weights: the first epoch's loss starts below the fresh run's.
  await page.click('#train');
  await waitForStatus(page, ['training', 'done'], 60_000);
  await page.waitForFunction(() => document.querySelectorAll('#epochs tbody tr').length >= 1, null, { timeout: 60_000 });
  const continued = Number(await page.locator('#epochs tbody tr').last().getAttribute('data-train-loss'));
  expect(continued).toBeLessThan(firstLoss);
  await pauseIfTraining(page);
  expect(errors).toEqual([]);
});

test('the page and the CLI give the same run, bit for bit', async ({ page }) => {
  test.setTimeout(180_000);
  const cli = resolve('target/release/minnow');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: build it with "cargo build --release" (make test-e2e does)`);
  // The digits-quant preset: softmax cross-entropy (exp, log), Adam (sqrt), the cosine schedule
  // (cos), int8 and 2-8-bit quantization, where one ulp of drift in training flips a rounding. With
  // the platform's libm in the CLI (glibc) its 4-bit point differed from the page's (wasm).
  const recipe = { ...JSON.parse(readFileSync('presets/digits-quant.json', 'utf8')), backend: 'cpu' };
  const dir = mkdtempSync(join(tmpdir(), 'minnow-e2e-'));
  writeFileSync(join(dir, 'recipe.json'), JSON.stringify(recipe));
  execFileSync(cli, ['run', join(dir, 'recipe.json'), '--out', join(dir, 'cli.json')], { stdio: ['ignore', 'ignore', 'pipe'] });
  const fromCli = JSON.parse(readFileSync(join(dir, 'cli.json'), 'utf8'));

  await page.goto(link(server.url(), recipe));
  await waitForStatus(page, ['idle']);
  await page.click('#train');
  await waitForStatus(page, ['done'], 150_000);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-report')]);
  const fromPage = JSON.parse(readFileSync(/** @type {string} */ (await download.path()), 'utf8'));

  // The engine's numbers are f32: the CLI prints their shortest decimal, the page their f64 value.
  const f32 = (/** @type {number} */ v) => Math.fround(v);
  const pick = (/** @type {any} */ r) => ({
    epochs: r.epochs.map((/** @type {any} */ e) => [e.epoch, f32(e.train_loss), f32(e.train_accuracy), f32(e.test_accuracy), f32(e.lr)]),
    final: [f32(r.final.test_accuracy), f32(r.final.train_loss), r.final.confusion],
    stages: r.stages.map((/** @type {any} */ s) => [
      s.kind,
      f32(s.test_accuracy),
      s.details.points.map((/** @type {any} */ p) => [p.bits, f32(p.test_accuracy), p.bytes.quantized, p.int8_agreement]),
    ]),
  });
  expect(pick(fromPage)).toEqual(pick(fromCli));
  expect(fromPage.stages.length).toBe(2);
});

