//! Losses, as compositions of ops: cross-entropy from logits (with label smoothing), NLL, MSE, and
//! Hinton et al.'s (2015) distillation loss. Labels are tensors of class indices stored as f32.

use crate::core::tensor::{Tensor, fmt_shape};
use crate::{Result, bail};

fn check_labels(logits: &Tensor, labels: &Tensor) -> Result<(usize, usize)> {
    match *logits.shape() {
        [n, c] if labels.shape() == [n] => Ok((n, c)),
        _ => bail!(
            "loss expects logits [batch, classes] and labels [batch], got {} and {}",
            fmt_shape(logits.shape()),
            fmt_shape(labels.shape())
        ),
    }
}

/// Negative log-likelihood: `−mean_i logp[i, y_i]`.
pub fn nll(logp: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let (_, c) = check_labels(logp, labels)?;
    soft_nll(logp, &labels.one_hot(c, 1.0, 0.0)?)
}

/// `−mean_i Σ_j target[i, j] · logp[i, j]` for soft targets.
fn soft_nll(logp: &Tensor, target: &Tensor) -> Result<Tensor> {
    logp.mul(target)?.sum(1, false)?.mean_all()?.neg()
}

/// Cross-entropy of logits against class labels, mean over the batch, with label smoothing ε as
/// torch: target = (1 − ε)·onehot + ε / C.
pub fn cross_entropy(logits: &Tensor, labels: &Tensor, label_smoothing: f32) -> Result<Tensor> {
    let (_, c) = check_labels(logits, labels)?;
    if !(0.0..=1.0).contains(&label_smoothing) {
        bail!("label_smoothing {label_smoothing} must be in [0, 1]");
    }
    let off = label_smoothing / c as f32;
    let target = labels.one_hot(c, 1.0 - label_smoothing + off, off)?;
    soft_nll(&logits.log_softmax(1)?, &target)
}

/// Mean squared error `mean((pred − target)²)`.
pub fn mse(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    if pred.shape() != target.shape() {
        bail!(
            "mse: prediction {} and target {} differ in shape",
            fmt_shape(pred.shape()),
            fmt_shape(target.shape())
        );
    }
    pred.sub(target)?.square()?.mean_all()
}

/// KL(softmax(t/T) ‖ softmax(s/T)), mean over the batch (torch `kl_div(..., reduction='batchmean')`).
pub fn kl_soft(student_logits: &Tensor, teacher_logits: &Tensor, temperature: f32) -> Result<Tensor> {
    if student_logits.shape() != teacher_logits.shape() || student_logits.rank() != 2 {
        bail!(
            "distillation: student {} and teacher {} logits must both be [batch, classes]",
            fmt_shape(student_logits.shape()),
            fmt_shape(teacher_logits.shape())
        );
    }
    let inv_t = 1.0 / temperature;
    let log_p_s = student_logits.scale(inv_t)?.log_softmax(1)?;
    let t = teacher_logits.detach().scale(inv_t)?;
    let (log_p_t, p_t) = (t.log_softmax(1)?, t.softmax(1)?);
    p_t.mul(&log_p_t.sub(&log_p_s)?)?.sum(1, false)?.mean_all()
}

/// Distillation loss (Hinton et al. 2015): `α · T² · KL(softmax(t/T) ‖ softmax(s/T)) + (1 − α) · CE(s, y)`.
/// The teacher's logits are treated as constants.
pub fn distillation(
    student_logits: &Tensor,
    teacher_logits: &Tensor,
    labels: &Tensor,
    temperature: f32,
    alpha: f32,
) -> Result<Tensor> {
    if !(temperature > 0.0) {
        bail!("distillation temperature {temperature} must be > 0");
    }
    if !(0.0..=1.0).contains(&alpha) {
        bail!("distillation alpha {alpha} must be in [0, 1]");
    }
    let soft =
        kl_soft(student_logits, teacher_logits, temperature)?.scale(alpha * temperature * temperature)?;
    let hard = cross_entropy(student_logits, labels, 0.0)?.scale(1.0 - alpha)?;
    soft.add(&hard)
}
