//! Learning-rate schedules as closed forms of torch's schedulers, so the page can plot a whole
//! schedule before training: constant, StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR,
//! OneCycleLR, and LinearLR warmup followed by any of them (torch's SequentialLR).

use crate::core::math;
use crate::{Result, bail};
use serde::{Deserialize, Serialize};

/// Highest learning rate a schedule may reach (`max_lr`, `eta_min`), as the optimizer's `lr`.
pub const MAX_LR: f32 = 10.0;
/// Highest one-cycle `div_factor` and `final_div_factor` (the smallest rate stays a normal f32).
pub const MAX_DIV_FACTOR: f32 = 1e6;

fn default_gamma() -> f32 {
    0.1
}
fn default_pct_start() -> f32 {
    0.3
}
fn default_div_factor() -> f32 {
    25.0
}
fn default_final_div_factor() -> f32 {
    1e4
}

/// The decay after warmup. `t` counts scheduler steps (epochs or batches, per [`LrSchedule::interval`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Decay {
    /// `lr = base`.
    Constant,
    /// `lr = base · γ^⌊t / step_size⌋`.
    Step {
        step_size: u32,
        #[serde(default = "default_gamma")]
        gamma: f32,
    },
    /// `lr = base · γ^(number of milestones ≤ t)`.
    MultiStep {
        milestones: Vec<u32>,
        #[serde(default = "default_gamma")]
        gamma: f32,
    },
    /// `lr = base · γ^t`.
    Exponential { gamma: f32 },
    /// `lr = η_min + (base − η_min)(1 + cos(π t / T_max)) / 2`.
    Cosine {
        t_max: u32,
        #[serde(default)]
        eta_min: f32,
    },
    /// torch's OneCycleLR (cosine annealing, two phases): from `max_lr/div_factor` up to `max_lr`
    /// over `pct_start·total − 1` steps, then down to `max_lr/(div_factor·final_div_factor)`.
    /// The base learning rate is ignored. `total_steps` 0 means "the whole run".
    OneCycle {
        max_lr: f32,
        #[serde(default)]
        total_steps: u32,
        #[serde(default = "default_pct_start")]
        pct_start: f32,
        #[serde(default = "default_div_factor")]
        div_factor: f32,
        #[serde(default = "default_final_div_factor")]
        final_div_factor: f32,
        /// Cycle SGD's momentum (Adam's β₁) inversely to the rate, between `base_momentum` and
        /// `max_momentum` (torch's default: on).
        #[serde(default = "yes")]
        cycle_momentum: bool,
        #[serde(default = "default_base_momentum")]
        base_momentum: f32,
        #[serde(default = "default_max_momentum")]
        max_momentum: f32,
    },
}

/// When the schedule advances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    #[default]
    Epoch,
    Step,
}

fn yes() -> bool {
    true
}
fn default_base_momentum() -> f32 {
    0.85
}
fn default_max_momentum() -> f32 {
    0.95
}

fn default_decay() -> Decay {
    Decay::Constant
}

fn default_warmup_start() -> f32 {
    0.1
}

/// A schedule: optional linear warmup (torch LinearLR from `warmup_start_factor` to 1 over
/// `warmup` steps) followed by a decay that starts counting at the end of warmup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LrSchedule {
    #[serde(default = "default_decay")]
    pub decay: Decay,
    #[serde(default)]
    pub warmup: u32,
    #[serde(default = "default_warmup_start")]
    pub warmup_start_factor: f32,
    #[serde(default)]
    pub interval: Interval,
}

impl Default for LrSchedule {
    fn default() -> Self {
        LrSchedule { decay: Decay::Constant, warmup: 0, warmup_start_factor: 0.1, interval: Interval::Epoch }
    }
}

fn cos_anneal(start: f64, end: f64, pct: f64) -> f64 {
    end + (start - end) / 2.0 * (math::cos64(std::f64::consts::PI * pct) + 1.0)
}

