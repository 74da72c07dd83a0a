//! Pruning, with `torch.nn.utils.prune` semantics: mask computation as pure functions over host
//! slices (magnitude, global, Lₙ-structured, N:M, the Zhu & Gupta schedule), the persistent
//! [`MaskSet`] the trainer applies around every optimizer step, the pruning stage configs of a
//! recipe, and their execution (structured removal, gradual, iterative, lottery, sensitivity).

use crate::core::backend::{BinaryOp, Storage};
use crate::core::tensor::{Tensor, fmt_shape};
use crate::nn::{Activation, BatchNorm, Conv2d, Layer, Linear, Module, Sequential};
use crate::run::pipeline::{Advance, Finetune, StageCtx};
use crate::run::trainer::{Trainer, now_seconds};
use crate::{Error, Result, bail};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, json};
use std::cmp::Ordering;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// `Σ|w|` (Li et al. 2017).
    #[default]
    L1,
    /// `√Σw²`.
    L2,
}

/// Where a magnitude threshold is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
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

fn param_of(model: &Sequential, name: &str) -> Result<Tensor> {
    model
        .parameters()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t)
        .ok_or_else(|| Error(format!("the model has no parameter {name}")))
}

/// Reads the chosen weights and their current masks to the host.
async fn read_weights(
    t: &Trainer,
    ws: &[PrunableWeight],
) -> Result<(Vec<Tensor>, Vec<Vec<f32>>, Vec<Vec<f32>>)> {
    let (mut ps, mut vs, mut ms) = (Vec::new(), Vec::new(), Vec::new());
    for w in ws {
        let p = param_of(&t.model, &w.name)?;
        let v = p.to_vec().await?;
        ms.push(t.masks.get_or_ones(&w.name, v.len()));
        vs.push(v);
        ps.push(p);
    }
    Ok((ps, vs, ms))
}

fn set_masks(t: &mut Trainer, ws: &[PrunableWeight], ps: &[Tensor], masks: Vec<Vec<f32>>) -> Result<()> {
    for ((w, p), m) in ws.iter().zip(ps).zip(masks) {
        t.masks.set(&w.name, p, m)?;
    }
    Ok(())
}

/// Prunes `amount` (torch semantics) of the chosen weights, per layer or globally.
pub async fn prune_amount(
    t: &mut Trainer,
    ws: &[PrunableWeight],
    scope: Scope,
    amount: Amount,
) -> Result<()> {
    let (ps, vs, ms) = read_weights(t, ws).await?;
    let masks = match scope {
        Scope::Layer => {
            vs.iter().zip(&ms).map(|(v, m)| l1_unstructured(v, m, amount)).collect::<Result<Vec<_>>>()?
        }
        Scope::Global => {
            let (vr, mr): (Vec<&[f32]>, Vec<&[f32]>) =
                (vs.iter().map(|v| &v[..]).collect(), ms.iter().map(|m| &m[..]).collect());
            global_unstructured(&vr, &mr, amount)?
        }
    };
    set_masks(t, ws, &ps, masks)
}

/// Grows the masks of the chosen weights to `sparsity` (per layer, or over all of them together).
pub async fn prune_to(t: &mut Trainer, ws: &[PrunableWeight], scope: Scope, sparsity: f64) -> Result<()> {
    let (ps, vs, ms) = read_weights(t, ws).await?;
    let masks = match scope {
        Scope::Layer => {
            vs.iter().zip(&ms).map(|(v, m)| prune_to_sparsity(v, m, sparsity)).collect::<Result<Vec<_>>>()?
        }
        Scope::Global => {
            let (vr, mr): (Vec<&[f32]>, Vec<&[f32]>) =
                (vs.iter().map(|v| &v[..]).collect(), ms.iter().map(|m| &m[..]).collect());
            global_prune_to_sparsity(&vr, &mr, sparsity)?
        }
    };
    set_masks(t, ws, &ps, masks)
}

