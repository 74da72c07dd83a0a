// End-to-end test of "distillation you can feel": after a distill stage, the temperature slider
// (and window.minnow.setTemperature) redraws the teacher's and the students' softened class
// probabilities from the logits the report carries, at once and without the engine.

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

/** digits-distill, shortened: 3 teacher epochs, 2 student epochs each, CPU. */
function distillRecipe() {
  const r = JSON.parse(readFileSync('presets/digits-distill.json', 'utf8'));
  r.backend = 'cpu';
  r.training.epochs = 3;
  r.training.schedule.decay.t_max = 3;
  r.compression[0].train = { epochs: 2, lr: 0.003 };
  return r;
}

test('the temperature slider redraws the soft targets from the stored logits', async ({ page }) => {
  const errors = /** @type {string[]} */ ([]);
  page.on('pageerror', (e) => errors.push(e.message));
  const r = distillRecipe();
  await page.goto(`${server.url}#v=1&r=${Buffer.from(JSON.stringify(r)).toString('base64url')}`);
  await page.evaluate(() => /** @type {any} */ (window).minnow.ready);
  const report = await page.evaluate(() => /** @type {any} */ (window).minnow.train());
  const st = report.stages[0].details.soft_targets;
  expect(st.temperature).toBe(4);
  expect(st.logits.teacher.length).toBe(st.teacher.length);

  const slider = page.locator('input.soft-temperature').first();
  await expect(slider).toBeVisible();
  await expect(slider).toHaveValue('4');
  // At the stage's own temperature the page recomputes what the engine reported.
  const at4 = await page.evaluate(() => /** @type {any} */ (window).minnow.setTemperature(4));
  for (let i = 0; i < st.teacher.length; i++) {
    st.teacher[i].forEach((/** @type {number} */ p, /** @type {number} */ k) => expect(Math.abs(at4.teacher[i][k] - p)).toBeLessThan(1e-5));
  }
  // A lower temperature sharpens the teacher's distribution, a higher one flattens it.
  const cold = await page.evaluate(() => /** @type {any} */ (window).minnow.setTemperature(1));
  const hot = await page.evaluate(() => /** @type {any} */ (window).minnow.setTemperature(20));
  const top = (/** @type {number[]} */ p) => Math.max(...p);
  expect(top(cold.teacher[0])).toBeGreaterThan(top(at4.teacher[0]));
  expect(top(hot.teacher[0])).toBeLessThan(top(at4.teacher[0]));
  await expect(slider).toHaveValue('20');
  await expect(page.locator('.soft-temperature-row output').first()).toHaveText('T = 20');
  // Dragging the slider redraws the bars at once (their heights follow the new probabilities).
  const before = await page.locator('.soft-bar').first().getAttribute('style');
  await slider.fill('1');
  await expect.poll(() => page.locator('.soft-bar').first().getAttribute('style')).not.toBe(before);
  await expect(page.evaluate(() => /** @type {any} */ (window).minnow.setTemperature(0))).rejects.toThrow(/\(0, 100\]/);
  expect(errors).toEqual([]);
});
