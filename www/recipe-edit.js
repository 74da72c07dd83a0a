// The Build panel's pure logic (www/recipe-form.js draws it): what each dataset accepts, recipe
// edits that keep a recipe valid (dataset switches, model kinds, optimizer and schedule kinds,
// compression stages with working defaults), the model's parameter count and dense f32 bytes from
// its architecture (the arithmetic of Recipe::build_model in src/recipe/mod.rs), the learning-rate
// curve (LrSchedule::lr_at in src/nn/schedule.rs, closed forms) and the engine message → control
// mapping. No DOM: unit-tested by tests/js/recipe-edit.test.js.

import { drawnDataset } from './draw.js';

/** @typedef {import('./state.js').Recipe} Recipe */
/** @typedef {(string | number)[]} Path  Keys from the recipe's root, e.g. ['model', 'hidden', 0]. */

/** MAX_PARAMS of src/recipe/mod.rs: the engine refuses a bigger model when it builds it. */
export const MAX_PARAMS = 4_000_000;
/** MAX_LAYERS of src/recipe/mod.rs (hidden layers, conv blocks). */
export const MAX_LAYERS = 8;

export const DATASETS = ['spiral', 'circles', 'xor', 'blobs', 'moons', 'drawn', 'digits', 'mnist', 'csv'];
/** The seeded 2-D sets (`samples` and `noise` apply only to them). */
export const GENERATED = ['spiral', 'circles', 'xor', 'blobs', 'moons'];
export const ACTIVATIONS = ['relu', 'leaky_relu', 'sigmoid', 'tanh', 'gelu', 'gelu_tanh'];
export const OPTIMIZERS = ['sgd', 'adam', 'adamw'];
export const DECAYS = ['constant', 'step', 'multi_step', 'exponential', 'cosine', 'one_cycle'];
export const BACKENDS = ['auto', 'cpu', 'gpu'];
/** Stage kinds in the order the Add menu lists them. */
export const STAGE_KINDS = [
  'magnitude', 'structured', 'n_m', 'gradual', 'iterative', 'lottery', 'sensitivity', 'finetune',
  'quantize', 'qat', 'distill', 'sweep',
];
/** Stage kinds the form has controls for; the others get a JSON field. */
export const FORM_STAGES = ['magnitude', 'structured', 'n_m', 'gradual', 'finetune', 'quantize', 'qat', 'distill'];

/** Dataset defaults (src/recipe/dataset.rs). */
export const DATASET_DEFAULTS = { samples: 600, noise: 0.1, classes: 2, test_fraction: 0.2 };

/**
 * The points a `drawn` dataset starts from when it is chosen in the Build panel with nothing to
 * take over: two classes of six points each, either side of the diagonal, enough to train at once
 * (the engine needs MIN_DRAWN_PER_CLASS = 3 a class); the Draw mode of the data plot edits them.
 * @type {[number, number, number][]}
 */
export const STARTER_POINTS = [
  [-0.9, 0.6, 0], [-0.6, 0.9, 0], [-0.5, 0.3, 0], [-0.2, 0.7, 0], [-0.8, -0.1, 0], [0.1, 1.0, 0],
  [0.9, -0.6, 1], [0.6, -0.9, 1], [0.5, -0.3, 1], [0.2, -0.7, 1], [0.8, 0.1, 1], [-0.1, -1.0, 1],
];

/**
 * The dataset fields that apply to `name` and may be edited (the engine refuses the others, or
 * fixes their value): `classes` only where it can vary (spiral 2–6, blobs 2–8, csv).
 * @param {string} name
 * @returns {{samples: boolean, noise: boolean, classes: [number, number] | null, test_fraction: boolean}}
 */
export function datasetFields(name) {
  const generated = GENERATED.includes(name);
  /** @type {Record<string, [number, number]>} */
  const classRange = { spiral: [2, 6], blobs: [2, 8], csv: [2, 256] };
  return { samples: generated, noise: generated, classes: classRange[name] ?? null, test_fraction: name !== 'mnist' };
}

