// The compression stages as tables: one row per finished stage (the Stages card) and the
// kind-specific detail blocks under it (sensitivity heatmap, lottery and distillation bars, soft
// targets, quantization table). DOM builders only: they read stage reports and return elements,
// choosing by the report's `kind`; the controller (www/app.js) puts them on the page.

import { formatBytes, formatCount, formatPercent, formatRatio, formatSeconds } from './format.js';
import { honestBytes, quantRows, softTargetSamples, softTargetsAt, stageLabel } from './compress.js';
import { colorMaps, lerpStops, rgbText } from './weights.js';

/** @typedef {import('./report-types.js').StageReport} StageReport */
/** @typedef {import('./report-types.js').SensitivityDetails} SensitivityDetails */
/** @typedef {import('./report-types.js').LotteryDetails} LotteryDetails */
/** @typedef {import('./report-types.js').DistillDetails} DistillDetails */
/** @typedef {import('./report-types.js').SoftTargets} SoftTargets */
/** @typedef {import('./report-types.js').QuantizeDetails} QuantizeDetails */
/** @typedef {import('./report-types.js').QatDetails} QatDetails */

/**
 * A finite number (reports carry null where the engine had NaN or nothing).
 * @param {unknown} v
 * @returns {v is number}
 */
function finite(v) {
  return typeof v === 'number' && Number.isFinite(v);
}

/**
 * The Stages card's row of a finished stage.
 * @param {StageReport} r
 * @returns {HTMLTableRowElement}
 */
export function stageRow(r) {
  const tr = document.createElement('tr');
  tr.dataset.kind = r.kind ?? '';
  tr.dataset.sparsity = String(r.weight_sparsity ?? '');
  const change = r.accuracy_change;
  const sparse = honestBytes(r.bytes);
  const cells = [
    [String((r.index ?? 0) + 1), ''],
    [stageLabel(r.kind), ''],
    [formatPercent(r.test_accuracy), ''],
    [!finite(change) ? '–' : `${change >= 0 ? '+' : '−'}${(Math.abs(change) * 100).toFixed(1)} pt`, !finite(change) ? '' : change < -0.005 ? 'down' : change > 0.005 ? 'up' : ''],
    [formatPercent(r.weight_sparsity), ''],
    [r.params === undefined ? '–' : `${formatCount(r.nonzero_params)} / ${formatCount(r.params)}`, ''],
    [r.bytes?.dense === undefined ? '–' : `${formatBytes(r.bytes.dense)} → ${formatBytes(sparse)}`, ''],
    [formatRatio(r.compression_ratio), ''],
    [r.seconds === undefined ? '–' : formatSeconds(r.seconds), ''],
  ];
  for (const [text, cls] of cells) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    tr.append(td);
  }
  const layers = Array.isArray(r.layers) ? r.layers : [];
  if (layers.length) tr.title = layers.map((l) => `${l.name}: ${formatPercent(l.sparsity)} zeros`).join('\n');
  const bytes = r.bytes ?? {};
  tr.cells[6].title = Object.entries(bytes).map(([k, v]) => `${k}: ${formatBytes(v)}`).join('\n');
  return tr;
}

/**
 * The row of the stage running now: its number, kind and progress.
 * @param {import('./report-types.js').StageProgress} stage
 * @returns {HTMLTableRowElement}
 */
export function runningStageRow(stage) {
  const tr = document.createElement('tr');
  tr.className = 'running';
  const cells = [String(stage.index + 1), stageLabel(stage.kind), stage.detail || 'running…'];
  for (const text of cells) {
    const td = document.createElement('td');
    td.textContent = text;
    tr.append(td);
  }
  /** @type {HTMLTableCellElement} */ (tr.lastElementChild).colSpan = 7;
  return tr;
}

/**
 * Kind-specific views of finished stages: sensitivity heatmap, lottery comparison, distillation bars
 * and soft targets, quantization table. Kinds without one give nothing.
 * @param {StageReport[]} reports
 * @returns {HTMLElement[]}
 */
