// The training worker (a module Web Worker): owns the wasm module and the one live `Run`, answers
// requests from the page (init, validate, create, train, pause, reset, report, grid, weights,
// explore, stageGrids, parity, predict, samples, exportModel, importModel), and streams progress while training, so the page's main thread never
// waits on the engine.
// Protocol: request {id, type, ...} -> reply {id, ok: true, result} | {id, ok: false, error}; events {event, ...}.

// The protocol's types (requests, replies, events) live in www/protocol.js; the wasm module's API in
// www/engine-api.d.ts.
// A Rust panic traps the wasm module (a promise it owns never settles, a `Run` stays borrowed):
// the worker then answers every request still waiting, and every later one, with the panic's
// message and posts a `panic` event; the page offers to restart it (a new worker).

/** @typedef {import('./protocol.js').Requests} Requests */
/** @typedef {import('./protocol.js').WorkerEvent} WorkerEvent */
/** @typedef {import('./protocol.js').Reply} Reply */
/** @typedef {import('./protocol.js').Grid} Grid */
/** @typedef {import('./protocol.js').RunInfo} RunInfo */
/** @typedef {import('./engine-api.js').EngineModule} EngineModule */
/** @typedef {import('./engine-api.js').Run} Run */

import { csvProblem } from './modelfile.js';
import { unknownFields } from './explore.js';
import { withTopLevel } from './state.js';

/** Decision-grid resolution pushed after epochs of 2-D runs. */
const GRID_RES = 64;
/** Target wall time of one `run.step(n)` call; n adapts to it. */
const STEP_TARGET_MS = 40;
/** At most this often a new decision grid while training. */
const GRID_EVERY_MS = 250;
/** Training samples the GPU-vs-CPU parity check runs through both backends. */
const PARITY_SAMPLES = 64;

/** @type {EngineModule | null} the wasm module's exports once loaded */
let wasm = null;
/** @type {Run | null} the live Run, or null */
let run = null;
/**
 * The built module is www/pkg/minnow.js; the specifier is a variable so that the type check does not
 * need www/pkg (built later): www/engine-api.d.ts declares what the worker uses of it.
 */
const ENGINE_MODULE = './pkg/minnow.js';
let training = false;
/** Pacing of the training loop: after each `run.step(n)` call the loop waits `SLOWDOWN[pace] - 1`
 * times as long as the call took (slow: about 10× the wall time), and takes at most `MAX_N[pace]`
 * batches a call so the views move smoothly. */
/** @type {import('./protocol.js').Pace} */
let pace = 'fast';
const SLOWDOWN = { fast: 1, normal: 3, slow: 10 };
const MAX_N = { fast: 1024, normal: 64, slow: 8 };
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

/** @param {WorkerEvent | Reply} msg @param {Transferable[]} [transfer] */
function post(msg, transfer = []) {
  self.postMessage(msg, transfer);
}

/** The live run; throws when there is none. */
function liveRun() {
  if (!run) throw new Error('No run: create one first.');
  return run;
}

/** The wasm module; throws before `init` loaded it. */
function engine() {
  if (!wasm) throw new Error('The engine is not loaded yet (init first).');
  return wasm;
}

/**
 * @param {Run} live
 * @param {number} [res]
 * @returns {Promise<Grid>}
 */
async function computeGrid(live, res = GRID_RES) {
  const data = await exclusive(() => live.decisionGrid(res));
  const grid = data instanceof Float32Array ? data : new Float32Array(data);
  return { data: grid, res, classes: Math.max(1, Math.round(grid.length / (res * res))) };
}

/** Each run's position on the batch axis (`epoch · batchesPerEpoch + batch`) at its last step. */
const positions = new WeakMap();

/**
 * Mini-batches a step call actually trained: the advance of the run's position (a call asked for
 * `n` may stop at an epoch's end, and a stage's evaluation trains none).
 * @param {Run} live
 * @param {{epoch: number, batch: number, batchesPerEpoch: number}} r
 */
function batchesTrained(live, r) {
  // After a run's last epoch the engine leaves `batch` at batchesPerEpoch with `epoch` already
  // counting that epoch: those batches are in `epoch · batchesPerEpoch`.
  const pos = r.epoch * r.batchesPerEpoch + (r.batch % Math.max(1, r.batchesPerEpoch));
  const prev = positions.get(live) ?? 0;
  positions.set(live, pos);
  return Math.max(0, pos - prev);
}