/**
 * A dataset object for `name` that keeps what applies of `old` and drops the rest (as
 * DatasetSpec's Serialize writes it).
 * @param {string} name
 * @param {Recipe} [old] the previous dataset object
 * @param {number[][] | null} [shown] for `drawn`: the points to start from (the 2-D data the plot
 *   shows, as `[x, y, class]`); without them a drawn dataset keeps its points, else STARTER_POINTS
 * @returns {Recipe}
 */
export function switchDataset(name, old = {}, shown = null) {
  const f = datasetFields(name);
  /** @type {Recipe} */
  const d = { name };
  if (f.samples) d.samples = old.samples ?? DATASET_DEFAULTS.samples;
  if (f.noise) d.noise = old.noise ?? DATASET_DEFAULTS.noise;
  if (f.classes) {
    const [lo, hi] = f.classes;
    const c = Number(old.classes ?? 2);
    d.classes = c >= lo && c <= hi && old.name !== 'digits' && old.name !== 'mnist' ? c : 2;
  } else if (name === 'digits' || name === 'mnist') {
    d.classes = 10;
  } else if (GENERATED.includes(name)) {
    d.classes = 2;
  }
  if (f.test_fraction) d.test_fraction = old.test_fraction ?? DATASET_DEFAULTS.test_fraction;
  if (name === 'drawn') {
    const kept = old.name === 'drawn' && Array.isArray(old.points) ? old.points : null;
    const points = shown?.length ? shown : kept ?? STARTER_POINTS;
    return drawnDataset(/** @type {[number, number, number][]} */ (points), { ...old, test_fraction: d.test_fraction });
  }
  if (name === 'csv' && old.csv_label_column !== undefined) d.csv_label_column = old.csv_label_column;
  if (old.train_limit !== undefined) d.train_limit = old.train_limit;
  return d;
}

/**
 * Per-sample input shape (src/data: `[2]` for the 2-D sets, `[1, 8, 8]` digits, `[1, 28, 28]`
 * MNIST, `[features]` for a CSV file), or null when unknown (a CSV not loaded yet).
 * @param {Recipe} dataset
 * @param {number | null} [csvFeatures] feature columns of the loaded CSV
 * @returns {number[] | null}
 */
export function inputShape(dataset, csvFeatures = null) {
  if (GENERATED.includes(dataset.name) || dataset.name === 'drawn') return [2];
  if (dataset.name === 'digits') return [1, 8, 8];
  if (dataset.name === 'mnist') return [1, 28, 28];
  return csvFeatures ? [csvFeatures] : null;
}

/**
 * Classes the model outputs: 10 for digits and MNIST, else `dataset.classes` (default 2).
 * @param {Recipe} dataset
 */
export function classCount(dataset) {
  if (dataset.name === 'digits' || dataset.name === 'mnist') return 10;
  return Number(dataset.classes ?? 2);
}

/**
 * Training samples of one epoch (for the batches per epoch of a step-interval schedule), or null.
 * @param {Recipe} dataset
 */
export function trainSamples(dataset) {
  const tf = Number(dataset.test_fraction ?? 0.2);
  /** @type {number | null} */
  let n = null;
  if (GENERATED.includes(dataset.name)) n = Number(dataset.samples ?? 600) - Math.round(Number(dataset.samples ?? 600) * tf);
  else if (dataset.name === 'digits') n = 1797 - Math.round(1797 * tf);
  else if (dataset.name === 'mnist') n = 8000;
  else if (dataset.name === 'drawn' && Array.isArray(dataset.points)) n = dataset.points.length - Math.round(dataset.points.length * tf);
  if (n !== null && dataset.train_limit) n = Math.min(n, Number(dataset.train_limit));
  return n;
}

