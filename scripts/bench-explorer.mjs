// The explorer benchmark (`make bench-explorer`; not part of `make test`): opens the playground in
// this machine's headless Chromium, trains spiral-mlp, digits-mlp and mnist-mlp (shortened: the
// explorer's cost does not depend on how long the model trained), then moves the Explore card's
// sparsity slider and bits control through a fixed list of settings and times each move from the
// control's input event to the redraw being done (the readout shows that setting's numbers, then a
// requestAnimationFrame and the task after it: the frame with every view is painted). Every
// setting is new to the explorer's cache, so each move pays the engine. For the profile it also
// times minnow.explore on the same settings (the engine and the drawing, without the paint).
// Prints a table (median and p90 ms per preset and backend) and writes bench/explorer.json.
// Goals: ≤ 100 ms for spiral-mlp and digits-mlp, ≤ 500 ms for mnist-mlp.
//
//   node scripts/bench-explorer.mjs [--backends cpu,gpu] [--presets spiral-mlp,digits-mlp,mnist-mlp]

import { chromium } from '@playwright/test';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { startServer } from './serve.mjs';

const args = process.argv.slice(2);
/** @param {string} name @param {string} fallback */
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return (i >= 0 && args[i + 1] ? args[i + 1] : fallback).split(',');
};
const BACKENDS = opt('backends', 'cpu,gpu');
const PRESETS = opt('presets', 'spiral-mlp,digits-mlp,mnist-mlp');
/** Epochs each preset trains before the explorer is timed. */
const EPOCHS = { 'spiral-mlp': 20, 'digits-mlp': 5, 'mnist-mlp': 1 };
const GOAL_MS = { 'spiral-mlp': 100, 'digits-mlp': 100, 'mnist-mlp': 500 };
/** The fixed walk: for each bit width (float first), the sparsity slider through these percents. */
const BITS = ['', '8', '4', '2'];
const SPARSITY = [10, 30, 50, 70, 80, 90, 95, 99, 0];

/** @param {number[]} xs @param {number} q */
function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (i - lo);
}

/** @param {string} name @param {string} backend */
function recipe(name, backend) {
  const r = JSON.parse(readFileSync(`presets/${name}.json`, 'utf8'));
  const epochs = EPOCHS[/** @type {keyof typeof EPOCHS} */ (name)] ?? 2;
  r.training.epochs = epochs;
  if (r.training.schedule?.decay?.t_max !== undefined) r.training.schedule.decay.t_max = epochs;
  r.compression = [];
  r.backend = backend;
  return r;
}

/**
 * In the page: moves one control and resolves to the ms until the views are painted.
 * @param {{id: string, value: string, event: string}} move
 */
function timeMove({ id, value, event }) {
  const readout = /** @type {HTMLElement} */ (document.getElementById('ex-readout'));
  const control = /** @type {HTMLInputElement | HTMLSelectElement} */ (document.getElementById(id));
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const timer = setTimeout(() => reject(new Error(`no redraw for ${id}=${value} within 60 s`)), 60_000);
    let wanted = '';
    const check = () => {
      if (readout.dataset.state === 'error') {
        clearTimeout(timer);
        reject(new Error(`the explorer failed: ${document.getElementById('ex-status')?.textContent}`));
        return true;
      }
      if (readout.dataset.state !== 'ok' || readout.dataset.setting !== wanted) return false;
      clearTimeout(timer);
      observer.disconnect();
      requestAnimationFrame(() => setTimeout(() => resolve(performance.now() - t0), 0));
      return true;
    };
    const observer = new MutationObserver(check);
    observer.observe(readout, { attributes: true, attributeFilter: ['data-state', 'data-setting'] });
    control.value = value;
    control.dispatchEvent(new Event(event, { bubbles: true }));
    wanted = readout.dataset.setting ?? '';
    check();
  });
}

