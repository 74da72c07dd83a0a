//! `Session`: one run, the API the CLI and the page (src/wasm.rs) both use and nothing reaches
//! around. It owns the trainer (model, data, optimizer, masks, quantization state, stages) and
//! answers what the views ask: the report, the weights with their masks and quantization grid, the
//! decision grid, and a [`Snapshot`] of the trained model (weights, masks and its quantization)
//! that [`Session::explore`] applies a compression setting to and evaluates without retraining (the
//! live explorer). On 2-D data it keeps the decision grid of the model as trained and after each
//! compression stage ([`Session::stage_grids`]); [`Session::parity`] runs one batch through the GPU
//! and a CPU copy of the model and measures how far the two backends' numbers differ.

use crate::compress::prune::{Scope, Target, magnitude_masks, prunable_weights};
use crate::compress::quant::{
    FakeQuantModel, Granularity, InputFakeQuant, LayerQuant, ObserverKind, QuantConfig, Scheme, measure,
};
use crate::core::tensor::{Tensor, no_grad};
use crate::nn::loss::cross_entropy;
use crate::nn::{LayerForward, Module, Sequential};
use crate::recipe::Recipe;
use crate::run::pipeline::model_stats;
use crate::run::report::{EpochMetrics, Report, StageReport, StepInfo};
use crate::run::trainer::{Trainer, in_chunks};
use crate::{Error, Result, bail};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// A run in progress: create it from a recipe ([`Session::new`]) or from a model file
/// (`io::model_file::open`), then [`step`](Session::step) it until [`done`](Session::done).
pub struct Session {
    t: Trainer,
    /// 2-D runs with stages: the decision grid as trained and after each finished stage.
    grids: Vec<StageGrid>,
}

/// One linear or conv weight, as [`Session::layers`] lists it.
#[derive(Debug, Clone, Serialize, TS)]
pub struct LayerInfo {
    /// `state_dict` name (`"0.weight"`), the key for [`Session::weights`].
    pub name: String,
    /// `"linear"` or `"conv2d"`.
    pub kind: String,
    /// `[out, in]` or `[out, in, kh, kw]`.
    pub shape: Vec<usize>,
    /// Whether a pruning mask is on it.
    pub masked: bool,
}

/// The quantization grid of a weight: level `q` sits at `scale · (q − zero_point)`, one scale and
/// zero point per tensor, or per output channel along `axis` 0.
#[derive(Debug, Clone, Serialize, TS)]
pub struct QuantGrid {
    pub bits: u32,
    pub per_channel: bool,
    pub axis: usize,
    pub scale: Vec<f32>,
    pub zero_point: Vec<i32>,
    pub qmin: i32,
    pub qmax: i32,
}

/// A weight's values (row-major), its mask (1 kept, 0 pruned) and its quantization grid.
#[derive(Debug, Clone)]
pub struct WeightView {
    pub info: LayerInfo,
    pub values: Vec<f32>,
    pub mask: Option<Vec<f32>>,
    pub quant: Option<QuantGrid>,
}

/// A compression setting for [`Session::explore`]: magnitude pruning to `sparsity` (per layer or
/// one global threshold) of every linear and conv weight, then, with `bits`, fake quantization of
/// the weights (torch's min-max qparams). `Default` is the neutral setting: the model as trained.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct ExploreSetting {
    /// Fraction of weights set to zero, in [0, 0.99].
    #[serde(default)]
    pub sparsity: f64,
    /// `layer` (each layer to `sparsity`) or `global` (one threshold over all of them).
    #[serde(default)]
    pub method: Scope,
    /// Weight bit width in [2, 8], or absent for float weights.
    #[serde(default)]
    pub bits: Option<u32>,
    #[serde(default)]
    pub scheme: Scheme,
    #[serde(default)]
    pub granularity: Granularity,
}

impl ExploreSetting {
    /// Range checks; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=0.99).contains(&self.sparsity) {
            bail!("sparsity = {}: must be in [0, 0.99]", self.sparsity);
        }
        if let Some(b) = self.bits {
            if !(2..=8).contains(&b) {
                bail!("bits = {b}: must be in [2, 8]");
            }
        }
        Ok(())
    }
}

