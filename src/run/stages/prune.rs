//! Running the pruning stages on a trainer: one-shot magnitude, N:M and structured pruning (with
//! physical removal), and the multi-call gradual (AGP), iterative, lottery-ticket and sensitivity
//! stages. The mask math is `compress::prune`'s; the configs are `recipe::prune`'s.

use crate::compress::prune::*;
use crate::core::backend::Storage;
use crate::core::tensor::Tensor;
use crate::nn::{Activation, BatchNorm, Layer, Module, Sequential};
use crate::recipe::prune::*;
use crate::run::pipeline::{Advance, StageCtx, finetune_phase};
use crate::run::report::*;
use crate::run::trainer::{Trainer, now_seconds};
use crate::{Result, bail};
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

/// One magnitude-pruning step on the chosen weights (`compress::prune::magnitude_masks`): their
/// masks are read, grown and set back on the trainer.
pub async fn prune_magnitude(
    t: &mut Trainer,
    ws: &[PrunableWeight],
    scope: Scope,
    target: Target,
) -> Result<()> {
    let (ps, vs, ms) = read_weights(t, ws).await?;
    let masks = magnitude_masks(&vs, &ms, scope, target)?;
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

fn names(ws: &[PrunableWeight]) -> Vec<String> {
    ws.iter().map(|w| w.name.clone()).collect()
}

// ---------------------------------------------------------------------------------------------
// Execution: the one-shot stages
// ---------------------------------------------------------------------------------------------

/// Runs a magnitude stage; returns its details for the report.
pub async fn run_magnitude(s: &MagnitudeStage, t: &mut Trainer, ctx: &StageCtx) -> Result<StageDetails> {
    let ws =
        resolve_layers(&t.model, s.layers.as_deref(), DefaultLayers::All, &format!("{}.layers", ctx.prefix))?;
    prune_magnitude(t, &ws, s.scope, Target::Amount(s.amount)).await.map_err(|e| ctx.err(e))?;
    Ok(StageDetails::Magnitude(MagnitudeDetails { scope: s.scope, amount: s.amount, layers: names(&ws) }))
}

/// Runs an N:M stage; the details count the groups of `m` and how many have ≥ `m − n` zeros.
pub async fn run_n_m(s: &NmStage, t: &mut Trainer, ctx: &StageCtx) -> Result<StageDetails> {
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
    Ok(StageDetails::NM(NmDetails { n: s.n, m: s.m, layers: names(&ws) }))
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
pub async fn run_structured(s: &StructuredStage, t: &mut Trainer, ctx: &StageCtx) -> Result<StageDetails> {
    let ws = resolve_layers(&t.model, s.layers.as_deref(), s.defaults(), &format!("{}.layers", ctx.prefix))?;
    let (ps, vs, ms) = read_weights(t, &ws).await?;
    let mut details =
        StructuredDetails { amount: s.amount, norm: s.norm, dim: s.dim, layers: names(&ws), removal: None };
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
        details.removal = Some(remove_dead(t, &ws).await.map_err(|e| ctx.err(e))?);
    }
    Ok(StageDetails::Structured(details))
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
async fn remove_dead(t: &mut Trainer, ws: &[PrunableWeight]) -> Result<RemovalDetails> {
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
        removed.push(RemovedLayer {
            layer: w.name.clone(),
            channels_before: channels,
            channels_after: keep.len(),
        });
    }
    // The optimizer follows the new tensors (its momentum starts afresh).
    let lr = t.opt.lr();
    let params = t.model.parameters().into_iter().map(|(_, p)| p).collect();
    t.opt = crate::nn::optim::Optimizer::new(t.opt.config.clone(), params)?;
    t.opt.set_lr(lr);
    let logits_after = t.logits(t.test_inputs())?.to_vec().await?;
    let max_change = logits_before.iter().zip(&logits_after).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    let time_after = time_inference(t, 5).await?;
    Ok(RemovalDetails {
        layers: removed,
        params_before,
        params_after: t.model.param_count(),
        inference_seconds_before: time_before,
        inference_seconds_after: time_after,
        speedup: time_before / time_after.max(1e-9),
        max_logit_change: max_change,
    })
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
    log: Vec<GradualEvent>,
}

impl GradualRun {
    pub fn begin(cfg: &GradualStage, t: &mut Trainer, ctx: &StageCtx) -> Result<Self> {
        let ws = resolve_layers(
            &t.model,
            cfg.layers.as_deref(),
            DefaultLayers::All,
            &format!("{}.layers", ctx.prefix),
        )?;
        t.start_phase(finetune_phase(&cfg.train, t));
        Ok(GradualRun { cfg: cfg.clone(), ws, events: cfg.events(), next: 0, log: Vec::new() })
    }

    async fn prune_due(&mut self, t: &mut Trainer) -> Result<()> {
        while self.next < self.events.len() && self.events[self.next] <= t.phase_steps() {
            let k = self.next as u32;
            let target =
                agp_sparsity(self.cfg.initial_sparsity, self.cfg.final_sparsity, k, self.cfg.prunings);
            prune_magnitude(t, &self.ws, self.cfg.scope, Target::Sparsity(target)).await?;
            let (per, global) = mask_sparsity(t, &self.ws);
            let step = self.events[self.next];
            self.log.push(GradualEvent { step, target, sparsity: global, layers: per });
            self.next += 1;
        }
        Ok(())
    }

    pub async fn advance(&mut self, t: &mut Trainer, budget: usize, ctx: &mut StageCtx) -> Result<Advance> {
        self.prune_due(t).await?;
        let mut adv = Advance::default();
        if !t.phase_done() {
            let until = self
                .events
                .get(self.next)
                .map(|&e| usize::try_from(e.saturating_sub(t.phase_steps())).unwrap_or(usize::MAX))
                .unwrap_or(usize::MAX);
            adv = ctx.train(t, budget.min(until)).await?;
            self.prune_due(t).await?;
        }
        if t.phase_done() && self.next < self.events.len() {
            // The plan check keeps every event within the stage's steps; never wait for one past it.
            bail!(
                "{}: pruning step {} at stage step {} is past the stage's {} steps",
                ctx.prefix,
                self.next,
                self.events[self.next],
                t.phase_steps()
            );
        }
        adv.detail = format!("pruning step {}/{}", self.next, self.events.len());
        if t.phase_done() && self.next == self.events.len() {
            adv.done = Some(StageDetails::Gradual(GradualDetails {
                initial_sparsity: self.cfg.initial_sparsity,
                final_sparsity: self.cfg.final_sparsity,
                start_step: self.cfg.start_step,
                frequency: self.cfg.frequency,
                prunings: self.cfg.prunings,
                scope: self.cfg.scope,
                layers: names(&self.ws),
                schedule: std::mem::take(&mut self.log),
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
    log: Vec<IterativeCycle>,
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
                self.log.push(IterativeCycle { cycle: self.cycle, sparsity, test_accuracy: acc });
            }
            if self.cycle == self.cfg.cycles {
                return Ok(Advance::finished(StageDetails::Iterative(IterativeDetails {
                    sparsity: self.cfg.sparsity,
                    cycles: self.cfg.cycles,
                    scope: self.cfg.scope,
                    layers: names(&self.ws),
                    log: std::mem::take(&mut self.log),
                })));
            }
            self.cycle += 1;
            let target = cycle_sparsity(self.cfg.sparsity, self.cycle, self.cfg.cycles);
            prune_magnitude(t, &self.ws, self.cfg.scope, Target::Sparsity(target)).await?;
            t.start_phase(finetune_phase(&self.cfg.finetune, t));
        }
        let mut adv = ctx.train(t, budget).await?;
        adv.detail = format!("cycle {}/{}", self.cycle, self.cfg.cycles);
        Ok(adv)
    }
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
    rounds: Vec<LotteryRound>,
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
            Some(f) => finetune_phase(f, t),
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
                    self.rounds.push(LotteryRound {
                        round: r,
                        sparsity: mask_sparsity(t, &self.ws).1,
                        test_accuracy: acc,
                    });
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
                    let target = Target::Sparsity(cycle_sparsity(self.cfg.sparsity, r, self.cfg.rounds));
                    prune_magnitude(t, &self.ws, self.cfg.scope, target).await?;
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
                    return Ok(Advance::finished(StageDetails::Lottery(LotteryDetails {
                        sparsity: self.cfg.sparsity,
                        rounds: std::mem::take(&mut self.rounds),
                        rewind_step: self.cfg.rewind_step,
                        scope: self.cfg.scope,
                        layers: names(&self.ws),
                        dense_accuracy: ctx.baseline_accuracy,
                        ticket_accuracy: self.ticket_accuracy,
                        control_accuracy: self.control_accuracy,
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
            adv.done = Some(StageDetails::Sensitivity(SensitivityDetails {
                layers: names(&self.ws),
                sparsities: self.cfg.sparsities.clone(),
                accuracy: std::mem::take(&mut self.accuracy),
            }));
        }
        Ok(adv)
    }
}