const server = await startServer({ port: 0 });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  ignoreDefaultArgs: ['--headless'],
  args: ['--headless=new', '--enable-unsafe-webgpu', '--no-sandbox', '--disable-dev-shm-usage', '--disable-quic',
    '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
/** @type {any[]} */
const rows = [];
try {
  for (const backend of BACKENDS) {
    for (const name of PRESETS) {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      page.on('pageerror', (e) => console.error(`[${name}/${backend}] pageerror: ${e.message}`));
      const hash = `#v=1&r=${Buffer.from(JSON.stringify(recipe(name, backend))).toString('base64url')}`;
      await page.goto(`${server.url}${hash}`);
      await page.evaluate(() => /** @type {any} */ (window).minnow.ready);
      const t0 = Date.now();
      const trained = await page.evaluate(() => /** @type {any} */ (window).minnow.train().then(() => '', (/** @type {Error} */ e) => e.message));
      const state = await page.evaluate(() => /** @type {any} */ (window).minnow.state());
      if (trained || state.backend !== backend) {
        console.log(`${name} on ${backend}: skipped (${trained || `the run is on ${state.backend}`})`);
        await page.close();
        continue;
      }
      const trainS = (Date.now() - t0) / 1000;
      await page.waitForSelector('#ex-readout[data-state="ok"]');
      /** @type {number[]} */
      const ms = [];
      /** @type {{bits: string, sparsity: number, ms: number}[]} */
      const samples = [];
      for (const bits of BITS) {
        if (bits) {
          const t = await page.evaluate(timeMove, { id: 'ex-bits', value: bits, event: 'change' });
          ms.push(t);
          samples.push({ bits, sparsity: SPARSITY.at(-1) ?? 0, ms: t });
        }
        for (const s of SPARSITY) {
          if (!bits && s === 0) continue; // the neutral setting is cached when the card opens
          const t = await page.evaluate(timeMove, { id: 'ex-sparsity', value: String(s), event: 'input' });
          ms.push(t);
          samples.push({ bits, sparsity: s, ms: t });
        }
      }
      // Without the control and the paint: the same settings again through minnow.explore (worker
      // round trip, the engine's explore and decision grid, the synchronous canvas drawing).
      /** @type {number[]} */
      const engineMs = [];
      for (const { bits, sparsity } of samples.slice(0, 12)) {
        const r = await page.evaluate(
          (s) => /** @type {any} */ (window).minnow.explore(s),
          { sparsity: sparsity / 100, bits: bits ? Number(bits) : null },
        );
        engineMs.push(r.ms);
      }
      const row = {
        preset: name,
        backend,
        epochs: EPOCHS[/** @type {keyof typeof EPOCHS} */ (name)],
        train_s: Math.round(trainS * 10) / 10,
        moves: ms.length,
        median_ms: Math.round(quantile(ms, 0.5)),
        p90_ms: Math.round(quantile(ms, 0.9)),
        engine_median_ms: Math.round(quantile(engineMs, 0.5)),
        goal_ms: GOAL_MS[/** @type {keyof typeof GOAL_MS} */ (name)],
        samples: samples.map((s) => ({ ...s, ms: Math.round(s.ms * 10) / 10 })),
      };
      rows.push(row);
      console.log(`${name} on ${backend}: median ${row.median_ms} ms, p90 ${row.p90_ms} ms (engine ${row.engine_median_ms} ms) over ${row.moves} moves`);
      await page.close();
    }
  }
} finally {
  await browser.close();
  await server.close();
}

const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memory_gib: Math.round(totalmem() / 2 ** 30),
  chromium: browser.version(),
  date: new Date().toISOString(),
};
console.log(`\n${machine.cpu}, ${machine.cores} cores, Chromium ${machine.chromium} (headless)\n`);
console.log('| preset | backend | median ms | p90 ms | engine median ms | goal | met |');
console.log('| --- | --- | ---: | ---: | ---: | ---: | --- |');
for (const r of rows) {
  console.log(`| ${r.preset} | ${r.backend} | ${r.median_ms} | ${r.p90_ms} | ${r.engine_median_ms} | ≤ ${r.goal_ms} | ${r.p90_ms <= r.goal_ms ? 'yes' : r.median_ms <= r.goal_ms ? 'median only' : 'no'} |`);
}
mkdirSync('bench', { recursive: true });
writeFileSync('bench/explorer.json', `${JSON.stringify({ machine, settings: { bits: BITS, sparsity: SPARSITY }, results: rows }, null, 2)}\n`);
console.log('\nwrote bench/explorer.json');
