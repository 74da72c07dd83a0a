//! The size budget of a model: its parameters, the activation memory of a training step and of an
//! evaluation chunk, and the work (FLOPs) of either, computed from the recipe alone before anything
//! is allocated. Every count is a `u64` built with checked arithmetic, so a 32-bit `usize` (wasm32)
//! and a 64-bit one refuse exactly the same recipes; a refusal names the field to change.

use crate::recipe::{ConvBlock, MAX_PARAMS, ModelSpec};
use crate::{Error, Result, bail};

/// Most bytes of activations (1 GB) one training step (forward and backward) or one evaluation
/// chunk may need; see [`ModelCost::activation_bytes`]. A wasm32 tab has at most 4 GiB of memory
/// for everything, and a single tensor under this bound always has fewer than 2³² elements.
pub const MAX_ACTIVATION_BYTES: u64 = 1_000_000_000;
/// Most floating-point operations (10 GFLOP) of one training step or one evaluation chunk; see
/// [`ModelCost::step_flops`]. About a second or two of a browser tab's CPU.
pub const MAX_STEP_FLOPS: u64 = 10_000_000_000;
/// Samples per forward pass when a whole split is evaluated (the chunk `run::trainer` and
/// `run::session` evaluate in).
pub const EVAL_CHUNK: u64 = 1024;

/// What a model costs, per [`ModelSpec::cost`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelCost {
    /// Trainable scalars (weights, biases, batch-norm affine parameters).
    pub params: u64,
    /// Values (f32) of every intermediate tensor of one sample's forward pass: each layer's output
    /// (a linear or conv layer counts its product and its bias sum, batch norm its four
    /// elementwise steps, dropout its mask) and a convolution's unfolded input (im2col,
    /// `c_in·k²·h_out·w_out`).
    pub values_per_sample: u64,
    /// FLOPs of one sample's forward pass: `2·in·out` per linear layer, `2·c_in·k²·c_out·h_out·w_out`
    /// per convolution, one per output value of every other layer.
    pub flops_per_sample: u64,
    /// `4 bytes · values_per_sample · max(2·batch, EVAL_CHUNK)`: a training step keeps the forward
    /// pass's tensors and as many gradients; an evaluation chunk of [`EVAL_CHUNK`] samples needs
    /// its forward pass only.
    pub activation_bytes: u64,
    /// `flops_per_sample · max(3·batch, EVAL_CHUNK)`: the backward pass of a training step costs
    /// about twice its forward pass.
    pub step_flops: u64,
}

/// A checked running total, and what each field contributed to it.
struct Tally {
    total: u64,
    by_field: Vec<(String, u64)>,
}

impl Tally {
    fn new() -> Self {
        Tally { total: 0, by_field: Vec::new() }
    }

    fn add(&mut self, amount: u64, field: &str) -> Result<()> {
        self.total = self.total.checked_add(amount).ok_or_else(|| too_large(field))?;
        match self.by_field.iter_mut().find(|(f, _)| f == field) {
            Some((_, sum)) => *sum = sum.checked_add(amount).ok_or_else(|| too_large(field))?,
            None => self.by_field.push((field.to_string(), amount)),
        }
        Ok(())
    }

    /// The field that contributed the most (the first of equals).
    fn field(&self, fallback: &str) -> String {
        let top = self.by_field.iter().fold(None::<&(String, u64)>, |b, x| match b {
            Some(b) if b.1 >= x.1 => Some(b),
            _ => Some(x),
        });
        top.map_or_else(|| fallback.to_string(), |(f, _)| f.clone())
    }
}

fn too_large(field: &str) -> Error {
    Error(format!("{field}: the model's size does not fit in 64 bits; lower {field}"))
}

/// `a · b · …`, checked; the error names `field`.
fn prod(factors: &[u64], field: &str) -> Result<u64> {
    factors.iter().try_fold(1u64, |acc, &f| acc.checked_mul(f).ok_or_else(|| too_large(field)))
}

/// A byte count as `52.6 GB` / `840 MB` / `12 KB` (powers of 1000).
pub fn fmt_bytes(b: u64) -> String {
    let b = b as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.1} KB", b / 1e3)
    }
}

