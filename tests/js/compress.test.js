// Unit tests for www/compress.js: stage labels and progress text, planned epochs, honest bytes,
// the Pareto front, the accuracy-versus-bytes points and the bytes axis. Run with `node --test tests/js/`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  byteTicks,
  formatByteTick,
  honestBytes,
  logScale,
  mergeCoincident,
  paretoFront,
  plannedEpochs,
  quantRows,
  settingsText,
  sizePoints,
  softTargetSamples,
  stageLabel,
  stageProgressText,
} from '../../www/compress.js';

test('stage kinds read as words, unknown ones too', () => {
  assert.equal(stageLabel('magnitude'), 'magnitude pruning');
  assert.equal(stageLabel('n_m'), 'N:M pruning');
  assert.equal(stageLabel('some_new_kind'), 'some new kind');
  assert.equal(stageLabel(undefined), 'stage');
  assert.equal(stageProgressText({ index: 1, count: 3, kind: 'magnitude', detail: '' }), 'stage 2/3 · magnitude pruning');
  assert.equal(stageProgressText({ index: 2, count: 3, kind: 'lottery', detail: 'round 1/2' }), 'stage 3/3 · lottery ticket · round 1/2');
});

test('plannedEpochs adds every stage that trains to the initial epochs', () => {
  const recipe = {
    training: { epochs: 10 },
    compression: [
      { kind: 'sensitivity', sparsities: [0.5] },
      { kind: 'magnitude', amount: 0.5 },
      { kind: 'finetune', epochs: 3 },
      { kind: 'gradual', final_sparsity: 0.9, train: { epochs: 5 } },
      { kind: 'iterative', sparsity: 0.8, cycles: 2, finetune: { epochs: 4 } },
      { kind: 'lottery', sparsity: 0.8, rounds: 2, train: { epochs: 6 } }, // 2 rounds + control
      { kind: 'lottery', sparsity: 0.8, control: false }, // 1 round of the initial 10
      { kind: 'qat', epochs: 2 }, // a kind this file does not know, with an epochs field
    ],
  };
  assert.equal(plannedEpochs(recipe), 10 + 3 + 5 + 8 + 18 + 10 + 2);
  assert.equal(plannedEpochs({ training: { epochs: 7 } }), 7);
  assert.equal(plannedEpochs(null), 0);
});

test('honestBytes takes the smallest real format, else dense', () => {
  assert.equal(honestBytes({ dense: 1000, bitmask: 400, csr: 300, sparse: 300 }), 300);
  assert.equal(honestBytes({ dense: 1000, sparse: 300, quantized: 120 }), 120);
  assert.equal(honestBytes({ dense: 1000 }), 1000);
  assert.equal(honestBytes(undefined), undefined);
});

test('paretoFront keeps the points no other beats on both size and accuracy', () => {
  const pts = [
    { accuracy: 0.9, bytes: 1000 },
    { accuracy: 0.8, bytes: 500 },
    { accuracy: 0.7, bytes: 600 }, // beaten by the 500-byte point
    { accuracy: 0.95, bytes: 4000 },
    { accuracy: 0.9, bytes: 2000 }, // as accurate as the 1000-byte point, larger
    { accuracy: NaN, bytes: 10 },
  ];
  assert.deepEqual(paretoFront(pts), [1, 0, 3]);
  assert.deepEqual(paretoFront([]), []);
});

test('sizePoints: the dense model, each stage and each sweep point, with the front marked', () => {
  const stages = [
    { index: 0, kind: 'magnitude', test_accuracy: 0.9, accuracy_change: -0.05, bytes: { dense: 4000, sparse: 2000 }, compression_ratio: 2 },
    {
      index: 1,
      kind: 'sweep',
      test_accuracy: 0.85,
      bytes: { dense: 4000, sparse: 1000 },
      details: { points: [{ settings: { bits: 4 }, test_accuracy: 0.88, bytes: 500 }, { settings: { bits: 2 }, test_accuracy: 0.5, bytes: 600 }, { test_accuracy: 'x' }] },
    },
  ];
  const pts = sizePoints(stages);
  assert.deepEqual(
    pts.map((p) => [p.kind, p.bytes, Number(p.accuracy.toFixed(2)), p.pareto]),
    [
      ['baseline', 4000, 0.95, true],
      ['stage', 2000, 0.9, true],
      ['stage', 1000, 0.85, false],
      ['sweep', 500, 0.88, true],
      ['sweep', 600, 0.5, false],
    ],
  );
  assert.equal(pts[3].label, '2 · sweep: bits 4');
  assert.deepEqual(sizePoints([]), []);
  assert.deepEqual(sizePoints([{ kind: 'magnitude' }]), [], 'reports without numbers are skipped');
});

