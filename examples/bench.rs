//! The native half of `make bench` (scripts/bench.py drives it): f32 GEMM GFLOP/s at the presets'
//! layer shapes and at 256³/512³/1024³ as a fraction of one core's f32 peak, int8 ÷ f32 GEMM on the
//! presets' layers, and seconds per epoch of the digits-mlp, mnist-mlp and mnist-cnn presets on the
//! CPU backend (one thread). Times are this thread's CPU time (the machines are shared), medians of
//! repetitions. Writes one JSON object; `--export DIR` also writes each preset's train
//! and test split as raw little-endian files, so scripts/bench_torch.py trains on the same data.
//! Run: `cargo run --release --example bench -- --out FILE [--epochs N] [--export DIR] [--quick]`.

use minnow::compress::int8;
use minnow::core::backend::Device;
use minnow::core::rng::Rng;
use minnow::recipe::{self, BackendChoice};
use minnow::run::session::Session;
use minnow::{Tensor, no_grad};
use serde_json::{Value, json};
#[path = "common/timing.rs"]
mod timing;
use timing::{median, thread_seconds};

/// One GEMM `[m×k] · [k×n]` standing for a layer's product (or a square reference size).
struct Shape {
    name: &'static str,
    m: usize,
    k: usize,
    n: usize,
}

/// The presets' training products (forward `x·Wᵀ`, backward `dY·W` and `dYᵀ·x`, batch as in the
/// preset; convolutions as their im2col GEMMs), then the square reference sizes.
const GEMM_SHAPES: [Shape; 12] = [
    Shape { name: "digits-mlp fc1 fwd 32×64·128", m: 32, k: 64, n: 128 },
    Shape { name: "digits-mlp fc1 dW 64×32·128", m: 64, k: 32, n: 128 },
    Shape { name: "mnist-mlp fc1 fwd 64×784·300", m: 64, k: 784, n: 300 },
    Shape { name: "mnist-mlp fc1 dW 784×64·300", m: 784, k: 64, n: 300 },
    Shape { name: "mnist-mlp fc2 fwd 64×300·100", m: 64, k: 300, n: 100 },
    Shape { name: "mnist-mlp fc1 dX 64×300·784", m: 64, k: 300, n: 784 },
    Shape { name: "mnist-cnn conv1 W·im2col 6×25·784", m: 6, k: 25, n: 784 },
    Shape { name: "mnist-cnn conv2 W·im2col 16×150·100", m: 16, k: 150, n: 100 },
    Shape { name: "mnist-cnn fc1 fwd 64×400·120", m: 64, k: 400, n: 120 },
    Shape { name: "square 256³", m: 256, k: 256, n: 256 },
    Shape { name: "square 512³", m: 512, k: 512, n: 512 },
    Shape { name: "square 1024³", m: 1024, k: 1024, n: 1024 },
];

/// The presets' layers for int8 ÷ f32, as `[m×k]·[n×k]ᵀ` (the int8 GEMM takes B transposed).
const INT8_SHAPES: [Shape; 5] = [
    Shape { name: "mnist-mlp fc1 784→300, batch 64", m: 64, k: 784, n: 300 },
    Shape { name: "mnist-mlp fc2 300→100, batch 64", m: 64, k: 300, n: 100 },
    Shape { name: "mnist-mlp fc3 100→10, batch 64", m: 64, k: 100, n: 10 },
    Shape { name: "digits-mlp fc1 64→128, batch 32", m: 32, k: 64, n: 128 },
    Shape { name: "mnist-cnn conv2 16×150·100 (one image)", m: 16, k: 150, n: 100 },
];

const PRESETS: [&str; 3] = ["digits-mlp", "mnist-mlp", "mnist-cnn"];

/// Median thread CPU seconds of `f` over repetitions filling about `budget` seconds (at least 3,
/// at most 200), after one warm-up call.
fn median_s(budget: f64, mut f: impl FnMut() -> minnow::Result<()>) -> minnow::Result<f64> {
    let s = thread_seconds();
    f()?;
    let once = (thread_seconds() - s).max(1e-7);
    median(((budget / once) as usize).clamp(3, 200), thread_seconds, f)
}

