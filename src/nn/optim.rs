//! Optimizers, exactly as `torch.optim.SGD`, `Adam` and `AdamW` (same update order, same state
//! initialization). Each step is one fused in-place backend primitive per parameter, so a GPU step
//! stays on the device.

use crate::core::backend::{AdamHyper, SgdHyper, Storage};
use crate::core::tensor::Tensor;
use crate::{Result, bail};
use serde::{Deserialize, Serialize};

fn default_betas() -> (f32, f32) {
    (0.9, 0.999)
}
fn default_eps() -> f32 {
    1e-8
}
fn default_wd_adamw() -> f32 {
    0.01
}

/// Optimizer settings, as in a recipe (`{"kind": "sgd", "lr": 0.1, "momentum": 0.9}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerConfig {
    Sgd {
        lr: f32,
        #[serde(default)]
        momentum: f32,
        #[serde(default)]
        dampening: f32,
        #[serde(default)]
        nesterov: bool,
        #[serde(default)]
        weight_decay: f32,
    },
    Adam {
        lr: f32,
        #[serde(default = "default_betas")]
        betas: (f32, f32),
        #[serde(default = "default_eps")]
        eps: f32,
        #[serde(default)]
        weight_decay: f32,
    },
    #[serde(rename = "adamw")]
    AdamW {
        lr: f32,
        #[serde(default = "default_betas")]
        betas: (f32, f32),
        #[serde(default = "default_eps")]
        eps: f32,
        #[serde(default = "default_wd_adamw")]
        weight_decay: f32,
    },
}

fn check(field: &str, v: f32, lo: f32, hi: f32, hi_open: bool) -> Result<()> {
    let ok = v.is_finite() && v >= lo && if hi_open { v < hi } else { v <= hi };
    if !ok {
        let close = if hi_open { ")" } else { "]" };
        bail!("{field} = {v}: must be in [{lo}, {hi}{close}");
    }
    Ok(())
}

impl OptimizerConfig {
    /// The base learning rate.
    pub fn lr(&self) -> f32 {
        match self {
            OptimizerConfig::Sgd { lr, .. }
            | OptimizerConfig::Adam { lr, .. }
            | OptimizerConfig::AdamW { lr, .. } => *lr,
        }
    }

    /// Range checks; `prefix` is the field path used in messages (e.g. `training.optimizer`).
    pub fn validate(&self, prefix: &str) -> Result<()> {
        let lr = self.lr();
        if !(lr > 0.0 && lr <= 10.0) {
            bail!("{prefix}.lr = {lr}: must be in (0, 10]");
        }
        match self {
            OptimizerConfig::Sgd { momentum, dampening, nesterov, weight_decay, .. } => {
                check(&format!("{prefix}.momentum"), *momentum, 0.0, 1.0, true)?;
                check(&format!("{prefix}.dampening"), *dampening, 0.0, 1.0, false)?;
                check(&format!("{prefix}.weight_decay"), *weight_decay, 0.0, 1.0, false)?;
                if *nesterov && (*momentum <= 0.0 || *dampening != 0.0) {
                    bail!("{prefix}.nesterov needs momentum > 0 and dampening = 0 (as torch)");
                }
            }
            OptimizerConfig::Adam { betas, eps, weight_decay, .. }
            | OptimizerConfig::AdamW { betas, eps, weight_decay, .. } => {
                check(&format!("{prefix}.betas[0]"), betas.0, 0.0, 1.0, true)?;
                check(&format!("{prefix}.betas[1]"), betas.1, 0.0, 1.0, true)?;
                if !(*eps > 0.0 && *eps <= 1.0) {
                    bail!("{prefix}.eps = {eps}: must be in (0, 1]");
                }
                check(&format!("{prefix}.weight_decay"), *weight_decay, 0.0, 1.0, false)?;
            }
        }
        Ok(())
    }
}

struct Slot {
    param: Tensor,
    /// SGD: momentum buffer; Adam: first moment.
    a: Option<Storage>,
    /// Adam: second moment.
    b: Option<Storage>,
    steps: u32,
}

