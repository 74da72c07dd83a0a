// The playground page's controller: wires the DOM (preset picker, recipe editor, Train / Pause /
// Reset, stats, epoch table, charts, decision boundary, compression stages, weight views, model
// files, the compression explorer) to the training worker (www/worker.js), keeps the recipe in the
// URL fragment (www/state.js), and lends window.minnow (www/page-api.js) and the lessons
// (www/lesson-ui.js) its controller.
// `?autorun` in the address trains the link's recipe on load.
// It never runs the engine itself.
// `document.body.dataset.status` mirrors the run state for the end-to-end test.

import {
  closestPreset,
  decodeFragment,
  describeChange,
  encodeFragment,
  errorText,
  fragmentOptions,
  fragmentLesson,
  formatJson,
  isPlainObject,
  jsonErrorLocation,
  bigLiteralOf,
  keepBigIntegers,
  salvageRecipe,
  withLesson,
  showJson,
} from './state.js';
import { formatBytes, formatCount, formatLoss, formatPercent, formatRatio, formatSeconds } from './format.js';
import { drawChart } from './plot.js';
import { drawBoundary } from './boundary.js';
import { finalFigures, hitTest, honestBytes, plannedEpochs, pointAction, pointTooltip, sizePoints, stageLabel } from './compress.js';
import { histogram, matrixLayout, quantLevels, weightRange } from './weights.js';
import { drawHistogram, drawSizePlot, drawSparsityMap, drawUnitImages } from './views.js';
import { imageSide, unitImageLayout } from './weights.js';
import { loadedNotice, modelFileName, sourceRecipe } from './modelfile.js';
import { Engine } from './engine.js';
import { fileSizeProblem, offerRestart, withdrawRestart } from './engine-guard.js';
import { runningStageRow, stageDetailBlocks, stageRow } from './stage-tables.js';
import { confusionDiffTable, confusionParts, epochRow } from './run-tables.js';
import { phaseText as runPhaseText, stepPosition } from './progress.js';
import { DEFAULT_SETTING, Latest, ResultCache, appendStages, engineSetting, settingKey, settingLabel, settingStages } from './explore.js';
import { createPageApi } from './page-api.js';
import { RecipeForm, wireTabs } from './recipe-form.js';
import { initTheme, onThemeChange, palette } from './theme.js';
import { PageLayout } from './layout.js';
import { modelFromLinkText, shareLink } from './share.js';
import { LessonPanel } from './lesson-ui.js';
import { baselineText, drawStageMultiples, parityText } from './stage-multiples.js';
import { DrawMode, fromShown } from './draw.js';
import { DigitPad } from './digit-pad.js';
import { SampleStrip } from './samples.js';

/** @typedef {import('./state.js').Recipe} Recipe */
/** @typedef {import('./state.js').Preset} Preset */
/** @typedef {import('./report-types.js').EpochMetrics} EpochMetrics */
/** @typedef {import('./report-types.js').Report} Report */
/** @typedef {import('./report-types.js').StageReport} StageReport */
/** @typedef {import('./report-types.js').StageProgress} StageProgress */
/** @typedef {import('./report-types.js').LayerInfo} LayerInfo */
/** @typedef {import('./report-types.js').LayerWeights} LayerWeights */
/** @typedef {import('./protocol.js').RunInfo} RunInfo */
/** @typedef {import('./protocol.js').Grid} Grid */
/** @typedef {import('./protocol.js').WorkerEvent} WorkerEvent */
/** @typedef {import('./modelfile.js').ModelFileInfo} ModelFileInfo */
/** @typedef {import('./report-types.js').ExploreSetting} ExploreSetting */
/** @typedef {import('./engine-api.js').ExploreOutcome} ExploreResult */
/** @typedef {import('./engine-api.js').StageGrid} StageGrid */
/** `loaded`: a run made from a model file, not trained yet in this page (Train continues it).
 * @typedef {'loading' | 'idle' | 'creating' | 'loaded' | 'training' | 'paused' | 'done' | 'failed' | 'broken'} Status */

/** Validation waits this long after the last keystroke. */
const VALIDATE_DELAY_MS = 200;
/** At most this often a new read of the shown layer's weights while training. */
const WEIGHTS_EVERY_MS = 700;
/** Bins of the weight histogram. */
const HIST_BINS = 60;

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
  noticeSummary: byId('notice-summary'),
  noticeRaw: byId('notice-raw'),
  noticeClose: byId('notice-close'),
  preset: /** @type {HTMLSelectElement} */ (byId('preset')),
  presetDescription: byId('preset-description'),
  train: /** @type {HTMLButtonElement} */ (byId('train')),
  pause: /** @type {HTMLButtonElement} */ (byId('pause')),
  reset: /** @type {HTMLButtonElement} */ (byId('reset')),
  step: /** @type {HTMLButtonElement} */ (byId('step')),
  speed: /** @type {HTMLSelectElement} */ (byId('speed')),
  batchCounter: byId('batch-counter'),
  progressBar: byId('progress-bar'),
  progress: byId('progress'),
  phase: byId('phase'),
  phaseAnnounce: byId('phase-announce'),
  statEpoch: byId('stat-epoch'),
  statLoss: byId('stat-loss'),
  statTrainAcc: byId('stat-train-acc'),
  statTestAcc: byId('stat-test-acc'),
  statTime: byId('stat-time'),
  statModel: byId('stat-model'),
  recipe: /** @type {HTMLTextAreaElement} */ (byId('recipe')),
  buildPanel: byId('build-panel'),
  recipeTabs: /** @type {HTMLElement} */ (byId('tab-build').parentElement),
  formatRecipe: /** @type {HTMLButtonElement} */ (byId('format-recipe')),
  validation: byId('validation'),
  recipeDiff: byId('recipe-diff'),
  csv: /** @type {HTMLInputElement} */ (byId('csv')),
  modelFile: /** @type {HTMLInputElement} */ (byId('model-file')),
  copyLink: /** @type {HTMLButtonElement} */ (byId('copy-link')),
  shareModel: /** @type {HTMLButtonElement} */ (byId('share-model')),
  themeToggle: /** @type {HTMLButtonElement} */ (byId('theme-toggle')),
  copyStatus: byId('copy-status'),
  lossChart: /** @type {HTMLCanvasElement} */ (byId('loss-chart')),
  accChart: /** @type {HTMLCanvasElement} */ (byId('acc-chart')),
  boundaryCard: byId('boundary-card'),
  boundary: /** @type {HTMLCanvasElement} */ (byId('boundary')),
  boundaryTitle: byId('boundary-title'),
  boundarySub: byId('boundary-sub'),
  epochsBody: /** @type {HTMLTableSectionElement} */ (byId('epochs').querySelector('tbody')),
  epochsEmpty: byId('epochs-empty'),
  downloadReport: /** @type {HTMLButtonElement} */ (byId('download-report')),
  downloadModel: /** @type {HTMLButtonElement} */ (byId('download-model')),
  stagesCard: byId('stages-card'),
  stagesNote: byId('stages-note'),
  stagesBody: /** @type {HTMLTableSectionElement} */ (byId('stages').querySelector('tbody')),
  stagesEmpty: byId('stages-empty'),
  weightsCard: byId('weights-card'),
  layerSelect: /** @type {HTMLSelectElement} */ (byId('layer-select')),
  weightHist: /** @type {HTMLCanvasElement} */ (byId('weight-hist')),
  sparsityMap: /** @type {HTMLCanvasElement} */ (byId('sparsity-map')),
  gridLegend: byId('grid-legend'),
  weightsNote: byId('weights-note'),
  filtersCard: byId('filters-card'),
  filtersTitle: byId('filters-title'),
  unitImages: /** @type {HTMLCanvasElement} */ (byId('unit-images')),
  filtersNote: byId('filters-note'),
  compressRow: byId('compress-row'),
  sizeChart: /** @type {HTMLCanvasElement} */ (byId('size-chart')),
  sizeTip: byId('size-tip'),
  sizeNote: byId('size-note'),
  sweepLegend: byId('sweep-legend'),
  detailsCard: byId('details-card'),
  stageDetails: byId('stage-details'),
  finalCard: byId('final-card'),
  finalSummary: byId('final-summary'),
  confusion: byId('confusion'),
  exploreCard: byId('explore-card'),
  exSparsity: /** @type {HTMLInputElement} */ (byId('ex-sparsity')),
  exSparsityValue: /** @type {HTMLOutputElement} */ (byId('ex-sparsity-value')),
  exMethod: /** @type {HTMLSelectElement} */ (byId('ex-method')),
  exBits: /** @type {HTMLSelectElement} */ (byId('ex-bits')),
  exScheme: /** @type {HTMLSelectElement} */ (byId('ex-scheme')),
  exGranularity: /** @type {HTMLSelectElement} */ (byId('ex-granularity')),
  exReadout: byId('ex-readout'),
  exViews: byId('ex-views'),
  exBoundary: /** @type {HTMLCanvasElement} */ (byId('ex-boundary')),
  exBoundaryDense: /** @type {HTMLCanvasElement} */ (byId('ex-boundary-dense')),
  exBoundaryCap: byId('ex-boundary-cap'),
  exBoundaryDenseCap: byId('ex-boundary-dense-cap'),
  exConfusionBox: byId('ex-confusion-box'),
  exConfusion: byId('ex-confusion'),
  exAcc: byId('ex-acc'),
  exAccDense: byId('ex-acc-dense'),
  exAccBar: byId('ex-acc-bar'),
  exDenseMark: byId('ex-dense-mark'),
  exBytes: byId('ex-bytes'),
  exBytesDense: byId('ex-bytes-dense'),
  exRatio: byId('ex-ratio'),
  exAchieved: byId('ex-achieved'),
  exKeep: /** @type {HTMLButtonElement} */ (byId('ex-keep')),
  exBaseline: byId('ex-baseline'),
  exStagesBox: byId('ex-stages-box'),
  exStages: byId('ex-stages'),
  parity: byId('parity-readout'),
  exStatus: byId('ex-status'),
};

// ---------------------------------------------------------------------------------------------
// State