/// Mask sparsity of the chosen weights: per layer and over all of them.
fn mask_sparsity(t: &Trainer, ws: &[PrunableWeight]) -> (Vec<f64>, f64) {
    let (mut zeros, mut total) = (0usize, 0usize);
    let per = ws
        .iter()
        .map(|w| {
            let n: usize = w.shape.iter().product();
            let z = t.masks.get(&w.name).map(|m| m.iter().filter(|&&x| x == 0.0).count()).unwrap_or(0);
            zeros += z;
            total += n;
            z as f64 / n.max(1) as f64
        })
        .collect();
    (per, zeros as f64 / total.max(1) as f64)
}

fn names(ws: &[PrunableWeight]) -> Vec<&str> {
    ws.iter().map(|w| w.name.as_str()).collect()
}

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

    fn defaults(&self) -> DefaultLayers {
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
        self.train.validate(&format!("{p}.train"))?;
        check_layer_list(&format!("{p}.layers"), &self.layers)
    }

    /// Stage steps of the pruning events, `t₀ + kΔt` for `k = 0..=n`.
    pub fn events(&self) -> Vec<u64> {
        (0..=self.prunings as u64).map(|k| self.start_step + k * self.frequency).collect()
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

/// Facts about the run that a stage's plan is checked against.
pub struct PlanCtx<'a> {
    pub model: &'a Sequential,
    pub batches_per_epoch: usize,
    /// Optimizer steps of the initial training.
    pub initial_steps: u64,
    /// Whether an earlier stage removes structure (shapes then differ from initialization).
    pub removed_before: bool,
}

impl MagnitudeStage {
    pub fn check(&self, p: &str, c: &PlanCtx) -> Result<()> {
        resolve_layers(c.model, self.layers.as_deref(), DefaultLayers::All, &format!("{p}.layers"))
            .map(|_| ())
    }
}

