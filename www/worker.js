// The training worker (a module Web Worker): owns the wasm module and the one live `Run`, answers
// requests from the page (init, validate, create, train, pause, reset, report, grid, weights,
// exportModel, importModel), and streams progress while training, so the page's main thread never
// waits on the engine.
// Protocol: request {id, type, ...} -> reply {id, ok: true, result} | {id, ok: false, error}; events {event, ...}.

/**
 * Events pushed to the page while training (no `id`):
 * @typedef {{event: 'step', epoch: number, batch: number, batchesPerEpoch: number, loss: number,
 *   batches: number, ms: number, stage: {index: number, count: number, kind: string, detail: string} | null}} StepEvent
 *   One `run.step(n)` call: `loss` is the mean over its `batches`; `epoch` counts completed epochs
 *   (stages' epochs included) and `batch` the batches done in the current one, so
 *   `epoch + batch / batchesPerEpoch` is the position on the epoch axis. `stage`: the compression
 *   stage running, null during the initial training.
 * @typedef {{event: 'stage', report: any}} StageEvent a stage finished; its report
 * @typedef {{event: 'notice', message: string, epoch: number, backend: string, backendNote: string}} NoticeEvent
 *   the engine has news for the user (the GPU was lost and the run resumed on the CPU at `epoch`)
 * @typedef {{event: 'epoch', epochEnd: {epoch: number, train_loss: number, train_accuracy: number,
 *   test_accuracy: number, lr: number, seconds: number}}} EpochEvent
 * @typedef {{event: 'grid', data: Float32Array, res: number, classes: number}} GridEvent
 * @typedef {{event: 'done', report: any}} DoneEvent
 * @typedef {{event: 'failed', message: string}} FailedEvent
 * @typedef {{event: 'stopped'}} StoppedEvent
 */

import { csvProblem } from './modelfile.js';

/** Decision-grid resolution pushed after epochs of 2-D runs. */
const GRID_RES = 64;
/** Target wall time of one `run.step(n)` call; n adapts to it. */
const STEP_TARGET_MS = 40;
/** At most this often a new decision grid while training. */
const GRID_EVERY_MS = 250;

/** @type {any} the wasm module's exports once loaded */
let wasm = null;
/** @type {any} the live Run, or null */
let run = null;
let training = false;
/** Resolves when the training loop has exited; awaited by pause/reset. */
let loopDone = Promise.resolve();

// wasm-bindgen objects refuse re-entrant use across an await ("recursive use of an object"), so
// every call on `run` goes through this queue.
let queue = Promise.resolve();
/**
 * @template T
 * @param {() => Promise<T> | T} fn
 * @returns {Promise<T>}
 */
function exclusive(fn) {
  const result = queue.then(fn);
  queue = result.then(
    () => undefined,
    () => undefined,
  );
  return result;
}

/** Lets queued messages (pause, reset) in between training steps. */
const yieldToEvents = () => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * @param {unknown} e
 * @returns {string}
 */
function message(e) {
  if (e instanceof Error) return e.message;
  return typeof e === 'string' ? e : String(e);
}

/** @param {any} msg @param {Transferable[]} [transfer] */
function post(msg, transfer = []) {
  self.postMessage(msg, transfer);
}

async function computeGrid(res = GRID_RES) {
  const data = await exclusive(() => run.decisionGrid(res));
  const grid = data instanceof Float32Array ? data : new Float32Array(data);
  return { data: grid, res, classes: Math.max(1, Math.round(grid.length / (res * res))) };
}

async function trainLoop() {
  let n = 1;
  let lastGrid = 0;
  while (training && run) {
    const t0 = performance.now();
    const r = await exclusive(() => run.step(n));
    const ms = performance.now() - t0;
    post({ event: 'step', epoch: r.epoch, batch: r.batch, batchesPerEpoch: r.batchesPerEpoch, loss: r.loss, batches: n, ms, stage: r.stage ?? null });
    if (ms < STEP_TARGET_MS / 2) n = Math.min(n * 2, 1024);
    else if (ms > STEP_TARGET_MS * 2 && n > 1) n = Math.max(1, n >> 1);
    if (r.notice) post({ event: 'notice', message: r.notice, epoch: r.epoch, backend: run.backend, backendNote: run.backendNote });
    if (r.epochEnd) post({ event: 'epoch', epochEnd: r.epochEnd, stage: r.stage ?? null });
    if (r.stageEnd) post({ event: 'stage', report: r.stageEnd });
    if (r.epochEnd || r.stageEnd) {
      // A stage that prunes without training changes the boundary too: redraw after every stage.
      if (run.is2d && (r.done || r.stageEnd || performance.now() - lastGrid > GRID_EVERY_MS)) {
        const grid = await computeGrid();
        post({ event: 'grid', ...grid }, [grid.data.buffer]);
        lastGrid = performance.now();
      }
    }
    if (r.done) {
      training = false;
      post({ event: 'done', report: await exclusive(() => run.report()) });
      return;
    }
    await yieldToEvents();
  }
  post({ event: 'stopped' });
}

/** The report of the live run, or null if the engine cannot give one yet. */
async function safeReport() {
  try {
    return await exclusive(() => run.report());
  } catch {
    return null;
  }
}

