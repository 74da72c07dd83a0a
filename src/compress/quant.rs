//! Quantization as `torch.ao.quantization` defines it: quantization parameters from observed ranges
//! (min-max, moving-average min-max, per-channel min-max, percentile, and the histogram observer's
//! L2-minimizing range, [`histogram`]), per-tensor and per-channel fake quantization of a
//! [`Sequential`]'s layers ([`FakeQuantModel`], applied by the run around the model's forward), and
//! honest byte counts of packed integer weights.

pub mod histogram;

use crate::compress::prune::prunable_weights;
use crate::core::backend::cpu::quant_level;
use crate::core::tensor::Tensor;
use crate::nn::{Layer, LayerForward, Module, Sequential};
use crate::{Result, bail};
pub use histogram::Histogram;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::io::Write;
use ts_rs::TS;

/// torch's observer `eps`: `torch.finfo(torch.float32).eps`, the smallest scale.
pub const EPS: f32 = f32::EPSILON;

/// How integer levels map to reals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, TS)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// Signed range `[−2ᵇ⁻¹, 2ᵇ⁻¹ − 1]`, `z = 0`, `s = max(−min, max) / ((qmax − qmin) / 2)`.
    #[default]
    Symmetric,
    /// Unsigned range `[0, 2ᵇ − 1]`, `s = (max − min) / (qmax − qmin)`, `z = qmin − round(min / s)`.
    Affine,
}

/// One scale for the whole tensor, or one per output channel (axis 0 of a weight).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, TS)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    PerTensor,
    #[default]
    PerChannel,
}

/// Integer range of `bits` under `scheme`: signed for symmetric, unsigned for affine.
pub fn qrange(bits: u32, scheme: Scheme) -> (i32, i32) {
    let b = bits.clamp(2, 16);
    match scheme {
        Scheme::Symmetric => (-(1 << (b - 1)), (1 << (b - 1)) - 1),
        Scheme::Affine => (0, (1 << b) - 1),
    }
}

/// Scales and zero points (one entry per tensor, or per channel) and the integer range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QParams {
    pub scale: Vec<f32>,
    pub zero_point: Vec<i32>,
    pub qmin: i32,
    pub qmax: i32,
}

/// torch's `_ObserverBase._calculate_qparams` for one `(min, max)`, in f32 as torch computes it:
/// `min⁻ = min(min, 0)`, `max⁺ = max(max, 0)`; symmetric `s = max(−min⁻, max⁺) / ((qmax − qmin)/2)`,
/// `z = 0` for a signed range (`(qmin + qmax) / 2` rounded down, for an unsigned one); affine
/// `s = (max⁺ − min⁻) / (qmax − qmin)`, `z = clamp(qmin − round_half_even(min⁻ / s), qmin, qmax)`;
/// then `s = max(s, eps)`.
pub fn calculate_qparams(min: f32, max: f32, qmin: i32, qmax: i32, scheme: Scheme) -> (f32, i32) {
    let (lo, hi) = (min.min(0.0), max.max(0.0));
    match scheme {
        Scheme::Symmetric => {
            let s = ((-lo).max(hi) / ((qmax - qmin) as f32 / 2.0)).max(EPS);
            let z = if qmin < 0 { 0 } else { (qmin + qmax).div_euclid(2) };
            (s, z)
        }
        Scheme::Affine => {
            let s = ((hi - lo) / (qmax - qmin) as f32).max(EPS);
            let z = (qmin as f32 - (lo / s).round_ties_even()) as i32;
            (s, z.clamp(qmin, qmax))
        }
    }
}

impl QParams {
    /// Qparams of per-entry ranges `mins`, `maxs` (one entry for per-tensor).
    pub fn from_ranges(mins: &[f32], maxs: &[f32], bits: u32, scheme: Scheme) -> QParams {
        let (qmin, qmax) = qrange(bits, scheme);
        let (scale, zero_point) =
            mins.iter().zip(maxs).map(|(&a, &b)| calculate_qparams(a, b, qmin, qmax, scheme)).unzip();
        QParams { scale, zero_point, qmin, qmax }
    }

    /// `x̂ = (clamp(round_half_even(x/s) + z, qmin, qmax) − z)·s` per tensor or along axis 0.
    pub fn fake_quant(&self, x: &Tensor) -> Result<Tensor> {
        if self.scale.len() == 1 {
            x.fake_quant(self.scale[0], self.zero_point[0], self.qmin, self.qmax)
        } else {
            x.fake_quant_channel(&self.scale, &self.zero_point, 0, self.qmin, self.qmax)
        }
    }