test('mergeCoincident joins stage points at the same place', () => {
  const p = (/** @type {string} */ label, /** @type {any} */ kind = 'stage') => ({ label, accuracy: 0.5, bytes: 10, kind, pareto: false });
  const out = mergeCoincident([p('dense', 'baseline'), p('1 · sensitivity scan'), p('a', 'sweep')]);
  assert.deepEqual(out.map((x) => x.label), ['dense = 1 · sensitivity scan', 'a']);
});

test('settingsText lists a sweep point settings', () => {
  assert.equal(settingsText({ bits: 4, sparsity: 0.5 }), 'bits 4, sparsity 0.5');
  assert.equal(settingsText(null), '');
  assert.equal(settingsText(3), '3');
});

test('byteTicks are powers of two around the data; formatByteTick is short', () => {
  assert.deepEqual(byteTicks(1000, 5000, 5), { min: 512, max: 8192, ticks: [512, 1024, 2048, 4096, 8192] });
  const wide = byteTicks(100, 4e6, 4);
  assert.ok(wide.ticks.length <= 6 && wide.min <= 100 && wide.max >= 4e6);
  assert.deepEqual(byteTicks(0, 10).ticks, [1, 2]);
  assert.equal(formatByteTick(512), '512 B');
  assert.equal(formatByteTick(1024), '1 KB');
  assert.equal(formatByteTick(1536), '1.5 KB');
  assert.equal(formatByteTick(2 * 1024 * 1024), '2 MB');
});

test('logScale maps decades evenly', () => {
  const s = logScale([10, 1000], [0, 100]);
  assert.equal(s(10), 0);
  assert.equal(s(100), 50);
  assert.equal(s(1000), 100);
});

test('softTargetSamples reads the column and the row forms', () => {
  const columns = { temperature: 4, samples: [0, 1], labels: [3, 1], teacher: [[0.1, 0.9], [0.6, 0.4]], distilled: [[0.2, 0.8]], alone: [] };
  assert.deepEqual(softTargetSamples(columns), [
    { label: 3, series: [['teacher', [0.1, 0.9]], ['distilled', [0.2, 0.8]]] },
    { label: 1, series: [['teacher', [0.6, 0.4]]] },
  ]);
  const rows = [{ label: 0, teacher: [1, 0], student: [0.5, 0.5] }, { label: 1 }];
  assert.deepEqual(softTargetSamples(rows), [{ label: 0, series: [['teacher', [1, 0]], ['student', [0.5, 0.5]]] }]);
  assert.deepEqual(softTargetSamples({ samples: rows }).length, 1);
  assert.deepEqual(softTargetSamples('nonsense'), []);
  assert.deepEqual(softTargetSamples(null), []);
});

test('sizePoints: a quantize stage adds one point per bit width; other kinds none, whatever their details', () => {
  const quantize = {
    index: 0,
    kind: 'quantize',
    details: { points: [{ bits: 8, test_accuracy: 0.9, bytes: { f32: 4000, quantized: 1100, gzip: 900 } }, { bits: 4, test_accuracy: 0.8, bytes: { f32: 4000, quantized: 600, gzip: 500 } }] },
  };
  const pts = sizePoints([quantize]);
  assert.deepEqual(pts.map((p) => [p.label, p.accuracy, p.bytes, p.kind]), [
    ['1 · quantization: 8 bits', 0.9, 1100, 'sweep'],
    ['1 · quantization: 4 bits', 0.8, 600, 'sweep'],
  ]);
  // The kind decides, not the shape: a stage of another kind with `points` in its details adds none.
  assert.deepEqual(sizePoints([{ ...quantize, kind: 'sensitivity' }]), []);
});

test('quantRows: one row per bit width, the worst layer SQNR, int8 inference when it ran', () => {
  const layers = (a, b) => [{ name: '1.weight', sqnr_db: a }, { name: '3.weight', sqnr_db: b }];
  const rows = quantRows({
    kind: 'quantize',
    details: { points: [
      { bits: 8, test_accuracy: 0.9777, bytes: { quantized: 19472, gzip: 18290, f32: 68904 }, layers: layers(44.9, 43.5), int8_agreement: 1, int8_path: 'avx2' },
      { bits: 4, test_accuracy: 0.9721, bytes: { quantized: 10936, gzip: 9685 }, layers: layers(20.2, 18.8), int8_agreement: null, int8_path: null },
    ] },
  });
  assert.deepEqual(rows, [
    { label: '8 bits', accuracy: 0.9777, packed: 19472, gzip: 18290, sqnr: 43.5, int8: { agreement: 1, path: 'avx2' } },
    { label: '4 bits', accuracy: 0.9721, packed: 10936, gzip: 9685, sqnr: 18.8, int8: null },
  ]);
});

