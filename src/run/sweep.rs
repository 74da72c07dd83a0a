//! The `sweep` stage: one stage template run over a grid of settings (e.g. pruning amount ×
//! finetune epochs, temperature × α), every point from the same starting model, reporting accuracy
//! and bytes per point with the accuracy-vs-bytes Pareto front. Grid values are substituted into the
//! template's JSON and then parsed and validated as any stage, so every stage kind can be swept.

use crate::recipe::Stage;
use crate::run::pipeline::{
    Advance, PlanEnv, Runner, StageCtx, advance_runner, begin, check_stages, model_stats,
};
use crate::run::trainer::{Trainer, now_seconds};
use crate::{Error, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Most points of one sweep.
pub const MAX_POINTS: usize = 64;
/// Most stages run after each point's template.
pub const MAX_THEN: usize = 8;

/// `{"kind": "sweep", "stage": {"kind": "magnitude", "scope": "global"},
///   "grid": {"amount": [0.5, 0.8, 0.9], "then[0].epochs": [1, 3]},
///   "then": [{"kind": "finetune", "epochs": 1}]}`.
/// Grid keys are field paths: `amount` or `train.epochs` address the template, `then[j].field` a
/// stage of `then`. The points are the Cartesian product of the value lists (keys in sorted order,
/// the first outermost). Each point restores the model (and masks) as they were when the sweep
/// started, runs the template and then `then`, and is measured; after the last point the model is
/// restored once more, so the sweep leaves it unchanged (the optimizer state starts afresh).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepStage {
    /// The stage template, as JSON (it may leave out the fields the grid supplies).
    pub stage: Value,
    pub grid: BTreeMap<String, Vec<Value>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub then: Vec<Value>,
}

/// One setting of the grid, expanded into the stages it runs (with their field paths).
#[derive(Debug, Clone)]
pub struct Point {
    pub settings: Vec<(String, Value)>,
    pub stages: Vec<(String, Stage)>,
}

impl Point {
    /// `amount=0.8, then[0].epochs=2`.
    pub fn label(&self) -> String {
        self.settings.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
    }
}

/// Sets `root[path] = value`, where `path` is `a.b[2].c`; missing object keys are created,
/// array indices must exist.
fn set_path(root: &mut Value, path: &str, value: Value) -> std::result::Result<(), String> {
    let mut cur = root;
    for seg in path.split('.') {
        let (name, rest) = seg.split_once('[').unwrap_or((seg, ""));
        if name.is_empty() {
            return Err(format!("`{path}` has an empty field name"));
        }
        let Value::Object(m) = cur else { return Err(format!("`{path}`: `{name}` is not inside an object")) };
        cur = m.entry(name.to_string()).or_insert(Value::Null);
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            let i: usize = idx
                .strip_suffix(']')
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("`{path}`: bad index `[{idx}`"))?;
            let Value::Array(a) = cur else { return Err(format!("`{path}`: `{name}` is not a list")) };
            let len = a.len();
            cur = a.get_mut(i).ok_or_else(|| format!("`{path}`: `{name}` has {len} entries"))?;
        }
    }
    *cur = value;
    Ok(())
}

/// Parses and validates one stage of a sweep point; `p` is its field path.
fn parse_stage(v: Value, p: &str) -> Result<Stage> {
    let s: Stage = serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        if path == "." || path.is_empty() {
            Error(format!("{p}: {}", e.into_inner()))
        } else {
            Error(format!("{p}.{path}: {}", e.into_inner()))
        }
    })?;
    if matches!(s, Stage::Sweep(_)) {
        bail!("{p}: a sweep cannot contain a sweep");
    }
    s.validate(p)?;
    Ok(s)
}

/// Indices of the points on the Pareto front of (accuracy ↑, bytes ↓): no other point is at least
/// as accurate and at most as large, and strictly better in one of the two.
pub fn pareto_front(points: &[(f64, usize)]) -> Vec<bool> {
    points
        .iter()
        .map(|&(a, b)| !points.iter().any(|&(a2, b2)| a2 >= a && b2 <= b && (a2 > a || b2 < b)))
        .collect()
}

impl SweepStage {
    /// The point with value index `at[k]` for the k-th grid key.
    fn point(&self, p: &str, at: &[usize]) -> Result<Point> {
        let mut root = json!({ "stage": self.stage, "then": self.then });
        let mut settings = Vec::new();
        for ((key, values), &i) in self.grid.iter().zip(at) {
            let path = if key.starts_with("then[") { key.clone() } else { format!("stage.{key}") };
            let v = values.get(i).cloned().unwrap_or(Value::Null);
            set_path(&mut root, &path, v.clone()).map_err(|e| Error(format!("{p}.grid.{key}: {e}")))?;
            settings.push((key.clone(), v));
        }
        let Value::Object(mut m) = root else { bail!("internal: sweep root") };
        let template = m.remove("stage").unwrap_or(Value::Null);
        let mut stages = vec![(format!("{p}.stage"), parse_stage(template, &format!("{p}.stage"))?)];
        if let Some(Value::Array(then)) = m.remove("then") {
            for (j, s) in then.into_iter().enumerate() {
                let q = format!("{p}.then[{j}]");
                stages.push((q.clone(), parse_stage(s, &q)?));
            }
        }
        Ok(Point { settings, stages })
    }