export function stageDetailBlocks(reports) {
  /** @type {HTMLElement[]} */
  const out = [];
  for (const r of reports) {
    if (!r.details || typeof r.details !== 'object') continue; // a report from another version
    const title = `${(r.index ?? 0) + 1} · ${stageLabel(r.kind)}`;
    switch (r.kind) {
      case 'sensitivity':
        if (Array.isArray(r.details.accuracy) && Array.isArray(r.details.sparsities)) out.push(sensitivityBlock(title, r.details));
        break;
      case 'lottery':
        out.push(lotteryBlock(title, r.details));
        break;
      case 'distill':
        out.push(distillBlock(title, r.details));
        if (r.details.soft_targets) out.push(softTargetsBlock(title, r.details.soft_targets, r.details.temperature, r.details.alpha));
        break;
      case 'quantize':
      case 'qat': {
        const rows = quantRows(r);
        if (rows.length) out.push(quantBlock(title, rows, r.details));
        break;
      }
      default:
        break;
    }
  }
  return out;
}

/**
 * A quantize or qat stage: per bit width (or PTQ / QAT) the test accuracy, packed and gzip bytes,
 * the worst layer's SQNR, and whether integer inference predicts as the fake-quant model.
 * @param {string} title
 * @param {import('./compress.js').QuantRow[]} rows
 * @param {QuantizeDetails | QatDetails} d the stage's details
 */
function quantBlock(title, rows, d) {
  const section = detailBlock(title);
  const table = document.createElement('table');
  table.className = 'heat quant-table';
  const head = document.createElement('tr');
  for (const h of ['', 'test acc.', 'packed', 'gzip', 'worst SQNR', 'int8 inference']) {
    const th = document.createElement('th');
    th.textContent = h;
    head.append(th);
  }
  const thead = document.createElement('thead');
  thead.append(head);
  const body = document.createElement('tbody');
  for (const r of rows) {
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    th.textContent = r.label;
    tr.append(th);
    const cells = [
      formatPercent(r.accuracy),
      r.packed === null ? '–' : formatBytes(r.packed),
      r.gzip === null ? '–' : formatBytes(r.gzip),
      r.sqnr === null ? '–' : `${r.sqnr.toFixed(1)} dB`,
      r.int8 ? `${formatPercent(r.int8.agreement)} agree` : '–',
    ];
    for (const text of cells) {
      const td = document.createElement('td');
      td.textContent = text;
      tr.append(td);
    }
    if (r.int8) tr.cells[5].title = `int8 × int8 → i32 kernels (${r.int8.path}): share of test samples where they predict the fake-quant model's class`;
    body.append(tr);
  }
  table.append(thead, body);
  const path = rows.find((r) => r.int8)?.int8?.path;
  const scheme = [d.scheme, d.granularity?.replace('_', ' ')].filter(Boolean).join(', ');
  return withTable(
    section,
    table,
    `Weights ${scheme || 'quantized'}${'activations' in d && d.activations ? ', activations too (calibrated)' : ''}. Packed: N-bit values plus scales and zero points; SQNR of the worst layer.` +
      (path ? ` Integer inference ran on ${path} kernels.` : ''),
  );
}

/**
 * Appends `table` (scrollable) and a hint line under it to a detail `section`.
 * @param {HTMLElement} section
 * @param {HTMLTableElement} table
 * @param {string} hint
 */
function withTable(section, table, hint) {
  const wrap = document.createElement('div');
  wrap.className = 'table-wrap';
  wrap.append(table);
  const note = document.createElement('p');
  note.className = 'hint';
  note.textContent = hint;
  section.append(wrap, note);
  return section;
}

/**
 * @param {string} title
 * @returns {HTMLElement}
 */
function detailBlock(title) {
  const section = document.createElement('section');
  section.className = 'detail';
  const h = document.createElement('h3');
  h.textContent = title;
  section.append(h);
  return section;
}

/**
 * The sensitivity matrix: test accuracy per (layer, sparsity), coloured from the worst to the best cell.
 * @param {string} title
 * @param {SensitivityDetails} d
 */