impl StructuredStage {
    pub fn check(&self, p: &str, c: &PlanCtx) -> Result<()> {
        let ws = resolve_layers(c.model, self.layers.as_deref(), self.defaults(), &format!("{p}.layers"))?;
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
        let total = self.train.epochs as u64 * c.batches_per_epoch as u64;
        let last = self.start_step + self.prunings as u64 * self.frequency;
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

// ---------------------------------------------------------------------------------------------
// Execution: the one-shot stages
// ---------------------------------------------------------------------------------------------

/// Runs a magnitude stage; returns its details for the report.
pub async fn run_magnitude(s: &MagnitudeStage, t: &mut Trainer, ctx: &StageCtx) -> Result<Value> {
    let ws =
        resolve_layers(&t.model, s.layers.as_deref(), DefaultLayers::All, &format!("{}.layers", ctx.prefix))?;
    prune_amount(t, &ws, s.scope, s.amount).await.map_err(|e| ctx.err(e))?;
    Ok(json!({ "scope": s.scope, "amount": s.amount, "layers": names(&ws) }))
}

/// Runs an N:M stage; the details count the groups of `m` and how many have ≥ `m − n` zeros.
pub async fn run_n_m(s: &NmStage, t: &mut Trainer, ctx: &StageCtx) -> Result<Value> {
    let ws =
        resolve_layers(&t.model, s.layers.as_deref(), DefaultLayers::All, &format!("{}.layers", ctx.prefix))?;
    let (ps, vs, ms) = read_weights(t, &ws).await?;
    let masks = ws
        .iter()
        .zip(vs.iter().zip(&ms))
        .map(|(w, (v, m))| n_m(v, &w.shape, m, s.n, s.m))
        .collect::<Result<Vec<_>>>()
        .map_err(|e| ctx.err(e))?;
    set_masks(t, &ws, &ps, masks)?;
    Ok(json!({ "n": s.n, "m": s.m, "layers": names(&ws) }))
}

/// What lies between weighted layer `l` and the next weighted layer.
struct Downstream {
    /// A batch norm directly after `l` (before any activation or flatten).
    batch_norm: Option<usize>,
    activation: Option<Activation>,
    flatten: bool,
    /// Index of the next linear or conv layer.
    next: Option<usize>,
    /// A batch norm elsewhere in between (after the activation): removal does not handle it.
    odd_batch_norm: Option<usize>,
}

fn downstream(model: &Sequential, l: usize) -> Downstream {
    let mut d =
        Downstream { batch_norm: None, activation: None, flatten: false, next: None, odd_batch_norm: None };
    for (i, layer) in model.layers.iter().enumerate().skip(l + 1) {
        match layer {
            Layer::BatchNorm(_) if d.batch_norm.is_none() && !d.flatten && d.activation.is_none() => {
                d.batch_norm = Some(i)
            }
            Layer::BatchNorm(_) => d.odd_batch_norm = Some(i),
            Layer::Activation(a) => d.activation = d.activation.or(Some(*a)),
            Layer::Flatten => d.flatten = true,
            Layer::Linear(_) | Layer::Conv2d(_) => {
                d.next = Some(i);
                break;
            }
            _ => {}
        }
    }
    d
}

/// Runs a structured stage: masks (and with `remove`, physical removal).
pub async fn run_structured(s: &StructuredStage, t: &mut Trainer, ctx: &StageCtx) -> Result<Value> {
    let ws = resolve_layers(&t.model, s.layers.as_deref(), s.defaults(), &format!("{}.layers", ctx.prefix))?;
    let (ps, vs, ms) = read_weights(t, &ws).await?;
    let mut details = json!({ "amount": s.amount, "norm": s.norm, "dim": s.dim, "layers": names(&ws) });
    for (i, w) in ws.iter().enumerate() {
        let mask = ln_structured(&vs[i], &w.shape, &ms[i], s.amount, s.norm, s.dim)
            .map_err(|e| ctx.err(format!("{}: {e}", w.name)))?;
        if s.dim == 0 {
            // A pruned neuron is dead, not just disconnected: its bias and batch-norm γ, β too.
            let row = mask.len() / w.shape[0];
            let dead: Vec<bool> = mask.chunks(row).map(|r| r.iter().all(|&m| m == 0.0)).collect();
            let mut extra = vec![format!("{}.bias", w.layer)];
            if let Some(b) = downstream(&t.model, w.layer).batch_norm {
                extra.push(format!("{b}.weight"));
                extra.push(format!("{b}.bias"));
            }
            for name in extra {
                let Ok(p) = param_of(&t.model, &name) else { continue };
                let mut m = t.masks.get_or_ones(&name, p.numel());
                for (c, &d) in dead.iter().enumerate() {
                    if d && c < m.len() {
                        m[c] = 0.0;
                    }
                }
                t.masks.set(&name, &p, m)?;
            }
        }
        t.masks.set(&w.name, &ps[i], mask)?;
    }
    if s.remove {
        details["removal"] = remove_dead(t, &ws).await.map_err(|e| ctx.err(e))?;
    }
    Ok(details)
}

/// Best-of-`reps` wall time of evaluating the test split (includes the readback, so a GPU run is
/// timed to completion).
async fn time_inference(t: &Trainer, reps: usize) -> Result<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t0 = now_seconds();
        t.evaluate_test().await?;
        best = best.min(now_seconds() - t0);
    }
    Ok(best)
}

/// Output of `act` for input 0 (what a dead neuron passes on).
fn act_at_zero(a: Option<Activation>) -> f32 {
    match a {
        Some(Activation::Sigmoid) => 0.5,
        _ => 0.0,
    }
}

/// Takes `keep` indices along `axis` of a row-major tensor.
fn take(values: &[f32], shape: &[usize], axis: usize, keep: &[usize]) -> (Vec<f32>, Vec<usize>) {
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let mut out = Vec::with_capacity(outer * keep.len() * inner);
    for o in 0..outer {
        for &k in keep {
            let at = (o * shape[axis] + k) * inner;
            out.extend_from_slice(&values[at..at + inner]);
        }
    }
    let mut s = shape.to_vec();
    s[axis] = keep.len();
    (out, s)
}

