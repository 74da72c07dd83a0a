// Links that carry the trained model (www/share.js, minnow.shareLink): a spiral MLP pruned to 90 %
// and quantized to 4 bits travels in its link; a fresh page opened on that link shows the model
// trained, with no training: the same test accuracy, confusion matrix and decision boundary as the
// sender's, and its model file holds the sender's tensors (bit for bit, pruned -0 as +0 as the loader
// reads them), and so do the receiver's page saves again: the same model, the same logits. A dense
// model is refused with its packed size against the limit; a damaged model part is refused with
// the codec's message while the link's recipe still loads.

import { test, expect } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { MAX_LINK_BYTES, modelFromLinkText, readSafetensors } from '../../www/share.js';
import { collectErrors, link, presetRecipe, useServer } from './helpers.js';

const server = useServer();

/**
 * The spiral-mlp preset on the CPU, shortened to `epochs`, with `compression` stages.
 * @param {number} epochs
 * @param {object[]} [compression]
 */
const spiral = (epochs, compression = []) => presetRecipe('spiral-mlp', { epochs, compression });

/** The page's model file, through Download model. @param {import('@playwright/test').Page} page */
async function downloadModel(page) {
  await expect(page.locator('#download-model')).toBeEnabled();
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-model')]);
  return new Uint8Array(readFileSync(/** @type {string} */ (await download.path())));
}

/**
 * Whether two tensors hold the same values: F32 compared as numbers (so -0 equals +0), the rest
 * byte for byte.
 * @param {import('../../www/share.js').FileTensor} a
 * @param {import('../../www/share.js').FileTensor | undefined} b
 */
function sameTensor(a, b) {
  if (!b || b.dtype !== a.dtype || b.data.length !== a.data.length) return false;
  if (a.dtype !== 'F32') return Buffer.from(a.data).equals(Buffer.from(b.data));
  const x = new Float32Array(a.data.slice().buffer);
  const y = new Float32Array(b.data.slice().buffer);
  return x.every((v, i) => v === y[i]);
}

/** What the Result card and the boundary show. @param {import('@playwright/test').Page} page */
async function shown(page) {
  return {
    accuracy: await page.locator('#final-summary').getAttribute('data-test-accuracy'),
    accuracyText: await page.locator('#stat-test-acc').innerText(),
    confusion: await page.locator('#confusion').innerText(),
    boundary: await page.evaluate(() => /** @type {HTMLCanvasElement} */ (document.getElementById('boundary')).toDataURL()),
  };
}