/// What [`Session::explore`] measured: test accuracy, honest bytes (sparse formats, packed
/// integers when quantized) and the ratio against the dense f32 model, the weight sparsity, and
/// the confusion matrix.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ExploreResult {
    pub test_accuracy: f32,
    pub bytes: usize,
    pub dense_bytes: usize,
    pub ratio: f64,
    pub sparsity: f64,
    /// `confusion[true][predicted]` on the test split.
    pub confusion: Vec<Vec<u32>>,
}

/// What [`Session::explore_with`] gives: the measurement, the decision grid (when asked, on 2-D
/// data) and the weights asked for, as the setting leaves them.
pub struct Explored {
    pub result: ExploreResult,
    pub grid: Option<Vec<f32>>,
    pub weights: Vec<WeightView>,
}

/// A copy of the trained model on the run's device, taken by [`Session::snapshot`]: its weights,
/// its pruning masks and, after a quantize or qat stage (or from a quantized model file), its fake
/// quantization with the observers frozen. It is the explorer's baseline: the run's final model.
pub struct Snapshot {
    model: Sequential,
    masks: Vec<(String, Vec<f32>)>,
    quant: Option<FakeQuantModel>,
}

/// The fake quantization a model carries, in one line's worth of fields: the weights' bit width,
/// scheme and granularity (of its first quantized layer), and the input bit width when its
/// activations are quantized too.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuantSummary {
    pub bits: u32,
    pub scheme: Scheme,
    pub granularity: Granularity,
    pub activation_bits: Option<u32>,
}

impl Snapshot {
    /// The quantization of the snapshot's model (the explorer's baseline), `None` for float weights.
    pub fn quant_summary(&self) -> Option<QuantSummary> {
        summary_of(self.quant.as_ref()?)
    }
}

/// Resolution of the grids [`Session::stage_grids`] keeps (`res × res` cells).
pub const STAGE_GRID_RES: u32 = 48;

/// One small multiple: the decision grid of the model as trained (`stage: None`) or after a
/// compression stage, with that model's test accuracy and honest bytes (packed integers when
/// quantized, else the cheapest sparse format; dense f32 for the model as trained).
#[derive(Debug, Clone, Serialize)]
pub struct StageGrid {
    /// The stage's index in `compression`, `None` for the model as trained.
    pub stage: Option<usize>,
    /// The stage's kind (`"magnitude"`, `"quantize"` …), `"trained"` for the model as trained.
    pub kind: String,
    pub test_accuracy: f32,
    pub bytes: usize,
    pub res: u32,
    /// `res·res·classes` probabilities, as [`Session::decision_grid`] gives them.
    #[serde(skip)]
    pub grid: Vec<f32>,
}

/// One batch through both backends ([`Session::parity`]): the cross-entropy on the GPU and on the
/// CPU, `loss_diff = |loss_gpu − loss_cpu|`, and `logits_diff = max |z_gpu − z_cpu|` over every
/// logit of the batch.
#[derive(Debug, Clone, Serialize)]
pub struct Parity {
    pub samples: usize,
    pub loss_gpu: f32,
    pub loss_cpu: f32,
    pub loss_diff: f32,
    pub logits_diff: f32,
}

impl Session {
    /// Loads the data, picks the backend, builds the model, optimizer and stages. `csv` is the
    /// user's file for `dataset.name = "csv"`.
    pub async fn new(recipe: Recipe, csv: Option<&str>) -> Result<Session> {
        Ok(Session { t: Trainer::new(recipe, csv).await?, grids: Vec::new() })
    }

    /// A session over a trainer built elsewhere (a model file's, see `io::model_file::open`).
    pub fn from_trainer(t: Trainer) -> Session {
        Session { t, grids: Vec::new() }
    }

    /// The run's state, for what writes it out (`io::model_file`) and for tests.
    pub fn trainer(&self) -> &Trainer {
        &self.t
    }