const app = {
  /** @type {Status} */
  status: 'loading',
  /** @type {Preset[]} */
  presets: [],
  /** The last editor content that parsed and validated, or null. @type {Recipe | null} */
  recipe: null,
  /** `recipe`'s JSON text as the editor held it (minified, numbers as written): what the engine
   * and the link get, since JSON.parse rounds integers above 2^53. */
  recipeText: '',
  /** @type {string | null} CSV text picked by the user */
  csv: null,
  /** The largest files the engine takes (from `init`). @type {import('./engine-api.js').Limits | undefined} */
  limits: undefined,
  csvName: '',
  /** Identity (recipe JSON + CSV name) of the live run; a different one means "train anew". */
  runKey: '',
  /** @type {RunInfo | null} */
  run: null,
  /** Loss per step call, as [epoch position, loss]. @type {[number, number][]} */
  steps: [],
  /** @type {EpochMetrics[]} */
  epochs: [],
  /** @type {Grid | null} */
  grid: null,
  /** @type {{epoch: number, batch: number, batchesPerEpoch: number, loss: number} | null} */
  lastStep: null,
  trainMs: 0,
  /** Mini-batches trained in this run (the step counter). */
  batchesDone: 0,
  /** A single step in flight. */
  stepping: false,
  /** What the user asked while a run was being made (Reset, Pause), done once it exists. @type {'reset' | 'pause' | null} */
  startCancel: null,
  /** The worker's `create` in flight. @type {Promise<unknown> | null} */
  creating: null,
  /** A run control (Train, Pause, Step, Reset) had the focus last, so it follows the run's status. */
  runControlFocused: false,
  /** @type {Report | null} final report */
  report: null,
  /** The model file the live run was opened from (until it is reset or replaced): its name, what
   * the file holds and the run's report as opened. @type {{name: string, file: ModelFileInfo, report: Report | null} | null} */
  loaded: null,
  /** A model file is being opened. */
  opening: false,
  /** Epochs the recipe trains, stages included (the x axis' length). */
  planned: 0,
  /** @type {StageProgress | null} the stage running now */
  stage: null,
  /** @type {StageReport[]} finished stages' reports */
  stageReports: [],
  /** Where each stage starts on the epoch axis (stages that start together share a mark,
   * `first`..`index`). @type {{x: number, label: string, index: number, first: number}[]} */
  marks: [],
  /** @type {LayerInfo[]} */
  layers: [],
  /** Name of the layer shown in the weight views. */
  layerName: '',
  /** @type {LayerWeights | null} */
  weights: null,
  /** @type {LayerWeights | null} the first layer's weights, when they read as images */
  firstWeights: null,
  /** @type {{key: string, bounds: [number, number, number, number], points: {x: Float32Array, y: Uint32Array}} | null}
   * the 2-D points of the editor's recipe before a run exists */
  preview: null,
  previewKey: '',
  /** The dataset of the live run's recipe (for the image side of the filter view). */
  datasetName: /** @type {string | undefined} */ (undefined),
  weightsBusy: false,
  weightsAgain: false,
  weightsAt: 0,
  /** The fragment this page wrote last; a hashchange to anything else is a new link. */
  lastHash: '',
  /** The `m=` text of the link the live run's model came from (www/share.js); the link keeps it
   * until the run trains or is replaced. @type {string | null} */
  linkModel: null,
  validateSeq: 0,
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  validateTimer: undefined,
  /** The decision grid as trained and after each finished stage (2-D runs with stages). @type {StageGrid[]} */
  stageGrids: [],
  /** `minnow.train()` calls waiting for the run to finish. @type {{resolve: (r: Report) => void, reject: (e: Error) => void}[]} */
  trainWaiters: [],
  /** The compression explorer (the Explore card). */
  ex: {
    /** Whether it is live: a trained model that is not training. */
    active: false,
    /** Bumped whenever the model under it changes; older results are dropped. */
    gen: 0,
    /** The setting shown (the controls show it rounded). @type {ExploreSetting} */
    setting: { ...DEFAULT_SETTING },
    /** The model as trained (sparsity 0, float): the reference numbers. @type {ExploreResult | null} */
    dense: null,
    /** @type {ExploreResult | null} */
    result: null,
    /** @type {string} an error for the shown setting */
    error: '',
    /** @type {ResultCache<ExploreResult>} */
    cache: new ResultCache(),
  },
};

const engine = new Engine(new URL('./worker.js', import.meta.url));

/** Embed mode, the small-screen layout and the progress announcements (www/layout.js). */
const layout = new PageLayout();

/** The Build tab: the recipe as controls, synced with the JSON editor through `validateEditor`. */
const form = new RecipeForm(ui.buildPanel, {
  onChange: (recipe, typed) => {
    // Choosing `drawn` in the Build panel opens Draw mode on the data plot.
    if (recipe.dataset?.name === 'drawn' && app.recipe?.dataset?.name !== 'drawn') drawMode.setActive(true);
    ui.recipe.value = keepBigIntegers(pretty(recipe), ui.recipe.value, typed);
    validateEditor();
  },
  csvFeatures: () => csvFeatureCount(app.csv),
  shownPoints: () => {
    const shown = shownData();
    return shown ? fromShown(shown) : null;
  },
  bigLiteral: (value) => bigLiteralOf(ui.recipe.value, value),
});

/** The 2-D points the data plot shows: the live run's training points, else the recipe's preview. */
function shownData() {
  return app.run?.is2d && app.run.points ? app.run.points : app.preview?.points ?? null;
}

/** Draw mode of the 2-D data plot: the drawn points become the recipe's `drawn` dataset. */
const drawMode = new DrawMode(
  {
    canvas: ui.boundary,
    toggle: /** @type {HTMLButtonElement} */ (byId('draw-toggle')),
    edit: /** @type {HTMLButtonElement} */ (byId('draw-edit')),
    tools: byId('draw-tools'),
    palette: byId('draw-palette'),
    erase: /** @type {HTMLButtonElement} */ (byId('draw-erase')),
    clear: /** @type {HTMLButtonElement} */ (byId('draw-clear')),
    count: byId('draw-count'),
  },
  {
    onPoints: (dataset) => {
      const base = app.recipe ?? drawBase;
      if (base) setEditor({ ...base, dataset: { ...dataset, test_fraction: base.dataset?.test_fraction ?? 0.2 } });
    },
    shownPoints: shownData,
    runGrid: () => (app.run?.is2d && app.run.bounds && app.grid && app.runKey === currentRunKey() ? { bounds: app.run.bounds, grid: app.grid } : null),
    redraw: () => scheduleDraw(),
  },
);
/** The last recipe that validated: what drawn points go into while the editor's is invalid. @type {Recipe | null} */
let drawBase = null;

/** "Draw a digit": the trained digit model's probabilities for a drawing. */
const digitPad = new DigitPad(
  {
    card: byId('digit-card'),
    pad: /** @type {HTMLCanvasElement} */ (byId('digit-pad')),
    seen: /** @type {HTMLCanvasElement} */ (byId('digit-seen')),
    clear: /** @type {HTMLButtonElement} */ (byId('digit-clear')),
    probs: byId('digit-probs'),
    status: byId('digit-status'),
  },
  {
    predict: (inputs) => engine.call('predict', { inputs, setting: engineSetting(app.ex.setting) }),
    settingLabel: () => settingLabel(app.ex.setting),
    hasStages: () => app.stageReports.length > 0,
  },
);

/** The data before Train: sample images of an image dataset. */
const sampleStrip = new SampleStrip(
  { card: byId('samples-card'), strip: byId('samples-strip'), caption: byId('samples-caption') },
  (json) => engine.call('samples', { json, perClass: 2 }),
);

/**
 * Feature columns of a CSV text (its columns less the label), from its first line; null without one.
 * @param {string | null} text
 */
function csvFeatureCount(text) {
  if (!text) return null;
  const first = text.slice(0, text.indexOf('\n') >>> 0).trim();
  const columns = first.split(',').length;
  return columns > 1 ? columns - 1 : null;
}

/** @param {Status} status */
function setStatus(status) {
  app.status = status;
  document.body.dataset.status = status;
  renderButtons();
  keepFocus();
  renderStats();
  syncExplorer();
  digitPad.sync(app.datasetName, exploreProblem() === '');
}

/**
 * Keeps the keyboard focus on a run control when the one that had it was disabled (Train while the
 * run starts and trains, Pause once it stops): to Pause while training, else back to Train.
 */
function keepFocus() {
  const active = document.activeElement;
  const runControls = [ui.train, ui.pause, ui.step, ui.reset];
  const lost = !active || active === document.body
    || (active instanceof HTMLButtonElement && active.disabled && runControls.includes(active));
  if (!lost || !app.runControlFocused) return;
  const target = app.status === 'training' || app.status === 'creating' ? ui.pause : [ui.train, ui.step].find((b) => !b.disabled);
  if (target && !target.disabled) target.focus();
}

// ---------------------------------------------------------------------------------------------
// Rendering

function renderButtons() {
  const s = app.status;
  const busy = s === 'loading' || s === 'creating' || s === 'broken' || app.opening;
  const resumable = s === 'paused' && app.run !== null && app.runKey === currentRunKey();
  ui.train.disabled = busy || s === 'training' || app.recipe === null;
  ui.train.textContent = resumable ? 'Resume' : s === 'done' ? 'Train again' : s === 'creating' ? 'Starting…' : 'Train';
  ui.train.title = s === 'loaded' && app.runKey === currentRunKey()
    ? 'Continue training from the weights of the opened model file'
    : app.recipe === null && ui.validation.dataset.state === 'bad' ? `Fix the recipe first: ${ui.validation.textContent}` : '';
  const starting = s === 'creating' && app.startCancel === null;
  ui.pause.disabled = !(s === 'training' || (starting && !app.stepping));
  ui.step.disabled = busy || s === 'training' || app.recipe === null || app.stepping;
  ui.reset.disabled = starting ? false : busy || app.run === null;
  ui.preset.disabled = s === 'loading' || s === 'broken' || app.opening;
  ui.downloadReport.disabled = app.run === null || s === 'creating';
  ui.downloadModel.disabled = app.run === null || busy || s === 'training';
  ui.modelFile.disabled = busy || s === 'training';
  ui.shareModel.disabled = app.run === null || busy || !['done', 'paused', 'loaded'].includes(s);
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
  if (run.backend === 'gpu') {
    const adapter = run.adapter || 'WebGPU';
    setBadge('gpu', `gpu · ${adapter}`, `Training on the GPU through WebGPU: ${adapter}`);
  }
  else if (run.backendNote) setBadge('fallback', `cpu · ${run.backendNote}`, `Fell back to the CPU: ${run.backendNote}`);
  else setBadge('cpu', 'cpu · wasm SIMD', 'Training on the CPU (WebAssembly with SIMD)');
}

