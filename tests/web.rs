//! Browser tests (main thread): built with `cargo test --target wasm32-unknown-unknown` and run by
//! wasm-bindgen-test-runner in headless Chromium (see .cargo/config.toml and webdriver.json).
//! Native `cargo test` compiles this file to nothing.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::*;

#[path = "browser/engine.rs"]
mod engine;

wasm_bindgen_test_configure!(run_in_browser);
