// The playground page's controller: wires the DOM (preset picker, recipe editor, Train / Pause /
// Reset, stats, epoch table, charts, decision boundary) to the training worker (www/worker.js),
// and keeps the recipe in the URL fragment (www/state.js). It never runs the engine itself.
// `document.body.dataset.status` mirrors the run state for the end-to-end test.

import {
  closestPreset,
  decodeFragment,
  describeChange,
  encodeFragment,
  errorText,
  isPlainObject,
  jsonErrorLocation,
  salvageRecipe,
} from './state.js';
import { formatBytes, formatCount, formatLoss, formatPercent, formatRate, formatSeconds } from './format.js';
import { drawChart } from './plot.js';
import { classCss, drawBoundary } from './boundary.js';

/** @typedef {import('./state.js').Recipe} Recipe */
/** @typedef {import('./state.js').Preset} Preset */
/** @typedef {{epoch: number, train_loss: number, train_accuracy: number, test_accuracy: number,
 *   lr: number, seconds: number}} EpochEnd */
/** @typedef {'loading' | 'idle' | 'creating' | 'training' | 'paused' | 'done' | 'failed' | 'broken'} Status */
/** @typedef {{backend: string, backendNote: string, totalEpochs: number, is2d: boolean, report: any,
 *   bounds: [number, number, number, number] | null, points: {x: Float32Array, y: Uint32Array} | null}} RunInfo */

/** Validation waits this long after the last keystroke. */
const VALIDATE_DELAY_MS = 200;

// ---------------------------------------------------------------------------------------------
// DOM

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @returns {T}
 */
