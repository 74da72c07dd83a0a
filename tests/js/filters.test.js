// The filter view's pure parts: which first layers read as images, the signed colour map, the scale
// and the tile grid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { imageSide, signedColor, unitImageLayout, unitScale, SIGNED_NEG, SIGNED_POS } from '../../www/weights.js';
import { tileGrid } from '../../www/views.js';

test('unitImageLayout: image-sized linear layers and conv filters, nothing else', () => {
  assert.deepEqual(unitImageLayout({ kind: 'linear', shape: [128, 64] }, imageSide('digits')), { units: 64, total: 128, w: 8, h: 8, stride: 64, channelStride: 0, conv: false });
  assert.equal(unitImageLayout({ kind: 'linear', shape: [300, 784] }, imageSide('mnist'))?.w, 28);
  assert.equal(unitImageLayout({ kind: 'linear', shape: [16, 2] }, imageSide('spiral')), null);
  assert.equal(unitImageLayout({ kind: 'linear', shape: [16, 60] }, 8), null);
  const conv = unitImageLayout({ kind: 'conv2d', shape: [6, 1, 5, 5] }, 28);
  assert.deepEqual(conv, { units: 6, total: 6, w: 5, h: 5, stride: 25, channelStride: 25, conv: true });
  assert.equal(unitImageLayout({ kind: 'conv2d', shape: [16, 6, 3, 3] }, null)?.stride, 54);
});

test('signedColor: white at 0, the end colours at ±scale, clamped', () => {
  assert.deepEqual(signedColor(0, 1), [255, 255, 255]);
  assert.deepEqual(signedColor(-1, 1), SIGNED_NEG);
  assert.deepEqual(signedColor(2, 1), SIGNED_POS);
  assert.deepEqual(signedColor(NaN, 1), [255, 255, 255]);
  const half = signedColor(0.5, 1);
  assert.ok(half[0] > SIGNED_POS[0] && half[0] <= 255);
});

test('unitScale ignores pruned weights and units not shown', () => {
  const values = [0.1, -0.5, 9, 0.2, 100, 100];
  const mask = [1, 1, 0, 1, 1, 1];
  assert.equal(unitScale(values, mask, { units: 2, stride: 3, w: 3, h: 1 }), 100);
  assert.equal(unitScale(values, mask, { units: 1, stride: 3, w: 3, h: 1 }), 0.5);
  assert.equal(unitScale([0, 0], null, { units: 1, stride: 2, w: 2, h: 1 }), 1);
});

test('tileGrid fits n tiles as large as possible', () => {
  const g = tileGrid(64, 800, 200, 3);
  assert.ok(g.cols * g.rows >= 64);
  assert.ok(g.rows * g.size + (g.rows - 1) * 3 <= 200);
  assert.ok(g.cols * g.size + (g.cols - 1) * 3 <= 800);
  assert.equal(tileGrid(1, 100, 50, 3).size, 50);
});