/**
 * @param {'info' | 'warn' | 'error'} kind
 * @param {string} title
 * @param {string} text
 * @param {string} [raw] original recipe text to show under a disclosure
 * @param {string} [rawLabel] the disclosure's label
 */
function showNotice(kind, title, text, raw, rawLabel = 'The link\'s recipe') {
  ui.notice.dataset.kind = kind;
  ui.noticeTitle.textContent = title;
  ui.noticeText.textContent = text;
  ui.noticeDetails.hidden = !raw;
  ui.noticeDetails.open = false;
  ui.noticeSummary.textContent = rawLabel;
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
  const position = stepPosition(last);
  const total = Math.max(app.planned || run?.totalEpochs || 0, Math.ceil(position));
  const done = app.status === 'done';
  ui.statEpoch.textContent = run ? `${app.epochs.length} / ${total}` : '–';
  ui.statLoss.textContent = formatLoss(last?.loss);
  ui.statLoss.dataset.value = last ? String(last.loss) : '';
  ui.statTrainAcc.textContent = formatPercent(lastEpoch?.train_accuracy);
  // A finished run: the model it ends with (after its last stage), as the Result card says; before
  // any epoch of a run opened from a file: the file's model as evaluated when opened.
  const ended = done && app.report?.final ? finalFigures(app.report, app.stageReports) : null;
  const testAcc = ended?.testAccuracy ?? (lastEpoch ? lastEpoch.test_accuracy : app.loaded?.report?.final?.test_accuracy);
  ui.statTestAcc.textContent = formatPercent(testAcc);
  ui.statTestAcc.dataset.value = testAcc !== undefined && Number.isFinite(testAcc) ? String(testAcc) : '';
  ui.statTestAcc.title = ended?.compressed ? `the final model; ${formatPercent(ended.denseAccuracy)} dense, before compression` : '';
  ui.statTime.textContent = app.trainMs ? formatSeconds(app.trainMs / 1000) : '–';
  const model = run?.report?.model;
  const compressed = finalFigures(null, app.stageReports).bytes;
  if (model && compressed !== undefined) {
    ui.statModel.textContent = formatBytes(compressed);
    ui.statModel.dataset.value = String(compressed);
    ui.statModel.title = `${formatBytes(model.bytes)} dense → ${formatBytes(compressed)} after stage ${app.stageReports.length}`;
  } else {
    ui.statModel.textContent = model ? formatBytes(model.bytes) : '–';
    ui.statModel.dataset.value = model ? String(model.bytes) : '';
    ui.statModel.title = model ? `${formatCount(model.params)} parameters, ${formatBytes(model.bytes)}` : '';
  }
  const fraction = total ? Math.min(1, done ? 1 : position / total) : 0;
  ui.progressBar.style.width = `${(fraction * 100).toFixed(2)}%`;
  ui.phase.textContent = phaseText(position);
  layout.renderProgress(ui.progress, ui.phaseAnnounce, { fraction, text: ui.phase.textContent, status: app.status, stage: app.stage?.index ?? null, position, total: app.run?.totalEpochs ?? total });
  ui.batchCounter.dataset.batches = String(app.batchesDone);
  ui.batchCounter.textContent = last && run
    ? `${formatCount(app.batchesDone)} batches · epoch ${last.epoch + 1}, batch ${last.batch} / ${last.batchesPerEpoch}`
    : '';
}

/** @param {number} position */
function phaseText(position) {
  return runPhaseText({
    status: app.status,
    stages: app.recipe?.compression?.length ?? 0,
    initialEpochs: app.run && app.status !== 'creating' ? app.run.totalEpochs : null,
    loadedName: app.loaded?.name,
    stage: app.stage,
    position,
  });
}

/** @param {EpochMetrics} e */
function addEpochRow(e) {
  ui.epochsBody.querySelector('tr.latest')?.classList.remove('latest');
  ui.epochsBody.prepend(epochRow(e, app.stage)); // newest first: the table never jumps while it grows
  ui.epochsEmpty.hidden = true;
}

function clearViews() {
  app.steps = [];
  app.epochs = [];
  app.grid = null;
  app.lastStep = null;
  app.trainMs = 0;
  app.batchesDone = 0;
  app.report = null;
  app.loaded = null;
  app.stage = null;
  app.stageReports = [];
  app.marks = [];
  app.layers = [];
  app.weights = null;
  app.firstWeights = null;
  app.stageGrids = [];
  ui.parity.hidden = true;
  ui.parity.textContent = '';
  ui.epochsBody.replaceChildren();
  ui.epochsEmpty.hidden = false;
  ui.finalCard.hidden = true;
  renderStages();
  renderLayerSelect();
  renderStats();
  scheduleDraw();
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
  const seen = Math.max(stepPosition(app.lastStep), app.epochs.at(-1)?.epoch ?? 0);
  const total = Math.max(app.planned || app.run?.totalEpochs || 0, seen);
  /** @type {[number, number] | undefined} */
  const xDomain = total ? [0, total] : undefined;
  const marks = app.marks;
  const empty = app.status === 'creating' ? 'starting…' : app.status === 'loaded' ? 'weights from the file · press Train to continue' : 'press Train to start';
  drawChart(ui.lossChart, {
    series: [
      { label: 'per step', color: palette().loss, points: app.steps },
      { label: 'epoch mean', color: palette().epoch, points: app.epochs.map((e) => [e.epoch, e.train_loss]), markers: true },
    ],
    xDomain,
    yIncludesZero: true,
    xLabel: 'epoch',
    empty,
    marks,
  });
  drawChart(ui.accChart, {
    series: [
      { label: 'train', color: palette().train, points: app.epochs.map((e) => [e.epoch, e.train_accuracy]), markers: true },
      { label: 'test', color: palette().test, points: app.epochs.map((e) => [e.epoch, e.test_accuracy]), markers: true, dashed: true },
    ],
    xDomain,
    yDomain: [0, 1],
    yFormat: (v) => `${Math.round(v * 100)}%`,
    xLabel: 'epoch',
    empty,
    marks,
  });
  const run = app.run;
  const preview = !run && app.preview && app.preview.key === app.previewKey ? app.preview : null;
  ui.boundaryCard.hidden = !(run && run.is2d && run.bounds && run.points) && !preview && !drawMode.active;
  ui.boundaryCard.dataset.preview = preview ? 'true' : 'false';
  ui.boundaryTitle.textContent = preview ? 'The data' : 'Decision boundary';
  ui.boundarySub.textContent = preview ? 'training points by class, before training' : 'dots: training points';
  if (drawMode.active) {
    ui.boundaryTitle.textContent = 'Draw your own points';
    ui.boundarySub.textContent = app.grid && run && app.runKey === currentRunKey() ? 'the last run\'s boundary beneath' : 'Train trains on them';
    drawMode.render();
  } else if (run && run.is2d && run.bounds && run.points) {
    drawBoundary(ui.boundary, { bounds: run.bounds, points: run.points, grid: app.grid });
  } else if (preview) {
    drawBoundary(ui.boundary, { bounds: preview.bounds, points: preview.points, grid: null });
  }
  drawWeights();
  drawFilters();
  const hasStages = (app.recipe?.compression?.length ?? 0) > 0 || app.stageReports.length > 0;
  ui.compressRow.hidden = !(run && hasStages);
  if (!ui.compressRow.hidden) {
    drawSizeView();
  }
}

/** The size plot, the hovered point ringed; remembers where the points went for hit-testing. */
function drawSizeView() {
  const points = sizePoints(app.stageReports);
  ui.sweepLegend.hidden = !points.some((p) => p.kind === 'sweep');
  const xy = drawSizePlot(ui.sizeChart, {
    points,
    colors: { front: palette().front, stage: palette().accent, sweep: palette().sweep, baseline: palette().epoch },
    highlight: sizeHover.index,
  });
  sizeHover.points = points;
  sizeHover.xy = xy;
  // Where the points are, for scripts and the end-to-end test: [x, y, kind] in CSS pixels.
  ui.sizeChart.dataset.points = JSON.stringify(xy.map((q, i) => [Math.round(q.x), Math.round(q.y), points[i].kind]));
}

/** @type {{points: import('./compress.js').SizePoint[], xy: {x: number, y: number}[], index: number}} */
const sizeHover = { points: [], xy: [], index: -1 };

/** @param {MouseEvent} ev @returns {number} the size-plot point under the mouse, or -1 */
function sizePointAt(ev) {
  const r = ui.sizeChart.getBoundingClientRect();
  return hitTest(ev.clientX - r.left, ev.clientY - r.top, sizeHover.xy, 9);
}

/** @param {MouseEvent} ev */
function onSizeHover(ev) {
  const i = sizePointAt(ev);
  if (i !== sizeHover.index) {
    sizeHover.index = i;
    drawSizeView();
  }
  const p = sizeHover.points[i];
  ui.sizeChart.classList.toggle('pointing', !!p && pointAction(p, app.stageReports) !== null);
  if (!p) {
    ui.sizeTip.hidden = true;
    return;
  }
  ui.sizeTip.textContent = pointTooltip(p, pointAction(p, app.stageReports)).join('\n');
  ui.sizeTip.hidden = false;
  const { x, y } = sizeHover.xy[i];
  const w = ui.sizeChart.clientWidth;
  const tipW = ui.sizeTip.offsetWidth;
  ui.sizeTip.style.left = `${Math.max(0, Math.min(w - tipW, x + 12))}px`;
  // Above the point when it fits, else below it, so the tip never hides the point itself.
  const above = y - ui.sizeTip.offsetHeight - 10;
  ui.sizeTip.style.top = `${above >= 0 ? above : y + 12}px`;
}

function onSizeLeave() {
  ui.sizeTip.hidden = true;
  if (sizeHover.index !== -1) {
    sizeHover.index = -1;
    drawSizeView();
  }
}

/**
 * A click on a size-plot point: the explorer moves to its setting, or its stages replace the sweep
 * in the recipe (editor and URL; the next Train runs them).
 * @param {MouseEvent} ev
 */
