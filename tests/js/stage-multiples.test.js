// www/stage-multiples.js and the page API's speed check: the small multiples' captions, the
// GPU-vs-CPU parity line, the explorer's baseline sentence, and setSpeed's refusal of an unknown pace.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { baselineText, multipleCaption, parityText } from '../../www/stage-multiples.js';
import { PACES, paceProblem } from '../../www/page-api.js';

test('a small multiple says which model it is, its accuracy and its bytes', () => {
  assert.equal(multipleCaption({ stage: null, kind: 'trained', test_accuracy: 0.975, bytes: 2000 }), 'as trained · 97.5% · 1.95 KB');
  assert.match(multipleCaption({ stage: 1, kind: 'quantize', test_accuracy: 0.5, bytes: 300 }), /^2 · .*quantiz.* · 50(\.0)?% · 300 B$/);
});

test('the parity line gives both differences in scientific notation and the batch size', () => {
  const p = { samples: 64, loss_gpu: 0.5, loss_cpu: 0.5000003, loss_diff: 3e-7, logits_diff: 2.04e-6 };
  assert.equal(parityText(p), 'GPU vs CPU: loss Δ 3.0e-7, logits Δ 2.0e-6 on 64 samples');
  assert.equal(parityText({ ...p, samples: 1, loss_diff: 0, logits_diff: 0 }), 'GPU vs CPU: loss Δ 0, logits Δ 0 on 1 sample');
  assert.match(parityText({ ...p, logits_diff: NaN }), /logits Δ NaN/);
});

test('the baseline sentence names the final model and its quantization', () => {
  assert.equal(baselineText(null, 0), "Baseline: the run's final model (float weights).");
  assert.match(baselineText(null, 0.9), /float weights, 90(\.0)?% of its weights pruned/);
  const q = baselineText({ bits: 2, scheme: 'symmetric', granularity: 'per_channel', activation_bits: null }, 0);
  assert.match(q, /quantized \(2-bit symmetric per-channel weights\)/);
  const a = baselineText({ bits: 8, scheme: 'affine', granularity: 'per_tensor', activation_bits: 8 }, 0);
  assert.match(a, /8-bit affine per-tensor weights, 8-bit activations/);
});

test('setSpeed takes only the three paces', () => {
  assert.deepEqual([...PACES], ['fast', 'normal', 'slow']);
  for (const p of PACES) assert.equal(paceProblem(p), null);
  assert.match(/** @type {string} */ (paceProblem('warp')), /speed "warp": expected one of 'fast', 'normal', 'slow'/);
  assert.match(/** @type {string} */ (paceProblem(3)), /speed 3/);
});
