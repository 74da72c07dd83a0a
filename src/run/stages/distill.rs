//! Running the `distill` stage: trains a student against the model trained so far (the teacher),
//! trains the same student alone as a control, reports teacher / distilled / alone side by side, and
//! leaves the distilled student as the run's model.

use crate::compress::distill::*;
use crate::core::rng::Rng;
use crate::core::tensor::no_grad;
use crate::nn::{Linear, Module, Sequential};
use crate::recipe::distill::DistillStage;
use crate::run::pipeline::{Advance, StageCtx, finetune_phase, model_stats};
use crate::run::report::{DistillDetails, ModelSummary, SoftLogits, SoftTargets, StageDetails};
use crate::run::trainer::{Trainer, in_chunks};
use crate::{Error, Result, bail};

/// One model's class probabilities at the stage's temperature and its logits, per sample.
#[derive(Default)]
struct Soft {
    probs: Vec<Vec<f32>>,
    logits: Vec<Vec<f32>>,
}

/// Accuracy, size and soft targets of one model of the comparison.
async fn summary(t: &Trainer, samples: usize, temperature: f32) -> Result<(ModelSummary, Soft)> {
    let (acc, _) = t.evaluate_test().await?;
    let stats = model_stats(&t.model).await?;
    let mut soft = Soft::default();
    if samples > 0 {
        let x = t.test_inputs().narrow(0, 0, samples)?;
        let z = no_grad(|| t.logits(&x))?;
        let p = no_grad(|| z.scale(1.0 / temperature)?.softmax(-1))?.to_vec().await?;
        let rows = |v: Vec<f32>| v.chunks(t.data.classes.max(1)).map(|c| c.to_vec()).collect();
        soft = Soft { probs: rows(p), logits: rows(z.to_vec().await?) };
    }
    let v = ModelSummary {
        test_accuracy: acc,
        params: stats.params,
        nonzero_params: stats.nonzero_params,
        bytes: stats.bytes,
        epochs: None,
    };
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
    teacher_summary: Option<(ModelSummary, Soft)>,
    alone_summary: Option<(ModelSummary, Soft)>,
    /// The labelled training set, while the distilled student trains on the transfer set.
    labelled: Option<(Vec<f32>, Vec<u32>)>,
    /// Unlabelled samples in the distilled student's transfer set.
    unlabelled: usize,
}

impl DistillRun {
    /// Measures the teacher, takes it out of the trainer and starts the student-alone run.
    pub async fn begin(cfg: &DistillStage, t: &mut Trainer, ctx: &StageCtx) -> Result<Self> {
        let samples = cfg.soft_targets.min(t.data.n_test());
        if cfg.unlabelled && t.data.unlabelled_x.is_empty() {
            bail!(
                "{}.unlabelled = true: dataset.train_limit = {} leaves no unlabelled training samples \
                 (the training split has {}); lower it",
                ctx.prefix,
                t.recipe.dataset.train_limit.unwrap_or(0),
                t.data.n_train()
            );
        }
        let teacher_summary = summary(t, samples, cfg.temperature).await?;
        let student = cfg.build_student(&t.recipe, &t.data.input_shape, t.data.classes, &t.device)?;
        let teacher = std::mem::take(&mut t.model);
        teacher.set_training(false);
        t.replace_model(student, Vec::new())?;
        t.start_phase(finetune_phase(&cfg.train, t));
        Ok(DistillRun {
            cfg: cfg.clone(),
            prefix: ctx.prefix.clone(),
            part: Part::Alone,
            samples,
            teacher: Some(teacher),
            teacher_summary: Some(teacher_summary),
            alone_summary: None,
            labelled: None,
            unlabelled: 0,
        })
    }

    /// The transfer set with the unlabelled samples: the labelled training set followed by the
    /// samples past `dataset.train_limit`, labelled with the teacher's argmax (the soft term uses
    /// the teacher's probabilities on every sample of a batch anyway).
    async fn transfer_set(t: &Trainer, teacher: &Sequential) -> Result<(Vec<f32>, Vec<u32>)> {
        let unl = &t.data.unlabelled_x;
        let n = unl.len() / t.data.features().max(1);
        let mut shape = vec![n];
        shape.extend_from_slice(&t.data.input_shape);
        let x = crate::core::tensor::Tensor::new(unl, &shape, &t.device)?;
        let pred = no_grad(|| in_chunks(&x, |c| teacher.forward(c))?.argmax())?.to_vec().await?;
        let mut xs = t.data.train_x.clone();
        xs.extend_from_slice(unl);
        let mut ys = t.data.train_y.clone();
        ys.extend(pred.iter().map(|&p| p as u32));
        Ok((xs, ys))
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
                if ws.checked_mul(wt).is_none_or(|n| n > crate::recipe::MAX_PARAMS) {
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
                    s.0.epochs = Some(std::mem::take(&mut ctx.epochs));
                    self.alone_summary = Some(s);
                    let student =
                        self.cfg.build_student(&t.recipe, &t.data.input_shape, t.data.classes, &t.device)?;
                    let Some(teacher) = self.teacher.take() else { bail!("internal: no teacher") };
                    if self.cfg.unlabelled {
                        let (x, y) = Self::transfer_set(t, &teacher).await?;
                        self.unlabelled = y.len() - t.data.n_train();
                        self.labelled = Some(t.swap_train_set(x, y)?);
                    }
                    let obj = self.objective(t, teacher, &student).map_err(|e| ctx.err(e))?;
                    t.replace_model(student, obj.extra_params())?;
                    t.distill = Some(obj);
                    t.start_phase(finetune_phase(&self.cfg.train, t));
                    self.part = Part::Distilled;
                }
                Part::Distilled => {
                    t.distill = None;
                    if let Some((x, y)) = self.labelled.take() {
                        t.swap_train_set(x, y)?;
                    }
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

    async fn details(&mut self, t: &Trainer) -> Result<StageDetails> {
        let (distilled, d_soft) = summary(t, self.samples, self.cfg.temperature).await?;
        let missing = || Error(format!("{}: internal: a distillation summary is missing", self.prefix));
        let (teacher, t_soft) = self.teacher_summary.take().ok_or_else(missing)?;
        let (alone, a_soft) = self.alone_summary.take().ok_or_else(missing)?;
        let acc = |v: &ModelSummary| v.test_accuracy as f64;
        let labels: Vec<u32> = t.data.test_y.iter().take(self.samples).copied().collect();
        let margin = acc(&distilled) - acc(&alone);
        Ok(StageDetails::Distill(DistillDetails {
            student: self.cfg.student.clone(),
            temperature: self.cfg.temperature,
            alpha: self.cfg.alpha,
            hint: self.cfg.hint.clone(),
            margin,
            test_samples: t.data.n_test(),
            labelled_samples: t.data.n_train(),
            unlabelled_samples: self.unlabelled,
            teacher,
            distilled,
            alone,
            soft_targets: SoftTargets {
                temperature: self.cfg.temperature,
                samples: (0..self.samples).collect(),
                labels,
                teacher: t_soft.probs,
                distilled: d_soft.probs,
                alone: a_soft.probs,
                logits: SoftLogits { teacher: t_soft.logits, distilled: d_soft.logits, alone: a_soft.logits },
            },
        }))
    }
}
