//! The pruning stage configs of a recipe (`magnitude`, `structured`, `n_m`, `gradual`, `iterative`,
//! `lottery`, `sensitivity`): their fields, range checks, and checks against the built model.

use crate::compress::prune::{Amount, DefaultLayers, Norm, Scope, prunable_weights, resolve_layers};
use crate::recipe::stages::{Finetune, PlanCtx};
use crate::{Error, Result, bail};
use serde::{Deserialize, Serialize};
// ---------------------------------------------------------------------------------------------
// Stage configs
// ---------------------------------------------------------------------------------------------

fn check_sparsity(field: &str, s: f64) -> Result<()> {
    if !(0.0..1.0).contains(&s) {
        bail!("{field} = {s}: a sparsity must be in [0, 1)");
    }
    Ok(())
}

fn check_layer_list(field: &str, layers: &Option<Vec<String>>) -> Result<()> {
    if let Some(l) = layers {
        if l.is_empty() {
            bail!("{field} is empty: name at least one layer, or leave it out for the default");
        }
        for (i, n) in l.iter().enumerate() {
            let idx = n.strip_suffix(".weight").unwrap_or(n);
            if idx.is_empty() || !idx.bytes().all(|b| b.is_ascii_digit()) {
                bail!("{field}[{i}] = \"{n}\": name a layer by its index (\"3\") or weight (\"3.weight\")");
            }
        }
    }
    Ok(())
}

/// Unstructured magnitude pruning: `{"kind": "magnitude", "amount": 0.9, "scope": "global"}`.
/// `amount` is torch's: a fraction of the still-unpruned weights, or a count. `scope: "layer"`
/// prunes each layer by `amount` (`l1_unstructured`), `"global"` draws one threshold across the
/// layers (`global_unstructured`). `layers` defaults to every linear and conv weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MagnitudeStage {
    pub amount: Amount,
    #[serde(default)]
    pub scope: Scope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<String>>,
}

/// Structured pruning of whole neurons or filters by Lₙ norm (`ln_structured`):
/// `{"kind": "structured", "amount": 0.5, "norm": "l1", "dim": 0, "remove": true}`. With `dim: 0`
/// the pruned rows' biases and the following batch norm's γ, β are masked too, so the neuron is
/// dead; `remove: true` then deletes it physically (the layer, the batch norm and the next layer's
/// inputs shrink). `layers` defaults to all but the output layer (dim 0) or the input layer (dim 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StructuredStage {
    pub amount: Amount,
    #[serde(default)]
    pub norm: Norm,
    #[serde(default)]
    pub dim: usize,
    #[serde(default)]
    pub remove: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<String>>,
}

/// N:M sparsity: `{"kind": "n_m", "n": 2, "m": 4}` keeps `n` of every `m` consecutive weights
/// along the input dimension. `layers` defaults to every linear and conv weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NmStage {
    pub n: usize,
    pub m: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<String>>,
}

fn default_frequency() -> u64 {
    100
}

/// Gradual magnitude pruning during training (Zhu & Gupta 2017, "AGP"): trains `train` and, at
/// stage steps `t = start_step + k·frequency` (k = 0..=prunings), prunes to
/// `s_k = final_sparsity + (initial_sparsity − final_sparsity)(1 − k/prunings)³`.
/// `{"kind": "gradual", "final_sparsity": 0.9, "frequency": 50, "prunings": 10,
///   "train": {"epochs": 8, "lr": 0.01}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradualStage {
    #[serde(default)]
    pub initial_sparsity: f64,
    pub final_sparsity: f64,
    /// t₀, in optimizer steps from the start of this stage.
    #[serde(default)]
    pub start_step: u64,
    /// Δt, optimizer steps between pruning steps.
    #[serde(default = "default_frequency")]
    pub frequency: u64,
    /// n, the number of pruning steps after the first.
    pub prunings: u32,
    pub train: Finetune,
    #[serde(default)]
    pub scope: Scope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<String>>,
}

