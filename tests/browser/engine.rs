//! The engine's browser tests, shared by tests/web.rs (page) and tests/web_worker.rs (dedicated
//! worker): every PyTorch fixture (tests/reference/harness.rs) and a tiny training run through the
//! Trainer the playground uses, plus the WebGPU adapter that webdriver.json's flags must expose.

use wasm_bindgen_test::*;

#[path = "../reference/harness.rs"]
mod harness;

// The PyTorch fixtures, in a page.

#[wasm_bindgen_test]
fn ops_match_pytorch() {
    harness::ops_match_pytorch();
}

#[wasm_bindgen_test]
fn every_op_has_a_fixture() {
    harness::every_op_has_a_fixture();
}

#[wasm_bindgen_test]
fn dropout_mask_is_counter_based() {
    harness::dropout_mask_is_counter_based();
}

#[wasm_bindgen_test]
fn losses_match_pytorch() {
    harness::losses_match_pytorch();
}

#[wasm_bindgen_test]
fn layers_match_pytorch() {
    harness::layers_match_pytorch();
}

#[wasm_bindgen_test]
fn optimizers_match_pytorch() {
    harness::optimizers_match_pytorch();
}

#[wasm_bindgen_test]
fn schedules_match_pytorch() {
    harness::schedules_match_pytorch();
}

/// A tiny training run through the same Trainer the page uses: the loss falls and the spiral is learnt.
#[wasm_bindgen_test]
async fn tiny_spiral_run_learns() {
    let mut recipe = minnow::recipe::preset("spiral-mlp").unwrap();
    recipe.backend = minnow::recipe::BackendChoice::Cpu;
    recipe.training.epochs = 30;
    let mut t = minnow::run::trainer::Trainer::new(recipe, None).await.unwrap();
    let report = t.run(|_| {}).await.unwrap();
    let first = report.epochs.first().unwrap().train_loss;
    let last = report.epochs.last().unwrap().train_loss;
    assert!(last < 0.5 * first, "loss {first} -> {last}");
    assert!(report.final_metrics.test_accuracy > 0.9, "accuracy {}", report.final_metrics.test_accuracy);
}

#[wasm_bindgen_test]
fn rng_uniform_is_in_unit_interval() {
    for counter in 0..1000 {
        let u = minnow::core::rng::uniform(2, counter);
        assert!((0.0..1.0).contains(&u), "uniform(2, {counter}) = {u}");
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

// The recipe size budget in wasm32 (32-bit usize): the native tests' own functions, so both targets
// refuse the same recipes with the same messages and figures.
#[path = "../native/limits.rs"]
mod limits;
