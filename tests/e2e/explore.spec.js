// End-to-end tests of window.minnow (www/page-api.js) and the compression explorer (the Explore
// card): the slider moves the readout of a trained spiral model; minnow.explore gives the CLI's
// numbers for the same recipe with a magnitude stage (test accuracy, sparse bytes), bit for bit on
// the CPU backend; ?autorun trains on load; setRecipe refuses a bad field naming it; Keep as a
// stage appends the setting to the recipe.

import { test, expect } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { collectErrors, link as linkTo, presetRecipe, useServer } from './helpers.js';

const server = useServer();

/** The spiral-mlp preset on the CPU backend, shortened to `epochs`. */
function spiralRecipe(epochs = 12) {
  return presetRecipe('spiral-mlp', { epochs });
}

/** @param {object} recipe */
function link(recipe, query = '') {
  return linkTo(server.url(), recipe, query);
}

/** @param {import('@playwright/test').Page} page */
async function ready(page) {
  await page.evaluate(() => /** @type {any} */ (window).minnow.ready);
}

test('the explorer slider changes the accuracy and size readout of a trained spiral model', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto(link(spiralRecipe()));
  await ready(page);
  await expect(page.locator('#explore-card')).toBeHidden();
  await page.click('#train');
  await page.waitForSelector('body[data-status="done"]', { timeout: 120_000 });

  const card = page.locator('#explore-card');
  await expect(card).toBeVisible();
  const readout = page.locator('#ex-readout');
  await expect(readout).toHaveAttribute('data-state', 'ok');
  const acc0 = Number(await page.locator('#ex-acc').getAttribute('data-value'));
  const bytes0 = Number(await page.locator('#ex-bytes').getAttribute('data-value'));
  expect(acc0).toBeGreaterThan(0.5);
  await expect(page.locator('#ex-acc-dense')).toContainText('%');

  // Keyboard: the slider to its end (99 %) in one key, then bits by the select.
  await page.locator('#ex-sparsity').focus();
  await page.keyboard.press('End');
  await expect(page.locator('#ex-sparsity-value')).toHaveText('99 %');
  await expect(readout).toHaveAttribute('data-state', 'ok');
  await expect.poll(async () => Number(await page.locator('#ex-bytes').getAttribute('data-value'))).toBeLessThan(bytes0);
  const acc99 = Number(await page.locator('#ex-acc').getAttribute('data-value'));
  expect(acc99).not.toBe(acc0);
  expect(Number(await page.locator('#ex-achieved').getAttribute('data-value'))).toBeGreaterThan(0.95);

  // Rapid moves: the last setting wins.
  for (const v of ['10', '60', '30', '50']) await page.locator('#ex-sparsity').fill(v);
  await expect(page.locator('#ex-sparsity-value')).toHaveText('50 %');
  await expect(readout).toHaveAttribute('data-state', 'ok');
  const api50 = await page.evaluate(() => /** @type {any} */ (window).minnow.explore({ sparsity: 0.5 }));
  expect(Number(await page.locator('#ex-acc').getAttribute('data-value'))).toBe(api50.test_accuracy);
  expect(Number(await page.locator('#ex-bytes').getAttribute('data-value'))).toBe(api50.bytes);

  await page.selectOption('#ex-bits', '4');
  await expect(page.locator('#ex-scheme')).toBeEnabled();
  await expect(readout).toHaveAttribute('data-state', 'ok');
  await expect.poll(async () => Number(await page.locator('#ex-bytes').getAttribute('data-value'))).toBeLessThan(api50.bytes);

  // The Weights card follows the explorer: its layer half pruned (per layer) and on the 4-bit grid.
  const weightsNote = page.locator('#weights-note');
  await expect(page.locator('#weights-card')).toHaveAttribute('data-source', 'explorer');
  await expect(weightsNote).toContainText('Explorer (50 % layer · 4-bit symmetric per tensor): ');
  await expect(weightsNote).toContainText('50.0% pruned · 4-bit grid, per tensor');
  const explored = await page.evaluate(() => /** @type {any} */ (window).minnow.explore({ sparsity: 0.5, bits: 4 }));
  expect(explored.test_accuracy).toBe(Number(await page.locator('#ex-acc').getAttribute('data-value')));

  // Keep as a stage: magnitude 0.5 (layer) and quantize 4 bits appended; editor and URL follow.
  await page.click('#ex-keep');
  await expect(page.locator('#ex-status')).toContainText('Added 2 stages');
  const recipe = JSON.parse(await page.locator('#recipe').inputValue());
  expect(recipe.compression).toEqual([
    { kind: 'magnitude', amount: 0.5, scope: 'layer' },
    { kind: 'quantize', bits: 4, scheme: 'symmetric', granularity: 'per_tensor' },
  ]);
  await expect(page.locator('#validation')).toHaveAttribute('data-state', 'ok');
  const fromUrl = await page.evaluate(() => location.hash);
  expect(fromUrl).toContain('#v=1&r=');
  expect(JSON.parse(Buffer.from(fromUrl.split('r=')[1], 'base64url').toString()).compression).toHaveLength(2);

  // Back at the neutral setting the Weights card shows the run's own weights again.
  await page.locator('#ex-sparsity').fill('0');
  await page.selectOption('#ex-bits', '');
  await expect(page.locator('#weights-card')).toHaveAttribute('data-source', 'run');
  await expect(weightsNote).not.toContainText('Explorer');

  // At 375 px wide the card fits and every control is on screen.
  await page.setViewportSize({ width: 375, height: 800 });
  const box = await card.boundingBox();
  expect(box && box.x >= 0 && box.x + box.width <= 375).toBe(true);
  for (const id of ['#ex-sparsity', '#ex-method', '#ex-bits', '#ex-scheme', '#ex-granularity', '#ex-keep']) {
    const b = await page.locator(id).boundingBox();
    expect(b && b.x >= 0 && b.x + b.width <= 375, id).toBe(true);
  }
  expect(errors).toEqual([]);
});

