//! WebGPU in headless Chromium, in a page: ops against the CPU, a short training run, and the
//! `auto` fallback (the checks live in tests/browser/gpu_checks.rs). Native `cargo test` compiles
//! this file to nothing.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::*;

#[path = "browser/gpu_checks.rs"]
mod checks;

wasm_bindgen_test_configure!(run_in_browser);