    /// Trains up to `max_batches` mini-batches (stopping at an epoch end), then the compression
    /// stages the same way; reads metrics back only when due.
    pub async fn step(&mut self, max_batches: usize) -> Result<StepInfo> {
        self.grid_before_stages().await?;
        let info = self.t.step(max_batches).await?;
        if let Some(report) = &info.stage_end {
            self.grid_after_stage(report).await?;
        }
        Ok(info)
    }

    /// Trains to the end, calling `on_epoch` after each epoch of the initial training and of the
    /// stages.
    pub async fn run(&mut self, mut on_epoch: impl FnMut(&EpochMetrics)) -> Result<Report> {
        while !self.done() {
            let info = self.step(usize::MAX).await?;
            if let Some(m) = &info.epoch_end {
                on_epoch(m);
            }
        }
        self.report().await
    }

    /// True when the initial training and every stage are done.
    pub fn done(&self) -> bool {
        self.t.done()
    }

    /// The report as of now (final metrics evaluated on the test split).
    pub async fn report(&self) -> Result<Report> {
        self.t.report().await
    }

    pub fn recipe(&self) -> &Recipe {
        &self.t.recipe
    }

    /// The run's dataset (both splits, on the host).
    pub fn dataset(&self) -> &crate::data::Dataset {
        &self.t.data
    }

    /// Trainable scalars of the model as it is now.
    pub fn param_count(&self) -> usize {
        self.t.model.param_count()
    }

    /// Test accuracy of the model as it is now (with its masks and quantization).
    pub async fn test_accuracy(&self) -> Result<f32> {
        Ok(self.t.evaluate_test().await?.0)
    }

    /// Logits of the test split, `n_test × classes` row-major (evaluation mode).
    pub async fn test_logits(&self) -> Result<Vec<f32>> {
        self.t.test_logits()?.to_vec().await
    }