function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} missing from index.html`);
  return /** @type {T} */ (node);
}

const ui = {
  badge: byId('backend-badge'),
  badgeText: byId('backend-text'),
  notice: byId('notice'),
  noticeTitle: byId('notice-title'),
  noticeText: byId('notice-text'),
  noticeDetails: /** @type {HTMLDetailsElement} */ (byId('notice-details')),
  noticeRaw: byId('notice-raw'),
  noticeClose: byId('notice-close'),
  preset: /** @type {HTMLSelectElement} */ (byId('preset')),
  presetDescription: byId('preset-description'),
  train: /** @type {HTMLButtonElement} */ (byId('train')),
  pause: /** @type {HTMLButtonElement} */ (byId('pause')),
  reset: /** @type {HTMLButtonElement} */ (byId('reset')),
  progressBar: byId('progress-bar'),
  statEpoch: byId('stat-epoch'),
  statLoss: byId('stat-loss'),
  statTrainAcc: byId('stat-train-acc'),
  statTestAcc: byId('stat-test-acc'),
  statTime: byId('stat-time'),
  statModel: byId('stat-model'),
  recipe: /** @type {HTMLTextAreaElement} */ (byId('recipe')),
  formatRecipe: /** @type {HTMLButtonElement} */ (byId('format-recipe')),
  validation: byId('validation'),
  recipeDiff: byId('recipe-diff'),
  csv: /** @type {HTMLInputElement} */ (byId('csv')),
  copyLink: /** @type {HTMLButtonElement} */ (byId('copy-link')),
  copyStatus: byId('copy-status'),
  lossChart: /** @type {HTMLCanvasElement} */ (byId('loss-chart')),
  accChart: /** @type {HTMLCanvasElement} */ (byId('acc-chart')),
  boundaryCard: byId('boundary-card'),
  boundary: /** @type {HTMLCanvasElement} */ (byId('boundary')),
  epochsBody: /** @type {HTMLTableSectionElement} */ (byId('epochs').querySelector('tbody')),
  epochsEmpty: byId('epochs-empty'),
  downloadReport: /** @type {HTMLButtonElement} */ (byId('download-report')),
  finalCard: byId('final-card'),
  finalSummary: byId('final-summary'),
  confusion: byId('confusion'),
};

// ---------------------------------------------------------------------------------------------
// The worker, as promise-returning calls plus a stream of training events

class Engine {
  /** @param {URL} url */
  constructor(url) {
    this.worker = new Worker(url, { type: 'module' });
    this.nextId = 1;
    /** @type {Map<number, {resolve: (v: any) => void, reject: (e: Error) => void}>} */
    this.pending = new Map();
    /** @type {(event: any) => void} */
    this.onEvent = () => {};
    /** @type {(message: string) => void} */
    this.onCrash = () => {};
    this.worker.addEventListener('message', (ev) => {
      const msg = ev.data;
      if (msg && msg.id !== undefined && this.pending.has(msg.id)) {
        const waiter = /** @type {{resolve: (v: any) => void, reject: (e: Error) => void}} */ (this.pending.get(msg.id));
        this.pending.delete(msg.id);
        if (msg.ok) waiter.resolve(msg.result);
        else waiter.reject(new Error(msg.error));
      } else if (msg && msg.event) {
        this.onEvent(msg);
      }
    });
    this.worker.addEventListener('error', (ev) => {
      ev.preventDefault();
      const text = `The training worker failed: ${ev.message || 'it could not start (see the console)'}`;
      for (const waiter of this.pending.values()) waiter.reject(new Error(text));
      this.pending.clear();
      this.onCrash(text);
    });
  }

  /**
   * @param {string} type
   * @param {Record<string, any>} [payload]
   * @returns {Promise<any>}
   */
  call(type, payload = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, type, ...payload });
    });
  }
}

// ---------------------------------------------------------------------------------------------
// State

const app = {
  /** @type {Status} */
  status: 'loading',
  /** @type {Preset[]} */
  presets: [],
  /** The last editor content that parsed and validated, or null. @type {Recipe | null} */
  recipe: null,
  /** @type {string | null} CSV text picked by the user */
  csv: null,
  csvName: '',
  /** Identity (recipe JSON + CSV name) of the live run; a different one means "train anew". */
  runKey: '',
  /** @type {RunInfo | null} */
  run: null,
  /** Loss per step call, as [epoch position, loss]. @type {[number, number][]} */
  steps: [],
  /** @type {EpochEnd[]} */
  epochs: [],
  /** @type {{data: Float32Array, res: number, classes: number} | null} */
  grid: null,
  /** @type {{epoch: number, batch: number, batchesPerEpoch: number, loss: number} | null} */
  lastStep: null,
  trainMs: 0,
  /** @type {any} final report */
  report: null,
  /** The fragment this page wrote last; a hashchange to anything else is a new link. */
  lastHash: '',
  validateSeq: 0,
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  validateTimer: undefined,
};

const engine = new Engine(new URL('./worker.js', import.meta.url));

/** @param {Status} status */
function setStatus(status) {
  app.status = status;
  document.body.dataset.status = status;
  renderButtons();
}

// ---------------------------------------------------------------------------------------------
// Rendering

function renderButtons() {
  const s = app.status;
  const busy = s === 'loading' || s === 'creating' || s === 'broken';
  const resumable = s === 'paused' && app.run !== null && app.runKey === currentRunKey();
  ui.train.disabled = busy || s === 'training' || app.recipe === null;
  ui.train.textContent = resumable ? 'Resume' : s === 'done' ? 'Train again' : s === 'creating' ? 'Starting…' : 'Train';
  ui.pause.disabled = s !== 'training';
  ui.reset.disabled = busy || app.run === null;
  ui.preset.disabled = s === 'loading' || s === 'broken';
  ui.downloadReport.disabled = app.run === null || s === 'creating';
}

/**
 * @param {'loading' | 'ready' | 'cpu' | 'gpu' | 'fallback' | 'error'} state
 * @param {string} text
 * @param {string} [title]
 */
function setBadge(state, text, title = '') {
  ui.badge.dataset.state = state;
  ui.badgeText.textContent = text;
  ui.badge.title = title || text;
}

function renderBackendBadge() {
  const run = app.run;
  if (!run) {
    const webgpu = 'gpu' in navigator ? 'WebGPU available' : 'no WebGPU in this browser';
    setBadge('ready', `engine ready · ${webgpu}`);
    return;
  }
  if (run.backend === 'gpu') setBadge('gpu', 'gpu · WebGPU', 'Training on the GPU through WebGPU');
  else if (run.backendNote) setBadge('fallback', `cpu · ${run.backendNote}`, `Fell back to the CPU: ${run.backendNote}`);
  else setBadge('cpu', 'cpu · wasm SIMD', 'Training on the CPU (WebAssembly with SIMD)');
}

/**
 * @param {'warn' | 'error'} kind
 * @param {string} title
 * @param {string} text
 * @param {string} [raw] original recipe text to show under a disclosure
 */
function showNotice(kind, title, text, raw) {
  ui.notice.dataset.kind = kind;
  ui.noticeTitle.textContent = title;
  ui.noticeText.textContent = text;
  ui.noticeDetails.hidden = !raw;
  ui.noticeRaw.textContent = raw ?? '';
  ui.notice.hidden = false;
}

function hideNotice() {
  ui.notice.hidden = true;
}

function renderStats() {
  const run = app.run;
  const last = app.lastStep;
  const lastEpoch = app.epochs.at(-1);
  const total = run?.totalEpochs ?? 0;
  const position = last ? last.epoch + (last.batchesPerEpoch ? last.batch / last.batchesPerEpoch : 0) : 0;
  const done = app.status === 'done';
  ui.statEpoch.textContent = run ? `${app.epochs.length} / ${total}` : '–';
  ui.statLoss.textContent = formatLoss(last?.loss);
  ui.statLoss.dataset.value = last ? String(last.loss) : '';
  ui.statTrainAcc.textContent = formatPercent(lastEpoch?.train_accuracy);
  ui.statTestAcc.textContent = formatPercent(lastEpoch?.test_accuracy);
  ui.statTime.textContent = app.trainMs ? formatSeconds(app.trainMs / 1000) : '–';
  const model = run?.report?.model;
  ui.statModel.textContent = model ? formatBytes(model.bytes) : '–';
  ui.statModel.title = model ? `${formatCount(model.params)} parameters, ${formatBytes(model.bytes)}` : '';
  const fraction = total ? Math.min(1, done ? 1 : position / total) : 0;
  ui.progressBar.style.width = `${(fraction * 100).toFixed(2)}%`;
}

/** @param {EpochEnd} e */
function addEpochRow(e) {
  const tr = document.createElement('tr');
  tr.dataset.epoch = String(e.epoch);
  tr.dataset.trainLoss = String(e.train_loss);
  for (const text of [
    String(e.epoch),
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
  ui.epochsBody.querySelector('tr.latest')?.classList.remove('latest');
  tr.classList.add('latest');
  ui.epochsBody.prepend(tr); // newest first: the table never jumps while it grows
  ui.epochsEmpty.hidden = true;
}

function clearViews() {
  app.steps = [];
  app.epochs = [];
  app.grid = null;
  app.lastStep = null;
  app.trainMs = 0;
  app.report = null;
  ui.epochsBody.replaceChildren();
  ui.epochsEmpty.hidden = false;
  ui.finalCard.hidden = true;
  renderStats();
  scheduleDraw();
}

/** @param {string} name */
function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

let drawPending = false;
function scheduleDraw() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => {
    drawPending = false;
    drawViews();
  });
}

function drawViews() {
  const total = app.run?.totalEpochs;
  /** @type {[number, number] | undefined} */
  const xDomain = total ? [0, total] : undefined;
  const empty = app.status === 'creating' ? 'starting…' : 'press Train to start';
  drawChart(ui.lossChart, {
    series: [
      { label: 'per step', color: cssVar('--series-loss'), points: app.steps },
      { label: 'epoch mean', color: cssVar('--series-epoch'), points: app.epochs.map((e) => [e.epoch, e.train_loss]), markers: true },
    ],
    xDomain,
    yIncludesZero: true,
    xLabel: 'epoch',
    empty,
  });
  drawChart(ui.accChart, {
    series: [
      { label: 'train', color: cssVar('--series-train'), points: app.epochs.map((e) => [e.epoch, e.train_accuracy]), markers: true },
      { label: 'test', color: cssVar('--series-test'), points: app.epochs.map((e) => [e.epoch, e.test_accuracy]), markers: true, dashed: true },
    ],
    xDomain,
    yDomain: [0, 1],
    yFormat: (v) => `${Math.round(v * 100)}%`,
    xLabel: 'epoch',
    empty,
  });
  const run = app.run;
  ui.boundaryCard.hidden = !(run && run.is2d && run.bounds && run.points);
  if (run && run.is2d && run.bounds && run.points) {
    drawBoundary(ui.boundary, { bounds: run.bounds, points: run.points, grid: app.grid });
  }
}

function renderFinal() {
  const report = app.report;
  const final = report?.final;
  if (!final) {
    ui.finalCard.hidden = true;
    return;
  }
  const model = report.model ?? {};
  ui.finalSummary.textContent = [
    `Test accuracy ${formatPercent(final.test_accuracy)}`,
    `final train loss ${formatLoss(final.train_loss)}`,
    model.params !== undefined ? `${formatCount(model.params)} parameters (${formatBytes(model.bytes)})` : '',
    `on the ${report.backend ?? app.run?.backend ?? '?'} backend`,
  ]
    .filter(Boolean)
    .join(' · ');
  renderConfusion(final.confusion);
  ui.finalCard.hidden = false;
}

/** @param {unknown} matrix confusion[true][predicted] counts */
function renderConfusion(matrix) {
  ui.confusion.replaceChildren();
  if (!Array.isArray(matrix) || !matrix.every((row) => Array.isArray(row)) || matrix.length > 20) return;
  const head = document.createElement('thead');
  const hr = document.createElement('tr');
  const corner = document.createElement('th');
  corner.textContent = 'true \\ pred';
  hr.append(corner);
  matrix.forEach((_, k) => {
    const th = document.createElement('th');
    th.textContent = String(k);
    th.style.color = classCss(k);
    hr.append(th);
  });
  head.append(hr);
  const body = document.createElement('tbody');
  matrix.forEach((row, t) => {
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    th.textContent = String(t);
    tr.append(th);
    const sum = row.reduce((a, b) => a + b, 0) || 1;
    row.forEach((count, p) => {
      const td = document.createElement('td');
      td.textContent = String(count);
      const share = count / sum;
      td.style.background = t === p ? `rgba(13, 148, 136, ${0.08 + 0.5 * share})` : count ? `rgba(225, 29, 72, ${0.06 + 0.6 * share})` : '';
      tr.append(td);
    });
    body.append(tr);
  });
  ui.confusion.append(head, body);
}

// ---------------------------------------------------------------------------------------------
// Recipe editor, presets and the URL

/** @param {Recipe} recipe */
function pretty(recipe) {
  return JSON.stringify(recipe, null, 2);
}

function currentRunKey() {
  return app.recipe ? `${JSON.stringify(app.recipe)}\u0000${app.csvName}` : '';
}

/**
 * @param {'ok' | 'bad' | 'busy' | 'idle'} state
 * @param {string} text
 */
function setValidation(state, text) {
  ui.validation.dataset.state = state;
  ui.validation.textContent = text;
  ui.recipe.setAttribute('aria-invalid', state === 'bad' ? 'true' : 'false');
}

function renderPresetPicker() {
  const match = app.recipe ? closestPreset(app.recipe, app.presets) : null;
  const exact = match && match.changes.length === 0 ? match.name : '';
  ui.preset.replaceChildren(
    ...app.presets.map((p) => new Option(p.name, p.name, false, p.name === exact)),
    ...(exact ? [] : [new Option(match ? `custom (from ${match.name})` : 'custom', '', false, true)]),
  );
  const described = app.presets.find((p) => p.name === (exact || match?.name));
  ui.presetDescription.textContent = described?.description ?? '';
  if (!match || exact) {
    ui.recipeDiff.textContent = exact ? `Preset ${exact}, unchanged.` : '';
  } else {
    const shown = match.changes.slice(0, 4).map(describeChange).join('; ');
    const more = match.changes.length > 4 ? `; and ${match.changes.length - 4} more` : '';
    const n = match.changes.length;
    ui.recipeDiff.textContent = `${n} change${n === 1 ? '' : 's'} from ${match.name}: ${shown}${more}`;
  }
}

/** @param {Recipe} recipe */
function writeHash(recipe) {
  const hash = encodeFragment(recipe);
  app.lastHash = hash;
  if (location.hash !== hash) history.replaceState(null, '', hash);
}

/** Parses and validates the editor's text; on success it becomes the recipe (and the URL). */
async function validateEditor() {
  clearTimeout(app.validateTimer);
  const seq = ++app.validateSeq;
  const text = ui.recipe.value;
  /** @type {unknown} */
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    const where = jsonErrorLocation(text, e);
    setValidation('bad', `JSON syntax error${where ? ` at line ${where.line}, column ${where.column}` : ''}: ${errorText(e)}`);
    app.recipe = null;
    renderButtons();
    return;
  }
  if (!isPlainObject(parsed)) {
    setValidation('bad', 'A recipe is a JSON object ({ … }).');
    app.recipe = null;
    renderButtons();
    return;
  }
  try {
    await engine.call('validate', { json: text });
  } catch (e) {
    if (seq !== app.validateSeq) return;
    setValidation('bad', errorText(e));
    app.recipe = null;
    renderButtons();
    return;
  }
  if (seq !== app.validateSeq) return;
  app.recipe = parsed;
  setValidation('ok', app.run && app.runKey !== currentRunKey() ? '✓ Valid. Train starts a new run with this recipe.' : '✓ Valid recipe.');
  writeHash(parsed);
  renderPresetPicker();
  renderButtons();
}

/** @param {Recipe} recipe */
async function setEditor(recipe) {
  ui.recipe.value = pretty(recipe);
  await validateEditor();
}

function defaultPreset() {
  return app.presets.find((p) => p.name === 'spiral-mlp') ?? app.presets[0];
}

/** Loads the recipe a link carries, keeping what it can of a damaged one. */
async function loadFromHash() {
  const fallback = defaultPreset();
  const decoded = decodeFragment(location.hash);
  if (decoded.status === 'empty') {
    hideNotice();
    await setEditor(fallback.recipe);
    return;
  }
  /** @type {Recipe | undefined} */
  let candidate;
  let problem = '';
  if (decoded.status === 'ok') {
    candidate = decoded.recipe;
    try {
      await engine.call('validate', { json: JSON.stringify(candidate) });
      hideNotice();
      await setEditor(candidate);
      return;
    } catch (e) {
      problem = errorText(e);
    }
  } else {
    candidate = decoded.partial;
    problem = decoded.message;
  }
  if (!candidate) {
    showNotice('warn', 'This link could not be read.', `${problem} Loaded the default preset, ${fallback.name}.`);
    await setEditor(fallback.recipe);
    return;
  }
  const validate = (/** @type {Recipe} */ r) => engine.call('validate', { json: JSON.stringify(r) });
  try {
    const salvaged = await salvageRecipe(fallback.recipe, candidate, validate);
    const kept = salvaged.kept.length ? ` Kept from the link: ${salvaged.kept.join(', ')}.` : '';
    const dropped = salvaged.dropped.length
      ? ` Replaced with ${fallback.name}'s: ${salvaged.dropped.map((d) => `${d.section} (${d.reason})`).join('; ')}.`
      : '';
    const base = salvaged.kept.length ? '' : ` Loaded the default preset, ${fallback.name}.`;
    // A format problem (decoded.message) is news; a validation error is repeated in `dropped`.
    const lead = decoded.status === 'error' || !salvaged.dropped.length ? `${problem}` : '';
    const text = `${lead}${kept}${dropped}${base}`.trim();
    showNotice('warn', 'This link\'s recipe had problems.', text, pretty(candidate));
    await setEditor(salvaged.recipe);
  } catch (e) {
    showNotice('warn', 'This link\'s recipe could not be used.', `${problem} Loaded the default preset, ${fallback.name}.`, pretty(candidate));
    await setEditor(fallback.recipe);
  }
}

