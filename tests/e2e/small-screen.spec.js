// The page at 375 px (www/layout.js, the 800 px block of www/style.css): Train and the views come
// before the recipe editor, which starts collapsed; pressing Train scrolls the progress bar and the
// curves into view (instantly under reduced motion); the progress bar is a progressbar with
// aria-valuenow; a skip link leads to the views; the live phase announcement speaks on phase
// changes and milestones, far less often than the phase line changes.

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

test.use({ viewport: { width: 375, height: 740 } });

test('at 375 px the views come first, the editor is collapsed, and Train brings the progress into view', async ({ page }) => {
  test.setTimeout(120_000);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  const r = JSON.parse(readFileSync('presets/spiral-mlp.json', 'utf8'));
  r.backend = 'cpu';
  r.training.epochs = 40;
  r.training.schedule.decay.t_max = 40;
  await page.goto(`${server.url}#v=1&r=${Buffer.from(JSON.stringify(r)).toString('base64url')}`);
  await page.evaluate(() => /** @type {any} */ (window).minnow.ready);

  // Skip link: first in the tab order, to the views; shown when focused.
  await page.keyboard.press('Tab');
  await expect(page.locator('.skip-link')).toBeFocused();
  await expect(page.locator('.skip-link')).toHaveAttribute('href', '#views');
  await expect(page.locator('.skip-link')).toBeInViewport();
  await page.keyboard.press('Enter');
  await expect(page.locator('#views')).toBeFocused();

  // Order: the run card, the views, then the recipe (collapsed); no horizontal scrolling.
  const top = async (/** @type {string} */ sel) => (await page.locator(sel).first().boundingBox())?.y ?? NaN;
  expect(await top('#views')).toBeLessThan(await top('.recipe-card'));
  expect(await top('#train')).toBeLessThan(await top('#views'));
  await expect(page.locator('#build-panel')).toBeHidden();
  await expect(page.locator('#recipe-toggle')).toHaveAttribute('aria-expanded', 'false');
  await page.click('#recipe-toggle');
  await expect(page.locator('#build-panel')).toBeVisible();
  await page.click('#recipe-toggle');
  await expect(page.locator('#build-panel')).toBeHidden();
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);

  // The progress bar's role and values.
  const bar = page.getByRole('progressbar', { name: 'Training progress' });
  await expect(bar).toHaveAttribute('aria-valuenow', '0');
  await expect(bar).toHaveAttribute('aria-valuemax', '100');

  // Count what the live region says against how often the visible phase line changes.
  await page.evaluate(() => {
    const w = /** @type {any} */ (window);
    w.phaseChanges = 0;
    w.announced = [];
    new MutationObserver(() => w.phaseChanges++).observe(/** @type {Node} */ (document.getElementById('phase')), { childList: true, characterData: true, subtree: true });
    new MutationObserver(() => w.announced.push(document.getElementById('phase-announce')?.textContent)).observe(/** @type {Node} */ (document.getElementById('phase-announce')), { childList: true, characterData: true, subtree: true });
  });
  await page.evaluate(() => window.scrollTo(0, 0));
  await expect(page.locator('#loss-chart')).not.toBeInViewport({ ratio: 0.5 });
  await page.click('#train');
  await expect(page.locator('body')).toHaveAttribute('data-status', /training|done/, { timeout: 60_000 });
  await expect(page.locator('#progress')).toBeInViewport();
  await expect(page.locator('#loss-chart')).toBeInViewport({ ratio: 0.9 });
  expect(await page.evaluate(() => window.scrollY)).toBeGreaterThan(0);
  await expect(page.locator('body')).toHaveAttribute('data-status', 'done', { timeout: 90_000 });
  await expect(bar).toHaveAttribute('aria-valuenow', '100');
  const { phaseChanges, announced } = await page.evaluate(() => ({ phaseChanges: /** @type {any} */ (window).phaseChanges, announced: /** @type {any} */ (window).announced }));
  expect(phaseChanges).toBeGreaterThan(20);
  expect(announced.length).toBeLessThanOrEqual(8);
  expect(announced.at(-1)).toBe('done');
});