/**
 * @typedef {{params: number, limitParams: number, bytes: number, layers: string[], error: string | null}} ModelSize
 *   `params`: trainable parameters (batch norm's weight and bias included, as the engine's report);
 *   `limitParams`: what MAX_PARAMS is checked against (linear and conv only, as build_model);
 *   `bytes`: dense f32 bytes of the parameters and batch-norm buffers;
 *   `layers`: a short description of each weight layer; `error`: why the engine would refuse it,
 *   naming the field like its message (`model.conv[1].pool = 3: ...`).
 */

/**
 * The model's size from its architecture, as Recipe::build_model counts it.
 * @param {Recipe} model the recipe's `model`
 * @param {number[]} shape per-sample input shape
 * @param {number} classes
 * @returns {ModelSize}
 */
export function modelSize(model, shape, classes) {
  let params = 0;
  let bnFeatures = 0;
  /** @type {string[]} */
  const layers = [];
  const bn = Boolean(model.batch_norm);
  const hidden = /** @type {number[]} */ (Array.isArray(model.hidden) ? model.hidden : []);
  /** @type {string | null} */
  let error = null;
  let width = shape.reduce((a, b) => a * b, 1);
  if (model.kind === 'cnn') {
    if (shape.length !== 3) {
      return { params: 0, limitParams: 0, bytes: 0, layers, error: `model.kind = cnn needs image inputs [channels, height, width] (digits or mnist), got [${shape.join(', ')}]` };
    }
    let [c, h, w] = shape;
    const conv = /** @type {Recipe[]} */ (Array.isArray(model.conv) ? model.conv : []);
    conv.forEach((b, i) => {
      const ch = Number(b.channels);
      const k = Number(b.kernel ?? 3);
      const pad = Number(b.padding ?? 0);
      const stride = Number(b.stride ?? 1);
      const pool = Number(b.pool ?? 2);
      params += ch * c * k * k + ch;
      if (error) return;
      if (h + 2 * pad < k || w + 2 * pad < k) {
        error = `model.conv[${i}].kernel = ${k}: does not fit the ${h}x${w} feature map`;
        return;
      }
      h = Math.floor((h + 2 * pad - k) / stride) + 1;
      w = Math.floor((w + 2 * pad - k) / stride) + 1;
      c = ch;
      if (bn) bnFeatures += ch;
      if (pool > 1) {
        if (h < pool || w < pool) {
          error = `model.conv[${i}].pool = ${pool}: the feature map is only ${h}x${w}`;
          return;
        }
        h = Math.floor(h / pool);
        w = Math.floor(w / pool);
      }
      layers.push(`conv ${ch}×${k}×${k} → ${ch}×${h}×${w}`);
    });
    width = c * h * w;
  }
  for (const hd of hidden) {
    params += width * hd + hd;
    if (bn) bnFeatures += hd;
    layers.push(`${width} → ${hd}`);
    width = hd;
  }
  params += width * classes + classes;
  layers.push(`${width} → ${classes}`);
  const limitParams = params;
  if (!error && limitParams > MAX_PARAMS) {
    error = `model has ${limitParams} parameters: at most ${MAX_PARAMS} fit a browser tab`;
  }
  params += 2 * bnFeatures;
  return { params, limitParams, bytes: 4 * (params + 2 * bnFeatures), layers, error };
}

// ---------------------------------------------------------------------------------------------
// Learning-rate schedule (src/nn/schedule.rs)

/** @param {number} start @param {number} end @param {number} pct */
function cosAnneal(start, end, pct) {
  return end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1);
}

/**
 * The learning rate at scheduler step `t` (0-based), as LrSchedule::lr_at.
 * @param {Recipe | undefined} schedule the recipe's `training.schedule` (absent: constant)
 * @param {number} base the optimizer's lr
 * @param {number} t
 * @param {number} total scheduler steps in the run (one-cycle's length when its total_steps is 0)
 */
