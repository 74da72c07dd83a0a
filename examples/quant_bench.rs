//! int8 ÷ f32 speed on the presets' layer shapes: minnow's f32 CPU matmul (`Tensor::matmul_t`)
//! against the int8 GEMM (`minnow::compress::int8::gemm_i8`, i32 accumulation) in the same run, medians of
//! several repetitions; torch's single-threaded f32 `F.linear` alongside when python3 has torch.
//! Then, when a GPU adapter exists, the same shapes on it: the f32 matmul kernel (`matmul_t` on a
//! GPU tensor) against the int8 GEMM (`GpuDevice::gemm_i8_acc`), unpacked and `dot4I8Packed`, each
//! timed from recording to the readback of its output (so submit and transfer latency included).
//! Run: `cargo run --release --example quant_bench`.

use minnow::compress::int8;
use minnow::core::backend::Device;
use minnow::core::rng::Rng;
use minnow::{Tensor, no_grad};
use std::process::Command;
#[path = "common/timing.rs"]
mod timing;
use timing::{median, wall_seconds};

/// One GEMM `[m×k] · [n×k]ᵀ` standing for a layer.
struct Case {
    name: &'static str,
    m: usize,
    k: usize,
    n: usize,
}

/// Median wall milliseconds of `f` over `reps` calls, after one warm-up call.
fn median_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    let ok: Result<f64, std::convert::Infallible> = median(reps, wall_seconds, || {
        f();
        Ok(())
    });
    ok.unwrap_or_else(|e| match e {}) * 1e3
}

/// Medians (ms) of torch's `F.linear` for each case, or None when torch is missing.
fn torch_ms(cases: &[Case], reps: usize) -> Option<Vec<f64>> {
    let shapes: Vec<String> = cases.iter().map(|c| format!("({},{},{})", c.m, c.k, c.n)).collect();
    let script = format!(
        "import time, torch, torch.nn.functional as F\ntorch.set_num_threads(1)\n\
         for m, k, n in [{}]:\n  x, w = torch.randn(m, k), torch.randn(n, k)\n  F.linear(x, w)\n  ts = []\n\
         \x20 for _ in range({reps}):\n    s = time.perf_counter(); F.linear(x, w); ts.append(time.perf_counter() - s)\n\
         \x20 print(sorted(ts)[len(ts) // 2] * 1e3)\n",
        shapes.join(",")
    );
    let out = Command::new("python3").args(["-c", &script]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let v: Vec<f64> =
        String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.trim().parse().ok()).collect();
    (v.len() == cases.len()).then_some(v)
}

