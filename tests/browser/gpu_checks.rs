//! WebGPU checks shared by tests/web.rs (page) and tests/web_worker.rs (dedicated worker):
//! ops forward and backward on the browser's WebGPU adapter against the CPU backend, a short
//! training run, and the `auto` fallback when WebGPU is missing. Reads are async: a blocking read
//! would never resolve in a browser.
#![allow(dead_code)]

use minnow::core::backend::gpu::{GpuDevice, Int8Path};
use minnow::core::rng::Rng;
use minnow::recipe::{BackendChoice, preset};
use minnow::run::trainer::{Trainer, select_device};
use minnow::{Device, Result, Tensor};
use wasm_bindgen_test::*;

type Case = (&'static str, Vec<Vec<usize>>, fn(&[Tensor]) -> Result<Tensor>);

fn cases() -> Vec<Case> {
    vec![
        ("add_broadcast", vec![vec![4, 1, 3], vec![2, 3]], |t| t[0].add(&t[1])),
        ("mul_div", vec![vec![5, 7], vec![1, 7]], |t| t[0].mul(&t[1])?.div(&t[1].affine(0.1, 2.0)?)),
        ("sub_neg_exp", vec![vec![9, 6]], |t| t[0].neg()?.exp()?.sub(&t[0])),
        ("log_sqrt_abs", vec![vec![33]], |t| {
            t[0].abs()?.affine(1.0, 0.5)?.log()?.add(&t[0].square()?.sqrt()?)
        }),
        ("activations", vec![vec![8, 17]], |t| {
            t[0].relu()?
                .add(&t[0].sigmoid()?)?
                .add(&t[0].tanh()?)?
                .add(&t[0].gelu()?)?
                .add(&t[0].leaky_relu(0.1)?)
        }),
        ("pow_clamp", vec![vec![40]], |t| {
            t[0].abs()?.affine(1.0, 0.2)?.pow(1.5)?.add(&t[0].clamp(-0.3, 0.4)?)
        }),
        ("matmul_odd", vec![vec![37, 129], vec![129, 65]], |t| t[0].matmul(&t[1])),
        ("matmul_batched_shared", vec![vec![3, 5, 7], vec![7, 4]], |t| t[0].matmul(&t[1])),
        ("matmul_t", vec![vec![6, 9], vec![11, 9]], |t| t[0].matmul_t(&t[1])),
        ("transpose_reshape", vec![vec![2, 3, 4]], |t| t[0].transpose(0, 2)?.reshape(&[4, 6])),
        ("concat_narrow", vec![vec![3, 4], vec![3, 2]], |t| {
            Tensor::concat(&[&t[0], &t[1]], 1)?.narrow(1, 1, 4)
        }),
        ("index_select", vec![vec![6, 5]], |t| t[0].index_select(&[5, 0, 5, 2])),
        ("sum_mean_max", vec![vec![4, 6, 3]], |t| {
            let a = t[0].sum(1, true)?.add(&t[0].mean_axes(&[0, 2], true)?.reshape(&[1, 6, 1])?)?;
            a.add(&t[0].max(1, true)?)?.add(&t[0].max_all()?)
        }),
        ("softmax_log_softmax", vec![vec![7, 10]], |t| t[0].softmax(1)?.add(&t[0].log_softmax(0)?)),
        ("conv2d_stride_pad", vec![vec![2, 3, 9, 7], vec![4, 3, 3, 3], vec![4]], |t| {
            t[0].conv2d(&t[1], Some(&t[2]), 2, 1)
        }),
        ("pools", vec![vec![2, 3, 8, 6]], |t| {
            t[0].max_pool2d(2, 2, 0)?.add(&t[0].avg_pool2d(3, 2, 1)?.narrow(2, 0, 4)?.narrow(3, 0, 3)?)
        }),
        ("fake_quant", vec![vec![50]], |t| t[0].fake_quant(0.05, 3, -8, 7)),
        ("dropout", vec![vec![300]], |t| t[0].dropout(0.3, 7, 11)),
        ("cross_entropy", vec![vec![6, 5]], |t| {
            let y = Tensor::new(&[0.0, 4.0, 2.0, 2.0, 1.0, 3.0], &[6], &t[0].device())?;
            minnow::nn::loss::cross_entropy(&t[0], &y, 0.1)
        }),
    ]
}

fn close(what: &str, got: &[f32], want: &[f32], failures: &mut Vec<String>) {
    if got.len() != want.len() {
        failures.push(format!("{what}: {} values, expected {}", got.len(), want.len()));
        return;
    }
    let worst =
        got.iter().zip(want).map(|(g, w)| (g - w).abs() / (1e-4 * w.abs() + 1e-5)).fold(0f32, f32::max);
    if !(worst <= 1.0) {
        failures.push(format!("{what}: worst error {worst:.2}× the tolerance"));
    }
}

/// Forward values and input gradients (of `Σ y ⊙ r` for a random `r`) on one device.
async fn run_case(case: &Case, dev: &Device) -> Result<(Vec<f32>, Vec<Vec<f32>>)> {
    let (_, shapes, f) = case;
    let mut rng = Rng::new(5, 0);
    let inputs: Vec<Tensor> = shapes
        .iter()
        .map(|s| {
            let v: Vec<f32> = (0..s.iter().product::<usize>()).map(|_| rng.range(-1.0, 1.0)).collect();
            Tensor::param(&v, s, dev)
        })
        .collect::<Result<_>>()?;
    let y = f(&inputs)?;
    let r: Vec<f32> = (0..y.numel()).map(|_| rng.range(-1.0, 1.0)).collect();
    let r = Tensor::new(&r, y.shape(), dev)?;
    y.mul(&r)?.sum_all()?.backward()?;
    let mut grads = Vec::new();
    for t in &inputs {
        grads.push(match t.grad() {
            Some(g) => g.to_vec().await?,
            None => Vec::new(),
        });
    }
    Ok((y.to_vec().await?, grads))
}

/// Every case on WebGPU against the CPU.
#[wasm_bindgen_test]
async fn ops_match_cpu_on_webgpu() {
    let gpu = Device::Gpu(GpuDevice::new().await.expect("WebGPU adapter (see webdriver.json flags)"));
    let mut failures = Vec::new();
    for case in cases() {
        let want = run_case(&case, &Device::Cpu).await.unwrap();
        match run_case(&case, &gpu).await {
            Ok(got) => {
                close(&format!("{} forward", case.0), &got.0, &want.0, &mut failures);
                for (i, (g, w)) in got.1.iter().zip(&want.1).enumerate() {
                    close(&format!("{} grad[{i}]", case.0), g, w, &mut failures);
                }
            }
            Err(e) => failures.push(format!("{}: {e}", case.0)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The WGSL int8 GEMM on the browser's WebGPU gives the scalar CPU GEMM's i32 sums bit for bit, on
/// the unpacked kernel and on `dot4I8Packed` when the browser offers it.
#[wasm_bindgen_test]
async fn int8_gemm_matches_cpu_on_webgpu() {
    let g = GpuDevice::new().await.expect("WebGPU adapter (see webdriver.json flags)");
    let mut paths = vec![Int8Path::Unpacked];
    if g.has_packed_dot4() {
        paths.push(Int8Path::Packed);
    }
    let mut failures = Vec::new();
    for &(m, k, n) in &[(1, 1, 1), (5, 17, 7), (37, 129, 65), (70, 300, 66)] {
        let a: Vec<i8> = (0..m * k).map(|i| [-128, 127, (i * 37 % 256) as i32 - 128][i % 3] as i8).collect();
        let b: Vec<i8> = (0..n * k).map(|i| [127, -128, (i * 91 % 256) as i32 - 128][i % 3] as i8).collect();
        let mut want = vec![0; m * n];
        minnow::compress::int8::gemm_i8_scalar(&a, &b, m, k, n, &mut want).unwrap();
        for &path in &paths {
            match g.gemm_i8(&a, &b, m, k, n, path).await {
                Ok(got) if got == want => {}
                Ok(_) => failures.push(format!("{}: {m}×{k}·{n} differs", path.name())),
                Err(e) => failures.push(format!("{}: {m}×{k}·{n}: {e}", path.name())),
            }
        }
    }
    let names: Vec<&str> = paths.iter().map(|p| p.name()).collect();
    assert!(failures.is_empty(), "paths {names:?}: {}", failures.join("\n"));
}

/// The spiral preset trains on WebGPU as on the CPU.
#[wasm_bindgen_test]
async fn short_training_on_webgpu() {
    let mut r = preset("spiral-mlp").unwrap();
    r.training.epochs = 25;
    r.backend = BackendChoice::Gpu;
    let mut t = Trainer::new(r.clone(), None).await.unwrap();
    assert_eq!(t.device.name(), "gpu");
    let gpu = t.run(|_| {}).await.unwrap();
    r.backend = BackendChoice::Cpu;
    let cpu = Trainer::new(r, None).await.unwrap().run(|_| {}).await.unwrap();
    let (g, c) = (gpu.epochs.last().unwrap().train_loss, cpu.epochs.last().unwrap().train_loss);
    assert!((g - c).abs() <= 1e-3 * c.abs().max(1e-3) + 1e-4, "final loss gpu {g} vs cpu {c}");
    assert!((gpu.final_metrics.test_accuracy - cpu.final_metrics.test_accuracy).abs() <= 0.01);
}

/// With `navigator.gpu` hidden, `auto` runs on the CPU and says why; `gpu` is refused clearly.
#[wasm_bindgen_test]
async fn auto_falls_back_without_webgpu() {
    let global = js_sys::global();
    let navigator = js_sys::Reflect::get(&global, &"navigator".into()).unwrap();
    let desc = js_sys::Object::new();
    js_sys::Reflect::set(&desc, &"value".into(), &wasm_bindgen::JsValue::UNDEFINED).unwrap();
    js_sys::Reflect::set(&desc, &"configurable".into(), &true.into()).unwrap();
    js_sys::Reflect::define_property(&navigator.clone().into(), &"gpu".into(), &desc).unwrap();
    let (dev, note) = select_device(BackendChoice::Auto).await.unwrap();
    let refused = select_device(BackendChoice::Gpu).await.err().map(|e| e.to_string());
    js_sys::Reflect::delete_property(&navigator.into(), &"gpu".into()).unwrap();
    assert_eq!(dev.name(), "cpu");
    assert!(note.contains("running on the CPU"), "{note}");
    let refused = refused.expect("backend gpu accepted without WebGPU");
    assert!(refused.to_lowercase().contains("webgpu") || refused.contains("adapter"), "{refused}");
}

/// Headless Chromium's WebGPU adapter is SwiftShader, a software renderer: `auto` prefers the CPU
/// backend over it and says so; `gpu` still uses it.
#[wasm_bindgen_test]
async fn auto_prefers_the_cpu_over_a_software_adapter() {
    let (dev, note) = select_device(BackendChoice::Auto).await.unwrap();
    assert_eq!(dev.name(), "cpu");
    assert!(note.contains("software"), "{note}");
    let (dev, _) = select_device(BackendChoice::Gpu).await.unwrap();
    assert_eq!(dev.name(), "gpu");
}