    /// The integer levels `q` of host values `x` laid out with channels on axis 0.
    pub fn quantize(&self, x: &[f32]) -> Vec<i32> {
        let per = x.len() / self.scale.len().max(1);
        x.iter()
            .enumerate()
            .map(|(i, &v)| {
                let c = (i / per.max(1)).min(self.scale.len() - 1);
                let level = quant_level(v, self.scale[c], self.zero_point[c] as f32);
                level.clamp(self.qmin as f32, self.qmax as f32) as i32
            })
            .collect()
    }

    /// Host fake quantization, equal to [`QParams::fake_quant`] element for element.
    pub fn dequantize(&self, q: &[i32]) -> Vec<f32> {
        let per = q.len() / self.scale.len().max(1);
        q.iter()
            .enumerate()
            .map(|(i, &v)| {
                let c = (i / per.max(1)).min(self.scale.len() - 1);
                (v as f32 - self.zero_point[c] as f32) * self.scale[c]
            })
            .collect()
    }
}

/// Per-channel (axis 0) minima and maxima of `x`; one pair when `channels == 1`.
pub fn channel_ranges(x: &[f32], channels: usize) -> (Vec<f32>, Vec<f32>) {
    let per = x.len() / channels.max(1);
    (0..channels.max(1))
        .map(|c| {
            let run = &x[c * per..(c + 1) * per];
            let lo = run.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = run.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            (lo, hi)
        })
        .unzip()
}

/// Range observers for activations, as torch's. In a recipe, one of [`ObserverKind::NAMES`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default, TS)]
#[serde(rename_all = "snake_case")]
pub enum ObserverKind {
    /// `MinMaxObserver`: the running minimum and maximum.
    #[default]
    Minmax,
    /// `MovingAverageMinMaxObserver`: `min ← min + c·(min_batch − min)` (same for max), the first
    /// batch taken as is; `c` is `averaging_constant` (0.01).
    MovingAverage,
    /// The `percentile` and `100 − percentile` percentiles of each batch, averaged over batches:
    /// outliers do not stretch the range.
    Percentile,
    /// `HistogramObserver`: a running histogram of `histogram_bins` (2048) bins over the observed
    /// range, and the range within it that minimizes the L2 error of 8-bit quantization of the
    /// histogram ([`Histogram::search`]); qparams from that range as min-max's. As in torch, the
    /// search targets 256 levels (the 8-bit storage type) also when `activation_bits` is lower.
    Histogram,
}

impl ObserverKind {
    /// Every observer by its recipe name.
    pub const NAMES: [(&str, ObserverKind); 4] = [
        ("minmax", ObserverKind::Minmax),
        ("moving_average", ObserverKind::MovingAverage),
        ("percentile", ObserverKind::Percentile),
        ("histogram", ObserverKind::Histogram),
    ];
}

/// By name, with an error that names the field: stages are internally tagged, so serde's own
/// "unknown variant" message would reach the user without the field path.
impl<'de> Deserialize<'de> for ObserverKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        match ObserverKind::NAMES.iter().find(|(n, _)| *n == name) {
            Some(&(_, k)) => Ok(k),
            None => {
                let names: Vec<String> = ObserverKind::NAMES.iter().map(|(n, _)| format!("`{n}`")).collect();
                Err(serde::de::Error::custom(format!(
                    "observer = {name:?}: must be one of {}",
                    names.join(", ")
                )))
            }
        }
    }
}

/// An observer's state: `min`, `max` the running range (for the histogram observer, the
/// histogram's range, as torch's `min_val`, `max_val`).
#[derive(Debug, Clone, PartialEq)]
pub struct Observer {
    pub kind: ObserverKind,
    pub averaging_constant: f32,
    pub percentile: f32,
    pub min: f32,
    pub max: f32,
    /// The histogram observer's state (None for the other kinds).
    pub histogram: Option<Histogram>,
    batches: u32,
}

/// Value at fraction `p ∈ [0, 1]` of sorted values (linear interpolation, as `numpy.percentile`).
fn percentile_of(sorted: &[f32], p: f64) -> f32 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = p.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (i, f) = (pos.floor() as usize, pos - pos.floor());
    let j = (i + 1).min(sorted.len() - 1);
    (sorted[i] as f64 + f * (sorted[j] as f64 - sorted[i] as f64)) as f32
}

