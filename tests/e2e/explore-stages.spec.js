// End-to-end tests of the explorer after a run with stages and of the page API's training controls:
// the small multiples (one boundary per stage of a 2-D run, each with the stage's accuracy and
// bytes); the explorer's baseline after a quantize stage is the final (quantized) model, not the
// float weights under it; minnow.setSpeed / stepOnce / parity; the GPU-vs-CPU parity readout.

import { test, expect } from '@playwright/test';
import { collectErrors, link, openPage, presetRecipe, useServer } from './helpers.js';

const server = useServer();

test('a 2-D run with stages draws one boundary per stage with its accuracy and bytes', async ({ page }) => {
  const errors = collectErrors(page);
  const recipe = presetRecipe('spiral-mlp', {
    epochs: 12,
    compression: [
      { kind: 'magnitude', amount: 0.9, scope: 'global' },
      { kind: 'quantize', bits: 3, scheme: 'symmetric', granularity: 'per_tensor' },
    ],
  });
  await openPage(page, link(server.url(), recipe));
  const report = await page.evaluate(() => /** @type {any} */ (window).minnow.train());
  const figures = page.locator('#ex-stages figure');
  await expect(page.locator('#ex-stages-box')).toBeVisible();
  await expect(figures).toHaveCount(3);
  await expect(figures.nth(0).locator('figcaption')).toContainText('as trained');
  await expect(figures.nth(1).locator('figcaption')).toContainText('1 · magnitude');
  await expect(figures.nth(2).locator('figcaption')).toContainText('2 · quantiz');
  for (const [i, stage] of report.stages.entries()) {
    const fig = figures.nth(i + 1);
    expect(Number(await fig.getAttribute('data-test-accuracy'))).toBe(stage.test_accuracy);
    expect(Number(await fig.getAttribute('data-bytes'))).toBe(stage.bytes.quantized ?? stage.bytes.sparse);
  }
  // Three pictures, not all the same: the stages moved the boundary (at 48×48 two of them may
  // coincide, e.g. when 3-bit weights leave the pruned model's boundary as it was).
  const images = await page.evaluate(() => [...document.querySelectorAll('#ex-stages canvas')].map((c) => /** @type {HTMLCanvasElement} */ (c).toDataURL()));
  expect(images).toHaveLength(3);
  expect(new Set(images).size).toBeGreaterThan(1);
  expect(errors).toEqual([]);
});

test('after a quantize stage the explorer starts from the final quantized model', async ({ page }) => {
  const errors = collectErrors(page);
  await openPage(page, link(server.url(), presetRecipe('digits-quant', { epochs: 3 })));
  const report = await page.evaluate(() => /** @type {any} */ (window).minnow.train());
  const neutral = await page.evaluate(() => /** @type {any} */ (window).minnow.explore({}));
  expect(neutral.test_accuracy).toBe(report.final.test_accuracy);
  const last = report.stages.at(-1);
  expect(neutral.bytes).toBe(last.bytes.quantized);
  await expect(page.locator('#ex-baseline')).toContainText('final model, quantized (2-bit symmetric per-channel');
  await expect(page.locator('#ex-bits option').first()).toHaveText('as the final model (2-bit)');
  await expect(page.locator('#ex-acc-dense')).toContainText('final model');
  // The stats card and the explorer's neutral readout agree.
  await expect(page.locator('#ex-readout')).toHaveAttribute('data-state', 'ok');
  expect(Number(await page.locator('#ex-acc').getAttribute('data-value'))).toBe(report.final.test_accuracy);
  expect(Number(await page.locator('#stat-test-acc').getAttribute('data-value'))).toBe(report.final.test_accuracy);
  // 8-bit weights from the same float model: more bytes than the 2-bit final model.
  const eight = await page.evaluate(() => /** @type {any} */ (window).minnow.explore({ bits: 8, granularity: 'per_channel' }));
  expect(eight.bytes).toBeGreaterThan(neutral.bytes);
  expect(errors).toEqual([]);
});

test('setSpeed, stepOnce and parity drive the page', async ({ page }) => {
  await openPage(page, link(server.url(), presetRecipe('spiral-mlp', { epochs: 4 })));
  expect(await page.evaluate(() => /** @type {any} */ (window).minnow.setSpeed('slow'))).toBe('slow');
  await expect(page.locator('#speed')).toHaveValue('slow');
  const bad = await page.evaluate(() => /** @type {any} */ (window).minnow.setSpeed('warp').then(() => '', (e) => e.message));
  expect(bad).toContain("expected one of 'fast', 'normal', 'slow'");
  const one = await page.evaluate(() => /** @type {any} */ (window).minnow.stepOnce());
  expect(one).toMatchObject({ epoch: 0, batch: 1, done: false });
  const two = await page.evaluate(() => /** @type {any} */ (window).minnow.stepOnce());
  expect(two.batch).toBe(2);
  await expect(page.locator('#batch-counter')).toHaveAttribute('data-batches', '2');
  await expect(page.locator('body')).toHaveAttribute('data-status', 'paused');
  // A CPU run has no second backend to compare.
  const cpu = await page.evaluate(() => /** @type {any} */ (window).minnow.parity().then(() => '', (e) => e.message));
  expect(cpu).toContain('on the CPU');
  await page.evaluate(() => /** @type {any} */ (window).minnow.setSpeed('fast'));
  await page.evaluate(() => /** @type {any} */ (window).minnow.train());
  const busy = await page.evaluate(() => /** @type {any} */ (window).minnow.state().status);
  expect(busy).toBe('done');
});

test('on WebGPU the parity readout compares the GPU with the CPU', async ({ page }) => {
  await openPage(page, link(server.url(), presetRecipe('spiral-mlp', { epochs: 2, backend: 'gpu' })));
  await page.evaluate(() => /** @type {any} */ (window).minnow.train());
  const backend = await page.evaluate(() => /** @type {any} */ (window).minnow.state().backend);
  expect(backend).toBe('gpu');
  const p = await page.evaluate(() => /** @type {any} */ (window).minnow.parity());
  expect(p.samples).toBe(64);
  for (const k of ['loss_gpu', 'loss_cpu', 'loss_diff', 'logits_diff']) expect(Number.isFinite(p[k])).toBe(true);
  expect(p.loss_diff).toBeLessThan(1e-4);
  expect(p.logits_diff).toBeLessThan(1e-3);
  await expect(page.locator('#parity-readout')).toBeVisible();
  await expect(page.locator('#parity-readout')).toContainText('GPU vs CPU: loss Δ');
  await expect(page.locator('#parity-readout')).toContainText('on 64 samples');
});