    /// `"cpu"` or `"gpu"`.
    pub fn backend(&self) -> &'static str {
        self.t.device.name()
    }

    /// Why `auto` fell back to the CPU, or the GPU was lost ("" when neither).
    pub fn backend_note(&self) -> &str {
        &self.t.backend_note
    }

    /// The GPU adapter's name, backend and device type ("" on the CPU).
    pub fn adapter(&self) -> String {
        match &self.t.device {
            #[cfg(feature = "gpu")]
            crate::Device::Gpu(g) => g.adapter_info(),
            _ => String::new(),
        }
    }

    pub fn total_epochs(&self) -> u32 {
        self.t.total_epochs()
    }

    /// Whether the inputs are 2-D points (the page then draws a decision boundary).
    pub fn is_2d(&self) -> bool {
        self.t.data.input_shape == [2]
    }

    fn two_d(&self) -> Result<()> {
        if !self.is_2d() {
            bail!("dataset {} is not 2-D points", self.t.data.name);
        }
        Ok(())
    }

    /// Every linear and conv weight in model order (what pruning and quantization act on).
    pub fn layers(&self) -> Vec<LayerInfo> {
        prunable_weights(&self.t.model)
            .into_iter()
            .map(|w| LayerInfo {
                kind: self.t.model.layers[w.layer].kind().to_string(),
                masked: self.t.masks.get(&w.name).is_some(),
                name: w.name,
                shape: w.shape,
            })
            .collect()
    }

    /// The weight `name` (as in [`Session::layers`]) with its mask and quantization grid.
    pub async fn weights(&self, name: &str) -> Result<WeightView> {
        let Some(info) = self.layers().into_iter().find(|l| l.name == name) else {
            bail!("the model has no linear or conv weight named {name}");
        };
        let tensor = self.t.model.parameters().into_iter().find(|(n, _)| n == name).map(|(_, t)| t);
        let Some(tensor) = tensor else { bail!("the model has no parameter {name}") };
        Ok(WeightView {
            values: tensor.to_vec().await?,
            mask: self.t.masks.get(name).map(<[f32]>::to_vec),
            quant: self.quant_grid(name),
            info,
        })
    }

    fn quant_grid(&self, name: &str) -> Option<QuantGrid> {
        let fq = self.t.quant.as_ref()?;
        let index: usize = name.split('.').next()?.parse().ok()?;
        let layers = fq.layers.borrow();
        Some(grid_of(layers.get(index)?.as_ref()?))
    }

    /// `[xmin, xmax, ymin, ymax]` around the 2-D training points, padded by 10 %.
    pub fn bounds(&self) -> Result<[f32; 4]> {
        self.two_d()?;
        Ok(bounds_of(&self.t.data.train_x))
    }

    /// The 2-D training points (`x`: n·2 coordinates) and their labels.
    pub fn points(&self) -> Result<(&[f32], &[u32])> {
        self.two_d()?;
        Ok((&self.t.data.train_x, &self.t.data.train_y))
    }

    /// `res·res·classes` class probabilities over [`Session::bounds`], row-major over (gy, gx,
    /// class) with gy running from ymin to ymax.
    pub async fn decision_grid(&self, res: u32) -> Result<Vec<f32>> {
        let pts = self.grid_points(res)?;
        self.t.predict_proba(&pts).await
    }

    /// The `res × res` cell centres over [`Session::bounds`], row-major from (xmin, ymin).
    fn grid_points(&self, res: u32) -> Result<Vec<f32>> {
        if !(2..=256).contains(&res) {
            bail!("decision grid resolution {res} must be in [2, 256]");
        }
        let [x0, x1, y0, y1] = self.bounds()?;
        let r = res as usize;
        let mut pts = Vec::with_capacity(r * r * 2);
        for gy in 0..r {
            for gx in 0..r {
                pts.push(x0 + (x1 - x0) * (gx as f32 + 0.5) / r as f32);
                pts.push(y0 + (y1 - y0) * (gy as f32 + 0.5) / r as f32);
            }
        }
        Ok(pts)
    }

    /// A device-side copy of the model as it is now (weights, buffers) and its pruning masks: cheap
    /// (no readback), and independent of later training.
    pub fn snapshot(&self) -> Result<Snapshot> {
        let masks = self.t.masks.iter().map(|(n, m)| (n.to_string(), m.to_vec())).collect();
        let quant = self.t.quant.as_ref().map(frozen);
        Ok(Snapshot { model: self.t.model.deep_copy()?, masks, quant })
    }

    /// Applies `setting` to a copy of `snap` and measures it on the test split, without training:
    /// magnitude pruning to `sparsity` on top of the snapshot's masks, then fake quantization of the
    /// weights to `bits`; without `bits` the snapshot's own quantization stays (its weight grid
    /// and input quantizers as the run left them), so the neutral setting (sparsity 0, no bits)
    /// measures the run's final model. With `bits` the weights are quantized afresh from their
    /// float values and the snapshot's input quantizers (if any) stay. The session's own model is
    /// untouched.
    pub async fn explore(&self, snap: &Snapshot, setting: &ExploreSetting) -> Result<ExploreResult> {
        Ok(self.explore_with(snap, setting, None, &[]).await?.result)
    }

    /// [`Session::explore`], with `grid_res` also the compressed model's decision grid as
    /// [`Session::decision_grid`] gives it for the model itself (2-D data only), and the weights
    /// named in `weights` (as in [`Session::layers`]) as the setting leaves them: the mask after
    /// its pruning and, when quantized, the values snapped to the grid, `(q − z)·s` with
    /// `q = clamp(round(w/s) + z, qmin, qmax)` (what the compressed model computes with), and that
    /// grid.
    pub async fn explore_with(
        &self,
        snap: &Snapshot,
        setting: &ExploreSetting,
        grid_res: Option<u32>,
        weights: &[String],
    ) -> Result<Explored> {
        setting.validate()?;
        let infos = self.layers();
        let mut picked = Vec::with_capacity(weights.len());
        for name in weights {
            match infos.iter().find(|l| &l.name == name) {
                Some(info) => picked.push(info),
                None => bail!("the model has no linear or conv weight named {name}"),
            }
        }
        let (model, quant, sparsity, masks) = self.compressed(snap, setting).await?;
        let mut views = Vec::with_capacity(picked.len());
        for info in picked {
            let name = &info.name;
            let t = model.parameters().into_iter().find(|(n, _)| n == name).map(|(_, t)| t);
            let Some(t) = t else { bail!("the model has no parameter {name}") };
            let raw = t.to_vec().await?;
            let layer: Option<usize> = name.split('.').next().and_then(|i| i.parse().ok());
            let layers = quant.as_ref().map(|q| q.layers.borrow());
            let lq = layers.as_ref().zip(layer).and_then(|(l, i)| l.get(i)?.as_ref());
            let (values, grid) = match lq {
                Some(lq) => (lq.weight.dequantize(&lq.weight.quantize(&raw)), Some(grid_of(lq))),
                None => (raw, None),
            };
            views.push(WeightView {
                info: info.clone(),
                values,
                mask: masks.iter().find(|(n, _)| n == name).map(|(_, m)| m.clone()),
                quant: grid,
            });
        }
        let around = quant.as_ref().map(|q| q as &dyn LayerForward);
        let (test_accuracy, confusion) = self.evaluate_model(&model, around).await?;
        // One readback of the weights for the size: packed integers when quantized, else the
        // cheapest sparse format; the dense size needs none.
        let bytes = match &quant {
            Some(q) => measure(&model, Some(q)).await?.0.quantized,
            None => model_stats(&model).await?.bytes.sparse,
        };
        let dense_bytes: usize = model.state().iter().map(|(_, t)| 4 * t.numel()).sum();
        let grid = match grid_res {
            Some(res) => {
                let pts = self.grid_points(res)?;
                let x = Tensor::new(&pts, &[pts.len() / 2, 2], &self.t.device)?;
                let p = no_grad(|| logits_of(&model, &x, around)?.softmax(-1))?;
                Some(p.to_vec().await?)
            }
            None => None,
        };
        let result = ExploreResult {
            test_accuracy,
            bytes,
            dense_bytes,
            ratio: dense_bytes as f64 / bytes.max(1) as f64,
            sparsity,
            confusion,
        };
        Ok(Explored { result, grid, weights: views })
    }

    /// A copy of `snap` pruned and quantized as `setting` says, its weight sparsity, and each
    /// weight's mask (by name; 1 kept, 0 pruned).
    async fn compressed(
        &self,
        snap: &Snapshot,
        setting: &ExploreSetting,
    ) -> Result<(Sequential, Option<FakeQuantModel>, f64, Vec<(String, Vec<f32>)>)> {
        let model = snap.model.deep_copy()?;
        let ws = prunable_weights(&model);
        let params = model.parameters();
        let mut tensors = Vec::new();
        let (mut values, mut masks) = (Vec::new(), Vec::new());
        for w in &ws {
            let t = params.iter().find(|(n, _)| *n == w.name).map(|(_, t)| t.clone());
            let t = t.ok_or_else(|| Error(format!("the model has no parameter {}", w.name)))?;
            let v = t.to_vec().await?;
            let m = snap.masks.iter().find(|(n, _)| *n == w.name).map(|(_, m)| m.clone());
            masks.push(m.unwrap_or_else(|| vec![1.0; v.len()]));
            values.push(v);
            tensors.push(t);
        }
        if setting.sparsity > 0.0 {
            masks = magnitude_masks(&values, &masks, setting.method, Target::Sparsity(setting.sparsity))?;
        }
        let (mut zeros, mut total) = (0usize, 0usize);
        for ((t, v), m) in tensors.iter().zip(&values).zip(&masks) {
            let pruned: Vec<f32> = v.iter().zip(m).map(|(x, k)| x * k).collect();
            zeros += pruned.iter().filter(|&&x| x == 0.0).count();
            total += pruned.len();
            t.set_storage(self.t.device.upload(&pruned)?)?;
        }
        let quant = match (setting.bits, &snap.quant) {
            (Some(bits), base) => {
                let q = FakeQuantModel::new(&model, &weights_only(bits, setting)).await?;
                if let Some(base) = base {
                    keep_inputs(&q, base);
                }
                Some(q)
            }
            (None, Some(base)) => Some(frozen(base)),
            (None, None) => None,
        };
        let named = ws.into_iter().map(|w| w.name).zip(masks).collect();
        Ok((model, quant, zeros as f64 / total.max(1) as f64, named))
    }

    /// Test accuracy of `model` (evaluation mode, with `around` applied at every layer) and its
    /// confusion matrix, `confusion[true][predicted]`.
    async fn evaluate_model(
        &self,
        model: &Sequential,
        around: Option<&dyn LayerForward>,
    ) -> Result<(f32, Vec<Vec<u32>>)> {
        let logits = no_grad(|| logits_of(model, self.t.test_inputs(), around))?;
        let pred = logits.argmax()?.to_vec().await?;
        let k = self.t.data.classes;
        let mut confusion = vec![vec![0u32; k]; k];
        let mut correct = 0;
        for (&p, &y) in pred.iter().zip(&self.t.data.test_y) {
            let p = p as usize;
            correct += usize::from(p == y as usize);
            if (y as usize) < k && p < k {
                confusion[y as usize][p] += 1;
            }
        }
        Ok((correct as f32 / pred.len().max(1) as f32, confusion))
    }
}