/// A new trainable tensor with `values`, carrying over a sliced mask when the old one had one.
fn rebuild(
    t: &mut Trainer,
    name: &str,
    values: Vec<f32>,
    shape: &[usize],
    mask: Option<Vec<f32>>,
) -> Result<Tensor> {
    let p = Tensor::param(&values, shape, &t.device)?;
    if let Some(m) = mask {
        t.masks.set(name, &p, m)?;
    }
    Ok(p)
}

/// Physically removes the dead output channels of the given weights (rows whose weight mask is
/// all zero and whose bias and batch-norm γ, β are masked), shrinking the next layer's inputs. A
/// dead channel passes on the constant `act(0)`; when that is not 0 (sigmoid) it is folded into the
/// next layer's bias: exact in evaluation mode for a linear next layer and for a conv without
/// padding (with padding, border positions saw zeros instead of the constant).
async fn remove_dead(t: &mut Trainer, ws: &[PrunableWeight]) -> Result<Value> {
    let params_before = t.model.param_count();
    let logits_before = t.logits(t.test_inputs())?.to_vec().await?;
    let time_before = time_inference(t, 5).await?;
    let mut removed = Vec::new();
    for w in ws {
        let l = w.layer;
        let d = downstream(&t.model, l);
        let Some(next) = d.next else { bail!("{}: no layer after it takes its outputs", w.name) };
        if let Some(b) = d.odd_batch_norm {
            bail!("{}: removal does not handle the batch norm at layer {b} (after the activation)", w.name);
        }
        let (wname, bname) = (format!("{l}.weight"), format!("{l}.bias"));
        let weight = param_of(&t.model, &wname)?;
        let shape = weight.shape().to_vec();
        let channels = shape[0];
        let row = weight.numel() / channels;
        let wmask = t.masks.get_or_ones(&wname, weight.numel());
        let masked_zero = |name: &str, c: usize| t.masks.get(name).map(|m| m[c] == 0.0);
        let dead: Vec<bool> = (0..channels)
            .map(|c| {
                let row_dead = wmask[c * row..(c + 1) * row].iter().all(|&m| m == 0.0);
                let bias_dead = masked_zero(&bname, c).unwrap_or(param_of(&t.model, &bname).is_err());
                let bn_dead = d.batch_norm.is_none_or(|b| {
                    masked_zero(&format!("{b}.weight"), c) == Some(true)
                        && masked_zero(&format!("{b}.bias"), c) == Some(true)
                });
                row_dead && bias_dead && bn_dead
            })
            .collect();
        let keep: Vec<usize> = (0..channels).filter(|&c| !dead[c]).collect();
        if keep.len() == channels {
            continue;
        }
        if keep.is_empty() {
            bail!("{}: every channel is pruned; removing them all would disconnect the network", w.name);
        }
        // This layer: rows `keep` of the weight and bias.
        let wv = weight.to_vec().await?;
        let (nw, nshape) = take(&wv, &shape, 0, &keep);
        let nmask = t.masks.get(&wname).map(|m| take(m, &shape, 0, &keep).0);
        let new_w = rebuild(t, &wname, nw, &nshape, nmask)?;
        let new_b = match param_of(&t.model, &bname) {
            Ok(b) => {
                let bv = b.to_vec().await?;
                let (nb, bs) = take(&bv, &[channels], 0, &keep);
                let bm = t.masks.get(&bname).map(|m| take(m, &[channels], 0, &keep).0);
                Some(rebuild(t, &bname, nb, &bs, bm)?)
            }
            Err(_) => None,
        };
        match &mut t.model.layers[l] {
            Layer::Linear(lin) => {
                lin.weight = new_w;
                lin.bias = new_b;
            }
            Layer::Conv2d(conv) => {
                conv.weight = new_w;
                conv.bias = new_b;
            }
            _ => bail!("internal: layer {l} is not linear or conv"),
        }
        // The batch norm between: its γ, β and running statistics.
        if let Some(b) = d.batch_norm {
            let Layer::BatchNorm(bn) = &t.model.layers[b] else {
                bail!("internal: layer {b} is not a batch norm")
            };
            let (momentum, eps) = (bn.momentum, bn.eps);
            let vals = [
                bn.weight.to_vec().await?,
                bn.bias.to_vec().await?,
                bn.running_mean.to_vec().await?,
                bn.running_var.to_vec().await?,
            ];
            let mut nbn = BatchNorm::new(keep.len(), &t.device)?;
            nbn.momentum = momentum;
            nbn.eps = eps;
            let gm = t.masks.get(&format!("{b}.weight")).map(|m| take(m, &[channels], 0, &keep).0);
            let bm = t.masks.get(&format!("{b}.bias")).map(|m| take(m, &[channels], 0, &keep).0);
            nbn.weight = rebuild(
                t,
                &format!("{b}.weight"),
                take(&vals[0], &[channels], 0, &keep).0,
                &[keep.len()],
                gm,
            )?;
            nbn.bias =
                rebuild(t, &format!("{b}.bias"), take(&vals[1], &[channels], 0, &keep).0, &[keep.len()], bm)?;
            nbn.running_mean =
                Tensor::new(&take(&vals[2], &[channels], 0, &keep).0, &[keep.len()], &t.device)?;
            nbn.running_var =
                Tensor::new(&take(&vals[3], &[channels], 0, &keep).0, &[keep.len()], &t.device)?;
            t.model.layers[b] = Layer::BatchNorm(nbn);
        }
        // The next layer: its input columns (or input channels), folding a dead channel's constant.
        let c0 = act_at_zero(d.activation);
        let nname = format!("{next}.weight");
        let nwt = param_of(&t.model, &nname)?;
        let nshape = nwt.shape().to_vec();
        let nv = nwt.to_vec().await?;
        let nmask = t.masks.get(&nname).map(|m| m.to_vec());
        let nbias = param_of(&t.model, &format!("{next}.bias")).ok();
        let (cols, axis, group): (Vec<usize>, usize, usize) = match &t.model.layers[next] {
            Layer::Linear(lin) => {
                let inf = lin.in_features();
                if inf % channels != 0 || (!d.flatten && inf != channels) {
                    bail!("{}: {inf} inputs of layer {next} do not map onto {channels} channels", w.name);
                }
                let hw = inf / channels;
                (keep.iter().flat_map(|&c| c * hw..(c + 1) * hw).collect(), 1, hw)
            }
            Layer::Conv2d(conv) => {
                if conv.in_channels() != channels {
                    bail!("{}: layer {next} takes {} channels, not {channels}", w.name, conv.in_channels());
                }
                (keep.clone(), 1, 1)
            }
            _ => bail!("internal: layer {next} is not linear or conv"),
        };
        let new_bias = match (&nbias, c0 != 0.0) {
            (Some(b), true) => {
                let mut bv = b.to_vec().await?;
                let outs = nshape[0];
                let per_out = nv.len() / outs;
                let inner = per_out / nshape[1];
                for (o, bo) in bv.iter_mut().enumerate() {
                    for c in (0..channels).filter(|&c| dead[c]) {
                        for j in c * group..(c + 1) * group {
                            let at = o * per_out + j * inner;
                            *bo += c0 * nv[at..at + inner].iter().sum::<f32>();
                        }
                    }
                }
                let bm = t.masks.get(&format!("{next}.bias")).map(|m| m.to_vec());
                Some(rebuild(t, &format!("{next}.bias"), bv, &[outs], bm)?)
            }
            _ => nbias,
        };
        let (nw2, ns2) = take(&nv, &nshape, axis, &cols);
        let nm2 = nmask.map(|m| take(&m, &nshape, axis, &cols).0);
        let new_next = rebuild(t, &nname, nw2, &ns2, nm2)?;
        match &mut t.model.layers[next] {
            Layer::Linear(lin) => {
                lin.weight = new_next;
                lin.bias = new_bias;
            }
            Layer::Conv2d(conv) => {
                conv.weight = new_next;
                conv.bias = new_bias;
            }
            _ => {}
        }
        removed.push(json!({ "layer": w.name, "channels_before": channels, "channels_after": keep.len() }));
    }
    // The optimizer follows the new tensors (its momentum starts afresh).
    let lr = t.opt.lr();
    let params = t.model.parameters().into_iter().map(|(_, p)| p).collect();
    t.opt = crate::nn::optim::Optimizer::new(t.opt.config.clone(), params)?;
    t.opt.set_lr(lr);
    let logits_after = t.logits(t.test_inputs())?.to_vec().await?;
    let max_change = logits_before.iter().zip(&logits_after).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    let time_after = time_inference(t, 5).await?;
    Ok(json!({
        "layers": removed,
        "params_before": params_before,
        "params_after": t.model.param_count(),
        "inference_seconds_before": time_before,
        "inference_seconds_after": time_after,
        "speedup": time_before / time_after.max(1e-9),
        "max_logit_change": max_change,
    }))
}

