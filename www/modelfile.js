// Model files in the page: the download's name, the checks before a file is opened and the words
// the page shows once it is. Pure functions (no DOM, no worker), shared by www/app.js and
// www/worker.js and tested by tests/js/modelfile.test.js. The file format is src/export.rs's.

import { formatPercent } from './format.js';

/**
 * What `modelFileInfo` (src/wasm.rs) says about a model file.
 * @typedef {{recipe: string, sourceRecipe: string | null, quantized: boolean, masked: boolean,
 *   inputShape: number[], classes: number, tensors: number}} ModelFileInfo
 */

/**
 * The name the page saves a model under: `minnow-<preset>.safetensors`, `custom` for an edited
 * recipe (as the report's download).
 * @param {string} [preset] the preset picker's value ('' for a custom recipe)
 */
export function modelFileName(preset) {
  const safe = (preset ?? '').replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|-+$/g, '');
  return `minnow-${safe || 'custom'}.safetensors`;
}

/**
 * Why a model file cannot be opened with the data at hand, or null: a model trained on a CSV file
 * needs that file (its points are not in the model file).
 * @param {any} recipe the file's recipe (parsed)
 * @param {boolean} haveCsv whether a data file is chosen
 * @returns {string | null}
 */
export function csvProblem(recipe, haveCsv) {
  if (recipe?.dataset?.name !== 'csv' || haveCsv) return null;
  return 'This model was trained on a CSV data file (dataset.name = "csv"), which is not loaded: choose that file under "Data file", then open the model again.';
}

/**
 * The recipe of the run that produced a model file, when the file records one and it parses.
 * @param {ModelFileInfo} info
 * @returns {any | null}
 */
export function sourceRecipe(info) {
  if (typeof info?.sourceRecipe !== 'string') return null;
  try {
    const r = JSON.parse(info.sourceRecipe);
    return r && typeof r === 'object' && !Array.isArray(r) ? r : null;
  } catch {
    return null;
  }
}

/**
 * The notice shown after a model file was opened: where the weights come from, the test accuracy,
 * what Train does now and what the link does not hold.
 * @param {string} fileName
 * @param {ModelFileInfo} info
 * @param {number | null | undefined} testAccuracy evaluated on the recipe's test split
 * @returns {{title: string, text: string}}
 */
export function loadedNotice(fileName, info, testAccuracy) {
  const traits = [info.masked ? 'pruned' : '', info.quantized ? 'quantized' : ''].filter(Boolean);
  const as = traits.length ? `, ${traits.join(' and ')} as saved` : '';
  const accuracy = Number.isFinite(testAccuracy) ? `test accuracy ${formatPercent(testAccuracy)}` : 'test accuracy unknown';
  const stages = sourceRecipe(info)?.compression;
  const n = Array.isArray(stages) ? stages.length : 0;
  const after = n ? ` It was saved after its run's ${n} compression stage${n === 1 ? '' : 's'}, which are in the weights, not in the recipe.` : '';
  return {
    title: `Loaded ${fileName}.`,
    text:
      `Weights from the file${as}; ${accuracy}. Train continues training from these weights.${after} ` +
      'The link describes the architecture and the recipe, not the weights: share the file to share the model.',
  };
}
