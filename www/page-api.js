// window.minnow: the page's documented scripting API (README.md, "Scripting the page"), for
// teachers, notebooks and the end-to-end test. It drives the same controller as the buttons
// (www/app.js lends it a `PageHost`), so the editor, the URL, the views and the explorer panel show
// what a script did. Every method is async and rejects with an Error whose message is the engine's
// (naming the bad field) or says why the page cannot do it now.
//
//   await minnow.ready                       the engine is loaded and the link's recipe is in the editor
//   await minnow.setRecipe(jsonOrObject)     validate, then put it in the editor and the URL
//   const report = await minnow.train()      a run of the current recipe, resolved when it and its stages are done
//   await minnow.report()                    the live run's report (null without a run)
//   minnow.state()                           {status, backend, epoch, testAccuracy, bytes}
//   await minnow.explore({sparsity: 0.9, method: 'global', bits: 4})   {test_accuracy, bytes, sparsity, ms}
//   await minnow.setTemperature(T)           the distillation view at temperature T: {temperature, teacher, distilled, alone}
//   await minnow.shareLink({model: true})    a link to this page's recipe; with model: true, carrying the trained model too
//   minnow.lessons()                         the guided lessons: [{id, title, steps}]
//   await minnow.lesson(id)                  opens one in the lesson panel: {id, title, step, steps}
//   await minnow.setSpeed('slow')            the training loop's pace: 'fast' | 'normal' | 'slow' (the speed control)
//   await minnow.stepOnce()                  one mini-batch (a paused run of the recipe if none): {epoch, batch, batchesPerEpoch, done}
//   await minnow.parity()                    GPU vs CPU on one batch: {samples, loss_gpu, loss_cpu, loss_diff, logits_diff}

import { completeSetting, unknownFields } from './explore.js';
import { isPlainObject } from './state.js';
import { softTargetsAt } from './compress.js';

/** @typedef {import('./state.js').Recipe} Recipe */
/** @typedef {import('./report-types.js').Report} Report */
/** @typedef {import('./report-types.js').StageReport} StageReport */
/** @typedef {import('./report-types.js').ExploreSetting} ExploreSetting */
/** @typedef {import('./report-types.js').ExploreResult} ExploreResult */

/**
 * What `minnow.state()` gives: the page's run status (as `document.body.dataset.status`), the
 * backend of the live run ("cpu" / "gpu", null without one), completed epochs, the latest test
 * accuracy and the model's size in bytes (after the last finished stage), null where unknown.
 * @typedef {{status: string, backend: string | null, epoch: number, testAccuracy: number | null,
 *   bytes: number | null}} PageState
 */

/**
 * What www/app.js lends the API.
 * @typedef {object} PageHost
 * @property {Promise<void>} ready resolves once the engine is loaded and the first recipe shown
 * @property {(json: string) => Promise<unknown>} validate the engine's check (rejects naming the field)
 * @property {(text: string) => Promise<void>} showRecipe puts a valid recipe's JSON text in the editor and URL
 * @property {() => Promise<Report>} train starts (or resumes) a run; resolves when it is done
 * @property {() => Promise<Report | null>} report
 * @property {() => PageState} state
 * @property {(setting: ExploreSetting) => Promise<ExploreResult>} explore through the explorer panel
 * @property {() => StageReport[]} stageReports the live run's finished stages
 * @property {(options: {model?: boolean}) => Promise<string>} shareLink the page's link, with the model when asked
 * @property {() => {id: string, title: string, steps: number}[]} lessons the guided lessons
 * @property {(id: string) => {id: string, title: string, step: number, steps: number}} openLesson
 *   opens a lesson in the panel (throws for an unknown id)
 * @property {(mode: Pace) => Promise<void>} setSpeed moves the speed control and the worker's pace
 * @property {() => Promise<StepResult>} stepOnce one mini-batch, as the Step button
 * @property {() => Promise<import('./engine-api.js').Parity>} parity the readout's numbers, computed now
 */

/** @typedef {import('./protocol.js').Pace} Pace */
/** @typedef {{epoch: number, batch: number, batchesPerEpoch: number, done: boolean}} StepResult */

/** The training loop's paces, fastest first. */
export const PACES = /** @type {const} */ (['fast', 'normal', 'slow']);

