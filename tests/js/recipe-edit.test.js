// www/recipe-edit.js, the Build panel's pure logic: parameter counts and bytes against the engine's
// own reports, the LR schedule against values worked from LrSchedule::lr_at (src/nn/schedule.rs),
// recipe edits, engine message → control mapping; and, where www/pkg is built, that every default
// the form writes (datasets, decays, optimizers, model kinds, stages) passes the engine's
// validateRecipe.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import {
  DATASETS, DECAYS, MAX_PARAMS, OPTIMIZERS, STAGE_KINDS, STARTER_POINTS,
  applyEdit, classCount, controlForMessage, datasetFields, defaultDecay, getPath, inputShape, lrAt, lrCurve,
  messagePath, modelSize, moveItem, newConvBlock, newStage, parseIntList, pathKey, setPath, switchDataset,
  switchModel, switchOptimizer, trainSamples,
} from '../../www/recipe-edit.js';

/** @param {string} name */
const preset = (name) => JSON.parse(readFileSync(new URL(`../../presets/${name}.json`, import.meta.url), 'utf8'));

/** @param {any} r */
const sizeOf = (r) => modelSize(r.model, /** @type {number[]} */ (inputShape(r.dataset)), classCount(r.dataset));

const close = (/** @type {number} */ a, /** @type {number} */ b, eps = 1e-9) => assert.ok(Math.abs(a - b) <= eps * Math.max(1, Math.abs(b)), `${a} ≠ ${b}`);

test('modelSize matches the engine\'s model.params and model.bytes for the presets', () => {
  // The numbers are the reports of `minnow run <preset> --epochs 1 --backend cpu` (model.params, model.bytes).
  const cases = [
    ['spiral-mlp', 4482, 17928],
    ['digits-mlp', 17226, 68904],
    ['mnist-mlp', 266610, 1066440],
    ['mnist-cnn', 61706, 246824],
  ];
  for (const [name, params, bytes] of cases) {
    const s = sizeOf(preset(String(name)));
    assert.equal(s.params, params, `${name} params`);
    assert.equal(s.bytes, bytes, `${name} bytes`);
    assert.equal(s.error, null);
  }
});

test('modelSize counts batch norm (weight, bias; running stats in bytes) and conv arithmetic as the engine', () => {
  // Engine reports for the same recipes with batch_norm: true, and for small custom ones.
  const bn = (/** @type {string} */ n) => {
    const r = preset(n);
    r.model.batch_norm = true;
    return sizeOf(r);
  };
  assert.deepEqual([bn('spiral-mlp').params, bn('spiral-mlp').bytes], [4738, 19976]);
  assert.deepEqual([bn('digits-mlp').params, bn('digits-mlp').bytes], [17610, 71976]);
  assert.deepEqual([bn('mnist-mlp').params, bn('mnist-mlp').bytes], [267410, 1072840]);
  assert.deepEqual([bn('mnist-cnn').params, bn('mnist-cnn').bytes], [62158, 250440]);
  // mnist: conv 4@3x3 stride 2 pad 1 no pool (28 → 14), conv 5@3x3 pool 3 (12 → 4), then 80 → 10.
  const cnn2 = { kind: 'cnn', conv: [{ channels: 4, kernel: 3, stride: 2, padding: 1, pool: 1 }, { channels: 5, kernel: 3, pool: 3 }], hidden: [] };
  assert.equal(modelSize(cnn2, [1, 28, 28], 10).params, 1035);
  // digits: conv 3@3x3 (defaults: no padding, stride 1, pool 2): 8 → 6 → 3, then 27 → 5 → 10.
  assert.equal(modelSize({ kind: 'cnn', conv: [{ channels: 3 }], hidden: [5] }, [1, 8, 8], 10).params, 230);
  // A 5-class spiral, 2-7-3-5.
  assert.equal(modelSize({ kind: 'mlp', hidden: [7, 3] }, [2], 5).params, 65);
});

test('modelSize names what build_model would refuse', () => {
  const big = modelSize({ kind: 'mlp', hidden: [4096, 4096] }, [2], 2);
  assert.ok(big.limitParams > MAX_PARAMS);
  assert.match(String(big.error), /^model has \d+ parameters: at most 4000000/);
  assert.equal(modelSize({ kind: 'mlp', hidden: [1000, 3000] }, [2], 2).error, null); // 2·1000 + 1000 + 1000·3000 + 3000 + 3000·2 + 2 = 3,012,002
  assert.match(String(modelSize({ kind: 'cnn', conv: [{ channels: 4, kernel: 11 }] }, [1, 8, 8], 10).error), /^model\.conv\[0\]\.kernel = 11: does not fit the 8x8/);
  assert.match(String(modelSize({ kind: 'cnn', conv: [{ channels: 4, kernel: 3, pool: 4 }, { channels: 4, kernel: 1, pool: 2 }] }, [1, 8, 8], 10).error), /^model\.conv\[1\]\.pool = 2: the feature map is only 1x1/);
  assert.match(String(modelSize({ kind: 'cnn', conv: [{ channels: 4 }] }, [2], 2).error), /needs image inputs/);
});