/// A FLOP count as `12.3 GFLOP` / `160.0 MFLOP`.
pub fn fmt_flops(f: u64) -> String {
    let f = f as f64;
    if f >= 1e9 { format!("{:.1} GFLOP", f / 1e9) } else { format!("{:.1} MFLOP", f / 1e6) }
}

/// The current field's value for the messages (`model.conv[0].channels = 4096`).
fn field_value(spec: &ModelSpec, p: &str, field: &str) -> Option<usize> {
    let (hidden, conv) = match spec {
        ModelSpec::Mlp { hidden, .. } => (hidden, &[][..]),
        ModelSpec::Cnn { conv, hidden, .. } => (hidden, &conv[..]),
    };
    let rest = field.strip_prefix(p)?.strip_prefix('.')?;
    let index = |s: &str| -> Option<(usize, String)> {
        let (i, tail) = s.split_once(']')?;
        Some((i.parse().ok()?, tail.trim_start_matches('.').to_string()))
    };
    if let Some(s) = rest.strip_prefix("hidden[") {
        return hidden.get(index(s)?.0).copied();
    }
    let (i, what) = index(rest.strip_prefix("conv[")?)?;
    let b: &ConvBlock = conv.get(i)?;
    match what.as_str() {
        "channels" => Some(b.channels),
        "kernel" => Some(b.kernel),
        _ => None,
    }
}

fn named(spec: &ModelSpec, p: &str, field: &str) -> String {
    match field_value(spec, p, field) {
        Some(v) => format!("{field} = {v}"),
        None => field.to_string(),
    }
}