// ---------------------------------------------------------------------------------------------
// Execution: the stages that train
// ---------------------------------------------------------------------------------------------

/// A gradual (AGP) stage in progress.
pub struct GradualRun {
    cfg: GradualStage,
    ws: Vec<PrunableWeight>,
    events: Vec<u64>,
    next: usize,
    log: Vec<Value>,
}

impl GradualRun {
    pub fn begin(cfg: &GradualStage, t: &mut Trainer, ctx: &StageCtx) -> Result<Self> {
        let ws = resolve_layers(
            &t.model,
            cfg.layers.as_deref(),
            DefaultLayers::All,
            &format!("{}.layers", ctx.prefix),
        )?;
        t.start_phase(cfg.train.phase(t));
        Ok(GradualRun { cfg: cfg.clone(), ws, events: cfg.events(), next: 0, log: Vec::new() })
    }

    async fn prune_due(&mut self, t: &mut Trainer) -> Result<()> {
        while self.next < self.events.len() && self.events[self.next] <= t.phase_steps() {
            let k = self.next as u32;
            let target =
                agp_sparsity(self.cfg.initial_sparsity, self.cfg.final_sparsity, k, self.cfg.prunings);
            prune_to(t, &self.ws, self.cfg.scope, target).await?;
            let (per, global) = mask_sparsity(t, &self.ws);
            let step = self.events[self.next];
            self.log.push(json!({ "step": step, "target": target, "sparsity": global, "layers": per }));
            self.next += 1;
        }
        Ok(())
    }