async function onSizeClick(ev) {
  const i = sizePointAt(ev);
  const p = sizeHover.points[i];
  const action = p ? pointAction(p, app.stageReports) : null;
  if (!p || !action) return;
  if (action.kind === 'explore') {
    if (!app.ex.active) {
      ui.sizeNote.textContent = `${p.label}: ${exploreProblem() || 'the explorer is not available now'}.`;
      return;
    }
    app.ex.setting = { ...action.setting };
    writeExploreControls();
    requestExplore();
    ui.sizeNote.textContent = `Explore shows ${p.label}.`;
    ui.exploreCard.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    return;
  }
  if (!app.recipe) return;
  const recipe = structuredClone(app.recipe);
  const stages = Array.isArray(recipe.compression) ? recipe.compression : [];
  if (action.index < 0 || action.index >= stages.length || stages[action.index]?.kind !== 'sweep') {
    ui.sizeNote.textContent = `${p.label}: the recipe no longer has that sweep at stage ${action.index + 1}.`;
    return;
  }
  stages.splice(action.index, 1, .../** @type {any[]} */ (action.stages));
  await setEditor(recipe);
  ui.sizeNote.textContent = `The recipe now runs ${p.label} in place of the sweep: press Train to run it.`;
}

/** The first layer as one image per hidden unit (image models) or conv filter. */
function drawFilters() {
  const explored = exploredWeight(app.firstWeights?.name);
  const w = explored ?? app.firstWeights;
  const layout = w ? unitImageLayout(w, imageSide(app.datasetName)) : null;
  ui.filtersCard.hidden = !app.run || !w || !layout;
  if (ui.filtersCard.hidden || !w || !layout) return;
  ui.filtersTitle.textContent = layout.conv ? `First conv layer: its ${layout.w}×${layout.h} filters` : 'First layer: what each hidden unit looks for';
  const drawn = drawUnitImages(ui.unitImages, { values: w.values, mask: w.mask, layout });
  const shown = layout.units < layout.total ? `the first ${layout.units} of ${layout.total}` : `all ${layout.total}`;
  const what = layout.conv ? `filters of ${w.name}${w.shape[1] > 1 ? ' (input channel 1)' : ''}` : `hidden units of ${w.name}, each its ${layout.w}×${layout.h} incoming weights laid out like the input image`;
  const source = explored ? ` In the explorer's setting (${settingLabel(app.ex.setting)}): pruned weights grey.` : '';
  ui.filtersNote.textContent = `${shown} ${what}; colour scale ±${drawn ? drawn.scale.toPrecision(2) : '?'}.${source}`;
}

/** The histogram and sparsity map of the chosen layer, from the last weights read. */
function drawWeights() {
  ui.weightsCard.hidden = !app.run;
  if (ui.weightsCard.hidden) return;
  const explored = exploredWeight(app.layerName);
  const w = explored ?? app.weights;
  if (!w) {
    drawHistogram(ui.weightHist, { hist: null, empty: app.status === 'creating' ? 'starting…' : 'reading weights…' });
    drawSparsityMap(ui.sparsityMap, null);
    ui.weightsNote.textContent = '';
    ui.gridLegend.hidden = true;
    return;
  }
  const levels = quantLevels(w.quant);
  const range = weightRange(w.values, w.mask, levels);
  const hist = histogram(w.values, w.mask, HIST_BINS, range);
  drawHistogram(ui.weightHist, { hist, levels });
  const layout = matrixLayout(w.shape);
  drawSparsityMap(ui.sparsityMap, { values: w.values, mask: w.mask, layout });
  ui.gridLegend.hidden = levels.length === 0;
  const zeros = hist.pruned;
  const n = w.values.length;
  const map = layout.tiled
    ? `filters down, input channels across (${w.shape[2]}×${w.shape[3]} tiles)`
    : layout.transposed
      ? 'units across, inputs down'
      : 'units down, inputs across';
  const quant = w.quant
    ? ` · ${w.quant.bits ?? '?'}-bit grid${w.quant.per_channel ? `, per channel (${Array.isArray(w.quant.scale) ? w.quant.scale.length : '?'} scales; channel 0 drawn)` : ', per tensor'}`
    : '';
  const source = explored ? `Explorer (${settingLabel(app.ex.setting)}): ` : '';
  ui.weightsNote.textContent = `${source}${w.name} · ${w.kind} [${w.shape.join(' × ')}] · ${formatCount(n)} weights, ${formatPercent(zeros / Math.max(1, n))} pruned${quant} · map: ${map}.`;
  ui.weightsCard.dataset.source = explored ? 'explorer' : 'run';
}

function renderLayerSelect() {
  const names = app.layers.map((l) => l.name);
  const current = [...ui.layerSelect.options].map((o) => o.value);
  if (names.join() !== current.join()) {
    ui.layerSelect.replaceChildren(
      ...app.layers.map((l) => new Option(`${l.name} · ${l.kind} ${l.shape.join('×')}`, l.name)),
    );
  } else {
    // Shapes shrink after a structured stage: keep the labels current.
    app.layers.forEach((l, i) => (ui.layerSelect.options[i].text = `${l.name} · ${l.kind} ${l.shape.join('×')}`));
  }
  if (app.layerName && names.includes(app.layerName)) ui.layerSelect.value = app.layerName;
}

/**
 * Reads the chosen layer's weights from the worker; at most one read in flight, and while training
 * at most one every WEIGHTS_EVERY_MS unless `now`.
 * @param {boolean} [now]
 */
async function refreshWeights(now = false) {
  if (!app.run) return;
  if (app.weightsBusy) {
    app.weightsAgain = true;
    return;
  }
  if (!now && performance.now() - app.weightsAt < WEIGHTS_EVERY_MS) return;
  app.weightsBusy = true;
  const run = app.run;
  try {
    const r = await engine.call('weights', { name: app.layerName });
    if (run !== app.run || !r) return;
    app.layers = r.layers ?? [];
    app.weights = r.weights ?? null;
    if (app.weights) app.layerName = app.weights.name;
    const first = app.layers[0];
    if (first && unitImageLayout(first, imageSide(app.datasetName))) {
      if (app.weights?.name === first.name) app.firstWeights = app.weights;
      else {
        const f = await engine.call('weights', { name: first.name });
        if (run !== app.run) return;
        app.firstWeights = f?.weights?.name === first.name ? f.weights : null;
      }
    } else app.firstWeights = null;
    renderLayerSelect();
    scheduleDraw();
  } catch (e) {
    ui.weightsNote.textContent = `Could not read the weights: ${errorText(e)}`;
  } finally {
    app.weightsAt = performance.now();
    app.weightsBusy = false;
    if (app.weightsAgain) {
      app.weightsAgain = false;
      refreshWeights(true);
    }
  }
}

/** The Stages card: one row per finished stage, plus the running one. */
function renderStages() {
  const stages = app.recipe?.compression ?? [];
  ui.stagesCard.hidden = !(app.run && (stages.length || app.stageReports.length));
  ui.stagesBody.replaceChildren();
  for (const r of app.stageReports) ui.stagesBody.append(stageRow(r));
  const running = app.stage;
  if (running && app.status !== 'done' && !app.stageReports.some((r) => r.index === running.index)) {
    ui.stagesBody.append(runningStageRow(running));
  }
  ui.stagesEmpty.hidden = ui.stagesBody.childElementCount > 0;
  const first = app.stageReports[0];
  const last = app.stageReports.at(-1);
  if (first && last && Number.isFinite(last.compression_ratio)) {
    const dense = /** @type {number} */ (first.compression_ratio) * /** @type {number} */ (honestBytes(first.bytes));
    ui.stagesNote.textContent = `dense ${formatBytes(dense)} → ${formatBytes(honestBytes(last.bytes))} (${formatRatio(last.compression_ratio)})`;
  } else {
    ui.stagesNote.textContent = stages.length ? `${stages.length} stage${stages.length === 1 ? '' : 's'} after the training` : '';
  }
  ui.stageDetails.replaceChildren(...stageDetailBlocks(app.stageReports));
  ui.detailsCard.hidden = ui.stageDetails.childElementCount === 0;
}

/** The Result card: the finished run's report, or the report of a model file as opened. */
function renderFinal() {
  const fromFile = !app.report && app.loaded ? app.loaded : null;
  const report = app.report ?? fromFile?.report;
  const final = report?.final;
  if (!final) {
    ui.finalCard.hidden = true;
    return;
  }
  const model = report.model ?? {};
  // The model the run ends with (after its stages), the dense one beside it.
  const fig = finalFigures(report, app.report ? app.stageReports : (report.stages ?? []));
  ui.finalSummary.dataset.testAccuracy = String(final.test_accuracy);
  ui.finalSummary.dataset.bytes = fig.bytes !== undefined ? String(fig.bytes) : '';
  ui.finalSummary.textContent = [
    fig.compressed
      ? `Test accuracy ${formatPercent(final.test_accuracy)} (dense ${formatPercent(fig.denseAccuracy)})`
      : `Test accuracy ${formatPercent(final.test_accuracy)}`,
    fig.compressed && fig.bytes !== undefined ? `size ${formatBytes(fig.bytes)} (dense ${formatBytes(model.bytes)})` : '',
    Number.isFinite(final.train_loss) ? `${fig.compressed ? 'last training epoch\'s loss' : 'final train loss'} ${formatLoss(final.train_loss)}` : '',
    model.params !== undefined ? `${formatCount(model.params)} parameters${fig.compressed ? '' : ` (${formatBytes(model.bytes)})`}` : '',
    `on the ${report.backend ?? app.run?.backend ?? '?'} backend`,
    fromFile ? `weights from ${fromFile.name}` : '',
  ]
    .filter(Boolean)
    .join(' · ');
  renderConfusion(final.confusion);
  ui.finalCard.hidden = false;
}

/** @param {unknown} matrix confusion[true][predicted] counts */
function renderConfusion(matrix) {
  ui.confusion.replaceChildren(...confusionParts(matrix));
}

// ---------------------------------------------------------------------------------------------
// The compression explorer: the trained model pruned and quantized on the spot (Run.explore in the
// worker), live while the run is done, paused or opened from a file. One request in flight, the
// newest setting wins (`Latest`); results are cached per setting until the model changes.

/** Statuses in which the live run holds a trained model that is not changing. */
const EXPLORABLE = new Set(['done', 'paused', 'loaded']);

/** Why there is nothing to explore now, or '' when there is. */
function exploreProblem() {
  if (app.status === 'training' || app.status === 'creating') return 'the model is training: pause or wait for the run to finish, then explore';
  if (!app.run || !EXPLORABLE.has(app.status)) return 'no trained model: train one (minnow.train()) or open a model file first';
  return '';
}

