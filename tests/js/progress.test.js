// www/progress.js: a step's position on the epoch axis and the phase line under the progress bar.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { phaseText, stepPosition } from '../../www/progress.js';

test('stepPosition: epochs plus the share of the current one; the end of a phase counts whole', () => {
  assert.equal(stepPosition(null), 0);
  assert.equal(stepPosition({ epoch: 2, batch: 5, batchesPerEpoch: 10 }), 2.5);
  assert.equal(stepPosition({ epoch: 3, batch: 10, batchesPerEpoch: 10 }), 3);
  assert.equal(stepPosition({ epoch: 1, batch: 0, batchesPerEpoch: 0 }), 1);
});

test('phaseText: nothing without a run, then training, stages, pause, failure and the end', () => {
  const base = { status: 'training', stages: 0, initialEpochs: 20, stage: null, position: 2.5 };
  assert.equal(phaseText({ ...base, initialEpochs: null }), '');
  assert.equal(phaseText({ ...base, status: 'creating' }), '');
  assert.equal(phaseText(base), 'training · epoch 3/20');
  assert.equal(phaseText({ ...base, status: 'paused' }), 'paused · training · epoch 2/20');
  assert.equal(phaseText({ ...base, stages: 2 }), 'training · epoch 3/20 · then 2 stages');
  assert.equal(phaseText({ ...base, position: 20 }), 'training · epoch 20/20', 'never past the last epoch');
  const stage = /** @type {const} */ ({ index: 1, count: 2, kind: 'magnitude', detail: '' });
  assert.equal(phaseText({ ...base, stages: 2, status: 'failed', stage }), 'stopped · stage 2/2 · magnitude pruning');
  assert.equal(phaseText({ ...base, stages: 2, status: 'broken', stage }), 'the engine stopped · stage 2/2 · magnitude pruning');
  assert.equal(phaseText({ ...base, status: 'done', stages: 1 }), 'done · training and 1 stage');
  assert.equal(phaseText({ ...base, status: 'done' }), 'done');
  assert.equal(phaseText({ ...base, status: 'loaded', loadedName: 'm.safetensors' }), 'opened m.safetensors · Train continues from its weights');
});
