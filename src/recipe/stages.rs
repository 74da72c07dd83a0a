//! What every compression stage config shares: the `Finetune` training block, the stage kind
//! names, range checks and plan checks dispatched over [`Stage`], and the context a plan is checked
//! against (the built model, batches per epoch, what earlier stages did).

use crate::compress::quant::Granularity;
use crate::nn::Sequential;
use crate::nn::schedule::LrSchedule;
use crate::recipe::{MAX_EPOCHS, Recipe, Stage};
use crate::{Error, Result, bail};
use serde::{Deserialize, Serialize};

/// Training inside a stage: `{"epochs": 2, "lr": 0.01, "schedule": {...}}`. `lr` defaults to the
/// recipe's base learning rate, `schedule` to a constant rate. Also the `finetune` stage itself:
/// `{"kind": "finetune", "epochs": 2, "lr": 0.005}`. Masks stay applied throughout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finetune {
    pub epochs: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<LrSchedule>,
}

impl Finetune {
    pub fn validate(&self, p: &str) -> Result<()> {
        if self.epochs == 0 || self.epochs > MAX_EPOCHS {
            bail!("{p}.epochs = {}: must be in [1, {MAX_EPOCHS}]", self.epochs);
        }
        if let Some(lr) = self.lr {
            if !(lr > 0.0 && lr <= 10.0) {
                bail!("{p}.lr = {lr}: must be in (0, 10]");
            }
        }
        if let Some(s) = &self.schedule {
            s.validate(&format!("{p}.schedule"))?;
        }
        Ok(())
    }
}

impl Stage {
    /// The stage's `kind` as written in a recipe.
    pub fn kind(&self) -> &'static str {
        match self {
            Stage::Finetune(_) => "finetune",
            Stage::Magnitude(_) => "magnitude",
            Stage::Structured(_) => "structured",
            Stage::NM(_) => "n_m",
            Stage::Gradual(_) => "gradual",
            Stage::Iterative(_) => "iterative",
            Stage::Lottery(_) => "lottery",
            Stage::Sensitivity(_) => "sensitivity",
            Stage::Distill(_) => "distill",
            Stage::Sweep(_) => "sweep",
            Stage::Quantize(_) => "quantize",
            Stage::Qat(_) => "qat",
        }
    }

    /// Range checks; `p` is the field path (`compression[1]`).
    pub fn validate(&self, p: &str) -> Result<()> {
        match self {
            Stage::Finetune(s) => s.validate(p),
            Stage::Magnitude(s) => s.validate(p),
            Stage::Structured(s) => s.validate(p),
            Stage::NM(s) => s.validate(p),
            Stage::Gradual(s) => s.validate(p),
            Stage::Iterative(s) => s.validate(p),
            Stage::Lottery(s) => s.validate(p),
            Stage::Sensitivity(s) => s.validate(p),
            Stage::Distill(s) => s.validate(p),
            Stage::Sweep(s) => s.validate(p),
            Stage::Quantize(s) => s.validate(p),
            Stage::Qat(s) => s.validate(p),
        }
    }

    /// Checks against the built model (layer names, schedules that fit), before training starts.
    /// Distill and sweep, which change or restore the model, are checked by [`check_stages`].
    pub fn check(&self, p: &str, c: &PlanCtx) -> Result<()> {
        match self {
            Stage::Finetune(_) | Stage::Distill(_) | Stage::Sweep(_) => Ok(()),
            Stage::Magnitude(s) => s.check(p, c),
            Stage::Structured(s) => s.check(p, c),
            Stage::NM(s) => s.check(p, c),
            Stage::Gradual(s) => s.check(p, c),
            Stage::Iterative(s) => s.check(p, c),
            Stage::Lottery(s) => s.check(p, c),
            Stage::Sensitivity(s) => s.check(p, c),
            Stage::Quantize(s) => s.check(p, c),
            Stage::Qat(s) => s.check(p, c),
        }
    }
}

/// Facts about the run that a stage's plan is checked against.
pub struct PlanCtx<'a> {
    pub model: &'a Sequential,
    pub batches_per_epoch: usize,
    /// Optimizer steps of the initial training.
    pub initial_steps: u64,
    /// Whether an earlier stage removes structure (shapes then differ from initialization).
    pub removed_before: bool,
    /// The field path of an earlier `quantize` or `qat` stage whose per-channel quantizers are
    /// still installed (one scale per output channel: a later structured removal would leave them
    /// with more scales than channels).
    pub per_channel_quant: Option<&'a str>,
}

/// What the stages checked so far did to the model, carried along [`check_stages`].
#[derive(Debug, Clone, Default)]
pub struct PlanState {
    /// An earlier stage changed the shapes (a structured removal, a distillation's student).
    pub removed_before: bool,
    /// The field path of the stage whose per-channel quantizers are installed, if any.
    pub per_channel_quant: Option<String>,
}

/// What a sequence of stages is planned against: the recipe, the model it starts from, the data shape.
pub struct PlanEnv<'a> {
    pub recipe: &'a Recipe,
    pub model: &'a Sequential,
    pub input_shape: &'a [usize],
    pub classes: usize,
    pub batches_per_epoch: usize,
}

/// Checks `stages` (with their field paths) in order, following the model through them: after a
/// distill stage the later ones are checked against its student (built on the CPU), and a sweep's
/// points against the model it starts from. `state` says what the earlier stages did.
pub fn check_stages(stages: &[(String, Stage)], env: &PlanEnv, state: &mut PlanState) -> Result<()> {
    let mut student: Option<Sequential> = None;
    for (p, s) in stages {
        let model = student.as_ref().unwrap_or(env.model);
        let quant = state.per_channel_quant.clone();
        let ctx = PlanCtx {
            model,
            batches_per_epoch: env.batches_per_epoch,
            initial_steps: initial_steps(env.recipe, env.batches_per_epoch),
            removed_before: state.removed_before,
            per_channel_quant: quant.as_deref(),
        };
        match s {
            Stage::Distill(d) => {
                let batch = env.recipe.training.batch_size;
                d.student.cost(
                    &format!("{p}.student"),
                    env.input_shape,
                    env.classes,
                    batch,
                    "training.batch_size",
                )?;
                let st = d.build_student(env.recipe, env.input_shape, env.classes, &crate::Device::Cpu)?;
                d.check(p, &ctx, &st).map_err(|e| Error(format!("{p}.student: {e}")))?;
                student = Some(st);
                state.removed_before = true;
            }
            Stage::Sweep(w) => w.check(p, &PlanEnv { model, ..*env }, state)?,
            _ => s.check(p, &ctx)?,
        }
        state.removed_before |= matches!(s, Stage::Structured(st) if st.remove);
        match s {
            // A new model (the student, or the sweep's restored start) has no quantizers.
            Stage::Distill(_) | Stage::Sweep(_) => state.per_channel_quant = None,
            Stage::Quantize(q) => {
                state.per_channel_quant = (q.granularity == Granularity::PerChannel).then(|| p.clone())
            }
            Stage::Qat(q) => {
                state.per_channel_quant = (q.granularity == Granularity::PerChannel).then(|| p.clone())
            }
            _ => {}
        }
    }
    Ok(())
}

/// The initial training's optimizer steps.
pub fn initial_steps(recipe: &Recipe, batches_per_epoch: usize) -> u64 {
    (recipe.training.epochs as u64).saturating_mul(batches_per_epoch as u64)
}