/**
 * Asks the worker (or the cache) for a setting's numbers.
 * @param {ExploreSetting} setting
 * @returns {Promise<ExploreResult>}
 */
async function exploreResult(setting) {
  const weights = exploreWeightNames();
  const cached = app.ex.cache.get(setting);
  if (cached && weights.every((n) => cached.weights?.some((w) => w.name === n))) return cached;
  const gen = app.ex.gen;
  const r = await engine.call('explore', { setting: engineSetting(setting), grid: EXPLORE_GRID_RES, weights });
  if (gen === app.ex.gen) app.ex.cache.set(setting, r);
  return r;
}

/** The weights the views draw (the Weights card's layer, the first layer's unit images). */
function exploreWeightNames() {
  const names = [app.layerName, app.firstWeights?.name].filter((n) => typeof n === 'string' && n !== '');
  return /** @type {string[]} */ ([...new Set(names)]);
}

/**
 * The weight `name` as the explorer's setting leaves it, while the explorer is away from its
 * neutral setting and has measured that setting; null otherwise (the views show the run's).
 * @param {string | undefined} name
 * @returns {LayerWeights | null}
 */
function exploredWeight(name) {
  const r = app.ex.result;
  if (!name || !app.ex.active || !r?.weights || settingKey(app.ex.setting) === settingKey(DEFAULT_SETTING)) return null;
  return r.weights.find((w) => w.name === name) ?? null;
}

/** Resolution of the explorer's decision grids (smaller than the main view's: one per slider move). */
const EXPLORE_GRID_RES = 48;

const exploreQueue = new Latest(
  /** @param {{setting: ExploreSetting, gen: number}} req */
  (req) => exploreResult(req.setting),
  (req, result) => {
    if (req.gen !== app.ex.gen || settingKey(req.setting) !== settingKey(app.ex.setting)) return;
    app.ex.result = result;
    app.ex.error = '';
    renderExplorer();
  },
  (req, error) => {
    if (req.gen !== app.ex.gen || settingKey(req.setting) !== settingKey(app.ex.setting)) return;
    app.ex.result = null;
    app.ex.error = errorText(error);
    renderExplorer();
  },
);

/** Shows or hides the explorer as the run's status changes; a fresh model starts a new generation. */
function syncExplorer() {
  const want = exploreProblem() === '';
  if (want === app.ex.active) return;
  app.ex.active = want;
  app.ex.gen++;
  app.ex.cache.clear();
  app.ex.dense = null;
  app.ex.result = null;
  app.ex.error = '';
  ui.exploreCard.hidden = !want;
  ui.exStatus.textContent = '';
  if (!want) return;
  const gen = app.ex.gen;
  exploreResult({ ...DEFAULT_SETTING })
    .then((dense) => {
      if (gen !== app.ex.gen) return;
      app.ex.dense = dense;
      renderExplorer();
    })
    .catch((e) => {
      if (gen !== app.ex.gen) return;
      app.ex.error = errorText(e);
      renderExplorer();
    });
  writeExploreControls();
  requestExplore();
}

function requestExplore() {
  if (!app.ex.active) return;
  digitPad.refresh();
  renderExplorer();
  exploreQueue.request({ setting: { ...app.ex.setting }, gen: app.ex.gen });
}

/** The controls from `app.ex.setting`. */
function writeExploreControls() {
  const s = app.ex.setting;
  ui.exSparsity.value = String(Math.round(s.sparsity * 100));
  ui.exMethod.value = s.method;
  ui.exBits.value = s.bits ? String(s.bits) : '';
  ui.exScheme.value = s.scheme;
  ui.exGranularity.value = s.granularity;
}

/** `app.ex.setting` from the controls. */
function readExploreControls() {
  const bits = ui.exBits.value ? Number(ui.exBits.value) : null;
  app.ex.setting = {
    sparsity: Number(ui.exSparsity.value) / 100,
    method: /** @type {ExploreSetting['method']} */ (ui.exMethod.value),
    bits,
    scheme: /** @type {ExploreSetting['scheme']} */ (ui.exScheme.value),
    granularity: /** @type {ExploreSetting['granularity']} */ (ui.exGranularity.value),
  };
}

function renderExplorer() {
  const s = app.ex.setting;
  const pct = Math.round(s.sparsity * 1000) / 10;
  ui.exSparsityValue.value = `${pct} %`;
  ui.exSparsity.setAttribute('aria-valuetext', `${pct} percent of the weights removed`);
  ui.exScheme.disabled = s.bits === null;
  ui.exGranularity.disabled = s.bits === null;
  const r = app.ex.result;
  const fresh = r !== null && app.ex.cache.get(s) === r;
  const d = app.ex.dense;
  ui.exReadout.dataset.state = app.ex.error ? 'error' : fresh ? 'ok' : 'busy';
  ui.exReadout.dataset.setting = settingKey(s);
  ui.exAcc.textContent = app.ex.error ? 'error' : formatPercent(r?.test_accuracy);
  ui.exAcc.dataset.value = r ? String(r.test_accuracy) : '';
  // The reference: the model as trained (dense unless its recipe pruned it already).
  const reference = d?.baseline
    ? 'final model'
    : d && d.sparsity > 0.0005 ? `as trained (${formatPercent(d.sparsity)} sparse)` : 'dense';
  ui.exAccDense.textContent = `${reference} ${formatPercent(d?.test_accuracy)}`;
  ui.exAccBar.style.width = `${((r?.test_accuracy ?? 0) * 100).toFixed(1)}%`;
  ui.exDenseMark.style.left = `${((d?.test_accuracy ?? 0) * 100).toFixed(1)}%`;
  ui.exDenseMark.hidden = !d;
  ui.exBytes.textContent = r ? formatBytes(r.bytes) : '–';
  ui.exBytes.dataset.value = r ? String(r.bytes) : '';
  ui.exBytesDense.textContent = `dense f32 ${r ? formatBytes(r.dense_bytes) : d ? formatBytes(d.dense_bytes) : '–'}`;
  ui.exRatio.textContent = r ? formatRatio(r.ratio) : '–';
  ui.exAchieved.textContent = r ? formatPercent(r.sparsity) : '–';
  ui.exAchieved.dataset.value = r ? String(r.sparsity) : '';
  ui.exKeep.disabled = !app.recipe || settingStages(s, d?.sparsity ?? 0).length === 0;
  renderBaseline(d);
  drawExploreViews(r, d);
  if (app.ex.error) {
    ui.exStatus.textContent = app.ex.error;
    ui.exStatus.dataset.kind = 'error';
  } else if (ui.exStatus.dataset.kind === 'error') {
    ui.exStatus.textContent = '';
    ui.exStatus.dataset.kind = '';
  }
}

/**
 * Before and after, side by side: the decision boundary of the model as trained beside the
 * compressed one's (2-D data), and the confusion matrix's change.
 * @param {(ExploreResult & {grid?: Float32Array}) | null} r the shown setting's result
 * @param {(ExploreResult & {grid?: Float32Array}) | null} d the model as trained
 */
function drawExploreViews(r, d) {
  const run = app.run;
  const bounds = run?.is2d ? run.bounds : null;
  const points = run?.is2d ? run.points : null;
  const two = !!(bounds && points && r?.grid && d?.grid);
  ui.exViews.hidden = !two;
  if (bounds && points && r?.grid && d?.grid) {
    const classes = r.confusion.length;
    const grid = (/** @type {Float32Array} */ data) => ({ data, res: EXPLORE_GRID_RES, classes });
    drawBoundary(ui.exBoundaryDense, { bounds, points, grid: grid(d.grid) });
    drawBoundary(ui.exBoundary, { bounds, points, grid: grid(r.grid) });
    const base = d.baseline || app.stageReports.length ? 'final model' : 'as trained';
    ui.exBoundaryDenseCap.textContent = `${base} · ${formatPercent(d.test_accuracy)} · ${formatBytes(d.bytes)}`;
    ui.exBoundaryCap.textContent = `compressed · ${formatPercent(r.test_accuracy)} · ${formatBytes(r.bytes)}`;
  }
  ui.exConfusionBox.hidden = !(r && d);
  if (r && d) ui.exConfusion.replaceChildren(confusionDiffTable(r.confusion, d.confusion));
  drawStageMultiplesView();
  // The Weights card and the unit images follow the explorer's setting.
  drawWeights();
  drawFilters();
}

/**
 * What the explorer starts from, said on the card: the run's final model, with its quantization
 * (the Bits control's first choice keeps it) and its sparsity.
 * @param {ExploreResult | null} d the neutral setting's result
 */
function renderBaseline(d) {
  const q = d?.baseline ?? null;
  ui.exBaseline.textContent = d ? baselineText(q, d.sparsity) : '';
  ui.exBaseline.dataset.bits = q ? String(q.bits) : '';
  const keep = ui.exBits.options[0];
  keep.textContent = q ? `as the final model (${q.bits}-bit)` : 'float';
}

/** The small multiples under the before/after pair: one boundary per stage of a 2-D run. */
function drawStageMultiplesView() {
  const run = app.run;
  const show = !!(app.ex.active && run?.is2d && run.bounds && run.points && app.stageGrids.length > 1);
  ui.exStagesBox.hidden = !show;
  if (show && run?.bounds && run.points) drawStageMultiples(ui.exStages, { grids: app.stageGrids, bounds: run.bounds, points: run.points });
}

/** Appends the shown setting to the recipe as compression stages (editor and URL follow). */
async function keepExploreSetting() {
  if (!app.recipe) return;
  const stages = settingStages(app.ex.setting, app.ex.dense?.sparsity ?? 0);
  if (!stages.length) {
    ui.exStatus.textContent = 'This setting neither prunes further nor quantizes: nothing to keep.';
    ui.exStatus.dataset.kind = '';
    return;
  }
  const label = settingLabel(app.ex.setting);
  await setEditor(appendStages(app.recipe, stages));
  const n = stages.length;
  ui.exStatus.dataset.kind = '';
  ui.exStatus.textContent = `Added ${n} stage${n === 1 ? '' : 's'} (${stages.map((st) => st.kind).join(' + ')}, ${label}) to the recipe; Train runs them after the training.`;
  renderStages();
  renderButtons();
}

/**
 * `minnow.explore`: the setting's numbers straight from the engine (its errors unchanged), then
 * shown in the panel with the controls moved to it.
 * @param {ExploreSetting} setting
 */