/// The CPU's model name and clock (MHz) from /proc/cpuinfo's first processor: `model name` and
/// `cpu MHz` (the current clock the kernel reports; under a hypervisor usually the nominal one).
fn cpuinfo() -> (String, Option<f64>) {
    let text = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |key: &str| {
        text.lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    let mhz = field("cpu MHz").and_then(|v| v.parse::<f64>().ok());
    (field("model name").unwrap_or_else(|| "unknown CPU".into()), mhz)
}

/// One core's f32 peak in FLOP per cycle, and how it was derived: 2 FMA pipes × lanes × 2 FLOP.
/// Lanes: 16 with AVX-512F on Intel; 8 with AVX-512F on AMD (Zen 4 executes a 512-bit op as two
/// 256-bit halves, so its peak is that of 256-bit FMA) and with AVX2 + FMA; 4 otherwise (SSE).
fn peak_flop_per_cycle(model: &str) -> (f64, String) {
    #[cfg(target_arch = "x86_64")]
    {
        let amd = model.contains("AMD");
        if std::is_x86_feature_detected!("avx512f") && !amd {
            return (64.0, "AVX-512F: 2 FMA pipes × 16 lanes × 2".into());
        }
        if std::is_x86_feature_detected!("avx512f") {
            return (32.0, "AVX-512F on AMD (512-bit ops double-pumped): 2 FMA pipes × 8 lanes × 2".into());
        }
        if std::is_x86_feature_detected!("fma") && std::is_x86_feature_detected!("avx2") {
            return (32.0, "AVX2 + FMA: 2 FMA pipes × 8 lanes × 2".into());
        }
    }
    let _ = model;
    (16.0, "128-bit SIMD: 2 pipes × 4 lanes × 2".into())
}

fn random(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.range(-1.0, 1.0)).collect()
}

fn gemm_rows(budget: f64, quick: bool, peak_gflops: Option<f64>) -> minnow::Result<Vec<Value>> {
    let mut rng = Rng::new(7, 0);
    let mut rows = Vec::new();
    for s in &GEMM_SHAPES {
        if quick && s.m * s.k * s.n > 1 << 27 {
            continue;
        }
        let a = Tensor::new(&random(&mut rng, s.m * s.k), &[s.m, s.k], &Device::Cpu)?;
        let b = Tensor::new(&random(&mut rng, s.k * s.n), &[s.k, s.n], &Device::Cpu)?;
        let sec = median_s(budget, || no_grad(|| a.matmul(&b)).map(drop))?;
        let gflops = 2.0 * (s.m * s.k * s.n) as f64 / sec / 1e9;
        println!("gemm {:<40} {:>9.3} ms {:>7.2} GFLOP/s", s.name, sec * 1e3, gflops);
        rows.push(json!({
            "name": s.name, "m": s.m, "k": s.k, "n": s.n, "seconds": sec, "gflops": gflops,
            "fraction_of_peak": peak_gflops.map(|p| gflops / p),
        }));
    }
    Ok(rows)
}

fn int8_rows(budget: f64) -> minnow::Result<Vec<Value>> {
    let mut rng = Rng::new(8, 0);
    let mut rows = Vec::new();
    for s in &INT8_SHAPES {
        let xf = random(&mut rng, s.m * s.k);
        let wf = random(&mut rng, s.n * s.k);
        let x = Tensor::new(&xf, &[s.m, s.k], &Device::Cpu)?;
        let w = Tensor::new(&wf, &[s.n, s.k], &Device::Cpu)?;
        let xq: Vec<i8> = xf.iter().map(|v| (v * 127.0).round() as i8).collect();
        let wq: Vec<i8> = wf.iter().map(|v| (v * 127.0).round() as i8).collect();
        let mut acc = vec![0i32; s.m * s.n];
        let f32_s = median_s(budget, || no_grad(|| x.matmul_t(&w)).map(drop))?;
        let i8_s = median_s(budget, || int8::gemm_i8(&xq, &wq, s.m, s.k, s.n, &mut acc))?;
        println!(
            "int8 {:<40} f32 {:>8.3} ms  int8 {:>8.3} ms  {:.2}×",
            s.name,
            f32_s * 1e3,
            i8_s * 1e3,
            f32_s / i8_s
        );
        rows.push(json!({
            "name": s.name, "m": s.m, "k": s.k, "n": s.n,
            "f32_seconds": f32_s, "int8_seconds": i8_s, "int8_speedup": f32_s / i8_s,
        }));
    }
    Ok(rows)
}

