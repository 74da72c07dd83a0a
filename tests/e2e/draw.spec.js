// End-to-end tests of "draw your own": points clicked on the 2-D plot become the recipe's `drawn`
// dataset, train, show their boundary and travel in the link; a digit drawn on the pad gets two
// probability sets that sum to 1; the digits' sample strip shows before Train.

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

/** @param {string} name @param {(r: any) => void} edit */
function preset(name, edit) {
  const r = JSON.parse(readFileSync(`presets/${name}.json`, 'utf8'));
  r.backend = 'cpu';
  edit(r);
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

/** The recipe in the page's address. @param {import('@playwright/test').Page} page */
async function linkRecipe(page) {
  const hash = await page.evaluate(() => location.hash);
  const r = new URLSearchParams(hash.slice(1)).get('r') ?? '';
  return JSON.parse(Buffer.from(r, 'base64url').toString('utf8'));
}

test('points drawn with clicks train, show their boundary and round-trip through the link', async ({ page }) => {
  const recipe = preset('spiral-mlp', (r) => {
    r.training.epochs = 40;
    r.training.schedule.decay.t_max = 40;
  });
  await page.goto(link(recipe));
  await ready(page);
  const canvas = page.locator('#boundary');
  await expect(canvas).toBeVisible();

  // Start from the spiral's own training points, then clear them.
  await page.click('#draw-edit');
  await expect(page.locator('#draw-count')).toContainText('480 points');
  await expect(page.locator('#validation')).toHaveAttribute('data-state', 'ok');
  expect((await linkRecipe(page)).dataset.points).toHaveLength(480);
  await page.click('#draw-clear');
  await expect(page.locator('#draw-count')).toHaveText('0 points: 0 · 0 (each class needs at least 3)');

  // Class 1 on the left, class 2 on the right: 8 clicks each (the view is [-1.25, 1.25]²).
  const box = /** @type {{x: number, y: number, width: number, height: number}} */ (await canvas.boundingBox());
  /** @param {number} fx @param {number} fy */
  const at = (fx, fy) => ({ x: box.x + fx * box.width, y: box.y + fy * box.height });
  await page.click('#draw-palette button[data-cls="0"]');
  for (let i = 0; i < 8; i++) {
    const p = at(0.15 + 0.03 * (i % 4), 0.25 + 0.07 * i);
    await page.mouse.click(p.x, p.y);
  }
  await page.click('#draw-palette button[data-cls="1"]');
  for (let i = 0; i < 8; i++) {
    const p = at(0.8 + 0.03 * (i % 4), 0.25 + 0.07 * i);
    await page.mouse.click(p.x, p.y);
  }
  // One stray point, erased with a shift-click.
  const stray = at(0.5, 0.1);
  await page.mouse.click(stray.x, stray.y);
  await expect(page.locator('#draw-count')).toHaveText('17 points: 8 · 9');
  await page.keyboard.down('Shift');
  await page.mouse.click(stray.x, stray.y);
  await page.keyboard.up('Shift');
  await expect(page.locator('#draw-count')).toHaveText('16 points: 8 · 8');
  await expect(page.locator('#validation')).toHaveAttribute('data-state', 'ok');

  const drawn = (await linkRecipe(page)).dataset;
  expect(drawn.name).toBe('drawn');
  expect(drawn.classes).toBe(2);
  expect(drawn.points).toHaveLength(16);
  // The first click: x = -1.25 + 0.15 · 2.5 = -0.875, y = 1.25 - 0.25 · 2.5 = 0.625 (to 0.01).
  expect(Math.abs(drawn.points[0][0] + 0.875)).toBeLessThan(0.015);
  expect(Math.abs(drawn.points[0][1] - 0.625)).toBeLessThan(0.015);
  expect(drawn.points.every((/** @type {number[]} */ p) => (p[0] < 0) === (p[2] === 0))).toBe(true);

  const report = await page.evaluate(() => /** @type {any} */ (window).minnow.train());
  expect(report.recipe.dataset.name).toBe('drawn');
  expect(report.final.test_accuracy).toBe(1);

  // The boundary under the points: the top-left corner is class 1's colour (blue-ish), the
  // top-right class 2's (orange-ish), not the empty plot's grey.
  /** @param {number} fx @param {number} fy */
  const pixel = (fx, fy) =>
    page.evaluate(([x, y]) => {
      const c = /** @type {HTMLCanvasElement} */ (document.getElementById('boundary'));
      return Array.from(/** @type {CanvasRenderingContext2D} */ (c.getContext('2d')).getImageData(Math.floor(x * c.width), Math.floor(y * c.height), 1, 1).data);
    }, [fx, fy]);
  // Both probes lie about as far from the middle between the two groups (x ≈ 0.52 of the width),
  // above the x axis drawn at y = 0.5.
  await expect.poll(async () => {
    const [r, , b] = await pixel(0.3, 0.4);
    return b > r + 20;
  }).toBe(true);
  await expect.poll(async () => {
    const [r, , b] = await pixel(0.75, 0.4);
    return r > b + 20;
  }).toBe(true);
  await page.click('#draw-toggle');
  await expect(page.locator('#boundary-title')).toHaveText('Decision boundary');

  // The link carries the points: a fresh page opened on it has the same 16.
  const url = page.url();
  const other = await page.context().newPage();
  await other.goto(url);
  await ready(other);
  const again = await linkRecipe(other);
  expect(again.dataset.points).toEqual(drawn.points);
  await other.click('#draw-toggle');
  await expect(other.locator('#draw-count')).toHaveText('16 points: 8 · 8');
  await expect(other.locator('#boundary')).toHaveAttribute('data-points', '16');
  await other.close();
});

test('the digits strip shows before Train, and a drawn digit gets two probability sets', async ({ page }) => {
  const recipe = preset('digits-mlp', (r) => {
    r.training.epochs = 3;
    r.training.schedule.decay.t_max = 3;
  });
  await page.goto(link(recipe));
  await ready(page);
  await expect(page.locator('#samples-card')).toBeVisible();
  await expect(page.locator('#samples-strip figure.sample')).toHaveCount(20);
  await expect(page.locator('#samples-strip figure.sample figcaption').first()).toHaveText('0');
  await expect(page.locator('#samples-strip figure.sample figcaption').last()).toHaveText('9');
  expect(await page.evaluate(() => /** @type {any} */ (window).minnow.state().status)).toBe('idle');
  await expect(page.locator('#digit-card')).toBeHidden();

  await page.evaluate(() => /** @type {any} */ (window).minnow.train());
  const pad = page.locator('#digit-pad');
  await expect(pad).toBeVisible();
  await pad.scrollIntoViewIfNeeded();
  const box = /** @type {{x: number, y: number, width: number, height: number}} */ (await pad.boundingBox());
  // A "7": a bar across the top, then a stroke down to the lower left.
  const stroke = async (/** @type {[number, number][]} */ pts) => {
    await page.mouse.move(box.x + pts[0][0] * box.width, box.y + pts[0][1] * box.height);
    await page.mouse.down();
    for (const [fx, fy] of pts.slice(1)) await page.mouse.move(box.x + fx * box.width, box.y + fy * box.height, { steps: 6 });
    await page.mouse.up();
  };
  await stroke([[0.25, 0.2], [0.75, 0.2], [0.4, 0.85]]);
  const sets = page.locator('#digit-probs figure.prob-set');
  await expect(page.locator('#digit-probs')).toHaveAttribute('data-sets', '2');
  await expect(sets).toHaveCount(2);
  for (const key of ['dense', 'explored']) {
    const probs = JSON.parse((await page.locator(`#digit-probs [data-set="${key}"]`).getAttribute('data-probs')) ?? '[]');
    expect(probs).toHaveLength(10);
    expect(Math.abs(probs.reduce((/** @type {number} */ a, /** @type {number} */ b) => a + b, 0) - 1)).toBeLessThan(1e-4);
  }
  // The explorer's setting changes the second set: 2-bit weights at 95 % sparsity.
  const before = await page.locator('#digit-probs [data-set="explored"]').getAttribute('data-probs');
  await page.evaluate(() => /** @type {any} */ (window).minnow.explore({ sparsity: 0.95, method: 'global', bits: 2 }));
  await expect.poll(() => page.locator('#digit-probs [data-set="explored"]').getAttribute('data-probs')).not.toBe(before);
  await expect(page.locator('#digit-probs [data-set="explored"] figcaption')).toContainText('95 % global');
  await page.click('#digit-clear');
  await expect(sets).toHaveCount(0);
});