async function exploreFromApi(setting) {
  const problem = exploreProblem();
  if (problem) throw new Error(problem);
  const gen = app.ex.gen;
  const r = await engine.call('explore', { setting: engineSetting(setting), grid: EXPLORE_GRID_RES, weights: exploreWeightNames() });
  if (gen === app.ex.gen && app.ex.active) {
    app.ex.cache.set(setting, r);
    app.ex.setting = { ...setting };
    app.ex.result = r;
    app.ex.error = '';
    writeExploreControls();
    renderExplorer();
    digitPad.refresh();
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Recipe editor, presets and the URL

/** @param {Recipe} recipe */
function pretty(recipe) {
  return JSON.stringify(recipe, null, 2);
}

function currentRunKey() {
  return app.recipe ? `${app.recipeText}\u0000${app.csvName}` : '';
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

/**
 * Puts a recipe in the address. While a run starts or trains the link keeps describing the running
 * recipe (what a teacher shares is what the class sees train); an edit made then reaches the link
 * when a new run starts or the run is reset.
 * @param {string} text the recipe's JSON text (stored as written: a seed above 2^53 keeps its digits)
 * @param {boolean} [now] write it even while a run trains
 */
function writeHash(text, now = false) {
  if (!now && (app.status === 'training' || app.status === 'creating')) return;
  const hash = withLesson(
    encodeFragment(text, { embed: layout.embed, view: layout.view, model: app.linkModel }),
    fragmentLesson(location.hash),
  );
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
    form.setMessage('The JSON (Advanced: JSON) has a syntax error; the controls show the last recipe that parsed.');
    app.recipe = null;
    renderButtons();
    return;
  }
  if (!isPlainObject(parsed)) {
    setValidation('bad', 'A recipe is a JSON object ({ … }).');
    form.setMessage('The JSON (Advanced: JSON) is not an object; the controls show the last recipe that parsed.');
    app.recipe = null;
    renderButtons();
    return;
  }
  form.show(parsed);
  try {
    await engine.call('validate', { json: text });
  } catch (e) {
    if (seq !== app.validateSeq) return;
    setValidation('bad', errorText(e));
    form.setMessage(errorText(e));
    app.recipe = null;
    renderButtons();
    return;
  }
  if (seq !== app.validateSeq) return;
  form.setMessage(null);
  // What the engine only finds when it builds the model (too many parameters, a kernel or pool
  // bigger than the feature map) is refused here, before Train.
  const sizeError = form.modelSize()?.error;
  if (sizeError) {
    setValidation('bad', sizeError);
    app.recipe = null;
    renderButtons();
    return;
  }
  app.recipe = parsed;
  app.recipeText = formatJson(text, 0);
  drawBase = parsed;
  drawMode.syncFromRecipe(parsed);
  sampleStrip.sync(parsed);
  setValidation('ok', app.run && app.runKey !== currentRunKey() ? '✓ Valid. Train starts a new run with this recipe.' : '✓ Valid recipe.');
  writeHash(app.recipeText);
  renderPresetPicker();
  renderButtons();
  refreshPreview();
}

/** The data of the editor's recipe before Train: its 2-D points (the worker builds a throwaway run). */
async function refreshPreview() {
  const recipe = app.recipe;
  if (!recipe || app.csv) return;
  const key = JSON.stringify([recipe.dataset, recipe.seed]);
  if (key === app.previewKey) return;
  app.previewKey = key;
  try {
    const r = await engine.call('preview', { json: app.recipeText });
    if (key !== app.previewKey) return;
    app.preview = r ? { key, ...r } : null;
  } catch {
    if (key === app.previewKey) app.preview = null;
  }
  scheduleDraw();
}

/** @param {Recipe} recipe */
async function setEditor(recipe) {
  await setEditorText(keepBigIntegers(pretty(recipe), ui.recipe.value));
}

/** @param {string} text a recipe's JSON, shown as written (re-indented) */
async function setEditorText(text) {
  ui.recipe.value = formatJson(text);
  await validateEditor();
}

function defaultPreset() {
  return app.presets.find((p) => p.name === 'spiral-mlp') ?? app.presets[0];
}

/**
 * Loads the recipe a link carries, keeping what it can of a damaged one. Never leaves the page
 * without a recipe: whatever goes wrong (a link too deep to handle, an engine error) ends in the
 * default preset with a notice saying why.
 */
async function loadFromHash() {
  const fallback = defaultPreset();
  try {
    await loadLink(fallback);
  } catch (e) {
    showNotice('warn', 'This link could not be used.', `${errorText(e)} Loaded the default preset, ${fallback.name}.`);
    await setEditor(fallback.recipe);
  }
}

/** @param {Preset} fallback */
async function loadLink(fallback) {
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
      await engine.call('validate', { json: decoded.text });
      hideNotice();
      await setEditorText(decoded.text);
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
    showNotice('warn', 'This link\'s recipe had problems.', text, showJson(candidate));
    await setEditor(salvaged.recipe);
  } catch (e) {
    showNotice('warn', 'This link\'s recipe could not be used.', `${problem} Loaded the default preset, ${fallback.name}.`, showJson(candidate));
    await setEditor(fallback.recipe);
  }
}

// ---------------------------------------------------------------------------------------------
// Training controls

async function startOrResume() {
  try {
    await beginTraining();
  } catch {
    // beginTraining showed the notice
  }
}

/**
 * Starts a run of the editor's recipe, or resumes the paused one; throws (after showing the notice)
 * when it cannot. `onStart` runs once the run exists, before its first step.
 * @param {() => void} [onStart]
 */
async function beginTraining(onStart) {
  if (app.status === 'training') {
    onStart?.();
    return;
  }
  if (!app.recipe) throw new Error(`the recipe in the editor is not valid: ${ui.validation.textContent || 'it is still being checked'}`);
  if (app.linkModel) {
    app.linkModel = null; // the model trains on: the link no longer describes it
    writeHash(app.recipeText, true);
  }
  const key = currentRunKey();
  try {
    if (!app.run || app.runKey !== key || app.status === 'done' || app.status === 'failed') {
      rejectTrainWaiters('a new run replaced the one being waited for');
      writeHash(app.recipeText, true); // the link describes the run about to start
      setStatus('creating');
      clearViews();
      app.run = null;
      if (ui.notice.dataset.kind === 'info') hideNotice(); // news of an opened file, now replaced
      app.startCancel = null;
      const info = await createRun();
      // Reset (or a new preset) while it started: reset() drops the run; Pause: it waits, paused.
      if (app.startCancel === 'reset') return;
      showRun(info, key);
      if (app.startCancel === 'pause') {
        app.startCancel = null;
        onStart?.();
        setStatus('paused');
        return;
      }
    } else if (app.status === 'loaded') {
      ui.finalCard.hidden = true; // the epochs now tell the story
    }
    onStart?.();
    await engine.call('train');
    setStatus('training');
    setValidation('ok', '✓ Valid recipe.');
    if (ui.notice.dataset.kind === 'error' && !ui.notice.hidden) hideNotice(); // an old failure, now behind us
  } catch (e) {
    if (app.startCancel === 'reset') return; // reset() takes it from here
    setStatus(app.run ? 'paused' : 'idle');
    showNotice('error', 'Training could not start.', errorText(e));
    scheduleDraw();
    rejectTrainWaiters(`training could not start: ${errorText(e)}`);
    throw e;
  }
}

/** Asks the worker for a run of the editor's recipe, remembering the request so Reset can wait on it. */
function createRun() {
  // The editor's text, not the parsed object: JSON.parse rounds integers above 2^53 (a seed).
  const created = engine.call('create', { json: app.recipeText, csv: app.csv ?? undefined });
  app.creating = created;
  return created;
}

/** @param {string} why */
function rejectTrainWaiters(why) {
  const waiters = app.trainWaiters;
  app.trainWaiters = [];
  for (const w of waiters) w.reject(new Error(why));
}

/**
 * `minnow.train()`: starts or resumes a run (or joins the one training) and resolves to its report
 * when it and its stages are done.
 * @returns {Promise<Report>}
 */
function trainFromApi() {
  return new Promise((resolve, reject) => {
    beginTraining(() => app.trainWaiters.push({ resolve, reject })).catch(reject);
  });
}

/**
 * Shows a run the worker just made (`create` or `importModel`): its backend, layers, points and
 * decision grid, stages and weights.
 * @param {RunInfo} info the worker's reply
 * @param {string} key the run's identity (`currentRunKey()` of its recipe)
 */
function showRun(info, key) {
  app.run = info;
  app.runKey = key;
  app.datasetName = app.recipe?.dataset?.name;
  digitPad.sync(app.datasetName, exploreProblem() === '');
  app.grid = info.grid ?? null;
  app.planned = app.recipe ? plannedEpochs(app.recipe) : info.totalEpochs;
  app.layers = info.layers ?? [];
  if (!app.layers.some((l) => l.name === app.layerName)) app.layerName = app.layers[0]?.name ?? '';
  renderLayerSelect();
  renderStages();
  refreshWeights(true);
  renderBackendBadge();
  renderStats();
  scheduleDraw();
}

async function pause() {
  if (app.status === 'creating') {
    app.startCancel = 'pause'; // the run, once made, waits paused
    renderButtons();
    return;
  }
  if (app.status !== 'training') return;
  await engine.call('pause');
  if (app.status === 'training') setStatus('paused');
}

/**
 * One mini-batch: makes a paused run of the editor's recipe when there is none (or it is stale or
 * finished), then asks the worker for one step; its events redraw the views.
 */
async function stepOne() {
  if (app.stepping || app.status === 'training' || app.status === 'creating' || !app.recipe) return null;
  app.stepping = true;
  renderButtons();
  const key = currentRunKey();
  try {
    if (!app.run || app.runKey !== key || app.status === 'done' || app.status === 'failed') {
      rejectTrainWaiters('a new run replaced the one being waited for');
      writeHash(app.recipeText, true);
      setStatus('creating');
      clearViews();
      app.run = null;
      if (ui.notice.dataset.kind === 'info') hideNotice();
      app.startCancel = null;
      const info = await createRun();
      if (app.startCancel === 'reset') return null;
      app.startCancel = null;
      showRun(info, key);
      setStatus('paused');
    } else if (app.status !== 'paused') {
      setStatus('paused');
    }
    const r = await engine.call('step');
    if (ui.notice.dataset.kind === 'error' && !ui.notice.hidden) hideNotice();
    refreshWeights();
    return r;
  } catch (e) {
    if (app.startCancel === 'reset') return null;
    if (/** @type {string} */ (app.status) === 'creating') setStatus(app.run ? 'paused' : 'idle');
    showNotice('error', 'Could not train one batch.', errorText(e));
    return null;
  } finally {
    app.stepping = false;
    renderButtons();
  }
}

/**
 * `minnow.stepOnce()`: the Step button's work, resolved after the batch; rejects saying why it
 * cannot step now.
 */
async function stepFromApi() {
  if (app.status === 'training' || app.status === 'creating') throw new Error('the model is training: pause it (or wait for the run to end) to step one batch at a time');
  if (!app.recipe) throw new Error(`the recipe in the editor is not valid: ${ui.validation.textContent || 'it is still being checked'}`);
  if (app.stepping) throw new Error('a step is already in flight: await it first');
  const r = await stepOne();
  if (!r) throw new Error(`the batch did not run: ${ui.noticeText.textContent || 'the run was reset'}`);
  return r;
}

/** `minnow.setSpeed(mode)`: the speed control and the worker's pace. @param {import('./protocol.js').Pace} mode */
async function setSpeed(mode) {
  ui.speed.value = mode;
  await engine.call('pace', { mode });
}

/** The small multiples of a 2-D run with stages, read from the worker after each stage. */
async function refreshStageGrids() {
  const run = app.run;
  if (!run?.is2d) return;
  try {
    const grids = await engine.call('stageGrids');
    if (run !== app.run) return;
    app.stageGrids = grids;
    drawStageMultiplesView();
  } catch {
    // the run was dropped meanwhile; nothing to draw
  }
}

/**
 * The GPU-vs-CPU parity readout, computed now (the live run's current weights, one batch).
 * Rejects without a run on the GPU; the readout shows the numbers or why there are none.
 */
async function refreshParity() {
  const run = app.run;
  if (!run) throw new Error('no run: train one on the GPU first');
  if (run.backend !== 'gpu') throw new Error('the run is on the CPU: GPU-vs-CPU parity needs a run on the GPU (WebGPU)');
  try {
    const p = await engine.call('parity', {});
    if (run === app.run) {
      ui.parity.textContent = parityText(p);
      ui.parity.title = `cross-entropy on the GPU ${p.loss_gpu}, on the CPU ${p.loss_cpu}; the largest logit difference ${p.logits_diff}`;
      ui.parity.dataset.lossDiff = String(p.loss_diff);
      ui.parity.dataset.logitsDiff = String(p.logits_diff);
      ui.parity.hidden = false;
    }
    return p;
  } catch (e) {
    if (run === app.run) {
      ui.parity.textContent = `GPU vs CPU: ${errorText(e)}`;
      ui.parity.hidden = false;
    }
    throw e;
  }
}

async function reset() {
  rejectTrainWaiters('the run was reset');
  if (app.status === 'creating') {
    // The run being made is dropped once the worker has it (beginTraining leaves it to us).
    app.startCancel = 'reset';
    renderButtons();
    try {
      await app.creating;
    } catch {
      // nothing was made
    }
    app.startCancel = null;
  }
  await engine.call('reset');
  app.run = null;
  app.runKey = '';
  clearViews();
  renderBackendBadge();
  setStatus('idle');
  if (app.recipe) {
    setValidation('ok', '✓ Valid recipe.');
    writeHash(app.recipeText, true); // an edit made while the run trained
  }
}

/** @param {WorkerEvent} ev an event from the worker */
function onEngineEvent(ev) {
  switch (ev.event) {
    case 'step': {
      if (ev.stage && ev.stage.index !== app.stage?.index) startStage(ev.stage);
      else if (ev.stage && app.stage && ev.stage.detail !== app.stage.detail) {
        app.stage = ev.stage;
        renderStages();
      }
      // The engine reads the loss back only every `metrics_every` steps; keep the last one shown.
      const loss = ev.loss ?? NaN;
      app.lastStep = { ...ev, loss: Number.isFinite(loss) ? loss : (app.lastStep?.loss ?? NaN) };
      app.trainMs += ev.ms;
      app.batchesDone += ev.batches;
      const x = stepPosition(ev);
      if (Number.isFinite(loss)) app.steps.push([x, loss]);
      renderStats();
      scheduleDraw();
      break;
    }
    case 'epoch':
      app.epochs.push(ev.epochEnd);
      addEpochRow(ev.epochEnd);
      renderStats();
      scheduleDraw();
      refreshWeights();
      break;
    case 'notice':
      // The run moved (GPU lost → CPU) and resumes at `ev.epoch`: drop what came after it.
      showNotice('warn', 'The run moved to the CPU.', ev.message);
      if (app.run) Object.assign(app.run, { backend: ev.backend, backendNote: ev.backendNote, adapter: '' });
      renderBackendBadge();
      app.epochs = app.epochs.filter((e) => e.epoch <= ev.epoch);
      app.steps = app.steps.filter(([x]) => x <= ev.epoch);
      for (const tr of ui.epochsBody.querySelectorAll('tr')) if (Number(/** @type {HTMLElement} */ (tr).dataset.epoch) > ev.epoch) tr.remove();
      renderStats();
      scheduleDraw();
      break;
    case 'stage':
      app.stageReports.push(ev.report);
      refreshStageGrids();
      renderStages();
      renderStats();
      scheduleDraw();
      refreshWeights(true);
      break;
    case 'grid':
      app.grid = { data: ev.data, res: ev.res, classes: ev.classes };
      scheduleDraw();
      break;
    case 'done':
      app.report = ev.report;
      app.stage = null;
      if (Array.isArray(ev.report?.stages) && ev.report.stages.length >= app.stageReports.length) app.stageReports = ev.report.stages;
      setStatus('done');
      renderStats();
      renderStages();
      renderFinal();
      refreshWeights(true);
      refreshStageGrids();
      if (app.run?.backend === 'gpu') refreshParity().catch(() => {}); // the readout says why
      scheduleDraw();
      for (const w of app.trainWaiters.splice(0)) w.resolve(ev.report);
      break;
    case 'failed':
      setStatus('failed');
      showNotice('error', 'Training stopped with an error.', ev.message);
      rejectTrainWaiters(`training stopped with an error: ${ev.message}`);
      break;
    default:
      break;
  }
}

/**
 * A new compression stage began: remember where on the epoch axis (the end of what ran before),
 * merging the labels of stages that start at the same place (a scan that trains nothing).
 * @param {StageProgress} stage
 */
function startStage(stage) {
  app.stage = stage;
  const x = stepPosition(app.lastStep);
  const prev = app.marks.at(-1);
  if (prev && Math.abs(prev.x - x) < 1e-9) {
    prev.label = `${prev.first + 1}–${stage.index + 1} · ${stageLabel(stage.kind)}`;
    prev.index = stage.index;
  } else {
    app.marks.push({ x, label: `${stage.index + 1} · ${stageLabel(stage.kind)}`, index: stage.index, first: stage.index });
  }
  renderStages();
}

/**
 * @param {Blob} blob
 * @param {string} name
 */
function saveBlob(blob, name) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

async function downloadReport() {
  const report = app.report ?? (await engine.call('report'));
  saveBlob(new Blob([JSON.stringify(report, null, 2)], { type: 'application/json' }), `minnow-report-${ui.preset.value || 'custom'}.json`);
}

/** Saves the live run's model as it is now (masks, quantization, thinned widths included). */
async function downloadModel() {
  if (!app.run) return;
  try {
    const bytes = await engine.call('exportModel');
    // Bytes from the worker always sit on a plain ArrayBuffer (postMessage never shares memory).
    saveBlob(new Blob([/** @type {Uint8Array<ArrayBuffer>} */ (bytes)], { type: 'application/octet-stream' }), modelFileName(ui.preset.value));
  } catch (e) {
    showNotice('error', 'The model could not be saved.', errorText(e));
  }
}

/**
 * Opens the model file chosen in the file input as a new run. The worker checks the file and builds
 * the new run before it drops the live one, so a bad file leaves the page as it was.
 */
async function openModel() {
  const file = ui.modelFile.files?.[0];
  if (!file) return;
  await openModelBytes(file.name, async () => {
    const tooBig = fileSizeProblem(file, app.limits?.modelFileBytes, 'model file');
    if (tooBig) throw new Error(tooBig);
    return new Uint8Array(await file.arrayBuffer());
  });
  ui.modelFile.value = ''; // the same file again is a new change
}

/**
 * Opens model-file bytes as a new run (a chosen file, or the model a link carries); a refusal is
 * shown as a notice and leaves the live run as it was. Resolves to whether it opened.
 * @param {string} name what the notice calls the model
 * @param {() => Promise<Uint8Array>} read
 * @param {string | null} [linkModel] the link's `m=` text, kept in the address while the model is as opened
 */
async function openModelBytes(name, read, linkModel = null) {
  if (app.opening || app.status === 'training' || app.status === 'creating') return false;
  app.opening = true;
  renderButtons();
  try {
    const bytes = await read();
    const info = await engine.call('importModel', { bytes, csv: app.csv ?? undefined });
    await showOpenedModel(name, info);
    if (linkModel && app.recipe) {
      app.linkModel = linkModel;
      writeHash(app.recipeText, true);
    }
    return true;
  } catch (e) {
    showNotice('error', `${name} could not be opened.`, linkModel ? `${errorText(e)} The link's recipe is in the editor: Train trains it from scratch.` : errorText(e));
    return false;
  } finally {
    app.opening = false;
    renderButtons();
    renderStats();
  }
}

/**
 * Opens the model a link carries (its `m=` text, read before the recipe is put in the address);
 * without one, nothing.
 * @param {string | null} text
 */
async function openLinkModel(text) {
  if (!text) return;
  await openModelBytes("The link's model", () => modelFromLinkText(text), text);
}

/**
 * `minnow.shareLink({model})`: the page's link, with the trained model when asked (www/share.js).
 * @param {{model?: boolean}} [options]
 */
function shareLinkFromApi({ model = false } = {}) {
  if (!app.recipe) return Promise.reject(new Error(`the recipe in the editor is not valid: ${ui.validation.textContent || 'it is still being checked'}`));
  return shareLink({
    page: `${location.origin}${location.pathname}${location.search}`,
    recipe: app.recipeText,
    model,
    trained: app.run !== null && ['done', 'paused', 'loaded'].includes(app.status) ? null : `the page is ${app.status}`,
    exportModel: () => engine.call('exportModel'),
  });
}

/** The "Share with the model" button: copies such a link, or says why there is none. */
async function copyModelLink() {
  try {
    const link = await shareLinkFromApi({ model: true });
    try {
      await navigator.clipboard.writeText(link);
      ui.copyStatus.textContent = `copied a link with the model (${link.length} characters)`;
    } catch {
      ui.copyStatus.textContent = 'the link is in the address bar';
      history.replaceState(null, '', link);
    }
    ui.shareModel.dataset.link = link;
  } catch (e) {
    ui.copyStatus.textContent = '';
    showNotice('warn', 'This model cannot travel in a link.', `${errorText(e)}.`);
  }
  setTimeout(() => (ui.copyStatus.textContent = ''), 4000);
}

/**
 * The page after a model file became the live run: the file's recipe in the editor and the link,
 * the model's test accuracy in the stats and the Result card, its weights and decision boundary.
 * @param {string} name the file's name
 * @param {import('./protocol.js').Requests['importModel']['result']} info the worker's `importModel` reply
 */
async function showOpenedModel(name, info) {
  app.run = null; // the editor's recipe is about to describe the new run, not the old one
  clearViews();
  await setEditorText(info.file.recipe);
  app.loaded = { name, file: info.file, report: info.report };
  showRun(info, currentRunKey());
  setStatus('loaded');
  setValidation('ok', `✓ Valid recipe, from ${name}.`);
  renderFinal();
  const notice = loadedNotice(name, info.file, info.report?.final?.test_accuracy);
  const source = sourceRecipe(info.file);
  showNotice('info', notice.title, notice.text, source ? pretty(source) : undefined, 'The recipe of the run that saved it');
}

// ---------------------------------------------------------------------------------------------
// Wiring

function wire() {
  for (const control of [ui.train, ui.pause, ui.step, ui.reset]) {
    control.addEventListener('focus', () => (app.runControlFocused = true));
    control.addEventListener('blur', (ev) => {
      // Focus that leaves for another element is the user's choice; focus lost to a disabled button is not.
      if (/** @type {FocusEvent} */ (ev).relatedTarget) app.runControlFocused = false;
    });
  }
  ui.train.addEventListener('click', startOrResume);
  ui.train.addEventListener('click', () => layout.showTraining());
  ui.shareModel.addEventListener('click', () => void copyModelLink());
  initTheme(ui.themeToggle);
  onThemeChange(() => {
    scheduleDraw();
    renderExplorer();
    form.drawLr();
  });
  ui.pause.addEventListener('click', pause);
  ui.step.addEventListener('click', () => void stepOne());
  ui.speed.addEventListener('change', () => {
    engine.call('pace', { mode: /** @type {import('./protocol.js').Pace} */ (ui.speed.value) }).catch((e) => showNotice('error', 'Could not change the speed.', errorText(e)));
  });
  ui.sizeChart.addEventListener('mousemove', onSizeHover);
  ui.sizeChart.addEventListener('mouseleave', onSizeLeave);
  ui.sizeChart.addEventListener('click', (ev) => void onSizeClick(ev));
  ui.reset.addEventListener('click', reset);
  ui.noticeClose.addEventListener('click', hideNotice);
  ui.downloadReport.addEventListener('click', downloadReport);
  ui.downloadModel.addEventListener('click', downloadModel);
  ui.modelFile.addEventListener('change', openModel);
  ui.layerSelect.addEventListener('change', () => {
    app.layerName = ui.layerSelect.value;
    refreshWeights(true);
    // The explorer's view of the newly chosen layer (a cached setting without it asks again).
    if (exploredWeight(app.layerName) === null && app.ex.result?.weights) requestExplore();
  });

  ui.preset.addEventListener('change', async () => {
    const preset = app.presets.find((p) => p.name === ui.preset.value);
    if (!preset) return;
    if (app.run || app.status === 'creating') await reset(); // a run starting is of the old recipe
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
  ui.buildPanel.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      /** @type {HTMLElement | null} */ (document.activeElement)?.blur(); // commits the box being typed in
      setTimeout(() => validateEditor().then(startOrResume), 0);
    }
  });
  ui.formatRecipe.addEventListener('click', () => {
    try {
      JSON.parse(ui.recipe.value);
      ui.recipe.value = formatJson(ui.recipe.value);
    } catch {
      // leave the text alone; the validation line already says what is wrong
    }
  });

  ui.csv.addEventListener('change', async () => {
    let file = ui.csv.files?.[0];
    const tooBig = file ? fileSizeProblem(file, app.limits?.csvBytes, 'CSV file') : null;
    if (tooBig) {
      showNotice('error', 'The CSV file was not read.', tooBig);
      ui.csv.value = '';
      file = undefined;
    }
    app.csv = file ? await file.text() : null;
    app.csvName = file ? `${file.name}:${file.size}` : '';
    renderButtons();
    if (app.status !== 'loading') validateEditor(); // the model's size depends on the file's columns
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
    const linkModel = fragmentOptions(location.hash).model;
    loadFromHash().then(() => openLinkModel(linkModel));
  });

  const exploreInput = () => {
    readExploreControls();
    requestExplore();
  };
  ui.exSparsity.addEventListener('input', exploreInput);
  for (const select of [ui.exMethod, ui.exBits, ui.exScheme, ui.exGranularity]) select.addEventListener('change', exploreInput);
  ui.exKeep.addEventListener('click', keepExploreSetting);

  wireTabs(ui.recipeTabs, () => form.drawLr());
  new ResizeObserver(() => form.drawLr()).observe(form.lrCanvas);

  const observer = new ResizeObserver(() => scheduleDraw());
  for (const canvas of [ui.lossChart, ui.accChart, ui.boundary, ui.weightHist, ui.sparsityMap, ui.sizeChart]) observer.observe(canvas);
  matchMedia(`(resolution: ${devicePixelRatio}dppx)`).addEventListener?.('change', scheduleDraw);
}

