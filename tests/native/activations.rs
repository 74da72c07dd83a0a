//! The two GELUs: `gelu` is the exact, erf-based GELU of torch's default `nn.GELU()`, `gelu_tanh`
//! its tanh approximation (`approximate="tanh"`); the recipe, the layers and model files know both,
//! and a model file of format 1 (whose `gelu` was the tanh approximation) still computes what it
//! computed. Agreement with torch itself is in tests/reference (ops.json, layers.json).

use minnow::Device;
use minnow::Tensor;
use minnow::io::model_file::{self, FORMAT_VERSION, ModelFile};
use minnow::nn::Activation;
use minnow::recipe::{ModelSpec, Recipe};
use minnow::run::trainer::Trainer;
use safetensors::SafeTensors;
use safetensors::tensor::TensorView;

fn values(f: impl Fn(&Tensor) -> minnow::Result<Tensor>, x: &[f32]) -> Vec<f32> {
    let t = Tensor::new(x, &[x.len()], &Device::Cpu).unwrap();
    f(&t).unwrap().to_vec_blocking().unwrap()
}

/// x·Φ(x) against values of Φ to 9 digits, and the approximation's known gap (largest near |x| ≈ 2).
#[test]
#[allow(clippy::excessive_precision)] // the table's digits, as printed there
fn gelu_is_x_times_the_normal_cdf_and_gelu_tanh_the_approximation() {
    let x = [-3.0, -1.0, 0.0, 0.5, 1.0, 2.0];
    // Φ(x) from the normal table: Φ(−3) = 0.001349898, Φ(−1) = 0.158655254, Φ(0.5) = 0.691462461,
    // Φ(1) = 0.841344746, Φ(2) = 0.977249868.
    let want =
        [-3.0 * 0.001_349_898, -0.158_655_25, 0.0, 0.5 * 0.691_462_46, 0.841_344_75, 2.0 * 0.977_249_87];
    let exact = values(Tensor::gelu, &x);
    for ((g, w), x) in exact.iter().zip(want).zip(x) {
        assert!((g - w).abs() < 1e-6, "gelu({x}) = {g}, want {w}");
    }
    let approx = values(Tensor::gelu_tanh, &x);
    let gap = exact.iter().zip(&approx).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(gap > 1e-4 && gap < 3e-3, "gelu and gelu_tanh differ by {gap}");
    assert!((approx[4] - 0.841_192).abs() < 1e-6, "gelu_tanh(1) = {}", approx[4]);
}

#[test]
fn recipes_name_both_and_refuse_others() {
    let json = |act: &str| {
        format!(
            r#"{{"version": 1, "dataset": {{"name": "spiral"}}, "model": {{"kind": "mlp", "hidden": [8],
            "activation": "{act}"}}, "training": {{"epochs": 1, "batch_size": 16,
            "optimizer": {{"kind": "sgd", "lr": 0.1}}}}}}"#
        )
    };
    for (name, act) in [("gelu", Activation::Gelu), ("gelu_tanh", Activation::GeluTanh)] {
        let r = Recipe::from_json(&json(name)).unwrap();
        assert!(matches!(r.model, ModelSpec::Mlp { activation, .. } if activation == act));
        assert!(r.to_json().contains(&format!("\"activation\": \"{name}\"")));
    }
    let e = Recipe::from_json(&json("gelu_erf")).unwrap_err().to_string();
    assert!(e.contains("model.activation") && e.contains("gelu_tanh"), "{e}");
}

const SPIRAL: &str = r#"{"version": 1, "seed": 3, "backend": "cpu",
  "dataset": {"name": "spiral", "samples": 200, "classes": 3},
  "model": {"kind": "mlp", "hidden": [16, 16], "activation": "ACT"},
  "training": {"epochs": 2, "batch_size": 16, "optimizer": {"kind": "adam", "lr": 0.01}}}"#;

fn trained(act: &str) -> Trainer {
    let r = Recipe::from_json(&SPIRAL.replace("ACT", act)).unwrap();
    let mut t = Trainer::with_device(r, None, Device::Cpu, String::new()).unwrap();
    pollster::block_on(t.run(|_| {})).unwrap();
    t
}

/// `bytes` with its metadata `minnow_format` and `recipe` replaced.
fn with_meta(bytes: &[u8], format: &str, recipe: &str) -> Vec<u8> {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
    let mut meta = header.metadata().clone().unwrap();
    meta.insert("minnow_format".into(), format.into());
    meta.insert("recipe".into(), recipe.into());
    let views: Vec<(String, TensorView)> = st.iter().map(|(n, v)| (n.to_string(), v)).collect();
    safetensors::serialize(views, Some(meta)).unwrap()
}

fn logits(t: &Trainer) -> Vec<f32> {
    t.test_logits().unwrap().to_vec_blocking().unwrap()
}

/// A file of format 1 saying `gelu` is read as `gelu_tanh` and gives the logits its run gave; the
/// same file as format 2 means the exact GELU and gives other logits.
#[test]
fn format_1_files_keep_their_tanh_gelu() {
    let t = trained("gelu_tanh");
    let bytes = pollster::block_on(model_file::save_trainer(&t)).unwrap();
    let file = ModelFile::from_bytes(&bytes).unwrap();
    assert_eq!(FORMAT_VERSION, "2");
    let old_recipe = file.recipe.to_json().replace("\"gelu_tanh\"", "\"gelu\"");
    assert!(old_recipe.contains("\"activation\": \"gelu\""));

    let v1 = with_meta(&bytes, "1", &old_recipe);
    let read = ModelFile::from_bytes(&v1).unwrap();
    assert!(matches!(read.recipe.model, ModelSpec::Mlp { activation: Activation::GeluTanh, .. }));
    let loaded = pollster::block_on(model_file::trainer_from_file(&v1, None, None)).unwrap();
    assert_eq!(logits(&loaded), logits(&t), "a format-1 gelu file computes what it computed");

    let v2 = with_meta(&bytes, "2", &old_recipe);
    let read = ModelFile::from_bytes(&v2).unwrap();
    assert!(matches!(read.recipe.model, ModelSpec::Mlp { activation: Activation::Gelu, .. }));
    let exact = pollster::block_on(model_file::trainer_from_file(&v2, None, None)).unwrap();
    assert_ne!(logits(&exact), logits(&t));
}

/// A model trained with the exact GELU reloads to the same logits (the name round-trips).
#[test]
fn exact_gelu_models_round_trip() {
    let t = trained("gelu");
    let bytes = pollster::block_on(model_file::save_trainer(&t)).unwrap();
    let loaded = pollster::block_on(model_file::trainer_from_file(&bytes, None, None)).unwrap();
    assert!(matches!(loaded.recipe.model, ModelSpec::Mlp { activation: Activation::Gelu, .. }));
    assert_eq!(logits(&loaded), logits(&t));
}