/// The weight grid of one quantized layer.
fn grid_of(lq: &LayerQuant) -> QuantGrid {
    let w = &lq.weight;
    QuantGrid {
        bits: lq.bits,
        per_channel: w.scale.len() > 1,
        axis: 0,
        scale: w.scale.clone(),
        zero_point: w.zero_point.clone(),
        qmin: w.qmin,
        qmax: w.qmax,
    }
}

/// `model`'s logits for `x` in evaluation mode, in chunks, with `around` at every layer.
fn logits_of(model: &Sequential, x: &Tensor, around: Option<&dyn LayerForward>) -> Result<Tensor> {
    model.set_training(false);
    in_chunks(x, |c| model.forward_with(c, around))
}

/// Weight-only fake quantization at `bits` (activations stay float, so no calibration is needed).
fn weights_only(bits: u32, s: &ExploreSetting) -> QuantConfig {
    QuantConfig {
        bits,
        scheme: s.scheme,
        granularity: s.granularity,
        activation_bits: None,
        activation_scheme: Scheme::Affine,
        observer: ObserverKind::Minmax,
        averaging_constant: 0.01,
        percentile: 99.99,
        histogram_bins: crate::compress::quant::histogram::DEFAULT_BINS,
    }
}

fn bounds_of(xy: &[f32]) -> [f32; 4] {
    let (mut b, mut any) = ([f32::MAX, f32::MIN, f32::MAX, f32::MIN], false);
    for p in xy.chunks_exact(2) {
        any = true;
        b = [b[0].min(p[0]), b[1].max(p[0]), b[2].min(p[1]), b[3].max(p[1])];
    }
    if !any {
        return [-1.0, 1.0, -1.0, 1.0];
    }
    let (px, py) = (0.1 * (b[1] - b[0]).max(1e-3), 0.1 * (b[3] - b[2]).max(1e-3));
    [b[0] - px, b[1] + px, b[2] - py, b[3] + py]
}