test('a pruned, quantized spiral model travels in its link and opens trained, with the same numbers and tensors', async ({ page, browser }) => {
  test.setTimeout(180_000);
  const errors = collectErrors(page);
  const recipe = spiral(30, [
    { kind: 'magnitude', amount: 0.9, scope: 'global' },
    { kind: 'quantize', bits: 4, scheme: 'symmetric', granularity: 'per_tensor' },
  ]);
  await page.goto(link(server.url(), recipe));
  await page.evaluate(() => /** @type {any} */ (window).minnow.ready);
  await expect(page.locator('#share-model')).toBeDisabled();
  await expect(page.evaluate(() => /** @type {any} */ (window).minnow.shareLink({ model: true }))).rejects.toThrow(/no trained model/);

  const report = await page.evaluate(() => /** @type {any} */ (window).minnow.train());
  expect(report.stages.length).toBe(2);
  await expect(page.locator('#share-model')).toBeEnabled();
  const shared = await page.evaluate(() => /** @type {any} */ (window).minnow.shareLink({ model: true }));
  const m = new URLSearchParams(new URL(shared).hash.slice(1)).get('m');
  expect(m).toBeTruthy();
  const packed = Buffer.from(/** @type {string} */ (m), 'base64url').length;
  expect(packed).toBeLessThanOrEqual(MAX_LINK_BYTES);
  const senderFile = await downloadModel(page);
  await page.waitForTimeout(300); // the last grid drawn
  const sender = await shown(page);
  expect(Number(sender.accuracy)).toBeGreaterThan(0.6);
  console.log(`model link: ${packed} bytes packed (file ${senderFile.length} bytes), URL ${shared.length} characters`);

  // A fresh page on that link: the model trained, without training.
  const fresh = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const receiver = await fresh.newPage();
  const receiverErrors = collectErrors(receiver);
  await receiver.goto(shared);
  await receiver.evaluate(() => /** @type {any} */ (window).minnow.ready);
  const state = await receiver.evaluate(() => /** @type {any} */ (window).minnow.state());
  expect(state.status).toBe('loaded');
  expect(state.epoch).toBe(0);
  await expect(receiver.locator('#epochs tbody tr')).toHaveCount(0);
  await expect(receiver.locator('#batch-counter')).toHaveAttribute('data-batches', '0');
  await expect(receiver.locator('#notice')).toContainText("The link's model");
  await expect(receiver.locator('#final-card')).toBeVisible();
  await receiver.waitForTimeout(300);
  const got = await shown(receiver);
  expect(got.accuracy).toBe(sender.accuracy);
  expect(got.accuracyText).toBe(sender.accuracyText);
  expect(state.testAccuracy).toBe(Number(sender.accuracy));
  expect(got.confusion).toBe(sender.confusion);
  expect(got.boundary).toBe(sender.boundary);
  // The link keeps its model while the model is as opened.
  expect(new URLSearchParams(new URL(receiver.url()).hash.slice(1)).get('m')).toBe(m);

  // The link's model file: every metadata entry and tensor of the sender's.
  const a = readSafetensors(senderFile);
  const b = readSafetensors(await modelFromLinkText(/** @type {string} */ (m)));
  expect(b.metadata).toEqual(a.metadata);
  expect(b.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual(a.tensors.map((t) => [t.name, t.dtype, t.shape]));
  expect(a.tensors.filter((t, i) => !sameTensor(t, b.tensors[i])).map((t) => t.name)).toEqual([]);
  expect(a.tensors.filter((t, i) => !Buffer.from(b.tensors[i].data).equals(Buffer.from(t.data))).every((t) => a.tensors.some((x) => x.name === `${t.name}_mask`))).toBe(true);
  // What the receiver's page saves again: the same tensors.
  const again = readSafetensors(await downloadModel(receiver));
  expect(a.tensors.filter((t) => !sameTensor(t, again.tensors.find((x) => x.name === t.name))).map((t) => t.name)).toEqual([]);
  expect(receiverErrors).toEqual([]);
  await fresh.close();
  expect(errors).toEqual([]);
});

test('a dense model is refused with its packed size; a damaged model part is refused and the recipe still loads', async ({ page }) => {
  test.setTimeout(120_000);
  const recipe = spiral(3);
  await page.goto(link(server.url(), recipe));
  await page.evaluate(() => /** @type {any} */ (window).minnow.ready);
  await page.evaluate(() => /** @type {any} */ (window).minnow.train());
  const why = await page.evaluate(() => /** @type {any} */ (window).minnow.shareLink({ model: true }).then(() => 'resolved', (e) => e.message));
  expect(why).toMatch(new RegExp(`the model packs to \\d+ bytes, over the ${MAX_LINK_BYTES} a link carries .*Download model`));
  const plain = await page.evaluate(() => /** @type {any} */ (window).minnow.shareLink());
  expect(plain).not.toContain('&m=');
  await page.click('#share-model');
  await expect(page.locator('#notice')).toContainText('This model cannot travel in a link.');

  const damaged = `${link(server.url(), recipe)}&m=AQ${'A'.repeat(40)}`;
  const other = await page.context().newPage();
  await other.goto(damaged);
  await other.evaluate(() => /** @type {any} */ (window).minnow.ready);
  await expect(other.locator('#notice')).toHaveAttribute('data-kind', 'error');
  await expect(other.locator('#notice')).toContainText("The link's model could not be opened.");
  await expect(other.locator('#notice')).toContainText('model in the link:');
  expect(await other.evaluate(() => /** @type {any} */ (window).minnow.state().status)).toBe('idle');
  await expect(other.locator('#validation')).toHaveAttribute('data-state', 'ok');
});