impl Observer {
    pub fn new(kind: ObserverKind, averaging_constant: f32, percentile: f32) -> Observer {
        Observer {
            kind,
            averaging_constant,
            percentile,
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            histogram: (kind == ObserverKind::Histogram).then(|| Histogram::new(histogram::DEFAULT_BINS)),
            batches: 0,
        }
    }

    /// The histogram observer with `bins` bins instead of 2048 (no effect on other kinds); before
    /// the first batch.
    pub fn with_bins(mut self, bins: usize) -> Observer {
        if self.histogram.is_some() {
            self.histogram = Some(Histogram::new(bins));
        }
        self
    }

    /// Folds one batch of values in (non-finite values are skipped; torch's histogram observer
    /// skips infinities).
    pub fn observe(&mut self, x: &[f32]) {
        let finite: Vec<f32> = x.iter().copied().filter(|v| v.is_finite()).collect();
        if finite.is_empty() {
            return;
        }
        if let Some(h) = &mut self.histogram {
            h.observe(&finite);
            (self.min, self.max) = (h.min, h.max);
            self.batches += 1;
            return;
        }
        let (lo, hi) = match self.kind {
            ObserverKind::Percentile => {
                let mut s = finite;
                s.sort_by(f32::total_cmp);
                let p = self.percentile as f64 / 100.0;
                (percentile_of(&s, 1.0 - p), percentile_of(&s, p))
            }
            _ => {
                let (lo, hi) = channel_ranges(&finite, 1);
                (lo[0], hi[0])
            }
        };
        match self.kind {
            _ if self.batches == 0 => (self.min, self.max) = (lo, hi),
            ObserverKind::Minmax => (self.min, self.max) = (self.min.min(lo), self.max.max(hi)),
            ObserverKind::MovingAverage => {
                let c = self.averaging_constant;
                self.min += c * (lo - self.min);
                self.max += c * (hi - self.max);
            }
            ObserverKind::Percentile => {
                let n = self.batches as f32;
                self.min = (self.min * n + lo) / (n + 1.0);
                self.max = (self.max * n + hi) / (n + 1.0);
            }
            ObserverKind::Histogram => {} // folded into `histogram` above
        }
        self.batches += 1;
    }

    pub fn observed(&self) -> bool {
        self.batches > 0
    }

    /// The range to quantize: the observed one, or the histogram observer's searched one
    /// (`O(bins)` per candidate range, so worth calling only when the qparams are needed).
    pub fn range(&self) -> (f32, f32) {
        match self.histogram.as_ref().and_then(Histogram::search) {
            Some(r) => r,
            None => (self.min, self.max),
        }
    }

    /// Per-tensor qparams of [`Observer::range`] (torch's `calculate_qparams`).
    pub fn qparams(&self, bits: u32, scheme: Scheme) -> QParams {
        let (lo, hi) = self.range();
        QParams::from_ranges(&[lo], &[hi], bits, scheme)
    }

    /// Whether computing the qparams is cheap enough to do after every batch (all but the
    /// histogram observer, whose search is deferred to the end of calibration).
    pub fn cheap_qparams(&self) -> bool {
        self.histogram.is_none()
    }
}

/// Fake quantization of one layer's input (per tensor): an observer, the qparams in use, and the
/// inputs recorded since the last [`FakeQuantModel::update_observers`] or
/// [`FakeQuantModel::fold_observers`].
pub struct InputFakeQuant {
    pub bits: u32,
    pub scheme: Scheme,
    pub observer: Observer,
    pub qparams: Option<QParams>,
    /// Record inputs in `forward` (calibration and QAT before freezing).
    pub observing: bool,
    recorded: Vec<Tensor>,
}

impl InputFakeQuant {
    /// An input quantizer with fixed qparams and its observer off (a model loaded from a file).
    pub fn restored(bits: u32, scheme: Scheme, qparams: Option<QParams>) -> InputFakeQuant {
        let observer = Observer::new(ObserverKind::Minmax, 0.01, 99.9);
        InputFakeQuant { bits, scheme, observer, qparams, observing: false, recorded: Vec::new() }
    }
}

