//! The Session API: a run created from a recipe steps to the end and reports; the explorer applies
//! a compression setting to a snapshot without retraining and measures what the recipe's own stage
//! measures for the same setting.

use minnow::compress::prune::Scope;
use minnow::compress::quant::{Granularity, Scheme};
use minnow::recipe::{BackendChoice, Recipe};
use minnow::run::report::StageDetails;
use minnow::run::session::{ExploreSetting, Session};
use serde_json::json;

fn spiral(compression: serde_json::Value) -> Recipe {
    let mut r = serde_json::to_value(minnow::recipe::preset("spiral-mlp").unwrap()).unwrap();
    r["training"]["epochs"] = json!(20);
    r["compression"] = compression;
    let mut r: Recipe = serde_json::from_value(r).unwrap();
    r.backend = BackendChoice::Cpu;
    r
}

fn trained(r: Recipe) -> Session {
    let mut s = pollster::block_on(Session::new(r, None)).unwrap();
    while !s.done() {
        pollster::block_on(s.step(1000)).unwrap();
    }
    s
}

fn setting(sparsity: f64, method: Scope, bits: Option<u32>) -> ExploreSetting {
    ExploreSetting { sparsity, method, bits, scheme: Scheme::Symmetric, granularity: Granularity::PerChannel }
}

#[test]
fn explore_matches_the_magnitude_stage_and_leaves_the_run_alone() {
    // The recipe's own stage: global magnitude pruning of 90 % of the (dense) weights.
    let staged = trained(spiral(json!([{"kind": "magnitude", "amount": 0.9, "scope": "global"}])));
    let report = pollster::block_on(staged.report()).unwrap();
    let stage = &report.stages[0];
    assert!(matches!(stage.outcome, StageDetails::Magnitude(_)));

    // The same run without stages, explored at the same setting.
    let dense = trained(spiral(json!([])));
    let before = pollster::block_on(dense.test_accuracy()).unwrap();
    let snap = dense.snapshot().unwrap();
    let same = pollster::block_on(dense.explore(&snap, &setting(0.0, Scope::Layer, None))).unwrap();
    assert_eq!(same.test_accuracy, before, "no compression must give the model's own accuracy");
    assert_eq!(same.bytes, same.dense_bytes);

    let pruned = pollster::block_on(dense.explore(&snap, &setting(0.9, Scope::Global, None))).unwrap();
    assert_eq!(pruned.test_accuracy, stage.test_accuracy, "explorer and magnitude stage disagree");
    assert_eq!(pruned.bytes, stage.stats.bytes.sparse);
    assert!((pruned.sparsity - stage.stats.weight_sparsity).abs() < 1e-12);
    assert!(pruned.ratio > 1.0);

    // Quantizing on top shrinks the honest size further; the run itself is unchanged.
    let q = pollster::block_on(dense.explore(&snap, &setting(0.9, Scope::Global, Some(4)))).unwrap();
    assert!(q.bytes < pruned.bytes, "{} !< {}", q.bytes, pruned.bytes);
    assert_eq!(pollster::block_on(dense.test_accuracy()).unwrap(), before);
}

#[test]
fn explore_settings_are_checked() {
    let s = trained(spiral(json!([])));
    let snap = s.snapshot().unwrap();
    let err = pollster::block_on(s.explore(&snap, &setting(1.0, Scope::Layer, None))).unwrap_err();
    assert!(err.to_string().contains("sparsity = 1"), "{err}");
    let err = pollster::block_on(s.explore(&snap, &setting(0.5, Scope::Layer, Some(1)))).unwrap_err();
    assert!(err.to_string().contains("bits = 1"), "{err}");
    let bad: Result<ExploreSetting, _> = serde_json::from_value(json!({"sparsity": 0.5, "bitz": 4}));
    assert!(bad.unwrap_err().to_string().contains("bitz"));
}

#[test]
fn explore_gives_the_compressed_models_grid_and_confusion() {
    let s = trained(spiral(json!([])));
    let snap = s.snapshot().unwrap();
    let (same, grid) =
        pollster::block_on(s.explore_with_grid(&snap, &setting(0.0, Scope::Layer, None), Some(16))).unwrap();
    // No compression: the model's own decision grid, bit for bit, and a confusion matrix that adds
    // up to the test split with the model's accuracy on its diagonal.
    assert_eq!(grid.unwrap(), pollster::block_on(s.decision_grid(16)).unwrap());
    let n: u32 = same.confusion.iter().flatten().sum();
    assert_eq!(n as usize, s.dataset().n_test());
    let diag: u32 = (0..same.confusion.len()).map(|k| same.confusion[k][k]).sum();
    assert_eq!(diag as f32 / n as f32, same.test_accuracy);
    // Heavy pruning moves the boundary.
    let (pruned, grid) =
        pollster::block_on(s.explore_with_grid(&snap, &setting(0.97, Scope::Global, Some(2)), Some(16)))
            .unwrap();
    let grid = grid.unwrap();
    assert_eq!(grid.len(), 16 * 16 * 2);
    assert_ne!(grid, pollster::block_on(s.decision_grid(16)).unwrap());
    assert!(pruned.test_accuracy <= same.test_accuracy);
}
