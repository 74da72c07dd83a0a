// The run's tables as DOM rows: one row of the epoch table per finished epoch (tagged with the stage
// that trained it) and the confusion matrix of the Result card. Builders only: they return elements
// and the controller (www/app.js) places them.

import { formatLoss, formatPercent, formatRate, formatSeconds } from './format.js';
import { stageLabel } from './compress.js';
import { classCss } from './boundary.js';

/** @typedef {import('./report-types.js').EpochMetrics} EpochMetrics */
/** @typedef {import('./report-types.js').StageProgress} StageProgress */

/**
 * A cell's tint: the theme's `--tint-good` / `--tint-bad` (www/style.css) at `alpha`, resolved by
 * CSS, so the tables follow the theme without redrawing.
 * @param {'good' | 'bad'} kind
 * @param {number} alpha 0..1
 */
export function tint(kind, alpha) {
  return `color-mix(in srgb, var(--tint-${kind}) ${(Math.min(1, Math.max(0, alpha)) * 100).toFixed(1)}%, transparent)`;
}

/**
 * The epoch table's row of epoch `e`, marked `latest`; `stage`: the compression stage that trained it.
 * @param {EpochMetrics} e
 * @param {StageProgress | null} stage
 * @returns {HTMLTableRowElement}
 */
export function epochRow(e, stage) {
  const tr = document.createElement('tr');
  tr.dataset.epoch = String(e.epoch);
  tr.dataset.trainLoss = String(e.train_loss);
  const first = document.createElement('td');
  first.textContent = String(e.epoch);
  if (stage) {
    const tag = document.createElement('span');
    tag.className = 'tag';
    tag.textContent = stage.kind.replace(/_/g, ' ');
    tag.title = `stage ${stage.index + 1}: ${stageLabel(stage.kind)}`;
    first.append(' ', tag);
  }
  tr.append(first);
  for (const text of [
    formatLoss(e.train_loss),
    formatPercent(e.train_accuracy),
    formatPercent(e.test_accuracy),
    formatRate(e.lr),
    formatSeconds(e.seconds),
  ]) {
    const td = document.createElement('td');
    td.textContent = text;
    tr.append(td);
  }
  tr.classList.add('latest');
  return tr;
}

/**
 * A confusion table's head: the corner, then the predicted classes in their colours.
 * @param {number} classes
 * @returns {HTMLTableSectionElement}
 */
function confusionHead(classes) {
  const head = document.createElement('thead');
  const hr = document.createElement('tr');
  const corner = document.createElement('th');
  corner.textContent = 'true \\ pred';
  hr.append(corner);
  for (let k = 0; k < classes; k++) {
    const th = document.createElement('th');
    th.textContent = String(k);
    th.style.color = classCss(k);
    hr.append(th);
  }
  head.append(hr);
  return head;
}

/**
 * The head and body of the confusion matrix (`matrix[true][predicted]` counts): the diagonal in
 * teal, mistakes in rose, both shaded by their share of the true class. Nothing for a matrix that
 * is not one or has more than 20 classes.
 * @param {unknown} matrix
 * @returns {HTMLTableSectionElement[]}
 */
export function confusionParts(matrix) {
  if (!Array.isArray(matrix) || !matrix.every((row) => Array.isArray(row)) || matrix.length > 20) return [];
  /** @type {number[][]} */
  const rows = matrix;
  const head = confusionHead(rows.length);
  const body = document.createElement('tbody');
  rows.forEach((row, t) => {
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    th.textContent = String(t);
    tr.append(th);
    const sum = row.reduce((a, b) => a + b, 0) || 1;
    row.forEach((count, p) => {
      const td = document.createElement('td');
      td.textContent = String(count);
      const share = count / sum;
      td.style.background = t === p ? tint('good', 0.08 + 0.5 * share) : count ? tint('bad', 0.06 + 0.6 * share) : '';
      tr.append(td);
    });
    body.append(tr);
  });
  return [head, body];
}

/**
 * `after − before`, cell by cell, of two confusion matrices of the same shape (`null` when they
 * are not).
 * @param {number[][]} after
 * @param {number[][]} before
 * @returns {number[][] | null}
 */
export function confusionDiff(after, before) {
  if (after.length !== before.length || after.some((row, t) => row.length !== before[t].length)) return null;
  return after.map((row, t) => row.map((v, p) => v - before[t][p]));
}

/**
 * A table of a confusion matrix's change (`after − before`): on the diagonal a gain is teal and a
 * loss rose, off it the other way round (more mistakes are rose); zeros are blank.
 * @param {number[][]} after
 * @param {number[][]} before
 * @returns {HTMLTableElement}
 */
export function confusionDiffTable(after, before) {
  const table = document.createElement('table');
  table.className = 'confusion confusion-diff';
  const diff = confusionDiff(after, before);
  if (!diff || diff.length > 20) return table;
  const head = confusionHead(diff.length);
  const body = document.createElement('tbody');
  diff.forEach((row, t) => {
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    th.textContent = String(t);
    tr.append(th);
    const scale = Math.max(1, ...before[t]);
    row.forEach((d, p) => {
      const td = document.createElement('td');
      td.textContent = d === 0 ? '' : d > 0 ? `+${d}` : `−${-d}`;
      const good = t === p ? d > 0 : d < 0;
      const a = Math.min(0.7, 0.12 + Math.abs(d) / scale);
      td.style.background = d === 0 ? '' : good ? tint('good', a) : tint('bad', a);
      tr.append(td);
    });
    body.append(tr);
  });
  table.append(head, body);
  return table;
}
