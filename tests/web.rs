//! Browser tests in a page: built with `cargo test --target wasm32-unknown-unknown` and run by
//! wasm-bindgen-test-runner in headless Chromium (see .cargo/config.toml and webdriver.json). One
//! binary per context (this one, tests/web_worker.rs): each wasm test binary costs a full link.
//! Native `cargo test` compiles this file to nothing.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::*;

#[path = "browser/engine.rs"]
mod engine;
#[path = "browser/export.rs"]
mod export;
#[path = "browser/fuzz.rs"]
mod fuzz;
#[path = "browser/gpu_checks.rs"]
mod gpu_checks;
#[path = "browser/int8.rs"]
mod int8;

wasm_bindgen_test_configure!(run_in_browser);