test('lrAt follows LrSchedule::lr_at', () => {
  // Values worked by hand from the closed forms in src/nn/schedule.rs.
  // The Rust unit test: cosine t_max 10 after 2 warmup steps is back at the base rate at t = 2.
  close(lrAt({ decay: { kind: 'cosine', t_max: 10 }, warmup: 2 }, 1, 2, 12), 1);
  // Warmup: base·(f + (1 − f)·t/warmup) with f = 0.1: t = 1 of 4 → 0.325.
  close(lrAt({ decay: { kind: 'constant' }, warmup: 4 }, 1, 1, 20), 0.325);
  close(lrAt({ warmup: 4, warmup_start_factor: 0.5 }, 0.2, 2, 20), 0.2 * 0.75);
  // Step: 0.2·0.5^⌊7/3⌋ = 0.05.
  close(lrAt({ decay: { kind: 'step', step_size: 3, gamma: 0.5 } }, 0.2, 7, 20), 0.05);
  close(lrAt({ decay: { kind: 'step', step_size: 3 } }, 1, 3, 20), 0.1); // default γ 0.1
  // Multi-step: γ^(milestones ≤ t).
  close(lrAt({ decay: { kind: 'multi_step', milestones: [2, 5], gamma: 0.1 } }, 1, 4, 10), 0.1);
  close(lrAt({ decay: { kind: 'multi_step', milestones: [2, 5], gamma: 0.1 } }, 1, 5, 10), 0.01);
  // Exponential: 0.9³.
  close(lrAt({ decay: { kind: 'exponential', gamma: 0.9 } }, 1, 3, 10), 0.729);
  // Cosine with η_min: 0.1 + 0.9·(1 + cos(π/2))/2 = 0.55; counted from the end of warmup.
  close(lrAt({ decay: { kind: 'cosine', t_max: 10, eta_min: 0.1 } }, 1, 5, 10), 0.55);
  close(lrAt({ decay: { kind: 'cosine', t_max: 10, eta_min: 0.1 }, warmup: 3 }, 1, 8, 13), 0.55);
  // One-cycle, max 1, div 25, final div 1e4, pct 0.3 over 10 steps: end1 = 2, end2 = 9.
  const oc = { decay: { kind: 'one_cycle', max_lr: 1 } };
  close(lrAt(oc, 0.5, 0, 10), 0.04);
  close(lrAt(oc, 0.5, 1, 10), 0.52); // 1 + (0.04 − 1)/2·(cos(π/2) + 1)
  close(lrAt(oc, 0.5, 2, 10), 1);
  close(lrAt(oc, 0.5, 9, 10), 4e-6);
  // total_steps given overrides the run's length; 0 means the run (less warmup, at least 2).
  close(lrAt({ decay: { kind: 'one_cycle', max_lr: 1, total_steps: 20 } }, 0.5, 5, 10), 1);
  // No schedule: constant.
  close(lrAt(undefined, 0.3, 7, 10), 0.3);
});

test('lrCurve has one point per epoch, or per step thinned for a step interval', () => {
  const t = { epochs: 4, optimizer: { lr: 1 }, schedule: { decay: { kind: 'step', step_size: 2, gamma: 0.5 } } };
  assert.deepEqual(lrCurve(t, 10), [[0, 1], [1, 1], [2, 0.5], [3, 0.5]]);
  const perStep = lrCurve({ ...t, schedule: { ...t.schedule, interval: 'step' } }, 10);
  assert.equal(perStep.length, 40);
  assert.deepEqual(perStep[2], [0.2, 0.5]);
  assert.ok(lrCurve({ ...t, epochs: 1000, schedule: { interval: 'step' } }, 100, 400).length <= 400);
  assert.deepEqual(lrCurve({ ...t, epochs: 0 }, 10), []);
});