    pub async fn advance(&mut self, t: &mut Trainer, budget: usize, ctx: &mut StageCtx) -> Result<Advance> {
        self.prune_due(t).await?;
        let mut adv = Advance::default();
        if !t.phase_done() {
            let until =
                self.events.get(self.next).map(|&e| (e - t.phase_steps()) as usize).unwrap_or(usize::MAX);
            adv = ctx.train(t, budget.min(until)).await?;
            self.prune_due(t).await?;
        }
        adv.detail = format!("pruning step {}/{}", self.next, self.events.len());
        if t.phase_done() && self.next == self.events.len() {
            adv.done = Some(json!({
                "initial_sparsity": self.cfg.initial_sparsity,
                "final_sparsity": self.cfg.final_sparsity,
                "start_step": self.cfg.start_step,
                "frequency": self.cfg.frequency,
                "prunings": self.cfg.prunings,
                "scope": self.cfg.scope,
                "layers": names(&self.ws),
                "schedule": self.log,
            }));
        }
        Ok(adv)
    }
}

/// An iterative prune → finetune stage in progress.
pub struct IterativeRun {
    cfg: IterativeStage,
    ws: Vec<PrunableWeight>,
    cycle: u32,
    log: Vec<Value>,
}

impl IterativeRun {
    pub fn begin(cfg: &IterativeStage, t: &Trainer, ctx: &StageCtx) -> Result<Self> {
        let ws = resolve_layers(
            &t.model,
            cfg.layers.as_deref(),
            DefaultLayers::All,
            &format!("{}.layers", ctx.prefix),
        )?;
        Ok(IterativeRun { cfg: cfg.clone(), ws, cycle: 0, log: Vec::new() })
    }

