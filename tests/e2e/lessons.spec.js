// End-to-end tests of the guided lessons (www/lessons.js, www/lesson-ui.js): minnow.lessons() lists
// them, `lesson=<id>` in a link opens one, the Lessons menu opens one, and every lesson is walked
// from its first step to its last through the real controls (the Preset menu, the Build tab's
// inputs, Train, the Explore card, the temperature slider), with "Next" checked to be disabled until
// the step's action is done. Recipes are shortened with minnow.setRecipe after the preset step
// (fewer epochs, the CPU backend) so the whole spec stays quick; the checks read the trained report's
// recipe, so they hold for the shortened runs as for the presets.

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

// Several trainings a test on a machine shared with other jobs: more than the config's 3 minutes.
test.describe.configure({ timeout: 400_000 });

/** @typedef {import('@playwright/test').Page} Page */

/** @param {string} name */
function preset(name) {
  return JSON.parse(readFileSync(`presets/${name}.json`, 'utf8'));
}

/** @param {Page} page */
async function ready(page) {
  await page.evaluate(() => /** @type {any} */ (window).minnow.ready);
}

/**
 * Opens lesson `id` on a page whose recipe is no preset (the spiral at seed 2), so that its first
 * step (choose the preset) starts undone.
 * @param {Page} page @param {string} id
 */
async function openLesson(page, id) {
  const custom = { ...preset('spiral-mlp'), seed: 2 };
  await page.goto(`${server.url}#v=1&r=${Buffer.from(JSON.stringify(custom)).toString('base64url')}`);
  await ready(page);
  const opened = await page.evaluate((i) => /** @type {any} */ (window).minnow.lesson(i), id);
  expect(opened.id).toBe(id);
  expect(opened.step).toBe(1);
  await expect(page.locator('#lesson-panel')).toBeVisible();
  await expect(page.locator('#lesson-panel')).toHaveAttribute('data-lesson', id);
  return opened;
}

/** The step shown (1-based). @param {Page} page */
async function stepNumber(page) {
  return Number(await page.locator('#lesson-panel').getAttribute('data-step')) + 1;
}

/**
 * The step's Next is disabled before `act`, enabled after it (within `timeout`); the step's
 * control is outlined; the live numbers read clean; then Next moves on.
 * @param {Page} page
 * @param {(page: Page) => Promise<void>} act
 * @param {number} [timeout]
 */
async function doStep(page, act, timeout = 150_000) {
  const n = await stepNumber(page);
  const next = page.locator('#lesson-next');
  await expect(next).toBeDisabled();
  await expect(page.locator('.lesson-target')).toHaveCount(1);
  await act(page);
  await expect(next).toBeEnabled({ timeout });
  await expect(page.locator('#lesson-check')).toHaveAttribute('data-done', 'true');
  const says = page.locator('#lesson-says');
  if (await says.isVisible()) {
    const text = await says.textContent();
    expect(text).not.toMatch(/undefined|NaN|null|–|\[object/);
  }
  const last = (await next.textContent()) === 'Finish';
  await next.click();
  if (last) await expect(page.locator('#lesson-panel')).toBeHidden();
  else expect(await stepNumber(page)).toBe(n + 1);
}

/** Waits until the page's link holds a recipe passing `test` (the editor's edit was validated). @param {Page} page @param {string} test */
async function waitRecipe(page, test) {
  await page.waitForFunction((body) => {
    const r = new URLSearchParams(location.hash.slice(1)).get('r');
    if (!r) return false;
    const recipe = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(r.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0))));
    return new Function('r', `return ${body}`)(recipe);
  }, test);
}

/** Choose the preset in the Preset menu, then (once the step passed) put a short CPU version in place. */
async function choosePreset(/** @type {Page} */ page, /** @type {string} */ name, /** @type {(r: any) => void} */ shorten) {
  await doStep(page, (p) => p.selectOption('#preset', name).then(() => {}));
  const r = preset(name);
  r.backend = 'cpu';
  shorten(r);
  await page.evaluate((x) => /** @type {any} */ (window).minnow.setRecipe(x), r);
}

/** Presses Train. @param {Page} page */
async function train(page) {
  await expect(page.locator('#train')).toBeEnabled();
  await page.click('#train');
}

/** Types into a Build-tab number box and leaves it (its change commits the edit). @param {Page} page @param {string} selector @param {string} value */
async function setBox(page, selector, value) {
  await page.fill(selector, value);
  await page.press(selector, 'Tab');
}

/** @param {any} t a recipe's training */
function epochs(t, n) {
  t.epochs = n;
  if (t.schedule?.decay?.t_max) t.schedule.decay.t_max = n;
}

