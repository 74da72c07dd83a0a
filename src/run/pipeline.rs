//! The compression pipeline: runs a recipe's `compression` stages in order after the initial
//! training, a few batches per call (so the page never freezes), and writes one report per stage
//! (accuracy, sparsity, parameter count, dense and sparse bytes, compression ratio vs the first
//! dense model). A new stage kind is one variant of [`Stage`] and one arm in each match below.

use crate::compress::prune::{TensorBytes, prunable_weights, tensor_bytes};
use crate::recipe::stages::Finetune;
use crate::recipe::stages::{PlanEnv, check_stages};
use crate::run::stages;

use crate::nn::{Module, Sequential};
use crate::recipe::{Recipe, Stage};
use crate::run::trainer::{EpochMetrics, Phase, Trainer, now_seconds};
use crate::{Error, Result, bail};
use serde::Serialize;
use serde_json::Value;

/// What one call into a running stage did.
#[derive(Debug, Default)]
pub struct Advance {
    /// Mean training loss since the last read, when one was due.
    pub loss: Option<f32>,
    pub epoch_end: Option<EpochMetrics>,
    /// Progress within the stage, for display ("round 2/3").
    pub detail: String,
    /// The stage's own report details, on the call that finished it.
    pub done: Option<Value>,
}

impl Advance {
    /// The last call of a stage, with its report details.
    pub fn finished(details: Value) -> Advance {
        Advance { done: Some(details), ..Advance::default() }
    }
}

/// Per-stage bookkeeping shared by the runners.
pub struct StageCtx {
    pub index: usize,
    /// Field path of the stage in the recipe, for error messages (`compression[1]`).
    pub prefix: String,
    /// Epochs trained by this stage so far.
    pub epochs: Vec<EpochMetrics>,
    /// Test accuracy of the dense model after the initial training.
    pub baseline_accuracy: f32,
    /// Dense bytes of that model (the denominator-free end of every compression ratio).
    pub baseline_bytes: usize,
    started: f64,
}

impl StageCtx {
    pub fn new(index: usize, prefix: String, baseline_accuracy: f32, baseline_bytes: usize) -> StageCtx {
        StageCtx {
            index,
            prefix,
            epochs: Vec::new(),
            baseline_accuracy,
            baseline_bytes,
            started: now_seconds(),
        }
    }

    /// An error prefixed with the stage's field path.
    pub fn err(&self, e: impl std::fmt::Display) -> Error {
        Error(format!("{}: {e}", self.prefix))
    }

    /// Trains up to `budget` batches of the current phase, recording finished epochs.
    pub async fn train(&mut self, t: &mut Trainer, budget: usize) -> Result<Advance> {
        let (loss, epoch_end) = t.train(budget).await?;
        if let Some(m) = &epoch_end {
            self.epochs.push(m.clone());
        }
        Ok(Advance { loss, epoch_end, ..Advance::default() })
    }
}

/// The running state of one stage: one variant per kind that needs more than one call.
pub(crate) enum Runner {
    /// Work already done at the start; the details wait to be reported.
    Finished(Value),
    Finetune,
    Gradual(stages::prune::GradualRun),
    Iterative(stages::prune::IterativeRun),
    Lottery(stages::prune::LotteryRun),
    Sensitivity(stages::prune::SensitivityRun),
    Distill(stages::distill::DistillRun),
    Sweep(stages::sweep::SweepRun),
    Qat(stages::quant::QatRun),
}

/// Where the pipeline is, for [`crate::run::trainer::StepInfo`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageProgress {
    /// Index in `recipe.compression`.
    pub index: usize,
    pub count: usize,
    pub kind: &'static str,
    pub detail: String,
}

/// What [`Pipeline::step`] returns to the trainer.
#[derive(Debug, Default)]
pub struct PipelineStep {
    pub loss: Option<f32>,
    pub epoch_end: Option<EpochMetrics>,
    pub stage: Option<StageProgress>,
    pub stage_end: Option<Value>,
}

/// Sizes and sparsity of a model, measured from its tensors.
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
pub struct LayerStats {
    pub name: String,
    pub shape: Vec<usize>,
    pub zeros: usize,
    pub sparsity: f64,
}

/// Bytes of parameters and buffers in each format; `sparse` lets each tensor take its cheapest
/// format (dense, bitmask or CSR), the honest size of a sparse model.
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct Bytes {
    pub dense: usize,
    pub bitmask: usize,
    pub csr: usize,
    pub sparse: usize,
}

