// Takes a headless-Chromium screenshot of the served playground after training a preset for a few
// seconds: `node scripts/screenshot.mjs [preset] [out.png] [seconds]`. Used for README images and
// for looking at the page before calling UI work done. Needs www/pkg (make wasm).
import { chromium } from '@playwright/test';
import { spawn } from 'node:child_process';

const [preset = 'spiral-mlp', out = 'screenshot.png', seconds = '6'] = process.argv.slice(2);
const port = 8765 + Math.floor(Math.random() * 1000);
const server = spawn('node', ['scripts/serve.mjs', '--port', String(port)], { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 600));
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--enable-unsafe-webgpu', '--no-sandbox', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('console', (m) => console.log('[page]', m.text()));
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForTimeout(1000);
  const select = page.locator('select').first();
  await select.selectOption(preset).catch(() => {});
  await page.waitForTimeout(500);
  await page.getByRole('button', { name: /train/i }).first().click();
  await page.waitForTimeout(Number(seconds) * 1000);
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  server.kill();
}
