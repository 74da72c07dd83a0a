// End-to-end test of the Recipe card's Build tab (www/recipe-form.js) in headless Chromium: a model
// built with the controls alone trains, and the run's report holds the recipe the controls show;
// the engine's message for a bad field appears at that field's control and Train is disabled until
// it is fixed; an edit in the JSON tab updates the controls; a model over the parameter limit is
// refused before Train; choosing the `drawn` dataset starts from the points shown (or a starter
// set) in Draw mode, and trains.

import { test, expect } from '@playwright/test';
import { startServer } from '../../scripts/serve.mjs';

/** @type {{url: string, close: () => Promise<void>}} */
let server;

test.beforeAll(async () => {
  server = await startServer({ port: 0 });
});

test.afterAll(async () => {
  await server?.close();
});

/** @param {import('@playwright/test').Page} page */
async function open(page) {
  await page.goto(server.url);
  await page.evaluate(() => /** @type {any} */ (window).minnow.ready);
  await expect(page.locator('#validation')).toHaveAttribute('data-state', 'ok');
}

/**
 * Types a value into a control and leaves it (Tab), as a person would.
 * @param {import('@playwright/test').Page} page
 * @param {string} selector
 * @param {string} value
 */
async function enter(page, selector, value) {
  await page.locator(selector).fill(value);
  await page.locator(selector).press('Tab');
}

/** @param {import('@playwright/test').Page} page */
async function editorRecipe(page) {
  return JSON.parse(await page.locator('#recipe').inputValue());
}

