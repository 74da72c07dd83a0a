//! The `distill` stage config of a recipe (Hinton et al. 2015, with an optional FitNets hint,
//! Romero et al. 2015): temperature, α, the student's spec, range checks and the student's build.

use crate::compress::distill::pick_tap;
use crate::nn::Sequential;
use crate::recipe::stages::{Finetune, PlanCtx};
use crate::recipe::{ModelSpec, Recipe};
use crate::{Device, Result, bail};
use serde::{Deserialize, Serialize};

fn default_temperature() -> f32 {
    4.0
}
fn default_alpha() -> f32 {
    0.9
}
fn default_soft_targets() -> usize {
    8
}
fn one() -> f32 {
    1.0
}

/// Highest distillation temperature accepted.
pub const MAX_TEMPERATURE: f32 = 100.0;
/// Most test samples whose soft targets the report carries.
pub const MAX_SOFT_TARGETS: usize = 64;

/// Distillation into a smaller student:
/// `{"kind": "distill", "student": {"kind": "mlp", "hidden": [16]}, "temperature": 4, "alpha": 0.9,
///   "train": {"epochs": 30, "lr": 0.003}, "hint": {"weight": 0.5}}`.
/// The student (initialized from the recipe's seed) minimizes
/// `α · T² · KL(softmax(z_t/T) ‖ softmax(z_s/T)) + (1 − α) · CE(z_s, y)` [+ `hint.weight · MSE`];
/// the same student is also trained alone (plain CE, same initialization and budget) as a control.
/// With `"unlabelled": true` the distilled student's transfer set also holds the training samples
/// past `dataset.train_limit`, whose labels the run never sees: the teacher labels them (its
/// softened probabilities for the soft term, its argmax for the hard term), while the student alone
/// has only the labelled samples. This is distillation's use with few labels and more unlabelled
/// data (Hinton et al. 2015 §2: "the transfer set").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistillStage {
    pub student: ModelSpec,
    /// T: both logit vectors are divided by T before the softmax (T > 1 softens the targets).
    #[serde(default = "default_temperature")]
    pub temperature: f32,
    /// α: weight of the soft (teacher) term; 1 − α goes to the hard labels.
    #[serde(default = "default_alpha")]
    pub alpha: f32,
    /// The budget of each student (distilled and alone).
    pub train: Finetune,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<HintSpec>,
    /// How many test samples (the first ones) get their soft targets in the report.
    #[serde(default = "default_soft_targets")]
    pub soft_targets: usize,
    /// Also distill on the training samples past `dataset.train_limit`, labelled by the teacher.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unlabelled: bool,
}

/// A FitNets hint: `weight · mean((r(h_s) − h_t)²)` where `h_s`, `h_t` are the (flattened) outputs
/// of a hidden layer of the student and of the teacher, and `r` a learned linear regressor
/// (`Linear(width_s → width_t)`, present only when the widths differ). Hidden layers count the
/// activations in order, conv blocks first; the default is the last hidden layer of each model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HintSpec {
    #[serde(default = "one")]
    pub weight: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub student_layer: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_layer: Option<usize>,
}

impl DistillStage {
    pub fn validate(&self, p: &str) -> Result<()> {
        self.student.validate(&format!("{p}.student"))?;
        if !(self.temperature > 0.0 && self.temperature <= MAX_TEMPERATURE) {
            bail!("{p}.temperature = {}: must be in (0, {MAX_TEMPERATURE}]", self.temperature);
        }
        if !(0.0..=1.0).contains(&self.alpha) {
            bail!("{p}.alpha = {}: must be in [0, 1]", self.alpha);
        }
        self.train.validate(&format!("{p}.train"))?;
        if let Some(h) = &self.hint {
            if !(h.weight > 0.0 && h.weight <= 1000.0) {
                bail!("{p}.hint.weight = {}: must be in (0, 1000]", h.weight);
            }
        }
        if self.soft_targets > MAX_SOFT_TARGETS {
            bail!("{p}.soft_targets = {}: at most {MAX_SOFT_TARGETS}", self.soft_targets);
        }
        Ok(())
    }

    /// The student, initialized from the recipe's seed (identical for the distilled and the
    /// alone run).
    pub fn build_student(
        &self,
        recipe: &Recipe,
        input_shape: &[usize],
        classes: usize,
        dev: &Device,
    ) -> Result<Sequential> {
        let r = Recipe { model: self.student.clone(), compression: Vec::new(), ..recipe.clone() };
        r.build_model(input_shape, classes, dev)
    }

    /// Checks the hint layers against the teacher (`c.model`) and the student built on the CPU.
    pub fn check(&self, p: &str, c: &PlanCtx, student: &Sequential) -> Result<()> {
        if let Some(h) = &self.hint {
            pick_tap(student, h.student_layer, &format!("{p}.hint.student_layer"), "student")?;
            pick_tap(c.model, h.teacher_layer, &format!("{p}.hint.teacher_layer"), "teacher")?;
        }
        Ok(())
    }
}
