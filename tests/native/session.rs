//! The Session API: a run created from a recipe steps to the end and reports; the explorer applies
//! a compression setting to a snapshot without retraining and measures what the recipe's own stage
//! measures for the same setting, starting from the run's final (quantized) model; 2-D runs keep a
//! decision grid per stage; GPU and CPU agree on a batch.

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
    let e =
        pollster::block_on(s.explore_with(&snap, &setting(0.0, Scope::Layer, None), Some(16), &[])).unwrap();
    let (same, grid) = (e.result, e.grid);
    // No compression: the model's own decision grid, bit for bit, and a confusion matrix that adds
    // up to the test split with the model's accuracy on its diagonal.
    assert_eq!(grid.unwrap(), pollster::block_on(s.decision_grid(16)).unwrap());
    let n: u32 = same.confusion.iter().flatten().sum();
    assert_eq!(n as usize, s.dataset().n_test());
    let diag: u32 = (0..same.confusion.len()).map(|k| same.confusion[k][k]).sum();
    assert_eq!(diag as f32 / n as f32, same.test_accuracy);
    // Heavy pruning moves the boundary.
    let e = pollster::block_on(s.explore_with(&snap, &setting(0.97, Scope::Global, Some(2)), Some(16), &[]))
        .unwrap();
    let (pruned, grid) = (e.result, e.grid);
    let grid = grid.unwrap();
    assert_eq!(grid.len(), 16 * 16 * 2);
    assert_ne!(grid, pollster::block_on(s.decision_grid(16)).unwrap());
    assert!(pruned.test_accuracy <= same.test_accuracy);
}

/// The explorer's weights: pruned entries are zero and marked in the mask, the sparsity is the
/// setting's, a quantized weight takes only its grid's levels (per channel, `(q − z)·s`), and a
/// name that is not a weight is refused.
#[test]
fn explore_returns_the_weights_as_the_setting_leaves_them() {
    let s = trained(spiral(json!([])));
    let snap = s.snapshot().unwrap();
    let names: Vec<String> = s.layers().into_iter().map(|l| l.name).collect();
    let e = pollster::block_on(s.explore_with(&snap, &setting(0.5, Scope::Layer, Some(3)), None, &names))
        .unwrap();
    assert_eq!(e.weights.len(), names.len());
    for w in &e.weights {
        let mask = w.mask.as_ref().unwrap();
        assert_eq!(mask.len(), w.values.len());
        let pruned = mask.iter().filter(|&&m| m == 0.0).count();
        assert_eq!(
            pruned,
            (0.5 * w.values.len() as f64).round() as usize,
            "{}: per layer, half pruned",
            w.info.name
        );
        assert!(
            w.values.iter().zip(mask).all(|(v, m)| *m == 1.0 || *v == 0.0),
            "{}: pruned entries are 0",
            w.info.name
        );
        let g = w.quant.as_ref().unwrap();
        assert_eq!((g.bits, g.qmin, g.qmax), (3, -4, 3));
        let rows = g.scale.len();
        assert_eq!(rows, w.info.shape[0], "per channel: one scale per output unit");
        let per = w.values.len() / rows;
        for (i, &v) in w.values.iter().enumerate() {
            let (sc, z) = (g.scale[i / per], g.zero_point[i / per] as f32);
            let q = v / sc + z;
            assert!(
                (q - q.round()).abs() < 1e-3 && (-4.0..=3.0).contains(&q.round()),
                "{}[{i}] = {v} is off the grid",
                w.info.name
            );
        }
    }
    // Float weights: the trained values where kept, no grid.
    let plain =
        pollster::block_on(s.explore_with(&snap, &setting(0.0, Scope::Layer, None), None, &names[..1]))
            .unwrap();
    let trained = pollster::block_on(s.weights(&names[0])).unwrap();
    assert_eq!(plain.weights[0].values, trained.values);
    assert!(plain.weights[0].quant.is_none());
    let err = pollster::block_on(s.explore_with(
        &snap,
        &setting(0.0, Scope::Layer, None),
        None,
        &["nope".to_string()],
    ))
    .err()
    .unwrap();
    assert!(err.to_string().contains("no linear or conv weight named nope"), "{err}");
}

fn with_epochs(preset: &str, epochs: u32, backend: BackendChoice) -> Recipe {
    let mut r = serde_json::to_value(minnow::recipe::preset(preset).unwrap()).unwrap();
    r["training"]["epochs"] = json!(epochs);
    r["training"]["schedule"]["decay"]["t_max"] = json!(epochs);
    let mut r: Recipe = serde_json::from_value(r).unwrap();
    r.backend = backend;
    r
}