/// Iterative pruning: `cycles` rounds of "prune to `1 − (1 − sparsity)^(c/cycles)`, then
/// finetune": `{"kind": "iterative", "sparsity": 0.9, "cycles": 3, "finetune": {"epochs": 1}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IterativeStage {
    pub sparsity: f64,
    pub cycles: u32,
    pub finetune: Finetune,
    #[serde(default)]
    pub scope: Scope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}
fn one_round() -> u32 {
    1
}

/// Lottery-ticket rewinding (Frankle & Carbin 2019; Frankle et al. 2020 for `rewind_step` > 0):
/// over `rounds` rounds, prune the trained weights to `1 − (1 − sparsity)^(r/rounds)`, rewind the
/// survivors to their values at `rewind_step` of the initial training (0 = initialization), and
/// retrain. With `control` (the default) the same mask is then trained from a fresh random
/// initialization, and the report holds both. The winning ticket is kept.
/// `{"kind": "lottery", "sparsity": 0.8, "rounds": 2, "scope": "global"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LotteryStage {
    pub sparsity: f64,
    #[serde(default = "one_round")]
    pub rounds: u32,
    #[serde(default)]
    pub rewind_step: u64,
    /// Retraining per round; by default the recipe's own training (epochs, lr, schedule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train: Option<Finetune>,
    #[serde(default = "yes")]
    pub control: bool,
    #[serde(default)]
    pub scope: Scope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<String>>,
}

fn default_sparsities() -> Vec<f64> {
    vec![0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99]
}

/// Sensitivity analysis (as Distiller's): each layer alone is pruned to each sparsity and the
/// model evaluated without finetuning; the model is left as it was.
/// `{"kind": "sensitivity", "sparsities": [0, 0.5, 0.9, 0.99]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensitivityStage {
    #[serde(default = "default_sparsities")]
    pub sparsities: Vec<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<String>>,
}

/// Most rounds or cycles a stage may ask for.
pub const MAX_ROUNDS: u32 = 20;
/// Most sparsity levels of a sensitivity analysis.
pub const MAX_SENSITIVITY_LEVELS: usize = 64;

impl MagnitudeStage {
    pub fn validate(&self, p: &str) -> Result<()> {
        self.amount.validate(&format!("{p}.amount"))?;
        check_layer_list(&format!("{p}.layers"), &self.layers)
    }
}

impl StructuredStage {
    pub fn validate(&self, p: &str) -> Result<()> {
        self.amount.validate(&format!("{p}.amount"))?;
        if self.dim > 1 {
            bail!(
                "{p}.dim = {}: must be 0 (output neurons / filters) or 1 (inputs / input channels)",
                self.dim
            );
        }
        if self.remove && self.dim != 0 {
            bail!("{p}.remove needs dim = 0: only whole output neurons or filters can be removed");
        }
        check_layer_list(&format!("{p}.layers"), &self.layers)
    }

    pub fn defaults(&self) -> DefaultLayers {
        if self.dim == 0 { DefaultLayers::AllButLast } else { DefaultLayers::AllButFirst }
    }
}

impl NmStage {
    pub fn validate(&self, p: &str) -> Result<()> {
        if self.m < 2 || self.m > 64 {
            bail!("{p}.m = {}: must be in [2, 64]", self.m);
        }
        if self.n == 0 || self.n >= self.m {
            bail!("{p}.n = {}: N:M sparsity needs 1 ≤ N < M = {}", self.n, self.m);
        }
        check_layer_list(&format!("{p}.layers"), &self.layers)
    }
}