// ---------------------------------------------------------------------------------------------
// Training controls

async function startOrResume() {
  if (app.status === 'training' || !app.recipe) return;
  const key = currentRunKey();
  try {
    if (!app.run || app.runKey !== key || app.status === 'done' || app.status === 'failed') {
      setStatus('creating');
      clearViews();
      app.run = null;
      const info = await engine.call('create', { json: JSON.stringify(app.recipe), csv: app.csv ?? undefined });
      app.run = info;
      app.runKey = key;
      app.grid = info.grid ?? null;
      renderBackendBadge();
      renderStats();
      scheduleDraw();
    }
    await engine.call('train');
    setStatus('training');
    setValidation('ok', '✓ Valid recipe.');
  } catch (e) {
    setStatus(app.run ? 'paused' : 'idle');
    showNotice('error', 'Training could not start.', errorText(e));
    scheduleDraw();
  }
}

async function pause() {
  if (app.status !== 'training') return;
  await engine.call('pause');
  if (app.status === 'training') setStatus('paused');
}

async function reset() {
  await engine.call('reset');
  app.run = null;
  app.runKey = '';
  clearViews();
  renderBackendBadge();
  setStatus('idle');
  if (app.recipe) setValidation('ok', '✓ Valid recipe.');
}

/** @param {any} ev an event from the worker */
function onEngineEvent(ev) {
  switch (ev.event) {
    case 'step': {
      // The engine reads the loss back only every `metrics_every` steps; keep the last one shown.
      app.lastStep = Number.isFinite(ev.loss) ? ev : { ...ev, loss: app.lastStep?.loss ?? NaN };
      app.trainMs += ev.ms;
      const x = ev.epoch + (ev.batchesPerEpoch ? ev.batch / ev.batchesPerEpoch : 0);
      if (Number.isFinite(ev.loss)) app.steps.push([x, ev.loss]);
      renderStats();
      scheduleDraw();
      break;
    }
    case 'epoch':
      app.epochs.push(ev.epochEnd);
      addEpochRow(ev.epochEnd);
      renderStats();
      scheduleDraw();
      break;
    case 'grid':
      app.grid = { data: ev.data, res: ev.res, classes: ev.classes };
      scheduleDraw();
      break;
    case 'done':
      app.report = ev.report;
      setStatus('done');
      renderStats();
      renderFinal();
      break;
    case 'failed':
      setStatus('failed');
      showNotice('error', 'Training stopped with an error.', ev.message);
      break;
    default:
      break;
  }
}

