// Unit tests for www/format.js: how losses, percentages, durations, sizes, counts, rates and axis
// ticks are shown. Run with `node --test tests/js/` (part of `make test`).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatBytes,
  formatCount,
  formatLoss,
  formatPercent,
  formatRate,
  formatRatio,
  formatSeconds,
  formatTick,
} from '../../www/format.js';

test('formatLoss keeps 4 significant digits and switches to exponents at the extremes', () => {
  assert.equal(formatLoss(2.302585), '2.303');
  assert.equal(formatLoss(0.0456789), '0.04568');
  assert.equal(formatLoss(0.5), '0.5');
  assert.equal(formatLoss(0), '0');
  assert.equal(formatLoss(1.23e-5), '1.2e-5');
  assert.equal(formatLoss(123456), '1.2e5');
  for (const bad of [NaN, Infinity, null, undefined]) assert.equal(formatLoss(bad), '–');
});

test('formatPercent shows one decimal', () => {
  assert.equal(formatPercent(0.9234), '92.3%');
  assert.equal(formatPercent(1), '100.0%');
  assert.equal(formatPercent(0), '0.0%');
  assert.equal(formatPercent(undefined), '–');
});

test('formatSeconds picks ms, s or min', () => {
  assert.equal(formatSeconds(0.0424), '42 ms');
  assert.equal(formatSeconds(4.2), '4.20 s');
  assert.equal(formatSeconds(42), '42.0 s');
  assert.equal(formatSeconds(125.4), '2 min 05 s');
  assert.equal(formatSeconds(NaN), '–');
});

test('formatBytes uses binary units with 3 significant digits', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(5120), '5.00 KB');
  assert.equal(formatBytes(12.34 * 1024), '12.3 KB');
  assert.equal(formatBytes(3 * 1024 * 1024), '3.00 MB');
  assert.equal(formatBytes(700 * 1024 * 1024), '700 MB');
  assert.equal(formatBytes(null), '–');
});

test('formatCount and formatRate', () => {
  assert.equal(formatCount(1234567), '1,234,567');
  assert.equal(formatCount(12.6), '13');
  assert.equal(formatRate(0.1), '0.1');
  assert.equal(formatRate(0.00314), '0.00314');
  assert.equal(formatRate(0.0003), '3e-4');
  assert.equal(formatRate(0), '0');
});

test('formatTick uses the decimals the step needs and hides float noise', () => {
  assert.equal(formatTick(0.30000000000000004, 0.1), '0.3');
  assert.equal(formatTick(0.25, 0.05), '0.25');
  assert.equal(formatTick(10, 5), '10');
  assert.equal(formatTick(-0.00000001, 0.5), '0.0');
  assert.equal(formatTick(1500, 500), '1500');
  assert.equal(formatTick(2e-5, 1e-5), '2e-5');
});

test('formatRatio: two decimals below 10×, one above; a dash when unknown', () => {
  assert.equal(formatRatio(3.519), '3.52×');
  assert.equal(formatRatio(12.34), '12.3×');
  assert.equal(formatRatio(undefined), '–');
  assert.equal(formatRatio(null), '–');
  assert.equal(formatRatio(NaN), '–');
});
