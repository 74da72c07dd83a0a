// Embed mode (`embed=1&view=…` in the fragment, www/layout.js): a page that embeds minnow in an
// <iframe> with the README's snippet (tests/e2e/pages/embed.html) shows the chosen view, Train and
// the explorer's sparsity slider, and nothing of the editor; Train trains the link's recipe inside
// the frame, the slider re-measures the model, and "Open in minnow" links to the full page.

import { test, expect } from '@playwright/test';
import { collectErrors, link, presetRecipe, useServer } from './helpers.js';

const server = useServer();

/** @param {object} recipe @param {string} view */
const embedded = (recipe, view) => `${link(`${server.url()}tests/e2e/pages/embed.html`, recipe)}&embed=1&view=${view}`;

test('an embedded boundary view trains in its iframe and the sparsity slider re-measures the model', async ({ page }) => {
  test.setTimeout(120_000);
  const errors = collectErrors(page);
  await page.goto(embedded(presetRecipe('spiral-mlp', { epochs: 15 }), 'boundary'));
  const frame = page.frameLocator('#minnow');
  await expect(frame.locator('body')).toHaveClass(/embed/);
  await expect(frame.locator('body')).toHaveAttribute('data-status', 'idle', { timeout: 60_000 });
  // Minimal chrome: Train, the boundary, a link out; no editor, no preset picker, no epoch table.
  await expect(frame.locator('#train')).toBeVisible();
  await expect(frame.locator('#boundary-card')).toBeVisible();
  for (const hidden of ['.recipe-card', '#preset', '.epochs-card', '.footnote', '.views > .chart-pair']) {
    await expect(frame.locator(hidden).first()).toBeHidden();
  }
  const open = frame.locator('#open-full');
  await expect(open).toBeVisible();
  const href = /** @type {string} */ (await open.getAttribute('href'));
  expect(href).toContain('#v=1&r=');
  expect(href).not.toContain('embed=1');
  expect(new URL(href).pathname).toBe('/index.html');

  await frame.locator('#train').click();
  await expect(frame.locator('body')).toHaveAttribute('data-status', 'done', { timeout: 90_000 });
  // The explorer's main control, alone.
  const slider = frame.locator('#ex-sparsity');
  await expect(slider).toBeVisible();
  await expect(frame.locator('#ex-method')).toBeHidden();
  await expect(frame.locator('#ex-keep')).toBeHidden();
  await expect(frame.locator('#ex-readout')).toHaveAttribute('data-state', 'ok');
  const dense = await frame.locator('#ex-bytes').getAttribute('data-value');
  await slider.fill('90');
  await expect(frame.locator('#ex-achieved')).toHaveAttribute('data-value', /^0\.(89|9)/);
  await expect(frame.locator('#ex-readout')).toHaveAttribute('data-state', 'ok');
  expect(Number(await frame.locator('#ex-bytes').getAttribute('data-value'))).toBeLessThan(Number(dense));
  // The frame's address keeps embed mode.
  const frameUrl = page.frames().find((f) => f.url().includes('index.html'))?.url() ?? '';
  expect(frameUrl).toContain('embed=1&view=boundary');
  expect(errors).toEqual([]);
});

test('view=curves embeds the loss and accuracy curves instead of the boundary', async ({ page }) => {
  await page.goto(embedded(presetRecipe('spiral-mlp', { epochs: 3 }), 'curves'));
  const frame = page.frameLocator('#minnow');
  await expect(frame.locator('body')).toHaveAttribute('data-view', 'curves');
  await expect(frame.locator('body')).toHaveAttribute('data-status', 'idle', { timeout: 60_000 });
  await expect(frame.locator('#loss-chart')).toBeVisible();
  await expect(frame.locator('#boundary-card')).toBeHidden();
});
