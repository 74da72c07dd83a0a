//! Browser tests of the model-file entry points (`Run.exportModel`, `Run.importModel`,
//! `modelFileInfo`), a module of tests/web.rs: a run exported and imported in wasm32 predicts
//! exactly as the original; `modelFileInfo` describes a pruned and quantized export; a bad file is
//! a JS Error. tests/native/export.rs covers the format itself.

use js_sys::{Array, Float32Array, Reflect, Uint8Array};
use minnow::wasm::{Run, model_file_info};
use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

const SPIRAL: &str = r#"{"version": 1, "seed": 2, "backend": "cpu",
  "dataset": {"name": "spiral", "samples": 200, "classes": 2},
  "model": {"kind": "mlp", "hidden": [16], "activation": "tanh", "batch_norm": true},
  "training": {"epochs": 1, "batch_size": 20, "optimizer": {"kind": "adam", "lr": 0.02}}}"#;

/// The spiral run, then 50 % magnitude pruning and 8-bit weight quantization.
const SPIRAL_COMPRESSED: &str = r#"{"version": 1, "seed": 2, "backend": "cpu",
  "dataset": {"name": "spiral", "samples": 200, "classes": 2},
  "model": {"kind": "mlp", "hidden": [16], "activation": "tanh"},
  "training": {"epochs": 1, "batch_size": 20, "optimizer": {"kind": "adam", "lr": 0.02}},
  "compression": [{"kind": "magnitude", "amount": 0.5},
                  {"kind": "quantize", "bits": 8, "scheme": "symmetric", "granularity": "per_channel"}]}"#;

async fn export(run: &Run) -> Vec<u8> {
    let file = JsFuture::from(run.export_model()).await.expect("export");
    file.unchecked_into::<Uint8Array>().to_vec()
}

fn error_message(e: JsValue) -> String {
    e.unchecked_into::<js_sys::Error>().message().as_string().unwrap_or_default()
}

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

#[wasm_bindgen_test]
async fn model_file_info_describes_a_compressed_export() {
    let run = Run::create(SPIRAL_COMPRESSED.into(), None).await.expect("create");
    let mut done = false;
    for _ in 0..100 {
        let info = JsFuture::from(run.step(1000)).await.expect("step");
        if Reflect::get(&info, &"done".into()).unwrap().as_bool() == Some(true) {
            done = true;
            break;
        }
    }
    assert!(done, "the run and its two stages finish");
    let bytes = export(&run).await;
    let info = model_file_info(&bytes).expect("modelFileInfo");
    let get = |k: &str| Reflect::get(&info, &k.into()).unwrap();
    let recipe = get("recipe").as_string().expect("recipe is JSON text");
    let recipe = minnow::recipe::Recipe::from_json(&recipe).expect("the recipe validates");
    assert!(recipe.compression.is_empty(), "the saved recipe has no stages: their effect is in the tensors");
    let source = get("sourceRecipe").as_string().expect("the run's own recipe is recorded");
    assert!(source.contains("magnitude") && source.contains("quantize"), "{source}");
    assert_eq!(get("masked").as_bool(), Some(true));
    assert_eq!(get("quantized").as_bool(), Some(true));
    assert_eq!(get("classes").as_f64(), Some(2.0));
    let shape: Vec<f64> = Array::from(&get("inputShape")).iter().filter_map(|v| v.as_f64()).collect();
    assert_eq!(shape, [2.0]);
    assert!(get("tensors").as_f64().unwrap_or(0.0) >= 4.0);

    // The importer's message for the same bytes, cut in half and as garbage.
    let half = model_file_info(&bytes[..bytes.len() / 2]).map(|_| ()).map_err(error_message);
    assert!(half.as_ref().is_err_and(|m| m.contains("truncated")), "{half:?}");
    let garbage = model_file_info(b"not a model").map(|_| ()).map_err(error_message);
    assert!(garbage.as_ref().is_err_and(|m| m.contains("safetensors")), "{garbage:?}");
    let empty = model_file_info(&[]).map(|_| ()).map_err(error_message);
    assert!(empty.as_ref().is_err_and(|m| m.contains("empty")), "{empty:?}");
}