/// The small multiples: one decision grid per stage of a 2-D run.
impl Session {
    /// The decision grids kept so far (2-D runs with compression stages): the model as trained,
    /// then one after each finished stage, in order; empty for other runs.
    pub fn stage_grids(&self) -> &[StageGrid] {
        &self.grids
    }

    /// Before the first stage begins: the grid of the model as trained.
    async fn grid_before_stages(&mut self) -> Result<()> {
        let due = self.is_2d()
            && self.grids.is_empty()
            && !self.t.recipe.compression.is_empty()
            && self.t.training_done()
            && self.t.current_stage() == Some(0);
        if !due {
            return Ok(());
        }
        let (test_accuracy, _) = self.t.evaluate_test().await?;
        let bytes = model_stats(&self.t.model).await?.bytes.sparse;
        let grid = self.decision_grid(STAGE_GRID_RES).await?;
        self.grids.push(StageGrid {
            stage: None,
            kind: "trained".into(),
            test_accuracy,
            bytes,
            res: STAGE_GRID_RES,
            grid,
        });
        Ok(())
    }

    /// After a stage: the grid of the model it left, with the stage report's accuracy and honest bytes.
    async fn grid_after_stage(&mut self, report: &StageReport) -> Result<()> {
        if !self.is_2d() {
            return Ok(());
        }
        let grid = self.decision_grid(STAGE_GRID_RES).await?;
        let bytes = report.stats.bytes.quantized.unwrap_or(report.stats.bytes.sparse);
        self.grids.push(StageGrid {
            stage: Some(report.index),
            kind: report.outcome.kind().to_string(),
            test_accuracy: report.test_accuracy,
            bytes,
            res: STAGE_GRID_RES,
            grid,
        });
        Ok(())
    }
}

