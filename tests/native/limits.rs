//! The size budget of a recipe (src/recipe/budget.rs): models whose activations, work per step or
//! parameter count would abort a browser tab are refused when the recipe is validated, naming the
//! field to change, with the same u64 arithmetic on every target. tests/browser/engine.rs runs these
//! same functions in wasm32 (32-bit `usize`), so both targets refuse exactly the same recipes.

use minnow::Device;
use minnow::recipe::budget::{EVAL_CHUNK, MAX_ACTIVATION_BYTES, MAX_STEP_FLOPS};
use minnow::recipe::{MAX_PARAMS, PRESETS, Recipe, preset};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// A recipe on MNIST with `model` (JSON) and `batch` samples a batch.
fn mnist(model: &str, batch: usize) -> String {
    format!(
        r#"{{"version": 1, "dataset": {{"name": "mnist", "classes": 10}}, "model": {model},
        "training": {{"epochs": 1, "batch_size": {batch}, "optimizer": {{"kind": "adam", "lr": 0.001}}}},
        "seed": 1, "backend": "cpu"}}"#
    )
}

fn refusal(json: &str) -> String {
    match Recipe::from_json(json) {
        Ok(_) => panic!("accepted: {json}"),
        Err(e) => e.to_string(),
    }
}

/// One conv block of 4,096 channels (about 2 M parameters, under the 4 M limit): its feature maps
/// need about 54 GB for one evaluation chunk, which aborted the process (natively) or wrapped a
/// 32-bit element count (wasm32). Refused at validation, naming the block's channels.
#[test]
fn a_cnn_of_4096_channels_is_refused_naming_its_channels() {
    let model = r#"{"kind": "cnn", "conv": [{"channels": 4096, "kernel": 3, "padding": 1, "pool": 4}]}"#;
    let json = mnist(model, 64);
    let e = refusal(&json);
    for needle in [
        "model.conv[0].channels = 4096",
        "activations need 5",
        "GB",
        "at most 1.0 GB",
        "lower model.conv[0].channels",
    ] {
        assert!(e.contains(needle), "{e:?} lacks {needle:?}");
    }
    // The same spec costed directly: parameters under the limit, activations far over it.
    let r: Recipe = serde_json::from_str(&json).unwrap();
    let err = r.model.cost("model", &[1, 28, 28], 10, 64, "training.batch_size").unwrap_err().to_string();
    assert_eq!(err, e);
    let params = 4096 * 9 + 4096 + 4096 * 7 * 7 * 10 + 10;
    assert!(params < MAX_PARAMS, "the case must pass the parameter limit: {params}");
    // Nothing is allocated either when the model is built for a dataset of that shape.
    let built = r.build_model(&[1, 28, 28], 10, &Device::Cpu).err().map(|e| e.to_string());
    assert_eq!(built.as_deref(), Some(e.as_str()));
}

/// 4,096 channels of 28x28 flattened into a hidden layer of 1,338: 4,296,694,152 parameters, which
/// a 32-bit `usize` sum wraps to 1,726,856, under the 4 M limit (as on wasm32 before). Counted in u64
/// the limit refuses it on every target, with the exact count.
#[test]
fn a_parameter_count_that_wraps_32_bits_is_refused_with_its_exact_value() {
    let model = r#"{"kind": "cnn", "conv": [{"channels": 4096, "kernel": 1, "pool": 1}], "hidden": [1338]}"#;
    let params: u64 = (4096 + 4096) + (4096 * 28 * 28 * 1338 + 1338) + (1338 * 10 + 10);
    assert_eq!(params, 4_296_694_152);
    assert_eq!(params % (1u64 << 32), 1_726_856, "wraps under the limit in 32 bits");
    let e = refusal(&mnist(model, 32));
    assert!(e.starts_with(&format!("model has {params} parameters: at most {MAX_PARAMS}")), "{e}");
    assert!(e.contains("model.hidden[0] = 1338"), "{e}");
}

/// A model that fits at a small batch but whose training step does not at 4,096: the message names
/// the batch size too.
#[test]
fn a_batch_too_large_for_the_activations_names_the_batch_size() {
    let mut r = preset("mnist-cnn").unwrap();
    r.training.batch_size = 4096;
    let e = r.validate().unwrap_err().to_string();
    assert!(e.contains("forward and backward at training.batch_size = 4096"), "{e}");
    assert!(e.contains("or training.batch_size"), "{e}");
}

/// Work per step: a model whose activations fit but whose matrix products do not.
#[test]
fn a_step_over_the_flop_limit_is_refused_naming_the_layer() {
    let model = r#"{"kind": "mlp", "hidden": [1024, 1024, 1024]}"#;
    let e = refusal(&mnist(model, 4096));
    assert!(e.contains("one step needs") && e.contains("MAX_STEP_FLOPS"), "{e}");
    assert!(e.contains("model.hidden[") && e.contains("or training.batch_size"), "{e}");
}

/// Every shipped preset passes with a margin of at least 2x on each limit, and the budget's
/// parameter count is the built model's.
#[test]
fn every_preset_is_within_the_budget_with_margin() {
    for p in PRESETS {
        let r = preset(p.name).unwrap();
        let (shape, classes) = r.dataset.known_shape().expect("presets use built-in datasets");
        let c = r.model.cost("model", &shape, classes, r.training.batch_size, "training.batch_size").unwrap();
        assert!(c.activation_bytes * 2 <= MAX_ACTIVATION_BYTES, "{}: {c:?}", p.name);
        assert!(c.step_flops * 2 <= MAX_STEP_FLOPS, "{}: {c:?}", p.name);
        assert!(c.params * 2 <= MAX_PARAMS as u64, "{}: {c:?}", p.name);
        let samples = (2 * r.training.batch_size as u64).max(EVAL_CHUNK);
        assert_eq!(c.activation_bytes, 4 * c.values_per_sample * samples);
        let model = r.build_model(&shape, classes, &Device::Cpu).unwrap();
        assert_eq!(c.params, model.param_count() as u64, "{}", p.name);
    }
}

/// The figures of the MNIST CNN, the largest preset: pinned, so a change to the accounting shows.
#[test]
fn mnist_cnn_budget_figures() {
    let r = preset("mnist-cnn").unwrap();
    let c = r.model.cost("model", &[1, 28, 28], 10, 64, "training.batch_size").unwrap();
    assert_eq!(c.params, 156 + 2416 + 48_120 + 10_164 + 850);
    // conv 0: im2col 25·784, 4 maps of 6·784, pooled 6·196; conv 1: im2col 150·100, 4 maps of
    // 16·100, pooled 16·25; dense: 3·120 + 3·84; output 2·10.
    let values =
        25 * 784 + 4 * 6 * 784 + 6 * 196 + 150 * 100 + 4 * 16 * 100 + 16 * 25 + 3 * 120 + 3 * 84 + 20;
    assert_eq!(c.values_per_sample, values);
    assert_eq!(c.activation_bytes, 4 * values * 1024);
}