/// Writes `v` as raw little-endian bytes.
fn write_raw<T: Copy>(path: &std::path::Path, v: &[T], to_le: impl Fn(T) -> [u8; 4]) -> std::io::Result<()> {
    let bytes: Vec<u8> = v.iter().flat_map(|&x| to_le(x)).collect();
    std::fs::write(path, bytes)
}

/// Trains `name` on the CPU backend for `epochs` epochs (the preset's schedule unchanged) and returns
/// its JSON row; with `export`, first writes the preset's data and configuration for the torch peer.
fn train_row(name: &str, epochs: u32, export: Option<&std::path::Path>) -> minnow::Result<Value> {
    let mut recipe = recipe::preset(name)?;
    recipe.training.epochs = epochs;
    recipe.backend = BackendChoice::Cpu;
    let mut session = pollster::block_on(Session::new(recipe.clone(), None))?;
    if let Some(dir) = export {
        let d = session.dataset();
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| minnow::Error::new(format!("{}: {e}", dir.display())))?;
        let io = |r: std::io::Result<()>| r.map_err(|e| minnow::Error::new(format!("export {name}: {e}")));
        io(write_raw(&dir.join("train_x.f32"), &d.train_x, f32::to_le_bytes))?;
        io(write_raw(&dir.join("train_y.u32"), &d.train_y, u32::to_le_bytes))?;
        io(write_raw(&dir.join("test_x.f32"), &d.test_x, f32::to_le_bytes))?;
        io(write_raw(&dir.join("test_y.u32"), &d.test_y, u32::to_le_bytes))?;
        let meta = json!({
            "input_shape": d.input_shape, "classes": d.classes, "recipe": recipe,
        });
        io(std::fs::write(dir.join("meta.json"), meta.to_string()))?;
    }
    let mut seconds = Vec::new();
    let mut last = thread_seconds();
    let report = pollster::block_on(session.run(|_| {
        let now = thread_seconds();
        seconds.push(now - last);
        last = now;
    }))?;
    let mut sorted = seconds.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let median = sorted[sorted.len() / 2];
    println!("train {name:<12} {epochs} epochs, median {median:.3} s/epoch {seconds:.3?}");
    Ok(json!({
        "preset": name, "epochs": epochs, "epoch_seconds": seconds, "median_epoch_seconds": median,
        "final_test_accuracy": report.epochs.last().map(|m| m.test_accuracy),
    }))
}

fn main() -> minnow::Result<()> {
    let mut out = None;
    let mut export = None;
    let mut epochs = 2u32;
    let mut quick = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| minnow::Error::new(format!("{a} needs a value")));
        match a.as_str() {
            "--out" => out = Some(value()?),
            "--export" => export = Some(std::path::PathBuf::from(value()?)),
            "--epochs" => {
                let v = value()?;
                epochs =
                    v.parse().map_err(|_| minnow::Error::new(format!("--epochs {v}: not a whole number")))?
            }
            "--quick" => quick = true,
            other => return Err(minnow::Error::new(format!("unknown option {other}"))),
        }
    }
    let budget = if quick { 0.2 } else { 1.0 };
    let (model, mhz) = cpuinfo();
    let (per_cycle, peak_how) = peak_flop_per_cycle(&model);
    let peak_gflops = mhz.map(|m| per_cycle * m / 1e3);
    println!(
        "CPU: {model}; {mhz:?} MHz; peak {per_cycle} FLOP/cycle ({peak_how}) = {peak_gflops:.1?} GFLOP/s"
    );
    let gemm = gemm_rows(budget, quick, peak_gflops)?;
    let int8_rows = int8_rows(budget)?;
    let mut train = Vec::new();
    for p in PRESETS {
        train.push(train_row(p, epochs, export.as_deref())?);
    }
    let doc = json!({
        "cpu": {
            "model": model, "mhz": mhz, "flop_per_cycle": per_cycle, "peak_how": peak_how,
            "peak_gflops": peak_gflops, "int8_path": int8::simd_path(),
        },
        "quick": quick, "gemm": gemm, "int8": int8_rows, "train": train,
    });
    let text = serde_json::to_string_pretty(&doc).map_err(|e| minnow::Error::new(e.to_string()))?;
    match out {
        Some(path) => std::fs::write(&path, text).map_err(|e| minnow::Error::new(format!("{path}: {e}")))?,
        None => println!("{text}"),
    }
    Ok(())
}
