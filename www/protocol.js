// The message protocol between the page (www/engine.js) and the training worker (www/worker.js):
// each request's payload and result, and the events the worker pushes while training. JSDoc typedefs
// only, no runtime code. Request {id, type, ...payload} -> reply {id, ok: true, result} |
// {id, ok: false, error}; events {event, ...} carry no id.

export {};

/** @typedef {import('./report-types.js').Report} Report */
/** @typedef {import('./report-types.js').StageReport} StageReport */
/** @typedef {import('./report-types.js').EpochMetrics} EpochMetrics */
/** @typedef {import('./report-types.js').StageProgress} StageProgress */
/** @typedef {import('./report-types.js').LayerInfo} LayerInfo */
/** @typedef {import('./report-types.js').LayerWeights} LayerWeights */
/** @typedef {import('./report-types.js').ExploreSetting} ExploreSetting */
/** @typedef {import('./report-types.js').ExploreResult} ExploreResult */
/** @typedef {import('./engine-api.js').ExploreOutcome} ExploreOutcome */
/** @typedef {import('./engine-api.js').StageGrid} StageGrid */
/** @typedef {import('./engine-api.js').Parity} Parity */

/**
 * A decision grid: `res·res·classes` probabilities over the bounds.
 * @typedef {{data: Float32Array, res: number, classes: number}} Grid
 */

/**
 * What the page needs to show a new run (`create` and `importModel` replies).
 * @typedef {object} RunInfo
 * @property {string} backend "cpu" or "gpu"
 * @property {string} adapter the GPU adapter's name ("" on the CPU)
 * @property {string} backendNote why the run fell back to the CPU ("" when it did not)
 * @property {number} totalEpochs epochs of the initial training
 * @property {boolean} is2d
 * @property {Report | null} report the run's report so far, null when the engine had none yet
 * @property {LayerInfo[]} layers
 * @property {[number, number, number, number] | null} bounds of 2-D data
 * @property {{x: Float32Array, y: Uint32Array} | null} points of 2-D data
 * @property {Grid | null} grid of 2-D data
 */

/**
 * Every request: its payload (besides `id` and `type`) and its result.
 * @typedef {object} Requests
 * @property {{payload: {}, result: {presets: import('./state.js').Preset[],
 *   limits: import('./engine-api.js').Limits}}} init the presets, and the largest files the engine takes
 * @property {{payload: {json: string}, result: import('./state.js').Recipe}} validate
 * @property {{payload: {json: string, csv?: string}, result: RunInfo}} create
 * @property {{payload: {}, result: Uint8Array}} exportModel
 * @property {{payload: {bytes: Uint8Array, csv?: string},
 *   result: RunInfo & {file: import('./modelfile.js').ModelFileInfo}}} importModel
 * @property {{payload: {}, result: null}} train
 * @property {{payload: {}, result: null}} pause
 * @property {{payload: {}, result: {epoch: number, batch: number, batchesPerEpoch: number, done: boolean}}} step
 *   one mini-batch of the paused run (refused while training)
 * @property {{payload: {mode: Pace}, result: null}} pace how fast the training loop runs
 * @property {{payload: {json: string}, result: {bounds: [number, number, number, number],
 *   points: {x: Float32Array, y: Uint32Array}} | null}} preview a recipe's 2-D points before any run
 * @property {{payload: {}, result: null}} reset
 * @property {{payload: {}, result: Report | null}} report
 * @property {{payload: {res?: number}, result: Grid | null}} grid
 * @property {{payload: {name: string},
 *   result: {layers: LayerInfo[], weights: LayerWeights | null} | null}} weights
 * @property {{payload: {setting: Partial<ExploreSetting>, grid?: number, weights?: string[]}, result: ExploreOutcome}} explore the trained
 *   model under a pruning / quantization setting, without retraining (refused while training)
 * @property {{payload: {message: string}, result: never}} __debugPanic test only
 *   (tests/e2e/reliability.spec.js): the live run panics in Rust with `message`; the page never sends it
 * @property {{payload: {}, result: StageGrid[]}} stageGrids the decision grid as trained and after
 *   each finished stage (2-D runs with stages; [] otherwise)
 * @property {{payload: {samples?: number}, result: Parity}} parity one batch of training samples
 *   through the GPU and a CPU copy of the model (refused on a CPU run)
 * @property {{payload: {inputs: Float32Array, setting?: Partial<ExploreSetting>}, result: Prediction}} predict class
 *   probabilities of the trained model for drawn inputs (refused while training)
 * @property {{payload: {json: string, perClass: number}, result: Samples}} samples a few training samples
 *   of each class of a recipe's dataset, before any run
 */

/**
 * `n · classes` probabilities each: `model` the run's model now (after its stages), `dense` the
 * explorer's snapshot with no setting, `explored` the snapshot under the setting (null without one).
 * @typedef {{classes: number, model: Float32Array, dense: Float32Array, explored: Float32Array | null}} Prediction
 */

/**
 * `perClass` training samples of each class, class 0's first; `x` holds `y.length` samples of
 * `inputShape`.
 * @typedef {{inputShape: Uint32Array, classes: number, classNames: string[], x: Float32Array, y: Uint32Array}} Samples
 */

/** @typedef {keyof Requests} RequestType */

/** @typedef {'fast' | 'normal' | 'slow'} Pace the training loop's speed (slow: about 10× the wall time) */

/**
 * @typedef {{id: number, ok: true, result: unknown} | {id: number, ok: false, error: string}} Reply
 */

/**
 * One `run.step(n)` call: `loss` is the mean over its `batches` (null when no read was due);
 * `epoch` counts completed epochs (stages' epochs included) and `batch` the batches done in the
 * current one. `stage`: the compression stage running, null during the initial training.
 * @typedef {{event: 'step', epoch: number, batch: number, batchesPerEpoch: number, loss: number | null,
 *   batches: number, ms: number, stage: StageProgress | null}} StepEvent
 * @typedef {{event: 'epoch', epochEnd: EpochMetrics, stage: StageProgress | null}} EpochEvent
 * @typedef {{event: 'stage', report: StageReport}} StageEvent a stage finished
 * @typedef {{event: 'notice', message: string, epoch: number, backend: string, backendNote: string}} NoticeEvent
 *   news for the user (the GPU was lost and the run resumed on the CPU at `epoch`)
 * @typedef {{event: 'grid'} & Grid} GridEvent
 * @typedef {{event: 'done', report: Report}} DoneEvent
 * @typedef {{event: 'failed', message: string}} FailedEvent
 * @typedef {{event: 'stopped'}} StoppedEvent
 * @typedef {{event: 'panic', message: string}} PanicEvent the wasm module panicked (`message`, as
 *   the panic hook recorded it): every request was answered with it, the worker is of no more use
 * @typedef {StepEvent | EpochEvent | StageEvent | NoticeEvent | GridEvent | DoneEvent | FailedEvent
 *   | StoppedEvent | PanicEvent} WorkerEvent
 */