/// GPU-versus-CPU parity of the current model.
impl Session {
    /// Runs the first `samples` training samples (at most the split) through the model on the GPU
    /// and through a CPU copy of it (same weights, masks and fake quantization, evaluation mode)
    /// and compares the cross-entropy and the logits. The run itself is untouched. Fails on a CPU
    /// run: there is no second backend to compare.
    pub async fn parity(&self, samples: usize) -> Result<Parity> {
        if self.t.device.name() != "gpu" {
            bail!("parity: the run is on the CPU; GPU-vs-CPU parity needs a run on the GPU");
        }
        let n = samples.min(self.t.data.n_train());
        if n == 0 {
            bail!("parity: samples = {samples}: must be at least 1 (and the training split not empty)");
        }
        let f = self.t.data.features();
        let x = &self.t.data.train_x[..n * f];
        let y: Vec<f32> = self.t.data.train_y[..n].iter().map(|&c| c as f32).collect();
        let mut shape = vec![n];
        shape.extend_from_slice(&self.t.data.input_shape);

        let quant = self.t.quant.as_ref().map(frozen);
        let around = quant.as_ref().map(|q| q as &dyn LayerForward);
        let gpu_model = self.t.model.deep_copy()?;
        let (gpu_logits, gpu_loss) =
            logits_and_loss(&gpu_model, x, &y, &shape, &self.t.device, around).await?;

        let cpu = crate::Device::Cpu;
        let cpu_model = self.t.model.deep_copy()?;
        for (_, t) in cpu_model.state() {
            let v = t.to_vec().await?;
            t.set_storage(cpu.upload(&v)?)?;
        }
        let (cpu_logits, cpu_loss) = logits_and_loss(&cpu_model, x, &y, &shape, &cpu, around).await?;

        let logits_diff =
            gpu_logits.iter().zip(&cpu_logits).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        Ok(Parity {
            samples: n,
            loss_gpu: gpu_loss,
            loss_cpu: cpu_loss,
            loss_diff: (gpu_loss - cpu_loss).abs(),
            logits_diff,
        })
    }
}

/// Evaluation-mode logits of `model` for the host batch `x` (shape `shape`) on `device`, and their
/// mean cross-entropy against the labels `y`.
async fn logits_and_loss(
    model: &Sequential,
    x: &[f32],
    y: &[f32],
    shape: &[usize],
    device: &crate::Device,
    around: Option<&dyn LayerForward>,
) -> Result<(Vec<f32>, f32)> {
    let xt = Tensor::new(x, shape, device)?;
    let yt = Tensor::new(y, &[y.len()], device)?;
    let (logits, loss) = no_grad(|| -> Result<(Tensor, Tensor)> {
        let z = logits_of(model, &xt, around)?;
        let l = cross_entropy(&z, &yt, 0.0)?;
        Ok((z, l))
    })?;
    let loss = loss.to_vec().await?;
    Ok((logits.to_vec().await?, loss.first().copied().unwrap_or(f32::NAN)))
}

