// Unit tests for the pure parts of www/boundary.js: class colours and turning a softmax grid into
// pixels (orientation, certainty wash). Run with `node --test tests/js/` (part of `make test`).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLASS_COLORS, classColor, classCss, gridToRGBA } from '../../www/boundary.js';

test('class colours are distinct and cycle', () => {
  const seen = new Set(CLASS_COLORS.map((c) => c.join(',')));
  assert.equal(seen.size, CLASS_COLORS.length);
  assert.deepEqual(classColor(CLASS_COLORS.length), classColor(0));
  assert.equal(classCss(0), `rgb(${CLASS_COLORS[0].join(', ')})`);
});

test('gridToRGBA puts gy = 0 (ymin) on the bottom image row', () => {
  const res = 2;
  const classes = 2;
  // Bottom row (gy = 0) certain of class 0, top row (gy = 1) certain of class 1.
  const grid = Float32Array.from([1, 0, 1, 0, 0, 1, 0, 1]);
  const px = gridToRGBA(grid, res, classes, { wash: 0 });
  assert.equal(px.length, res * res * 4);
  const pixel = (/** @type {number} */ row, /** @type {number} */ col) => Array.from(px.slice((row * res + col) * 4, (row * res + col) * 4 + 3));
  assert.deepEqual(pixel(1, 0), classColor(0), 'bottom image row is class 0');
  assert.deepEqual(pixel(0, 1), classColor(1), 'top image row is class 1');
  for (let i = 3; i < px.length; i += 4) assert.equal(px[i], 255, 'opaque');
});

test('unsure pixels are paler than sure ones', () => {
  const sure = gridToRGBA(Float32Array.from([1, 0, 0]), 1, 3);
  const unsure = gridToRGBA(Float32Array.from([1 / 3, 1 / 3, 1 / 3]), 1, 3);
  const lightness = (/** @type {Uint8ClampedArray} */ p) => p[0] + p[1] + p[2];
  assert.ok(lightness(unsure) > lightness(sure));
});

test('gridToRGBA rejects a grid of the wrong size', () => {
  assert.throws(() => gridToRGBA(new Float32Array(5), 2, 2), /expected 2\*2\*2/);
});

test('gridToRGBA fades unsure regions toward the paper colour (white, or the dark theme\'s)', () => {
  const unsure = gridToRGBA(Float32Array.from([0.5, 0.5]), 1, 2, { wash: 1, paper: [26, 31, 39] });
  assert.deepEqual(Array.from(unsure), [26, 31, 39, 255]);
  const white = gridToRGBA(Float32Array.from([0.5, 0.5]), 1, 2, { wash: 1 });
  assert.deepEqual(Array.from(white), [255, 255, 255, 255]);
});
