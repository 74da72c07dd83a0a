//! WebGPU in headless Chromium, in a dedicated worker: ops against the CPU, a short training run, and the
//! `auto` fallback (the checks live in tests/browser/gpu_checks.rs). Native `cargo test` compiles
//! this file to nothing.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::*;

#[path = "browser/gpu_checks.rs"]
mod checks;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

#[wasm_bindgen_test]
async fn ops_match_cpu_on_webgpu() {
    checks::ops_match_cpu_on_webgpu().await;
}

#[wasm_bindgen_test]
async fn short_training_on_webgpu() {
    checks::short_training_on_webgpu().await;
}

#[wasm_bindgen_test]
async fn auto_falls_back_without_webgpu() {
    checks::auto_falls_back_without_webgpu().await;
}