/**
 * Why `setSpeed(mode)` cannot take `mode` (null when it can).
 * @param {unknown} mode
 * @returns {string | null}
 */
export function paceProblem(mode) {
  return typeof mode === 'string' && /** @type {readonly string[]} */ (PACES).includes(mode)
    ? null
    : `speed ${JSON.stringify(mode)}: expected one of ${PACES.map((p) => `'${p}'`).join(', ')}`;
}

/**
 * The JSON text of the recipe a caller gave, as the engine should read it: JSON text is kept as
 * written (`JSON.parse` would round a seed above 2^53, and the page and the CLI would then run
 * different seeds); an object is serialized with its BigInt values as exact integers, and an
 * integer Number that JavaScript has already rounded (above 2^53) is refused, naming the field.
 * @param {unknown} jsonOrObject
 * @returns {string}
 */
export function recipeText(jsonOrObject) {
  if (typeof jsonOrObject === 'string') {
    parseRecipe(jsonOrObject);
    return jsonOrObject;
  }
  const recipe = parseRecipe(jsonOrObject);
  const unsafe = roundedInteger(recipe, '');
  if (unsafe) throw new Error(`${unsafe.path} = ${unsafe.value}: above 2^53, JavaScript has already rounded this number; pass it as a BigInt (${BigInt(unsafe.value)}n is what it became) or the recipe as JSON text`);
  /** @type {string[]} */
  const big = [];
  const text = JSON.stringify(recipe, (_k, v) => (typeof v === 'bigint' ? `\u0000big${big.push(v.toString()) - 1}` : v));
  return text.replace(/"\\u0000big(\d+)"/g, (_m, i) => big[Number(i)]);
}

/**
 * The first integer Number of `value` beyond 2^53 (which JavaScript rounds), with its JSON path.
 * @param {unknown} value
 * @param {string} path
 * @returns {{path: string, value: number} | null}
 */
function roundedInteger(value, path) {
  if (typeof value === 'number') return Number.isInteger(value) && !Number.isSafeInteger(value) ? { path: path || '(the recipe)', value } : null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = roundedInteger(value[i], `${path}[${i}]`);
      if (found) return found;
    }
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const found = roundedInteger(v, path ? `${path}.${k}` : k);
      if (found) return found;
    }
  }
  return null;
}

/**
 * The recipe a caller gave: an object, or JSON text of one.
 * @param {unknown} jsonOrObject
 * @returns {Recipe}
 */