function sensitivityBlock(title, d) {
  const section = detailBlock(title);
  const all = d.accuracy.flat().filter(finite);
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  const table = document.createElement('table');
  table.className = 'heat';
  const head = document.createElement('tr');
  const corner = document.createElement('th');
  corner.textContent = 'layer \\ sparsity';
  head.append(corner);
  for (const sp of d.sparsities) {
    const th = document.createElement('th');
    th.textContent = `${Math.round(sp * 100)}%`;
    head.append(th);
  }
  const thead = document.createElement('thead');
  thead.append(head);
  const body = document.createElement('tbody');
  d.accuracy.forEach((row, i) => {
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    th.textContent = d.layers?.[i] ?? String(i);
    tr.append(th);
    d.sparsities.forEach((sp, j) => {
      const td = document.createElement('td');
      const a = row?.[j];
      td.textContent = finite(a) ? (a * 100).toFixed(1) : '–';
      if (finite(a)) td.style.background = rgbText(lerpStops(colorMaps().accuracy, hi > lo ? (a - lo) / (hi - lo) : 1));
      td.title = `${th.textContent} pruned to ${Math.round(sp * 100)}%: ${formatPercent(a)} test accuracy`;
      tr.append(td);
    });
    body.append(tr);
  });
  table.append(thead, body);
  return withTable(section, table, 'Test accuracy (%) with one layer pruned at a time; the others untouched.');
}

/**
 * Horizontal bars: dense, winning ticket, random re-initialization with the same mask.
 * @param {string} title
 * @param {LotteryDetails} d
 */
function lotteryBlock(title, d) {
  const section = detailBlock(title);
  /** @type {[string, number | null | undefined, string][]} */
  const rows = [
    ['dense', d.dense_accuracy, 'dense'],
    ['ticket (rewound)', d.ticket_accuracy, 'ticket'],
    ['random re-init', d.control_accuracy, 'control'],
  ];
  for (const [label, acc, cls] of rows) if (finite(acc)) section.append(barRow(label, acc, cls));
  const note = document.createElement('p');
  note.className = 'hint';
  const rounds = Array.isArray(d.rounds) ? d.rounds.length : 0;
  note.textContent = `Sparsity ${formatPercent(d.sparsity)}${rounds ? ` after ${rounds} round${rounds === 1 ? '' : 's'}` : ''}${finite(d.rewind_step) ? `, rewound to step ${d.rewind_step}` : ''}: same mask, trained from the early weights vs. from fresh random ones.`;
  section.append(note);
  return section;
}

/**
 * @param {string} label
 * @param {number} value in [0, 1]
 * @param {string} cls
 * @param {string} [text]
 */
function barRow(label, value, cls, text = formatPercent(value)) {
  const row = document.createElement('div');
  row.className = `bar-row ${cls}`;
  const name = document.createElement('span');
  name.className = 'bar-label';
  name.textContent = label;
  const track = document.createElement('span');
  track.className = 'bar-track';
  const fill = document.createElement('span');
  fill.className = 'bar-fill';
  fill.style.width = `${Math.max(0, Math.min(1, value)) * 100}%`;
  track.append(fill);
  const num = document.createElement('span');
  num.className = 'bar-value';
  num.textContent = text;
  row.append(name, track, num);
  return row;
}

/**
 * Soft targets of a distillation stage: per sample, each model's class probabilities at
 * temperature T as a small column chart (see `softTargetSamples` for the accepted forms), with a
 * temperature slider that recomputes them at once from the logits the report carries.
 * @param {string} title
 * @param {SoftTargets} st
 * @param {number} [temperature]
 * @param {number} [alpha]
 */
function softTargetsBlock(title, st, temperature, alpha) {
  const section = detailBlock(title);
  const T0 = finite(st?.temperature) ? st.temperature : temperature;
  const grid = document.createElement('div');
  grid.className = 'soft-grid';
  const note = document.createElement('p');
  note.className = 'hint';
  section.append(grid, note);
  /** @param {number | undefined} T */
  const draw = (T) => {
    const at = T !== undefined && T !== T0 ? softTargetsAt(st, T) : null;
    grid.replaceChildren();
    drawSoftTargets(grid, note, at ?? st, at ? T : T0);
  };
  if (st?.logits && finite(T0)) {
    const row = document.createElement('label');
    row.className = 'soft-temperature-row';
    const slider = document.createElement('input');
    slider.type = 'range';
    slider.className = 'soft-temperature';
    slider.min = '0.5';
    slider.max = '20';
    slider.step = '0.5';
    slider.value = String(T0);
    const out = document.createElement('output');
    out.textContent = `T = ${T0}`;
    slider.addEventListener('input', () => {
      const T = Number(slider.value);
      out.textContent = `T = ${T}`;
      draw(T);
    });
    row.append('Temperature ', slider, out);
    const why = document.createElement('p');
    why.className = 'hint';
    why.textContent =
      `Loss = α·T²·KL(teacher ‖ student, both softened at T) + (1 − α)·CE(student, label), α = ${finite(alpha) ? alpha.toFixed(2) : '?'}, trained at T = ${T0}: ` +
      'a higher T spreads the teacher\'s probability over the wrong classes (the "dark knowledge"), and T² keeps ' +
      'the soft term\'s gradients the same size as T grows (they shrink as 1/T²).';
    section.insertBefore(row, grid);
    section.append(why);
  }
  draw(T0);
  return section;
}