export function lrAt(schedule, base, t, total) {
  const s = schedule ?? {};
  const warmup = Number(s.warmup ?? 0);
  const f = Number(s.warmup_start_factor ?? 0.1);
  if (t < warmup) return base * (f + ((1 - f) * t) / warmup);
  const u = t - warmup;
  const d = s.decay ?? { kind: 'constant' };
  const gamma = Number(d.gamma ?? 0.1);
  switch (d.kind) {
    case 'step':
      return base * gamma ** Math.floor(u / Number(d.step_size));
    case 'multi_step':
      return base * gamma ** (/** @type {number[]} */ (d.milestones ?? [])).filter((m) => m <= u).length;
    case 'exponential':
      return base * Number(d.gamma) ** u;
    case 'cosine': {
      const e = Number(d.eta_min ?? 0);
      return e + ((base - e) * (1 + Math.cos((Math.PI * u) / Number(d.t_max)))) / 2;
    }
    case 'one_cycle': {
      const max = Number(d.max_lr);
      const initial = max / Number(d.div_factor ?? 25);
      const min = initial / Number(d.final_div_factor ?? 1e4);
      const steps = Number(d.total_steps ?? 0) > 0 ? Number(d.total_steps) : Math.max(Math.max(total - warmup, 0), 2);
      const end1 = Number(d.pct_start ?? 0.3) * steps - 1;
      const end2 = steps - 1;
      return u <= end1 ? cosAnneal(initial, max, u / end1) : cosAnneal(max, min, (u - end1) / (end2 - end1));
    }
    default:
      return base;
  }
}

/**
 * The learning rate over the run, one point per epoch (or per step for a step-interval schedule,
 * thinned to at most `maxPoints`), x in epochs.
 * @param {Recipe} training the recipe's `training`
 * @param {number | null} stepsPerEpoch batches per epoch (needed for `interval: "step"`)
 * @param {number} [maxPoints]
 * @returns {[number, number][]}
 */
export function lrCurve(training, stepsPerEpoch, maxPoints = 400) {
  const epochs = Math.max(0, Math.floor(Number(training.epochs) || 0));
  const base = Number(training.optimizer?.lr) || 0;
  const perStep = training.schedule?.interval === 'step';
  const per = perStep ? Math.max(1, stepsPerEpoch ?? 1) : 1;
  const total = epochs * per;
  const every = Math.max(1, Math.ceil(total / maxPoints));
  /** @type {[number, number][]} */
  const out = [];
  for (let t = 0; t < total; t += every) out.push([t / per, lrAt(training.schedule, base, t, total)]);
  return out;
}

/**
 * A schedule's decay object of `kind` with defaults that validate for a run of `epochs`.
 * @param {string} kind
 * @param {number} epochs
 * @param {number} lr the optimizer's lr (one-cycle's max_lr)
 * @returns {Recipe}
 */
export function defaultDecay(kind, epochs, lr) {
  const n = Math.max(1, Math.floor(epochs) || 1);
  switch (kind) {
    case 'step': return { kind, step_size: Math.max(1, Math.round(n / 3)), gamma: 0.1 };
    case 'multi_step': return { kind, milestones: [Math.max(1, Math.round(n / 2)), Math.max(2, Math.round((3 * n) / 4))], gamma: 0.1 };
    case 'exponential': return { kind, gamma: 0.95 };
    case 'cosine': return { kind, t_max: n };
    case 'one_cycle': return { kind, max_lr: lr > 0 ? lr : 0.01 };
    default: return { kind: 'constant' };
  }
}

/**
 * An optimizer object of `kind` keeping the lr (and weight decay where both have it).
 * @param {string} kind
 * @param {Recipe} old
 * @returns {Recipe}
 */
