// Takes a full-page headless-Chromium screenshot of the served playground after training a preset:
// `node scripts/screenshot.mjs [preset | recipe.json] [out.png] [seconds | done] [width] [reopen]` (a
// .json path is loaded through the URL fragment; "done" waits for the
// run and its compression stages to finish, up to 5 minutes; width defaults to 1400 CSS px;
// "reopen" then clicks Download model and opens the downloaded file again before the shot).
// MINNOW_SHOT_EXPLORE='{"sparsity": 0.9, "method": "global", "bits": 4}' then moves the Explore
// card to that setting (window.minnow.explore) before the shot, so the picture shows the explorer.
// MINNOW_SHOT_DARK=1 takes it in the dark theme (prefers-color-scheme: dark).
// Used for README images and for looking at the page before calling UI work done. Needs www/pkg.
import { chromium } from '@playwright/test';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { encodeFragment } from '../www/state.js';

const [preset = 'spiral-mlp', out = 'screenshot.png', seconds = '6', width = '1400', reopen = ''] = process.argv.slice(2);
const port = 8765 + Math.floor(Math.random() * 1000);
const server = spawn('node', ['scripts/serve.mjs', '--port', String(port)], { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 600));
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  ignoreDefaultArgs: ['--headless'],
  args: ['--enable-unsafe-webgpu', '--headless=new', '--no-sandbox', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: Number(width), height: 1000 }, deviceScaleFactor: Number(width) < 600 ? 2 : 1 });
  page.on('console', (m) => console.log('[page]', m.text()));
  if (process.env.MINNOW_SHOT_DARK) await page.emulateMedia({ colorScheme: 'dark' });
  const fromFile = preset.endsWith('.json');
  const hash = fromFile ? encodeFragment(JSON.parse(readFileSync(preset, 'utf8'))) : '';
  await page.goto(`http://127.0.0.1:${port}/${hash}`);
  await page.waitForTimeout(1000);
  if (!fromFile) await page.locator('#preset').selectOption(preset).catch(() => {});
  await page.waitForTimeout(500);
  await page.getByRole('button', { name: /train/i }).first().click();
  if (seconds === 'done') await page.waitForSelector('body[data-status="done"]', { timeout: 300_000 });
  else await page.waitForTimeout(Number(seconds) * 1000);
  if (reopen === 'reopen') {
    if (seconds !== 'done') await page.getByRole('button', { name: 'Pause' }).click();
    await page.waitForSelector('body:not([data-status="training"])');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-model')]);
    const buffer = readFileSync(/** @type {string} */ (await download.path()));
    await page.setInputFiles('#model-file', { name: download.suggestedFilename(), mimeType: 'application/octet-stream', buffer });
    await page.waitForSelector('body[data-status="loaded"]', { timeout: 60_000 });
  }
  if (process.env.MINNOW_SHOT_EXPLORE) {
    const setting = JSON.parse(process.env.MINNOW_SHOT_EXPLORE);
    if (seconds !== 'done') await page.waitForSelector('body[data-status="done"]', { timeout: 300_000 });
    console.log('explore', JSON.stringify(await page.evaluate((s) => /** @type {any} */ (window).minnow.explore(s), setting)));
  }
  await page.waitForTimeout(800); // the last weights read and redraw
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  server.kill();
}
