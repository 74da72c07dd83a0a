//! Running the quantization stages on a trainer: `quantize` installs and calibrates fake
//! quantization (and checks integer inference against it), `qat` trains with it.

use crate::Result;
use crate::compress::int8::IntModel;
use crate::compress::quant::*;
use crate::recipe::quant::{QatStage, QuantizeStage};
use crate::run::pipeline::{Advance, StageCtx, finetune_phase};
use crate::run::report::{QatDetails, QuantPoint, QuantizeDetails, StageDetails};
use crate::run::trainer::Trainer;

/// Installs fake quantization for `c` on the trainer's model and calibrates the input observers
/// on the first `batches` training batches (evaluation mode, no gradients). Qparams of cheap
/// observers are updated after each batch (later batches run through them); the histogram
/// observer's search runs once, after the last batch (its batches run in float, as torch calibrates).
pub async fn install(t: &mut Trainer, c: &QuantConfig, batches: usize) -> Result<()> {
    t.quant = None;
    let fq = FakeQuantModel::new(&t.model, c).await?;
    t.quant = Some(fq);
    if c.activation_bits.is_some() {
        let x = t.train_inputs().clone();
        let bs = t.recipe.training.batch_size.max(1);
        let n = x.shape()[0];
        for b in 0..batches {
            let lo = (b * bs) % n.max(1);
            let len = bs.min(n - lo);
            t.logits(&x.narrow(0, lo, len)?)?;
            if let Some(fq) = &t.quant {
                fq.fold_observers().await?;
            }
        }
    }
    if let Some(fq) = &t.quant {
        fq.refresh_inputs();
        fq.set_observing(false);
    }
    Ok(())
}

/// One sweep point: width, accuracy, bytes and per-layer errors; with int8 weights and activations,
/// `int8_agreement`: the share of test samples where integer inference ([`crate::compress::int8::IntModel`],
/// on the run's device) predicts the fake-quant model's class, and `int8_path`: the integer kernel
/// that ran (`avx2`, `wasm-simd128`, `scalar` on the CPU; `dot4I8Packed` or `unpacked` WGSL on the
/// GPU). Both null when the point has no integer model.
async fn point(t: &Trainer, bits: u32) -> Result<QuantPoint> {
    let (acc, pred) = t.evaluate_test().await?;
    let (bytes, layers) = measure(&t.model, t.quant.as_ref()).await?;
    let (mut agreement, mut path) = (None, None);
    // Integer inference applies to symmetric ≤ 8-bit weights with quantized activations; any other
    // failure to build it is an error, not a null.
    let int8 = t.quant.as_ref().filter(|fq| IntModel::unsupported(&t.model, fq).is_none());
    if let Some(fq) = int8 {
        let im = IntModel::build(&t.model, fq, &t.data.input_shape).await?;
        let int_pred = im.predict_on(&t.device, &t.data.test_x, pred.len()).await?;
        let same = int_pred.iter().zip(&pred).filter(|(a, b)| a == b).count();
        agreement = Some(same as f64 / pred.len().max(1) as f64);
        path = Some(
            match &t.device {
                crate::Device::Cpu => crate::compress::int8::simd_path(),
                #[cfg(feature = "gpu")]
                crate::Device::Gpu(g) => g.int8_path().name(),
            }
            .to_string(),
        );
    }
    Ok(QuantPoint { bits, test_accuracy: acc, bytes, layers, int8_agreement: agreement, int8_path: path })
}

/// Runs a `quantize` stage: one point per bit width; the model keeps the last width's quantization.
pub async fn run_quantize(s: &QuantizeStage, t: &mut Trainer, ctx: &StageCtx) -> Result<StageDetails> {
    let mut points = Vec::new();
    for bits in s.bits.list() {
        install(t, &s.config(bits), s.calibration_batches).await.map_err(|e| ctx.err(e))?;
        points.push(point(t, bits).await?);
    }
    let Some(last) = points.last().cloned() else { return Err(ctx.err("bits: no bit width to quantize to")) };
    Ok(StageDetails::Quantize(QuantizeDetails {
        scheme: s.scheme,
        granularity: s.granularity,
        activations: s.activations,
        observer: s.observer,
        bits: last.bits,
        quant_bytes: last.bytes,
        int8_agreement: last.int8_agreement,
        int8_path: last.int8_path.clone(),
        layers: last.layers.clone(),
        points,
    }))
}

/// A running `qat` stage.
pub struct QatRun {
    stage: QatStage,
    ptq: QuantPoint,
    steps: u64,
}

impl QatRun {
    /// Installs and calibrates the quantizers, records the PTQ point, starts training.
    pub async fn begin(s: &QatStage, t: &mut Trainer, ctx: &StageCtx) -> Result<QatRun> {
        install(t, &s.config(), s.calibration_batches).await.map_err(|e| ctx.err(e))?;
        let ptq = point(t, s.bits).await?;
        if let Some(fq) = &t.quant {
            fq.set_observing(s.freeze_observers_after != Some(0));
        }
        t.start_phase(finetune_phase(&s.train, t));
        Ok(QatRun { stage: s.clone(), ptq, steps: 0 })
    }

    /// Up to `budget` steps, updating the quantizers after each.
    pub async fn advance(&mut self, t: &mut Trainer, budget: usize, ctx: &mut StageCtx) -> Result<Advance> {
        let mut adv = Advance::default();
        for _ in 0..budget.max(1) {
            if t.phase_done() {
                break;
            }
            let a = ctx.train(t, 1).await?;
            adv.loss = a.loss.or(adv.loss);
            adv.epoch_end = a.epoch_end.or(adv.epoch_end);
            self.steps += 1;
            let frozen = self.stage.freeze_observers_after.is_some_and(|k| self.steps >= k);
            if let Some(fq) = &t.quant {
                if !frozen {
                    fq.refresh_weights(&t.model).await?;
                    fq.update_observers().await?;
                } else {
                    fq.set_observing(false);
                }
            }
            if adv.epoch_end.is_some() {
                break;
            }
        }
        adv.detail = format!("step {}", self.steps);
        if t.phase_done() {
            if let Some(fq) = &t.quant {
                fq.set_observing(false);
            }
            let qat = point(t, self.stage.bits).await?;
            let gain = qat.test_accuracy as f64 - self.ptq.test_accuracy as f64;
            adv.done = Some(StageDetails::Qat(QatDetails {
                bits: self.stage.bits,
                scheme: self.stage.scheme,
                granularity: self.stage.granularity,
                steps: self.steps,
                ptq_accuracy: self.ptq.test_accuracy,
                qat_accuracy: qat.test_accuracy,
                qat_gain: gain,
                quant_bytes: qat.bytes,
                layers: qat.layers,
                ptq: self.ptq.clone(),
            }));
        }
        Ok(adv)
    }
}
