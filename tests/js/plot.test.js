// Unit tests for the pure parts of www/plot.js: nice steps and ticks, linear scales, data extents
// and min/max downsampling. Run with `node --test tests/js/` (part of `make test`).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { downsampleMinMax, extent, linearScale, niceStep, niceTicks } from '../../www/plot.js';

test('niceStep picks 1, 2 or 5 times a power of ten', () => {
  assert.equal(niceStep(10, 5), 2);
  assert.equal(niceStep(1, 5), 0.2);
  assert.equal(niceStep(7, 5), 2);
  assert.equal(niceStep(100, 4), 50);
  assert.equal(niceStep(0.003, 3), 0.001);
  assert.equal(niceStep(0, 5), 1, 'degenerate span');
});

test('niceTicks covers the data with evenly spaced round ticks', () => {
  const t = niceTicks(0.13, 2.31, 5);
  assert.equal(t.step, 0.5);
  assert.equal(t.min, 0);
  assert.equal(t.max, 2.5);
  assert.deepEqual(t.ticks, [0, 0.5, 1, 1.5, 2, 2.5]);
  for (let i = 1; i < t.ticks.length; i++) assert.ok(Math.abs(t.ticks[i] - t.ticks[i - 1] - t.step) < 1e-12);
});

test('niceTicks has no float noise, handles reversed, equal and non-finite input', () => {
  assert.deepEqual(niceTicks(0, 0.3, 3).ticks, [0, 0.1, 0.2, 0.3]);
  assert.deepEqual(niceTicks(10, 0, 5), niceTicks(0, 10, 5));
  const flat = niceTicks(2, 2);
  assert.ok(flat.min < 2 && flat.max > 2);
  const zero = niceTicks(0, 0);
  assert.ok(zero.min < 0 && zero.max > 0);
  assert.deepEqual(niceTicks(NaN, 1).ticks, [0, 0.2, 0.4, 0.6, 0.8, 1]);
  const exact = niceTicks(0, 40, 5);
  assert.equal(exact.min, 0);
  assert.equal(exact.max, 40, 'a range already on ticks is not widened');
});

test('linearScale maps and inverts, including flipped ranges', () => {
  const y = linearScale([0, 1], [200, 0]);
  assert.equal(y(0), 200);
  assert.equal(y(1), 0);
  assert.equal(y(0.25), 150);
  assert.equal(y.invert(50), 0.75);
  const flat = linearScale([3, 3], [0, 100]);
  assert.equal(flat(3), 0);
  assert.equal(flat.invert(40), 3);
});

test('extent ignores non-finite values and empty series', () => {
  assert.equal(extent([]), null);
  assert.equal(extent([{ label: 'a', color: '', points: [] }]), null);
  const e = extent([
    { label: 'a', color: '', points: [[0, 5], [1, NaN], [2, 1]] },
    { label: 'b', color: '', points: [[-1, 3], [Infinity, 9]] },
  ]);
  assert.deepEqual(e, { x: [-1, 2], y: [1, 5] });
});

test('downsampleMinMax keeps spikes, order and short series', () => {
  /** @type {[number, number][]} */
  const points = Array.from({ length: 10000 }, (_, i) => [i, Math.sin(i / 50)]);
  points[5000][1] = 42;
  points[7000][1] = -42;
  const out = downsampleMinMax(points, 100);
  assert.ok(out.length <= 200, `got ${out.length}`);
  assert.ok(out.some(([, y]) => y === 42), 'the high spike survives');
  assert.ok(out.some(([, y]) => y === -42), 'the low spike survives');
  for (let i = 1; i < out.length; i++) assert.ok(out[i][0] > out[i - 1][0], 'x stays sorted');
  const short = points.slice(0, 50);
  assert.equal(downsampleMinMax(short, 100), short);
});
