// Unit tests for the pure parts of www/draw.js (click -> data coordinates and back, the view, the
// eraser's hit test, the drawn dataset object) and www/digit-pad.js (the drawing resampled as the
// datasets were: box, centring, range, UCI block counts), and www/samples.js' tiles.
// Run with `node --test tests/js/draw.test.js`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DRAWN_RANGE, MAX_DRAWN_POINTS, VIEW_HALF, classCounts, countText, drawnDataset, fromShown, nearestPoint,
  roundCoord, toData, toPixel, viewBounds,
} from '../../www/draw.js';
import { DIGITS_PREP, MNIST_PREP, centreOfMass, inkBox, inkToInput, prepFor, resample } from '../../www/digit-pad.js';
import { sampleTiles } from '../../www/samples.js';
import { encodeFragment, decodeFragment } from '../../www/state.js';

/** @type {[number, number, number, number]} */
const B = [-1, 1, -2, 2];

test('a click maps to data coordinates: corners, centre, y up', () => {
  assert.deepEqual(toData(0, 0, 200, 100, B), [-1, 2]);
  assert.deepEqual(toData(200, 100, 200, 100, B), [1, -2]);
  assert.deepEqual(toData(100, 50, 200, 100, B), [0, 0]);
  assert.deepEqual(toData(150, 25, 200, 100, B), [0.5, 1]);
  for (const [x, y] of [[0.3, -1.7], [-0.9, 0.25]]) {
    const [px, py] = toPixel(x, y, 200, 100, B);
    const [bx, by] = toData(px, py, 200, 100, B);
    assert.ok(Math.abs(bx - x) < 1e-12 && Math.abs(by - y) < 1e-12);
  }
});

test('the view is fixed for clicks and grows only for points outside it', () => {
  assert.deepEqual(viewBounds([]), [-VIEW_HALF, VIEW_HALF, -VIEW_HALF, VIEW_HALF]);
  assert.deepEqual(viewBounds([[VIEW_HALF, -VIEW_HALF, 0]]), [-VIEW_HALF, VIEW_HALF, -VIEW_HALF, VIEW_HALF]);
  const grown = viewBounds([[0, -1.9, 1]]);
  assert.ok(Math.abs(grown[1] - 2.0) < 1e-12 && grown[0] === -grown[1] && grown[2] === grown[0]);
});

test('coordinates round to 2 decimals inside the range', () => {
  assert.equal(roundCoord(0.12345), 0.12);
  assert.equal(roundCoord(-0.005), 0);
  assert.ok(Object.is(roundCoord(-0.001), 0));
  assert.equal(roundCoord(7), DRAWN_RANGE);
  assert.equal(roundCoord(-9), -DRAWN_RANGE);
});

test('the eraser finds the nearest point within its radius', () => {
  /** @type {[number, number, number][]} */
  const pts = [[0, 0, 0], [0.1, 0, 1], [0.5, 0.5, 0]];
  const [px, py] = toPixel(0.09, 0, 200, 200, [-1, 1, -1, 1]);
  assert.equal(nearestPoint(pts, px, py, 200, 200, [-1, 1, -1, 1]), 1);
  assert.equal(nearestPoint(pts, 0, 0, 200, 200, [-1, 1, -1, 1]), -1);
});

test('the drawn dataset carries its points and one class past the largest used', () => {
  /** @type {[number, number, number][]} */
  const pts = [[0.1, 0.2, 0], [0.3, -0.4, 2]];
  const d = drawnDataset(pts, { name: 'spiral', samples: 600, test_fraction: 0.3 });
  assert.deepEqual(d, { name: 'drawn', classes: 3, test_fraction: 0.3, points: [[0.1, 0.2, 0], [0.3, -0.4, 2]] });
  assert.deepEqual(classCounts([]), [0, 0]);
  assert.deepEqual(classCounts(pts), [1, 0, 1]);
  assert.equal(countText(pts), '2 points: 1 · 0 · 1 (each class needs at least 3)');
  assert.equal(countText([[0, 0, 0], [0, 0, 0], [0, 0, 0], [1, 1, 1], [1, 1, 1], [1, 1, 1]]), '6 points: 3 · 3');
});

test('"Edit these points" rounds and subsamples what the plot shows', () => {
  const x = Float32Array.from([0.123, -0.456, 5, -5, 0.5, 0.5]);
  const y = Uint32Array.from([0, 1, 1]);
  assert.deepEqual(fromShown({ x, y }), [[0.12, -0.46, 0], [2, -2, 1], [0.5, 0.5, 1]]);
  const n = 2500;
  const big = fromShown({ x: new Float32Array(2 * n), y: new Uint32Array(n) });
  assert.equal(big.length, MAX_DRAWN_POINTS);
});

