//! Every native integration test, as one test binary: each file below is a module that was once its
//! own `tests/*.rs` crate. One binary links minnow and wgpu once instead of sixteen times, which is
//! most of the clean-build time of `make test` (run one group with `cargo test --test native quant::`).
//! The browser suites stay separate (tests/web*.rs): each needs its own wasm-bindgen-test context.

mod activations;
mod cli;
mod data;
mod deep_compression;
mod distill;
mod drawn;
mod end_to_end;
mod export;
mod fixtures;
mod fuzz;
mod gpu_ops;
mod gpu_train;
mod gradcheck;
mod int8;
mod int8_gpu;
mod layers;
mod limits;
mod presets;
mod prune;
mod quant;
mod recipe;
mod session;
mod shaders_validate;
mod ts_types;

/// Whether `MINNOW_REQUIRE_GPU` is set (to anything but "" or "0"): CI on a machine that has an
/// adapter (lavapipe) sets it, so a GPU test can never pass by skipping there.
fn gpu_required() -> bool {
    std::env::var("MINNOW_REQUIRE_GPU").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// A fresh WGSL device (lavapipe here), or None with "SKIPPED: …" printed where no adapter exists;
/// with `MINNOW_REQUIRE_GPU=1` a missing adapter fails the test instead. Every native GPU test gets
/// its device here. (A missing optional feature, such as int8_gpu.rs's dot4 path, may still skip,
/// saying why.)
fn gpu_device() -> Option<minnow::core::backend::gpu::GpuDevice> {
    match pollster::block_on(minnow::core::backend::gpu::GpuDevice::new()) {
        Ok(d) => Some(d),
        Err(e) => {
            assert!(!gpu_required(), "MINNOW_REQUIRE_GPU=1 but there is no GPU adapter: {e}");
            println!("SKIPPED: no GPU adapter ({e}); set MINNOW_REQUIRE_GPU=1 to make this a failure");
            None
        }
    }
}

/// A report's stages as JSON, the form the CLI prints and the page reads (what the assertions on
/// field names check).
fn stages_json(r: &minnow::run::report::Report) -> Vec<serde_json::Value> {
    r.stages.iter().map(|s| serde_json::to_value(s).expect("stage report to JSON")).collect()
}