/// Fake quantization of one linear or conv layer: its weight (re-quantized from the current weights
/// by [`FakeQuantModel::refresh_weights`]) and optionally its input.
pub struct LayerQuant {
    pub bits: u32,
    pub scheme: Scheme,
    pub granularity: Granularity,
    pub weight: QParams,
    pub input: Option<InputFakeQuant>,
}

/// Fake quantization of a [`Sequential`]'s layers, applied by the run around the model's forward
/// ([`Sequential::forward_with`]): `forward` of a listed layer
/// becomes `layer(fq_in(x))` with weight `fq_w(W)`; the straight-through gradient lets it train.
#[derive(Default)]
pub struct FakeQuantModel {
    /// Indexed like `Sequential::layers`.
    pub layers: RefCell<Vec<Option<LayerQuant>>>,
}

/// What [`FakeQuantModel::new`] installs.
#[derive(Debug, Clone, Copy)]
pub struct QuantConfig {
    pub bits: u32,
    pub scheme: Scheme,
    pub granularity: Granularity,
    /// Input bits (8 in torch's static quantization) or None for weights only.
    pub activation_bits: Option<u32>,
    pub activation_scheme: Scheme,
    pub observer: ObserverKind,
    pub averaging_constant: f32,
    pub percentile: f32,
    /// Bins of the histogram observer (torch's default 2048).
    pub histogram_bins: usize,
}

impl FakeQuantModel {
    /// Fake quantization of every linear and conv layer of `model` with weight qparams from the
    /// current weights (min-max, per channel or per tensor); input observers empty and observing.
    pub async fn new(model: &Sequential, c: &QuantConfig) -> Result<FakeQuantModel> {
        let mut layers: Vec<Option<LayerQuant>> = (0..model.layers.len()).map(|_| None).collect();
        for w in prunable_weights(model) {
            let weight = weight_qparams(weight_of(model, w.layer)?, c.bits, c.scheme, c.granularity).await?;
            let input = c.activation_bits.map(|bits| InputFakeQuant {
                bits,
                scheme: c.activation_scheme,
                observer: Observer::new(c.observer, c.averaging_constant, c.percentile)
                    .with_bins(c.histogram_bins),
                qparams: None,
                observing: true,
                recorded: Vec::new(),
            });
            layers[w.layer] = Some(LayerQuant {
                bits: c.bits,
                scheme: c.scheme,
                granularity: c.granularity,
                weight,
                input,
            });
        }
        Ok(FakeQuantModel { layers: RefCell::new(layers) })
    }

    /// `model`'s forward pass with this fake quantization.
    pub fn forward(&self, model: &Sequential, x: &Tensor) -> Result<Tensor> {
        model.forward_with(x, Some(self))
    }
}

impl LayerForward for FakeQuantModel {
    /// `layer.forward(x)` with fake-quantized input and weight when the layer has a config.
    fn forward_layer(&self, i: usize, layer: &Layer, x: &Tensor) -> Result<Tensor> {
        let mut layers = self.layers.borrow_mut();
        let Some(Some(lq)) = layers.get_mut(i) else { return layer.forward(x) };
        let x = match &mut lq.input {
            Some(a) => {
                if a.observing {
                    a.recorded.push(x.detach());
                }
                match &a.qparams {
                    Some(qp) => qp.fake_quant(x)?,
                    None => x.clone(),
                }
            }
            None => x.clone(),
        };
        match layer {
            Layer::Linear(l) => {
                let y = x.matmul_t(&lq.weight.fake_quant(&l.weight)?)?;
                match &l.bias {
                    Some(b) => y.add(b),
                    None => Ok(y),
                }
            }
            Layer::Conv2d(l) => {
                x.conv2d(&lq.weight.fake_quant(&l.weight)?, l.bias.as_ref(), l.stride, l.padding)
            }
            _ => layer.forward(&x),
        }
    }
}

impl FakeQuantModel {
    /// Folds the recorded inputs into the observers and recomputes the input qparams.
    pub async fn update_observers(&self) -> Result<()> {
        self.fold(true).await
    }

    /// Folds the recorded inputs into the observers and recomputes the input qparams whose
    /// observers make that cheap ([`Observer::cheap_qparams`]); [`FakeQuantModel::refresh_inputs`]
    /// computes the rest. Calibration folds every batch and refreshes once at the end.
    pub async fn fold_observers(&self) -> Result<()> {
        self.fold(false).await
    }

