// The guided lessons as data: for each lesson its preset and 3–6 steps, each with what to look at
// and do, the control it points at (a CSS selector), a check on the page's state that the learner
// did it, and the numbers the page shows now, read live (never written in here). Pure: no DOM, so
// tests/js/lessons.test.js runs the checks under node; www/lesson-ui.js draws the panel.

import { formatBytes, formatCount, formatLoss, formatPercent, formatRate, formatRatio, formatSeconds } from './format.js';
import { honestBytes, softTargetsAt } from './compress.js';

/** @typedef {import('./state.js').Recipe} Recipe */
/** @typedef {import('./report-types.js').Report} Report */
/** @typedef {import('./report-types.js').StageReport} StageReport */
/** @typedef {import('./report-types.js').ExploreSetting} ExploreSetting */
/** @typedef {import('./report-types.js').ExploreResult} ExploreResult */

/**
 * What a lesson step can see of the page (www/lesson-ui.js builds it from the controller).
 * @typedef {object} LessonView
 * @property {string} status the run status (`idle`, `training`, `done`, …), as `body[data-status]`
 * @property {string} preset the Preset picker's value, '' when the recipe is no preset
 * @property {Recipe | null} recipe the editor's recipe when it is valid
 * @property {Report | null} report the finished run's report (its `recipe` is what was trained)
 * @property {StageReport[]} stages the finished stages of the live run
 * @property {{active: boolean, setting: ExploreSetting, result: ExploreResult | null,
 *   dense: ExploreResult | null}} explore the Explore card: `result` is the shown setting's, when fresh
 * @property {number | null} temperature the distillation view's temperature slider, null without one
 */

/** Numbers a step remembers when the learner moves on (for comparisons in later steps). @typedef {Record<string, number>} Kept */

/**
 * @typedef {object} LessonStep
 * @property {string} title a few words
 * @property {string} text what to look at and what to do
 * @property {string} target CSS selector of the control the step points at
 * @property {(v: LessonView, kept: Kept) => boolean} done whether the learner did it ("Next" waits for it)
 * @property {(v: LessonView, kept: Kept) => string | null} [says] what the page shows now, with its
 *   numbers; null until they exist
 * @property {(v: LessonView) => Kept} [keep] numbers to remember when the learner presses Next
 */

/**
 * @typedef {object} Lesson
 * @property {string} id used in links: `#…&lesson=<id>`
 * @property {string} title
 * @property {string} preset the preset its steps start from
 * @property {string} [adds] the kind of stage a step adds through the Build tab (its controls are
 *   then targets)
 * @property {string} summary one line for the picker
 * @property {LessonStep[]} steps
 */

/**
 * The distillation preset's margin over seeds, as measured by scripts/distill-seeds.py (its output,
 * bench/distill-seeds.json, is what tests/js/lessons.test.js compares these figures with).
 */
export const DISTILL_MEASURED = Object.freeze({
  preset: 'mnist-distill',
  seeds: 5,
  mean: 2.48,
  std: 0.5,
  min: 2.0,
  max: 3.1,
});

// ---------------------------------------------------------------------------------------------
// Reading the view

/**
 * The report of a finished run whose recipe passes `test`, else null.
 * @param {LessonView} v
 * @param {(r: Recipe) => boolean} [test]
 * @returns {Report | null}
 */
function trained(v, test = () => true) {
  if (v.status !== 'done' || !v.report?.final) return null;
  const r = /** @type {Recipe} */ (v.report.recipe ?? {});
  return test(r) ? v.report : null;
}

/**
 * The finished run's first stage of `kind` (with its index in the report).
 * @param {LessonView} v
 * @param {string} kind
 * @returns {any}
 */
function stageOf(v, kind) {
  if (v.status !== 'done') return null;
  return (v.report?.stages ?? v.stages).find((s) => s.kind === kind) ?? null;
}

/** @param {Recipe} r @param {string} kind @returns {Recipe | undefined} */
function recipeStage(r, kind) {
  return Array.isArray(r.compression) ? r.compression.find((s) => s?.kind === kind) : undefined;
}

/** Test accuracy of the model after the initial training (before any stage). @param {Report} report */
function denseAccuracy(report) {
  return report.epochs.at(-1)?.test_accuracy ?? report.final.test_accuracy;
}

/** The explorer's setting and its fresh result when `test` passes. @param {LessonView} v @param {(s: ExploreSetting) => boolean} test */
function explored(v, test) {
  const e = v.explore;
  return e.active && e.result && test(e.setting) ? e.result : null;
}

