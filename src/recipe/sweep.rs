//! The `sweep` stage config: one stage template run over a grid of settings (e.g. pruning amount ×
//! finetune epochs, temperature × α), every point from the same starting model. Grid values are
//! substituted into the template's JSON and then parsed and validated as any stage, so every stage
//! kind can be swept.

use crate::core::error::{cap_quoted, clip};
use crate::recipe::Stage;
use crate::recipe::stages::{PlanEnv, PlanState, check_stages};
use crate::{Error, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
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

impl SweepStage {
    /// The point with value index `at[k]` for the k-th grid key.
    fn point(&self, p: &str, at: &[usize]) -> Result<Point> {
        let mut root = json!({ "stage": self.stage, "then": self.then });
        let mut settings = Vec::new();
        for ((key, values), &i) in self.grid.iter().zip(at) {
            let path = if key.starts_with("then[") { key.clone() } else { format!("stage.{key}") };
            let v = values.get(i).cloned().unwrap_or(Value::Null);
            set_path(&mut root, &path, v.clone()).map_err(|e| {
                Error(format!("{p}.grid.{}: {}", clip(key, 60), cap_quoted(&e.to_string(), 200)))
            })?;
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

    /// Number of points (the product of the value-list lengths; `usize::MAX` when that overflows,
    /// which [`Self::validate`] refuses).
    pub fn len(&self) -> usize {
        self.grid.values().try_fold(1usize, |acc, v| acc.checked_mul(v.len())).unwrap_or(usize::MAX)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every point, in order.
    pub fn points(&self, p: &str) -> Result<Vec<Point>> {
        let n = self.len();
        if n > MAX_POINTS {
            bail!(
                "{p}.grid has {}{n} points: at most {MAX_POINTS}",
                if n == usize::MAX { "more than " } else { "" }
            );
        }
        let sizes: Vec<usize> = self.grid.values().map(|v| v.len()).collect();
        (0..n)
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
                bail!("{p}.grid.{}: the list of values is empty", clip(k, 60));
            }
        }
        let n = self.len();
        if n > MAX_POINTS {
            bail!(
                "{p}.grid has {}{n} points: at most {MAX_POINTS}",
                if n == usize::MAX { "more than " } else { "" }
            );
        }
        for (k, (key, values)) in self.grid.iter().enumerate() {
            for (j, v) in values.iter().enumerate() {
                let mut at = vec![0; self.grid.len()];
                at[k] = j;
                self.point(p, &at).map_err(|e| {
                    let (key, v) = (clip(key, 60), clip(&v.to_string(), 60));
                    Error(format!("{p}.grid.{key}[{j}] = {v}: {}", cap_quoted(&e.to_string(), 200)))
                })?;
            }
        }
        self.points(p).map(|_| ())
    }

    /// Checks every point's stages against the model the sweep starts from.
    /// `state`: what the stages before the sweep did; each point starts from it, without
    /// quantizers (the sweep's restored model has none).
    pub fn check(&self, p: &str, env: &PlanEnv, state: &PlanState) -> Result<()> {
        for point in self.points(p)? {
            let mut st = PlanState { removed_before: state.removed_before, per_channel_quant: None };
            check_stages(&point.stages, env, &mut st)
                .map_err(|e| Error(format!("{p}: grid point ({}): {e}", point.label())))?;
        }
        Ok(())
    }
}