async function downloadReport() {
  const report = app.report ?? (await engine.call('report'));
  const blob = new Blob([JSON.stringify(report, null, 2)], { type: 'application/json' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `minnow-report-${ui.preset.value || 'custom'}.json`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

// ---------------------------------------------------------------------------------------------
// Wiring

function wire() {
  ui.train.addEventListener('click', startOrResume);
  ui.pause.addEventListener('click', pause);
  ui.reset.addEventListener('click', reset);
  ui.noticeClose.addEventListener('click', hideNotice);
  ui.downloadReport.addEventListener('click', downloadReport);

  ui.preset.addEventListener('change', async () => {
    const preset = app.presets.find((p) => p.name === ui.preset.value);
    if (!preset) return;
    if (app.run) await reset();
    await setEditor(preset.recipe);
  });

  ui.recipe.addEventListener('input', () => {
    clearTimeout(app.validateTimer);
    app.validateTimer = setTimeout(validateEditor, VALIDATE_DELAY_MS);
  });
  ui.recipe.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      validateEditor().then(startOrResume);
    }
  });
  ui.formatRecipe.addEventListener('click', () => {
    try {
      ui.recipe.value = pretty(JSON.parse(ui.recipe.value));
    } catch {
      // leave the text alone; the validation line already says what is wrong
    }
  });

  ui.csv.addEventListener('change', async () => {
    const file = ui.csv.files?.[0];
    app.csv = file ? await file.text() : null;
    app.csvName = file ? `${file.name}:${file.size}` : '';
    renderButtons();
  });

  ui.copyLink.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(location.href);
      ui.copyStatus.textContent = 'copied';
    } catch {
      ui.copyStatus.textContent = 'copy the address bar';
    }
    setTimeout(() => (ui.copyStatus.textContent = ''), 2000);
  });

  window.addEventListener('hashchange', () => {
    if (location.hash === app.lastHash || app.status === 'loading') return;
    loadFromHash();
  });

  const observer = new ResizeObserver(() => scheduleDraw());
  for (const canvas of [ui.lossChart, ui.accChart, ui.boundary]) observer.observe(canvas);
  matchMedia(`(resolution: ${devicePixelRatio}dppx)`).addEventListener?.('change', scheduleDraw);
}

async function main() {
  document.body.dataset.status = 'loading';
  engine.onEvent = onEngineEvent;
  engine.onCrash = (text) => {
    setStatus('broken');
    setBadge('error', 'engine unavailable', text);
    showNotice('error', 'The engine stopped.', text);
  };
  wire();
  scheduleDraw();
  try {
    const { presets } = await engine.call('init');
    app.presets = presets;
  } catch (e) {
    setStatus('broken');
    setBadge('error', 'engine unavailable', errorText(e));
    showNotice('error', 'The engine could not be loaded.', errorText(e));
    return;
  }
  renderBackendBadge();
  await loadFromHash();
  setStatus('idle');
}

main();