export function switchOptimizer(kind, old) {
  /** @type {Recipe} */
  const o = { kind, lr: old.lr ?? 0.01 };
  if (kind === 'sgd') {
    o.momentum = old.momentum ?? 0.9;
    if (old.weight_decay !== undefined) o.weight_decay = old.weight_decay;
  } else if (kind === 'adamw') {
    o.weight_decay = old.kind === 'adamw' ? (old.weight_decay ?? 0.01) : 0.01;
  } else if (old.kind === 'adam' && old.weight_decay !== undefined) {
    o.weight_decay = old.weight_decay;
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Model

/**
 * The model switched to `kind`: an MLP keeps the hidden layers; a CNN gets one 8-channel 3×3 block.
 * @param {string} kind
 * @param {Recipe} old
 * @returns {Recipe}
 */
export function switchModel(kind, old) {
  /** @type {Recipe} */
  const m = { kind, ...(kind === 'cnn' ? { conv: old.conv ?? [{ channels: 8, kernel: 3, padding: 1, pool: 2 }] } : {}), hidden: old.hidden ?? [32] };
  for (const k of ['activation', 'batch_norm', 'dropout']) if (old[k] !== undefined) m[k] = old[k];
  return m;
}

/** A new conv block after `blocks` (twice the last one's channels, capped at 64). @param {Recipe[]} blocks */
export function newConvBlock(blocks) {
  const last = blocks.at(-1);
  return { channels: last ? Math.min(64, Number(last.channels) * 2) : 8, kernel: 3, padding: 1, pool: 2 };
}

// ---------------------------------------------------------------------------------------------
// Compression stages

/**
 * A stage of `kind` with defaults that validate, sized for `recipe` (retraining budgets from its
 * epochs and lr).
 * @param {string} kind
 * @param {Recipe} recipe
 * @returns {Recipe}
 */
export function newStage(kind, recipe) {
  const epochs = Math.max(1, Math.round(Number(recipe.training?.epochs ?? 10) / 4));
  const lr = Number(recipe.training?.optimizer?.lr ?? 0.01);
  const train = { epochs, lr: roundLr(lr / 5) };
  switch (kind) {
    case 'magnitude': return { kind, amount: 0.5, scope: 'layer' };
    case 'structured': return { kind, amount: 0.25, norm: 'l1', dim: 0, remove: false };
    case 'n_m': return { kind, n: 2, m: 4 };
    case 'gradual': return { kind, final_sparsity: 0.8, frequency: 50, prunings: 10, scope: 'layer', train };
    case 'iterative': return { kind, sparsity: 0.8, cycles: 3, finetune: train };
    case 'lottery': return { kind, sparsity: 0.8, rounds: 1 };
    case 'sensitivity': return { kind, sparsities: [0, 0.25, 0.5, 0.75, 0.9] };
    case 'finetune': return { kind, ...train };
    case 'quantize': return { kind, bits: 8, scheme: 'symmetric', granularity: 'per_channel' };
    case 'qat': return { kind, bits: 4, scheme: 'symmetric', granularity: 'per_channel', train };
    case 'distill': {
      const hidden = /** @type {number[]} */ (recipe.model?.hidden ?? [32]);
      const student = { kind: 'mlp', hidden: hidden.length ? hidden.map((h) => Math.max(2, Math.round(h / 4))) : [16] };
      return { kind, student, temperature: 4, alpha: 0.9, train: { epochs: Number(recipe.training?.epochs ?? 10), lr } };
    }
    case 'sweep': return { kind, stage: { kind: 'magnitude', scope: 'global' }, grid: { amount: [0.5, 0.8, 0.9] } };
    default: return { kind };
  }
}

/** @param {number} x */
function roundLr(x) {
  return Number(x.toPrecision(2));
}

/**
 * A copy of `list` with item `i` moved by `delta` (−1 up, +1 down); unchanged at the ends.
 * @template T
 * @param {T[]} list
 * @param {number} i
 * @param {number} delta
 * @returns {T[]}
 */
export function moveItem(list, i, delta) {
  const j = i + delta;
  if (i < 0 || i >= list.length || j < 0 || j >= list.length) return list.slice();
  const out = list.slice();
  [out[i], out[j]] = [out[j], out[i]];
  return out;
}

// ---------------------------------------------------------------------------------------------
// Paths

/**
 * The value at `path`, or undefined.
 * @param {any} obj
 * @param {Path} path
 */
export function getPath(obj, path) {
  let v = obj;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = v[k];
  }
  return v;
}

/**
 * A copy of `obj` with `value` at `path` (objects and arrays along the way copied, missing ones
 * made); `undefined` removes the key (or the array item).
 * @param {any} obj
 * @param {Path} path
 * @param {unknown} value
 * @returns {any}
 */
export function setPath(obj, path, value) {
  if (path.length === 0) return value;
  const [k, ...rest] = path;
  const copy = Array.isArray(obj) ? obj.slice() : { ...(obj && typeof obj === 'object' ? obj : {}) };
  const child = /** @type {any} */ (copy)[k];
  const next = setPath(child ?? (typeof rest[0] === 'number' ? [] : {}), rest, value);
  if (next === undefined && rest.length === 0) {
    if (Array.isArray(copy) && typeof k === 'number') copy.splice(k, 1);
    else delete (/** @type {any} */ (copy))[k];
  } else {
    /** @type {any} */ (copy)[k] = next;
  }
  return copy;
}

/**
 * `recipe` with `value` at `path`, and what follows from it: a cosine schedule whose `t_max` was
 * the run's epochs keeps spanning the run when the epochs change.
 * @param {Recipe} recipe
 * @param {Path} path
 * @param {unknown} value
 * @returns {Recipe}
 */
export function applyEdit(recipe, path, value) {
  let next = setPath(recipe, path, value);
  const decay = recipe.training?.schedule?.decay;
  if (pathKey(path) === 'training.epochs' && decay?.kind === 'cosine' && decay.t_max === recipe.training.epochs && Number.isInteger(value) && Number(value) > 0) {
    next = setPath(next, ['training', 'schedule', 'decay', 't_max'], value);
  }
  return next;
}

/**
 * A path as the engine writes it: `compression[0].train.epochs`.
 * @param {Path} path
 */
export function pathKey(path) {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
}

/**
 * The field path an engine message starts with (`training.batch_size = 0: ...`,
 * ``recipe field `model.hidden[0]`: ...``, `model.hidden has 9 layers`), or null.
 * @param {string} message
 */
export function messagePath(message) {
  const m = /^(?:recipe field `)?([A-Za-z_][A-Za-z_0-9]*(?:\[\d+\]|\.[A-Za-z_][A-Za-z_0-9]*)*)/.exec(message.trim());
  if (!m || m[1] === 'recipe') return null;
  return m[1];
}

/**
 * The control that should show an engine message: the one whose path is the message's path, or
 * the nearest one above it (`model.conv[0].kernel` → `model.conv[0]` when the form has no kernel
 * control). The schedule's checks name decay fields under `training.schedule.` directly
 * (`training.schedule.t_max`), so those are tried under `training.schedule.decay.` first.
 * Null when nothing matches (the message goes to the panel).
 * @param {string} message
 * @param {Iterable<string>} controls the paths of the controls on show
 * @returns {string | null}
 */
export function controlForMessage(message, controls) {
  const path = messagePath(message);
  if (!path) return null;
  const have = new Set(controls);
  const candidates = [];
  const sched = /^training\.schedule\.(\w+)/.exec(path);
  if (sched && !['decay', 'warmup', 'warmup_start_factor', 'interval'].includes(sched[1])) {
    candidates.push(path.replace('training.schedule.', 'training.schedule.decay.'));
  }
  candidates.push(path);
  for (const start of candidates) {
    let p = start;
    while (p) {
      if (have.has(p)) return p;
      const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
      if (cut <= 0) break;
      p = p.slice(0, cut);
    }
  }
  return null;
}

/**
 * Integers from a comma- or space-separated list ("64, 32"); null when a part is not a
 * non-negative integer.
 * @param {string} text
 * @returns {number[] | null}
 */
export function parseIntList(text) {
  const parts = text.split(/[\s,]+/).filter(Boolean);
  const nums = parts.map(Number);
  return nums.every((n) => Number.isInteger(n) && n >= 0) ? nums : null;
}