test('minnow.lessons() lists the lessons; a lesson= link and the Lessons menu open one', async ({ page }) => {
  await page.goto(server.url);
  await ready(page);
  const list = await page.evaluate(() => /** @type {any} */ (window).minnow.lessons());
  expect(list.length).toBeGreaterThanOrEqual(8);
  for (const l of list) {
    expect(Object.keys(l).sort()).toEqual(['id', 'steps', 'title']);
    expect(l.steps).toBeGreaterThanOrEqual(3);
    expect(l.steps).toBeLessThanOrEqual(6);
  }
  expect(list.map((/** @type {any} */ l) => l.id)).toContain('distillation');
  await expect(page.locator('#lesson-panel')).toBeHidden();
  const bad = await page.evaluate(() => /** @type {any} */ (window).minnow.lesson('nope').catch((/** @type {Error} */ e) => e.message));
  expect(bad).toContain('no such lesson');

  // The menu.
  await page.click('#lessons-button');
  await expect(page.locator('#lessons-menu')).toBeVisible();
  await expect(page.locator('#lessons-menu .lesson-item')).toHaveCount(list.length);
  await page.click('#lessons-menu .lesson-item[data-lesson="qat"]');
  await expect(page.locator('#lessons-menu')).toBeHidden();
  await expect(page.locator('#lesson-panel')).toHaveAttribute('data-lesson', 'qat');
  await expect(page.locator('#lesson-title')).toHaveText(list.find((/** @type {any} */ l) => l.id === 'qat').title);
  expect(new URL(page.url()).hash).toContain('lesson=qat');
  await expect(page.locator('#preset')).toHaveClass(/lesson-target/);

  // A link with only the lesson: the default recipe, and the lesson open.
  const fresh = await page.context().newPage();
  await fresh.goto(`${server.url}#lesson=gradual-pruning`);
  await ready(fresh);
  await expect(fresh.locator('#lesson-panel')).toHaveAttribute('data-lesson', 'gradual-pruning');
  await expect(fresh.locator('#lesson-counter')).toHaveText(/Step 1 of 4/);
  await expect(fresh.locator('#notice')).toBeHidden();
  // A link with a recipe and a lesson keeps both, and the recipe's edits keep the lesson in the link.
  const r = { ...preset('digits-mlp'), backend: 'cpu' };
  await fresh.goto(`${server.url}#v=1&r=${Buffer.from(JSON.stringify(r)).toString('base64url')}&lesson=structured-pruning`);
  await fresh.reload();
  await ready(fresh);
  await expect(fresh.locator('#lesson-panel')).toHaveAttribute('data-lesson', 'structured-pruning');
  await expect(fresh.locator('#preset')).toHaveValue('');
  await fresh.evaluate((x) => /** @type {any} */ (window).minnow.setRecipe(x), { ...r, seed: 5 });
  await waitRecipe(fresh, 'r.seed === 5');
  expect(new URL(fresh.url()).hash).toContain('&lesson=structured-pruning');
  await fresh.click('#lesson-close');
  await expect(fresh.locator('#lesson-panel')).toBeHidden();
  expect(new URL(fresh.url()).hash).not.toContain('lesson=');
  await fresh.close();
});

test('lesson basics, walked through', async ({ page }) => {
  await openLesson(page, 'basics');
  await choosePreset(page, 'spiral-mlp', (r) => epochs(r.training, 30));
  await doStep(page, train);
  await doStep(page, async (p) => {
    await p.selectOption('#f-training-schedule-decay-kind', 'constant');
    await waitRecipe(p, 'r.training.schedule.decay.kind === "constant"');
    await train(p);
  });
  await doStep(page, async (p) => {
    await p.selectOption('#f-training-optimizer-kind', 'sgd');
    await setBox(p, '#f-training-optimizer-momentum', '0');
    await waitRecipe(p, 'r.training.optimizer.kind === "sgd" && !(r.training.optimizer.momentum > 0)');
    await train(p);
  });
  await doStep(page, async (p) => {
    await setBox(p, '#f-training-optimizer-momentum', '0.9');
    await waitRecipe(p, 'r.training.optimizer.momentum === 0.9');
    await train(p);
  });
  await doStep(page, async (p) => {
    await p.check('#f-model-batch_norm');
    await waitRecipe(p, 'r.model.batch_norm === true');
    await train(p);
  });
});

test('lesson magnitude-pruning, walked through', async ({ page }) => {
  await openLesson(page, 'magnitude-pruning');
  await choosePreset(page, 'spiral-mlp', (r) => epochs(r.training, 30));
  await doStep(page, train);
  await doStep(page, (p) => p.fill('#ex-sparsity', '90'));
  await expect(page.locator('#lesson-says')).toBeHidden();
  await doStep(page, (p) => p.selectOption('#ex-method', 'global').then(() => {}));
  await doStep(page, (p) => p.fill('#ex-sparsity', '98'));
});

