//! The typed reports of a run, from Rust to the CLI's table and JSON, the page and the tests:
//! [`Report`] (the whole run), [`EpochMetrics`], [`StepInfo`] (one call of `step`), and
//! [`StageReport`] with [`StageDetails`], one tagged variant per stage kind with its own typed
//! details. `tests/native/ts_types.rs` writes their TypeScript declarations to www/types/report.ts,
//! which the page's JSDoc imports and `tsc` checks.

use crate::compress::prune::{Norm, Scope};
use crate::compress::quant::{Granularity, LayerQuantReport, ObserverKind, QuantBytes, Scheme};
use crate::recipe::Recipe;
use serde::Serialize;
use serde_json::Value;
use ts_rs::TS;

/// Metrics of one epoch. `train_*` are running averages over the epoch's batches (training mode).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct EpochMetrics {
    pub epoch: u32,
    pub train_loss: f32,
    pub train_accuracy: f32,
    pub test_accuracy: f32,
    pub lr: f32,
    pub seconds: f64,
}

/// What one call of `Session::step` did.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StepInfo {
    /// Completed epochs (so `epoch + batch / batches_per_epoch` is the position on the epoch axis).
    pub epoch: u32,
    /// Batches done in the current epoch.
    pub batch: usize,
    pub batches_per_epoch: usize,
    /// Mean loss of the batches since the previous read, when a read was due.
    pub loss: Option<f32>,
    pub epoch_end: Option<EpochMetrics>,
    /// The compression stage in progress (absent during the initial training).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub stage: Option<StageProgress>,
    /// A stage's report, on the call that finished the stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub stage_end: Option<StageReport>,
    /// True when the initial training and every stage are done.
    pub done: bool,
    /// Something the user should be told, e.g. that the GPU was lost and the run moved to the CPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub notice: Option<String>,
}

/// Where the pipeline is, for [`StepInfo`].
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StageProgress {
    /// Index in `recipe.compression`.
    pub index: usize,
    pub count: usize,
    pub kind: &'static str,
    pub detail: String,
}

/// Final evaluation.
#[derive(Debug, Clone, Serialize, TS)]
pub struct FinalMetrics {
    pub test_accuracy: f32,
    pub train_loss: f32,
    /// `confusion[true][predicted]` counts on the test split.
    pub confusion: Vec<Vec<u32>>,
}

/// Size of the model.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ModelSize {
    pub params: usize,
    /// Dense f32 bytes of parameters and buffers.
    pub bytes: usize,
}

/// The JSON report of a run (CLI `--out`, page download).
#[derive(Debug, Clone, Serialize, TS)]
pub struct Report {
    /// The recipe, normalized (its type is the page's `Recipe`, www/state.js).
    #[ts(type = "Record<string, unknown>")]
    pub recipe: Recipe,
    pub backend: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    #[ts(as = "Option<String>", optional)]
    pub backend_note: String,
    pub epochs: Vec<EpochMetrics>,
    #[serde(rename = "final")]
    pub final_metrics: FinalMetrics,
    pub model: ModelSize,
    pub stages: Vec<StageReport>,
}

/// Sizes and sparsity of a model, measured from its tensors.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ModelStats {
    /// Trainable scalars (zeros included).
    pub params: usize,
    pub nonzero_params: usize,
    /// Zero fraction over all linear and conv weights.
    pub weight_sparsity: f64,
    /// Zero fraction over all parameters.
    pub param_sparsity: f64,
    pub layers: Vec<LayerStats>,
    pub bytes: Bytes,
}

/// One linear or conv weight's sparsity.
#[derive(Debug, Clone, Serialize, TS)]
pub struct LayerStats {
    pub name: String,
    pub shape: Vec<usize>,
    pub zeros: usize,
    pub sparsity: f64,
}

/// Bytes of parameters and buffers in each format; `sparse` lets each tensor take its cheapest
/// format (dense, bitmask or CSR), the honest size of a sparse model; `quantized`, after a
/// quantization stage, the packed integers (with sparsity) that stage measured.
#[derive(Debug, Clone, Copy, Serialize, Default, TS)]
pub struct Bytes {
    pub dense: usize,
    pub bitmask: usize,
    pub csr: usize,
    pub sparse: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub quantized: Option<usize>,
}

