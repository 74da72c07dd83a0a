// End-to-end checks of the page's reliability (issue #15) in headless Chromium: a link nested 5,000
// deep ends in a usable page with a message; a Rust panic in the worker rejects what waits on it
// and the engine restarts without a reload, keeping the recipe; a diverging run stops with a
// message and the page trains again; a seed above 2^53 gives the CLI's run; the page works under
// its Content-Security-Policy with no violation over a GPU train and explore; a CSV or model file
// over the engine's limit is refused by its size.

import { test, expect } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { collectErrors, linkText, useServer, waitForStatus } from './helpers.js';

const server = useServer();

const SPIRAL = JSON.parse(readFileSync('presets/spiral-mlp.json', 'utf8'));

/** @param {string} text a recipe's JSON text (JSON.stringify cannot write a seed above 2^53) */
const link = (text) => linkText(server.url(), text);

test('a link nested 5,000 deep ends in a usable page with a message, also when opened again', async ({ page }) => {
  const errors = collectErrors(page);
  const deep = `{"version": 1, "model": ${'['.repeat(5000)}${']'.repeat(5000)}}`;
  const url = link(deep);
  expect(url.length).toBeGreaterThan(13_000);
  for (let visit = 0; visit < 2; visit++) {
    await page.goto('about:blank'); // a fresh load each time, not a same-document hash change
    await page.goto(url);
    await waitForStatus(page, ['idle'], 30_000);
    await expect(page.locator('#notice')).toBeVisible();
    await expect(page.locator('#notice-text')).toContainText('more than 32 levels deep');
    await expect(page.locator('#notice-text')).toContainText('Loaded the default preset, spiral-mlp');
    await expect(page.locator('#validation')).toHaveAttribute('data-state', 'ok');
  }
  const editor = JSON.parse(await page.locator('#recipe').inputValue());
  expect(editor.name).toBe('spiral-mlp');
  await page.evaluate(() => window.minnow.setRecipe({ ...JSON.parse(/** @type {HTMLTextAreaElement} */ (document.getElementById('recipe')).value), training: { epochs: 2, batch_size: 32, optimizer: { kind: 'adam', lr: 0.01 } } }));
  await page.click('#train');
  await waitForStatus(page, ['done'], 60_000);
  expect(await page.locator('#epochs tbody tr').count()).toBe(2);
  expect(errors).toEqual([]);
});

test('a panic in the worker rejects the waiting call with its message; the engine restarts without a reload', async ({ page }) => {
  await page.goto(server.url());
  await waitForStatus(page, ['idle'], 60_000);
  const recipe = { ...SPIRAL, backend: 'cpu', training: { ...SPIRAL.training, epochs: 1000 } };
  await page.evaluate((r) => window.minnow.setRecipe(r), recipe);
  const editorBefore = await page.locator('#recipe').inputValue();
  await page.evaluate(() => {
    /** @type {any} */ (window).pageMarker = 'no reload';
    /** @type {any} */ (window).trainOutcome = window.minnow.train().then(
      () => 'resolved',
      (/** @type {Error} */ e) => e.message,
    );
  });
  await waitForStatus(page, ['training'], 60_000);
  await page.waitForFunction(() => document.querySelectorAll('#epochs tbody tr').length >= 1);

  // The test-only request, dispatched inside the worker (the page has no way to send it).
  const [worker] = page.workers();
  await worker.evaluate(() => {
    self.dispatchEvent(new MessageEvent('message', { data: { id: -1, type: '__debugPanic', message: 'test panic 4711' } }));
  });
  await waitForStatus(page, ['broken'], 30_000);
  const outcome = await page.evaluate(() => /** @type {any} */ (window).trainOutcome);
  expect(outcome).toContain('test panic 4711');
  expect(outcome).toContain('minnow panicked');
  await expect(page.locator('#notice-text')).toContainText('test panic 4711');
  // The progress line says where the run stopped, not that it is still training.
  await expect(page.locator('#phase')).toHaveText(/^the engine stopped · training · epoch \d+\/1000$/);
  // A request made now is answered (refused), not left waiting.
  const later = await page.evaluate(() => window.minnow.report().then(() => 'resolved', (e) => e.message));
  expect(later).toContain('restart the engine');

  await page.click('#restart-engine');
  await waitForStatus(page, ['idle'], 30_000);
  await expect(page.locator('#restart-engine')).toHaveCount(0);
  await expect(page.locator('#notice')).toBeHidden();
  expect(await page.locator('#recipe').inputValue()).toBe(editorBefore);
  await expect(page.locator('#validation')).toHaveAttribute('data-state', 'ok');
  expect(page.workers().length).toBe(1);
  expect(page.workers()[0]).not.toBe(worker);

  await page.evaluate((r) => window.minnow.setRecipe(r), { ...recipe, training: { ...SPIRAL.training, epochs: 3 } });
  const report = await page.evaluate(() => window.minnow.train());
  expect(report.epochs.length).toBe(3);
  expect(report.final.test_accuracy).toBeGreaterThan(0.5);
  expect(await page.evaluate(() => /** @type {any} */ (window).pageMarker)).toBe('no reload');
});

