//! Integer inference in WGSL (`shaders/int8.wgsl`) against the CPU's: the GPU int8 GEMM's i32
//! accumulators equal `int8::gemm_i8_scalar` bit for bit on odd shapes and extreme values, on the
//! unpacked kernel and on the `dot4I8Packed` one where the instance offers it; device-side
//! quantization + im2col gives the CPU's levels exactly; requantization follows `IntGemm::finish`
//! (f32 within an FMA's rounding); [`GpuIntModel`] predicts what the CPU [`IntModel`] and the
//! fake-quant model predict, with one submit and one readback per forward pass. Without an adapter
//! every test prints "SKIPPED" and returns (MINNOW_REQUIRE_GPU=1 makes that a failure).

#![cfg(feature = "gpu")]

use super::int8::{config, random_i8, trained};
use minnow::compress::int8::{self, IntModel};
use minnow::compress::quant::Scheme;
use minnow::core::backend::Conv2dGeom;
use minnow::core::backend::I8Quant;
use minnow::core::backend::gpu::{GpuDevice, GpuStorage, Int8Path, PackedI8, Requant};
use minnow::core::backend::{BackendStorage, Device};
use minnow::core::rng::Rng;

/// The paths to test on `dev`, announcing a skipped packed path.
fn paths(dev: &GpuDevice) -> Vec<Int8Path> {
    if dev.has_packed_dot4() {
        eprintln!("{}: packed_4x8_integer_dot_product offered, testing both int8 paths", dev.adapter_info());
        vec![Int8Path::Unpacked, Int8Path::Packed]
    } else {
        eprintln!(
            "SKIPPED: dot4I8Packed path on {}: the instance does not report \
             WgslLanguageFeatures::Packed4x8IntegerDotProduct (testing the unpacked path only)",
            dev.adapter_info()
        );
        vec![Int8Path::Unpacked]
    }
}