    /// Number of points (the product of the value-list lengths).
    pub fn len(&self) -> usize {
        self.grid.values().map(|v| v.len()).product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every point, in order.
    pub fn points(&self, p: &str) -> Result<Vec<Point>> {
        let sizes: Vec<usize> = self.grid.values().map(|v| v.len()).collect();
        (0..self.len())
            .map(|mut n| {
                let mut at = vec![0; sizes.len()];
                for k in (0..sizes.len()).rev() {
                    at[k] = n % sizes[k];
                    n /= sizes[k];
                }
                self.point(p, &at).map_err(|e| {
                    let label: Vec<String> =
                        self.grid.iter().zip(&at).map(|((k, v), &i)| format!("{k}={}", v[i])).collect();
                    Error(format!("{p}: grid point ({}): {e}", label.join(", ")))
                })
            })
            .collect()
    }

    /// Shape checks, then each grid value on its own (errors name it: `compression[0].grid.amount[2]`),
    /// then every combination.
    pub fn validate(&self, p: &str) -> Result<()> {
        if !self.stage.is_object() {
            bail!("{p}.stage: must be a stage object with a `kind`");
        }
        if self.grid.is_empty() {
            bail!("{p}.grid: give at least one field and its values");
        }
        if self.then.len() > MAX_THEN {
            bail!("{p}.then has {} stages: at most {MAX_THEN}", self.then.len());
        }
        for (k, v) in &self.grid {
            if v.is_empty() {
                bail!("{p}.grid.{k}: the list of values is empty");
            }
        }
        let n = self.grid.values().try_fold(1usize, |acc, v| acc.checked_mul(v.len())).unwrap_or(usize::MAX);
        if n > MAX_POINTS {
            bail!("{p}.grid has {n} points: at most {MAX_POINTS}");
        }
        for (k, (key, values)) in self.grid.iter().enumerate() {
            for (j, v) in values.iter().enumerate() {
                let mut at = vec![0; self.grid.len()];
                at[k] = j;
                self.point(p, &at).map_err(|e| Error(format!("{p}.grid.{key}[{j}] = {v}: {e}")))?;
            }
        }
        self.points(p).map(|_| ())
    }

    /// Checks every point's stages against the model the sweep starts from.
    pub fn check(&self, p: &str, env: &PlanEnv, removed_before: bool) -> Result<()> {
        for point in self.points(p)? {
            let mut removed = removed_before;
            check_stages(&point.stages, env, &mut removed)
                .map_err(|e| Error(format!("{p}: grid point ({}): {e}", point.label())))?;
        }
        Ok(())
    }
}

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
    results: Vec<Value>,
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
            return Ok(Some(Advance::finished(self.details())));
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
        self.results.push(json!({
            "settings": settings,
            "test_accuracy": acc,
            "accuracy_change": acc - ctx.baseline_accuracy,
            "params": stats.params,
            "nonzero_params": stats.nonzero_params,
            "weight_sparsity": stats.weight_sparsity,
            "bytes": stats.bytes.sparse,
            "dense_bytes": stats.bytes.dense,
            "compression_ratio": ctx.baseline_bytes as f64 / stats.bytes.sparse.max(1) as f64,
            "seconds": now_seconds() - self.point_started,
            "stages": std::mem::take(&mut self.stage_details),
        }));
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
            self.stage_details.push(d);
            self.inner = None;
            self.stage += 1;
        }
        Ok(Advance { loss: adv.loss, epoch_end: adv.epoch_end, detail, done: None })
    }

    fn details(&mut self) -> Value {
        let coords: Vec<(f64, usize)> = self
            .results
            .iter()
            .map(|r| (r["test_accuracy"].as_f64().unwrap_or(0.0), r["bytes"].as_u64().unwrap_or(0) as usize))
            .collect();
        for (r, on) in self.results.iter_mut().zip(pareto_front(&coords)) {
            r["pareto"] = Value::Bool(on);
        }
        json!({
            "template": self.cfg.stage,
            "grid": self.cfg.grid,
            "then": self.cfg.then,
            "points": std::mem::take(&mut self.results),
            "restored": true,
            "note": "every point started from the model as it was when the sweep began; the model is restored to it afterwards",
        })
    }
}