#[test]
fn explore_starts_from_the_final_quantized_model() {
    // digits-quant ends 2-bit (the last width of its sweep): the explorer's neutral setting must
    // measure that model, not the float weights under it.
    let s = trained(with_epochs("digits-quant", 4, BackendChoice::Cpu));
    let report = pollster::block_on(s.report()).unwrap();
    let last = report.stages.last().unwrap();
    let quant_bytes = last.stats.bytes.quantized.expect("a quantize stage reports packed bytes");
    let snap = s.snapshot().unwrap();
    let baseline = snap.quant_summary().expect("the snapshot carries the stage's quantization");
    assert_eq!(
        (baseline.bits, baseline.scheme, baseline.granularity),
        (2, Scheme::Symmetric, Granularity::PerChannel)
    );
    let neutral = pollster::block_on(s.explore(&snap, &setting(0.0, Scope::Layer, None))).unwrap();
    assert_eq!(
        neutral.test_accuracy, report.final_metrics.test_accuracy,
        "neutral explore != the final model"
    );
    assert_eq!(neutral.test_accuracy, last.test_accuracy);
    assert_eq!(neutral.bytes, quant_bytes, "neutral explore's bytes != the stage's packed bytes");
    // The same weights at 8 bits: more bytes, better accuracy (the baseline is not the float model).
    let eight = pollster::block_on(s.explore(&snap, &setting(0.0, Scope::Layer, Some(8)))).unwrap();
    assert!(
        eight.bytes > neutral.bytes,
        "8-bit weights take more bytes than 2-bit: {} vs {}",
        eight.bytes,
        neutral.bytes
    );
    assert!(
        eight.test_accuracy > neutral.test_accuracy,
        "{} vs {}",
        eight.test_accuracy,
        neutral.test_accuracy
    );
    // Pruning on top keeps the 2-bit grid: fewer bytes, and the run's model is left alone.
    let pruned = pollster::block_on(s.explore(&snap, &setting(0.8, Scope::Layer, None))).unwrap();
    assert!(pruned.bytes < neutral.bytes, "{} !< {}", pruned.bytes, neutral.bytes);
    assert_eq!(pollster::block_on(s.test_accuracy()).unwrap(), report.final_metrics.test_accuracy);
}

#[test]
fn a_2d_run_keeps_one_grid_per_stage() {
    let s = trained(spiral(json!([
        {"kind": "magnitude", "amount": 0.9, "scope": "global"},
        {"kind": "quantize", "bits": 3, "scheme": "symmetric", "granularity": "per_tensor"}
    ])));
    let report = pollster::block_on(s.report()).unwrap();
    let grids = s.stage_grids();
    assert_eq!(grids.len(), 3, "as trained, then one per stage");
    let res = minnow::run::session::STAGE_GRID_RES as usize;
    assert_eq!((grids[0].stage, grids[0].kind.as_str()), (None, "trained"));
    assert_eq!(grids[0].test_accuracy, report.epochs.last().unwrap().test_accuracy);
    for (g, st) in grids[1..].iter().zip(&report.stages) {
        assert_eq!(g.stage, Some(st.index));
        assert_eq!(g.kind, st.outcome.kind());
        assert_eq!(g.test_accuracy, st.test_accuracy);
        assert_eq!(g.bytes, st.stats.bytes.quantized.unwrap_or(st.stats.bytes.sparse));
        assert_eq!(g.grid.len(), res * res * 2);
    }
    assert!(grids[2].bytes < grids[1].bytes && grids[1].bytes < grids[0].bytes);
    // The last grid is the final model's, bit for bit; pruning 90 % moved the boundary.
    assert_eq!(grids[2].grid, pollster::block_on(s.decision_grid(res as u32)).unwrap());
    assert_ne!(grids[0].grid, grids[1].grid);
    // Runs without stages, or not on 2-D data, keep none.
    assert!(trained(spiral(json!([]))).stage_grids().is_empty());
}

#[test]
fn gpu_and_cpu_agree_on_a_batch() {
    if crate::gpu_device().is_none() {
        return;
    }
    let mut r =
        spiral(json!([{"kind": "quantize", "bits": 8, "activations": true, "calibration_batches": 2}]));
    r.training.epochs = 2;
    r.backend = BackendChoice::Gpu;
    let s = trained(r);
    assert_eq!(s.backend(), "gpu");
    let p = pollster::block_on(s.parity(64)).unwrap();
    assert_eq!(p.samples, 64);
    assert!(p.loss_gpu.is_finite() && p.loss_cpu.is_finite(), "{p:?}");
    assert!(p.loss_diff.is_finite() && p.logits_diff.is_finite(), "{p:?}");
    assert!(p.loss_diff < 1e-4, "loss differs by {}", p.loss_diff);
    assert!(p.logits_diff < 1e-3, "logits differ by {}", p.logits_diff);
    assert_eq!(p.loss_diff, (p.loss_gpu - p.loss_cpu).abs());
    // Parity leaves the run alone and is refused on a CPU run.
    assert_eq!(pollster::block_on(s.parity(64)).unwrap().logits_diff, p.logits_diff);
    let cpu = trained(spiral(json!([])));
    let err = pollster::block_on(cpu.parity(64)).unwrap_err();
    assert!(err.to_string().contains("on the CPU"), "{err}");
}
