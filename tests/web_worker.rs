//! Browser tests inside a dedicated Web Worker, the context where the playground trains: same
//! runner as tests/web.rs (headless Chromium), `run_in_dedicated_worker` mode.
//! Native `cargo test` compiles this file to nothing.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::*;

#[path = "browser/engine.rs"]
mod engine;

wasm_bindgen_test_configure!(run_in_dedicated_worker);