/// The report of one stage, as it appears in `Report.stages`: what every stage measures, then
/// `kind` and `details` from [`StageDetails`].
#[derive(Debug, Clone, Serialize, TS)]
pub struct StageReport {
    pub index: usize,
    pub test_accuracy: f32,
    /// `test_accuracy` minus the dense model's (after the initial training).
    pub accuracy_change: f32,
    #[serde(flatten)]
    pub stats: ModelStats,
    /// Dense bytes of the first dense model over the honest size now (`bytes.quantized` after a
    /// quantization stage, else `bytes.sparse`).
    pub compression_ratio: f64,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[ts(as = "Option<Vec<EpochMetrics>>", optional)]
    pub epochs: Vec<EpochMetrics>,
    #[serde(flatten)]
    pub outcome: StageDetails,
}

/// One variant per stage kind: `{"kind": "magnitude", "details": {...}}` in JSON. One value per
/// finished stage, so the size difference between variants costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, TS)]
#[serde(tag = "kind", content = "details", rename_all = "snake_case")]
pub enum StageDetails {
    Finetune(FinetuneDetails),
    Magnitude(MagnitudeDetails),
    Structured(StructuredDetails),
    #[serde(rename = "n_m")]
    NM(NmDetails),
    Gradual(GradualDetails),
    Iterative(IterativeDetails),
    Lottery(LotteryDetails),
    Sensitivity(SensitivityDetails),
    Distill(DistillDetails),
    Sweep(SweepDetails),
    Quantize(QuantizeDetails),
    Qat(QatDetails),
}

impl StageDetails {
    /// The stage kind as written in a recipe.
    pub fn kind(&self) -> &'static str {
        match self {
            StageDetails::Finetune(_) => "finetune",
            StageDetails::Magnitude(_) => "magnitude",
            StageDetails::Structured(_) => "structured",
            StageDetails::NM(_) => "n_m",
            StageDetails::Gradual(_) => "gradual",
            StageDetails::Iterative(_) => "iterative",
            StageDetails::Lottery(_) => "lottery",
            StageDetails::Sensitivity(_) => "sensitivity",
            StageDetails::Distill(_) => "distill",
            StageDetails::Sweep(_) => "sweep",
            StageDetails::Quantize(_) => "quantize",
            StageDetails::Qat(_) => "qat",
        }
    }

    /// The honest size a quantization stage measured (packed integers), when this is one.
    pub fn quantized_bytes(&self) -> Option<usize> {
        match self {
            StageDetails::Quantize(q) => Some(q.quant_bytes.quantized),
            StageDetails::Qat(q) => Some(q.quant_bytes.quantized),
            _ => None,
        }
    }

    /// The details alone, without the kind (a sweep point lists its stages' details this way).
    pub fn details_json(&self) -> serde_json::Result<Value> {
        match self {
            StageDetails::Finetune(d) => serde_json::to_value(d),
            StageDetails::Magnitude(d) => serde_json::to_value(d),
            StageDetails::Structured(d) => serde_json::to_value(d),
            StageDetails::NM(d) => serde_json::to_value(d),
            StageDetails::Gradual(d) => serde_json::to_value(d),
            StageDetails::Iterative(d) => serde_json::to_value(d),
            StageDetails::Lottery(d) => serde_json::to_value(d),
            StageDetails::Sensitivity(d) => serde_json::to_value(d),
            StageDetails::Distill(d) => serde_json::to_value(d),
            StageDetails::Sweep(d) => serde_json::to_value(d),
            StageDetails::Quantize(d) => serde_json::to_value(d),
            StageDetails::Qat(d) => serde_json::to_value(d),
        }
    }
}

/// `finetune`: nothing beyond the stage's epochs.
#[derive(Debug, Clone, Serialize, TS)]
pub struct FinetuneDetails {}

/// `magnitude`: what was asked, on which weights.
#[derive(Debug, Clone, Serialize, TS)]
pub struct MagnitudeDetails {
    pub scope: Scope,
    /// torch's `amount`: a fraction of the unpruned weights, or a count.
    #[ts(type = "number")]
    pub amount: crate::compress::prune::Amount,
    pub layers: Vec<String>,
}

/// `n_m`: `n` zeros in every group of `m` along the input dimension.
#[derive(Debug, Clone, Serialize, TS)]
pub struct NmDetails {
    pub n: usize,
    pub m: usize,
    pub layers: Vec<String>,
}