export function parseRecipe(jsonOrObject) {
  let value = jsonOrObject;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch (e) {
      throw new Error(`the recipe is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (!isPlainObject(value)) throw new Error('a recipe is a JSON object ({ … }) or its text');
  return /** @type {Recipe} */ (value);
}

/**
 * Why `setTemperature(T)` cannot redraw the soft targets at T (`null` when it can): a temperature
 * that is not a number > 0, no distillation stage, or a report without the logits.
 * @param {number} t
 * @param {StageReport[]} stages
 * @returns {string | null}
 */
export function temperatureProblem(t, stages) {
  if (!(typeof t === 'number' && Number.isFinite(t) && t > 0 && t <= 100)) return `temperature = ${t}: must be a number in (0, 100]`;
  const distill = stages.find((s) => s.kind === 'distill');
  if (!distill || distill.kind !== 'distill') return 'no distillation stage in this run';
  if (!distill.details?.soft_targets?.logits) return 'this distill report carries no logits (a report from an older minnow)';
  return null;
}

/**
 * Builds the `window.minnow` object over the page's controller.
 * @param {PageHost} host
 */
export function createPageApi(host) {
  return Object.freeze({
    /** Resolves when the engine is loaded (rejects when it cannot be). */
    ready: host.ready,

    /**
     * Validates a recipe through the engine and makes it the page's (editor and URL). Rejects with
     * the engine's message, which names the bad field.
     * @param {unknown} jsonOrObject
     * @returns {Promise<Recipe>}
     */
    async setRecipe(jsonOrObject) {
      await host.ready;
      const text = recipeText(jsonOrObject);
      await host.validate(text);
      await host.showRecipe(text);
      return parseRecipe(text);
    },

    /**
     * Trains the current recipe (a new run, or resumes a paused one) and resolves to the report
     * once the run and all its compression stages are done; rejects when it fails or is reset.
     * @returns {Promise<Report>}
     */
    async train() {
      await host.ready;
      return host.train();
    },

    /** The live run's report so far, null without a run. */
    async report() {
      await host.ready;
      return host.report();
    },

    /** @returns {PageState} */
    state() {
      return host.state();
    },

    /**
     * The trained model under a pruning / quantization setting, measured on the test split without
     * retraining; `ms` is the call's wall time. The explorer panel shows the same setting and numbers.
     * @param {Partial<ExploreSetting>} [setting]
     * @returns {Promise<{test_accuracy: number, bytes: number, sparsity: number, ms: number}>}
     */
    async explore(setting) {
      await host.ready;
      const problem = unknownFields(setting);
      if (problem) throw new Error(problem);
      const t0 = performance.now();
      const r = await host.explore(completeSetting(setting));
      return { test_accuracy: r.test_accuracy, bytes: r.bytes, sparsity: r.sparsity, ms: performance.now() - t0 };
    },

    /**
     * A link to the page's recipe; with `{model: true}` it carries the trained model as well
     * (www/share.js), so the receiver sees it trained, without training. Rejects with the reason
     * when there is no trained model or it packs to more than a link carries (4096 bytes): share
     * the model file then.
     * @param {{model?: boolean}} [options]
     * @returns {Promise<string>}
     */
    async shareLink(options = {}) {
      await host.ready;
      if (!isPlainObject(options)) throw new Error('shareLink takes {model: true | false}');
      const unknown = Object.keys(options).filter((k) => k !== 'model');
      if (unknown.length) throw new Error(`shareLink: unknown option ${unknown.join(', ')} (expected model)`);
      return host.shareLink({ model: options.model === true });
    },

    /**
     * Sets the temperature of the distillation view: moves its slider, redraws the teacher's and
     * students' softened class probabilities from the stored logits, and resolves to them
     * (`{temperature, labels, teacher, distilled, alone}`, `[sample][class]`). Rejects, saying why,
     * without a distillation stage or with a bad temperature.
     * @param {number} t
     */
    async setTemperature(t) {
      await host.ready;
      const stages = host.stageReports();
      const problem = temperatureProblem(t, stages);
      if (problem) throw new Error(problem);
      const distill = stages.find((s) => s.kind === 'distill');
      const at = distill && distill.kind === 'distill' ? softTargetsAt(distill.details.soft_targets, t) : null;
      if (!at) throw new Error('no distillation stage in this run');
      for (const slider of document.querySelectorAll('input.soft-temperature')) {
        if (!(slider instanceof HTMLInputElement)) continue;
        slider.value = String(t);
        slider.dispatchEvent(new Event('input'));
      }
      return at;
    },

    /**
     * The guided lessons (www/lessons.js): `[{id, title, steps}]`, `steps` their number of steps.
     * Not a Promise.
     */
    lessons() {
      return host.lessons();
    },

    /**
     * Opens lesson `id` at its first step in the lesson panel (and puts `lesson=<id>` in the link);
     * resolves to `{id, title, step: 1, steps}`, rejects for an unknown id, naming the lessons.
     * @param {string} id
     */
    async lesson(id) {
      await host.ready;
      return host.openLesson(id);
    },

    /**
     * Sets how fast the training loop runs ('fast', 'normal': about 3× slower, 'slow': about 10×),
     * as the speed control does (the control moves too). Resolves to the mode.
     * @param {Pace} mode
     */
    async setSpeed(mode) {
      await host.ready;
      const problem = paceProblem(mode);
      if (problem) throw new Error(problem);
      await host.setSpeed(mode);
      return mode;
    },

    /**
     * Trains one mini-batch, as the Step button: on the paused run, or on a new paused run of the
     * current recipe when there is none (or it is finished or stale). Resolves after the batch, to
     * `{epoch, batch, batchesPerEpoch, done}`; rejects while the model trains.
     * @returns {Promise<StepResult>}
     */
    async stepOnce() {
      await host.ready;
      return host.stepOnce();
    },

    /**
     * The GPU-vs-CPU parity readout, computed now: the first 64 training samples through the GPU
     * and through a CPU copy of the current weights; resolves to `{samples, loss_gpu, loss_cpu,
     * loss_diff, logits_diff}` (the readout shows the same). Rejects without a run on the GPU.
     */
    async parity() {
      await host.ready;
      return host.parity();
    },
  });
}
