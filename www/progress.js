// Where a run stands, in numbers and words: a step's position on the epoch axis and the phase line
// under the progress bar ("training · epoch 3/20 · then 2 stages"). Pure functions with no DOM,
// tested by tests/js/progress.test.js.

import { stageProgressText } from './compress.js';

/** @typedef {import('./report-types.js').StageProgress} StageProgress */

/**
 * The position of a step on the epoch axis.
 * @param {{epoch: number, batch: number, batchesPerEpoch: number} | null} step
 * @returns {number}
 */
export function stepPosition(step) {
  if (!step) return 0;
  // At the end of a phase `batch` stays at batchesPerEpoch while `epoch` already counts that epoch.
  const within = step.batchesPerEpoch && step.batch < step.batchesPerEpoch ? step.batch / step.batchesPerEpoch : 0;
  return step.epoch + within;
}

/**
 * The phase line of the page.
 * @param {object} p
 * @param {string} p.status the page's status (`document.body.dataset.status`)
 * @param {number} p.stages compression stages in the recipe
 * @param {number | null} p.initialEpochs epochs of the live run's initial training; null when there
 *   is no run to describe (none, or one being created)
 * @param {string} [p.loadedName] the model file the run was opened from
 * @param {StageProgress | null} p.stage the stage running, if any
 * @param {number} p.position the last step's position on the epoch axis
 * @returns {string}
 */
export function phaseText({ status, stages, initialEpochs, loadedName, stage, position }) {
  if (initialEpochs === null || status === 'creating') return '';
  if (status === 'loaded') return `opened ${loadedName ?? 'a model file'} · Train continues from its weights`;
  const plural = stages === 1 ? '' : 's';
  if (status === 'done') return stages ? `done · training and ${stages} stage${plural}` : 'done';
  // 'broken': the engine crashed (a panic) under the run; its progress is where it stopped.
  /** @type {Record<string, string>} */
  const prefixes = { paused: 'paused · ', failed: 'stopped · ', broken: 'the engine stopped · ' };
  const prefix = prefixes[status] ?? '';
  if (stage) return prefix + stageProgressText(stage);
  const epoch = Math.min(initialEpochs, Math.floor(position) + (status === 'training' ? 1 : 0));
  return `${prefix}training · epoch ${epoch}/${initialEpochs}${stages ? ` · then ${stages} stage${plural}` : ''}`;
}