    pub async fn advance(&mut self, t: &mut Trainer, budget: usize, ctx: &mut StageCtx) -> Result<Advance> {
        if self.cycle == 0 || t.phase_done() {
            if self.cycle > 0 {
                let acc = ctx.epochs.last().map(|m| m.test_accuracy);
                let sparsity = mask_sparsity(t, &self.ws).1;
                self.log.push(json!({ "cycle": self.cycle, "sparsity": sparsity, "test_accuracy": acc }));
            }
            if self.cycle == self.cfg.cycles {
                return Ok(Advance::finished(json!({
                    "sparsity": self.cfg.sparsity,
                    "cycles": self.cfg.cycles,
                    "scope": self.cfg.scope,
                    "layers": names(&self.ws),
                    "log": self.log,
                })));
            }
            self.cycle += 1;
            let target = cycle_sparsity(self.cfg.sparsity, self.cycle, self.cfg.cycles);
            prune_to(t, &self.ws, self.cfg.scope, target).await?;
            t.start_phase(self.cfg.finetune.phase(t));
        }
        let mut adv = ctx.train(t, budget).await?;
        adv.detail = format!("cycle {}/{}", self.cycle, self.cfg.cycles);
        Ok(adv)
    }
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

enum LotteryPhase {
    Round(u32),
    Control,
}

/// A lottery-ticket stage in progress.
pub struct LotteryRun {
    cfg: LotteryStage,
    ws: Vec<PrunableWeight>,
    phase: Option<LotteryPhase>,
    rounds: Vec<Value>,
    ticket: Option<Vec<(String, Storage)>>,
    ticket_accuracy: Option<f32>,
    control_accuracy: Option<f32>,
}

impl LotteryRun {
    pub fn begin(cfg: &LotteryStage, t: &Trainer, ctx: &StageCtx) -> Result<Self> {
        let ws = resolve_layers(
            &t.model,
            cfg.layers.as_deref(),
            DefaultLayers::All,
            &format!("{}.layers", ctx.prefix),
        )?;
        if t.snapshot(cfg.rewind_step).is_none() {
            bail!("{}: no snapshot of the weights at step {}", ctx.prefix, cfg.rewind_step);
        }
        Ok(LotteryRun {
            cfg: cfg.clone(),
            ws,
            phase: None,
            rounds: Vec::new(),
            ticket: None,
            ticket_accuracy: None,
            control_accuracy: None,
        })
    }

    fn retrain(&self, t: &mut Trainer) {
        let phase = match &self.cfg.train {
            Some(f) => f.phase(t),
            None => crate::run::trainer::Phase::initial(&t.recipe),
        };
        t.opt.reset_state();
        t.start_phase(phase);
    }

