// End-to-end test of "before and after, side by side" in the Explore card: the decision boundary of
// the model as trained beside the compressed one's, and the change of the confusion matrix.

import { test, expect } from '@playwright/test';
import { link, openPage, presetRecipe, useServer } from './helpers.js';

const server = useServer();

test('the explorer draws both boundaries and the confusion change', async ({ page }) => {
  await openPage(page, link(server.url(), presetRecipe('spiral-mlp', { epochs: 12 })));
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