async function trainLoop() {
  let n = 1;
  let lastGrid = 0;
  while (training && run) {
    // dropRun() waits for this loop to exit before it frees the run: `live` stays valid throughout.
    const live = run;
    const t0 = performance.now();
    const r = await exclusive(() => live.step(n));
    const ms = performance.now() - t0;
    post({ event: 'step', epoch: r.epoch, batch: r.batch, batchesPerEpoch: r.batchesPerEpoch, loss: r.loss, batches: batchesTrained(live, r), ms, stage: r.stage ?? null });
    if (ms < STEP_TARGET_MS / 2) n = Math.min(n * 2, MAX_N[pace]);
    else if (ms > STEP_TARGET_MS * 2 && n > 1) n = Math.max(1, n >> 1);
    n = Math.min(n, MAX_N[pace]);
    if (r.notice) post({ event: 'notice', message: r.notice, epoch: r.epoch, backend: live.backend, backendNote: live.backendNote });
    if (r.epochEnd) post({ event: 'epoch', epochEnd: r.epochEnd, stage: r.stage ?? null });
    if (r.stageEnd) post({ event: 'stage', report: r.stageEnd });
    if (r.epochEnd || r.stageEnd) {
      // A stage that prunes without training changes the boundary too: redraw after every stage.
      if (live.is2d && (r.done || r.stageEnd || performance.now() - lastGrid > GRID_EVERY_MS)) {
        const grid = await computeGrid(live);
        post({ event: 'grid', ...grid }, [grid.data.buffer]);
        lastGrid = performance.now();
      }
    }
    if (r.done) {
      training = false;
      post({ event: 'done', report: await exclusive(() => live.report()) });
      return;
    }
    const wait = (SLOWDOWN[pace] - 1) * Math.max(ms, 4);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    else await yieldToEvents();
  }
  post({ event: 'stopped' });
}

/**
 * One mini-batch while paused: the same events as a step of the loop (step, epoch, stage, a fresh
 * decision grid on 2-D data, done at the end).
 * @param {Run} live
 */
async function stepOnce(live) {
  const t0 = performance.now();
  const r = await exclusive(() => live.step(1));
  const ms = performance.now() - t0;
  post({ event: 'step', epoch: r.epoch, batch: r.batch, batchesPerEpoch: r.batchesPerEpoch, loss: r.loss, batches: batchesTrained(live, r), ms, stage: r.stage ?? null });
  if (r.notice) post({ event: 'notice', message: r.notice, epoch: r.epoch, backend: live.backend, backendNote: live.backendNote });
  if (r.epochEnd) post({ event: 'epoch', epochEnd: r.epochEnd, stage: r.stage ?? null });
  if (r.stageEnd) post({ event: 'stage', report: r.stageEnd });
  if (live.is2d) {
    const grid = await computeGrid(live);
    post({ event: 'grid', ...grid }, [grid.data.buffer]);
  }
  if (r.done) post({ event: 'done', report: await exclusive(() => live.report()) });
  return { epoch: r.epoch, batch: r.batch, batchesPerEpoch: r.batchesPerEpoch, done: !!r.done };
}

/**
 * The report of a run, or null if the engine cannot give one yet.
 * @param {Run} live
 */