/// `structured`: the pruned neurons or filters, and with `remove` what removal bought.
#[derive(Debug, Clone, Serialize, TS)]
pub struct StructuredDetails {
    #[ts(type = "number")]
    pub amount: crate::compress::prune::Amount,
    pub norm: Norm,
    pub dim: usize,
    pub layers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub removal: Option<RemovalDetails>,
}

/// Physical removal of dead units: the smaller model, its speed, and the largest logit change.
#[derive(Debug, Clone, Serialize, TS)]
pub struct RemovalDetails {
    pub layers: Vec<RemovedLayer>,
    pub params_before: usize,
    pub params_after: usize,
    pub inference_seconds_before: f64,
    pub inference_seconds_after: f64,
    pub speedup: f64,
    pub max_logit_change: f32,
}

/// One layer's units before and after removal.
#[derive(Debug, Clone, Serialize, TS)]
pub struct RemovedLayer {
    pub layer: String,
    pub channels_before: usize,
    pub channels_after: usize,
}

/// `gradual`: the cubic schedule and every pruning event.
#[derive(Debug, Clone, Serialize, TS)]
pub struct GradualDetails {
    pub initial_sparsity: f64,
    pub final_sparsity: f64,
    #[ts(type = "number")]
    pub start_step: u64,
    #[ts(type = "number")]
    pub frequency: u64,
    pub prunings: u32,
    pub scope: Scope,
    pub layers: Vec<String>,
    pub schedule: Vec<GradualEvent>,
}

/// One pruning event of a gradual stage: the target and the sparsity reached (overall, per layer).
#[derive(Debug, Clone, Serialize, TS)]
pub struct GradualEvent {
    #[ts(type = "number")]
    pub step: u64,
    pub target: f64,
    pub sparsity: f64,
    pub layers: Vec<f64>,
}

/// `iterative`: prune → finetune cycles.
#[derive(Debug, Clone, Serialize, TS)]
pub struct IterativeDetails {
    pub sparsity: f64,
    pub cycles: u32,
    pub scope: Scope,
    pub layers: Vec<String>,
    pub log: Vec<IterativeCycle>,
}

/// One cycle of an iterative stage.
#[derive(Debug, Clone, Serialize, TS)]
pub struct IterativeCycle {
    pub cycle: u32,
    pub sparsity: f64,
    pub test_accuracy: Option<f32>,
}

/// `lottery`: the rounds of rewinding, the ticket against the dense model and the random re-init.
#[derive(Debug, Clone, Serialize, TS)]
pub struct LotteryDetails {
    pub sparsity: f64,
    pub rounds: Vec<LotteryRound>,
    #[ts(type = "number")]
    pub rewind_step: u64,
    pub scope: Scope,
    pub layers: Vec<String>,
    pub dense_accuracy: f32,
    pub ticket_accuracy: Option<f32>,
    pub control_accuracy: Option<f32>,
}

/// One round of a lottery stage.
#[derive(Debug, Clone, Serialize, TS)]
pub struct LotteryRound {
    pub round: u32,
    pub sparsity: f64,
    pub test_accuracy: Option<f32>,
}

/// `sensitivity`: test accuracy with one layer pruned at each sparsity (`accuracy[layer][level]`).
#[derive(Debug, Clone, Serialize, TS)]
pub struct SensitivityDetails {
    pub layers: Vec<String>,
    pub sparsities: Vec<f64>,
    pub accuracy: Vec<Vec<f32>>,
}

/// `distill`: teacher, distilled student and the student trained alone, side by side.
#[derive(Debug, Clone, Serialize, TS)]
pub struct DistillDetails {
    #[ts(type = "Record<string, unknown>")]
    pub student: crate::recipe::ModelSpec,
    pub temperature: f32,
    pub alpha: f32,
    #[ts(type = "Record<string, unknown> | null")]
    pub hint: Option<crate::recipe::distill::HintSpec>,
    /// Distilled minus alone test accuracy.
    pub margin: f64,
    pub test_samples: usize,
    /// Labelled training samples (both students learn from them).
    pub labelled_samples: usize,
    /// Training samples without labels that the distilled student also learned from, labelled by
    /// the teacher (`"unlabelled": true`); 0 otherwise.
    pub unlabelled_samples: usize,
    pub teacher: ModelSummary,
    pub distilled: ModelSummary,
    pub alone: ModelSummary,
    pub soft_targets: SoftTargets,
}

