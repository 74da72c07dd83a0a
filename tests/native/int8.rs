//! Integer inference: the int8 GEMM's SIMD and scalar paths give the same integers, and
//! [`IntModel`] predicts what the int8 fake-quant model predicts (MLPs on digits and MNIST with
//! symmetric and affine activations, a CNN with batch norm and dropout on digits).

use minnow::compress::int8::{self, IntModel};
use minnow::compress::quant::{Granularity, ObserverKind, QuantConfig, Scheme};
use minnow::core::backend::Device;
use minnow::core::rng::Rng;
use minnow::recipe::{self, Recipe};
use minnow::run::trainer::Trainer;

pub(crate) fn random_i8(n: usize, rng: &mut Rng) -> Vec<i8> {
    // Every fourth value an extreme, so −128·−128 products appear.
    (0..n)
        .map(|i| match i % 4 {
            0 => [-128i8, 127][(rng.range(0.0, 2.0) as usize).min(1)],
            _ => rng.range(-128.0, 128.0).floor().clamp(-128.0, 127.0) as i8,
        })
        .collect()
}

#[test]
fn gemm_paths_agree_exactly() {
    let mut rng = Rng::new(11, 0);
    let mut bad = Vec::new();
    for &(m, k, n) in
        &[(1, 1, 1), (37, 129, 65), (3, 16, 4), (5, 17, 7), (64, 784, 300), (2, 1000, 3), (8, 25, 6)]
    {
        let (a, b) = (random_i8(m * k, &mut rng), random_i8(n * k, &mut rng));
        let (mut fast, mut slow) = (vec![0; m * n], vec![0; m * n]);
        int8::gemm_i8(&a, &b, m, k, n, &mut fast).unwrap();
        int8::gemm_i8_scalar(&a, &b, m, k, n, &mut slow).unwrap();
        // The definition, in i64.
        let want: Vec<i32> = (0..m * n)
            .map(|o| (0..k).map(|p| a[o / n * k + p] as i64 * b[o % n * k + p] as i64).sum::<i64>() as i32)
            .collect();
        if fast != want || slow != want {
            bad.push(format!("{m}×{k}·{n}: {} path differs", int8::simd_path()));
        }
    }
    // All extremes: the largest pairwise sums vpmaddwd can see.
    let (a, b) = (vec![-128i8; 3 * 64], vec![-128i8; 2 * 64]);
    let mut out = vec![0; 6];
    int8::gemm_i8(&a, &b, 3, 64, 2, &mut out).unwrap();
    if out != vec![64 * 16384; 6] {
        bad.push(format!("all −128: {out:?}"));
    }
    assert!(int8::gemm_i8(&a, &b, 3, 65, 2, &mut out).is_err(), "bad sizes must be an error");
    eprintln!("gemm path: {}", int8::simd_path());
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

pub(crate) fn trained(base: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Trainer {
    let mut v = serde_json::to_value(recipe::preset(base).unwrap()).unwrap();
    v["backend"] = serde_json::json!("cpu");
    v["compression"] = serde_json::json!([]);
    edit(&mut v);
    let r = Recipe::from_json(&v.to_string()).unwrap();
    let mut t = Trainer::with_device(r, None, Device::Cpu, String::new()).unwrap();
    pollster::block_on(t.run(|_| {})).unwrap();
    t
}

pub(crate) fn config(activation_scheme: Scheme) -> QuantConfig {
    QuantConfig {
        bits: 8,
        scheme: Scheme::Symmetric,
        granularity: Granularity::PerChannel,
        activation_bits: Some(8),
        activation_scheme,
        observer: ObserverKind::Minmax,
        averaging_constant: 0.01,
        percentile: 99.99,
        histogram_bins: 2048,
    }
}

/// Installs int8 PTQ, builds the integer model and returns (agreement, int8 acc, fake-quant acc).
fn agreement(t: &mut Trainer, scheme: Scheme) -> (f64, f64, f64) {
    pollster::block_on(minnow::run::stages::quant::install(t, &config(scheme), 10)).unwrap();
    let (fq_acc, fq_pred) = pollster::block_on(t.evaluate_test()).unwrap();
    let x = t.test_inputs();
    let (n, shape) = (x.shape()[0], x.shape()[1..].to_vec());
    let im = IntModel::from_fake_quant(&t.model, t.quant.as_ref().unwrap(), &shape).unwrap();
    let pred = im.predict(&x.to_vec_blocking().unwrap(), n).unwrap();
    let same = pred.iter().zip(&fq_pred).filter(|(a, b)| a == b).count();
    let correct = pred.iter().zip(&t.data.test_y).filter(|(a, b)| a == b).count();
    (same as f64 / n as f64, correct as f64 / n as f64, fq_acc as f64)
}

fn check(name: &str, t: &mut Trainer, scheme: Scheme) {
    let (agree, acc, fq_acc) = agreement(t, scheme);
    eprintln!(
        "{name} ({scheme:?} activations): int8 agrees with fake quant on {:.3}% of {} test samples \
         (accuracy: int8 {:.2}%, fake quant {:.2}%)",
        100.0 * agree,
        t.data.test_y.len(),
        100.0 * acc,
        100.0 * fq_acc
    );
    assert!(agree >= 0.999, "{name}: agreement {agree}");
}

#[test]
fn int8_mlps_predict_what_fake_quant_predicts() {
    let mut t = trained("digits-mlp", |v| v["training"]["epochs"] = 3.into());
    check("digits-mlp", &mut t, Scheme::Affine);
    check("digits-mlp", &mut t, Scheme::Symmetric);
    let mut t = trained("mnist-mlp", |v| v["training"]["epochs"] = 1.into());
    check("mnist-mlp", &mut t, Scheme::Symmetric);
    check("mnist-mlp", &mut t, Scheme::Affine);
}

#[test]
fn int8_cnn_with_batch_norm_predicts_what_fake_quant_predicts() {
    let mut t = trained("digits-mlp", |v| {
        v["model"] = serde_json::json!({"kind": "cnn", "conv": [{"channels": 4, "kernel": 3, "padding": 1, "pool": 2},
            {"channels": 6, "kernel": 3, "pool": 1}], "hidden": [16], "activation": "relu",
            "batch_norm": true, "dropout": 0.2});
        v["training"]["epochs"] = 3.into();
    });
    check("digits-cnn", &mut t, Scheme::Affine);
}

#[test]
fn refuses_models_without_int8_activations() {
    let mut t = trained("digits-mlp", |v| v["training"]["epochs"] = 1.into());
    let shape = t.test_inputs().shape()[1..].to_vec();
    // Without fake quantization there is nothing to build from: the API takes a FakeQuantModel.
    assert!(t.quant.is_none());
    let mut c = config(Scheme::Symmetric);
    c.activation_bits = None;
    pollster::block_on(minnow::run::stages::quant::install(&mut t, &c, 1)).unwrap();
    let err = IntModel::from_fake_quant(&t.model, t.quant.as_ref().unwrap(), &shape).unwrap_err().to_string();
    assert!(err.contains("activations"), "{err}");
    c = config(Scheme::Symmetric);
    c.scheme = Scheme::Affine;
    pollster::block_on(minnow::run::stages::quant::install(&mut t, &c, 1)).unwrap();
    let err = IntModel::from_fake_quant(&t.model, t.quant.as_ref().unwrap(), &shape).unwrap_err().to_string();
    assert!(err.contains("symmetric"), "{err}");
    pollster::block_on(minnow::run::stages::quant::install(&mut t, &config(Scheme::Symmetric), 1)).unwrap();
    let im = IntModel::from_fake_quant(&t.model, t.quant.as_ref().unwrap(), &shape).unwrap();
    assert!(im.predict(&[0.0; 5], 1).is_err(), "a wrong input size must be an error");
}
