//! Running the `sweep` stage: every grid point from the same starting model (weights and masks
//! restored between points), accuracy and bytes per point, and the accuracy-vs-bytes Pareto front.

use crate::recipe::sweep::{Point, SweepStage};
use crate::run::pipeline::{Advance, Runner, StageCtx, advance_runner, begin, model_stats};
use crate::run::report::{StageDetails, SweepDetails, SweepPoint};
use crate::run::trainer::{Trainer, now_seconds};
use crate::{Result, bail};
use serde_json::{Map, Value};

/// The model and masks a sweep starts from.
struct Snapshot {
    model: crate::nn::Sequential,
    masks: Vec<(String, Vec<f32>)>,
}

impl Snapshot {
    fn take(t: &Trainer) -> Result<Snapshot> {
        let masks = t.masks.iter().map(|(n, m)| (n.to_string(), m.to_vec())).collect();
        Ok(Snapshot { model: t.model.deep_copy()?, masks })
    }

    fn restore(&self, t: &mut Trainer) -> Result<()> {
        t.distill = None;
        t.replace_model(self.model.deep_copy()?, Vec::new())?;
        let params = crate::nn::Module::parameters(&t.model);
        for (name, mask) in &self.masks {
            let Some((_, p)) = params.iter().find(|(n, _)| n == name) else {
                bail!("snapshot mask for {name}")
            };
            t.masks.set(name, p, mask.clone())?;
        }
        Ok(())
    }
}

/// A sweep in progress: one point after another, one inner stage at a time.
pub struct SweepRun {
    cfg: SweepStage,
    points: Vec<Point>,
    start: Snapshot,
    point: usize,
    stage: usize,
    inner: Option<(Box<Runner>, StageCtx)>,
    point_started: f64,
    stage_details: Vec<Value>,
    results: Vec<SweepPoint>,
}

impl SweepRun {
    pub fn begin(cfg: &SweepStage, t: &Trainer, ctx: &StageCtx) -> Result<Self> {
        Ok(SweepRun {
            cfg: cfg.clone(),
            points: cfg.points(&ctx.prefix)?,
            start: Snapshot::take(t)?,
            point: 0,
            stage: 0,
            inner: None,
            point_started: now_seconds(),
            stage_details: Vec::new(),
            results: Vec::new(),
        })
    }

    /// Starts the next stage of the current point, measures a finished point, or (after the last)
    /// restores the snapshot and reports.
    async fn next(&mut self, t: &mut Trainer, ctx: &StageCtx) -> Result<Option<Advance>> {
        let total = self.points.len();
        let Some(point) = self.points.get(self.point) else {
            self.start.restore(t)?;
            return Ok(Some(Advance::finished(StageDetails::Sweep(self.details()))));
        };
        if self.stage == 0 {
            self.start.restore(t)?;
            self.point_started = now_seconds();
        }
        if let Some((prefix, stage)) = point.stages.get(self.stage) {
            let mut inner =
                StageCtx::new(ctx.index, prefix.clone(), ctx.baseline_accuracy, ctx.baseline_bytes);
            let runner = begin(stage, t, &mut inner).await?;
            self.inner = Some((Box::new(runner), inner));
            return Ok(None);
        }
        let (acc, _) = t.evaluate_test().await?;
        let stats = model_stats(&t.model).await?;
        let settings: Map<String, Value> = point.settings.iter().cloned().collect();
        self.results.push(SweepPoint {
            settings,
            test_accuracy: acc,
            accuracy_change: acc - ctx.baseline_accuracy,
            params: stats.params,
            nonzero_params: stats.nonzero_params,
            weight_sparsity: stats.weight_sparsity,
            bytes: stats.bytes.sparse,
            dense_bytes: stats.bytes.dense,
            compression_ratio: ctx.baseline_bytes as f64 / stats.bytes.sparse.max(1) as f64,
            seconds: now_seconds() - self.point_started,
            stages: std::mem::take(&mut self.stage_details),
            pareto: false,
        });
        self.point += 1;
        self.stage = 0;
        Ok(Some(Advance { detail: format!("point {}/{total} measured", self.point), ..Advance::default() }))
    }

    pub async fn advance(&mut self, t: &mut Trainer, budget: usize, ctx: &mut StageCtx) -> Result<Advance> {
        if self.inner.is_none() {
            if let Some(a) = self.next(t, ctx).await? {
                return Ok(a);
            }
        }
        let Some((runner, inner)) = self.inner.as_mut() else { bail!("internal: no sweep stage running") };
        let adv = Box::pin(advance_runner(runner, t, budget, inner)).await?;
        let label = self.points.get(self.point).map(|p| p.label()).unwrap_or_default();
        let kind = self.points.get(self.point).and_then(|p| p.stages.get(self.stage)).map(|s| s.1.kind());
        let detail = format!(
            "point {}/{} ({label}): {} {}",
            self.point + 1,
            self.points.len(),
            kind.unwrap_or(""),
            adv.detail
        );
        if let Some(d) = adv.done {
            self.stage_details.push(d.details_json()?);
            self.inner = None;
            self.stage += 1;
        }
        Ok(Advance { loss: adv.loss, epoch_end: adv.epoch_end, detail, done: None })
    }

    fn details(&mut self) -> SweepDetails {
        let coords: Vec<(f64, usize)> =
            self.results.iter().map(|r| (r.test_accuracy as f64, r.bytes)).collect();
        for (r, on) in self.results.iter_mut().zip(pareto_front(&coords)) {
            r.pareto = on;
        }
        SweepDetails {
            template: self.cfg.stage.clone(),
            grid: self.cfg.grid.clone(),
            then: self.cfg.then.clone(),
            points: std::mem::take(&mut self.results),
            restored: true,
            note: "every point started from the model as it was when the sweep began; the model is restored to it afterwards"
                .to_string(),
        }
    }
}

/// Indices of the points on the Pareto front of (accuracy ↑, bytes ↓): no other point is at least
/// as accurate and at most as large, and strictly better in one of the two.
pub fn pareto_front(points: &[(f64, usize)]) -> Vec<bool> {
    points
        .iter()
        .map(|&(a, b)| !points.iter().any(|&(a2, b2)| a2 >= a && b2 <= b && (a2 > a || b2 < b)))
        .collect()
}