/// Reads every parameter and buffer back and measures sparsity and bytes.
pub async fn model_stats(model: &Sequential) -> Result<ModelStats> {
    let weights: Vec<String> = prunable_weights(model).into_iter().map(|w| w.name).collect();
    let (mut params, mut nonzero, mut wz, mut wn) = (0, 0, 0, 0);
    let mut layers = Vec::new();
    let mut bytes = Bytes::default();
    let params_list = model.parameters();
    let n_params = params_list.len();
    for (i, (name, t)) in params_list.into_iter().chain(model.buffers()).enumerate() {
        let v = t.to_vec().await?;
        let b: TensorBytes = tensor_bytes(&v, t.shape());
        let zeros = v.iter().filter(|&&x| x == 0.0).count();
        if i < n_params {
            bytes.bitmask += b.bitmask;
            bytes.csr += b.csr;
            bytes.sparse += b.best();
            params += v.len();
            nonzero += v.len() - zeros;
        } else {
            // Buffers (running statistics) are stored dense in every format.
            bytes.bitmask += b.dense;
            bytes.csr += b.dense;
            bytes.sparse += b.dense;
        }
        bytes.dense += b.dense;
        if weights.contains(&name) {
            wz += zeros;
            wn += v.len();
            layers.push(LayerStats {
                name,
                shape: t.shape().to_vec(),
                zeros,
                sparsity: zeros as f64 / v.len().max(1) as f64,
            });
        }
    }
    Ok(ModelStats {
        params,
        nonzero_params: nonzero,
        weight_sparsity: wz as f64 / wn.max(1) as f64,
        param_sparsity: (params - nonzero) as f64 / params.max(1) as f64,
        layers,
        bytes,
    })
}

/// The report of one stage, as it appears in `Report.stages`.
#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    pub index: usize,
    pub kind: &'static str,
    pub test_accuracy: f32,
    /// `test_accuracy` minus the dense model's (after the initial training).
    pub accuracy_change: f32,
    #[serde(flatten)]
    pub stats: ModelStats,
    /// Dense bytes of the first dense model over `bytes.sparse` now.
    pub compression_ratio: f64,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub epochs: Vec<EpochMetrics>,
    /// Kind-specific results (the AGP schedule, the lottery comparison, the sensitivity matrix...).
    pub details: Value,
}

struct Baseline {
    accuracy: f32,
    dense_bytes: usize,
}

/// Runs `recipe.compression` after the initial training. Owned by the [`Trainer`], which calls
/// [`Pipeline::step`] from its own `step` once the initial epochs are done.
pub struct Pipeline {
    stages: Vec<Stage>,
    cursor: usize,
    running: Option<(Runner, StageCtx)>,
    baseline: Option<Baseline>,
    /// One JSON report per finished stage.
    pub reports: Vec<Value>,
}

