// The shapes of what the engine sends the page: the run report, epoch metrics, step progress, stage
// reports and their per-kind details, layer lists and weights. JSDoc typedefs only, no runtime code;
// every other file imports them from here. Names follow the Rust types (src/trainer.rs, src/pipeline.rs,
// src/prune.rs, src/quant.rs, src/distill.rs, src/sweep.rs, src/wasm.rs), so that generated
// declarations (www/types/, ts-rs) can later replace these bodies one by one.
// JSON has no NaN: an f32/f64 that is NaN (or an `Option` that is `None`) arrives as null.

export {};

// ---------------------------------------------------------------------------------------------
// Training (src/trainer.rs)

/**
 * One finished epoch (`EpochMetrics`); `train_*` are running averages over the epoch's batches.
 * @typedef {object} EpochMetrics
 * @property {number} epoch
 * @property {number} train_loss
 * @property {number} train_accuracy
 * @property {number} test_accuracy
 * @property {number} lr
 * @property {number} seconds
 */

/**
 * Where the compression pipeline is (`StageProgress`, src/pipeline.rs).
 * @typedef {object} StageProgress
 * @property {number} index in `recipe.compression`
 * @property {number} count stages in the recipe
 * @property {StageKind} kind
 * @property {string} detail progress in words ("round 2/3")
 */

/**
 * What one `Run.step(n)` call did (`StepInfo`, camelCase). `epoch + batch / batchesPerEpoch` is the
 * position on the epoch axis.
 * @typedef {object} StepInfo
 * @property {number} epoch completed epochs (stages' epochs included)
 * @property {number} batch batches done in the current epoch
 * @property {number} batchesPerEpoch
 * @property {number | null} loss mean loss since the previous read, when a read was due
 * @property {EpochMetrics | null} epochEnd
 * @property {StageProgress} [stage] absent during the initial training
 * @property {StageReport} [stageEnd] on the call that finished a stage
 * @property {boolean} done true once the initial training and every stage are done
 * @property {string} [notice] news for the user (the GPU was lost, the run moved to the CPU)
 */

/**
 * @typedef {object} FinalMetrics
 * @property {number} test_accuracy
 * @property {number} train_loss
 * @property {number[][]} confusion `confusion[true][predicted]` counts on the test split
 */

/**
 * @typedef {object} ModelSize
 * @property {number} params
 * @property {number} bytes dense f32 bytes of parameters and buffers
 */

/**
 * The JSON report of a run (`Report`; the CLI's `--out`, the page's download).
 * @typedef {object} Report
 * @property {import('./state.js').Recipe} recipe
 * @property {string} backend "cpu" or "gpu"
 * @property {string} [backend_note] why the run fell back to the CPU
 * @property {EpochMetrics[]} epochs
 * @property {FinalMetrics} final
 * @property {ModelSize} model
 * @property {StageReport[]} stages
 */

// ---------------------------------------------------------------------------------------------
// Model statistics (src/pipeline.rs)

/**
 * Bytes of parameters and buffers per format (`Bytes`). `sparse` lets each tensor take its cheapest
 * format (dense, bitmask or CSR). `quantized`: the packed integers a quantize or qat stage measured
 * (added to that stage's report only).
 * @typedef {object} Bytes
 * @property {number} dense
 * @property {number} bitmask
 * @property {number} csr
 * @property {number} sparse
 * @property {number} [quantized]
 */

/**
 * One linear or conv weight's sparsity (`LayerStats`).
 * @typedef {object} LayerStats
 * @property {string} name
 * @property {number[]} shape
 * @property {number} zeros
 * @property {number} sparsity
 */

/**
 * Sparsity and size of a model (`ModelStats`, flattened into a stage report).
 * @typedef {object} ModelStats
 * @property {number} params trainable scalars, zeros included
 * @property {number} nonzero_params
 * @property {number} weight_sparsity zero fraction over all linear and conv weights
 * @property {number} param_sparsity zero fraction over all parameters
 * @property {LayerStats[]} layers
 * @property {Bytes} bytes
 */

// ---------------------------------------------------------------------------------------------
// Stage reports (src/pipeline.rs StageReport) and their kinds' details

/**
 * @typedef {'finetune' | 'magnitude' | 'structured' | 'n_m' | 'gradual' | 'iterative' | 'lottery'
 *   | 'sensitivity' | 'distill' | 'sweep' | 'quantize' | 'qat'} StageKind
 */

/**
 * What every stage report holds, whatever its kind.
 * @typedef {ModelStats & {
 *   index: number,
 *   test_accuracy: number,
 *   accuracy_change: number,
 *   compression_ratio: number,
 *   seconds: number,
 *   epochs?: EpochMetrics[],
 * }} StageReportBase
 *   `accuracy_change`: `test_accuracy` minus the dense model's (after the initial training);
 *   `compression_ratio`: the first dense model's bytes over this stage's honest size; `epochs`:
 *   absent when the stage trained none.
 */