test('datasetFields and switchDataset keep only what applies to the dataset', () => {
  assert.deepEqual(datasetFields('spiral'), { samples: true, noise: true, classes: [2, 6], test_fraction: true });
  assert.deepEqual(datasetFields('circles'), { samples: true, noise: true, classes: null, test_fraction: true });
  assert.deepEqual(datasetFields('mnist'), { samples: false, noise: false, classes: null, test_fraction: false });
  const spiral = { name: 'spiral', samples: 900, noise: 0.3, classes: 4, test_fraction: 0.25 };
  assert.deepEqual(switchDataset('circles', spiral), { name: 'circles', samples: 900, noise: 0.3, classes: 2, test_fraction: 0.25 });
  assert.deepEqual(switchDataset('blobs', spiral), { ...spiral, name: 'blobs' });
  assert.deepEqual(switchDataset('digits', spiral), { name: 'digits', classes: 10, test_fraction: 0.25 });
  assert.deepEqual(switchDataset('mnist', spiral), { name: 'mnist', classes: 10 });
  assert.deepEqual(switchDataset('spiral', { name: 'mnist', classes: 10 }), { name: 'spiral', samples: 600, noise: 0.1, classes: 2, test_fraction: 0.2 });
  assert.deepEqual(switchDataset('csv', { name: 'digits', classes: 10, test_fraction: 0.2 }), { name: 'csv', classes: 2, test_fraction: 0.2 });
  // `drawn`: starts from the points shown, else keeps its own, else the starter points.
  assert.deepEqual(datasetFields('drawn'), { samples: false, noise: false, classes: null, test_fraction: true });
  const shown = [[0, 0, 0], [1, 1, 2]];
  assert.deepEqual(switchDataset('drawn', spiral, shown), { name: 'drawn', test_fraction: 0.25, classes: 3, points: shown });
  const starter = switchDataset('drawn', { name: 'digits', classes: 10 });
  assert.deepEqual(starter, { name: 'drawn', test_fraction: 0.2, classes: 2, points: STARTER_POINTS });
  assert.deepEqual(switchDataset('drawn', { ...starter, test_fraction: 0.3 }), { ...starter, test_fraction: 0.3 });
  assert.deepEqual(inputShape(starter), [2]);
  assert.equal(classCount(starter), 2);
  assert.equal(trainSamples(starter), 12 - Math.round(12 * 0.2));
  assert.deepEqual(inputShape({ name: 'moons' }), [2]);
  assert.equal(inputShape({ name: 'csv' }), null);
  assert.deepEqual(inputShape({ name: 'csv' }, 4), [4]);
  assert.equal(classCount({ name: 'digits', classes: 2 }), 10);
  assert.equal(trainSamples({ name: 'spiral', samples: 600, test_fraction: 0.2 }), 480);
  assert.equal(trainSamples({ name: 'mnist' }), 8000);
  assert.equal(trainSamples({ name: 'csv' }), null);
});

test('model, optimizer and stage edits', () => {
  assert.deepEqual(switchModel('cnn', { kind: 'mlp', hidden: [64], activation: 'tanh' }), {
    kind: 'cnn', conv: [{ channels: 8, kernel: 3, padding: 1, pool: 2 }], hidden: [64], activation: 'tanh',
  });
  assert.deepEqual(switchModel('mlp', { kind: 'cnn', conv: [{ channels: 8 }], hidden: [] }), { kind: 'mlp', hidden: [] });
  assert.equal(newConvBlock([{ channels: 8 }]).channels, 16);
  assert.equal(newConvBlock([{ channels: 64 }]).channels, 64);
  assert.deepEqual(switchOptimizer('sgd', { kind: 'adam', lr: 0.01 }), { kind: 'sgd', lr: 0.01, momentum: 0.9 });
  assert.deepEqual(switchOptimizer('adamw', { kind: 'sgd', lr: 0.1, momentum: 0.9, weight_decay: 0.5 }), { kind: 'adamw', lr: 0.1, weight_decay: 0.01 });
  assert.deepEqual(switchOptimizer('adam', { kind: 'adam', lr: 0.1, weight_decay: 0.001 }), { kind: 'adam', lr: 0.1, weight_decay: 0.001 });
  assert.deepEqual(defaultDecay('cosine', 30, 0.1), { kind: 'cosine', t_max: 30 });
  assert.deepEqual(defaultDecay('multi_step', 100, 0.1), { kind: 'multi_step', milestones: [50, 75], gamma: 0.1 });
  assert.deepEqual(moveItem(['a', 'b', 'c'], 0, 1), ['b', 'a', 'c']);
  assert.deepEqual(moveItem(['a', 'b', 'c'], 2, -1), ['a', 'c', 'b']);
  assert.deepEqual(moveItem(['a', 'b'], 0, -1), ['a', 'b']);
  assert.deepEqual(newStage('magnitude', preset('spiral-mlp')), { kind: 'magnitude', amount: 0.5, scope: 'layer' });
  assert.deepEqual(newStage('distill', preset('digits-mlp')).student, { kind: 'mlp', hidden: [32, 16] });
});