impl Pipeline {
    /// Checks every stage against the built model (`shape`: per-sample input shape and classes);
    /// errors name the stage's field path.
    pub fn new(
        recipe: &Recipe,
        model: &Sequential,
        shape: (&[usize], usize),
        batches_per_epoch: usize,
    ) -> Result<Pipeline> {
        let stages: Vec<(String, Stage)> = recipe
            .compression
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("compression[{i}]"), s.clone()))
            .collect();
        for (p, s) in &stages {
            s.validate(p)?;
        }
        let env = PlanEnv { recipe, model, input_shape: shape.0, classes: shape.1, batches_per_epoch };
        check_stages(&stages, &env, &mut false)?;
        Ok(Pipeline {
            stages: recipe.compression.clone(),
            cursor: 0,
            running: None,
            baseline: None,
            reports: Vec::new(),
        })
    }

    /// Steps of the initial training at which the trainer must keep a copy of the weights
    /// (lottery rewind points).
    pub fn snapshot_steps(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .stages
            .iter()
            .filter_map(|s| match s {
                Stage::Lottery(l) => Some(l.rewind_step),
                _ => None,
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    pub fn finished(&self) -> bool {
        self.cursor >= self.stages.len()
    }

    /// Index of the stage in progress (or next), `None` when all are done.
    pub fn current(&self) -> Option<usize> {
        (!self.finished()).then_some(self.cursor)
    }

    /// Advances the pipeline by at most `budget` training batches (or one evaluation cell).
    pub async fn step(&mut self, t: &mut Trainer, budget: usize) -> Result<PipelineStep> {
        if self.finished() {
            return Ok(PipelineStep::default());
        }
        if self.baseline.is_none() {
            let (accuracy, _) = t.evaluate_test().await?;
            let dense_bytes = t.model.state().iter().map(|(_, x)| 4 * x.numel()).sum();
            self.baseline = Some(Baseline { accuracy, dense_bytes });
        }
        let (baseline_accuracy, baseline_bytes) =
            self.baseline.as_ref().map(|b| (b.accuracy, b.dense_bytes)).unwrap_or((0.0, 0));
        let index = self.cursor;
        if self.running.is_none() {
            let mut ctx =
                StageCtx::new(index, format!("compression[{index}]"), baseline_accuracy, baseline_bytes);
            let runner = begin(&self.stages[index], t, &mut ctx).await?;
            self.running = Some((runner, ctx));
        }
        let Some((runner, ctx)) = self.running.as_mut() else { bail!("internal: no stage running") };
        let adv = advance_runner(runner, t, budget, ctx).await?;
        let progress = StageProgress {
            index,
            count: self.stages.len(),
            kind: self.stages[index].kind(),
            detail: adv.detail.clone(),
        };
        let mut out =
            PipelineStep { loss: adv.loss, epoch_end: adv.epoch_end, stage: Some(progress), stage_end: None };
        if let Some(details) = adv.done {
            let Some((_, ctx)) = self.running.take() else { bail!("internal: no stage running") };
            let report = self.report(t, &ctx, details).await?;
            self.reports.push(report.clone());
            out.stage_end = Some(report);
            self.cursor += 1;
        }
        Ok(out)
    }

    async fn report(&self, t: &Trainer, ctx: &StageCtx, details: Value) -> Result<Value> {
        let (acc, _) = t.evaluate_test().await?;
        let stats = model_stats(&t.model).await?;
        let (base_acc, base_bytes) =
            self.baseline.as_ref().map(|b| (b.accuracy, b.dense_bytes)).unwrap_or((acc, stats.bytes.dense));
        let r = StageReport {
            index: ctx.index,
            kind: self.stages[ctx.index].kind(),
            test_accuracy: acc,
            accuracy_change: acc - base_acc,
            compression_ratio: base_bytes as f64 / stats.bytes.sparse.max(1) as f64,
            stats,
            seconds: now_seconds() - ctx.started,
            epochs: ctx.epochs.clone(),
            details,
        };
        let mut v = serde_json::to_value(r)?;
        // A quantization stage leaves the model quantized: its honest size is the packed integers
        // (with sparsity) the stage measured, and the cumulative ratio follows that size.
        if let Some(q) = v["details"]["quant_bytes"]["quantized"].as_u64() {
            v["bytes"]["quantized"] = q.into();
            v["compression_ratio"] = (base_bytes as f64 / q.max(1) as f64).into();
        }
        Ok(v)
    }
}

/// Advances a running stage by at most `budget` training batches.
pub(crate) async fn advance_runner(
    runner: &mut Runner,
    t: &mut Trainer,
    budget: usize,
    ctx: &mut StageCtx,
) -> Result<Advance> {
    Ok(match runner {
        Runner::Finished(v) => Advance::finished(std::mem::take(v)),
        Runner::Finetune => {
            let mut a = ctx.train(t, budget).await?;
            a.detail = format!("epoch {}", ctx.epochs.len() + usize::from(a.epoch_end.is_none()));
            if t.phase_done() {
                a.done = Some(Value::Object(Default::default()));
            }
            a
        }
        Runner::Gradual(r) => r.advance(t, budget, ctx).await?,
        Runner::Iterative(r) => r.advance(t, budget, ctx).await?,
        Runner::Lottery(r) => r.advance(t, budget, ctx).await?,
        Runner::Sensitivity(r) => r.advance(t, budget, ctx).await?,
        Runner::Distill(r) => r.advance(t, budget, ctx).await?,
        Runner::Sweep(r) => r.advance(t, budget, ctx).await?,
        Runner::Qat(r) => r.advance(t, budget, ctx).await?,
    })
}

/// Starts a stage: one-shot stages do all their work here.
pub(crate) async fn begin(stage: &Stage, t: &mut Trainer, ctx: &mut StageCtx) -> Result<Runner> {
    Ok(match stage {
        Stage::Finetune(f) => {
            t.start_phase(finetune_phase(&f, t));
            Runner::Finetune
        }
        Stage::Magnitude(s) => Runner::Finished(stages::prune::run_magnitude(s, t, ctx).await?),
        Stage::Structured(s) => Runner::Finished(stages::prune::run_structured(s, t, ctx).await?),
        Stage::NM(s) => Runner::Finished(stages::prune::run_n_m(s, t, ctx).await?),
        Stage::Gradual(s) => Runner::Gradual(stages::prune::GradualRun::begin(s, t, ctx)?),
        Stage::Iterative(s) => Runner::Iterative(stages::prune::IterativeRun::begin(s, t, ctx)?),
        Stage::Lottery(s) => Runner::Lottery(stages::prune::LotteryRun::begin(s, t, ctx)?),
        Stage::Sensitivity(s) => Runner::Sensitivity(stages::prune::SensitivityRun::begin(s, t, ctx)?),
        Stage::Distill(s) => Runner::Distill(stages::distill::DistillRun::begin(s, t, ctx).await?),
        Stage::Sweep(s) => Runner::Sweep(stages::sweep::SweepRun::begin(s, t, ctx)?),
        Stage::Quantize(s) => Runner::Finished(stages::quant::run_quantize(s, t, ctx).await?),
        Stage::Qat(s) => Runner::Qat(stages::quant::QatRun::begin(s, t, ctx).await?),
    })
}

/// The training phase a stage's `Finetune` block describes, for `t`'s recipe.
pub fn finetune_phase(f: &Finetune, t: &Trainer) -> Phase {
    Phase {
        epochs: f.epochs,
        lr: f.lr.unwrap_or(t.recipe.training.optimizer.lr()),
        schedule: f.schedule.clone().unwrap_or_default(),
    }
}