/// A copy of `q` with every input quantizer frozen at its current qparams (observers off): the
/// same forward pass, and nothing it runs changes it.
fn frozen(q: &FakeQuantModel) -> FakeQuantModel {
    let layers = q
        .layers
        .borrow()
        .iter()
        .map(|l| {
            l.as_ref().map(|l| LayerQuant {
                bits: l.bits,
                scheme: l.scheme,
                granularity: l.granularity,
                weight: l.weight.clone(),
                input: l
                    .input
                    .as_ref()
                    .map(|a| InputFakeQuant::restored(a.bits, a.scheme, a.qparams.clone())),
            })
        })
        .collect();
    FakeQuantModel { layers: std::cell::RefCell::new(layers) }
}

/// Gives the layers of `q` the input quantizers (frozen) of the same layers of `base`.
fn keep_inputs(q: &FakeQuantModel, base: &FakeQuantModel) {
    let base = base.layers.borrow();
    for (i, l) in q.layers.borrow_mut().iter_mut().enumerate() {
        let Some(l) = l.as_mut() else { continue };
        let from = base.get(i).and_then(|b| b.as_ref()).and_then(|b| b.input.as_ref());
        l.input = from.map(|a| InputFakeQuant::restored(a.bits, a.scheme, a.qparams.clone()));
    }
}

/// What [`QuantSummary`] says of `q`: its first quantized layer's settings.
fn summary_of(q: &FakeQuantModel) -> Option<QuantSummary> {
    let layers = q.layers.borrow();
    let first = layers.iter().flatten().next()?;
    Some(QuantSummary {
        bits: first.bits,
        scheme: first.scheme,
        granularity: first.granularity,
        activation_bits: layers.iter().flatten().find_map(|l| l.input.as_ref().map(|a| a.bits)),
    })
}

/// Class probabilities for inputs the page draws (the digit pad): the run's model as it is now, and
/// a [`Snapshot`] under an [`ExploreSetting`], the same model [`Session::explore`] measures.
impl Session {
    /// The run's model as it is now (its masks and quantization: after the run's stages, the final
    /// model) on `inputs`, `n × features` values: `n × classes` probabilities, row-major.
    pub async fn predict(&self, inputs: &[f32]) -> Result<Vec<f32>> {
        self.input_dims(inputs)?;
        self.t.predict_proba(inputs).await
    }

    /// `snap` pruned and quantized as `setting` says (as [`Session::explore`] builds it) on
    /// `inputs`: `n × classes` probabilities, `softmax(logits)` in evaluation mode. The default
    /// setting gives the snapshot itself.
    pub async fn predict_explored(
        &self,
        snap: &Snapshot,
        setting: &ExploreSetting,
        inputs: &[f32],
    ) -> Result<Vec<f32>> {
        setting.validate()?;
        let x = Tensor::new(inputs, &self.input_dims(inputs)?, &self.t.device)?;
        let (model, quant, _, _) = self.compressed(snap, setting).await?;
        let around = quant.as_ref().map(|q| q as &dyn LayerForward);
        let p = no_grad(|| logits_of(&model, &x, around)?.softmax(-1))?;
        p.to_vec().await
    }

    /// The shape `[n, ...input_shape]` of `inputs`; refuses a length that is not a whole number of
    /// samples, and non-finite values.
    fn input_dims(&self, inputs: &[f32]) -> Result<Vec<usize>> {
        let shape = &self.t.data.input_shape;
        let f: usize = shape.iter().product();
        if f == 0 || inputs.is_empty() || !inputs.len().is_multiple_of(f) {
            bail!("predict: {} values are not a whole number of {f}-value samples", inputs.len());
        }
        if let Some(i) = inputs.iter().position(|v| !v.is_finite()) {
            bail!("predict: input value {i} is {}: must be finite", inputs[i]);
        }
        let mut dims = vec![inputs.len() / f];
        dims.extend_from_slice(shape);
        Ok(dims)
    }
}
