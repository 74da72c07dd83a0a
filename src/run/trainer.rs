//! `Trainer`: runs a [`Recipe`] step by step (the page drives it a few batches at a time, the CLI
//! to the end) and produces the metrics and the JSON [`Report`]. Loss and accuracy accumulate on
//! the device; they are read back only every `metrics_every` steps and at the end of each epoch.

use crate::compress::prune::MaskSet;
use crate::compress::quant::FakeQuantModel;
use crate::core::backend::{Device, Storage};
use crate::core::rng::Rng;
use crate::core::tensor::{Tensor, no_grad};
use crate::data::{self, Dataset};
use crate::nn::loss::cross_entropy;
use crate::nn::optim::Optimizer;
use crate::nn::schedule::{Decay, Interval, LrSchedule};
use crate::nn::{Module, Sequential};
use crate::recipe::budget::EVAL_CHUNK;
use crate::recipe::{BackendChoice, Recipe};
use crate::run::pipeline::Pipeline;
use crate::run::report::{EpochMetrics, FinalMetrics, ModelSize, Report, StepInfo};
use crate::{Result, bail};

/// Seconds since an arbitrary origin (`performance.now()`-like on wasm, `Instant` natively).
pub fn now_seconds() -> f64 {
    #[cfg(target_arch = "wasm32")]
    {
        js_sys::Date::now() / 1000.0
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::sync::OnceLock;
        static START: OnceLock<std::time::Instant> = OnceLock::new();
        START.get_or_init(std::time::Instant::now).elapsed().as_secs_f64()
    }
}

/// A stretch of training: the recipe's epochs, or a compression stage's (re)training. The learning
/// rate at epoch (or step) `t` of the phase is `schedule.lr_at(lr, t, total)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    pub epochs: u32,
    pub lr: f32,
    pub schedule: LrSchedule,
}

impl Phase {
    /// The recipe's own training.
    pub fn initial(recipe: &Recipe) -> Phase {
        Phase {
            epochs: recipe.training.epochs,
            lr: recipe.training.optimizer.lr(),
            schedule: recipe.training.schedule.clone(),
        }
    }
}

/// Picks the device for a backend choice. Returns the device and, when `auto` fell back to the
/// CPU, the reason.
pub async fn select_device(choice: BackendChoice) -> Result<(Device, String)> {
    match choice {
        BackendChoice::Cpu => Ok((Device::Cpu, String::new())),
        #[cfg(feature = "gpu")]
        BackendChoice::Gpu => {
            Ok((Device::Gpu(crate::core::backend::gpu::GpuDevice::new().await?), String::new()))
        }
        #[cfg(not(feature = "gpu"))]
        BackendChoice::Gpu => {
            bail!("backend gpu: this build has no GPU backend (built without the `gpu` feature)")
        }
        #[cfg(feature = "gpu")]
        BackendChoice::Auto => match crate::core::backend::gpu::GpuDevice::new().await {
            Ok(d) if d.is_software() => {
                d.destroy();
                let note = "the only GPU adapter is a software renderer, slower than the CPU backend: running on the CPU";
                Ok((Device::Cpu, note.to_string()))
            }
            Ok(d) => Ok((Device::Gpu(d), String::new())),
            Err(e) => Ok((Device::Cpu, format!("WebGPU unavailable ({e}); running on the CPU"))),
        },
        #[cfg(not(feature = "gpu"))]
        BackendChoice::Auto => Ok((Device::Cpu, "this build has no GPU backend; running on the CPU".into())),
    }
}

fn load_data(recipe: &Recipe, csv: Option<&str>) -> Result<Dataset> {
    let data = data::load(&recipe.dataset, recipe.seed, csv)?;
    if data.n_train() == 0 || data.n_test() == 0 {
        bail!("dataset {} has an empty train or test split", data.name);
    }
    Ok(data)
}

/// Every parameter and buffer of a model by name, read back to the host.
type HostState = Vec<(String, Vec<f32>)>;