/** Percentage points between two accuracies, signed: "+1.4 points". @param {number} a @param {number} b */
function points(a, b) {
  const d = (a - b) * 100;
  return `${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(1)} points`;
}

/** "higher" / "lower" / "the same" for a against b. @param {number} a @param {number} b */
function compare(a, b) {
  return a > b ? 'higher than' : a < b ? 'lower than' : 'the same as';
}

/** @param {number} s */
function sparsityText(s) {
  return `${(s * 100).toFixed(Math.abs(s * 100 - Math.round(s * 100)) < 0.05 ? 0 : 1)} %`;
}

/** @param {Recipe} r */
const decayKind = (r) => r.training?.schedule?.decay?.kind ?? 'constant';
/** @param {Recipe} r */
const optimizer = (r) => r.training?.optimizer ?? {};

/** Train ready: the Train step every lesson shares. @param {string} text @param {LessonStep['done']} done @param {LessonStep['says']} says @param {LessonStep['keep']} [keep] */
function trainStep(text, done, says, keep) {
  return { title: 'Train it', text, target: '#train', done, says, ...(keep ? { keep } : {}) };
}

/** The "choose the preset" step. @param {string} name @param {string} why */
function presetStep(name, why) {
  return {
    title: `Load ${name}`,
    text: `Choose ${name} in the Preset menu. ${why}`,
    target: '#preset',
    done: (/** @type {LessonView} */ v) => v.preset === name,
  };
}

// ---------------------------------------------------------------------------------------------
// The lessons

