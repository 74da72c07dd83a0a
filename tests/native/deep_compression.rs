//! The Deep-Compression-style preset end to end (Han et al. 2016 on LeNet-300-100): gradual pruning
//! to ≥ 90 %, finetuning, then quantization to ≤ 8 bits must give ≥ 12× fewer honest bytes than the
//! dense f32 model for at most one point of test accuracy, and every stage must be in the report.

use minnow::recipe::{BackendChoice, preset};
use minnow::run::trainer::Trainer;

#[test]
fn mnist_deep_compression_is_12x_smaller_within_a_point() {
    let mut r = preset("mnist-deep-compression").unwrap();
    r.backend = BackendChoice::Cpu;
    let mut t = pollster::block_on(Trainer::new(r, None)).unwrap();
    let report = pollster::block_on(t.run(|_| {})).unwrap();
    let report_stages = crate::stages_json(&report);
    let kinds: Vec<&str> = report_stages.iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["gradual", "finetune", "quantize"]);
    let dense_acc = report.epochs.last().unwrap().test_accuracy as f64;
    let last = report_stages.last().unwrap();
    let sparsity = report_stages[0]["weight_sparsity"].as_f64().unwrap();
    let (acc, dense, quantized) = (
        last["test_accuracy"].as_f64().unwrap(),
        last["bytes"]["dense"].as_u64().unwrap(),
        last["bytes"]["quantized"].as_u64().unwrap(),
    );
    let ratio = dense as f64 / quantized as f64;
    println!(
        "dense {dense_acc:.4} -> {acc:.4}, sparsity {sparsity:.3}, {dense} -> {quantized} bytes ({ratio:.1}x)"
    );
    assert!(sparsity >= 0.9, "sparsity {sparsity}");
    assert!(ratio >= 12.0, "only {ratio:.1}x smaller");
    assert!((last["compression_ratio"].as_f64().unwrap() - ratio).abs() < 1e-6);
    assert!(dense_acc - acc <= 0.01, "accuracy {dense_acc} -> {acc}");
    let bits = last["details"]["points"].as_array().map(|p| p.len()).unwrap_or(0);
    assert!(bits >= 1, "the quantize stage reports its bit widths");
}