/// A run in progress.
pub struct Trainer {
    pub recipe: Recipe,
    pub data: Dataset,
    pub device: Device,
    pub backend_note: String,
    pub model: Sequential,
    pub opt: Optimizer,
    train_x: Tensor,
    train_y: Tensor,
    test_x: Tensor,
    /// Completed epochs.
    epoch: u32,
    batch: usize,
    order: Vec<u32>,
    steps: u64,
    epoch_started: f64,
    loss_sum: Option<Tensor>,
    correct_sum: Option<Tensor>,
    window_loss: Option<Tensor>,
    window_batches: usize,
    /// Epochs of the initial training (stage epochs go to the stage reports).
    pub history: Vec<EpochMetrics>,
    phase: Phase,
    /// Completed epochs and steps when the current phase began; whether it is a stage's.
    phase_epoch0: u32,
    phase_step0: u64,
    in_stage: bool,
    /// The loss read back was non-finite: the run ended with an error.
    diverged: bool,
    /// Pruning masks, applied around every optimizer step.
    pub masks: MaskSet,
    /// Initial-training steps at which to keep a copy of the weights (lottery rewind points).
    snapshot_steps: Vec<u64>,
    snapshots: Vec<(u64, Vec<(String, Storage)>)>,
    /// The compression stages; taken out while one of them runs.
    pipeline: Option<Pipeline>,
    /// On the GPU: the model state read back at the last epoch end of the initial training, with
    /// that epoch count, so a lost device can hand the run to the CPU.
    host_state: Option<(u32, HostState)>,
    /// Fake quantization applied around the model's forward (after a quantize or qat stage, or
    /// from a quantized model file).
    pub quant: Option<FakeQuantModel>,
    /// While a distillation stage trains its student: the teacher and the loss that replaces
    /// cross-entropy in [`Trainer::step`].
    pub distill: Option<crate::compress::distill::Objective>,
}

fn shaped(n: usize, per_sample: &[usize]) -> Vec<usize> {
    let mut s = vec![n];
    s.extend_from_slice(per_sample);
    s
}

/// `f` applied to `x` in chunks of [`EVAL_CHUNK`] samples along the first dimension, the results
/// concatenated: an evaluation never holds more activations than the recipe's budget allows for.
pub fn in_chunks(x: &Tensor, f: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    let chunk = EVAL_CHUNK as usize;
    let n = x.shape()[0];
    if n <= chunk {
        return f(x);
    }
    let mut parts = Vec::new();
    for lo in (0..n).step_by(chunk) {
        parts.push(f(&x.narrow(0, lo, chunk.min(n - lo))?)?);
    }
    let refs: Vec<&Tensor> = parts.iter().collect();
    Tensor::concat(&refs, 0)
}

fn labels_f32(y: &[u32]) -> Vec<f32> {
    y.iter().map(|&v| v as f32).collect()
}

fn add_opt(acc: &mut Option<Tensor>, v: Tensor) -> Result<()> {
    *acc = Some(match acc.take() {
        Some(a) => a.add(&v)?,
        None => v,
    });
    Ok(())
}

/// Number of rows whose argmax equals the label, as a one-element tensor (stays on the device).
pub fn count_correct(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let c = logits.dim(-1)?;
    logits.argmax()?.one_hot(c, 1.0, 0.0)?.mul(&labels.one_hot(c, 1.0, 0.0)?)?.sum_all()
}

impl Trainer {
    /// Loads the data, picks the backend, builds the model and optimizer. `csv` is the user's file
    /// for `dataset.name = "csv"`.
    pub async fn new(recipe: Recipe, csv: Option<&str>) -> Result<Trainer> {
        recipe.validate()?;
        let (device, note) = select_device(recipe.backend).await?;
        Self::with_device(recipe, csv, device, note)
    }

    /// As [`Trainer::new`] on a given device.
    pub fn with_device(
        recipe: Recipe,
        csv: Option<&str>,
        device: Device,
        backend_note: String,
    ) -> Result<Trainer> {
        let data = load_data(&recipe, csv)?;
        let model = recipe.build_model(&data.input_shape, data.classes, &device)?;
        Self::assemble(recipe, data, model, device, backend_note)
    }