    /// Recomputes every observed input's qparams from its observer.
    pub fn refresh_inputs(&self) {
        for a in self.layers.borrow_mut().iter_mut().flatten().filter_map(|l| l.input.as_mut()) {
            if a.observer.observed() {
                a.qparams = Some(a.observer.qparams(a.bits, a.scheme));
            }
        }
    }

    async fn fold(&self, all: bool) -> Result<()> {
        let recorded: Vec<(usize, Vec<Tensor>)> = self
            .layers
            .borrow_mut()
            .iter_mut()
            .enumerate()
            .filter_map(|(i, l)| Some((i, std::mem::take(&mut l.as_mut()?.input.as_mut()?.recorded))))
            .collect();
        for (i, xs) in recorded {
            let mut host = Vec::with_capacity(xs.len());
            for x in &xs {
                host.push(x.to_vec().await?);
            }
            let mut layers = self.layers.borrow_mut();
            let Some(Some(LayerQuant { input: Some(a), .. })) = layers.get_mut(i) else { continue };
            for v in &host {
                a.observer.observe(v);
            }
            if a.observer.observed() && (all || a.observer.cheap_qparams()) {
                a.qparams = Some(a.observer.qparams(a.bits, a.scheme));
            }
        }
        Ok(())
    }

    /// Stops (or restarts) input observation; recorded inputs are dropped when stopping.
    pub fn set_observing(&self, on: bool) {
        for l in self.layers.borrow_mut().iter_mut().flatten() {
            if let Some(a) = &mut l.input {
                a.observing = on;
                if !on {
                    a.recorded.clear();
                }
            }
        }
    }

    /// Recomputes the weight qparams from the current weights (QAT, after each optimizer step).
    pub async fn refresh_weights(&self, model: &Sequential) -> Result<()> {
        let cfgs: Vec<(usize, u32, Scheme, Granularity)> = self
            .layers
            .borrow()
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.as_ref().map(|l| (i, l.bits, l.scheme, l.granularity)))
            .collect();
        for (i, bits, scheme, gran) in cfgs {
            let qp = weight_qparams(weight_of(model, i)?, bits, scheme, gran).await?;
            if let Some(Some(l)) = self.layers.borrow_mut().get_mut(i) {
                l.weight = qp;
            }
        }
        Ok(())
    }
}

fn weight_of(model: &Sequential, i: usize) -> Result<&Tensor> {
    match model.layers.get(i) {
        Some(Layer::Linear(l)) => Ok(&l.weight),
        Some(Layer::Conv2d(l)) => Ok(&l.weight),
        _ => bail!("layer {i} has no weight to quantize"),
    }
}

/// Min-max qparams of a weight, per output channel or per tensor.
pub async fn weight_qparams(w: &Tensor, bits: u32, scheme: Scheme, gran: Granularity) -> Result<QParams> {
    let v = w.to_vec().await?;
    let channels = match gran {
        Granularity::PerTensor => 1,
        Granularity::PerChannel => w.shape().first().copied().unwrap_or(1).max(1),
    };
    let (lo, hi) = channel_ranges(&v, channels);
    Ok(QParams::from_ranges(&lo, &hi, bits, scheme))
}

/// Signal-to-quantization-noise ratio `10·log₁₀(Σx² / Σ(x − x̂)²)` in dB (∞ when exact).
pub fn sqnr_db(x: &[f32], xq: &[f32]) -> f64 {
    let sig: f64 = x.iter().map(|&v| (v as f64).powi(2)).sum();
    let noise: f64 = x.iter().zip(xq).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum();
    if noise == 0.0 { f64::INFINITY } else { 10.0 * crate::core::math::log10_64(sig / noise) }
}

/// Bytes of one tensor of `n` values at `bits` with `nnz` non-zeros over `rows` rows: the cheapest of
/// packed dense `⌈n·bits/8⌉`, bitmask `⌈n/8⌉ + ⌈nnz·bits/8⌉` and CSR (row pointers and column
/// indices as in `prune::tensor_bytes`, values `⌈nnz·bits/8⌉`).
pub fn packed_bytes(n: usize, nnz: usize, rows: usize, bits: u32) -> usize {
    let packed = |k: usize| (k * bits as usize).div_ceil(8);
    let width = |max: usize| if max <= u16::MAX as usize { 2 } else { 4 };
    let cols = n / rows.max(1);
    let dense = packed(n);
    let bitmask = n.div_ceil(8) + packed(nnz);
    let csr = (rows + 1) * width(nnz) + nnz * width(cols.saturating_sub(1)) + packed(nnz);
    dense.min(bitmask).min(csr)
}

