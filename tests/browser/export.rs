//! Browser tests of the model-file entry points (`Run.exportModel`, `Run.importModel`), a module
//! of tests/web.rs: a run exported and imported in wasm32 predicts exactly as the original; a bad
//! file is a JS Error. tests/native/export.rs covers the format itself.

use js_sys::{Float32Array, Uint8Array};
use minnow::wasm::Run;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

const SPIRAL: &str = r#"{"version": 1, "seed": 2, "backend": "cpu",
  "dataset": {"name": "spiral", "samples": 200, "classes": 2},
  "model": {"kind": "mlp", "hidden": [16], "activation": "tanh", "batch_norm": true},
  "training": {"epochs": 1, "batch_size": 20, "optimizer": {"kind": "adam", "lr": 0.02}}}"#;

async fn grid(run: &Run) -> Vec<f32> {
    let v = JsFuture::from(run.decision_grid(8)).await.expect("decision grid");
    v.unchecked_into::<Float32Array>().to_vec()
}

#[wasm_bindgen_test]
async fn exported_run_imports_with_identical_predictions() {
    let run = Run::create(SPIRAL.into(), None).await.expect("create");
    JsFuture::from(run.step(1000)).await.expect("train one epoch");
    let file = JsFuture::from(run.export_model()).await.expect("export");
    let bytes = file.unchecked_into::<Uint8Array>().to_vec();
    assert_eq!(&bytes[8..10], b"{\"", "a safetensors header follows the 8-byte length");
    let copy = Run::import_model(bytes, None).await.expect("import");
    assert_eq!(grid(&run).await, grid(&copy).await);
}

#[wasm_bindgen_test]
async fn importing_garbage_is_a_clear_error() {
    let err = match Run::import_model(b"not a model at all".to_vec(), None).await {
        Ok(_) => panic!("garbage imported"),
        Err(e) => e.unchecked_into::<js_sys::Error>().message().as_string().unwrap_or_default(),
    };
    assert!(err.contains("not a valid safetensors file"), "{err}");
}