/**
 * @template {StageKind} K
 * @template D
 * @typedef {StageReportBase & {kind: K, details: D}} StageReportOf
 */

/**
 * A finished stage's report: a union discriminated by `kind`; switch on it to read `details`.
 * @typedef {StageReportOf<'finetune', FinetuneDetails>
 *   | StageReportOf<'magnitude', MagnitudeDetails>
 *   | StageReportOf<'structured', StructuredDetails>
 *   | StageReportOf<'n_m', NMDetails>
 *   | StageReportOf<'gradual', GradualDetails>
 *   | StageReportOf<'iterative', IterativeDetails>
 *   | StageReportOf<'lottery', LotteryDetails>
 *   | StageReportOf<'sensitivity', SensitivityDetails>
 *   | StageReportOf<'distill', DistillDetails>
 *   | StageReportOf<'sweep', SweepDetails>
 *   | StageReportOf<'quantize', QuantizeDetails>
 *   | StageReportOf<'qat', QatDetails>} StageReport
 */

/** @typedef {'layer' | 'global'} Scope where a magnitude threshold is drawn (src/prune.rs) */
/** @typedef {'l1' | 'l2'} Norm the channel norm of structured pruning */
/** @typedef {number} Amount a count of units (an integer) or a fraction of the unpruned ones */

/** @typedef {Record<string, never>} FinetuneDetails a fine-tuning stage reports only its epochs */

/**
 * @typedef {object} MagnitudeDetails
 * @property {Scope} scope
 * @property {Amount} amount
 * @property {string[]} layers the weights pruned
 */

/**
 * @typedef {object} NMDetails
 * @property {number} n kept of every `m` consecutive weights
 * @property {number} m
 * @property {string[]} layers
 */

/**
 * @typedef {object} StructuredDetails
 * @property {Amount} amount
 * @property {Norm} norm
 * @property {number} dim 0: output channels (units), 1: input channels
 * @property {string[]} layers
 * @property {StructuredRemoval} [removal] with `remove: true`: the dead channels taken out
 */

/**
 * @typedef {object} StructuredRemoval
 * @property {{layer: string, channels_before: number, channels_after: number}[]} layers
 * @property {number} params_before
 * @property {number} params_after
 * @property {number} inference_seconds_before best-of-5 wall time of evaluating the test split
 * @property {number} inference_seconds_after
 * @property {number} speedup
 * @property {number} max_logit_change largest |logit| change on the test split (removal is exact)
 */

/**
 * An automated gradual pruning (AGP) stage: the schedule as it ran.
 * @typedef {object} GradualDetails
 * @property {number} initial_sparsity
 * @property {number} final_sparsity
 * @property {number} start_step
 * @property {number} frequency
 * @property {number} prunings
 * @property {Scope} scope
 * @property {string[]} layers
 * @property {{step: number, target: number, sparsity: number, layers: number[]}[]} schedule one
 *   entry per pruning step: the target, the sparsity reached, and per layer
 */

/**
 * @typedef {object} IterativeDetails
 * @property {number} sparsity the final target
 * @property {number} cycles
 * @property {Scope} scope
 * @property {string[]} layers
 * @property {{cycle: number, sparsity: number, test_accuracy: number | null}[]} log
 */

/**
 * The lottery ticket comparison: dense, the rewound ticket, and the same mask from random weights.
 * @typedef {object} LotteryDetails
 * @property {number} sparsity
 * @property {{round: number, sparsity: number, test_accuracy: number | null}[]} rounds
 * @property {number} rewind_step
 * @property {Scope} scope
 * @property {string[]} layers
 * @property {number} dense_accuracy
 * @property {number | null} ticket_accuracy
 * @property {number | null} control_accuracy null when the recipe turned the control off
 */

/**
 * @typedef {object} SensitivityDetails
 * @property {string[]} layers
 * @property {number[]} sparsities
 * @property {number[][]} accuracy `accuracy[layer][sparsity]`, one layer pruned at a time
 */

/**
 * One model of a distillation's comparison (src/distill.rs `summary`).
 * @typedef {object} DistillSummary
 * @property {number} test_accuracy
 * @property {number} params
 * @property {number} nonzero_params
 * @property {Bytes} bytes
 */

/**
 * Class probabilities at temperature T of the first test samples, column form: `teacher[i]` is
 * sample i's probabilities under the teacher.
 * @typedef {object} SoftTargets
 * @property {number} temperature
 * @property {number[]} samples indices in the test split
 * @property {number[]} labels
 * @property {number[][]} teacher
 * @property {number[][]} distilled
 * @property {number[][]} alone
 */

/**
 * @typedef {object} DistillDetails
 * @property {unknown} student the student's model section, as in the recipe
 * @property {number} temperature
 * @property {number} alpha weight of the soft (teacher) term
 * @property {{weight: number, student_layer?: number, teacher_layer?: number} | null} hint
 * @property {number | null} margin distilled minus alone test accuracy
 * @property {number} test_samples
 * @property {DistillSummary} teacher
 * @property {DistillSummary} distilled
 * @property {DistillSummary | null} alone
 * @property {SoftTargets} soft_targets
 */