/// Sizes of the quantized model.
#[derive(Debug, Clone, Copy, Serialize, Default, TS)]
pub struct QuantBytes {
    /// Every parameter and buffer as f32.
    pub f32: usize,
    /// Quantized weights packed at their bit width (sparse formats when cheaper), 4 + 4 bytes of
    /// scale and zero point per channel and per quantized input, other tensors f32.
    pub quantized: usize,
    /// gzip (level 9) of that serialization: packed levels, qparams, f32 tensors, little-endian.
    pub gzip: usize,
}

/// Per-layer report: weight SQNR and the ranges chosen.
#[derive(Debug, Clone, Serialize, TS)]
pub struct LayerQuantReport {
    pub name: String,
    pub bits: u32,
    pub sqnr_db: f64,
    pub weight_min: f32,
    pub weight_max: f32,
    pub scale_min: f32,
    pub scale_max: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_range: Option<[f32; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_scale: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_zero_point: Option<i32>,
}

/// Bytes and per-layer errors of `model` under the fake quantization `fq` (float bytes without).
pub async fn measure(
    model: &Sequential,
    fq: Option<&FakeQuantModel>,
) -> Result<(QuantBytes, Vec<LayerQuantReport>)> {
    let mut b = QuantBytes::default();
    let mut blob: Vec<u8> = Vec::new();
    let mut layers = Vec::new();
    for (name, t) in model.state() {
        let v = t.to_vec().await?;
        b.f32 += 4 * v.len();
        let layer: Option<usize> = name.strip_suffix(".weight").and_then(|i| i.parse().ok());
        let cfg = match (fq, layer) {
            (Some(fq), Some(i)) => fq.layers.borrow().get(i).and_then(|l| {
                l.as_ref()
                    .map(|l| (l.bits, l.weight.clone(), l.input.as_ref().and_then(|a| a.qparams.clone())))
            }),
            _ => None,
        };
        let Some((bits, qp, input)) = cfg else {
            b.quantized += 4 * v.len();
            blob.extend(v.iter().flat_map(|x| x.to_le_bytes()));
            continue;
        };
        let q = qp.quantize(&v);
        let xq = qp.dequantize(&q);
        let nnz = xq.iter().filter(|&&x| x != 0.0).count();
        let rows = t.shape().first().copied().unwrap_or(1);
        let channels = qp.scale.len() + usize::from(input.is_some());
        b.quantized += packed_bytes(v.len(), nnz, rows, bits) + 8 * channels;
        pack_levels(&q, qp.qmin, bits, &mut blob);
        for (s, z) in qp.scale.iter().zip(&qp.zero_point) {
            blob.extend(s.to_le_bytes());
            blob.extend(z.to_le_bytes());
        }
        let (lo, hi) = channel_ranges(&v, 1);
        layers.push(LayerQuantReport {
            name,
            bits,
            sqnr_db: sqnr_db(&v, &xq),
            weight_min: lo[0],
            weight_max: hi[0],
            scale_min: qp.scale.iter().copied().fold(f32::INFINITY, f32::min),
            scale_max: qp.scale.iter().copied().fold(0.0, f32::max),
            input_range: input.as_ref().map(|a| {
                let (s, z) = (a.scale[0], a.zero_point[0] as f32);
                [(a.qmin as f32 - z) * s, (a.qmax as f32 - z) * s]
            }),
            input_scale: input.as_ref().map(|a| a.scale[0]),
            input_zero_point: input.as_ref().map(|a| a.zero_point[0]),
        });
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&blob).map_err(|e| crate::Error(format!("gzip: {e}")))?;
    b.gzip = gz.finish().map_err(|e| crate::Error(format!("gzip: {e}")))?.len();
    Ok((b, layers))
}

/// Appends levels `q − qmin` (unsigned, `bits` wide) packed little-endian bit after bit.
fn pack_levels(q: &[i32], qmin: i32, bits: u32, out: &mut Vec<u8>) {
    let (mut acc, mut filled) = (0u64, 0u32);
    for &v in q {
        acc |= ((v - qmin) as u64 & ((1 << bits) - 1)) << filled;
        filled += bits;
        while filled >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            filled -= 8;
        }
    }
    if filled > 0 {
        out.push(acc as u8);
    }
}
