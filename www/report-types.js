// The shapes of what the engine sends the page: the run report, epoch metrics, step progress,
// stage reports (a union on `kind`, with each kind's `details`), layer lists and weights. The types
// are generated from the engine's Rust types (www/types/report.ts, written by
// tests/native/ts_types.rs with ts-rs); this module re-exports them under the names the page's JSDoc
// imports, plus the few shapes that exist only on the JS side. JSDoc typedefs only, no runtime code.
// JSON has no NaN: an f32/f64 that is NaN (or an `Option` that is `None`) arrives as null.

export {};

/** @typedef {import('./types/report.js').EpochMetrics} EpochMetrics */
/** @typedef {import('./types/report.js').StepInfo} StepInfo */
/** @typedef {import('./types/report.js').StageProgress} StageProgress */
/** @typedef {import('./types/report.js').FinalMetrics} FinalMetrics */
/** @typedef {import('./types/report.js').ModelSize} ModelSize */
/** @typedef {import('./types/report.js').Report} Report */
/** @typedef {import('./types/report.js').ModelStats} ModelStats */
/** @typedef {import('./types/report.js').LayerStats} LayerStats */
/** @typedef {import('./types/report.js').Bytes} Bytes */
/** @typedef {import('./types/report.js').StageReport} StageReport */
/** @typedef {import('./types/report.js').StageDetails} StageDetails */
/** @typedef {import('./types/report.js').FinetuneDetails} FinetuneDetails */
/** @typedef {import('./types/report.js').MagnitudeDetails} MagnitudeDetails */
/** @typedef {import('./types/report.js').NmDetails} NmDetails */
/** @typedef {import('./types/report.js').StructuredDetails} StructuredDetails */
/** @typedef {import('./types/report.js').RemovalDetails} RemovalDetails */
/** @typedef {import('./types/report.js').RemovedLayer} RemovedLayer */
/** @typedef {import('./types/report.js').GradualDetails} GradualDetails */
/** @typedef {import('./types/report.js').GradualEvent} GradualEvent */
/** @typedef {import('./types/report.js').IterativeDetails} IterativeDetails */
/** @typedef {import('./types/report.js').IterativeCycle} IterativeCycle */
/** @typedef {import('./types/report.js').LotteryDetails} LotteryDetails */
/** @typedef {import('./types/report.js').LotteryRound} LotteryRound */
/** @typedef {import('./types/report.js').SensitivityDetails} SensitivityDetails */
/** @typedef {import('./types/report.js').DistillDetails} DistillDetails */
/** @typedef {import('./types/report.js').ModelSummary} ModelSummary */
/** @typedef {import('./types/report.js').SoftTargets} SoftTargets */
/** @typedef {import('./types/report.js').SweepDetails} SweepDetails */
/** @typedef {import('./types/report.js').SweepPoint} SweepPoint */
/** @typedef {import('./types/report.js').QuantizeDetails} QuantizeDetails */
/** @typedef {import('./types/report.js').QuantPoint} QuantPoint */
/** @typedef {import('./types/report.js').QatDetails} QatDetails */
/** @typedef {import('./types/report.js').QuantBytes} QuantBytes */
/** @typedef {import('./types/report.js').LayerQuantReport} LayerQuantReport */
/** @typedef {import('./types/report.js').Scope} Scope */
/** @typedef {import('./types/report.js').Norm} Norm */
/** @typedef {import('./types/report.js').Scheme} Scheme */
/** @typedef {import('./types/report.js').Granularity} Granularity */
/** @typedef {import('./types/report.js').ObserverKind} ObserverKind */
/** @typedef {import('./types/report.js').LayerInfo} LayerInfo */
/** @typedef {import('./types/report.js').QuantGrid} QuantGrid */
/** @typedef {import('./types/report.js').ExploreSetting} ExploreSetting */
/** @typedef {import('./types/report.js').ExploreResult} ExploreResult */

/** @typedef {StageReport['kind']} StageKind the `kind` of a compression stage */

/**
 * A weight as `Run.weights(name)` resolves it: the layer's entry with its values, its mask (1 kept,
 * 0 pruned) and its quantization grid.
 * @typedef {LayerInfo & {values: Float32Array, mask: Float32Array | null, quant: QuantGrid | null}} LayerWeights
 */