#[test]
fn gpu_gemm_accumulators_equal_the_scalar_gemm() {
    let Some(dev) = crate::gpu_device() else { return };
    let mut rng = Rng::new(29, 0);
    // (m, k, n): k = 1, k not a multiple of 4, m and n around the 64-wide tile, large k.
    let shapes = [
        (1, 1, 1),
        (1, 1, 5),
        (7, 1, 3),
        (3, 2, 4),
        (5, 17, 7),
        (37, 129, 65),
        (65, 3, 66),
        (63, 67, 129),
        (8, 25, 6),
        (64, 784, 300),
        (2, 1000, 3),
        (130, 4099, 67),
        (3, 20_001, 2),
    ];
    #[allow(clippy::type_complexity)]
    let mut cases: Vec<(String, Vec<i8>, Vec<i8>, usize, usize, usize)> = shapes
        .iter()
        .map(|&(m, k, n)| {
            (format!("random {m}×{k}·{n}"), random_i8(m * k, &mut rng), random_i8(n * k, &mut rng), m, k, n)
        })
        .collect();
    // Extremes: the largest products, both signs, and i32 wrap-around (k·128² > 2³¹ past k = 131 072).
    cases.push(("all −128".into(), vec![-128; 3 * 65], vec![-128; 2 * 65], 3, 65, 2));
    cases.push(("−128 · 127".into(), vec![-128; 5 * 63], vec![127; 66 * 63], 5, 63, 66));
    cases.push(("127 · 127".into(), vec![127; 4 * 9], vec![127; 3 * 9], 4, 9, 3));
    cases.push(("wrapping, k = 140 000".into(), vec![-128; 2 * 140_000], vec![-128; 140_000], 2, 140_000, 1));
    let mut bad = Vec::new();
    for path in paths(&dev) {
        for (name, a, b, m, k, n) in &cases {
            let mut want = vec![0; m * n];
            int8::gemm_i8_scalar(a, b, *m, *k, *n, &mut want).unwrap();
            match pollster::block_on(dev.gemm_i8(a, b, *m, *k, *n, path)) {
                Ok(got) if got == want => {}
                Ok(got) => {
                    let diff = got.iter().zip(&want).filter(|(g, w)| g != w).count();
                    bad.push(format!("{} {name}: {diff} of {} accumulators differ", path.name(), want.len()));
                }
                Err(e) => bad.push(format!("{} {name}: {e}", path.name())),
            }
        }
        eprintln!("{}: {} GEMMs checked for exact equality", path.name(), cases.len());
    }
    // Bad shapes are errors, not panics.
    let (a, b) =
        (PackedI8::upload(&dev, &[1; 6], 2, 3).unwrap(), PackedI8::upload(&dev, &[1; 8], 2, 4).unwrap());
    assert!(dev.gemm_i8_acc(&a, &b, Int8Path::Unpacked).is_err(), "inner sizes differ: must be an error");
    assert!(PackedI8::upload(&dev, &[1; 5], 2, 3).is_err(), "5 values are not 2×3");
    assert!(pollster::block_on(dev.gemm_i8(&[1; 5], &[1; 6], 2, 3, 2, Int8Path::Unpacked)).is_err());
    if !dev.has_packed_dot4() {
        assert!(dev.gemm_i8_acc(&a, &a, Int8Path::Packed).is_err(), "packed path without the extension");
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// The CPU's level of `x` (`I8Quant::level`, what the CPU IntModel stores), as an i8.
fn level(q: &I8Quant, x: f32) -> i8 {
    q.level(x) as i8
}

#[test]
fn gpu_quantize_and_im2col_give_the_cpu_levels() {
    let Some(dev) = crate::gpu_device() else { return };
    let mut rng = Rng::new(5, 1);
    let quants = [
        // Affine unsigned (stored as q − 128) and symmetric signed.
        I8Quant { scale: 0.0173, zero: 37, qmin: 0, qmax: 255, offset: 128 },
        I8Quant { scale: 0.05, zero: 0, qmin: -128, qmax: 127, offset: 0 },
    ];
    // (n, c, h, w, kernel, stride, pad): odd sizes, padding, strides, a Linear-like 1×1 case.
    let geoms = [(2, 3, 7, 5, (3, 3), 1, 1), (1, 2, 9, 9, (5, 4), 2, 2), (3, 37, 1, 1, (1, 1), 1, 0)];
    let mut bad = Vec::new();
    for q in &quants {
        for &(n, c, h, w, kernel, stride, pad) in &geoms {
            let g = Conv2dGeom::new(n, c, h, w, kernel, stride, pad).unwrap();
            let mut x: Vec<f32> = (0..n * c * h * w).map(|_| rng.range(-3.0, 3.0)).collect();
            // Exact halves (ties to even), values far out of range and exact zeros.
            for (i, v) in x.iter_mut().enumerate().step_by(5) {
                *v = match i % 4 {
                    0 => (i as f32 % 7.0 - 3.0 + 0.5) * q.scale,
                    1 => 1e6 * (i as f32 - 10.0),
                    2 => 0.0,
                    _ => *v,
                };
            }
            let xs = GpuStorage::upload(&dev, &x).unwrap();
            let got = pollster::block_on(dev.quantize_i8(&xs, q, &g).unwrap().read()).unwrap();
            // The CPU's im2col of levels (IntModel's Conv2d loop).
            let k = c * g.kh * g.kw;
            let mut want = Vec::with_capacity(n * g.oh * g.ow * k);
            for s in 0..n {
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        for ci in 0..c {
                            for ki in 0..g.kh {
                                for kj in 0..g.kw {
                                    let iy = (oy * stride + ki) as isize - pad as isize;
                                    let ix = (ox * stride + kj) as isize - pad as isize;
                                    let inside = iy >= 0 && iy < h as isize && ix >= 0 && ix < w as isize;
                                    want.push(if inside {
                                        level(q, x[((s * c + ci) * h + iy as usize) * w + ix as usize])
                                    } else {
                                        q.zero_level() as i8
                                    });
                                }
                            }
                        }
                    }
                }
            }
            if got != want {
                let diff = got.iter().zip(&want).filter(|(a, b)| a != b).count();
                bad.push(format!("{q:?} on {g:?}: {diff} of {} levels differ", want.len()));
            }
        }
    }
    let bad_q = I8Quant { scale: 0.1, zero: 0, qmin: 0, qmax: 255, offset: 0 };
    let xs = GpuStorage::upload(&dev, &[0.0; 4]).unwrap();
    let g = Conv2dGeom::new(1, 4, 1, 1, (1, 1), 1, 0).unwrap();
    assert!(dev.quantize_i8(&xs, &bad_q, &g).is_err(), "levels that do not fit an i8 must be an error");
    let g5 = Conv2dGeom::new(1, 5, 1, 1, (1, 1), 1, 0).unwrap();
    assert!(dev.quantize_i8(&xs, &quants[0], &g5).is_err(), "4 values are not 1×5×1×1");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn gpu_requantization_follows_int_gemm_finish() {
    let Some(dev) = crate::gpu_device() else { return };
    let mut rng = Rng::new(17, 2);
    let (samples, spatial, k, n) = (3, 5, 45, 7);
    let m = samples * spatial;
    let (a, w) = (random_i8(m * k, &mut rng), random_i8(n * k, &mut rng));
    let row_sum: Vec<i32> = w.chunks(k).map(|r| r.iter().map(|&v| v as i32).sum()).collect();
    let scale: Vec<f32> = (0..n).map(|_| rng.range(1e-5, 1e-3)).collect();
    let bias: Vec<f32> = (0..n).map(|_| rng.range(-1.0, 1.0)).collect();
    let z = -37;
    let mut acc = vec![0; m * n];
    int8::gemm_i8_scalar(&a, &w, m, k, n, &mut acc).unwrap();
    let (pa, pw) = (PackedI8::upload(&dev, &a, m, k).unwrap(), PackedI8::upload(&dev, &w, n, k).unwrap());
    let rq = Requant::upload(&dev, z, &row_sum, &scale, &bias).unwrap();
    let mut failures = Vec::new();
    for path in paths(&dev) {
        let out = dev.gemm_i8_requant(&pa, &pw, &rq, spatial, path).unwrap();
        let got = pollster::block_on(out.read()).unwrap();
        let (mut exact, mut worst) = (0, 0.0f32);
        for i in 0..m {
            for j in 0..n {
                // IntGemm::finish, then the NCHW scatter of IntModel's Conv2d.
                let product = acc[i * n + j].wrapping_sub(z.wrapping_mul(row_sum[j])) as f32 * scale[j];
                let want = product + bias[j];
                let g = got[(i / spatial * n + j) * spatial + i % spatial];
                exact += (g.to_bits() == want.to_bits()) as usize;
                // Relative to the terms: an FMA skips the product's rounding, whatever cancels.
                let err = (g - want).abs() / (1e-30 + product.abs() + bias[j].abs());
                worst = worst.max(err);
            }
        }
        eprintln!(
            "{}: requantized outputs bit-identical to the CPU formula: {exact} of {}; worst relative error {worst:e}",
            path.name(),
            m * n
        );
        if worst > 1e-6 {
            failures.push(format!("{}: relative error {worst:e}", path.name()));
        }
    }
    assert!(
        dev.gemm_i8_requant(&pa, &pw, &rq, 4, Int8Path::Unpacked).is_err(),
        "15 rows are not samples of 4"
    );
    let short = Requant::upload(&dev, z, &row_sum[1..], &scale[1..], &bias[1..]).unwrap();
    assert!(dev.gemm_i8_requant(&pa, &pw, &short, 5, Int8Path::Unpacked).is_err(), "6 columns for 7 outputs");
    assert!(Requant::upload(&dev, z, &row_sum, &scale[1..], &bias).is_err());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Installs int8 PTQ on `t` and checks the integer model on `dev` against the CPU integer model
/// and the fake-quant model, for every available path.
fn check_model(dev: &GpuDevice, name: &str, t: &mut minnow::run::trainer::Trainer, scheme: Scheme) {
    pollster::block_on(minnow::run::stages::quant::install(t, &config(scheme), 10)).unwrap();
    let (_, fq_pred) = pollster::block_on(t.evaluate_test()).unwrap();
    let x = t.test_inputs();
    let (n, shape) = (x.shape()[0], x.shape()[1..].to_vec());
    let xv = x.to_vec_blocking().unwrap();
    let im = IntModel::from_fake_quant(&t.model, t.quant.as_ref().unwrap(), &shape).unwrap();
    let (cpu_logits, cpu_shape) = im.forward(&xv, n).unwrap();
    let cpu_pred = im.predict(&xv, n).unwrap();
    for path in paths(dev) {
        let gm = im.to_gpu(dev, path).unwrap();
        assert_eq!(gm.path(), path);
        let before = dev.stats();
        let (logits, out_shape) = pollster::block_on(gm.forward(&xv, n)).unwrap();
        let after = dev.stats();
        assert_eq!(out_shape, cpu_shape);
        assert_eq!(after.readbacks - before.readbacks, 1, "one readback per forward pass");
        assert_eq!(after.submits - before.submits, 1, "one submit per forward pass");
        let pred = pollster::block_on(gm.predict(&xv, n)).unwrap();
        let same_cpu = pred.iter().zip(&cpu_pred).filter(|(a, b)| a == b).count();
        let same_fq = pred.iter().zip(&fq_pred).filter(|(a, b)| a == b).count();
        let correct = pred.iter().zip(&t.data.test_y).filter(|(a, b)| a == b).count();
        let exact = logits.iter().zip(&cpu_logits).filter(|(a, b)| a.to_bits() == b.to_bits()).count();
        let worst = logits.iter().zip(&cpu_logits).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        eprintln!(
            "{name} ({scheme:?} activations, {}): GPU int8 agrees with CPU int8 on {:.3}% and with fake quant \
             on {:.3}% of {n} test samples (accuracy {:.2}%); logits bit-identical {exact} of {}, max |Δ| {worst:e}",
            path.name(),
            100.0 * same_cpu as f64 / n as f64,
            100.0 * same_fq as f64 / n as f64,
            100.0 * correct as f64 / n as f64,
            logits.len()
        );
        assert!(
            same_cpu as f64 >= 0.999 * n as f64,
            "{name} {}: {same_cpu} of {n} agree with the CPU",
            path.name()
        );
        assert!(
            same_fq as f64 >= 0.999 * n as f64,
            "{name} {}: {same_fq} of {n} agree with fake quant",
            path.name()
        );
        assert!(pollster::block_on(gm.forward(&xv[1..], n)).is_err(), "a wrong input size must be an error");
    }
    let via_device = pollster::block_on(im.predict_on(&Device::Gpu(dev.clone()), &xv, n)).unwrap();
    let same = via_device.iter().zip(&cpu_pred).filter(|(a, b)| a == b).count();
    assert!(same as f64 >= 0.999 * n as f64, "{name}: predict_on agrees on {same} of {n}");
}

#[test]
fn int8_models_on_the_gpu_predict_what_the_cpu_predicts() {
    let Some(dev) = crate::gpu_device() else { return };
    let mut t = trained("digits-mlp", |v| v["training"]["epochs"] = 3.into());
    check_model(&dev, "digits-mlp", &mut t, Scheme::Affine);
    check_model(&dev, "digits-mlp", &mut t, Scheme::Symmetric);
    let mut t = trained("digits-mlp", |v| {
        v["model"] = serde_json::json!({"kind": "cnn", "conv": [{"channels": 4, "kernel": 3, "padding": 1, "pool": 2},
            {"channels": 6, "kernel": 3, "pool": 1}], "hidden": [16], "activation": "relu",
            "batch_norm": true, "dropout": 0.2});
        v["training"]["epochs"] = 3.into();
    });
    check_model(&dev, "digits-cnn", &mut t, Scheme::Affine);
}

/// A quantize stage of a run on the GPU runs its integer model there (the WGSL kernels, not the
/// CPU's) and says which kernel ran; it predicts as the fake-quant model.
#[test]
fn quantize_stage_on_the_gpu_uses_the_wgsl_int8_kernels() {
    let Some(dev) = crate::gpu_device() else { return };
    let mut r = minnow::recipe::preset("digits-quant").unwrap();
    r.training.epochs = 2;
    r.compression.truncate(1);
    let mut t =
        minnow::run::trainer::Trainer::with_device(r, None, Device::Gpu(dev.clone()), String::new()).unwrap();
    let rep = pollster::block_on(t.run(|_| {})).unwrap();
    let rep_stages = crate::stages_json(&rep);
    let d = &rep_stages[0]["details"];
    assert_eq!(d["int8_path"], dev.int8_path().name());
    assert!(d["int8_agreement"].as_f64().unwrap() >= 0.999, "agreement {}", d["int8_agreement"]);
}
