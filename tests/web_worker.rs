//! Browser tests inside a dedicated Web Worker, the context where the playground trains: the engine
//! checks and the WebGPU checks of tests/web.rs, `run_in_dedicated_worker` mode.
//! Native `cargo test` compiles this file to nothing.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::*;

#[path = "browser/engine.rs"]
mod engine;
#[path = "browser/gpu_checks.rs"]
mod gpu_checks;

wasm_bindgen_test_configure!(run_in_dedicated_worker);