async function safeReport(live) {
  try {
    return await exclusive(() => live.report());
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
  const name = engine().datasetNeeded(json);
  if (!name) return;
  const url = new URL(`../data/${name}.bin.gz`, import.meta.url);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot load the ${name} images from ${url.pathname} (HTTP ${res.status})`);
  engine().provideDataset(name, new Uint8Array(await res.arrayBuffer()));
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

/**
 * What the page needs to show a new run: backend, layers and, for 2-D data, points and a grid.
 * @param {Run} live
 * @returns {Promise<RunInfo>}
 */
async function describeRun(live) {
  const is2d = live.is2d;
  const b = is2d ? Array.from(live.bounds()) : null;
  return {
    backend: live.backend,
    adapter: live.backend === 'gpu' ? adapterName(live.adapter, await browserAdapter()) : '',
    backendNote: live.backendNote,
    totalEpochs: live.totalEpochs,
    is2d,
    report: await safeReport(live),
    layers: live.layers(),
    bounds: b ? [b[0], b[1], b[2], b[3]] : null,
    points: is2d ? live.points() : null,
    grid: is2d ? await computeGrid(live) : null,
  };
}

/**
 * One handler per request type (www/protocol.js `Requests`).
 * @type {{[T in keyof Requests]: (req: Requests[T]['payload']) => Promise<Requests[T]['result']>}}
 */
const handlers = {
  /**
   * Test only (tests/e2e/reliability.spec.js dispatches it inside the worker; the page never sends
   * it): the live run's next call panics in Rust after holding the run, as a real panic would.
   */
  async __debugPanic({ message: text }) {
    const live = liveRun();
    return exclusive(() => live.__debugPanic(text));
  },

  async init() {
    if (!wasm) {
      /** @type {EngineModule} */
      let loaded;
      try {
        loaded = await import(ENGINE_MODULE);
      } catch (e) {
        throw new Error(`www/pkg/minnow.js is missing or broken: build it with "make serve" (${message(e)}).`);
      }
      await loaded.default();
      wasm = loaded;
    }
    return { presets: wasm.presets(), limits: wasm.limits() };
  },

  async validate({ json }) {
    return engine().validateRecipe(json);
  },

  async create({ json, csv }) {
    await dropRun();
    await provideData(json);
    run = await engine().Run.create(json, csv ?? undefined);
    return describeRun(run);
  },

  /** The live run's model as a .safetensors file (a Uint8Array, transferred). */
  async exportModel() {
    if (!run) throw new Error('No run: train one first.');
    const live = run;
    return exclusive(() => live.exportModel());
  },

  /**
   * Opens a model file (`bytes`, a Uint8Array; `csv` for a CSV-trained model) as a new run that
   * continues from its weights. The file is checked and the new run built before the live one is
   * dropped: a bad file leaves the live run as it was. Replies as `create`, plus `file` (what
   * `modelFileInfo` says about it).
   */
  async importModel({ bytes, csv }) {
    const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    const file = engine().modelFileInfo(data);
    const problem = csvProblem(JSON.parse(file.recipe), typeof csv === 'string');
    if (problem) throw new Error(problem);
    await provideData(file.recipe);
    const fresh = await engine().Run.importModel(data, csv ?? undefined);
    await dropRun();
    run = fresh;
    return { ...(await describeRun(fresh)), file };
  },

  async train() {
    liveRun();
    if (training) return null;
    training = true;
    loopDone = trainLoop().catch((e) => {
      training = false;
      if (!engineTrapped(e)) post({ event: 'failed', message: message(e) });
    });
    return null;
  },

  async pause() {
    await stopTraining();
    return null;
  },

  /**
   * The 2-D training points of a recipe before any run exists (the page draws them before Train):
   * a throwaway CPU run without compression stages, freed at once. Null for data that is not 2-D
   * or that would have to be downloaded first.
   */
  async preview({ json }) {
    const m = engine();
    if (m.datasetNeeded(json)) return null;
    // Edited as text: a parse and re-serialization would round a seed above 2^53.
    const probe = await m.Run.create(withTopLevel(json, { backend: 'cpu', compression: [] }), undefined);
    try {
      if (!probe.is2d) return null;
      const b = Array.from(probe.bounds());
      return { bounds: /** @type {[number, number, number, number]} */ ([b[0], b[1], b[2], b[3]]), points: probe.points() };
    } finally {
      probe.free();
    }
  },

  /** One mini-batch of the paused run (refused while the loop trains). */
  async step() {
    const live = liveRun();
    if (training) throw new Error('the model is training: pause it to step one batch at a time');
    return stepOnce(live);
  },

  /** How fast the loop trains: "fast" (as fast as it can), "normal" (about 3× slower), "slow" (about 10×). */
  async pace({ mode }) {
    if (!Object.hasOwn(SLOWDOWN, mode)) throw new Error(`pace "${mode}": expected fast, normal or slow`);
    pace = mode;
    return null;
  },

  async reset() {
    await dropRun();
    return null;
  },

  async report() {
    const live = run;
    return live ? exclusive(() => live.report()) : null;
  },

  async grid({ res }) {
    return run && run.is2d ? computeGrid(run, res) : null;
  },

  /** The weight layers, and `name`'s values, mask and quantization grid (the first layer's when
   * `name` is gone, e.g. after a structured stage renamed nothing but shrank shapes). */
  async weights({ name }) {
    const live = run;
    if (!live) return null;
    const layers = await exclusive(() => live.layers());
    const pick = layers.find((l) => l.name === name) ?? layers[0];
    if (!pick) return { layers, weights: null };
    const weights = await exclusive(() => live.weights(pick.name));
    return { layers, weights };
  },

  /** The trained model under a pruning / quantization `setting`, measured on the test split
   * without retraining (on a snapshot of the weights: the run is untouched). Refused while training. */
  async explore({ setting, grid, weights }) {
    const live = liveRun();
    if (training) throw new Error('the model is training: pause or wait for the run to finish, then explore');
    const problem = unknownFields(setting);
    if (problem) throw new Error(problem);
    // With `grid` (2-D data only), the compressed model's decision grid comes along; with
    // `weights`, those layers' weights as the setting leaves them.
    return exclusive(() => live.explore(setting, grid !== undefined && live.is2d ? grid : undefined, weights));
  },

  /** The small multiples: the decision grid as trained and after each finished stage (2-D runs). */
  async stageGrids() {
    const live = run;
    return live ? exclusive(() => live.stageGrids()) : [];
  },

  /** GPU-vs-CPU parity of the current weights on the first `samples` training samples (64 by default). */
  async parity({ samples }) {
    const live = liveRun();
    return exclusive(() => live.parity(samples ?? PARITY_SAMPLES));
  },

  /** Class probabilities of the trained model for drawn inputs: the run's model now, the
   * explorer's snapshot as trained and under `setting` (Run.predict). Refused while training. */
  async predict({ inputs, setting }) {
    const live = liveRun();
    if (training) throw new Error('the model is training: pause or wait for the run to finish, then draw');
    if (setting) {
      const problem = unknownFields(setting);
      if (problem) throw new Error(problem);
    }
    const data = inputs instanceof Float32Array ? inputs : new Float32Array(inputs);
    return exclusive(() => live.predict(data, setting ?? null));
  },

  /** `perClass` training samples of each class of a recipe's dataset, before any run (the image
   * sets are fetched first when the module does not hold them yet). */
  async samples({ json, perClass }) {
    await provideData(json);
    return engine().datasetSamples(json, perClass);
  },
};

/**
 * @param {unknown} type
 * @returns {type is keyof Requests}
 */
function isRequestType(type) {
  return typeof type === 'string' && Object.hasOwn(handlers, type);
}

/**
 * What a reply can transfer instead of copying: a model file's bytes, a grid, the values of a
 * weight (the `weights` reply) or of several (an explore result's list).
 * @param {unknown} result
 * @returns {Transferable[]}
 */
function transferables(result) {
  if (result instanceof Uint8Array) return [result.buffer];
  if (!result || typeof result !== 'object') return [];
  const r = /** @type {{grid?: {data?: unknown} | null, weights?: unknown}} */ (result);
  /** @type {Transferable[]} */
  const out = [];
  if (r.grid?.data instanceof Float32Array) out.push(r.grid.data.buffer);
  const weights = Array.isArray(r.weights) ? r.weights : r.weights ? [r.weights] : [];
  for (const w of weights) {
    const values = /** @type {{values?: unknown}} */ (w)?.values;
    if (values instanceof Float32Array && !out.includes(values.buffer)) out.push(values.buffer);
  }
  return out;
}

/** The message of the panic (or trap) that stopped the wasm module; "" while it works. */
let trapped = '';
/** Ids of the requests not answered yet. */
const unanswered = new Set();

/**
 * Whether `e` (a thrown error, an unhandled rejection's reason) means the wasm module trapped: a
 * `WebAssembly.RuntimeError`, or any error after the panic hook recorded a message in
 * `self.__minnowPanic` (src/wasm.rs). The first time, every unanswered request is answered with
 * the message and a `panic` event goes to the page.
 * @param {unknown} e
 */
function engineTrapped(e) {
  if (trapped) return true;
  const recorded = /** @type {{__minnowPanic?: string}} */ (/** @type {unknown} */ (self)).__minnowPanic;
  if (!recorded && !(e instanceof WebAssembly.RuntimeError)) return false;
  trapped = recorded ? String(recorded) : `the engine trapped: ${message(e)}`;
  training = false;
  for (const id of unanswered) post({ id, ok: false, error: trapped });
  unanswered.clear();
  post({ event: 'panic', message: trapped });
  return true;
}

// A panic inside a promise the wasm module owns surfaces here, not in the awaiting handler.
self.addEventListener('error', (ev) => {
  if (engineTrapped(ev.error ?? ev.message)) ev.preventDefault();
});
self.addEventListener('unhandledrejection', (ev) => {
  if (engineTrapped(ev.reason)) ev.preventDefault();
});

self.addEventListener('message', async (/** @type {MessageEvent} */ ev) => {
  const req = ev.data;
  const type = req?.type;
  if (!isRequestType(type)) {
    post({ id: req?.id, ok: false, error: `unknown request "${type}"` });
    return;
  }
  if (trapped) {
    post({ id: req.id, ok: false, error: `${trapped} (restart the engine)` });
    return;
  }
  unanswered.add(req.id);
  try {
    const handler = /** @type {(req: unknown) => Promise<unknown>} */ (handlers[type]);
    const result = await handler(req);
    if (unanswered.delete(req.id)) {
      try {
        post({ id: req.id, ok: true, result }, transferables(result));
      } catch (e) {
        // A reply that cannot be cloned must still end the call, or the page waits forever.
        post({ id: req.id, ok: false, error: `the engine's reply could not be sent: ${message(e)}` });
      }
    }
  } catch (e) {
    if (engineTrapped(e)) return;
    if (unanswered.delete(req.id)) post({ id: req.id, ok: false, error: message(e) });
  }
});
