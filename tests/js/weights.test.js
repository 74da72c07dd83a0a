// Unit tests for www/weights.js: histogram binning with pruned weights apart, symmetric ranges,
// quantization levels, matrix layouts (linear, transposed, conv tiles), heatmap reduction and colours.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  colorMaps,
  signedColor,
  MAGNITUDE_STOPS,
  PRUNED_RGB,
  cellColor,
  heatCells,
  histogram,
  lerpStops,
  matrixLayout,
  quantLevels,
  weightRange,
} from '../../www/weights.js';

test('histogram counts kept weights per bin and pruned ones apart', () => {
  const values = new Float32Array([-1, -0.5, 0, 0.2, 0.9, 1, 5]);
  const mask = new Float32Array([1, 1, 0, 1, 1, 1, 1]);
  const h = histogram(values, mask, 4, [-1, 1]);
  assert.deepEqual(h.counts, [1, 1, 1, 3], '1 and the out-of-range 5 land in the last bin');
  assert.equal(h.pruned, 1);
  assert.equal(h.kept, 6);
  const noMask = histogram(new Float32Array([0, 0, 0.5]), null, 2, [-1, 1]);
  assert.equal(noMask.pruned, 2, 'without a mask, exact zeros count as pruned');
});

test('weightRange is symmetric, ignores pruned entries and includes the grid', () => {
  assert.deepEqual(weightRange([0.3, -0.7, 9], [1, 1, 0]), [-0.7, 0.7]);
  assert.deepEqual(weightRange([0.3], null, [-2, 0, 1]), [-2, 2]);
  assert.deepEqual(weightRange([0, 0], null), [-1, 1]);
});

test('quantLevels lists scale·(q − zero point) for one channel', () => {
  assert.deepEqual(quantLevels({ scale: 0.5, zero_point: 0, qmin: -2, qmax: 1 }), [-1, -0.5, 0, 0.5]);
  assert.deepEqual(quantLevels({ scale: [0.1, 1], zero_point: [0, 1], qmin: 0, qmax: 2, per_channel: true }, 1), [-1, 0, 1]);
  assert.equal(quantLevels({ scale: 0.1, zero_point: 0, bits: 4 }).length, 16, 'qmin/qmax from bits');
  assert.deepEqual(quantLevels(null), []);
  assert.deepEqual(quantLevels({ scale: 0, qmin: 0, qmax: 3 }), [], 'a degenerate grid draws nothing');
});

test('matrixLayout: linear rows, transposed tall matrices, conv filters tiled with gaps', () => {
  const wide = matrixLayout([2, 3]);
  assert.equal(wide.rows, 2);
  assert.equal(wide.cols, 3);
  assert.equal(wide.at(1, 2), 5);
  const tall = matrixLayout([4, 2]);
  assert.ok(tall.transposed);
  assert.equal(tall.rows, 2);
  assert.equal(tall.cols, 4);
  assert.equal(tall.at(1, 3), 3 * 2 + 1, 'column = output unit, row = input');
  const conv = matrixLayout([2, 3, 2, 2]); // 2 filters, 3 input channels, 2×2 kernels
  assert.equal(conv.rows, 2 * 3 - 1);
  assert.equal(conv.cols, 3 * 3 - 1);
  assert.equal(conv.at(0, 0), 0);
  assert.equal(conv.at(2, 0), -1, 'gap row between filters');
  assert.equal(conv.at(0, 2), -1, 'gap column between channels');
  assert.equal(conv.at(4, 7), ((1 * 3 + 2) * 2 + 1) * 2 + 1, 'last entry of filter 1, channel 2');
  // Every weight appears exactly once.
  const seen = new Set();
  for (let r = 0; r < conv.rows; r++) for (let c = 0; c < conv.cols; c++) if (conv.at(r, c) >= 0) seen.add(conv.at(r, c));
  assert.equal(seen.size, 2 * 3 * 2 * 2);
});

test('heatCells keeps full resolution when it fits and merges blocks when not', () => {
  const values = new Float32Array([1, -2, 0, 4]);
  const mask = new Float32Array([1, 1, 0, 1]);
  const layout = matrixLayout([2, 2]);
  const full = heatCells(values, mask, layout, 10, 10);
  assert.equal(full.rows, 2);
  assert.deepEqual(Array.from(full.magnitude), [0.25, 0.5, 0, 1]);
  assert.deepEqual(Array.from(full.pruned), [0, 0, 1, 0]);
  const one = heatCells(values, mask, layout, 1, 1);
  assert.equal(one.rows * one.cols, 1);
  assert.ok(Math.abs(one.magnitude[0] - 7 / 3 / 4) < 1e-6, 'mean |w| of the kept weights over the max');
  assert.ok(Math.abs(one.pruned[0] - 0.25) < 1e-6);
  const gaps = heatCells(new Float32Array(8), null, matrixLayout([2, 1, 2, 2]), 10, 10);
  assert.ok(Number.isNaN(gaps.magnitude[2 * 2]), 'the gap row is marked NaN');
});

test('colour maps interpolate and blend toward the pruned colour', () => {
  assert.deepEqual(lerpStops(MAGNITUDE_STOPS, 0), MAGNITUDE_STOPS[0]);
  assert.deepEqual(lerpStops(MAGNITUDE_STOPS, 1), MAGNITUDE_STOPS.at(-1));
  assert.deepEqual(lerpStops([[0, 0, 0], [100, 200, 50]], 0.5), [50, 100, 25]);
  assert.deepEqual(lerpStops(MAGNITUDE_STOPS, NaN), MAGNITUDE_STOPS[0]);
  assert.deepEqual(cellColor(0.5, 1), PRUNED_RGB);
  assert.deepEqual(cellColor(0, 0), MAGNITUDE_STOPS[0]);
});

test('the data colour maps follow the theme: zero is the background in light and in dark', () => {
  assert.deepEqual(signedColor(0, 1), [255, 255, 255]);
  assert.deepEqual(cellColor(0, 0), MAGNITUDE_STOPS[0]);
  const saved = globalThis.localStorage;
  /** @type {any} */ (globalThis).localStorage = { getItem: () => 'dark' };
  try {
    const dark = colorMaps();
    assert.deepEqual(signedColor(0, 1), dark.zero);
    assert.deepEqual(cellColor(0, 0), dark.magnitude[0]);
    assert.deepEqual(signedColor(-1, 1), dark.neg);
    // More weight, more light: the dark magnitude map brightens from its first stop to its last.
    const lum = (/** @type {number[]} */ c) => 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
    for (let i = 1; i < dark.magnitude.length; i++) assert.ok(lum(dark.magnitude[i]) > lum(dark.magnitude[i - 1]));
  } finally {
    /** @type {any} */ (globalThis).localStorage = saved;
  }
  assert.deepEqual(signedColor(0, 1), [255, 255, 255]);
});