impl ModelSpec {
    /// The model's [`ModelCost`] for inputs of `input_shape` (per sample), `classes` outputs and
    /// training batches of `batch`, checked against [`MAX_PARAMS`], [`MAX_ACTIVATION_BYTES`] and
    /// [`MAX_STEP_FLOPS`]. `p` is the model's field path (`model`, `compression[2].student`); an
    /// error names the field whose layer contributes the most (and `batch_field` when the training
    /// batch sets the size). It allocates nothing, and refuses the same specs on every target.
    pub fn cost(
        &self,
        p: &str,
        input_shape: &[usize],
        classes: usize,
        batch: usize,
        batch_field: &str,
    ) -> Result<ModelCost> {
        let mut params = Tally::new();
        let mut values = Tally::new();
        let mut flops = Tally::new();
        let (conv, hidden, batch_norm, dropout) = match self {
            ModelSpec::Mlp { hidden, batch_norm, dropout, .. } => (&[][..], hidden, *batch_norm, *dropout),
            ModelSpec::Cnn { conv, hidden, batch_norm, dropout, .. } => {
                (&conv[..], hidden, *batch_norm, *dropout)
            }
        };
        let mut width: u64;
        // The field that set the current width (the input's own size has none).
        let mut width_field = format!("{p}.hidden");
        if conv.is_empty() {
            width = prod(&input_shape.iter().map(|&d| d as u64).collect::<Vec<_>>(), p)?;
        } else {
            let [c0, h0, w0] = match *input_shape {
                [c, h, w] => [c as u64, h as u64, w as u64],
                _ => {
                    bail!("{p}.kind = cnn needs image inputs [channels, height, width], got {input_shape:?}")
                }
            };
            let (mut c, mut h, mut w) = (c0, h0, w0);
            for (i, b) in conv.iter().enumerate() {
                let f = format!("{p}.conv[{i}].channels");
                let (k, s, pad, out) =
                    (b.kernel as u64, b.stride as u64, b.padding as u64, b.channels as u64);
                let (hp, wp) =
                    (h.saturating_add(pad.saturating_mul(2)), w.saturating_add(pad.saturating_mul(2)));
                if hp < k || wp < k {
                    bail!("{p}.conv[{i}]: kernel {k} does not fit the {h}x{w} feature map");
                }
                h = (hp - k) / s + 1;
                w = (wp - k) / s + 1;
                let cols_field = if i == 0 { format!("{p}.conv[0].kernel") } else { width_field.clone() };
                let cols = prod(&[c, k, k, h, w], &cols_field)?;
                params.add(prod(&[out, c, k, k], &f)?.checked_add(out).ok_or_else(|| too_large(&f))?, &f)?;
                flops.add(prod(&[2, cols, out], &f)?, &f)?;
                values.add(cols, &cols_field)?;
                let map = prod(&[out, h, w], &f)?;
                // conv product (and its layout copy), bias sum, activation.
                let mut per_map = 4;
                if batch_norm {
                    params.add(prod(&[2, out], &f)?, &f)?;
                    per_map += 4;
                }
                values.add(prod(&[map, per_map], &f)?, &f)?;
                flops.add(prod(&[map, per_map], &f)?, &f)?;
                c = out;
                if b.pool > 1 {
                    let q = b.pool as u64;
                    if h < q || w < q {
                        bail!("{p}.conv[{i}].pool = {}: the feature map is only {h}x{w}", b.pool);
                    }
                    h /= q;
                    w /= q;
                    let pooled = prod(&[c, h, w], &f)?;
                    values.add(pooled, &f)?;
                    flops.add(prod(&[pooled, q, q], &f)?, &f)?;
                }
                width_field = f;
            }
            width = prod(&[c, h, w], &width_field)?;
        }
        for (j, &hd) in hidden.iter().enumerate() {
            let f = format!("{p}.hidden[{j}]");
            let hd = hd as u64;
            params.add(prod(&[width, hd], &f)?.checked_add(hd).ok_or_else(|| too_large(&f))?, &f)?;
            flops.add(prod(&[2, width, hd], &f)?, &f)?;
            // product, bias sum, activation; batch norm's four steps; dropout's mask and product.
            let mut per = 3;
            if batch_norm {
                params.add(prod(&[2, hd], &f)?, &f)?;
                per += 4;
            }
            if dropout > 0.0 {
                per += 2;
            }
            values.add(prod(&[per, hd], &f)?, &f)?;
            flops.add(prod(&[per, hd], &f)?, &f)?;
            width = hd;
            width_field = f;
        }
        let k = classes as u64;
        params.add(
            prod(&[width, k], &width_field)?.checked_add(k).ok_or_else(|| too_large(&width_field))?,
            &width_field,
        )?;
        flops.add(prod(&[2, width, k], &width_field)?, &width_field)?;
        values.add(prod(&[2, k], &width_field)?, &width_field)?;

        if params.total > MAX_PARAMS as u64 {
            let f = params.field(p);
            bail!(
                "model has {} parameters: at most {MAX_PARAMS} fit a browser tab; the most are in {}: lower it",
                params.total,
                named(self, p, &f)
            );
        }
        let batch = batch as u64;
        let train_dominates = batch.saturating_mul(2) >= EVAL_CHUNK;
        let samples = batch.saturating_mul(2).max(EVAL_CHUNK);
        let activation_bytes = prod(&[4, values.total, samples], &values.field(p))?;
        let step_flops = prod(&[flops.total, batch.saturating_mul(3).max(EVAL_CHUNK)], &flops.field(p))?;
        let lower = |f: &str, batch_sets: bool| {
            if batch_sets { format!("lower {f} or {batch_field}") } else { format!("lower {f}") }
        };
        if activation_bytes > MAX_ACTIVATION_BYTES {
            let f = values.field(p);
            bail!(
                "{}: the model's activations need {} ({} values a sample, {}): at most {} \
                 (MAX_ACTIVATION_BYTES) fit a browser tab; {}",
                named(self, p, &f),
                fmt_bytes(activation_bytes),
                values.total,
                if train_dominates {
                    format!("forward and backward at {batch_field} = {batch}")
                } else {
                    format!("forward in evaluation chunks of {EVAL_CHUNK}")
                },
                fmt_bytes(MAX_ACTIVATION_BYTES),
                lower(&f, train_dominates)
            );
        }
        if step_flops > MAX_STEP_FLOPS {
            let f = flops.field(p);
            let train = batch.saturating_mul(3) >= EVAL_CHUNK;
            bail!(
                "{}: one step needs {} ({} a sample, {}): at most {} (MAX_STEP_FLOPS); {}",
                named(self, p, &f),
                fmt_flops(step_flops),
                fmt_flops(flops.total),
                if train {
                    format!("forward and backward at {batch_field} = {batch}")
                } else {
                    format!("forward in evaluation chunks of {EVAL_CHUNK}")
                },
                fmt_flops(MAX_STEP_FLOPS),
                lower(&f, train)
            );
        }
        Ok(ModelCost {
            params: params.total,
            values_per_sample: values.total,
            flops_per_sample: flops.total,
            activation_bytes,
            step_flops,
        })
    }
}