/** The page's state for `minnow.state()`. @returns {import('./page-api.js').PageState} */
function pageState() {
  const lastEpoch = app.epochs.at(-1);
  const acc = lastEpoch ? lastEpoch.test_accuracy : app.loaded?.report?.final?.test_accuracy;
  const model = (app.report ?? app.run?.report)?.model;
  const bytes = honestBytes(app.stageReports.at(-1)?.bytes) ?? model?.bytes;
  return {
    status: app.status,
    backend: app.run?.backend ?? null,
    epoch: app.epochs.length,
    testAccuracy: typeof acc === 'number' && Number.isFinite(acc) ? acc : null,
    bytes: typeof bytes === 'number' ? bytes : null,
  };
}

/** @type {(v: void) => void} */
let pageReady = () => {};
/** @type {(e: Error) => void} */
let pageBroken = () => {};
const ready = new Promise((resolve, reject) => {
  pageReady = resolve;
  pageBroken = reject;
});
ready.catch(() => {}); // nobody need listen; minnow.ready still rejects for those who do

/** What a lesson step checks: the controller's state (www/lessons.js, LessonView). */
function lessonView() {
  const ex = app.ex;
  const fresh = ex.result !== null && ex.cache.get(ex.setting) === ex.result;
  return {
    status: app.status,
    preset: ui.preset.value,
    recipe: app.recipe,
    report: app.report,
    stages: app.stageReports,
    explore: { active: ex.active, setting: ex.setting, result: fresh ? ex.result : null, dense: ex.dense },
  };
}