test('quantRows: PTQ then QAT for a qat stage; nothing for other stages', () => {
  const rows = quantRows({
    kind: 'qat',
    details: {
      ptq: { bits: 4, test_accuracy: 0.9565, bytes: { quantized: 140000, gzip: 120000 }, layers: [{ sqnr_db: 19 }] },
      qat_accuracy: 0.9595,
      quant_bytes: { quantized: 140000, gzip: 118000 },
      layers: [{ sqnr_db: 21 }],
    },
  });
  assert.deepEqual(rows.map((r) => [r.label, r.accuracy, r.gzip, r.sqnr]), [['PTQ', 0.9565, 120000, 19], ['QAT', 0.9595, 118000, 21]]);
  assert.deepEqual(quantRows({ kind: 'distill', details: { teacher: { test_accuracy: 0.98 } } }), []);
  // The kind decides, not the shape: quantize-like details under another kind give no rows.
  assert.deepEqual(quantRows({ kind: 'sweep', details: { points: [{ bits: 8, test_accuracy: 0.9 }] } }), []);
  assert.deepEqual(quantRows(null), []);
});


test('softmaxAt / softTargetsAt: the soft targets at another temperature, from logits', async () => {
  const { softmaxAt, softTargetsAt } = await import('../../www/compress.js');
  const p = softmaxAt([1, 2, 3], 1);
  const e = [Math.exp(-2), Math.exp(-1), 1];
  const s = e[0] + e[1] + e[2];
  p.forEach((v, i) => assert.ok(Math.abs(v - e[i] / s) < 1e-12));
  // A higher temperature flattens the distribution; T → ∞ tends to uniform.
  const hot = softmaxAt([1, 2, 3], 100);
  assert.ok(hot[2] < p[2] && hot[0] > p[0]);
  assert.ok(Math.abs(hot[0] - 1 / 3) < 0.01);
  // Large logits do not overflow.
  assert.deepEqual(softmaxAt([1000, 1000], 1), [0.5, 0.5]);
  const st = { temperature: 4, labels: [7], teacher: [[0.5, 0.5]], logits: { teacher: [[0, 2]], distilled: [[1, 1]], alone: [[2, 0]] } };
  const at = softTargetsAt(st, 2);
  assert.ok(at);
  assert.equal(at.temperature, 2);
  assert.deepEqual(at.labels, [7]);
  assert.ok(Math.abs(at.teacher[0][1] - 1 / (1 + Math.exp(-1))) < 1e-12);
  assert.deepEqual(at.distilled[0], [0.5, 0.5]);
  assert.equal(softTargetsAt({ temperature: 4, teacher: [[1, 0]] }, 2), null);
});

test('finalFigures: the model after the last stage, the dense one beside it', async () => {
  const { finalFigures } = await import('../../www/compress.js');
  const report = { final: { test_accuracy: 0.883 }, model: { bytes: 4000 } };
  const stages = [
    { test_accuracy: 0.9, accuracy_change: -0.078, bytes: { dense: 4000, bitmask: 900, csr: 800, sparse: 800 } },
    { test_accuracy: 0.883, accuracy_change: -0.095, bytes: { dense: 4000, bitmask: 900, csr: 800, sparse: 800, quantized: 300 } },
  ];
  const f = finalFigures(report, stages);
  assert.equal(f.testAccuracy, 0.883);
  assert.ok(Math.abs(/** @type {number} */ (f.denseAccuracy) - 0.978) < 1e-9);
  assert.equal(f.bytes, 300);
  assert.equal(f.denseBytes, 4000);
  assert.equal(f.compressed, true);
  // Without a quantized size the sparse one; without stages the dense model itself.
  assert.equal(finalFigures(report, stages.slice(0, 1)).bytes, 800);
  assert.deepEqual(finalFigures(report, []), { testAccuracy: 0.883, denseAccuracy: 0.883, bytes: 4000, denseBytes: 4000, compressed: false });
});