    pub async fn advance(&mut self, t: &mut Trainer, budget: usize, ctx: &mut StageCtx) -> Result<Advance> {
        let phase_over = self.phase.is_none() || t.phase_done();
        if phase_over {
            let acc = ctx.epochs.last().map(|m| m.test_accuracy);
            match self.phase {
                None => {}
                Some(LotteryPhase::Round(r)) => {
                    self.rounds.push(
                        json!({ "round": r, "sparsity": mask_sparsity(t, &self.ws).1, "test_accuracy": acc }),
                    );
                    self.ticket_accuracy = acc;
                }
                Some(LotteryPhase::Control) => self.control_accuracy = acc,
            }
            let next = match self.phase {
                None => Some(LotteryPhase::Round(1)),
                Some(LotteryPhase::Round(r)) if r < self.cfg.rounds => Some(LotteryPhase::Round(r + 1)),
                Some(LotteryPhase::Round(_)) if self.cfg.control => Some(LotteryPhase::Control),
                _ => None,
            };
            match next {
                Some(LotteryPhase::Round(r)) => {
                    prune_to(
                        t,
                        &self.ws,
                        self.cfg.scope,
                        cycle_sparsity(self.cfg.sparsity, r, self.cfg.rounds),
                    )
                    .await?;
                    let Some(snap) = t.snapshot(self.cfg.rewind_step) else {
                        bail!("{}: rewind snapshot missing", ctx.prefix)
                    };
                    restore_state(&t.model, snap)?;
                    t.masks.apply()?;
                    self.retrain(t);
                    self.phase = Some(LotteryPhase::Round(r));
                }
                Some(LotteryPhase::Control) => {
                    self.ticket = Some(capture_state(&t.model)?);
                    // Same mask, weights drawn afresh from the initialization distribution.
                    let mut other = t.recipe.clone();
                    other.seed = other.seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
                    let fresh = other.build_model(&t.data.input_shape, t.data.classes, &t.device)?;
                    restore_state(&t.model, &capture_state(&fresh)?)?;
                    t.masks.apply()?;
                    self.retrain(t);
                    self.phase = Some(LotteryPhase::Control);
                }
                _ => {
                    if let Some(ticket) = self.ticket.take() {
                        restore_state(&t.model, &ticket)?;
                    }
                    t.opt.reset_state();
                    return Ok(Advance::finished(json!({
                        "sparsity": self.cfg.sparsity,
                        "rounds": self.rounds,
                        "rewind_step": self.cfg.rewind_step,
                        "scope": self.cfg.scope,
                        "layers": names(&self.ws),
                        "dense_accuracy": ctx.baseline_accuracy,
                        "ticket_accuracy": self.ticket_accuracy,
                        "control_accuracy": self.control_accuracy,
                    })));
                }
            }
        }
        let mut adv = ctx.train(t, budget).await?;
        adv.detail = match self.phase {
            Some(LotteryPhase::Round(r)) => format!("round {r}/{}", self.cfg.rounds),
            _ => "random re-init control".into(),
        };
        Ok(adv)
    }
}

/// A sensitivity analysis in progress: one (layer, sparsity) cell per call.
pub struct SensitivityRun {
    cfg: SensitivityStage,
    ws: Vec<PrunableWeight>,
    cell: usize,
    accuracy: Vec<Vec<f32>>,
}

impl SensitivityRun {
    pub fn begin(cfg: &SensitivityStage, t: &Trainer, ctx: &StageCtx) -> Result<Self> {
        let ws = resolve_layers(
            &t.model,
            cfg.layers.as_deref(),
            DefaultLayers::All,
            &format!("{}.layers", ctx.prefix),
        )?;
        let accuracy = vec![Vec::new(); ws.len()];
        Ok(SensitivityRun { cfg: cfg.clone(), ws, cell: 0, accuracy })
    }

    pub async fn advance(&mut self, t: &mut Trainer, _budget: usize, _ctx: &mut StageCtx) -> Result<Advance> {
        let levels = self.cfg.sparsities.len();
        let total = levels * self.ws.len();
        if self.cell < total {
            let (li, si) = (self.cell / levels, self.cell % levels);
            let w = &self.ws[li];
            let p = param_of(&t.model, &w.name)?;
            let values = p.to_vec().await?;
            let mask = prune_to_sparsity(
                &values,
                &t.masks.get_or_ones(&w.name, values.len()),
                self.cfg.sparsities[si],
            )?;
            let pruned: Vec<f32> = values.iter().zip(&mask).map(|(v, m)| v * m).collect();
            p.storage().write(&pruned)?;
            let acc = t.evaluate_test().await;
            p.storage().write(&values)?;
            self.accuracy[li].push(acc?.0);
            self.cell += 1;
        }
        let mut adv = Advance { detail: format!("cell {}/{total}", self.cell), ..Advance::default() };
        if self.cell == total {
            adv.done = Some(json!({
                "layers": names(&self.ws),
                "sparsities": self.cfg.sparsities,
                "accuracy": self.accuracy,
            }));
        }
        Ok(adv)
    }
}