test('200 drawn points fit in a link, and the link round-trips them', () => {
  /** @type {[number, number, number][]} */
  const pts = Array.from({ length: 200 }, (_, i) => [roundCoord(Math.sin(i) * 1.2), roundCoord(Math.cos(i * 1.3) * 1.2), i % 3]);
  const recipe = { version: 1, dataset: drawnDataset(pts), model: { kind: 'mlp', hidden: [16, 16] }, training: { epochs: 50 }, seed: 1 };
  const hash = encodeFragment(recipe);
  assert.ok(hash.length < 6000, `200 points make a ${hash.length}-character fragment`);
  const back = decodeFragment(hash);
  assert.equal(back.status, 'ok');
  assert.deepEqual(back.status === 'ok' && back.recipe.dataset.points, pts);
});

test('inkBox and centreOfMass', () => {
  const w = 5;
  const ink = new Float32Array(25);
  ink[1 * w + 2] = 1;
  ink[3 * w + 4] = 0.5;
  assert.deepEqual(inkBox(ink, 5, 5), [2, 1, 5, 4]);
  assert.equal(inkBox(new Float32Array(25), 5, 5), null);
  const [cx, cy] = centreOfMass(ink, 5, 5);
  assert.ok(Math.abs(cx - (2.5 + 0.5 * 4.5) / 1.5) < 1e-9 && Math.abs(cy - (1.5 + 0.5 * 3.5) / 1.5) < 1e-9);
});

test('resample averages areas', () => {
  // A 4x4 image whose left half is 1: to 2x2 gives [1, 0, 1, 0]; to 1x1 gives 0.5.
  const ink = Float32Array.from({ length: 16 }, (_, i) => (i % 4 < 2 ? 1 : 0));
  assert.deepEqual(Array.from(resample(ink, 4, [0, 0, 4, 4], 2, 2)), [1, 0, 1, 0]);
  assert.deepEqual(Array.from(resample(ink, 4, [0, 0, 4, 4], 1, 1)), [0.5]);
});

/** A `size`² drawing of a filled rectangle [x0, x1) × [y0, y1). */
function rect(size, x0, y0, x1, y1) {
  const ink = new Float32Array(size * size);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) ink[y * size + x] = 1;
  return ink;
}

test('MNIST: the box scaled to 20 pixels, centred by mass in 28x28, values in [0, 1]', () => {
  // A 40 × 100 bar in the top-left corner of a 280 canvas: it becomes 8 × 20, centred.
  const input = inkToInput(rect(280, 10, 5, 50, 105), 280, 280, MNIST_PREP);
  assert.equal(input.length, 784);
  assert.ok(input.every((v) => v >= 0 && v <= 1));
  const box = inkBox(input, 28, 28);
  assert.deepEqual(box, [10, 4, 18, 24]);
  const [cx, cy] = centreOfMass(input, 28, 28);
  assert.ok(Math.abs(cx - 14) <= 0.5 && Math.abs(cy - 14) <= 0.5, `${cx}, ${cy}`);
  assert.equal(Math.max(...input), 1);
  assert.ok(inkToInput(new Float32Array(280 * 280), 280, 280, MNIST_PREP).every((v) => v === 0));
});

test('UCI digits: a 32x32 bitmap counted in 4x4 blocks, values k/16', () => {
  // A square fills the whole 32 × 32 bitmap: every block counts 16 → 1.
  const full = inkToInput(rect(280, 100, 100, 180, 180), 280, 280, DIGITS_PREP);
  assert.equal(full.length, 64);
  assert.ok(full.every((v) => v === 1));
  // A 2:1 tall bar: 16 × 32 centred, so columns 2..5 are ink and 0, 1, 6, 7 are blank.
  const bar = inkToInput(rect(280, 100, 40, 150, 140), 280, 280, DIGITS_PREP);
  for (let y = 0; y < 8; y++) {
    assert.deepEqual(Array.from(bar.subarray(y * 8, y * 8 + 8)), [0, 0, 1, 1, 1, 1, 0, 0]);
  }
  // Every value is a count of 16.
  const thin = inkToInput(rect(280, 100, 40, 103, 140), 280, 280, DIGITS_PREP);
  assert.ok(thin.every((v) => Number.isInteger(v * 16) && v >= 0 && v <= 1));
  assert.equal(prepFor('digits'), DIGITS_PREP);
  assert.equal(prepFor('spiral'), null);
});

test('sample tiles: one per sample, square images only', () => {
  const s = { inputShape: [1, 2, 2], classes: 2, classNames: ['0', '1'], x: Float32Array.from([0, 1, 0, 1, 1, 1, 1, 1]), y: Uint32Array.from([0, 1]) };
  const tiles = sampleTiles(s);
  assert.deepEqual(tiles.map((t) => [t.label, t.side, Array.from(t.pixels)]), [['0', 2, [0, 1, 0, 1]], ['1', 2, [1, 1, 1, 1]]]);
  assert.deepEqual(sampleTiles({ ...s, inputShape: [2] }), []);
});