/**
 * Draws soft-target charts into `grid` and their caption into `note`.
 * @param {HTMLElement} grid
 * @param {HTMLElement} note
 * @param {any} st soft targets in the report's column form
 * @param {number | undefined} T the temperature they are at
 */
function drawSoftTargets(grid, note, st, T) {
  const samples = softTargetSamples(st);
  const models = [...new Set(samples.flatMap((x) => x.series.map(([m]) => m)))];
  for (const sample of samples) {
    const fig = document.createElement('figure');
    fig.className = 'soft';
    const bars = document.createElement('div');
    bars.className = 'soft-bars';
    const classes = Math.max(...sample.series.map(([, v]) => v.length));
    for (let k = 0; k < classes; k++) {
      const col = document.createElement('div');
      col.className = 'soft-col';
      for (const [who, v] of sample.series) {
        const b = document.createElement('span');
        b.className = `soft-bar m${models.indexOf(who)}`;
        const p = Number(v[k]) || 0;
        b.style.height = `${Math.max(0, Math.min(1, p)) * 100}%`;
        b.title = `class ${k}, ${who}: ${formatPercent(p)}`;
        col.append(b);
      }
      bars.append(col);
    }
    const cap = document.createElement('figcaption');
    cap.textContent = sample.label !== undefined ? `label ${sample.label}` : '';
    fig.append(bars, cap);
    grid.append(fig);
  }
  const shades = ['dark', 'light', 'grey', 'pale'];
  note.textContent = samples.length
    ? `Class probabilities at temperature ${T ?? '?'}, one chart per test sample: ${models.map((m, i) => `${m} (${shades[i] ?? ''})`).join(', ')}.`
    : 'This stage reported soft targets in a form the page does not know.';
}

/**
 * Accuracy bars of a distillation: teacher, distilled student, the student trained alone.
 * @param {string} title
 * @param {DistillDetails} d
 */
function distillBlock(title, d) {
  const section = detailBlock(title);
  /** @type {[string, number | null | undefined, string][]} */
  const rows = [
    ['teacher', d.teacher?.test_accuracy, 'dense'],
    ['distilled student', d.distilled?.test_accuracy, 'ticket'],
    ['student alone', d.alone?.test_accuracy, 'control'],
  ];
  for (const [label, acc, cls] of rows) if (finite(acc)) section.append(barRow(label, acc, cls));
  const margin = d.margin;
  if (finite(margin)) {
    const note = document.createElement('p');
    note.className = 'hint';
    const images = finite(d.test_samples) && d.test_samples > 0 ? ` (${Math.round(Math.abs(margin) * d.test_samples)} of ${d.test_samples} test samples)` : '';
    const transfer = d.unlabelled_samples > 0
      ? ` The distilled student also learned from ${formatCount(d.unlabelled_samples)} training samples without labels, labelled by the teacher; both students had the same ${formatCount(d.labelled_samples)} labelled ones.`
      : '';
    note.textContent = `Distillation ${margin >= 0 ? 'adds' : 'costs'} ${(Math.abs(margin) * 100).toFixed(1)} pt${images} over training the student alone${finite(d.temperature) ? ` (T = ${d.temperature}${finite(d.alpha) ? `, α = ${d.alpha}` : ''})` : ''}.${transfer}`;
    section.append(note);
  }
  return section;
}