impl GradualStage {
    pub fn validate(&self, p: &str) -> Result<()> {
        check_sparsity(&format!("{p}.initial_sparsity"), self.initial_sparsity)?;
        check_sparsity(&format!("{p}.final_sparsity"), self.final_sparsity)?;
        if self.initial_sparsity > self.final_sparsity {
            bail!(
                "{p}.initial_sparsity = {} exceeds final_sparsity = {}",
                self.initial_sparsity,
                self.final_sparsity
            );
        }
        if self.frequency == 0 {
            bail!("{p}.frequency = 0: must be at least 1 step");
        }
        if self.prunings == 0 || self.prunings > 10_000 {
            bail!("{p}.prunings = {}: must be in [1, 10000]", self.prunings);
        }
        self.last_event(p)?;
        self.train.validate(&format!("{p}.train"))?;
        check_layer_list(&format!("{p}.layers"), &self.layers)
    }

    /// The stage step of the last pruning event, `t₀ + nΔt`; an error naming the fields when it
    /// does not fit a u64 (it could never be reached).
    pub fn last_event(&self, p: &str) -> Result<u64> {
        (self.prunings as u64)
            .checked_mul(self.frequency)
            .and_then(|d| d.checked_add(self.start_step))
            .ok_or_else(|| {
                Error(format!(
                    "{p}.start_step = {}, {p}.frequency = {}, {p}.prunings = {}: the last pruning step \
                     start_step + prunings·frequency overflows a 64-bit step count",
                    self.start_step, self.frequency, self.prunings
                ))
            })
    }

    /// Stage steps of the pruning events, `t₀ + kΔt` for `k = 0..=n` (saturating; [`Self::validate`]
    /// refuses a plan whose last step overflows).
    pub fn events(&self) -> Vec<u64> {
        (0..=self.prunings as u64)
            .map(|k| self.start_step.saturating_add(k.saturating_mul(self.frequency)))
            .collect()
    }
}

impl IterativeStage {
    pub fn validate(&self, p: &str) -> Result<()> {
        check_sparsity(&format!("{p}.sparsity"), self.sparsity)?;
        if self.cycles == 0 || self.cycles > MAX_ROUNDS {
            bail!("{p}.cycles = {}: must be in [1, {MAX_ROUNDS}]", self.cycles);
        }
        self.finetune.validate(&format!("{p}.finetune"))?;
        check_layer_list(&format!("{p}.layers"), &self.layers)
    }
}

impl LotteryStage {
    pub fn validate(&self, p: &str) -> Result<()> {
        check_sparsity(&format!("{p}.sparsity"), self.sparsity)?;
        if self.rounds == 0 || self.rounds > MAX_ROUNDS {
            bail!("{p}.rounds = {}: must be in [1, {MAX_ROUNDS}]", self.rounds);
        }
        if let Some(f) = &self.train {
            f.validate(&format!("{p}.train"))?;
        }
        check_layer_list(&format!("{p}.layers"), &self.layers)
    }
}

impl SensitivityStage {
    pub fn validate(&self, p: &str) -> Result<()> {
        if self.sparsities.is_empty() || self.sparsities.len() > MAX_SENSITIVITY_LEVELS {
            bail!(
                "{p}.sparsities has {} levels: must be 1 to {MAX_SENSITIVITY_LEVELS}",
                self.sparsities.len()
            );
        }
        for (i, &s) in self.sparsities.iter().enumerate() {
            check_sparsity(&format!("{p}.sparsities[{i}]"), s)?;
        }
        check_layer_list(&format!("{p}.layers"), &self.layers)
    }
}

// ---------------------------------------------------------------------------------------------
// Checks against the built model (before training starts)
// ---------------------------------------------------------------------------------------------

/// A count `amount` must not exceed the units it is taken from (torch raises at prune time; here the
/// recipe is refused before training). `units` names each unit set and its size.
fn check_count(
    field: &str,
    amount: Amount,
    noun: &str,
    units: impl IntoIterator<Item = (String, usize)>,
) -> Result<()> {
    let Amount::Count(k) = amount else { return Ok(()) };
    for (what, n) in units {
        if k > n as u64 {
            bail!(
                "{field} = {k}: {what} has only {n} {noun}; give a count in [0, {n}] or a fraction in [0, 1)"
            );
        }
    }
    Ok(())
}

fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