test('minnow.explore equals a CLI run of the recipe with the same magnitude stage', async ({ page }) => {
  test.setTimeout(180_000);
  const cli = resolve('target/release/minnow');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: build it with "cargo build --release" (make test-e2e does)`);
  const recipe = spiralRecipe();
  const dir = mkdtempSync(join(tmpdir(), 'minnow-e2e-'));
  writeFileSync(join(dir, 'recipe.json'), JSON.stringify({ ...recipe, compression: [{ kind: 'magnitude', amount: 0.9, scope: 'global' }] }));
  execFileSync(cli, ['run', join(dir, 'recipe.json'), '--out', join(dir, 'cli.json')], { stdio: ['ignore', 'ignore', 'pipe'] });
  const stage = JSON.parse(readFileSync(join(dir, 'cli.json'), 'utf8')).stages[0];
  expect(stage.kind).toBe('magnitude');

  const errors = collectErrors(page);
  await page.goto(server.url());
  await ready(page);
  const result = await page.evaluate(async (r) => {
    const m = /** @type {any} */ (window).minnow;
    await m.setRecipe(r);
    const report = await m.train();
    return { report, explored: await m.explore({ sparsity: 0.9, method: 'global' }), state: m.state() };
  }, recipe);
  expect(result.state.status).toBe('done');
  expect(result.state.backend).toBe('cpu');
  expect(result.state.epoch).toBe(recipe.training.epochs);
  expect(result.report.epochs).toHaveLength(recipe.training.epochs);
  // The engine's numbers are f32: the CLI prints their shortest decimal, the page their f64 value.
  expect(result.explored.test_accuracy).toBe(Math.fround(stage.test_accuracy));
  expect(result.explored.bytes).toBe(stage.bytes.sparse);
  expect(result.explored.sparsity).toBeCloseTo(stage.weight_sparsity, 6);
  expect(result.explored.ms).toBeGreaterThan(0);
  // The panel shows the same setting and numbers.
  await expect(page.locator('#ex-sparsity-value')).toHaveText('90 %');
  await expect(page.locator('#ex-method')).toHaveValue('global');
  expect(Number(await page.locator('#ex-acc').getAttribute('data-value'))).toBe(result.explored.test_accuracy);
  // The engine refuses an unknown field of a setting, naming it.
  const unknown = await page.evaluate(() => /** @type {any} */ (window).minnow.explore({ sparsty: 0.5 }).then(() => 'resolved', (/** @type {Error} */ e) => e.message));
  expect(unknown).toContain('sparsty');
  // No distillation stage: setTemperature says so.
  const t = await page.evaluate(() => /** @type {any} */ (window).minnow.setTemperature(2).then(() => 'resolved', (e) => e.message));
  expect(t).toBe('no distillation stage in this run');
  expect(errors).toEqual([]);
});

test('?autorun trains the link\'s recipe on load', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto(link(spiralRecipe(4), '?autorun'));
  await page.waitForSelector('body[data-status="done"]', { timeout: 120_000 });
  const state = await page.evaluate(() => /** @type {any} */ (window).minnow.state());
  expect(state).toMatchObject({ status: 'done', backend: 'cpu', epoch: 4 });
  expect(state.testAccuracy).toBeGreaterThan(0);
  expect(state.bytes).toBeGreaterThan(0);
  expect(errors).toEqual([]);
});

test('setRecipe refuses a bad field with the engine\'s message naming it; explore needs a model', async ({ page }) => {
  await page.goto(server.url());
  await ready(page);
  const before = await page.locator('#recipe').inputValue();
  const bad = await page.evaluate(async (r) => {
    const m = /** @type {any} */ (window).minnow;
    const messages = [];
    for (const arg of [{ ...r, bogus_field: 1 }, { ...r, training: { ...r.training, epochs: -3 } }, '{not json']) {
      messages.push(await m.setRecipe(arg).then(() => 'resolved', (/** @type {Error} */ e) => e.message));
    }
    messages.push(await m.explore({ sparsity: 0.5 }).then(() => 'resolved', (/** @type {Error} */ e) => e.message));
    return messages;
  }, spiralRecipe());
  expect(bad[0]).toContain('bogus_field');
  expect(bad[1]).toContain('epochs');
  expect(bad[2]).toContain('not valid JSON');
  expect(bad[3]).toContain('no trained model');
  expect(await page.locator('#recipe').inputValue()).toBe(before);

  // A good one lands in the editor and the URL.
  await page.evaluate((r) => /** @type {any} */ (window).minnow.setRecipe(JSON.stringify(r)), spiralRecipe(7));
  expect(JSON.parse(await page.locator('#recipe').inputValue()).training.epochs).toBe(7);
  expect(await page.evaluate(() => location.hash)).toContain('#v=1&r=');
});
