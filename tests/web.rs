//! Browser tests (main thread): built with `cargo test --target wasm32-unknown-unknown` and run by
//! wasm-bindgen-test-runner in headless Chromium (see .cargo/config.toml and webdriver.json).
//! Native `cargo test` compiles this file to nothing.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::*;

#[path = "browser/engine.rs"]
mod engine;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn rng_uniform_is_in_unit_interval() {
    for counter in 0..1000 {
        let u = minnow::rng::uniform(1, counter);
        assert!((0.0..1.0).contains(&u), "uniform(1, {counter}) = {u}");
    }
}

/// Proves the browser flags in webdriver.json: without `--enable-unsafe-webgpu` headless Chromium
/// has no `navigator.gpu` or returns a null adapter, and the GPU backend would silently fall back.
#[wasm_bindgen_test]
async fn webgpu_adapter_is_available() {
    use wasm_bindgen::JsCast;
    let get = |obj: &wasm_bindgen::JsValue, key: &str| js_sys::Reflect::get(obj, &key.into()).unwrap();
    let navigator = get(&js_sys::global().into(), "navigator");
    let gpu = get(&navigator, "gpu");
    assert!(!gpu.is_undefined(), "navigator.gpu is missing: is --enable-unsafe-webgpu in webdriver.json?");
    let request: js_sys::Function = get(&gpu, "requestAdapter").unchecked_into();
    let promise: js_sys::Promise = request.call0(&gpu).unwrap().unchecked_into();
    let adapter = wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
    assert!(!adapter.is_null(), "navigator.gpu.requestAdapter() returned null");
}
