//! The distillation objective (Hinton et al. 2015: α·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1 − α)·CE,
//! with an optional FitNets hint, Romero et al. 2015): taps on hidden layers and the loss a student
//! trains with against a teacher in evaluation mode.

use crate::core::tensor::{Tensor, no_grad};
use crate::nn::loss::{distillation, mse};
use crate::nn::{Layer, Linear, Module, Sequential};
use crate::{Error, Result, bail};
/// Indices in `model.layers` of the hidden layers' outputs (their activations).
pub fn hidden_taps(model: &Sequential) -> Vec<usize> {
    model
        .layers
        .iter()
        .enumerate()
        .filter(|(_, l)| matches!(l, Layer::Activation(_)))
        .map(|(i, _)| i)
        .collect()
}

pub fn pick_tap(model: &Sequential, chosen: Option<usize>, field: &str, who: &str) -> Result<usize> {
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
pub fn forward_tapped(
    model: &Sequential,
    x: &Tensor,
    tap: Option<usize>,
) -> Result<(Tensor, Option<Tensor>)> {
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

/// A FitNets hint: the student's hidden output at `student_tap`, mapped by `regressor` when the
/// widths differ, regressed (MSE, times `weight`) onto the teacher's at `teacher_tap`.
pub struct Hint {
    pub student_tap: usize,
    pub teacher_tap: usize,
    pub regressor: Option<Linear>,
    pub weight: f32,
}

/// The distillation loss with its teacher, used by the trainer in place of cross-entropy while a
/// distilled student trains.
pub struct Objective {
    pub teacher: Sequential,
    pub temperature: f32,
    pub alpha: f32,
    pub hint: Option<Hint>,
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
    pub fn extra_params(&self) -> Vec<Tensor> {
        let r = self.hint.as_ref().and_then(|h| h.regressor.as_ref());
        r.map(|r| r.parameters().into_iter().map(|(_, t)| t).collect()).unwrap_or_default()
    }
}