test('a diverging run stops with a message naming the learning rate; Train works again', async ({ page }) => {
  await page.goto(server.url());
  await waitForStatus(page, ['idle'], 60_000);
  // The case: SGD at lr 10 on mnist-mlp gives NaN within the first epoch.
  const diverging = {
    ...JSON.parse(readFileSync('presets/mnist-mlp.json', 'utf8')),
    backend: 'cpu',
    training: { epochs: 3, batch_size: 64, optimizer: { kind: 'sgd', lr: 10 }, metrics_every: 1 },
  };
  await page.evaluate((r) => window.minnow.setRecipe(r), diverging);
  const outcome = await page.evaluate(() => window.minnow.train().then(() => 'resolved', (e) => e.message));
  expect(outcome).toMatch(/non-finite/);
  await waitForStatus(page, ['failed'], 60_000);
  await expect(page.locator('#notice')).toBeVisible();
  await expect(page.locator('#notice-text')).toContainText('try a lower learning rate (training.optimizer.lr = 10)');
  // What the page shows is the last finite state: no NaN in the epoch table or the stats.
  const shown = await page.locator('#epochs').innerText();
  expect(shown).not.toMatch(/NaN|Infinity/);
  expect(await page.locator('#stat-loss').innerText()).not.toMatch(/NaN|Infinity/);
  await expect(page.locator('#train')).toBeEnabled();

  await page.evaluate((r) => window.minnow.setRecipe(r), { ...diverging, training: { ...diverging.training, epochs: 1, optimizer: { kind: 'sgd', lr: 0.05 } } });
  await page.click('#train');
  await waitForStatus(page, ['done'], 120_000);
  await expect(page.locator('#notice')).toBeHidden();
  expect(await page.locator('#epochs tbody tr').count()).toBe(1);
  expect(Number(await page.locator('#stat-test-acc').getAttribute('data-value'))).toBeGreaterThan(0.5);
});