const lessons = new LessonPanel({ ready, view: lessonView });

Object.defineProperty(window, 'minnow', {
  value: createPageApi({
    ready,
    validate: (json) => engine.call('validate', { json }),
    showRecipe: async (text) => {
      await setEditorText(text);
      if (!app.recipe) throw new Error(ui.validation.textContent || 'the recipe was not accepted');
    },
    train: trainFromApi,
    report: async () => app.report ?? (app.run ? engine.call('report') : null),
    state: pageState,
    explore: exploreFromApi,
    shareLink: shareLinkFromApi,
    stageReports: () => app.stageReports,
    lessons: () => lessons.list(),
    openLesson: (id) => lessons.open(id),
    setSpeed,
    stepOnce: stepFromApi,
    parity: refreshParity,
  }),
  enumerable: true,
});

/**
 * After the engine crashed: a fresh worker and wasm module. The editor keeps its recipe, which is
 * checked again and can be trained; the old run is gone.
 */
async function restartEngine() {
  setStatus('loading');
  engine.restart();
  /** @type {{presets: Preset[], limits: import('./engine-api.js').Limits}} */
  let loaded;
  try {
    loaded = await engine.call('init');
  } catch (e) {
    setStatus('broken');
    throw e;
  }
  const { presets, limits } = loaded;
  app.presets = presets;
  app.limits = limits;
  app.run = null;
  app.runKey = '';
  app.previewKey = '';
  app.stepping = false;
  app.opening = false;
  clearViews();
  withdrawRestart();
  ui.noticeClose.hidden = false;
  hideNotice();
  setStatus('idle');
  renderBackendBadge();
  await validateEditor();
}

async function main() {
  document.body.dataset.status = 'loading';
  engine.onEvent = onEngineEvent;
  engine.onCrash = (text) => {
    setStatus('broken');
    setBadge('error', 'engine unavailable', text);
    showNotice('error', 'The engine stopped.', text);
    offerRestart(ui.noticeText.parentElement ?? ui.notice, restartEngine);
    ui.noticeClose.hidden = true; // the restart button lives in the notice: it stays until used
    pageBroken(new Error(text));
    rejectTrainWaiters(text);
  };
  wire();
  scheduleDraw();
  try {
    const { presets, limits } = await engine.call('init');
    app.presets = presets;
    app.limits = limits;
  } catch (e) {
    setStatus('broken');
    setBadge('error', 'engine unavailable', errorText(e));
    showNotice('error', 'The engine could not be loaded.', errorText(e));
    pageBroken(new Error(`the engine could not be loaded: ${errorText(e)}`));
    return;
  }
  renderBackendBadge();
  const linkModel = fragmentOptions(location.hash).model;
  await loadFromHash();
  setStatus('idle');
  await openLinkModel(linkModel);
  pageReady();
  if (new URLSearchParams(location.search).has('autorun')) startOrResume();
}

main();