    /// As [`Trainer::with_device`] with a given model (e.g. one loaded by [`crate::io::model_file`]) in place
    /// of the recipe's fresh one. The model must live on `device` and take the dataset's inputs; the
    /// optimizer, schedule and epoch count start from the beginning.
    pub fn from_model(
        recipe: Recipe,
        csv: Option<&str>,
        model: Sequential,
        device: Device,
        backend_note: String,
    ) -> Result<Trainer> {
        let data = load_data(&recipe, csv)?;
        Self::assemble(recipe, data, model, device, backend_note)
    }

    fn assemble(
        recipe: Recipe,
        data: Dataset,
        model: Sequential,
        device: Device,
        backend_note: String,
    ) -> Result<Trainer> {
        let params = model.parameters().into_iter().map(|(_, t)| t).collect();
        let opt = Optimizer::new(recipe.training.optimizer.clone(), params)?;
        let dev = &device;
        let train_x = Tensor::new(&data.train_x, &shaped(data.n_train(), &data.input_shape), dev)?;
        let test_x = Tensor::new(&data.test_x, &shaped(data.n_test(), &data.input_shape), dev)?;
        let train_y = Tensor::new(&labels_f32(&data.train_y), &[data.n_train()], dev)?;
        let phase = Phase::initial(&recipe);
        let mut t = Trainer {
            recipe,
            data,
            device,
            backend_note,
            model,
            opt,
            train_x,
            train_y,
            test_x,
            epoch: 0,
            batch: 0,
            order: Vec::new(),
            steps: 0,
            epoch_started: 0.0,
            loss_sum: None,
            correct_sum: None,
            window_loss: None,
            window_batches: 0,
            history: Vec::new(),
            phase,
            phase_epoch0: 0,
            phase_step0: 0,
            in_stage: false,
            diverged: false,
            masks: MaskSet::default(),
            snapshot_steps: Vec::new(),
            snapshots: Vec::new(),
            pipeline: None,
            host_state: None,
            distill: None,
            quant: None,
        };
        if !t.recipe.compression.is_empty() {
            let shape = (t.data.input_shape.as_slice(), t.data.classes);
            let p = Pipeline::new(&t.recipe, &t.model, shape, t.batches_per_epoch())?;
            t.snapshot_steps = p.snapshot_steps();
            t.pipeline = Some(p);
            t.take_snapshot()?;
        }
        t.begin_epoch();
        Ok(t)
    }

    /// Sets the learning rate (and, for one-cycle, the momentum) for scheduler step `t` of `total`
    /// of the current phase, scaling the phase's base rate.
    fn apply_schedule(&mut self, t: u32, total: u32) {
        let s = &self.phase.schedule;
        self.opt.set_lr(s.lr_at(self.phase.lr, t, total));
        if let Some(m) = s.momentum_at(t, total) {
            self.opt.set_momentum(m);
        }
    }

    /// Keeps a copy of the weights when the step count is a requested snapshot point.
    fn take_snapshot(&mut self) -> Result<()> {
        if !self.in_stage && self.snapshot_steps.contains(&self.steps) {
            self.snapshots.push((self.steps, crate::compress::prune::capture_state(&self.model)?));
        }
        Ok(())
    }

    /// The weights and buffers as they were after `step` steps of the initial training, if kept.
    pub fn snapshot(&self, step: u64) -> Option<&[(String, Storage)]> {
        self.snapshots.iter().find(|(s, _)| *s == step).map(|(_, v)| v.as_slice())
    }

    /// Starts a stage's training phase (the current phase must be over); masks stay applied.
    pub fn start_phase(&mut self, phase: Phase) {
        // A one-cycle schedule may have moved the momentum: start from the configured one.
        self.opt.config = self.recipe.training.optimizer.clone();
        self.phase = phase;
        self.phase_epoch0 = self.epoch;
        self.phase_step0 = self.steps;
        self.in_stage = true;
        self.begin_epoch();
    }