test('lesson gradual-pruning, walked through', async ({ page }) => {
  await openLesson(page, 'gradual-pruning');
  await choosePreset(page, 'spiral-prune', (r) => {
    epochs(r.training, 20);
    Object.assign(r.compression[1], { frequency: 4, prunings: 20, train: { epochs: 6, lr: 0.005 } });
  });
  await doStep(page, train);
  await doStep(page, async (p) => {
    await setBox(p, '#f-compression-1-prunings', '1');
    await waitRecipe(p, 'r.compression[1].prunings === 1');
    await train(p);
  });
  await doStep(page, async (p) => {
    await setBox(p, '#f-compression-1-prunings', '20');
    await setBox(p, '#f-compression-1-final_sparsity', '0.98');
    await waitRecipe(p, 'r.compression[1].prunings === 20 && r.compression[1].final_sparsity === 0.98');
    await train(p);
  });
});

test('lesson structured-pruning, walked through', async ({ page }) => {
  await openLesson(page, 'structured-pruning');
  await choosePreset(page, 'digits-mlp', (r) => epochs(r.training, 3));
  await doStep(page, async (p) => {
    await p.selectOption('#f-add-stage-kind', 'structured');
    await p.click('#f-add-stage');
  });
  await doStep(page, async (p) => {
    await setBox(p, '#f-compression-0-amount', '0.5');
    await waitRecipe(p, 'r.compression[0].amount === 0.5');
    await train(p);
  });
  await doStep(page, async (p) => {
    await p.check('#f-compression-0-remove');
    await waitRecipe(p, 'r.compression[0].remove === true');
    await train(p);
  });
});

test('lesson quantization-grid, walked through', async ({ page }) => {
  await openLesson(page, 'quantization-grid');
  await choosePreset(page, 'digits-mlp', (r) => epochs(r.training, 3));
  await doStep(page, train);
  await doStep(page, (p) => p.selectOption('#ex-bits', '8').then(() => {}));
  await doStep(page, async (p) => {
    await p.selectOption('#ex-bits', '3');
    await p.selectOption('#ex-granularity', 'per_tensor');
  });
  await doStep(page, (p) => p.selectOption('#ex-granularity', 'per_channel').then(() => {}));
  await doStep(page, (p) => p.selectOption('#ex-scheme', 'affine').then(() => {}));
});

test('lesson qat, walked through', async ({ page }) => {
  await openLesson(page, 'qat');
  await choosePreset(page, 'mnist-qat', (r) => {
    epochs(r.training, 1);
    r.dataset.train_limit = 1000;
    Object.assign(r.compression[1], { train: { epochs: 1, lr: 0.0005 }, freeze_observers_after: 10 });
  });
  await doStep(page, train);
  await doStep(page, async (p) => {
    await setBox(p, '#f-compression-1-bits', '3');
    await waitRecipe(p, 'r.compression[1].bits === 3');
    await train(p);
  });
});

test('lesson distillation, walked through', async ({ page }) => {
  await openLesson(page, 'distillation');
  await choosePreset(page, 'mnist-distill', (r) => {
    epochs(r.training, 1);
    r.dataset.train_limit = 300;
    r.compression[0].train = { epochs: 1, lr: 0.003 };
  });
  await doStep(page, train);
  await doStep(page, (p) => p.locator('input.soft-temperature').first().fill('1'));
  await doStep(page, (p) => p.locator('input.soft-temperature').first().fill('12'));
  await doStep(page, async (p) => {
    await p.locator('#f-compression-0-unlabelled').uncheck();
    await waitRecipe(p, 'r.compression[0].unlabelled !== true');
    await train(p);
  });
});

test('lesson deep-compression, walked through', async ({ page }) => {
  await openLesson(page, 'deep-compression');
  await choosePreset(page, 'mnist-deep-compression', (r) => {
    epochs(r.training, 1);
    r.dataset.train_limit = 1000;
    Object.assign(r.compression[0], { frequency: 1, prunings: 10, train: { epochs: 1, lr: 0.02 } });
    r.compression[1] = { kind: 'finetune', epochs: 1, lr: 0.01 };
    r.compression[2].bits = [8, 4];
  });
  await doStep(page, train);
  await doStep(page, async (p) => {
    await setBox(p, '#f-compression-0-final_sparsity', '0.97');
    await waitRecipe(p, 'r.compression[0].final_sparsity === 0.97');
    await train(p);
  });
});