/** @type {Lesson[]} */
export const LESSONS = [
  {
    id: 'basics',
    title: 'Training basics: schedules, momentum, batch norm, dropout',
    preset: 'spiral-mlp',
    summary: 'What the compression lessons build on: the learning-rate schedule, momentum, batch norm and dropout, one change and one run at a time.',
    steps: [
      presetStep('spiral-mlp', 'Two interleaved spirals and a 2-64-64-2 tanh MLP trained with Adam: a run takes seconds, and the decision boundary shows what the network learnt.'),
      trainStep(
        'Press Train. The LR column of the Epochs table follows the cosine schedule: it starts at the optimizer\'s learning rate and falls to 0 by the last epoch, so the last epochs take small steps.',
        (v) => !!trained(v, (r) => decayKind(r) === 'cosine'),
        (v) => {
          const r = trained(v, (x) => decayKind(x) === 'cosine');
          if (!r) return null;
          const first = r.epochs[0];
          const last = r.epochs.at(-1);
          return `Test accuracy ${formatPercent(r.final.test_accuracy)}, last epoch's train loss ${formatLoss(r.final.train_loss)}; the LR went from ${formatRate(first?.lr)} in epoch 1 to ${formatRate(last?.lr)} in epoch ${r.epochs.length}.`;
        },
        (v) => ({ cosineAcc: v.report?.final.test_accuracy ?? NaN, cosineLoss: v.report?.final.train_loss ?? NaN }),
      ),
      {
        title: 'A constant learning rate',
        text: 'In the Build tab (Training), set LR schedule to constant and press Train again: the same run, but the steps never shrink.',
        target: '#f-training-schedule-decay-kind',
        done: (v) => !!trained(v, (r) => decayKind(r) === 'constant'),
        says: (v, k) => {
          const r = trained(v, (x) => decayKind(x) === 'constant');
          if (!r) return null;
          return `Constant LR: last train loss ${formatLoss(r.final.train_loss)}, ${compare(r.final.train_loss, k.cosineLoss)} the cosine run's ${formatLoss(k.cosineLoss)}; test accuracy ${formatPercent(r.final.test_accuracy)} against ${formatPercent(k.cosineAcc)}.`;
        },
      },
      {
        title: 'Plain SGD',
        text: 'Set Optimizer to sgd, then Momentum to 0 (the box starts at 0.9), and Train: every step is −lr · gradient, nothing more.',
        target: '#f-training-optimizer-kind',
        done: (v) => !!trained(v, (r) => optimizer(r).kind === 'sgd' && !(Number(optimizer(r).momentum) > 0)),
        says: (v) => {
          const r = trained(v, (x) => optimizer(x).kind === 'sgd' && !(Number(optimizer(x).momentum) > 0));
          if (!r) return null;
          return `SGD without momentum at lr ${formatRate(Number(optimizer(/** @type {Recipe} */ (r.recipe)).lr))}: test accuracy ${formatPercent(r.final.test_accuracy)}, last train loss ${formatLoss(r.final.train_loss)}. Look at how far the boundary got.`;
        },
        keep: (v) => ({ sgdAcc: v.report?.final.test_accuracy ?? NaN, sgdLoss: v.report?.final.train_loss ?? NaN }),
      },
      {
        title: 'Momentum',
        text: 'Set Momentum to 0.9 and Train. Momentum β adds β times the previous step to each new one; along a steady gradient the step grows towards lr / (1 − β).',
        target: '#f-training-optimizer-momentum',
        done: (v) => !!trained(v, (r) => optimizer(r).kind === 'sgd' && Number(optimizer(r).momentum) >= 0.5),
        says: (v, k) => {
          const r = trained(v, (x) => optimizer(x).kind === 'sgd' && Number(optimizer(x).momentum) >= 0.5);
          if (!r) return null;
          const o = optimizer(/** @type {Recipe} */ (r.recipe));
          const beta = Number(o.momentum);
          return `Momentum ${beta}: test accuracy ${formatPercent(r.final.test_accuracy)} (without: ${formatPercent(k.sgdAcc)}), last train loss ${formatLoss(r.final.train_loss)} (without: ${formatLoss(k.sgdLoss)}). The steady-state step here is ${formatRate(Number(o.lr) / (1 - beta))} = lr / (1 − ${beta}).`;
        },
        keep: (v) => {
          const last = v.report?.epochs.at(-1);
          return { gapTrain: last?.train_accuracy ?? NaN, gapTest: last?.test_accuracy ?? NaN };
        },
      },
      {
        title: 'Batch norm and dropout',
        text: 'Tick Batch norm (each hidden layer\'s outputs normalized over the batch, then scaled and shifted by learnt parameters) or set Dropout to 0.2 (each hidden activation zeroed with that probability while training, the rest scaled by 1 / (1 − p)), and Train.',
        target: '#f-model-batch_norm',
        done: (v) => !!trained(v, (r) => r.model?.batch_norm === true || Number(r.model?.dropout) > 0),
        says: (v, k) => {
          const r = trained(v, (x) => x.model?.batch_norm === true || Number(x.model?.dropout) > 0);
          const last = r?.epochs.at(-1);
          if (!r || !last) return null;
          const m = /** @type {Recipe} */ (r.recipe).model ?? {};
          const what = [m.batch_norm ? 'batch norm' : '', Number(m.dropout) > 0 ? `dropout ${m.dropout}` : ''].filter(Boolean).join(' and ');
          return `With ${what}: train accuracy ${formatPercent(last.train_accuracy)}, test ${formatPercent(last.test_accuracy)} in the last epoch (the previous run: train ${formatPercent(k.gapTrain)}, test ${formatPercent(k.gapTest)}). Dropout is off at evaluation, so the train column measures the model with dropout on.`;
        },
      },
    ],
  },

  {
    id: 'magnitude-pruning',
    title: 'Magnitude pruning: per layer or global',
    preset: 'spiral-mlp',
    summary: 'Zero the smallest weights of a trained model and watch the boundary; one threshold per layer against one for the whole network.',
    steps: [
      presetStep('spiral-mlp', 'Its layers differ in size: 2×64 in, 64×64 in the middle, 64×2 out.'),
      trainStep(
        'Press Train. When it finishes, the Explore card appears: it prunes the trained model on the spot, without retraining.',
        (v) => !!trained(v) && v.explore.active,
        (v) => {
          const r = trained(v);
          return r ? `Trained: test accuracy ${formatPercent(r.final.test_accuracy)}, ${formatCount(r.model.params)} parameters, ${formatBytes(r.model.bytes)} as dense f32.` : null;
        },
      ),
      {
        title: 'Per layer, 90 %',
        text: 'With Method "per layer", move Sparsity to 90 %: each layer loses its 90 % smallest-magnitude weights. Compare the two boundaries (as trained, and pruned).',
        target: '#ex-sparsity',
        done: (v) => !!explored(v, (s) => s.method === 'layer' && s.sparsity >= 0.895),
        says: (v) => {
          const r = explored(v, (s) => s.method === 'layer' && s.sparsity >= 0.895);
          if (!r) return null;
          return `Per layer at ${sparsityText(v.explore.setting.sparsity)}: test accuracy ${formatPercent(r.test_accuracy)} (as trained ${formatPercent(v.explore.dense?.test_accuracy)}), ${formatBytes(r.bytes)} in a sparse format against ${formatBytes(r.dense_bytes)} dense (${formatRatio(r.ratio)}).`;
        },
        keep: (v) => ({ layerAcc: v.explore.result?.test_accuracy ?? NaN, sparsity: v.explore.setting.sparsity }),
      },
      {
        title: 'Global, same sparsity',
        text: 'Switch Method to global and keep the sparsity. Per layer removes the same fraction from every layer, the small input and output layers included; global ranks all weights together under one threshold, so a layer whose weights are larger in magnitude keeps more of them.',
        target: '#ex-method',
        done: (v, k) => !!explored(v, (s) => s.method === 'global' && Math.abs(s.sparsity - k.sparsity) < 0.005),
        says: (v, k) => {
          const r = explored(v, (s) => s.method === 'global' && Math.abs(s.sparsity - k.sparsity) < 0.005);
          if (!r) return null;
          return `Global at ${sparsityText(k.sparsity)}: test accuracy ${formatPercent(r.test_accuracy)}, ${points(r.test_accuracy, k.layerAcc)} against per layer (${formatPercent(k.layerAcc)}), at the same number of weights kept.`;
        },
      },
      {
        title: 'Find the breaking point',
        text: 'Push Sparsity to 98 % or more, and switch Method back and forth: where does each one lose the spiral?',
        target: '#ex-sparsity',
        done: (v) => !!explored(v, (s) => s.sparsity >= 0.975),
        says: (v) => {
          const r = explored(v, (s) => s.sparsity >= 0.975);
          if (!r) return null;
          return `${v.explore.setting.method === 'global' ? 'Global' : 'Per layer'} at ${sparsityText(r.sparsity)} achieved: test accuracy ${formatPercent(r.test_accuracy)}, ${formatBytes(r.bytes)} (${formatRatio(r.ratio)}).`;
        },
      },
    ],
  },

  {
    id: 'gradual-pruning',
    title: 'Gradual pruning and its schedule',
    preset: 'spiral-prune',
    summary: 'Prune while training, on Zhu & Gupta\'s cubic schedule, against pruning all at once.',
    steps: [
      presetStep('spiral-prune', 'The spiral MLP, then a sensitivity scan and a gradual pruning stage to 90 % sparsity that keeps training while it prunes.'),
      trainStep(
        'Press Train and watch the Stages card. The gradual stage prunes `prunings` times, every `frequency` steps, to s_k = s_f + (s_i − s_f)(1 − k/n)³: large cuts first, small ones at the end, with training in between to recover.',
        (v) => !!stageOf(v, 'gradual'),
        (v) => {
          const g = stageOf(v, 'gradual');
          const sens = stageOf(v, 'sensitivity');
          const r = trained(v);
          if (!g || !r) return null;
          const d = g.details;
          const sched = d.schedule ?? [];
          const first = sched[0];
          const mid = sched[Math.floor(sched.length / 2)];
          const last = sched.at(-1);
          const i90 = sens ? sens.details.sparsities.findIndex((/** @type {number} */ s) => Math.abs(s - 0.9) < 1e-6) : -1;
          const scan = sens && i90 >= 0
            ? ` The sensitivity scan, each layer alone at 90 %: ${sens.details.layers.map((/** @type {string} */ l, /** @type {number} */ i) => `${l} ${formatPercent(sens.details.accuracy[i][i90])}`).join(', ')}.`
            : '';
          return `${sched.length} pruning events: sparsity ${sparsityText(first?.sparsity ?? 0)} at step ${first?.step}, ${sparsityText(mid?.sparsity ?? 0)} at step ${mid?.step}, ${sparsityText(last?.sparsity ?? 0)} at step ${last?.step}. Test accuracy ${formatPercent(g.test_accuracy)} (dense ${formatPercent(denseAccuracy(r))}).${scan}`;
        },
        (v) => ({ gradualAcc: stageOf(v, 'gradual')?.test_accuracy ?? NaN }),
      ),
      {
        title: 'All at once',
        text: 'In the Build tab, set the gradual stage\'s Prunings to 1 and Train: the same final sparsity in a single cut, then the same training budget.',
        target: '#f-compression-1-prunings',
        done: (v) => !!trained(v, (r) => recipeStage(r, 'gradual')?.prunings === 1) && !!stageOf(v, 'gradual'),
        says: (v, k) => {
          const g = trained(v, (r) => recipeStage(r, 'gradual')?.prunings === 1) && stageOf(v, 'gradual');
          if (!g) return null;
          return `One cut to ${sparsityText(g.weight_sparsity)}: test accuracy ${formatPercent(g.test_accuracy)}, ${points(g.test_accuracy, k.gradualAcc)} against the gradual schedule's ${formatPercent(k.gradualAcc)}.`;
        },
      },
      {
        title: 'Further',
        text: 'Set Prunings back to 20 and Final sparsity to 0.98, and Train: does the schedule still hold the boundary with 2 % of the weights?',
        target: '#f-compression-1-final_sparsity',
        done: (v) => !!trained(v, (r) => Number(recipeStage(r, 'gradual')?.final_sparsity) >= 0.975 && Number(recipeStage(r, 'gradual')?.prunings) > 1),
        says: (v) => {
          const ok = trained(v, (r) => Number(recipeStage(r, 'gradual')?.final_sparsity) >= 0.975);
          const g = ok && stageOf(v, 'gradual');
          if (!g) return null;
          return `Gradual to ${sparsityText(g.weight_sparsity)}: test accuracy ${formatPercent(g.test_accuracy)}, ${formatCount(g.nonzero_params)} of ${formatCount(g.params)} parameters nonzero, ${formatBytes(honestBytes(g.bytes))} (${formatRatio(g.compression_ratio)}).`;
        },
      },
    ],
  },

  {
    id: 'structured-pruning',
    title: 'Structured pruning: what physical removal buys',
    preset: 'digits-mlp',
    adds: 'structured',
    summary: 'Remove whole neurons instead of single weights, then take them out of the matrices: fewer parameters and faster inference.',
    steps: [
      presetStep('digits-mlp', 'The 8×8 digits and a 64-128-64-10 ReLU MLP.'),
      {
        title: 'Add a structured stage',
        text: 'In the Build tab, under Compression, choose "structured" and press Add stage. It ranks each layer\'s neurons (rows of its weight matrix) by their L1 norm and zeroes the weakest ones, whole.',
        target: '#f-add-stage',
        done: (v) => !!(v.recipe && recipeStage(v.recipe, 'structured')),
      },
      {
        title: 'Half the neurons, zeroed',
        text: 'Set the stage\'s Amount to 0.5 (Remove physically unticked) and Train.',
        target: '#f-compression-0-amount',
        done: (v) => !!trained(v, (r) => Number(recipeStage(r, 'structured')?.amount) >= 0.45 && !recipeStage(r, 'structured')?.remove) && !!stageOf(v, 'structured'),
        says: (v) => {
          const s = trained(v, (r) => !recipeStage(r, 'structured')?.remove) && stageOf(v, 'structured');
          const r = v.report;
          if (!s || !r) return null;
          return `Test accuracy ${formatPercent(s.test_accuracy)} (dense ${formatPercent(denseAccuracy(r))}). The matrices keep their shapes: ${formatCount(s.params)} parameters, ${formatCount(s.nonzero_params)} of them nonzero; the zero rows are still stored and still multiplied.`;
        },
        keep: (v) => ({ zeroedParams: stageOf(v, 'structured')?.params ?? NaN }),
      },
      {
        title: 'Remove them',
        text: 'Tick Remove physically and Train: the zeroed rows, and the columns of the next layer that read them, leave the matrices.',
        target: '#f-compression-0-remove',
        done: (v) => !!trained(v, (r) => recipeStage(r, 'structured')?.remove === true) && !!stageOf(v, 'structured')?.details?.removal,
        says: (v) => {
          const s = trained(v, (r) => recipeStage(r, 'structured')?.remove === true) && stageOf(v, 'structured');
          const rm = s?.details?.removal;
          if (!rm) return null;
          const shapes = rm.layers.map((/** @type {any} */ l) => `${l.layer} ${l.channels_before} → ${l.channels_after}`).join(', ');
          return `Removed: ${shapes}; parameters ${formatCount(rm.params_before)} → ${formatCount(rm.params_after)}; inference on the test split ${formatSeconds(rm.inference_seconds_before)} → ${formatSeconds(rm.inference_seconds_after)} (${rm.speedup.toFixed(2)}×); largest change of any logit ${rm.max_logit_change.toExponential(1)}: the same function in smaller matrices. Test accuracy ${formatPercent(s.test_accuracy)}.`;
        },
      },
    ],
  },

  {
    id: 'quantization-grid',
    title: 'Quantization and its grid: bits, scale, zero point, per channel',
    preset: 'digits-mlp',
    summary: 'Round every weight to a grid of 2^b levels; see what the bits, the scale, the zero point and per-channel scales do to accuracy and size.',
    steps: [
      presetStep('digits-mlp', 'A 64-128-64-10 MLP on the 8×8 digits.'),
      trainStep(
        'Press Train. Then the Explore card quantizes the trained weights on the spot.',
        (v) => !!trained(v) && v.explore.active,
        (v) => {
          const r = trained(v);
          return r ? `Float model: test accuracy ${formatPercent(r.final.test_accuracy)}, ${formatBytes(r.model.bytes)} (4 bytes a parameter).` : null;
        },
      ),
      {
        title: '8 bits',
        text: 'Set Bits to 8. Each weight becomes w ≈ s · (q − z) with an integer q: symmetric 8-bit takes q in [−128, 127], z = 0 and s = max|w| / 127.5, so the grid is 255 steps of s across [−max|w|, max|w|].',
        target: '#ex-bits',
        done: (v) => !!explored(v, (s) => s.bits === 8 && s.sparsity === 0),
        says: (v) => {
          const r = explored(v, (s) => s.bits === 8 && s.sparsity === 0);
          if (!r) return null;
          return `8 bits: test accuracy ${formatPercent(r.test_accuracy)} (float ${formatPercent(v.explore.dense?.test_accuracy)}), ${formatBytes(r.bytes)} against ${formatBytes(r.dense_bytes)} (${formatRatio(r.ratio)}; scales and zero points included).`;
        },
      },
      {
        title: '3 bits, one scale',
        text: 'Set Bits to 3 and Granularity to per tensor: 8 levels, one scale for the whole matrix, set by its largest weight.',
        target: '#ex-granularity',
        done: (v) => !!explored(v, (s) => s.bits === 3 && s.granularity === 'per_tensor' && s.scheme === 'symmetric' && s.sparsity === 0),
        says: (v) => {
          const r = explored(v, (s) => s.bits === 3 && s.granularity === 'per_tensor' && s.scheme === 'symmetric' && s.sparsity === 0);
          return r ? `3 bits, per tensor: test accuracy ${formatPercent(r.test_accuracy)}, ${formatBytes(r.bytes)} (${formatRatio(r.ratio)}).` : null;
        },
        keep: (v) => ({ tensorAcc: v.explore.result?.test_accuracy ?? NaN }),
      },
      {
        title: 'Per channel',
        text: 'Switch Granularity to per channel: each output row gets its own scale from its own largest weight, so rows of small weights get a finer grid.',
        target: '#ex-granularity',
        done: (v) => !!explored(v, (s) => s.bits === 3 && s.granularity === 'per_channel' && s.scheme === 'symmetric' && s.sparsity === 0),
        says: (v, k) => {
          const r = explored(v, (s) => s.bits === 3 && s.granularity === 'per_channel' && s.scheme === 'symmetric' && s.sparsity === 0);
          return r ? `3 bits, per channel: test accuracy ${formatPercent(r.test_accuracy)}, ${points(r.test_accuracy, k.tensorAcc)} against per tensor, for ${formatBytes(r.bytes)} (the extra scales cost 8 bytes a row).` : null;
        },
        keep: (v) => ({ symAcc: v.explore.result?.test_accuracy ?? NaN }),
      },
      {
        title: 'Affine: a zero point',
        text: 'Switch Scheme to affine: q in [0, 2^b − 1], s = (max − min) / (2^b − 1) and the zero point z = −round(min / s), so the grid spans [min, max] instead of a range centred on 0.',
        target: '#ex-scheme',
        done: (v) => !!explored(v, (s) => s.bits === 3 && s.scheme === 'affine' && s.sparsity === 0),
        says: (v, k) => {
          const r = explored(v, (s) => s.bits === 3 && s.scheme === 'affine' && s.sparsity === 0);
          return r ? `3 bits, affine, ${v.explore.setting.granularity.replace('_', ' ')}: test accuracy ${formatPercent(r.test_accuracy)}, ${points(r.test_accuracy, k.symAcc)} against symmetric per channel.` : null;
        },
      },
    ],
  },

  {
    id: 'qat',
    title: 'Quantization-aware training against post-training quantization',
    preset: 'mnist-qat',
    summary: 'Quantize after training, then train with the quantization in the loop and see how much of the loss comes back.',
    steps: [
      presetStep('mnist-qat', 'LeNet-300-100 on the MNIST subset, then int8 post-training quantization (PTQ), then 4-bit weights and activations with quantization-aware training (QAT).'),
      trainStep(
        'Press Train. The qat stage first measures PTQ at 4 bits (its ptq_accuracy), then trains with fake quantization in the forward pass and straight-through gradients in the backward pass.',
        (v) => !!stageOf(v, 'qat'),
        (v) => {
          const q = stageOf(v, 'qat');
          const p = stageOf(v, 'quantize');
          const r = trained(v);
          if (!q || !r) return null;
          const d = q.details;
          return `Float ${formatPercent(denseAccuracy(r))}; int8 PTQ ${p ? formatPercent(p.test_accuracy) : '–'}; ${d.bits}-bit PTQ ${formatPercent(d.ptq_accuracy)}; after ${formatCount(d.steps)} QAT steps ${formatPercent(d.qat_accuracy)} (${points(d.qat_accuracy, d.ptq_accuracy)}).`;
        },
        (v) => ({ gain4: stageOf(v, 'qat')?.details.qat_gain ?? NaN }),
      ),
      {
        title: 'Fewer bits',
        text: 'Set the qat stage\'s Bits to 3 in the Build tab and Train: the fewer the levels, the more PTQ loses and the more QAT has to win back.',
        target: '#f-compression-1-bits',
        done: (v) => !!trained(v, (r) => recipeStage(r, 'qat')?.bits === 3) && !!stageOf(v, 'qat'),
        says: (v, k) => {
          const q = trained(v, (r) => recipeStage(r, 'qat')?.bits === 3) && stageOf(v, 'qat');
          if (!q) return null;
          const d = q.details;
          return `3 bits: PTQ ${formatPercent(d.ptq_accuracy)}, QAT ${formatPercent(d.qat_accuracy)} (${points(d.qat_accuracy, d.ptq_accuracy)}; at 4 bits QAT won ${(k.gain4 * 100).toFixed(1)} points).`;
        },
      },
    ],
  },

  {
    id: 'distillation',
    title: 'Distillation and temperature',
    preset: 'mnist-distill',
    summary: 'A teacher trained on few labels teaches a small student on data nobody labelled; the same student trained alone on the labels is the control.',
    steps: [
      presetStep('mnist-distill', 'A LeNet-5 teacher trained on 1,000 labelled MNIST digits, then a small MLP student that learns from the teacher on all 8,000 training digits (the teacher labels the 7,000 without labels), beside the same student trained alone on the 1,000 labels.'),
      trainStep(
        'Press Train. The student minimizes α · T² · KL(softmax(z_t / T) ‖ softmax(z_s / T)) + (1 − α) · CE(z_s, y), with the teacher\'s top class as y where there is no label; the control sees only the 1,000 labelled digits, with the same initialization and epochs. The T² keeps the soft term\'s gradients the same size at any T.',
        (v) => !!stageOf(v, 'distill'),
        (v) => {
          const s = stageOf(v, 'distill');
          if (!s) return null;
          const d = s.details;
          const m = DISTILL_MEASURED;
          const sign = (/** @type {number} */ x) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(2)}`;
          const noise = Math.abs(m.mean) < m.std ? ': less than the spread from seed to seed, so no reliable gain' : m.min > 0 ? ', a gain on every seed' : '';
          const seeds = ` Over ${m.seeds} seeds the CLI measured ${sign(m.mean)} points on average (standard deviation ${m.std.toFixed(2)}, from ${sign(m.min)} to ${sign(m.max)}; scripts/distill-seeds.py)${noise}.`;
          return `Teacher ${formatPercent(d.teacher.test_accuracy)} (${formatCount(d.teacher.params)} parameters); distilled student ${formatPercent(d.distilled.test_accuracy)}; the same student alone ${formatPercent(d.alone.test_accuracy)} (${formatCount(d.alone.params)} parameters): ${points(d.distilled.test_accuracy, d.alone.test_accuracy)} for distillation on this seed.${seeds}`;
        },
        (v) => ({ margin: stageOf(v, 'distill')?.details.margin ?? NaN }),
      ),
      {
        title: 'Cold: T = 1',
        text: 'In Stage details, move the temperature slider down to 1: the softmax of the raw logits, nearly one-hot for a confident teacher.',
        target: 'input.soft-temperature',
        done: (v) => v.temperature !== null && v.temperature <= 1,
        says: (v) => softSays(v),
      },
      {
        title: 'Hot: T = 10',
        text: 'Move the slider up to 10 or more: dividing the logits by T flattens the distribution, and the small probabilities of the wrong classes (which digits the teacher finds alike) become visible. That is what the student learns from.',
        target: 'input.soft-temperature',
        done: (v) => v.temperature !== null && v.temperature >= 10,
        says: (v) => softSays(v),
      },
      {
        title: 'Where the gain comes from',
        text: 'In the Build tab, untick "Teacher labels the samples past Train limit" in the distill stage and Train: now both students see only the 1,000 labelled digits, and the teacher\'s soft targets on them are all distillation adds.',
        target: '#f-compression-0-unlabelled',
        done: (v) => !!trained(v, (r) => recipeStage(r, 'distill')?.unlabelled !== true) && !!stageOf(v, 'distill'),
        says: (v, k) => {
          const s = trained(v, (r) => recipeStage(r, 'distill')?.unlabelled !== true) && stageOf(v, 'distill');
          if (!s) return null;
          const d = s.details;
          return `On the labelled digits alone: distilled ${formatPercent(d.distilled.test_accuracy)}, alone ${formatPercent(d.alone.test_accuracy)}, margin ${points(d.distilled.test_accuracy, d.alone.test_accuracy)} (with the unlabelled digits it was ${points(k.margin, 0)}).`;
        },
      },
    ],
  },

  {
    id: 'deep-compression',
    title: 'The whole Deep Compression pipeline',
    preset: 'mnist-deep-compression',
    summary: 'Prune, fine-tune, quantize (Han et al.): each stage\'s share of the size and of the accuracy.',
    steps: [
      presetStep('mnist-deep-compression', 'LeNet-300-100 on the MNIST subset, then gradual pruning to 92 %, fine-tuning, and quantization of weights and activations at 8, 6, 5 and 4 bits.'),
      trainStep(
        'Press Train and follow the Stages card and the Accuracy vs size plot: one point per stage, from the dense model to the smallest.',
        (v) => !!stageOf(v, 'quantize'),
        (v) => {
          const r = trained(v);
          if (!r || !stageOf(v, 'quantize')) return null;
          const parts = (r.stages ?? []).map((s) => `${s.kind} ${formatPercent(s.test_accuracy)} at ${formatBytes(honestBytes(s.bytes))}`);
          const last = r.stages.at(-1);
          return `Dense ${formatPercent(denseAccuracy(r))} at ${formatBytes(r.model.bytes)}; ${parts.join('; ')}: ${formatRatio(last?.compression_ratio)} smaller in all.`;
        },
        (v) => ({ ratio: v.report?.stages.at(-1)?.compression_ratio ?? NaN, acc: v.report?.final.test_accuracy ?? NaN }),
      ),
      {
        title: 'Where is the knee?',
        text: 'Set the gradual stage\'s Final sparsity to 0.97 and Train: does the pipeline keep its accuracy with 3 % of the weights?',
        target: '#f-compression-0-final_sparsity',
        done: (v) => !!trained(v, (r) => Number(recipeStage(r, 'gradual')?.final_sparsity) >= 0.965) && !!stageOf(v, 'quantize'),
        says: (v, k) => {
          const r = trained(v, (x) => Number(recipeStage(x, 'gradual')?.final_sparsity) >= 0.965);
          const last = r?.stages.at(-1);
          if (!r || !last) return null;
          return `At 97 %: final test accuracy ${formatPercent(r.final.test_accuracy)} (at 92 %: ${formatPercent(k.acc)}), ${formatRatio(last.compression_ratio)} smaller (at 92 %: ${formatRatio(k.ratio)}).`;
        },
      },
    ],
  },
];

/**
 * The teacher's softened probabilities of the first soft-target sample at the slider's temperature.
 * @param {LessonView} v
 */
function softSays(v) {
  const s = stageOf(v, 'distill');
  if (!s || v.temperature === null) return null;
  const at = softTargetsAt(s.details.soft_targets, v.temperature);
  const p = at?.teacher[0];
  if (!at || !p) return null;
  const label = at.labels[0];
  const top = Math.max(...p);
  const rest = p.filter((_x, i) => i !== p.indexOf(top));
  return `At T = ${v.temperature}: the teacher gives the first sample (a ${label}) ${formatPercent(top)} on its top class; the other ${rest.length} classes share ${formatPercent(rest.reduce((a, b) => a + b, 0))}, the largest of them ${formatPercent(Math.max(...rest))}.`;
}

/**
 * `minnow.lessons()`: every lesson's id, title and number of steps.
 * @returns {{id: string, title: string, steps: number}[]}
 */
export function lessonList() {
  return LESSONS.map((l) => ({ id: l.id, title: l.title, steps: l.steps.length }));
}

/** @param {string} id @returns {Lesson | undefined} */
export function findLesson(id) {
  return LESSONS.find((l) => l.id === id);
}