/// An optimizer over a fixed list of parameters.
pub struct Optimizer {
    pub config: OptimizerConfig,
    /// The configured rate that schedules scale.
    base_lr: f32,
    lr: f32,
    slots: Vec<Slot>,
}

impl Optimizer {
    pub fn new(config: OptimizerConfig, params: Vec<Tensor>) -> Result<Self> {
        config.validate("optimizer")?;
        let lr = config.lr();
        Ok(Optimizer {
            config,
            base_lr: lr,
            lr,
            slots: params.into_iter().map(|p| Slot { param: p, a: None, b: None, steps: 0 }).collect(),
        })
    }

    /// Current learning rate (set by the schedule).
    pub fn lr(&self) -> f32 {
        self.lr
    }

    pub fn set_lr(&mut self, lr: f32) {
        self.lr = lr;
    }

    /// Sets the learning rate (and, for one-cycle, the momentum) for scheduler step `t` of `total`,
    /// from the configured base rate. Returns the rate.
    pub fn apply_schedule(&mut self, s: &crate::nn::schedule::LrSchedule, t: u32, total: u32) -> f32 {
        let lr = s.lr_at(self.base_lr, t, total);
        self.set_lr(lr);
        if let Some(m) = s.momentum_at(t, total) {
            self.set_momentum(m);
        }
        lr
    }

    /// Sets SGD's momentum or Adam's β₁ (driven by one-cycle schedules, as torch's OneCycleLR).
    pub fn set_momentum(&mut self, m: f32) {
        match &mut self.config {
            OptimizerConfig::Sgd { momentum, .. } => *momentum = m,
            OptimizerConfig::Adam { betas, .. } | OptimizerConfig::AdamW { betas, .. } => betas.0 = m,
        }
    }

    pub fn params(&self) -> impl Iterator<Item = &Tensor> {
        self.slots.iter().map(|s| &s.param)
    }

    /// Clears every parameter's gradient.
    pub fn zero_grad(&self) {
        for s in &self.slots {
            s.param.zero_grad();
        }
    }

    /// Forgets momentum/moment state (after rewinding weights, as a fresh optimizer would).
    pub fn reset_state(&mut self) {
        for s in &mut self.slots {
            s.a = None;
            s.b = None;
            s.steps = 0;
        }
    }

    /// Applies one update to every parameter that has a gradient (others are skipped, as torch).
    pub fn step(&mut self) -> Result<()> {
        let lr = self.lr;
        for s in &mut self.slots {
            let Some(g) = s.param.grad_storage() else { continue };
            let p = s.param.storage();
            let dev = p.device();
            s.steps += 1;
            match self.config {
                OptimizerConfig::Sgd { momentum, dampening, nesterov, weight_decay, .. } => {
                    let first = s.a.is_none();
                    let buf = match &s.a {
                        Some(b) => b.clone(),
                        None => {
                            let b = if momentum != 0.0 { dev.full(p.len(), 0.0)? } else { dev.full(1, 0.0)? };
                            s.a = Some(b.clone());
                            b
                        }
                    };
                    let h = SgdHyper { lr, momentum, dampening, weight_decay, nesterov, first_step: first };
                    p.sgd_step(&g, &buf, h)?;
                }
                OptimizerConfig::Adam { betas, eps, weight_decay, .. }
                | OptimizerConfig::AdamW { betas, eps, weight_decay, .. } => {
                    if s.a.is_none() {
                        s.a = Some(dev.full(p.len(), 0.0)?);
                        s.b = Some(dev.full(p.len(), 0.0)?);
                    }
                    let (Some(m), Some(v)) = (&s.a, &s.b) else { bail!("internal: Adam state missing") };
                    let h = AdamHyper {
                        lr,
                        beta1: betas.0,
                        beta2: betas.1,
                        eps,
                        weight_decay,
                        decoupled: matches!(self.config, OptimizerConfig::AdamW { .. }),
                        step: s.steps,
                    };
                    p.adam_step(&g, m, v, h)?;
                }
            }
        }
        Ok(())
    }
}