test('setPath copies along the path and removes with undefined; applyEdit keeps cosine spanning the run', () => {
  const r = { a: { b: [1, 2, 3] }, c: 1 };
  const s = setPath(r, ['a', 'b', 1], 9);
  assert.deepEqual(s, { a: { b: [1, 9, 3] }, c: 1 });
  assert.deepEqual(r.a.b, [1, 2, 3]);
  assert.equal(s.c, 1);
  assert.deepEqual(setPath(r, ['a', 'b', 0], undefined), { a: { b: [2, 3] }, c: 1 });
  assert.deepEqual(setPath(r, ['c'], undefined), { a: { b: [1, 2, 3] } });
  assert.deepEqual(setPath({}, ['x', 'y'], 1), { x: { y: 1 } });
  assert.equal(getPath(s, ['a', 'b', 1]), 9);
  assert.equal(getPath(s, ['a', 'z', 1]), undefined);
  assert.equal(pathKey(['compression', 0, 'train', 'epochs']), 'compression[0].train.epochs');

  const spiral = preset('spiral-mlp');
  const longer = applyEdit(spiral, ['training', 'epochs'], 30);
  assert.equal(longer.training.epochs, 30);
  assert.equal(longer.training.schedule.decay.t_max, 30);
  const custom = setPath(spiral, ['training', 'schedule', 'decay', 't_max'], 50);
  assert.equal(applyEdit(custom, ['training', 'epochs'], 30).training.schedule.decay.t_max, 50);
  assert.deepEqual(parseIntList('64, 32 16'), [64, 32, 16]);
  assert.equal(parseIntList('64, x'), null);
});

test('an engine message goes to the control its path names, or the nearest one above', () => {
  const controls = ['training.batch_size', 'training.schedule.decay.t_max', 'model.hidden', 'model.hidden[0]', 'compression[1]', 'compression[1].amount', 'dataset.samples'];
  assert.equal(messagePath('training.batch_size = 0: must be in [1, 4096]'), 'training.batch_size');
  assert.equal(messagePath('recipe field `model.hidden[0]`: invalid type: string "a", expected usize'), 'model.hidden[0]');
  assert.equal(messagePath('recipe: missing field `dataset`'), null);
  assert.equal(controlForMessage('training.batch_size = 0: must be in [1, 4096]', controls), 'training.batch_size');
  assert.equal(controlForMessage('model.hidden[0] = 0: must be in [1, 4096]', controls), 'model.hidden[0]');
  assert.equal(controlForMessage('model.hidden has 9 layers: at most 8', controls), 'model.hidden');
  assert.equal(controlForMessage('training.schedule.t_max = 0: must be at least 1', controls), 'training.schedule.decay.t_max');
  assert.equal(controlForMessage('compression[1].layers: unknown layer "x"', controls), 'compression[1]');
  assert.equal(controlForMessage('recipe field `compression[1].amount`: invalid type', controls), 'compression[1].amount');
  assert.equal(controlForMessage('dataset.samples = 5: must be in [20, 100000] for spiral', controls), 'dataset.samples');
  assert.equal(controlForMessage('version = 2: this build reads recipe version 1', controls), null);
  assert.equal(controlForMessage('recipe: missing field `model`', controls), null);
});

const wasmPath = new URL('../../www/pkg/minnow_bg.wasm', import.meta.url);
test('every default the form writes passes the engine\'s validateRecipe', { skip: !existsSync(wasmPath) && 'www/pkg not built' }, async () => {
  const m = await import('../../www/pkg/minnow.js');
  m.initSync({ module: readFileSync(wasmPath) });
  const check = (/** @type {any} */ r, /** @type {string} */ what) => {
    try {
      m.validateRecipe(JSON.stringify(r));
    } catch (e) {
      assert.fail(`${what}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  for (const name of ['spiral-mlp', 'digits-mlp', 'mnist-cnn']) {
    const base = preset(name);
    for (const kind of STAGE_KINDS) check({ ...base, compression: [newStage(kind, base)] }, `${name} + ${kind}`);
    for (const kind of DECAYS) check(setPath(base, ['training', 'schedule', 'decay'], defaultDecay(kind, base.training.epochs, base.training.optimizer.lr)), `${name} decay ${kind}`);
    for (const kind of OPTIMIZERS) check(setPath(base, ['training', 'optimizer'], switchOptimizer(kind, base.training.optimizer)), `${name} optimizer ${kind}`);
    for (const ds of DATASETS) {
      const r = { ...base, dataset: switchDataset(ds, base.dataset), model: switchModel('mlp', base.model) };
      check(r, `${name} → ${ds}`);
    }
  }
  check({ ...preset('digits-mlp'), model: switchModel('cnn', preset('digits-mlp').model) }, 'digits as cnn');
  const bad = setPath(preset('spiral-mlp'), ['training', 'batch_size'], 0);
  assert.throws(() => m.validateRecipe(JSON.stringify(bad)), /^Error: training\.batch_size = 0/);
});
