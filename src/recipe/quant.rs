//! The quantization stage configs of a recipe: `quantize` (post-training) and `qat`
//! (quantization-aware training), their fields, range checks and checks against the built model.

use crate::compress::prune::prunable_weights;
use crate::compress::quant::{Granularity, ObserverKind, QuantConfig, Scheme};
use crate::recipe::stages::{Finetune, PlanCtx};
use crate::{Result, bail};
use serde::{Deserialize, Serialize};

/// One bit width or a sweep (`"bits": [8, 6, 4, 3, 2]`: one report point per width).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Bits {
    One(u32),
    Sweep(Vec<u32>),
}

impl Bits {
    pub fn list(&self) -> Vec<u32> {
        match self {
            Bits::One(b) => vec![*b],
            Bits::Sweep(v) => v.clone(),
        }
    }

    fn validate(&self, p: &str) -> Result<()> {
        let list = self.list();
        if list.is_empty() || list.len() > 8 {
            bail!("{p}.bits: give one width or a list of 1 to 8 widths");
        }
        for (i, b) in list.iter().enumerate() {
            if !(2..=8).contains(b) {
                let at = if matches!(self, Bits::One(_)) { String::new() } else { format!("[{i}]") };
                bail!("{p}.bits{at} = {b}: must be in [2, 8]");
            }
        }
        Ok(())
    }
}

fn default_bits() -> Bits {
    Bits::One(8)
}
fn default_act_bits() -> u32 {
    8
}
fn default_affine() -> Scheme {
    Scheme::Affine
}
fn default_averaging() -> f32 {
    0.01
}
fn default_percentile() -> f32 {
    99.9
}
fn default_bins() -> usize {
    crate::compress::quant::histogram::DEFAULT_BINS
}
fn default_calibration() -> usize {
    10
}
fn default_true() -> bool {
    true
}
fn moving_average() -> ObserverKind {
    ObserverKind::MovingAverage
}

/// Post-training quantization: `{"kind": "quantize", "bits": 8, "scheme": "symmetric",
/// "granularity": "per_channel", "activations": true, "observer": "minmax", "calibration_batches": 10}`.
/// Weights are quantized from their min-max range; with `activations` each linear/conv input gets
/// an `activation_bits` quantizer (affine by default) whose observer (`minmax`, `moving_average`,
/// `percentile` or `histogram`, the last with `histogram_bins` bins) sees `calibration_batches`
/// training batches. A `bits` list sweeps widths; the model keeps the last one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantizeStage {
    #[serde(default = "default_bits")]
    pub bits: Bits,
    #[serde(default)]
    pub scheme: Scheme,
    #[serde(default)]
    pub granularity: Granularity,
    #[serde(default)]
    pub activations: bool,
    #[serde(default = "default_act_bits")]
    pub activation_bits: u32,
    #[serde(default = "default_affine")]
    pub activation_scheme: Scheme,
    #[serde(default)]
    pub observer: ObserverKind,
    #[serde(default = "default_averaging")]
    pub averaging_constant: f32,
    #[serde(default = "default_percentile")]
    pub percentile: f32,
    #[serde(default = "default_bins")]
    pub histogram_bins: usize,
    #[serde(default = "default_calibration")]
    pub calibration_batches: usize,
}

fn validate_common(p: &str, act_bits: u32, c: f32, pct: f32, bins: usize, cal: usize) -> Result<()> {
    if !(2..=8).contains(&act_bits) {
        bail!("{p}.activation_bits = {act_bits}: must be in [2, 8]");
    }
    if !(c > 0.0 && c <= 1.0) {
        bail!("{p}.averaging_constant = {c}: must be in (0, 1]");
    }
    if !(50.0..=100.0).contains(&pct) {
        bail!("{p}.percentile = {pct}: must be in [50, 100]");
    }
    if !(64..=16384).contains(&bins) {
        bail!("{p}.histogram_bins = {bins}: must be in [64, 16384]");
    }
    if cal == 0 || cal > 1000 {
        bail!("{p}.calibration_batches = {cal}: must be in [1, 1000]");
    }
    Ok(())
}

fn check_has_layers(p: &str, c: &PlanCtx) -> Result<()> {
    if prunable_weights(c.model).is_empty() {
        bail!("{p}: the model has no linear or conv layer to quantize");
    }
    Ok(())
}

impl QuantizeStage {
    pub fn validate(&self, p: &str) -> Result<()> {
        self.bits.validate(p)?;
        validate_common(
            p,
            self.activation_bits,
            self.averaging_constant,
            self.percentile,
            self.histogram_bins,
            self.calibration_batches,
        )
    }

    pub fn check(&self, p: &str, c: &PlanCtx) -> Result<()> {
        check_has_layers(p, c)
    }

    pub fn config(&self, bits: u32) -> QuantConfig {
        QuantConfig {
            bits,
            scheme: self.scheme,
            granularity: self.granularity,
            activation_bits: self.activations.then_some(self.activation_bits),
            activation_scheme: self.activation_scheme,
            observer: self.observer,
            averaging_constant: self.averaging_constant,
            percentile: self.percentile,
            histogram_bins: self.histogram_bins,
        }
    }
}

/// Quantization-aware training from the trained model: `{"kind": "qat", "bits": 4,
/// "train": {"epochs": 3, "lr": 0.01}, "freeze_observers_after": 200}`. Quantizers are installed and
/// calibrated as in `quantize` (the report's `ptq_accuracy` is the model before training), then
/// training runs with fake quantization in the forward and straight-through gradients; after every
/// step the weight qparams follow the weights and the input observers (moving average by default)
/// take the step's inputs, until `freeze_observers_after` steps. Observers see a step's inputs after
/// it, so a step uses the qparams of the steps before it (torch updates them first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QatStage {
    pub bits: u32,
    #[serde(default)]
    pub scheme: Scheme,
    #[serde(default)]
    pub granularity: Granularity,
    #[serde(default = "default_true")]
    pub activations: bool,
    #[serde(default = "default_act_bits")]
    pub activation_bits: u32,
    #[serde(default = "default_affine")]
    pub activation_scheme: Scheme,
    #[serde(default = "moving_average")]
    pub observer: ObserverKind,
    #[serde(default = "default_averaging")]
    pub averaging_constant: f32,
    #[serde(default = "default_percentile")]
    pub percentile: f32,
    #[serde(default = "default_bins")]
    pub histogram_bins: usize,
    #[serde(default = "default_calibration")]
    pub calibration_batches: usize,
    pub train: Finetune,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeze_observers_after: Option<u64>,
}

impl QatStage {
    pub fn validate(&self, p: &str) -> Result<()> {
        Bits::One(self.bits).validate(p)?;
        validate_common(
            p,
            self.activation_bits,
            self.averaging_constant,
            self.percentile,
            self.histogram_bins,
            self.calibration_batches,
        )?;
        self.train.validate(&format!("{p}.train"))
    }

    pub fn check(&self, p: &str, c: &PlanCtx) -> Result<()> {
        check_has_layers(p, c)
    }

    pub fn config(&self) -> QuantConfig {
        QuantConfig {
            bits: self.bits,
            scheme: self.scheme,
            granularity: self.granularity,
            activation_bits: self.activations.then_some(self.activation_bits),
            activation_scheme: self.activation_scheme,
            observer: self.observer,
            averaging_constant: self.averaging_constant,
            percentile: self.percentile,
            histogram_bins: self.histogram_bins,
        }
    }
}