impl MagnitudeStage {
    pub fn check(&self, p: &str, c: &PlanCtx) -> Result<()> {
        let ws = resolve_layers(c.model, self.layers.as_deref(), DefaultLayers::All, &format!("{p}.layers"))?;
        let units: Vec<(String, usize)> = match self.scope {
            Scope::Layer => {
                ws.iter().map(|w| (format!("layer {} {:?}", w.name, w.shape), numel(&w.shape))).collect()
            }
            Scope::Global => {
                let n = ws.iter().map(|w| numel(&w.shape)).sum();
                vec![(format!("the global scope ({} layers)", ws.len()), n)]
            }
        };
        check_count(&format!("{p}.amount"), self.amount, "weights", units)
    }
}

impl StructuredStage {
    pub fn check(&self, p: &str, c: &PlanCtx) -> Result<()> {
        let ws = resolve_layers(c.model, self.layers.as_deref(), self.defaults(), &format!("{p}.layers"))?;
        let noun = if self.dim == 0 { "output channels" } else { "input channels" };
        check_count(
            &format!("{p}.amount"),
            self.amount,
            noun,
            ws.iter().map(|w| {
                (format!("layer {} {:?}", w.name, w.shape), w.shape.get(self.dim).copied().unwrap_or(0))
            }),
        )?;
        if self.remove {
            if let Some(q) = c.per_channel_quant {
                bail!(
                    "{p}.remove: {q} installed per-channel quantizers (one scale per output channel), and \
                     removing channels after it would leave them more scales than channels; put the \
                     structured removal before {q}, or use \"granularity\": \"per_tensor\" there"
                );
            }
        }
        let all = prunable_weights(c.model);
        if self.remove {
            if let Some(last) = all.last() {
                if ws.iter().any(|w| w.name == last.name) {
                    bail!(
                        "{p}.layers: {} is the output layer; its rows are the classes and cannot be removed",
                        last.name
                    );
                }
            }
        }
        Ok(())
    }
}

impl NmStage {
    pub fn check(&self, p: &str, c: &PlanCtx) -> Result<()> {
        resolve_layers(c.model, self.layers.as_deref(), DefaultLayers::All, &format!("{p}.layers"))
            .map(|_| ())
    }
}

impl GradualStage {
    pub fn check(&self, p: &str, c: &PlanCtx) -> Result<()> {
        resolve_layers(c.model, self.layers.as_deref(), DefaultLayers::All, &format!("{p}.layers"))?;
        let total = (self.train.epochs as u64).saturating_mul(c.batches_per_epoch as u64);
        let last = self.last_event(p)?;
        if last > total {
            bail!(
                "{p}: the last pruning step start_step + prunings·frequency = {last} is past the stage's \
                 {total} steps ({} epochs × {} batches)",
                self.train.epochs,
                c.batches_per_epoch
            );
        }
        Ok(())
    }
}

impl IterativeStage {
    pub fn check(&self, p: &str, c: &PlanCtx) -> Result<()> {
        resolve_layers(c.model, self.layers.as_deref(), DefaultLayers::All, &format!("{p}.layers"))
            .map(|_| ())
    }
}

impl LotteryStage {
    pub fn check(&self, p: &str, c: &PlanCtx) -> Result<()> {
        resolve_layers(c.model, self.layers.as_deref(), DefaultLayers::All, &format!("{p}.layers"))?;
        if self.rewind_step > c.initial_steps {
            bail!(
                "{p}.rewind_step = {}: the initial training has only {} steps",
                self.rewind_step,
                c.initial_steps
            );
        }
        if c.removed_before {
            bail!(
                "{p}: a lottery stage cannot follow a structured removal (shapes no longer match the rewind)"
            );
        }
        Ok(())
    }
}

impl SensitivityStage {
    pub fn check(&self, p: &str, c: &PlanCtx) -> Result<()> {
        resolve_layers(c.model, self.layers.as_deref(), DefaultLayers::All, &format!("{p}.layers"))
            .map(|_| ())
    }
}
