// End-to-end test of "before and after, side by side" in the Explore card: the decision boundary of
// the model as trained beside the compressed one's, and the change of the confusion matrix.

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

test('the explorer draws both boundaries and the confusion change', async ({ page }) => {
  const r = JSON.parse(readFileSync('presets/spiral-mlp.json', 'utf8'));
  r.backend = 'cpu';
  r.training.epochs = 12;
  r.training.schedule.decay.t_max = 12;
  await page.goto(`${server.url}#v=1&r=${Buffer.from(JSON.stringify(r)).toString('base64url')}`);
  await page.evaluate(() => /** @type {any} */ (window).minnow.ready);
  await page.evaluate(() => /** @type {any} */ (window).minnow.train());
  await expect(page.locator('#ex-views')).toBeVisible();
  await expect(page.locator('#ex-boundary-dense-cap')).toContainText('as trained');
  const compressed = page.locator('#ex-boundary-cap');
  const before = await compressed.textContent();
  const pixels = () => page.evaluate(() => /** @type {HTMLCanvasElement} */ (document.getElementById('ex-boundary')).toDataURL());
  const img0 = await pixels();
  await page.evaluate(() => /** @type {any} */ (window).minnow.explore({ sparsity: 0.97, method: 'global', bits: 2 }));
  await expect(compressed).not.toHaveText(before ?? '');
  await expect.poll(pixels).not.toBe(img0);
  await page.locator('#ex-confusion-box summary').click();
  await expect(page.locator('#ex-confusion table.confusion-diff tbody tr')).toHaveCount(2);
});
