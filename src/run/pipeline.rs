//! The compression pipeline: runs a recipe's `compression` stages in order after the initial
//! training, a few batches per call (so the page never freezes), and writes one report per stage
//! (accuracy, sparsity, parameter count, dense and sparse bytes, compression ratio vs the first
//! dense model). A new stage kind is one variant of [`Stage`] and one arm in each match below.

use crate::compress::prune::{TensorBytes, prunable_weights, tensor_bytes};
use crate::recipe::stages::Finetune;
use crate::recipe::stages::{PlanEnv, PlanState, check_stages};
use crate::run::stages;

use crate::nn::{Module, Sequential};
use crate::recipe::{Recipe, Stage};
use crate::run::report::{
    Bytes, EpochMetrics, FinetuneDetails, LayerStats, ModelStats, StageDetails, StageProgress, StageReport,
};
use crate::run::trainer::{Phase, Trainer, now_seconds};
use crate::{Error, Result, bail};

/// What one call into a running stage did.
#[derive(Debug, Default)]
pub struct Advance {
    /// Mean training loss since the last read, when one was due.
    pub loss: Option<f32>,
    pub epoch_end: Option<EpochMetrics>,
    /// Progress within the stage, for display ("round 2/3").
    pub detail: String,
    /// The stage's own report details, on the call that finished it.
    pub done: Option<StageDetails>,
}

impl Advance {
    /// The last call of a stage, with its report details.
    pub fn finished(details: StageDetails) -> Advance {
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
    Finished(Option<StageDetails>),
    Finetune,
    Gradual(stages::prune::GradualRun),
    Iterative(stages::prune::IterativeRun),
    Lottery(stages::prune::LotteryRun),
    Sensitivity(stages::prune::SensitivityRun),
    Distill(stages::distill::DistillRun),
    Sweep(stages::sweep::SweepRun),
    Qat(stages::quant::QatRun),
}

/// What [`Pipeline::step`] returns to the trainer.
#[derive(Debug, Default)]
pub struct PipelineStep {
    pub loss: Option<f32>,
    pub epoch_end: Option<EpochMetrics>,
    pub stage: Option<StageProgress>,
    pub stage_end: Option<StageReport>,
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
    pub reports: Vec<StageReport>,
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
        check_stages(&stages, &env, &mut PlanState::default())?;
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
        let adv = advance_runner(runner, t, budget, ctx).await.map_err(|e| {
            // The trainer's divergence message does not know the stage; name it.
            if t.diverged() { ctx.err(e) } else { e }
        })?;
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

    async fn report(&self, t: &Trainer, ctx: &StageCtx, outcome: StageDetails) -> Result<StageReport> {
        let (acc, _) = t.evaluate_test().await?;
        let mut stats = model_stats(&t.model).await?;
        let (base_acc, base_bytes) =
            self.baseline.as_ref().map(|b| (b.accuracy, b.dense_bytes)).unwrap_or((acc, stats.bytes.dense));
        // A quantization stage leaves the model quantized: its honest size is the packed integers
        // (with sparsity) the stage measured, and the cumulative ratio follows that size.
        stats.bytes.quantized = outcome.quantized_bytes();
        let honest = stats.bytes.quantized.unwrap_or(stats.bytes.sparse);
        Ok(StageReport {
            index: ctx.index,
            test_accuracy: acc,
            accuracy_change: acc - base_acc,
            compression_ratio: base_bytes as f64 / honest.max(1) as f64,
            stats,
            seconds: now_seconds() - ctx.started,
            epochs: ctx.epochs.clone(),
            outcome,
        })
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
        Runner::Finished(v) => match v.take() {
            Some(d) => Advance::finished(d),
            None => bail!("{}: internal: the stage's details were reported twice", ctx.prefix),
        },
        Runner::Finetune => {
            let mut a = ctx.train(t, budget).await?;
            a.detail = format!("epoch {}", ctx.epochs.len() + usize::from(a.epoch_end.is_none()));
            if t.phase_done() {
                a.done = Some(StageDetails::Finetune(FinetuneDetails {}));
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
            t.start_phase(finetune_phase(f, t));
            Runner::Finetune
        }
        Stage::Magnitude(s) => Runner::Finished(Some(stages::prune::run_magnitude(s, t, ctx).await?)),
        Stage::Structured(s) => Runner::Finished(Some(stages::prune::run_structured(s, t, ctx).await?)),
        Stage::NM(s) => Runner::Finished(Some(stages::prune::run_n_m(s, t, ctx).await?)),
        Stage::Gradual(s) => Runner::Gradual(stages::prune::GradualRun::begin(s, t, ctx)?),
        Stage::Iterative(s) => Runner::Iterative(stages::prune::IterativeRun::begin(s, t, ctx)?),
        Stage::Lottery(s) => Runner::Lottery(stages::prune::LotteryRun::begin(s, t, ctx)?),
        Stage::Sensitivity(s) => Runner::Sensitivity(stages::prune::SensitivityRun::begin(s, t, ctx)?),
        Stage::Distill(s) => Runner::Distill(stages::distill::DistillRun::begin(s, t, ctx).await?),
        Stage::Sweep(s) => Runner::Sweep(stages::sweep::SweepRun::begin(s, t, ctx)?),
        Stage::Quantize(s) => Runner::Finished(Some(stages::quant::run_quantize(s, t, ctx).await?)),
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