fn main() -> minnow::Result<()> {
    let cases = [
        Case { name: "LeNet-300-100 fc1 784→300, batch 64", m: 64, k: 784, n: 300 },
        Case { name: "LeNet-300-100 fc2 300→100, batch 64", m: 64, k: 300, n: 100 },
        Case { name: "LeNet-300-100 fc3 100→10, batch 64", m: 64, k: 100, n: 10 },
        Case { name: "LeNet-300-100 fc1 784→300, batch 256", m: 256, k: 784, n: 300 },
        Case { name: "LeNet-300-100 fc2 300→100, batch 256", m: 256, k: 300, n: 100 },
        Case { name: "LeNet-300-100 fc3 100→10, batch 256", m: 256, k: 100, n: 10 },
        Case { name: "LeNet-5 conv1 1→6 5×5 28×28 (im2col), batch 64", m: 64 * 28 * 28, k: 25, n: 6 },
        Case { name: "LeNet-5 conv2 6→16 5×5 14×14 (im2col), batch 64", m: 64 * 10 * 10, k: 150, n: 16 },
    ];
    let reps = 21;
    let mut rng = Rng::new(1, 0);
    println!(
        "int8 GEMM path: {}; f32: minnow CPU matmul_t; medians of {reps} runs, single thread",
        int8::simd_path()
    );
    let torch = torch_ms(&cases, reps);
    if torch.is_none() {
        println!("(python3 with torch not found: torch column skipped)");
    }
    println!(
        "\n| layer | m×k·n | f32 ms | int8 ms | int8 ÷ f32 speed |{}",
        if torch.is_some() { " torch f32 ms |" } else { "" }
    );
    println!("|---|---|---:|---:|---:|{}", if torch.is_some() { "---:|" } else { "" });
    for (ci, c) in cases.iter().enumerate() {
        let xf: Vec<f32> = (0..c.m * c.k).map(|_| rng.range(-1.0, 1.0)).collect();
        let wf: Vec<f32> = (0..c.n * c.k).map(|_| rng.range(-1.0, 1.0)).collect();
        let x = Tensor::new(&xf, &[c.m, c.k], &Device::Cpu)?;
        let w = Tensor::new(&wf, &[c.n, c.k], &Device::Cpu)?;
        let xq: Vec<i8> = xf.iter().map(|v| (v * 127.0).round() as i8).collect();
        let wq: Vec<i8> = wf.iter().map(|v| (v * 127.0).round() as i8).collect();
        let mut acc = vec![0i32; c.m * c.n];
        let mut err = None;
        let f32_ms = median_ms(reps, || {
            if let Err(e) = no_grad(|| x.matmul_t(&w)) {
                err = Some(e);
            }
        });
        let i8_ms = median_ms(reps, || {
            if let Err(e) = int8::gemm_i8(&xq, &wq, c.m, c.k, c.n, &mut acc) {
                err = Some(e);
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        let torch_col = torch.as_ref().map(|t| format!(" {:.3} |", t[ci])).unwrap_or_default();
        println!(
            "| {} | {}×{}·{} | {f32_ms:.3} | {i8_ms:.3} | {:.2}× |{torch_col}",
            c.name,
            c.m,
            c.k,
            c.n,
            f32_ms / i8_ms
        );
    }
    #[cfg(feature = "gpu")]
    gpu_table(&cases, &mut rng)?;
    Ok(())
}

/// The GPU rows: f32 matmul kernel vs the int8 GEMM's two paths, each including its readback.
#[cfg(feature = "gpu")]
fn gpu_table(cases: &[Case], rng: &mut Rng) -> minnow::Result<()> {
    use minnow::core::backend::gpu::{GpuDevice, Int8Path, PackedI8};
    let dev = match pollster::block_on(GpuDevice::new()) {
        Ok(d) => d,
        Err(e) => {
            println!("\n(no GPU adapter: {e}; GPU table skipped)");
            return Ok(());
        }
    };
    let reps = 7;
    println!(
        "\nGPU adapter: {}; medians of {reps} runs, each to the readback of its output",
        dev.adapter_info()
    );
    if dev.is_software() {
        println!(
            "(a software adapter: these figures time the CPU emulating a GPU and say little about GPU speed)"
        );
    }
    let mut paths = vec![Int8Path::Unpacked];
    if dev.has_packed_dot4() {
        paths.push(Int8Path::Packed);
    } else {
        println!("(packed_4x8_integer_dot_product not offered: dot4I8Packed column skipped)");
    }
    let heads: Vec<String> = paths.iter().map(|p| format!(" int8 {} ms | f32 ÷ int8 |", p.name())).collect();
    println!("\n| layer | m×k·n | GPU f32 ms |{}", heads.concat());
    println!("|---|---|---:|{}", "---:|---:|".repeat(paths.len()));
    let gpu = Device::Gpu(dev.clone());
    for c in cases {
        let xf: Vec<f32> = (0..c.m * c.k).map(|_| rng.range(-1.0, 1.0)).collect();
        let wf: Vec<f32> = (0..c.n * c.k).map(|_| rng.range(-1.0, 1.0)).collect();
        let x = Tensor::new(&xf, &[c.m, c.k], &gpu)?;
        let w = Tensor::new(&wf, &[c.n, c.k], &gpu)?;
        let xq: Vec<i8> = xf.iter().map(|v| (v * 127.0).round() as i8).collect();
        let wq: Vec<i8> = wf.iter().map(|v| (v * 127.0).round() as i8).collect();
        let (pa, pw) = (PackedI8::upload(&dev, &xq, c.m, c.k)?, PackedI8::upload(&dev, &wq, c.n, c.k)?);
        let mut err = None;
        let f32_ms = median_ms(reps, || {
            if let Err(e) = no_grad(|| x.matmul_t(&w)).and_then(|y| y.to_vec_blocking()) {
                err = Some(e);
            }
        });
        let mut cols = String::new();
        for &path in &paths {
            let ms = median_ms(reps, || {
                let r = dev.gemm_i8_acc(&pa, &pw, path).and_then(|acc| pollster::block_on(acc.read()));
                if let Err(e) = r {
                    err = Some(e);
                }
            });
            cols.push_str(&format!(" {ms:.3} | {:.2}× |", f32_ms / ms));
        }
        if let Some(e) = err {
            return Err(e);
        }
        println!("| {} | {}×{}·{} | {f32_ms:.3} |{cols}", c.name, c.m, c.k, c.n);
    }
    Ok(())
}