    /// Puts `model` in place of the current one (a distillation student, a sweep's restored
    /// snapshot): masks are dropped and the optimizer starts afresh on its parameters plus `extra`.
    pub fn replace_model(&mut self, model: Sequential, extra: Vec<Tensor>) -> Result<()> {
        let mut params: Vec<Tensor> = model.parameters().into_iter().map(|(_, t)| t).collect();
        params.extend(extra);
        self.opt = Optimizer::new(self.recipe.training.optimizer.clone(), params)?;
        self.masks.clear();
        self.quant = None;
        self.model = model;
        Ok(())
    }

    /// Whether the current phase has run all its epochs.
    pub fn phase_done(&self) -> bool {
        self.epoch >= self.phase_epoch0.saturating_add(self.phase.epochs)
    }

    /// Optimizer steps taken in the current phase.
    pub fn phase_steps(&self) -> u64 {
        self.steps - self.phase_step0
    }

    /// Whether the recipe's own epochs are done (stages may still be running).
    pub fn training_done(&self) -> bool {
        self.in_stage || self.phase_done()
    }

    /// The training inputs on the device (in dataset order).
    pub fn train_inputs(&self) -> &Tensor {
        &self.train_x
    }

    /// The test inputs on the device.
    pub fn test_inputs(&self) -> &Tensor {
        &self.test_x
    }

    /// Index of the compression stage in progress, if any.
    pub fn current_stage(&self) -> Option<usize> {
        if !self.training_done() {
            return None;
        }
        self.pipeline.as_ref().and_then(|p| p.current())
    }

    pub fn batches_per_epoch(&self) -> usize {
        self.data.n_train().div_ceil(self.recipe.training.batch_size)
    }

    pub fn total_epochs(&self) -> u32 {
        self.recipe.training.epochs
    }

    /// True when the initial training and every compression stage are done.
    pub fn done(&self) -> bool {
        self.training_done() && self.pipeline.as_ref().is_none_or(|p| p.finished())
    }