impl LrSchedule {
    /// Range checks, naming fields under `prefix`.
    pub fn validate(&self, prefix: &str) -> Result<()> {
        if !(self.warmup_start_factor > 0.0 && self.warmup_start_factor <= 1.0) {
            bail!("{prefix}.warmup_start_factor = {}: must be in (0, 1]", self.warmup_start_factor);
        }
        let d = format!("{prefix}.decay");
        match &self.decay {
            Decay::Constant => {}
            Decay::Step { step_size, gamma } => {
                if *step_size == 0 {
                    bail!("{d}.step_size = 0: must be at least 1");
                }
                if !(*gamma > 0.0 && *gamma <= 1.0) {
                    bail!("{d}.gamma = {gamma}: must be in (0, 1]");
                }
            }
            Decay::MultiStep { milestones, gamma } => {
                if milestones.windows(2).any(|w| w[0] >= w[1]) {
                    bail!("{d}.milestones must be strictly increasing, got {milestones:?}");
                }
                if !(*gamma > 0.0 && *gamma <= 1.0) {
                    bail!("{d}.gamma = {gamma}: must be in (0, 1]");
                }
            }
            Decay::Exponential { gamma } => {
                if !(*gamma > 0.0 && *gamma <= 1.0) {
                    bail!("{d}.gamma = {gamma}: must be in (0, 1]");
                }
            }
            Decay::Cosine { t_max, eta_min } => {
                if *t_max == 0 {
                    bail!("{d}.t_max = 0: must be at least 1");
                }
                if !(*eta_min >= 0.0 && *eta_min <= MAX_LR) {
                    bail!("{d}.eta_min = {eta_min}: must be in [0, {MAX_LR}]");
                }
            }
            Decay::OneCycle {
                max_lr,
                pct_start,
                div_factor,
                final_div_factor,
                base_momentum,
                max_momentum,
                ..
            } => {
                if !(0.0 <= *base_momentum && base_momentum <= max_momentum && *max_momentum < 1.0) {
                    bail!(
                        "{d}.base_momentum = {base_momentum}, {d}.max_momentum = {max_momentum}: \
                         must satisfy 0 ≤ base_momentum ≤ max_momentum < 1"
                    );
                }
                if !(*max_lr > 0.0 && *max_lr <= MAX_LR) {
                    bail!("{d}.max_lr = {max_lr}: must be in (0, {MAX_LR}]");
                }
                if !(*pct_start > 0.0 && *pct_start < 1.0) {
                    bail!("{d}.pct_start = {pct_start}: must be in (0, 1)");
                }
                if !(*div_factor >= 1.0 && *div_factor <= MAX_DIV_FACTOR) {
                    bail!("{d}.div_factor = {div_factor}: must be in [1, {MAX_DIV_FACTOR:e}]");
                }
                if !(*final_div_factor >= 1.0 && *final_div_factor <= MAX_DIV_FACTOR) {
                    bail!("{d}.final_div_factor = {final_div_factor}: must be in [1, {MAX_DIV_FACTOR:e}]");
                }
            }
        }
        Ok(())
    }

    /// Learning rate at scheduler step `t` (0-based) for base rate `base`; `total` is the number
    /// of scheduler steps in the run (used by one-cycle when its `total_steps` is 0).
    pub fn lr_at(&self, base: f32, t: u32, total: u32) -> f32 {
        let base = base as f64;
        if t < self.warmup {
            let f = self.warmup_start_factor as f64;
            return (base * (f + (1.0 - f) * t as f64 / self.warmup as f64)) as f32;
        }
        let t = (t - self.warmup) as f64;
        let lr = match &self.decay {
            Decay::Constant => base,
            Decay::Step { step_size, gamma } => {
                base * (*gamma as f64).powi((t / *step_size as f64).floor() as i32)
            }
            Decay::MultiStep { milestones, gamma } => {
                base * (*gamma as f64).powi(milestones.iter().filter(|&&m| m as f64 <= t).count() as i32)
            }
            Decay::Exponential { gamma } => base * math::pow64(*gamma as f64, t),
            Decay::Cosine { t_max, eta_min } => {
                let e = *eta_min as f64;
                e + (base - e) * (1.0 + math::cos64(std::f64::consts::PI * t / *t_max as f64)) / 2.0
            }
            Decay::OneCycle { max_lr, div_factor, final_div_factor, .. } => {
                let max = *max_lr as f64;
                let initial = max / *div_factor as f64;
                let min = initial / *final_div_factor as f64;
                match self.one_cycle_phase(t, total) {
                    (true, pct) => cos_anneal(initial, max, pct),
                    (false, pct) => cos_anneal(max, min, pct),
                }
            }
        };
        lr as f32
    }

    /// One-cycle position after warmup: (in the warm-up phase?, fraction of that phase done).
    fn one_cycle_phase(&self, t: f64, total: u32) -> (bool, f64) {
        let Decay::OneCycle { total_steps, pct_start, .. } = &self.decay else { return (false, 0.0) };
        let total = if *total_steps > 0 { *total_steps } else { total.saturating_sub(self.warmup).max(2) };
        let end1 = (*pct_start as f64 * total as f64) - 1.0;
        let end2 = total as f64 - 1.0;
        if t <= end1 { (true, t / end1) } else { (false, (t - end1) / (end2 - end1)) }
    }

    /// The momentum (SGD) or β₁ (Adam) torch's OneCycleLR sets at step `t`, when this schedule
    /// cycles momentum: from `max_momentum` down to `base_momentum` while the rate rises, and back.
    pub fn momentum_at(&self, t: u32, total: u32) -> Option<f32> {
        let Decay::OneCycle { cycle_momentum: true, base_momentum, max_momentum, .. } = &self.decay else {
            return None;
        };
        if t < self.warmup {
            return Some(*max_momentum);
        }
        let (lo, hi) = (*base_momentum as f64, *max_momentum as f64);
        Some(match self.one_cycle_phase((t - self.warmup) as f64, total) {
            (true, pct) => cos_anneal(hi, lo, pct),
            (false, pct) => cos_anneal(lo, hi, pct),
        } as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_decay_and_refuses_unknown_fields() {
        let s: LrSchedule =
            serde_json::from_str(r#"{"decay": {"kind": "cosine", "t_max": 10}, "warmup": 2}"#).unwrap();
        assert_eq!(s.warmup, 2);
        assert!((s.lr_at(1.0, 2, 12) - 1.0).abs() < 1e-6);
        let e =
            serde_json::from_str::<LrSchedule>(r#"{"decay": {"kind": "cosine", "t_max": 10, "tmax": 3}}"#);
        assert!(e.unwrap_err().to_string().contains("tmax"));
        let e = serde_json::from_str::<LrSchedule>(r#"{"warmpu": 3}"#);
        assert!(e.unwrap_err().to_string().contains("warmpu"));
    }
}
