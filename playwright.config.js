// Playwright settings for the end-to-end test (tests/e2e/): Debian's /usr/bin/chromium in new
// headless mode with WebGPU enabled; Playwright never downloads a browser of its own. The spec
// starts its own static server (scripts/serve.mjs) on a free port.

import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: 'tests/e2e',
  timeout: 180_000,
  expect: { timeout: 10_000 },
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: [['list']],
  outputDir: 'test-results',
  use: {
    browserName: 'chromium',
    viewport: { width: 1280, height: 900 },
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      // Playwright's own --headless would pick the old mode; the flags below are the ones that make
      // WebGPU (SwiftShader) available and keep Chromium off the (closed) network.
      ignoreDefaultArgs: ['--headless'],
      args: [
        '--headless=new',
        '--enable-unsafe-webgpu',
        '--no-sandbox',
        '--disable-dev-shm-usage',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
});
