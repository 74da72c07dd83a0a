//! Knowledge distillation (Hinton et al. 2015, with an optional FitNets hint, Romero et al. 2015):
//! the `distill` stage trains a student built from its own spec against the model trained so far
//! (the teacher: evaluation mode, no gradients), trains the same student alone as a control, reports
//! teacher / distilled / alone side by side, and leaves the distilled student as the pipeline's model.

use crate::compress::prune::PlanCtx;
use crate::core::rng::Rng;
use crate::core::tensor::{Tensor, no_grad};
use crate::nn::loss::{distillation, mse};
use crate::nn::{Layer, Linear, Module, Sequential};
use crate::recipe::{ModelSpec, Recipe};
use crate::run::pipeline::{Advance, Finetune, StageCtx, model_stats};
use crate::run::trainer::Trainer;
use crate::{Device, Error, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

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

/// Indices in `model.layers` of the hidden layers' outputs (their activations).
fn hidden_taps(model: &Sequential) -> Vec<usize> {
    model
        .layers
        .iter()
        .enumerate()
        .filter(|(_, l)| matches!(l, Layer::Activation(_)))
        .map(|(i, _)| i)
        .collect()
}

fn pick_tap(model: &Sequential, chosen: Option<usize>, field: &str, who: &str) -> Result<usize> {
    let taps = hidden_taps(model);
    match chosen {
        None => taps.last().copied().ok_or_else(|| Error(format!("{field}: the {who} has no hidden layer"))),
        Some(i) => match taps.get(i) {
            Some(&t) => Ok(t),
            None => bail!("{field} = {i}: the {who} has {} hidden layers", taps.len()),
        },
    }
}

/// Runs `model` on `x`, also returning the output of layer `tap` (when given).
fn forward_tapped(model: &Sequential, x: &Tensor, tap: Option<usize>) -> Result<(Tensor, Option<Tensor>)> {
    let mut h = x.clone();
    let mut tapped = None;
    for (i, l) in model.layers.iter().enumerate() {
        h = l.forward(&h)?;
        if Some(i) == tap {
            tapped = Some(h.clone());
        }
    }
    Ok((h, tapped))
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

struct Hint {
    student_tap: usize,
    teacher_tap: usize,
    regressor: Option<Linear>,
    weight: f32,
}

/// The distillation loss with its teacher, used by the trainer in place of cross-entropy while a
/// distilled student trains.
pub struct Objective {
    teacher: Sequential,
    temperature: f32,
    alpha: f32,
    hint: Option<Hint>,
}

impl Objective {
    /// Student logits and `α·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)) + (1 − α)·CE(z_s, y)`
    /// (+ the hint term); the teacher runs in evaluation mode without a graph.
    pub fn forward_loss(&self, student: &Sequential, x: &Tensor, y: &Tensor) -> Result<(Tensor, Tensor)> {
        let hint = self.hint.as_ref();
        let (t_logits, t_feat) = no_grad(|| forward_tapped(&self.teacher, x, hint.map(|h| h.teacher_tap)))?;
        let (s_logits, s_feat) = forward_tapped(student, x, hint.map(|h| h.student_tap))?;
        let mut loss = distillation(&s_logits, &t_logits, y, self.temperature, self.alpha)?;
        if let (Some(h), Some(s), Some(t)) = (hint, s_feat, t_feat) {
            let s = s.flatten(1)?;
            let s = match &h.regressor {
                Some(r) => r.forward(&s)?,
                None => s,
            };
            loss = loss.add(&mse(&s, &t.flatten(1)?.detach())?.scale(h.weight)?)?;
        }
        Ok((s_logits, loss))
    }

    /// Trainable tensors besides the student's (the hint regressor).
    fn extra_params(&self) -> Vec<Tensor> {
        let r = self.hint.as_ref().and_then(|h| h.regressor.as_ref());
        r.map(|r| r.parameters().into_iter().map(|(_, t)| t).collect()).unwrap_or_default()
    }
}

/// Accuracy, size and soft targets of one model of the comparison.
async fn summary(t: &Trainer, samples: usize, temperature: f32) -> Result<(Value, Vec<Vec<f32>>)> {
    let (acc, _) = t.evaluate_test().await?;
    let stats = model_stats(&t.model).await?;
    let mut soft = Vec::new();
    if samples > 0 {
        let x = t.test_inputs().narrow(0, 0, samples)?;
        let p = no_grad(|| t.logits(&x)?.scale(1.0 / temperature)?.softmax(-1))?.to_vec().await?;
        soft = p.chunks(t.data.classes.max(1)).map(|c| c.to_vec()).collect();
    }
    let v = json!({
        "test_accuracy": acc,
        "params": stats.params,
        "nonzero_params": stats.nonzero_params,
        "bytes": stats.bytes,
    });
    Ok((v, soft))
}

enum Part {
    Alone,
    Distilled,
}

/// A distillation stage in progress: the student alone first, then the distilled student (which
/// stays as the model).
pub struct DistillRun {
    cfg: DistillStage,
    prefix: String,
    part: Part,
    samples: usize,
    teacher: Option<Sequential>,
    teacher_summary: (Value, Vec<Vec<f32>>),
    alone_summary: Option<(Value, Vec<Vec<f32>>)>,
}

impl DistillRun {
    /// Measures the teacher, takes it out of the trainer and starts the student-alone run.
    pub async fn begin(cfg: &DistillStage, t: &mut Trainer, ctx: &StageCtx) -> Result<Self> {
        let samples = cfg.soft_targets.min(t.data.n_test());
        let teacher_summary = summary(t, samples, cfg.temperature).await?;
        let student = cfg.build_student(&t.recipe, &t.data.input_shape, t.data.classes, &t.device)?;
        let teacher = std::mem::replace(&mut t.model, Sequential::default());
        teacher.set_training(false);
        t.replace_model(student, Vec::new())?;
        t.start_phase(cfg.train.phase(t));
        Ok(DistillRun {
            cfg: cfg.clone(),
            prefix: ctx.prefix.clone(),
            part: Part::Alone,
            samples,
            teacher: Some(teacher),
            teacher_summary,
            alone_summary: None,
        })
    }

    /// The objective for the distilled student, with the hint regressor sized by a one-sample probe.
    fn objective(&self, t: &Trainer, teacher: Sequential, student: &Sequential) -> Result<Objective> {
        let hint = match &self.cfg.hint {
            None => None,
            Some(h) => {
                let p = &self.prefix;
                let st = pick_tap(student, h.student_layer, &format!("{p}.hint.student_layer"), "student")?;
                let tt = pick_tap(&teacher, h.teacher_layer, &format!("{p}.hint.teacher_layer"), "teacher")?;
                let x = t.test_inputs().narrow(0, 0, 1)?;
                let width = |m: &Sequential, tap| -> Result<usize> {
                    let (_, f) = no_grad(|| forward_tapped(m, &x, Some(tap)))?;
                    Ok(f.map(|f| f.numel()).unwrap_or(0))
                };
                let (ws, wt) = (width(student, st)?, width(&teacher, tt)?);
                if ws * wt > crate::recipe::MAX_PARAMS {
                    bail!("{p}.hint: a {ws} → {wt} regressor is too large; pick narrower layers");
                }
                let regressor = if ws == wt {
                    None
                } else {
                    let mut rng = Rng::new(t.recipe.seed, 7);
                    Some(Linear::new(ws, wt, true, &mut rng, &t.device)?)
                };
                Some(Hint { student_tap: st, teacher_tap: tt, regressor, weight: h.weight })
            }
        };
        Ok(Objective { teacher, temperature: self.cfg.temperature, alpha: self.cfg.alpha, hint })
    }

    pub async fn advance(&mut self, t: &mut Trainer, budget: usize, ctx: &mut StageCtx) -> Result<Advance> {
        if t.phase_done() {
            match self.part {
                Part::Alone => {
                    let mut s = summary(t, self.samples, self.cfg.temperature).await?;
                    s.0["epochs"] = serde_json::to_value(std::mem::take(&mut ctx.epochs))?;
                    self.alone_summary = Some(s);
                    let student =
                        self.cfg.build_student(&t.recipe, &t.data.input_shape, t.data.classes, &t.device)?;
                    let Some(teacher) = self.teacher.take() else { bail!("internal: no teacher") };
                    let obj = self.objective(t, teacher, &student).map_err(|e| ctx.err(e))?;
                    t.replace_model(student, obj.extra_params())?;
                    t.distill = Some(obj);
                    t.start_phase(self.cfg.train.phase(t));
                    self.part = Part::Distilled;
                }
                Part::Distilled => {
                    t.distill = None;
                    return Ok(Advance::finished(self.details(t).await?));
                }
            }
        }
        let mut adv = ctx.train(t, budget).await?;
        let who = match self.part {
            Part::Alone => "student alone",
            Part::Distilled => "distilled student",
        };
        let epoch = ctx.epochs.len() + usize::from(adv.epoch_end.is_none());
        adv.detail = format!("{who}, epoch {epoch}/{}", self.cfg.train.epochs);
        Ok(adv)
    }

    async fn details(&mut self, t: &Trainer) -> Result<Value> {
        let (distilled, d_soft) = summary(t, self.samples, self.cfg.temperature).await?;
        let (teacher, t_soft) = std::mem::take(&mut self.teacher_summary);
        let (alone, a_soft) = self.alone_summary.take().unwrap_or_default();
        let acc = |v: &Value| v["test_accuracy"].as_f64().unwrap_or(f64::NAN);
        let labels: Vec<u32> = t.data.test_y.iter().take(self.samples).copied().collect();
        Ok(json!({
            "student": self.cfg.student,
            "temperature": self.cfg.temperature,
            "alpha": self.cfg.alpha,
            "hint": self.cfg.hint,
            "margin": acc(&distilled) - acc(&alone),
            "test_samples": t.data.n_test(),
            "teacher": teacher,
            "distilled": distilled,
            "alone": alone,
            "soft_targets": {
                "temperature": self.cfg.temperature,
                "samples": (0..self.samples).collect::<Vec<_>>(),
                "labels": labels,
                "teacher": t_soft,
                "distilled": d_soft,
                "alone": a_soft,
            },
        }))
    }
}