/** The browser's own words for its WebGPU adapter ("google swiftshader"), or "". */
async function browserAdapter() {
  try {
    const a = await /** @type {any} */ (navigator).gpu?.requestAdapter();
    const i = a?.info;
    return i ? [i.vendor, i.architecture, i.description].filter(Boolean).join(' ') : '';
  } catch {
    return '';
  }
}

/**
 * The adapter as wgpu names it, or the browser's description when wgpu got no name.
 * @param {string} wgpuInfo
 * @param {string} browserInfo
 */
function adapterName(wgpuInfo, browserInfo) {
  if (!wgpuInfo || wgpuInfo.startsWith('unnamed adapter')) return browserInfo || wgpuInfo || 'WebGPU';
  return wgpuInfo;
}

/**
 * Fetches the built-in image set a recipe needs (digits, MNIST): they stay out of the wasm, which
 * would otherwise be several times larger for every visitor.
 * @param {string} json the recipe
 */
async function provideData(json) {
  const name = wasm.datasetNeeded(json);
  if (!name) return;
  const url = new URL(`../data/${name}.bin.gz`, import.meta.url);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot load the ${name} images from ${url.pathname} (HTTP ${res.status})`);
  wasm.provideDataset(name, new Uint8Array(await res.arrayBuffer()));
}

async function stopTraining() {
  training = false;
  await loopDone;
}

/** Stops and frees the live run, if any. */
async function dropRun() {
  await stopTraining();
  if (run) {
    const old = run;
    run = null;
    await exclusive(() => old.free());
  }
}

/** What the page needs to show a new run: backend, layers and, for 2-D data, points and a grid. */
async function describeRun() {
  const info = {
    backend: run.backend,
    adapter: run.backend === 'gpu' ? adapterName(run.adapter, await browserAdapter()) : '',
    backendNote: run.backendNote,
    totalEpochs: run.totalEpochs,
    is2d: run.is2d,
    report: await safeReport(),
    layers: run.layers(),
    bounds: null,
    points: null,
    grid: null,
  };
  if (run.is2d) {
    info.bounds = Array.from(run.bounds());
    info.points = run.points();
    info.grid = await computeGrid();
  }
  return info;
}

/** @type {Record<string, (req: any) => Promise<any>>} */
const handlers = {
  async init() {
    if (!wasm) {
      try {
        wasm = await import('./pkg/minnow.js');
      } catch (e) {
        throw new Error(`www/pkg/minnow.js is missing or broken: build it with "make serve" (${message(e)}).`);
      }
      await wasm.default();
    }
    return { presets: wasm.presets() };
  },

  async validate({ json }) {
    return wasm.validateRecipe(json);
  },

  async create({ json, csv }) {
    await dropRun();
    await provideData(json);
    run = await wasm.Run.create(json, csv ?? undefined);
    return describeRun();
  },

  /** The live run's model as a .safetensors file (a Uint8Array, transferred). */
  async exportModel() {
    if (!run) throw new Error('No run: train one first.');
    return exclusive(() => run.exportModel());
  },

  /**
   * Opens a model file (`bytes`, a Uint8Array; `csv` for a CSV-trained model) as a new run that
   * continues from its weights. The file is checked and the new run built before the live one is
   * dropped: a bad file leaves the live run as it was. Replies as `create`, plus `file` (what
   * `modelFileInfo` says about it).
   */
  async importModel({ bytes, csv }) {
    const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    const file = wasm.modelFileInfo(data);
    const problem = csvProblem(JSON.parse(file.recipe), typeof csv === 'string');
    if (problem) throw new Error(problem);
    await provideData(file.recipe);
    const fresh = await wasm.Run.importModel(data, csv ?? undefined);
    await dropRun();
    run = fresh;
    return { ...(await describeRun()), file };
  },

  async train() {
    if (!run) throw new Error('No run: create one first.');
    if (training) return null;
    training = true;
    loopDone = trainLoop().catch((e) => {
      training = false;
      post({ event: 'failed', message: message(e) });
    });
    return null;
  },

  async pause() {
    await stopTraining();
    return null;
  },

  async reset() {
    await dropRun();
    return null;
  },

  async report() {
    return run ? exclusive(() => run.report()) : null;
  },

  async grid({ res }) {
    return run && run.is2d ? computeGrid(res) : null;
  },

  /** The weight layers, and `name`'s values, mask and quantization grid (the first layer's when
   * `name` is gone, e.g. after a structured stage renamed nothing but shrank shapes). */
  async weights({ name }) {
    if (!run) return null;
    const layers = await exclusive(() => run.layers());
    const pick = layers.find((/** @type {any} */ l) => l.name === name) ?? layers[0];
    if (!pick) return { layers, weights: null };
    const weights = await exclusive(() => run.weights(pick.name));
    return { layers, weights };
  },
};

self.addEventListener('message', async (/** @type {MessageEvent} */ ev) => {
  const req = ev.data;
  const handler = handlers[req?.type];
  if (!handler) {
    post({ id: req?.id, ok: false, error: `unknown request "${req?.type}"` });
    return;
  }
  try {
    const result = await handler(req);
    const transfer =
      result instanceof Uint8Array ? [result.buffer]
      : result?.grid?.data ? [result.grid.data.buffer]
      : result?.weights?.values ? [result.weights.values.buffer]
      : [];
    post({ id: req.id, ok: true, result }, transfer);
  } catch (e) {
    post({ id: req.id, ok: false, error: message(e) });
  }
});