/// Accuracy and size of one model of a distillation.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ModelSummary {
    pub test_accuracy: f32,
    pub params: usize,
    pub nonzero_params: usize,
    pub bytes: Bytes,
    /// The student trained alone: its epochs (the distilled student's are the stage's own).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub epochs: Option<Vec<EpochMetrics>>,
}

/// Softened class probabilities (`softmax(z / T)`) of the first test samples, per model, and the
/// logits `z` they come from, so that a view can show them at any other temperature.
#[derive(Debug, Clone, Serialize, TS)]
pub struct SoftTargets {
    pub temperature: f32,
    pub samples: Vec<usize>,
    pub labels: Vec<u32>,
    pub teacher: Vec<Vec<f32>>,
    pub distilled: Vec<Vec<f32>>,
    pub alone: Vec<Vec<f32>>,
    pub logits: SoftLogits,
}

/// Logits (evaluation mode) of the soft-target samples, per model: `[sample][class]`.
#[derive(Debug, Clone, Serialize, TS)]
pub struct SoftLogits {
    pub teacher: Vec<Vec<f32>>,
    pub distilled: Vec<Vec<f32>>,
    pub alone: Vec<Vec<f32>>,
}

/// `sweep`: one point per grid setting, each from the same starting model.
#[derive(Debug, Clone, Serialize, TS)]
pub struct SweepDetails {
    #[ts(type = "Record<string, unknown>")]
    pub template: Value,
    #[ts(type = "Record<string, unknown[]>")]
    pub grid: std::collections::BTreeMap<String, Vec<Value>>,
    #[ts(type = "Array<Record<string, unknown>>")]
    pub then: Vec<Value>,
    pub points: Vec<SweepPoint>,
    pub restored: bool,
    pub note: String,
}

/// One grid point of a sweep.
#[derive(Debug, Clone, Serialize, TS)]
pub struct SweepPoint {
    #[ts(type = "Record<string, unknown>")]
    pub settings: serde_json::Map<String, Value>,
    pub test_accuracy: f32,
    pub accuracy_change: f32,
    pub params: usize,
    pub nonzero_params: usize,
    pub weight_sparsity: f64,
    /// Honest (sparse) bytes.
    pub bytes: usize,
    pub dense_bytes: usize,
    pub compression_ratio: f64,
    pub seconds: f64,
    /// The details of the point's stages, in order (each as in its kind's `details`).
    #[ts(type = "Array<Record<string, unknown>>")]
    pub stages: Vec<Value>,
    /// On the accuracy-vs-bytes Pareto front of the sweep.
    pub pareto: bool,
}

/// `quantize`: the last bit width's result (the model keeps it) and one point per width.
#[derive(Debug, Clone, Serialize, TS)]
pub struct QuantizeDetails {
    pub scheme: Scheme,
    pub granularity: Granularity,
    pub activations: bool,
    pub observer: ObserverKind,
    pub bits: u32,
    pub quant_bytes: QuantBytes,
    pub int8_agreement: Option<f64>,
    pub int8_path: Option<String>,
    pub layers: Vec<LayerQuantReport>,
    pub points: Vec<QuantPoint>,
}

/// A model under one quantization setting: accuracy, bytes, per-layer errors, and how often integer
/// inference predicts as the fake-quant model (`null` when the setting has no integer model).
#[derive(Debug, Clone, Serialize, TS)]
pub struct QuantPoint {
    pub bits: u32,
    pub test_accuracy: f32,
    pub bytes: QuantBytes,
    pub layers: Vec<LayerQuantReport>,
    pub int8_agreement: Option<f64>,
    /// `avx2`, `wasm-simd128` or `scalar` on the CPU; `dot4I8Packed` or `unpacked` WGSL on the GPU.
    pub int8_path: Option<String>,
}

/// `qat`: post-training quantization first, then training with fake quantization.
#[derive(Debug, Clone, Serialize, TS)]
pub struct QatDetails {
    pub bits: u32,
    pub scheme: Scheme,
    pub granularity: Granularity,
    #[ts(type = "number")]
    pub steps: u64,
    pub ptq_accuracy: f32,
    pub qat_accuracy: f32,
    pub qat_gain: f64,
    pub quant_bytes: QuantBytes,
    pub layers: Vec<LayerQuantReport>,
    pub ptq: QuantPoint,
}