test('a model built with the controls alone trains, and the report holds the controls\' recipe', async ({ page }) => {
  /** @type {string[]} */
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await open(page);
  await expect(page.locator('#build-panel')).toBeVisible();
  await expect(page.locator('#json-panel')).toBeHidden();

  await page.selectOption('#f-dataset-name', 'circles');
  await expect(page.locator('#f-dataset-classes')).toHaveCount(0); // circles has two classes, fixed
  await expect(page.locator('#f-dataset-noise')).toBeVisible();
  // Two hidden layers of 16, whatever the default had.
  while ((await page.locator('#f-model-hidden li').count()) > 1) await page.getByRole('button', { name: /^Remove hidden layer/ }).last().click();
  await enter(page, '#f-model-hidden-0', '16');
  await page.getByRole('button', { name: 'Add a hidden layer' }).click();
  await expect(page.locator('#f-model-hidden li')).toHaveCount(2);
  await expect(page.locator('#f-model-hidden-1')).toHaveValue('16');
  await page.selectOption('#f-model-activation', 'relu');
  await enter(page, '#f-training-epochs', '30');
  await page.selectOption('#f-backend', 'cpu');
  await page.selectOption('#f-add-stage-kind', 'magnitude');
  await page.click('#f-add-stage');
  await enter(page, '#f-compression-0-amount', '0.5');
  // 2-16-16-2: 48 + 272 + 34 parameters.
  await expect(page.locator('#model-size')).toContainText('354 parameters');
  await expect(page.locator('#validation')).toHaveAttribute('data-state', 'ok');
  await expect(page.locator('#train')).toBeEnabled();

  const shown = await editorRecipe(page);
  expect(shown.dataset).toEqual({ name: 'circles', samples: 600, noise: 0.1, classes: 2, test_fraction: 0.2 });
  expect(shown.model).toMatchObject({ kind: 'mlp', hidden: [16, 16], activation: 'relu' });
  expect(shown.training.epochs).toBe(30);
  expect(shown.training.schedule.decay.t_max).toBe(30); // the cosine follows the epochs
  expect(shown.compression).toEqual([{ kind: 'magnitude', amount: 0.5, scope: 'layer' }]);
  expect(page.url()).toMatch(/#v=1&r=/);

  await page.click('#train');
  await page.waitForFunction(() => ['done', 'failed', 'broken'].includes(document.body.dataset.status ?? ''), null, { timeout: 150_000 });
  expect(await page.evaluate(() => document.body.dataset.status)).toBe('done');
  const report = await page.evaluate(() => /** @type {any} */ (window).minnow.report());
  expect(report.recipe.dataset).toMatchObject({ name: 'circles', samples: 600, noise: 0.1 });
  expect(report.recipe.model).toMatchObject({ kind: 'mlp', hidden: [16, 16], activation: 'relu' });
  expect(report.recipe.training.epochs).toBe(30);
  expect(report.recipe.compression).toEqual([expect.objectContaining({ kind: 'magnitude', amount: 0.5, scope: 'layer' })]);
  expect(report.epochs).toHaveLength(30);
  expect(report.model.params).toBe(354);
  expect(report.stages).toHaveLength(1);
  expect(errors).toEqual([]);
});

test('the engine\'s message shows at the control it names; JSON edits update the controls; too big a model cannot train', async ({ page }) => {
  await open(page);
  await enter(page, '#f-training-batch_size', '0');
  const error = page.locator('#f-training-batch_size-error');
  await expect(error).toHaveText('training.batch_size = 0: must be in [1, 4096]');
  await expect(page.locator('#f-training-batch_size')).toHaveAttribute('aria-invalid', 'true');
  await expect(page.locator('#validation')).toHaveAttribute('data-state', 'bad');
  await expect(page.locator('#train')).toBeDisabled();
  expect((await editorRecipe(page)).training.batch_size).toBe(0); // the JSON shows the same recipe

  await enter(page, '#f-training-batch_size', '16');
  await expect(error).toHaveCount(0);
  await expect(page.locator('#validation')).toHaveAttribute('data-state', 'ok');
  await expect(page.locator('#train')).toBeEnabled();

  // The JSON tab: an edit there shows in the controls.
  await page.click('#tab-json');
  const recipe = await editorRecipe(page);
  expect(recipe.training.batch_size).toBe(16);
  await page.locator('#recipe').fill(JSON.stringify({ ...recipe, seed: 77, model: { ...recipe.model, hidden: [8] } }, null, 2));
  await expect(page.locator('#validation')).toHaveAttribute('data-state', 'ok');
  await page.click('#tab-build');
  await expect(page.locator('#f-seed')).toHaveValue('77');
  await expect(page.locator('#f-model-hidden li')).toHaveCount(1);
  await expect(page.locator('#f-model-hidden-0')).toHaveValue('8');
  await expect(page.locator('#model-size')).toContainText('42 parameters'); // 2-8-2

  // A number is taken while it is typed, without leaving the box; the box keeps what was typed.
  await page.locator('#f-seed').pressSequentially('0');
  await expect.poll(async () => (await editorRecipe(page)).seed).toBe(770);
  await expect(page.locator('#f-seed')).toBeFocused();
  await page.locator('#f-model-hidden-0').fill('12');
  await expect(page.locator('#model-size')).toContainText('62 parameters'); // 2-12-2

  // Over MAX_PARAMS: refused before Train, with the reason.
  await enter(page, '#f-model-hidden-0', '4096');
  await page.getByRole('button', { name: 'Add a hidden layer' }).click();
  await expect(page.locator('#model-size')).toHaveAttribute('data-state', 'bad');
  await expect(page.locator('#f-model-hidden-error, #model-size')).not.toHaveCount(0);
  await expect(page.locator('#train')).toBeDisabled();
  await expect(page.locator('#train')).toHaveAttribute('title', /parameters: at most 4000000/);
  await expect(page.locator('#validation')).toContainText('parameters: at most 4000000');
});

test('choosing drawn in the Build panel starts from the points shown, opens Draw mode and trains', async ({ page }) => {
  /** @type {string[]} */
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await open(page);
  await expect(page.locator('#boundary-card')).toBeVisible(); // the spiral's points, before Train
  await page.locator('#f-dataset-name').selectOption('drawn');
  await expect(page.locator('#draw-toggle')).toHaveAttribute('aria-pressed', 'true');
  await expect(page.locator('#validation')).toHaveAttribute('data-state', 'ok');
  let r = await editorRecipe(page);
  expect(r.dataset.name).toBe('drawn');
  expect(r.dataset.classes).toBe(2);
  expect(r.dataset.points.length).toBe(480); // the spiral preset's training points, as shown
  await expect(page.locator('#form-data-note')).toContainText('480 points, 2 classes');
  // From a dataset with no 2-D points to show: the starter points.
  await page.locator('#f-dataset-name').selectOption('digits');
  await expect.poll(async () => (await editorRecipe(page)).dataset.name).toBe('digits');
  await page.locator('#f-dataset-name').selectOption('drawn');
  await expect.poll(async () => (await editorRecipe(page)).dataset.points?.length).toBe(12);
  await expect(page.locator('#validation')).toHaveAttribute('data-state', 'ok');
  await enter(page, '#f-training-epochs', '30');
  await page.click('#train');
  await page.waitForSelector('body[data-status="done"]', { timeout: 60_000 });
  const report = await page.evaluate(() => /** @type {any} */ (window).minnow.report());
  expect(report.recipe.dataset.points.length).toBe(12);
  // 12 points, test fraction 0.2: 2 test points in the confusion matrix, 10 trained on.
  expect(report.final.confusion.flat().reduce((/** @type {number} */ a, /** @type {number} */ b) => a + b, 0)).toBe(2);
  expect(report.epochs.length).toBe(30);
  expect(errors).toEqual([]);
});
