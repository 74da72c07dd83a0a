//! Pruning with `torch.nn.utils.prune` semantics, as algorithms on tensors and models: mask
//! computation as pure functions over host slices (magnitude, global, Lₙ-structured, N:M, the Zhu &
//! Gupta schedule), honest byte counts of sparse tensors, the persistent [`MaskSet`] applied around
//! every optimizer step, the prunable weights of a model, and weight snapshots (lottery rewinds).

use crate::core::backend::{BinaryOp, Storage};
use crate::core::tensor::{Tensor, fmt_shape};
use crate::nn::{Conv2d, Layer, Linear, Module, Sequential};
use crate::{Error, Result, bail};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Ordering;
use ts_rs::TS;

// ---------------------------------------------------------------------------------------------
// Amounts, norms, scopes
// ---------------------------------------------------------------------------------------------

/// How much to prune, as torch's `amount`: a JSON integer is a count of units, a JSON number with a
/// fraction part (`0.5`) is a fraction of the units still unpruned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Amount {
    Count(u64),
    Fraction(f64),
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Amount::Count(c) => s.serialize_u64(*c),
            Amount::Fraction(f) => s.serialize_f64(*f),
        }
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Amount;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a fraction in [0, 1) or a whole number of units")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Amount, E> {
                Ok(Amount::Count(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Amount, E> {
                u64::try_from(v).map(Amount::Count).map_err(|_| E::custom(format!("amount {v} is negative")))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Amount, E> {
                Ok(Amount::Fraction(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl Amount {
    /// A fraction must lie in [0, 1).
    pub fn validate(&self, field: &str) -> Result<()> {
        if let Amount::Fraction(f) = self {
            if !(0.0..1.0).contains(f) {
                bail!("{field} = {f}: a fraction must be in [0, 1)");
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Amount::Count(c) => write!(f, "{c}"),
            Amount::Fraction(x) => write!(f, "{x}"),
        }
    }
}

/// The channel norm of structured pruning (torch's `n` of `ln_structured`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, TS)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// `Σ|w|` (Li et al. 2017).
    #[default]
    L1,
    /// `√Σw²`.
    L2,
}

/// Where a magnitude threshold is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, TS)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Each layer on its own (`prune.l1_unstructured` per layer).
    #[default]
    Layer,
    /// One threshold over all chosen layers together (`prune.global_unstructured`).
    Global,
}

// ---------------------------------------------------------------------------------------------
// Pure mask computation
// ---------------------------------------------------------------------------------------------

/// Python's `round` (half to even), as torch's `_compute_nparams_toprune` uses.
fn round_half_even(x: f64) -> usize {
    x.round_ties_even().max(0.0) as usize
}

/// Number of units to prune out of `size`: the count itself, or `round_half_even(amount · size)`.
/// Errors when that exceeds `size` (torch raises too).
pub fn units_to_prune(amount: Amount, size: usize) -> Result<usize> {
    let k = match amount {
        Amount::Count(c) => usize::try_from(c).unwrap_or(usize::MAX),
        Amount::Fraction(f) => {
            if !(0.0..=1.0).contains(&f) {
                bail!("amount {f}: a fraction must be in [0, 1]");
            }
            round_half_even(f * size as f64)
        }
    };
    if k > size {
        bail!("amount {amount} asks to prune {k} units, but only {size} are left unpruned");
    }
    Ok(k)
}

/// Strict total order "smaller magnitude first, then lower index".
fn by_magnitude(a: (f32, usize), b: (f32, usize)) -> Ordering {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
}

/// The `k` smallest-magnitude entries among `candidates` (indices into `values`); ties go to the
/// lower index, so the choice is deterministic on every backend.
fn smallest(values: &[f32], candidates: &mut [usize], k: usize) -> Vec<usize> {
    if k == 0 {
        return Vec::new();
    }
    if k < candidates.len() {
        candidates
            .select_nth_unstable_by(k - 1, |&a, &b| by_magnitude((values[a].abs(), a), (values[b].abs(), b)));
    }
    candidates[..k.min(candidates.len())].to_vec()
}

fn check_lens(values: &[f32], mask: &[f32]) -> Result<()> {
    if values.len() != mask.len() {
        bail!("mask has {} entries for a tensor of {}", mask.len(), values.len());
    }
    Ok(())
}

/// `prune.l1_unstructured` composed with an existing mask (torch's `PruningContainer`): among the
/// entries still unpruned (`mask ≠ 0`), zero the `units_to_prune(amount, unpruned)` with the
/// smallest `|w|`. Ties: lower flat index first (torch's CPU `topk` order is unspecified).
pub fn l1_unstructured(values: &[f32], mask: &[f32], amount: Amount) -> Result<Vec<f32>> {
    check_lens(values, mask)?;
    let mut live: Vec<usize> = (0..values.len()).filter(|&i| mask[i] != 0.0).collect();
    let k = units_to_prune(amount, live.len())?;
    let mut out = mask.to_vec();
    for i in smallest(values, &mut live, k) {
        out[i] = 0.0;
    }
    Ok(out)
}

/// `prune.global_unstructured(..., L1Unstructured, amount)`: [`l1_unstructured`] on the
/// concatenation of all tensors (in the given order), split back per tensor.
pub fn global_unstructured(values: &[&[f32]], masks: &[&[f32]], amount: Amount) -> Result<Vec<Vec<f32>>> {
    let (v, m) = concat(values, masks)?;
    Ok(split(&l1_unstructured(&v, &m, amount)?, values))
}

fn concat(values: &[&[f32]], masks: &[&[f32]]) -> Result<(Vec<f32>, Vec<f32>)> {
    if values.len() != masks.len() {
        bail!("{} tensors but {} masks", values.len(), masks.len());
    }
    for (v, m) in values.iter().zip(masks) {
        check_lens(v, m)?;
    }
    Ok((values.concat(), masks.concat()))
}

fn split(flat: &[f32], like: &[&[f32]]) -> Vec<Vec<f32>> {
    let mut at = 0;
    like.iter()
        .map(|v| {
            at += v.len();
            flat[at - v.len()..at].to_vec()
        })
        .collect()
}

/// Grows `mask` until `round_half_even(sparsity · n)` of the `n` entries are zero, pruning the
/// smallest `|w|` among the survivors (a mask already that sparse is returned unchanged). This is
/// how the gradual, iterative, lottery and sensitivity stages reach a target sparsity.
pub fn prune_to_sparsity(values: &[f32], mask: &[f32], sparsity: f64) -> Result<Vec<f32>> {
    check_lens(values, mask)?;
    if !(0.0..=1.0).contains(&sparsity) {
        bail!("sparsity {sparsity} must be in [0, 1]");
    }
    let target = round_half_even(sparsity * values.len() as f64);
    let zeros = mask.iter().filter(|&&m| m == 0.0).count();
    l1_unstructured(values, mask, Amount::Count(target.saturating_sub(zeros) as u64))
}

/// [`prune_to_sparsity`] with one threshold over several tensors.
pub fn global_prune_to_sparsity(values: &[&[f32]], masks: &[&[f32]], sparsity: f64) -> Result<Vec<Vec<f32>>> {
    let (v, m) = concat(values, masks)?;
    Ok(split(&prune_to_sparsity(&v, &m, sparsity)?, values))
}

/// How far one magnitude-pruning step goes: torch's `amount` (of the still-unpruned weights), or
/// a target sparsity the masks grow to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    Amount(Amount),
    Sparsity(f64),
}

/// New masks for `values` (with their current `masks`, one pair per weight) under `target`: each
/// weight on its own (`Scope::Layer`) or with one threshold over all of them (`Scope::Global`).
pub fn magnitude_masks(
    values: &[Vec<f32>],
    masks: &[Vec<f32>],
    scope: Scope,
    target: Target,
) -> Result<Vec<Vec<f32>>> {
    if values.len() != masks.len() {
        bail!("magnitude pruning: {} weights but {} masks", values.len(), masks.len());
    }
    match scope {
        Scope::Layer => values
            .iter()
            .zip(masks)
            .map(|(v, m)| match target {
                Target::Amount(a) => l1_unstructured(v, m, a),
                Target::Sparsity(s) => prune_to_sparsity(v, m, s),
            })
            .collect(),
        Scope::Global => {
            let vr: Vec<&[f32]> = values.iter().map(|v| &v[..]).collect();
            let mr: Vec<&[f32]> = masks.iter().map(|m| &m[..]).collect();
            match target {
                Target::Amount(a) => global_unstructured(&vr, &mr, a),
                Target::Sparsity(s) => global_prune_to_sparsity(&vr, &mr, s),
            }
        }
    }
}

/// Row-major strides.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Channel of flat index `i` along `dim`.
fn channel_of(i: usize, shape: &[usize], st: &[usize], dim: usize) -> usize {
    (i / st[dim]) % shape[dim]
}

/// `prune.ln_structured(amount, n, dim)` composed with an existing mask: channels along `dim` that
/// are not yet entirely pruned are ranked by the norm of their (masked) weights, `‖w_c‖₁ = Σ|w|` or
/// `‖w_c‖₂ = √Σw²`; the `units_to_prune(amount, live channels)` lowest are zeroed (torch keeps the
/// top-k largest; ties: the lower channel index is kept).
pub fn ln_structured(
    values: &[f32],
    shape: &[usize],
    mask: &[f32],
    amount: Amount,
    norm: Norm,
    dim: usize,
) -> Result<Vec<f32>> {
    check_lens(values, mask)?;
    if shape.len() < 2 || shape.iter().product::<usize>() != values.len() {
        bail!(
            "structured pruning needs a tensor of rank ≥ 2 matching its data, got shape {}",
            fmt_shape(shape)
        );
    }
    if dim >= shape.len() {
        bail!("dim {dim} out of range for shape {}", fmt_shape(shape));
    }
    let st = strides(shape);
    let channels = shape[dim];
    let mut alive = vec![false; channels];
    let mut norms = vec![0f64; channels];
    for (i, (&v, &m)) in values.iter().zip(mask).enumerate() {
        let c = channel_of(i, shape, &st, dim);
        alive[c] |= m != 0.0;
        let w = (v * m) as f64;
        norms[c] += match norm {
            Norm::L1 => w.abs(),
            Norm::L2 => w * w,
        };
    }
    let mut live: Vec<usize> = (0..channels).filter(|&c| alive[c]).collect();
    let k = units_to_prune(amount, live.len())?;
    if k == 0 {
        return Ok(mask.to_vec());
    }
    // Largest norm first, lower index first among equals; the last k are pruned.
    live.sort_by(|&a, &b| norms[b].total_cmp(&norms[a]).then(a.cmp(&b)));
    let mut pruned = vec![false; channels];
    for &c in &live[live.len() - k..] {
        pruned[c] = true;
    }
    Ok(mask
        .iter()
        .enumerate()
        .map(|(i, &m)| if pruned[channel_of(i, shape, &st, dim)] { 0.0 } else { m })
        .collect())
}

/// N:M sparsity along the input dimension (NVIDIA's 2:4 pattern): for a linear weight `[out, in]`
/// each run of `m` consecutive inputs of a row, for a conv weight `[out, in, kh, kw]` each run of
/// `m` consecutive input channels at one kernel position, keeps its `n` largest `|w|` (ties: lower
/// index kept) and zeroes the rest, composed with the existing mask. A trailing run shorter than
/// `m` (when `in` is not a multiple of `m`) keeps at most `n` entries too.
pub fn n_m(values: &[f32], shape: &[usize], mask: &[f32], n: usize, m: usize) -> Result<Vec<f32>> {
    check_lens(values, mask)?;
    if !(1..m).contains(&n) {
        bail!("N:M sparsity needs 1 ≤ N < M, got {n}:{m}");
    }
    if !(shape.len() == 2 || shape.len() == 4) || shape.iter().product::<usize>() != values.len() {
        bail!(
            "N:M sparsity needs a linear [out, in] or conv [out, in, kh, kw] weight, got {}",
            fmt_shape(shape)
        );
    }
    let (rows, cin) = (shape[0], shape[1]);
    let inner: usize = shape[2..].iter().product();
    let mut out = mask.to_vec();
    let mut group = Vec::with_capacity(m);
    for r in 0..rows {
        for s in 0..inner {
            for g0 in (0..cin).step_by(m) {
                group.clear();
                group.extend((g0..(g0 + m).min(cin)).map(|c| r * cin * inner + c * inner + s));
                if group.len() <= n {
                    continue;
                }
                let mag = |i: usize| (values[i] * mask[i]).abs();
                group.sort_by(|&a, &b| mag(b).total_cmp(&mag(a)).then(a.cmp(&b)));
                for &i in &group[n..] {
                    out[i] = 0.0;
                }
            }
        }
    }
    Ok(out)
}

/// Zhu & Gupta (2017): `s_k = s_f + (s_i − s_f)(1 − k/n)³` at the k-th pruning step
/// `t = t₀ + kΔt`, `k = 0..=n`.
pub fn agp_sparsity(initial: f64, final_: f64, k: u32, n: u32) -> f64 {
    let p = (k.min(n) as f64 / n.max(1) as f64).clamp(0.0, 1.0);
    final_ + (initial - final_) * (1.0 - p).powi(3)
}

/// Sparsity after cycle `c` of `cycles` equal-ratio cycles reaching `target`:
/// `1 − (1 − target)^(c/cycles)` (each cycle prunes the same fraction of the survivors).
pub fn cycle_sparsity(target: f64, c: u32, cycles: u32) -> f64 {
    1.0 - crate::core::math::pow64(1.0 - target, c as f64 / cycles.max(1) as f64)
}

/// Bytes to store one tensor densely and in the two sparse formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct TensorBytes {
    /// `4 · numel`.
    pub dense: usize,
    /// `⌈numel / 8⌉ + 4 · nnz`: one presence bit per entry, then the non-zero values.
    pub bitmask: usize,
    /// Compressed sparse rows over `[shape[0], numel / shape[0]]`: `(rows + 1)` row pointers,
    /// `nnz` column indices (each u16 when its largest value fits, else u32), `4 · nnz` values.
    pub csr: usize,
}

impl TensorBytes {
    /// The honest sparse size: the cheapest of dense, bitmask and CSR.
    pub fn best(&self) -> usize {
        self.dense.min(self.bitmask).min(self.csr)
    }
}

/// Storage cost of `values` (of `shape`) in each format.
pub fn tensor_bytes(values: &[f32], shape: &[usize]) -> TensorBytes {
    let n = values.len();
    let nnz = values.iter().filter(|&&v| v != 0.0).count();
    let rows = if shape.len() >= 2 { shape[0].max(1) } else { 1 };
    let cols = n / rows;
    let width = |max: usize| if max <= u16::MAX as usize { 2 } else { 4 };
    TensorBytes {
        dense: 4 * n,
        bitmask: n.div_ceil(8) + 4 * nnz,
        csr: (rows + 1) * width(nnz) + nnz * width(cols.saturating_sub(1)) + 4 * nnz,
    }
}

// ---------------------------------------------------------------------------------------------
// Persistent masks
// ---------------------------------------------------------------------------------------------

struct Masked {
    name: String,
    param: Tensor,
    mask: Tensor,
    host: Vec<f32>,
}

/// Masks on parameters (by `state_dict` name), applied by the trainer around every optimizer step:
/// `g ← g ⊙ m` before it and `p ← p ⊙ m` after it, so pruned weights get no gradient and neither
/// momentum nor Adam state can revive them. Both are device ops. A host copy of each mask is kept
/// for composing the next pruning step without a readback.
#[derive(Default)]
pub struct MaskSet {
    entries: Vec<Masked>,
}

fn mul_in_place(dst: &Storage, mask: &Tensor, shape: &[usize]) -> Result<Storage> {
    dst.binary(BinaryOp::Mul, shape, &mask.storage(), shape, shape)
}

impl MaskSet {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Names of the masked parameters, in the order they were first masked.
    pub fn names(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.name.clone()).collect()
    }

    /// `(parameter name, host mask)` for every masked parameter (e.g. to save them as torch's
    /// `<name>_mask` tensors).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[f32])> {
        self.entries.iter().map(|e| (e.name.as_str(), e.host.as_slice()))
    }

    /// The host copy of a parameter's mask (1 = kept, 0 = pruned).
    pub fn get(&self, name: &str) -> Option<&[f32]> {
        self.entries.iter().find(|e| e.name == name).map(|e| e.host.as_slice())
    }

    /// The mask of `name`, or all ones for an unmasked tensor of `n` entries.
    pub fn get_or_ones(&self, name: &str, n: usize) -> Vec<f32> {
        self.get(name).map(|m| m.to_vec()).unwrap_or_else(|| vec![1.0; n])
    }

    /// Sets the mask of `param` (called `name`) and applies it at once (`p ← p ⊙ m`). An all-ones
    /// mask removes the entry.
    pub fn set(&mut self, name: &str, param: &Tensor, mask: Vec<f32>) -> Result<()> {
        if mask.len() != param.numel() {
            bail!(
                "mask for {name} has {} entries, the parameter has shape {}",
                mask.len(),
                fmt_shape(param.shape())
            );
        }
        self.entries.retain(|e| e.name != name);
        if mask.iter().all(|&m| m != 0.0) {
            return Ok(());
        }
        let t = Tensor::new(&mask, param.shape(), &param.device())?;
        let s = param.storage();
        s.copy_from(&mul_in_place(&s, &t, param.shape())?)?;
        self.entries.push(Masked { name: name.to_string(), param: param.clone(), mask: t, host: mask });
        Ok(())
    }

    /// Drops every mask.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// `g ← g ⊙ m` on every masked parameter that has a gradient.
    pub fn mask_grads(&self) -> Result<()> {
        for e in &self.entries {
            if let Some(g) = e.param.grad_storage() {
                e.param.set_grad(Some(mul_in_place(&g, &e.mask, e.param.shape())?));
            }
        }
        Ok(())
    }

    /// `p ← p ⊙ m` on every masked parameter (in place).
    pub fn apply(&self) -> Result<()> {
        for e in &self.entries {
            let s = e.param.storage();
            s.copy_from(&mul_in_place(&s, &e.mask, e.param.shape())?)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Layers of a model
// ---------------------------------------------------------------------------------------------

/// A weight that pruning may touch: a linear or conv layer's `weight`.
#[derive(Debug, Clone, PartialEq)]
pub struct PrunableWeight {
    /// Index in the `Sequential`.
    pub layer: usize,
    /// `state_dict` name, `"{layer}.weight"`.
    pub name: String,
    pub shape: Vec<usize>,
}

/// Linear and conv weights of `model`, in layer order.
pub fn prunable_weights(model: &Sequential) -> Vec<PrunableWeight> {
    model
        .layers
        .iter()
        .enumerate()
        .filter_map(|(i, l)| match l {
            Layer::Linear(Linear { weight, .. }) | Layer::Conv2d(Conv2d { weight, .. }) => {
                Some(PrunableWeight { layer: i, name: format!("{i}.weight"), shape: weight.shape().to_vec() })
            }
            _ => None,
        })
        .collect()
}

/// Which layers a stage prunes when it names none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DefaultLayers {
    All,
    /// All but the output layer (whose rows are the classes).
    AllButLast,
    /// All but the first layer (whose columns are the inputs).
    AllButFirst,
}

/// Resolves a stage's `layers` (`"3"` or `"3.weight"`) to prunable weight names, or picks the
/// default set. Errors name the field and list the prunable layers.
pub fn resolve_layers(
    model: &Sequential,
    layers: Option<&[String]>,
    default: DefaultLayers,
    field: &str,
) -> Result<Vec<PrunableWeight>> {
    let all = prunable_weights(model);
    let Some(names) = layers else {
        let n = all.len();
        let keep = |i: usize| match default {
            DefaultLayers::All => true,
            DefaultLayers::AllButLast => i + 1 < n,
            DefaultLayers::AllButFirst => i > 0,
        };
        let v: Vec<_> = all.into_iter().enumerate().filter(|(i, _)| keep(*i)).map(|(_, w)| w).collect();
        if v.is_empty() {
            bail!("{field}: the model has no layer this stage can prune by default; name the layers");
        }
        return Ok(v);
    };
    let listing =
        || all.iter().map(|w| format!("{} {}", w.name, fmt_shape(&w.shape))).collect::<Vec<_>>().join(", ");
    let mut out: Vec<PrunableWeight> = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let full = if n.contains('.') { n.clone() } else { format!("{n}.weight") };
        let Some(w) = all.iter().find(|w| w.name == full) else {
            bail!(
                "{field}[{i}] = \"{n}\": not a linear or conv weight of this model; prunable: {}",
                listing()
            );
        };
        if out.iter().any(|o| o.name == w.name) {
            bail!("{field}[{i}] = \"{n}\": listed twice");
        }
        out.push(w.clone());
    }
    Ok(out)
}

pub fn param_of(model: &Sequential, name: &str) -> Result<Tensor> {
    model
        .parameters()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t)
        .ok_or_else(|| Error(format!("the model has no parameter {name}")))
}

/// Device copies of every parameter and buffer.
pub fn capture_state(model: &Sequential) -> Result<Vec<(String, Storage)>> {
    model
        .state()
        .into_iter()
        .map(|(n, t)| {
            let s = t.storage();
            let c = s.device().full(s.len(), 0.0)?;
            c.copy_from(&s)?;
            Ok((n, c))
        })
        .collect()
}

/// Writes a [`capture_state`] snapshot back into the model's tensors (in place).
pub fn restore_state(model: &Sequential, snap: &[(String, Storage)]) -> Result<()> {
    for (n, t) in model.state() {
        let Some((_, s)) = snap.iter().find(|(m, _)| *m == n) else { bail!("snapshot has no {n}") };
        if s.len() != t.numel() {
            bail!("snapshot of {n} has {} values, the tensor has shape {}", s.len(), fmt_shape(t.shape()));
        }
        t.storage().copy_from(s)?;
    }
    Ok(())
}