/**
 * One point of a sweep's grid, measured after its stages ran from the sweep's starting model.
 * @typedef {object} SweepPoint
 * @property {Record<string, unknown>} settings the grid's values for this point
 * @property {number} test_accuracy
 * @property {number} accuracy_change
 * @property {number} params
 * @property {number} nonzero_params
 * @property {number} weight_sparsity
 * @property {number} bytes the sparse (honest) size
 * @property {number} dense_bytes
 * @property {number} compression_ratio
 * @property {number} seconds
 * @property {unknown[]} stages the details of the point's stages
 * @property {boolean} pareto on the accuracy-versus-bytes front of the sweep
 */

/**
 * @typedef {object} SweepDetails
 * @property {unknown} template the stage template, as JSON
 * @property {Record<string, unknown[]>} grid
 * @property {unknown[]} then
 * @property {SweepPoint[]} points
 * @property {boolean} restored
 * @property {string} note
 */

/** @typedef {'symmetric' | 'affine'} Scheme */
/** @typedef {'per_tensor' | 'per_channel'} Granularity */
/** @typedef {'minmax' | 'moving_average' | 'percentile' | 'histogram'} ObserverKind */

/**
 * Sizes of a quantized model (`QuantBytes`).
 * @typedef {object} QuantBytes
 * @property {number} f32 every parameter and buffer as f32
 * @property {number} quantized weights packed at their bit width, with scales and zero points
 * @property {number} gzip
 */

/**
 * Per-layer quantization report (`LayerQuantReport`).
 * @typedef {object} LayerQuantReport
 * @property {string} name
 * @property {number} bits
 * @property {number} sqnr_db
 * @property {number} weight_min
 * @property {number} weight_max
 * @property {number} scale_min
 * @property {number} scale_max
 * @property {[number, number]} [input_range]
 * @property {number} [input_scale]
 * @property {number} [input_zero_point]
 */

/**
 * One bit width of a quantize stage (src/quant.rs `point`). `int8_agreement`: the share of test
 * samples where integer inference predicts the fake-quant model's class; `int8_path`: the integer
 * kernel that ran. Both null when the point has no integer model.
 * @typedef {object} QuantPoint
 * @property {number} bits
 * @property {number} test_accuracy
 * @property {QuantBytes} bytes
 * @property {LayerQuantReport[]} layers
 * @property {number | null} int8_agreement
 * @property {string | null} int8_path
 */

/**
 * A quantize stage: one point per bit width; the model keeps the last width (whose numbers are
 * repeated at the top level).
 * @typedef {object} QuantizeDetails
 * @property {Scheme} scheme
 * @property {Granularity} granularity
 * @property {boolean} activations
 * @property {ObserverKind} observer
 * @property {number} bits
 * @property {QuantBytes} quant_bytes
 * @property {number | null} int8_agreement
 * @property {string | null} int8_path
 * @property {LayerQuantReport[]} layers
 * @property {QuantPoint[]} points
 */

/**
 * Quantization-aware training: the post-training quantized model (`ptq`) and the model after QAT.
 * @typedef {object} QatDetails
 * @property {number} bits
 * @property {Scheme} scheme
 * @property {Granularity} granularity
 * @property {number} steps
 * @property {number} ptq_accuracy
 * @property {number} qat_accuracy
 * @property {number} qat_gain
 * @property {QuantBytes} quant_bytes
 * @property {LayerQuantReport[]} layers
 * @property {QuantPoint} ptq
 */

// ---------------------------------------------------------------------------------------------
// Layers and weights (src/wasm.rs)

/**
 * One linear or conv weight, as `Run.layers()` lists it (`LayerInfo`).
 * @typedef {object} LayerInfo
 * @property {string} name `state_dict` name ("0.weight"), the key for `Run.weights`
 * @property {'linear' | 'conv2d'} kind
 * @property {number[]} shape `[out, in]` or `[out, in, kh, kw]`
 * @property {boolean} masked whether a pruning mask is on it
 */

/**
 * The quantization grid a quantization stage put on a weight: level `q` sits at
 * `scale · (q − zero_point)`, one scale and zero point per tensor or per output channel (axis 0).
 * @typedef {object} QuantGrid
 * @property {number} bits
 * @property {boolean} per_channel
 * @property {number} axis
 * @property {number[]} scale
 * @property {number[]} zero_point
 * @property {number} qmin
 * @property {number} qmax
 */

/**
 * A weight's values (`Run.weights(name)`); `mask` holds 1 for kept and 0 for pruned entries.
 * @typedef {LayerInfo & {values: Float32Array, mask: Float32Array | null, quant: QuantGrid | null}} LayerWeights
 */