test('a seed above 2^53 reaches the engine digit for digit: the page gives the CLI run', async ({ page }) => {
  const cli = resolve('target/release/minnow');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: build it with "cargo build --release" (make test-e2e does)`);
  const base = { ...SPIRAL, backend: 'cpu', training: { ...SPIRAL.training, epochs: 3, metrics_every: 1 } };
  // JSON.stringify cannot write 2^53 + 1: put the digits in the text.
  const text = (/** @type {string} */ seed) => JSON.stringify({ ...base, seed: 0 }, null, 2).replace('"seed": 0', `"seed": ${seed}`);
  const dir = mkdtempSync(join(tmpdir(), 'minnow-e2e-'));
  /** @param {string} seed */
  const cliRun = (seed) => {
    writeFileSync(join(dir, `${seed}.json`), text(seed));
    execFileSync(cli, ['run', join(dir, `${seed}.json`), '--out', join(dir, `${seed}.out.json`)], { stdio: ['ignore', 'ignore', 'pipe'] });
    return JSON.parse(readFileSync(join(dir, `${seed}.out.json`), 'utf8'));
  };
  const f32 = (/** @type {number} */ v) => Math.fround(v);
  const pick = (/** @type {any} */ r) => ({
    epochs: r.epochs.map((/** @type {any} */ e) => [e.epoch, f32(e.train_loss), f32(e.test_accuracy)]),
    final: [f32(r.final.test_accuracy), f32(r.final.train_loss)],
  });
  const exact = pick(cliRun('9007199254740993'));
  const rounded = pick(cliRun('9007199254740992'));
  expect(exact).not.toEqual(rounded); // the two seeds are different runs, so the check can fail

  // The link holds 2 epochs; the Build form makes them 3, as the CLI ran.
  await page.goto(link(text('9007199254740993').replace('"epochs": 3', '"epochs": 2')));
  await waitForStatus(page, ['idle'], 60_000);
  await expect(page.locator('#recipe')).toHaveValue(/"seed": 9007199254740993/);
  expect(Buffer.from(new URL(page.url()).hash.split('&r=')[1], 'base64url').toString()).toContain('"seed":9007199254740993');
  await page.locator('#f-training-epochs').fill('3');
  await page.locator('#f-training-epochs').press('Tab');
  await expect(page.locator('#recipe')).toHaveValue(/"epochs": 3/);
  await expect(page.locator('#recipe')).toHaveValue(/"seed": 9007199254740993/);
  await page.click('#train');
  await waitForStatus(page, ['done'], 60_000);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-report')]);
  const fromPage = JSON.parse(readFileSync(/** @type {string} */ (await download.path()), 'utf8'));
  expect(pick(fromPage)).toEqual(exact);
  expect(Buffer.from(new URL(page.url()).hash.split('&r=')[1], 'base64url').toString()).toContain('"seed":9007199254740993');
});

test('a seed above 2^53 typed in the Build form or given to setRecipe keeps its digits', async ({ page }) => {
  await page.goto(link(JSON.stringify({ ...SPIRAL, seed: 7 })));
  await waitForStatus(page, ['idle'], 60_000);
  const seedBox = page.locator('#f-seed');
  await seedBox.fill('9007199254740992');
  await seedBox.press('Tab');
  await expect(page.locator('#recipe')).toHaveValue(/"seed": 9007199254740992/);
  // 2^53 + 1 rounds to the same double as 2^53: still a change, and the box shows its digits.
  await seedBox.fill('9007199254740993');
  await seedBox.press('Tab');
  await expect(page.locator('#recipe')).toHaveValue(/"seed": 9007199254740993/);
  await expect(seedBox).toHaveValue('9007199254740993');
  await seedBox.fill('9007199254740995');
  await seedBox.press('Tab');
  await expect(page.locator('#recipe')).toHaveValue(/"seed": 9007199254740995/);
  // Another field's edit keeps the typed digits.
  await page.locator('#f-training-epochs').fill('4');
  await page.locator('#f-training-epochs').press('Tab');
  await expect(page.locator('#recipe')).toHaveValue(/"epochs": 4/);
  await expect(page.locator('#recipe')).toHaveValue(/"seed": 9007199254740995/);
  expect(Buffer.from(new URL(page.url()).hash.split('&r=')[1], 'base64url').toString()).toContain('"seed":9007199254740995');
  // setRecipe: JSON text as written, an object's BigInt exactly, a rounded Number refused by name.
  const results = await page.evaluate(async () => {
    const api = /** @type {any} */ (window).minnow;
    const editor = () => /** @type {HTMLTextAreaElement} */ (document.querySelector('#recipe')).value;
    const base = JSON.parse(editor());
    const out = [];
    await api.setRecipe(JSON.stringify({ ...base, seed: 1 }).replace('"seed":1', '"seed":18446744073709551615'));
    out.push(editor());
    await api.setRecipe({ ...base, seed: 12345678901234567891n });
    out.push(editor());
    out.push(await api.setRecipe({ ...base, seed: 2 ** 60 }).then(() => 'accepted', (/** @type {Error} */ e) => e.message));
    return out;
  });
  expect(results[0]).toMatch(/"seed": 18446744073709551615/);
  expect(results[1]).toMatch(/"seed": 12345678901234567891/);
  expect(results[2]).toMatch(/^seed = 1152921504606847000: above 2\^53/);
});

test('no Content-Security-Policy violation over a GPU train and explore; inline script is refused', async ({ page }) => {
  const errors = collectErrors(page);
  await page.addInitScript(() => {
    /** @type {any} */ (window).cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      /** @type {any} */ (window).cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  await page.goto(server.url());
  await waitForStatus(page, ['idle'], 60_000);
  const csp = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
  expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval'");
  expect(csp).toContain("object-src 'none'");

  await page.evaluate((r) => window.minnow.setRecipe(r), { ...SPIRAL, backend: 'gpu', training: { ...SPIRAL.training, epochs: 4 } });
  const report = await page.evaluate(() => window.minnow.train());
  expect(report.epochs.length).toBe(4);
  expect(await page.evaluate(() => window.minnow.state().backend)).toBe('gpu');
  const explored = await page.evaluate(() => window.minnow.explore({ sparsity: 0.5, bits: 8 }));
  expect(explored.sparsity).toBeGreaterThan(0.4);
  await page.selectOption('#preset', 'digits-mlp'); // fetches data/digits.bin.gz in the worker
  await expect(page.locator('#validation')).toHaveAttribute('data-state', 'ok');
  await page.evaluate(() => window.minnow.setRecipe({ ...JSON.parse(/** @type {HTMLTextAreaElement} */ (document.getElementById('recipe')).value), training: { epochs: 1, batch_size: 64, optimizer: { kind: 'adam', lr: 0.01 } } }));
  await page.evaluate(() => window.minnow.train());
  expect(await page.evaluate(() => /** @type {any} */ (window).cspViolations)).toEqual([]);
  expect(errors).toEqual([]);

  // The policy is enforced: an inline script does not run and is reported.
  const ran = await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = 'window.inlineRan = true;';
    document.head.append(s);
    return /** @type {any} */ (window).inlineRan === true;
  });
  expect(ran).toBe(false);
  await page.waitForFunction(() => /** @type {any} */ (window).cspViolations.length > 0);
  expect((await page.evaluate(() => /** @type {any} */ (window).cspViolations))[0]).toMatch(/^script-src/);
});

test('a CSV or model file over the engine limit is refused by its size, before it is read', async ({ page }) => {
  await page.goto(server.url());
  await waitForStatus(page, ['idle'], 60_000);
  const big = Buffer.alloc(21 * 1024 * 1024, 0x30); // over MAX_CSV_BYTES (20 MiB, src/recipe/dataset.rs)
  await page.setInputFiles('#csv', { name: 'big.csv', mimeType: 'text/csv', buffer: big });
  await expect(page.locator('#notice-text')).toHaveText('big.csv is 21.0 MB; a CSV file can be at most 20.0 MB.');
  expect(await page.locator('#csv').inputValue()).toBe('');
  await expect(page.locator('#validation')).toHaveAttribute('data-state', 'ok');

  await page.evaluate(() => window.minnow.setRecipe({ ...JSON.parse(/** @type {HTMLTextAreaElement} */ (document.getElementById('recipe')).value), backend: 'cpu', training: { epochs: 1, batch_size: 32, optimizer: { kind: 'adam', lr: 0.01 } } }));
  await page.evaluate(() => window.minnow.train());
  // Over 4,000,000 parameters · 8 bytes + 1 MiB (MAX_MODEL_FILE_BYTES in src/wasm.rs).
  const model = Buffer.alloc(40 * 1024 * 1024);
  await page.setInputFiles('#model-file', { name: 'huge.safetensors', mimeType: 'application/octet-stream', buffer: model });
  await expect(page.locator('#notice-text')).toHaveText('huge.safetensors is 40.0 MB; a model file can be at most 31.5 MB.');
  await expect(page.locator('body')).toHaveAttribute('data-status', 'done');
});