    /// Optimizer steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    fn begin_epoch(&mut self) {
        let mut order: Vec<u32> = (0..self.data.n_train() as u32).collect();
        // Keyed by the epoch within the phase: two stage phases of the same length (a distilled
        // student and its control trained alone) see the same batches in the same order.
        let stream = if self.in_stage { 5000 } else { 1000 } + (self.epoch - self.phase_epoch0);
        Rng::new(self.recipe.seed, stream).shuffle(&mut order);
        self.order = order;
        self.batch = 0;
        self.loss_sum = None;
        self.correct_sum = None;
        self.epoch_started = now_seconds();
        if self.phase.schedule.interval == Interval::Epoch {
            self.apply_schedule(self.epoch - self.phase_epoch0, self.phase.epochs);
        }
    }

    /// One optimizer step on the next mini-batch (no readback).
    fn train_batch(&mut self) -> Result<()> {
        let bs = self.recipe.training.batch_size;
        let lo = self.batch * bs;
        let hi = (lo + bs).min(self.order.len());
        if self.phase.schedule.interval == Interval::Step {
            let total = (self.batches_per_epoch() as u64).saturating_mul(self.phase.epochs as u64);
            let total = total.min(u32::MAX as u64) as u32;
            self.apply_schedule(self.phase_steps().min(u32::MAX as u64) as u32, total);
        }
        let idx = &self.order[lo..hi];
        let x = self.train_x.index_select(idx)?;
        let y = self.train_y.index_select(idx)?;
        let (logits, loss) = match &self.distill {
            Some(d) => d.forward_loss(&self.model, &x, &y)?,
            None => {
                let logits = self.forward(&x)?;
                let loss = cross_entropy(&logits, &y, self.recipe.training.label_smoothing)?;
                (logits, loss)
            }
        };
        self.opt.zero_grad();
        loss.backward()?;
        self.masks.mask_grads()?;
        self.opt.step()?;
        self.masks.apply()?;
        no_grad(|| -> Result<()> {
            let weighted = loss.detach().scale(idx.len() as f32)?;
            add_opt(&mut self.loss_sum, weighted)?;
            add_opt(&mut self.window_loss, loss.detach())?;
            add_opt(&mut self.correct_sum, count_correct(&logits.detach(), &y)?)
        })?;
        // One submit per step on the GPU (a no-op on the CPU): the step's kernels start while the
        // host encodes the next one, and the pending encoder never pins a whole epoch's buffers.
        self.device.flush();
        self.window_batches += 1;
        self.batch += 1;
        self.steps += 1;
        self.take_snapshot()
    }

    /// Trains up to `max_batches` mini-batches, stopping at the end of an epoch (where it evaluates
    /// on the test split); once the initial epochs are done, runs the compression stages the same
    /// way (`StepInfo.stage` says which, `StepInfo.stage_end` carries each stage's report). Reads the
    /// loss back only when `metrics_every` steps have passed, at the end of an epoch, or when asked
    /// to with `max_batches == 0`.
    pub async fn step(&mut self, max_batches: usize) -> Result<StepInfo> {
        match self.step_on_device(max_batches).await {
            Err(e) if self.device_lost() => {
                let notice = self.fall_back_to_cpu(&e)?;
                let mut info = self.info(None, None);
                info.notice = Some(notice);
                Ok(info)
            }
            r => r,
        }
    }

    fn device_lost(&self) -> bool {
        match &self.device {
            #[cfg(feature = "gpu")]
            Device::Gpu(d) => d.is_lost(),
            _ => false,
        }
    }

    /// Moves a run whose GPU was lost to the CPU: rebuilds the model there from the state read back
    /// at the last epoch end (or from the seed's initialization when none was read yet) and resumes
    /// at that epoch. Stages keep device state of their own (masks, teachers, snapshots), so a loss
    /// during a stage ends the run with a message instead.
    fn fall_back_to_cpu(&mut self, cause: &crate::Error) -> Result<String> {
        if self.in_stage {
            bail!(
                "the GPU was lost during a compression stage ({cause}); run the recipe again with backend cpu"
            );
        }
        let (epoch, state) = self.host_state.take().unwrap_or((0, Vec::new()));
        let model = self.recipe.build_model(&self.data.input_shape, self.data.classes, &Device::Cpu)?;
        for (name, t) in model.state() {
            if let Some((_, v)) = state.iter().find(|(n, _)| *n == name) {
                t.set_storage(Device::Cpu.upload(v)?)?;
            }
        }
        let notice = format!(
            "The GPU was lost during epoch {} ({cause}); continuing on the CPU from the weights of epoch {epoch}.",
            self.epoch + 1
        );
        let history: Vec<EpochMetrics> = self.history.iter().take(epoch as usize).cloned().collect();
        let mut t =
            Self::assemble(self.recipe.clone(), self.data.clone(), model, Device::Cpu, notice.clone())?;
        t.epoch = epoch;
        t.steps = (epoch as u64).saturating_mul(t.batches_per_epoch() as u64);
        t.history = history;
        t.begin_epoch();
        *self = t;
        Ok(notice)
    }

    async fn step_on_device(&mut self, max_batches: usize) -> Result<StepInfo> {
        if !self.training_done() {
            let (loss, end) = self.train(max_batches).await?;
            return Ok(self.info(loss, end));
        }
        let Some(mut p) = self.pipeline.take() else { return Ok(self.info(None, None)) };
        let r = p.step(self, max_batches).await;
        self.pipeline = Some(p);
        let s = r?;
        let mut info = self.info(s.loss, s.epoch_end);
        info.stage = s.stage;
        info.stage_end = s.stage_end;
        Ok(info)
    }

    /// Trains up to `max_batches` mini-batches of the current phase, stopping at the end of an
    /// epoch; returns the loss (when a read was due) and the finished epoch's metrics.
    pub async fn train(&mut self, max_batches: usize) -> Result<(Option<f32>, Option<EpochMetrics>)> {
        if self.phase_done() {
            return Ok((None, None));
        }
        for _ in 0..max_batches {
            self.train_batch()?;
            if self.batch >= self.batches_per_epoch() {
                break;
            }
        }
        let epoch_end = self.batch >= self.batches_per_epoch();
        let due = self.window_batches >= self.recipe.training.metrics_every as usize;
        let loss = if (due || epoch_end || max_batches == 0) && self.window_batches > 0 {
            let w = self.window_loss.take();
            let n = std::mem::take(&mut self.window_batches);
            match w {
                Some(w) => Some(self.check_finite(w.to_vec().await?[0] / n as f32)?),
                None => None,
            }
        } else {
            None
        };
        let end = if epoch_end { Some(self.finish_epoch().await?) } else { None };
        Ok((loss, end))
    }

    /// `loss`, a value just read back, when it is finite; else the error that ends the run: the
    /// training diverged, at this epoch and step of the current phase. On a GPU the weights of the
    /// last finished epoch of the initial training (kept for a device loss) are put back; on the
    /// CPU the model keeps its diverged weights.
    fn check_finite(&mut self, loss: f32) -> Result<f32> {
        if loss.is_finite() {
            return Ok(loss);
        }
        self.diverged = true;
        let epoch = self.epoch - self.phase_epoch0 + 1;
        let step = self.phase_steps();
        let lr = self.phase.lr;
        if self.in_stage {
            bail!(
                "the loss became non-finite ({loss}) at epoch {epoch} step {step} of this stage's training: \
                 the training diverged; try a lower learning rate for this stage (its lr = {lr}: the \
                 stage's `lr`, or training.optimizer.lr when it gives none)"
            );
        }
        let kept = match self.restore_host_state() {
            Ok(true) => format!("; the model keeps the weights of epoch {}", self.host_epoch()),
            _ => String::new(),
        };
        // One-cycle ignores the base rate: its peak is the field to lower.
        let field = match &self.phase.schedule.decay {
            Decay::OneCycle { max_lr, .. } => format!("training.schedule.decay.max_lr = {max_lr}"),
            _ => format!("training.optimizer.lr = {lr}"),
        };
        bail!(
            "the loss became non-finite ({loss}) at epoch {epoch} step {step}: the training diverged; \
             try a lower learning rate ({field}){kept}"
        )
    }

    /// Whether the loss became non-finite (the run then ended with an error).
    pub fn diverged(&self) -> bool {
        self.diverged
    }

    fn host_epoch(&self) -> u32 {
        self.host_state.as_ref().map(|(e, _)| *e).unwrap_or(0)
    }

    /// Puts back the weights read at the last epoch end of the initial training (GPU runs only;
    /// the CPU keeps none). Returns whether it did.
    fn restore_host_state(&self) -> Result<bool> {
        let Some((_, state)) = &self.host_state else { return Ok(false) };
        let model = self.model.state();
        let fits = model.iter().all(|(name, t)| state.iter().any(|(n, v)| n == name && v.len() == t.numel()));
        if !fits {
            return Ok(false);
        }
        for (name, t) in model {
            if let Some((_, v)) = state.iter().find(|(n, _)| *n == name) {
                t.set_storage(self.device.upload(v)?)?;
            }
        }
        Ok(true)
    }

    fn info(&self, loss: Option<f32>, epoch_end: Option<EpochMetrics>) -> StepInfo {
        StepInfo {
            epoch: self.epoch,
            batch: self.batch,
            batches_per_epoch: self.batches_per_epoch(),
            loss,
            epoch_end,
            stage: None,
            stage_end: None,
            done: self.done(),
            notice: None,
        }
    }

    async fn finish_epoch(&mut self) -> Result<EpochMetrics> {
        let n = self.data.n_train() as f32;
        let loss = match self.loss_sum.take() {
            Some(t) => self.check_finite(t.to_vec().await?[0] / n)?,
            None => f32::NAN,
        };
        let correct = match self.correct_sum.take() {
            Some(t) => t.to_vec().await?[0],
            None => 0.0,
        };
        let (test_acc, _) = self.evaluate_test().await?;
        self.epoch += 1;
        let m = EpochMetrics {
            epoch: self.epoch,
            train_loss: loss,
            train_accuracy: correct / n,
            test_accuracy: test_acc,
            lr: self.opt.lr(),
            seconds: now_seconds() - self.epoch_started,
        };
        if !self.in_stage {
            self.history.push(m.clone());
            if !matches!(self.device, Device::Cpu) {
                let mut state = Vec::new();
                for (name, t) in self.model.state() {
                    state.push((name, t.to_vec().await?));
                }
                self.host_state = Some((self.epoch, state));
            }
        }
        if !self.phase_done() {
            self.begin_epoch();
        }
        Ok(m)
    }

    /// The model's forward pass, with its fake quantization when one is installed.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match &self.quant {
            Some(q) => q.forward(&self.model, x),
            None => self.model.forward(x),
        }
    }

    /// Logits for `x` in evaluation mode, in chunks, without the graph.
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        self.model.set_training(false);
        let out = no_grad(|| in_chunks(x, |c| self.forward(c)));
        self.model.set_training(true);
        out
    }

    /// Replaces the training set (inputs and labels, on the host and on the device) and returns
    /// the one it replaces; the next epoch draws its batches from the new one (a distillation's
    /// transfer set).
    pub fn swap_train_set(&mut self, x: Vec<f32>, y: Vec<u32>) -> Result<(Vec<f32>, Vec<u32>)> {
        let n = y.len();
        if n == 0 || x.len() != n * self.data.features() {
            bail!("internal: a training set of {} values for {n} samples", x.len());
        }
        self.train_x = Tensor::new(&x, &shaped(n, &self.data.input_shape), &self.device)?;
        self.train_y = Tensor::new(&labels_f32(&y), &[n], &self.device)?;
        let old_x = std::mem::replace(&mut self.data.train_x, x);
        Ok((old_x, std::mem::replace(&mut self.data.train_y, y)))
    }

    /// Logits of the whole test split (`[n_test, classes]`, evaluation mode).
    pub fn test_logits(&self) -> Result<Tensor> {
        self.logits(&self.test_x)
    }

    /// Test accuracy and predicted classes.
    pub async fn evaluate_test(&self) -> Result<(f32, Vec<u32>)> {
        let logits = self.test_logits()?;
        let pred = logits.argmax()?.to_vec().await?;
        let pred: Vec<u32> = pred.iter().map(|&p| p as u32).collect();
        let correct = pred.iter().zip(&self.data.test_y).filter(|(p, y)| p == y).count();
        Ok((correct as f32 / pred.len().max(1) as f32, pred))
    }

    /// Class probabilities for raw inputs (`n × features`), e.g. a grid for the decision boundary.
    pub async fn predict_proba(&self, inputs: &[f32]) -> Result<Vec<f32>> {
        let f = self.data.features();
        if f == 0 || !inputs.len().is_multiple_of(f) {
            bail!("predict: {} values are not a whole number of {f}-feature samples", inputs.len());
        }
        let x = Tensor::new(inputs, &shaped(inputs.len() / f, &self.data.input_shape), &self.device)?;
        let p = no_grad(|| self.logits(&x)?.softmax(-1))?;
        p.to_vec().await
    }

    /// Trains to the end, calling `on_epoch` after each epoch.
    pub async fn run(&mut self, mut on_epoch: impl FnMut(&EpochMetrics)) -> Result<Report> {
        while !self.done() {
            let info = self.step(usize::MAX).await?;
            if let Some(m) = &info.epoch_end {
                on_epoch(m);
            }
        }
        self.report().await
    }

    /// The report as of now (final metrics evaluated on the test split).
    pub async fn report(&self) -> Result<Report> {
        let (acc, pred) = self.evaluate_test().await?;
        let k = self.data.classes;
        let mut confusion = vec![vec![0u32; k]; k];
        for (&p, &y) in pred.iter().zip(&self.data.test_y) {
            if (y as usize) < k && (p as usize) < k {
                confusion[y as usize][p as usize] += 1;
            }
        }
        let params = self.model.param_count();
        let state: usize = self.model.state().iter().map(|(_, t)| t.numel()).sum();
        Ok(Report {
            recipe: self.recipe.clone(),
            backend: self.device.name().to_string(),
            backend_note: self.backend_note.clone(),
            epochs: self.history.clone(),
            final_metrics: FinalMetrics {
                test_accuracy: acc,
                train_loss: self.history.last().map(|m| m.train_loss).unwrap_or(f32::NAN),
                confusion,
            },
            model: ModelSize { params, bytes: state * 4 },
            stages: self.pipeline.as_ref().map(|p| p.reports.clone()).unwrap_or_default(),
        })
    }
}
