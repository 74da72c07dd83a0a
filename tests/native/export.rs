//! Model files (src/io/model_file.rs): save → load is bit-exact and training continues identically;
//! masks and quantized tensors load as documented; every preset with quantization saves the
//! weights it computes with (the dequantized codes, which re-quantize to themselves) and reloads to
//! the same logits bit for bit; format 1 files (tests/model-files) compute what they computed;
//! malformed, truncated and mismatched files give clear errors, never a panic; and PyTorch
//! (scripts/torch_eval.py) rebuilds each model from its file and gets the same accuracy and logits
//! as `minnow eval` (skipped with a message where torch is missing).

use minnow::Device;
use minnow::io::model_file::{self, ExtraTensor, ModelFile};
use minnow::nn::{Activation, Sequential};
use minnow::recipe::{ModelSpec, Recipe};
use minnow::run::trainer::Trainer;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

/// Digits, MLP with batch norm, no dropout (so two trainers from equal weights train identically).
const MLP_BN: &str = r#"{"version": 1, "seed": 3, "backend": "cpu",
  "dataset": {"name": "digits", "classes": 10},
  "model": {"kind": "mlp", "hidden": [32, 16], "activation": "leaky_relu", "batch_norm": true},
  "training": {"epochs": 1, "batch_size": 32, "optimizer": {"kind": "adam", "lr": 0.003}, "metrics_every": 1}}"#;

/// Digits as 1×8×8 images: conv (same padding, pool) → conv (stride 1, no pool) → dense.
const CNN: &str = r#"{"version": 1, "seed": 5, "backend": "cpu",
  "dataset": {"name": "digits", "classes": 10},
  "model": {"kind": "cnn", "conv": [{"channels": 4, "kernel": 3, "padding": 1, "pool": 2},
                                     {"channels": 6, "kernel": 3, "pool": 1}],
            "hidden": [16], "activation": "relu", "batch_norm": true, "dropout": 0.2},
  "training": {"epochs": 1, "batch_size": 32, "optimizer": {"kind": "sgd", "lr": 0.05, "momentum": 0.9}}}"#;

fn recipe(json: &str) -> Recipe {
    Recipe::from_json(json).expect("test recipe parses")
}

/// A 2-D spiral MLP with the given activation, batch norm and dropout.
fn spiral(activation: &str, extra: &str) -> String {
    format!(
        r#"{{"version": 1, "seed": 7, "backend": "cpu",
  "dataset": {{"name": "spiral", "samples": 300, "classes": 3}},
  "model": {{"kind": "mlp", "hidden": [24, 12], "activation": "{activation}"{extra}}},
  "training": {{"epochs": 3, "batch_size": 16, "optimizer": {{"kind": "adam", "lr": 0.01}}}}}}"#
    )
}

fn trained(json: &str) -> Trainer {
    let mut t = Trainer::with_device(recipe(json), None, Device::Cpu, String::new()).expect("trainer");
    pollster::block_on(t.run(|_| {})).expect("training runs");
    t
}

fn save(t: &Trainer, extra: &[(String, ExtraTensor)]) -> Vec<u8> {
    let fut =
        model_file::save(&t.model, t.quant.as_ref(), &t.recipe, &t.data.input_shape, t.data.classes, extra);
    pollster::block_on(fut).expect("save")
}

fn state_values(m: &Sequential) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    m.state().into_iter().map(|(n, t)| (n, t.shape().to_vec(), t.to_vec_blocking().unwrap())).collect()
}

fn test_logits(t: &Trainer) -> Vec<f32> {
    t.test_logits().and_then(|l| l.to_vec_blocking()).expect("logits")
}

fn load_err(bytes: &[u8]) -> String {
    match model_file::load(bytes, &Device::Cpu) {
        Ok(_) => panic!("loading should have failed"),
        Err(e) => e.to_string(),
    }
}

fn assert_contains(msg: &str, want: &str) {
    assert!(msg.contains(want), "error {msg:?} should contain {want:?}");
}

#[test]
fn save_load_round_trip_is_bit_exact() {
    for json in [MLP_BN, CNN] {
        let t = trained(json);
        let bytes = save(&t, &[]);
        let (r, model, _) = model_file::load(&bytes, &Device::Cpu).expect("load");
        assert_eq!(r, t.recipe);
        assert_eq!(state_values(&model), state_values(&t.model));

        let loaded = Trainer::from_model(r, None, model, Device::Cpu, String::new()).unwrap();
        let (a, b) = (test_logits(&t), test_logits(&loaded));
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "logits differ after load");

        // load_into: a model of the same architecture from another seed takes the file's values.
        let mut other = t.recipe.clone();
        other.seed += 1;
        let fresh = other.build_model(&t.data.input_shape, t.data.classes, &Device::Cpu).unwrap();
        assert_ne!(state_values(&fresh), state_values(&t.model));
        model_file::load_into(&fresh, &bytes).unwrap();
        assert_eq!(state_values(&fresh), state_values(&t.model));
    }
}

/// Per-step losses of training `t` to the end (`metrics_every` = 1 reads every step).
fn loss_sequence(t: &mut Trainer) -> Vec<f32> {
    let mut losses = Vec::new();
    while !t.done() {
        let info = pollster::block_on(t.step(1)).unwrap();
        losses.extend(info.loss);
    }
    losses
}

#[test]
fn training_continues_identically_after_save_and_load() {
    let t = trained(MLP_BN);
    let bytes = save(&t, &[]);
    let recipe = t.recipe.clone();
    let (_, loaded, _) = model_file::load(&bytes, &Device::Cpu).unwrap();
    let mut from_file =
        Trainer::from_model(recipe.clone(), None, loaded, Device::Cpu, String::new()).unwrap();
    let mut in_memory = Trainer::from_model(recipe, None, t.model, Device::Cpu, String::new()).unwrap();
    let (a, b) = (loss_sequence(&mut from_file), loss_sequence(&mut in_memory));
    assert_eq!(a.len(), from_file.batches_per_epoch());
    assert_eq!(a, b, "loss sequences differ");
    assert_eq!(state_values(&from_file.model), state_values(&in_memory.model));
}

fn per_channel_int8(w: &[f32], rows: usize, zero: i32) -> (Vec<i8>, Vec<f32>, Vec<i32>, Vec<f32>) {
    let per = w.len() / rows;
    let (mut q, mut scales, mut expect) = (Vec::new(), Vec::new(), Vec::new());
    for row in w.chunks(per) {
        let s = row.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-8) / 100.0;
        scales.push(s);
        for &v in row {
            let qi = ((v / s).round() as i32 + zero).clamp(-128, 127);
            q.push(qi as i8);
            expect.push((qi as f32 - zero as f32) * s);
        }
    }
    (q, scales, vec![zero; rows], expect)
}

/// A file whose `name` is stored only as int8 with per-channel scales; returns it and the values.
fn quantize_in_file(file: &mut ModelFile, name: &str, zero: i32) -> Vec<f32> {
    let i = file.tensors.iter().position(|(n, _)| n == name).expect("tensor in file");
    let (_, ExtraTensor::F32 { shape, data }) = file.tensors.remove(i) else { panic!("F32 state") };
    let (q, scale, zp, expect) = per_channel_int8(&data, shape[0], zero);
    file.tensors.push((format!("{name}.int8"), ExtraTensor::I8 { shape: shape.clone(), data: q }));
    file.tensors.push((format!("{name}.scale"), ExtraTensor::F32 { shape: vec![shape[0]], data: scale }));
    file.tensors.push((format!("{name}.zero_point"), ExtraTensor::I32 { shape: vec![shape[0]], data: zp }));
    expect
}

fn mask_for(t: &Trainer, name: &str) -> (ExtraTensor, Vec<f32>) {
    let (_, w) = t.model.state().into_iter().find(|(n, _)| n == name).unwrap();
    let v = w.to_vec_blocking().unwrap();
    let keep: Vec<u8> = (0..v.len()).map(|i| u8::from(i % 3 != 0)).collect();
    let masked = v.iter().zip(&keep).map(|(&x, &k)| if k == 1 { x } else { 0.0 }).collect();
    (ExtraTensor::U8 { shape: w.shape().to_vec(), data: keep }, masked)
}

#[test]
fn masks_and_quantized_tensors_load_as_documented() {
    let t = trained(MLP_BN);
    let (mask, masked) = mask_for(&t, "1.weight");
    assert!(masked.contains(&0.0));
    let bytes = save(&t, &[("1.weight_mask".into(), mask.clone())]);
    let mut file = ModelFile::from_bytes(&bytes).unwrap();
    assert_eq!(file.get("1.weight_mask"), Some(&mask));
    let (model, _) = file.build(&Device::Cpu).unwrap();
    let get = |m: &Sequential, n: &str| {
        m.state().into_iter().find(|(k, _)| k == n).unwrap().1.to_vec_blocking().unwrap()
    };
    assert_eq!(get(&model, "1.weight"), masked);

    // Format 1, quantized only: the float tensor is gone, loaders dequantize the `.int8` values
    // (per channel, non-zero zero point).
    file.format = 1;
    let expect = quantize_in_file(&mut file, "7.weight", 3);
    let model = model_file::load(&file.to_bytes().unwrap(), &Device::Cpu).unwrap().1;
    assert_eq!(get(&model, "7.weight"), expect);

    // Format 1, per-tensor scale next to the float: the float wins.
    let mut file = ModelFile::from_bytes(&bytes).unwrap();
    file.format = 1;
    let n = file.get("4.weight").unwrap().shape().iter().product();
    file.tensors.push(("4.weight.int8".into(), ExtraTensor::I8 { shape: vec![16, 32], data: vec![1; n] }));
    file.tensors.push(("4.weight.scale".into(), ExtraTensor::F32 { shape: vec![], data: vec![0.5] }));
    file.tensors.push(("4.weight.zero_point".into(), ExtraTensor::I32 { shape: vec![], data: vec![0] }));
    let model = model_file::load(&file.to_bytes().unwrap(), &Device::Cpu).unwrap().1;
    assert_eq!(get(&model, "4.weight"), get(&t.model, "4.weight"));

    // save refuses what load would refuse.
    let bad = [
        ("9.weight_mask", mask.clone(), "belongs to `9.weight`"),
        ("4.weight_mask", mask.clone(), "mask `4.weight_mask`: shape [32, 64], its tensor has [16, 32]"),
        ("1.weight_mask", ExtraTensor::F32 { shape: vec![32, 64], data: vec![1.0; 2048] }, "masks are U8"),
        ("extra", ExtraTensor::U8 { shape: vec![1], data: vec![1] }, "unexpected tensor `extra`"),
        ("1.bias", ExtraTensor::U8 { shape: vec![1], data: vec![1; 2] }, "does not hold 2 values"),
    ];
    for (name, tensor, want) in bad {
        let extra = [(name.to_string(), tensor)];
        let fut = model_file::save(
            &t.model,
            t.quant.as_ref(),
            &t.recipe,
            &t.data.input_shape,
            t.data.classes,
            &extra,
        );
        assert_contains(&pollster::block_on(fut).unwrap_err().to_string(), want);
    }
}

/// Re-serializes a safetensors file after `edit` changes its metadata or raw tensors.
fn rewrite(
    bytes: &[u8],
    edit: impl FnOnce(&mut HashMap<String, String>, &mut Vec<(String, Dtype, Vec<usize>, Vec<u8>)>),
) -> Vec<u8> {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
    let mut meta: HashMap<String, String> =
        header.metadata().iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut tensors: Vec<_> =
        st.iter().map(|(n, v)| (n.to_string(), v.dtype(), v.shape().to_vec(), v.data().to_vec())).collect();
    edit(&mut meta, &mut tensors);
    let views: Vec<_> =
        tensors.iter().map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap())).collect();
    safetensors::serialize(views, Some(meta.into_iter().collect())).unwrap()
}

fn set_meta(bytes: &[u8], key: &str, value: Option<&str>) -> Vec<u8> {
    rewrite(bytes, |m, _| match value {
        Some(v) => drop(m.insert(key.into(), v.into())),
        None => drop(m.remove(key)),
    })
}

fn edit_tensor(
    bytes: &[u8],
    name: &str,
    f: impl FnOnce(&mut Dtype, &mut Vec<usize>, &mut Vec<u8>),
) -> Vec<u8> {
    rewrite(bytes, |_, ts| {
        let (_, d, s, b) = ts.iter_mut().find(|(n, ..)| n == name).expect("tensor");
        f(d, s, b)
    })
}

/// A `quantization` metadata array of one 8-bit record for `layer` with the given weight qparams.
fn quant_record(layer: usize, scale: &str, zero_point: &str, extra: &str) -> String {
    format!(
        r#"[{{"layer": {layer}, "bits": 8, "scheme": "symmetric", "granularity": "per_tensor",
             "weight": {{"scale": {scale}, "zero_point": {zero_point}, "qmin": -128, "qmax": 127}}{extra}}}]"#
    )
}

#[test]
fn malformed_files_give_clear_errors() {
    let t = trained(MLP_BN);
    let good = save(&t, &[]);
    assert!(model_file::load(&good, &Device::Cpu).is_ok());

    assert_contains(&load_err(&[]), "the file is empty");
    assert_contains(&load_err(&good[..5]), "too short");
    assert_contains(&load_err(&good[..good.len() - 7]), "truncated?");
    assert_contains(&load_err(&good[..good.len() / 3]), "truncated?");
    let mut garbage = good.clone();
    garbage[8..20].copy_from_slice(b"#!not-json!#");
    assert_contains(&load_err(&garbage), "invalid JSON in header");
    assert_contains(&load_err(&[0xff; 64]), "header too large");
    assert_contains(&load_err(b"PK\x03\x04 this is a zip file, not a model"), "not a valid safetensors file");

    let long_shape = format!("not a JSON array of sizes (invalid type: string \"{}…\"", "x".repeat(40));
    let long_scheme =
        format!("metadata `quantization` at `[0].scheme`: unknown variant `{}…`", "x".repeat(40));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            edit_tensor(&good, "1.weight", |_, s, b| {
                *s = vec![64, 16];
                b.truncate(64 * 16 * 4)
            }),
            "tensor `1.weight`: shape [64, 16] in the file, the model the recipe builds expects [32, 64]",
        ),
        (
            rewrite(&good, |_, ts| ts.retain(|(n, ..)| n != "2.running_mean")),
            "tensor `2.running_mean` (shape [32]) is missing",
        ),
        (
            edit_tensor(&good, "1.bias", |d, _, _| *d = Dtype::I32),
            "tensor `1.bias`: dtype I32 in the file, expected F32",
        ),
        (
            edit_tensor(&good, "1.bias", |d, s, _| {
                *d = Dtype::F16;
                s[0] *= 2
            }),
            "tensor `1.bias` has dtype F16; minnow files hold F32, I8, U8 or I32",
        ),
        (
            rewrite(&good, |_, ts| ts.push(("8.weight".into(), Dtype::F32, vec![1], vec![0; 4]))),
            "unexpected tensor `8.weight`",
        ),
        (
            rewrite(&good, |_, ts| ts.push(("1.weight_mask".into(), Dtype::U8, vec![32, 64], vec![2; 2048]))),
            "mask `1.weight_mask` holds 2",
        ),
        (
            rewrite(&good, |_, ts| ts.push(("7.weight.scale".into(), Dtype::F32, vec![], vec![0; 4]))),
            "has a scale or zero point but no `7.weight.codes`",
        ),
        (set_meta(&good, "recipe", Some("{not json")), "key must be a string at line 1 column 2"),
        (
            set_meta(&good, "recipe", Some(&t.recipe.to_json().replace("\"epochs\": 1", "\"epochs\": 0"))),
            "metadata `recipe`: training.epochs = 0: must be in [1, 1000]",
        ),
        (set_meta(&good, "recipe", None), "not a minnow model file: the metadata has no `recipe`"),
        (
            set_meta(&good, "minnow_format", None),
            "not a minnow model file: the metadata has no `minnow_format`",
        ),
        (
            set_meta(&good, "minnow_format", Some("3")),
            "minnow_format = \"3\": this build reads formats 1 and 2",
        ),
        (
            set_meta(&good, "input_shape", Some("eight")),
            "metadata `input_shape` = \"eight\": not a JSON array",
        ),
        (
            set_meta(&good, "input_shape", Some("[]")),
            "metadata `input_shape` = []: must be 1 to 3 positive sizes",
        ),
        (
            set_meta(&good, "input_shape", Some("[1,4,4]")),
            "tensor `1.weight`: shape [32, 64] in the file, the model the recipe builds expects [32, 16]",
        ),
        (
            set_meta(&good, "input_shape", Some("[4294967296,4294967296]")),
            "more than 4000000 values per sample",
        ),
        (set_meta(&good, "classes", Some("many")), "metadata `classes` = \"many\""),
        (
            set_meta(&good, "classes", Some("3")),
            "tensor `7.weight`: shape [10, 16] in the file, the model the recipe builds expects [3, 16]",
        ),
        (
            set_meta(&good, "quantization", Some("[{")),
            "metadata `quantization` at `[0].?`: EOF while parsing",
        ),
        (
            set_meta(&good, "quantization", Some(&quant_record(1, "[0.1]", "[0]", ", \"extra\": 1"))),
            "unknown field `extra`",
        ),
        (
            set_meta(&good, "quantization", Some(&quant_record(2, "[0.1]", "[0]", ""))),
            "metadata `quantization`[0].layer = 2: the model has no linear or conv layer there",
        ),
        (
            set_meta(&good, "quantization", Some(&quant_record(1, "[-0.1]", "[0]", ""))),
            "metadata `quantization`[0].weight.scale holds -0.1; scales must be finite and positive",
        ),
        (
            set_meta(&good, "quantization", Some(&quant_record(1, "[0.1, 0.2, 0.3]", "[0, 0, 0]", ""))),
            "weight.scale has 3 entries: 1 (per tensor) or 32 (one per output channel)",
        ),
        (
            set_meta(&good, "quantization", Some(&quant_record(4, "[0.1]", "[300]", ""))),
            "metadata `quantization`[0].weight.zero_point holds 300, outside [-128, 127]",
        ),
        // Found by the long fuzz run: serde's messages quote the offending string whole.
        (set_meta(&good, "input_shape", Some(&format!("[\"{}\"]", "x".repeat(65_000)))), &long_shape),
        (
            set_meta(
                &good,
                "quantization",
                Some(
                    &quant_record(1, "[0.1]", "[0]", "")
                        .replace("\"symmetric\"", &format!("\"{}\"", "x".repeat(8000))),
                ),
            ),
            &long_scheme,
        ),
    ];
    let mut failures = Vec::new();
    for (i, (bytes, want)) in cases.iter().enumerate() {
        match model_file::load(bytes, &Device::Cpu) {
            Ok(_) => failures.push(format!("case {i}: loaded, expected an error containing {want:?}")),
            Err(e) if !e.to_string().contains(want) => {
                failures.push(format!("case {i}: {e:?} lacks {want:?}"))
            }
            // Messages echo at most a few hundred bytes of what the file holds.
            Err(e) if e.to_string().len() > 600 => {
                failures.push(format!("case {i}: a {}-byte message", e.to_string().len()))
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // load_into checks the same way and leaves the model untouched on error.
    let before = state_values(&t.model);
    assert!(model_file::load_into(&t.model, &cases[0].0).is_err());
    assert_eq!(state_values(&t.model), before);
}

#[test]
fn no_prefix_or_corruption_panics() {
    let t = trained(&spiral("tanh", ""));
    let good = save(&t, &[]);
    for len in 0..good.len() {
        assert!(model_file::load(&good[..len], &Device::Cpu).is_err(), "prefix of {len} bytes loaded");
    }
    // Flip bytes all over the header and data: any outcome but a panic is fine.
    let mut x = 0x2545_f491u32;
    for _ in 0..2000 {
        let mut bad = good.clone();
        for _ in 0..3 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let i = x as usize % bad.len();
            bad[i] = bad[i].wrapping_add((x >> 24) as u8 | 1);
        }
        let _ = model_file::load(&bad, &Device::Cpu);
    }
}

fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("export-{}-{name}", std::process::id()))
}

#[derive(serde::Deserialize, Debug)]
struct EvalJson {
    test_accuracy: f64,
    logits_head: Vec<Vec<f64>>,
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("command starts");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{cmd:?} failed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    text
}

#[test]
fn cli_saves_and_evaluates() {
    let (recipe_path, model) = (tmp("cli.json"), tmp("cli.safetensors"));
    std::fs::write(&recipe_path, spiral("relu", "")).unwrap();
    let bin = env!("CARGO_BIN_EXE_minnow");
    let report = run(Command::new(bin).arg("run").arg(&recipe_path).arg("--quiet").arg("--save").arg(&model));
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let eval: EvalJson = serde_json::from_str(&run(Command::new(bin).arg("eval").arg(&model))).unwrap();
    assert_eq!(eval.test_accuracy as f32, report["final"]["test_accuracy"].as_f64().unwrap() as f32);
    assert_eq!(eval.logits_head.len(), 5);

    std::fs::write(&model, b"not a model").unwrap();
    let out = Command::new(bin).arg("eval").arg(&model).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid safetensors file"));
}

/// The models the PyTorch check covers, named; each activation must appear in one.
fn torch_cases() -> Vec<(&'static str, String)> {
    vec![
        (
            "mlp-bn-dropout-gelu-masked",
            MLP_BN
                .replace("leaky_relu", "gelu")
                .replace("\"batch_norm\": true", "\"batch_norm\": true, \"dropout\": 0.1"),
        ),
        ("cnn-bn-relu-quantized", CNN.to_string()),
        ("spiral-tanh", spiral("tanh", "")),
        ("spiral-gelu-tanh", spiral("gelu_tanh", "")),
        ("spiral-sigmoid-bn", spiral("sigmoid", r#", "batch_norm": true"#)),
        ("spiral-leaky-relu-dropout", spiral("leaky_relu", r#", "dropout": 0.3"#)),
        ("cnn-thinned-static-int8", THINNED_INT8.to_string()),
        ("mlp-affine8-weights", AFFINE8.to_string()),
    ]
}

/// The digits MLP with affine 8-bit per-tensor weights (U8 codes), inputs in float.
const AFFINE8: &str = r#"{"version": 1, "seed": 6, "backend": "cpu",
  "dataset": {"name": "digits", "classes": 10},
  "model": {"kind": "mlp", "hidden": [32], "activation": "relu"},
  "training": {"epochs": 2, "batch_size": 32, "optimizer": {"kind": "adam", "lr": 0.003}},
  "compression": [{"kind": "quantize", "bits": 8, "scheme": "affine", "granularity": "per_tensor"}]}"#;

/// Fails to compile when an activation is added, and fails when no torch case uses one.
#[test]
fn torch_cases_cover_every_activation() {
    let used: Vec<Activation> = torch_cases()
        .iter()
        .map(|(_, j)| match recipe(j).model {
            ModelSpec::Mlp { activation, .. } | ModelSpec::Cnn { activation, .. } => activation,
        })
        .collect();
    for a in [
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Gelu,
        Activation::GeluTanh,
    ] {
        match a {
            Activation::Relu
            | Activation::LeakyRelu
            | Activation::Sigmoid
            | Activation::Tanh
            | Activation::Gelu
            | Activation::GeluTanh => {
                assert!(used.contains(&a), "no torch case uses {a:?}")
            }
        }
    }
}

#[test]
fn pytorch_rebuilds_the_same_model() {
    match Command::new("python3").args(["-c", "import torch"]).output() {
        Ok(o) if o.status.success() => {}
        _ => {
            println!("SKIPPED: torch not installed (python3 -c 'import torch' failed)");
            return;
        }
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/torch_eval.py");
    let mut failures = Vec::new();
    for (name, json) in torch_cases() {
        let t = trained(&json);
        let failures_before = failures.len();
        let bytes = match name {
            "mlp-bn-dropout-gelu-masked" => save(&t, &[("1.weight_mask".into(), mask_for(&t, "1.weight").0)]),
            "cnn-bn-relu-quantized" => {
                let mut file = ModelFile::from_bytes(&save(&t, &[])).unwrap();
                file.format = 1;
                quantize_in_file(&mut file, "0.weight", 0);
                quantize_in_file(&mut file, "12.weight", -5);
                file.to_bytes().unwrap()
            }
            "cnn-thinned-static-int8" | "mlp-affine8-weights" => {
                pollster::block_on(model_file::save_trainer(&t)).unwrap()
            }
            _ => save(&t, &[]),
        };
        let (model, split) = (tmp(&format!("{name}.safetensors")), tmp(&format!("{name}-test.safetensors")));
        std::fs::write(&model, &bytes).unwrap();
        let minnow = run(Command::new(env!("CARGO_BIN_EXE_minnow"))
            .arg("eval")
            .arg(&model)
            .args(["--head", "0", "--test-split"])
            .arg(&split));
        let m: EvalJson = serde_json::from_str(&minnow).unwrap();
        // A format 2 file whose inputs are not quantized is what `load_state_dict` + a plain forward
        // computes: the script's `--plain` must agree too.
        let file = ModelFile::from_bytes(&bytes).unwrap();
        let plain = file.format == 2 && file.quantization.iter().all(|q| q.input.is_none());
        let modes = if plain { vec![None, Some("--plain")] } else { vec![None] };
        for mode in modes {
            let label = format!("{name}{}", mode.map(|m| format!(" {m}")).unwrap_or_default());
            let torch = run(Command::new("python3")
                .arg(script)
                .arg(&model)
                .arg(&split)
                .args(["--head", "0"])
                .args(mode));
            let p: EvalJson = serde_json::from_str(&torch).unwrap();
            if m.test_accuracy != p.test_accuracy {
                failures.push(format!(
                    "{label}: test accuracy minnow {} torch {}",
                    m.test_accuracy, p.test_accuracy
                ));
            }
            if m.logits_head.len() != t.data.n_test() || p.logits_head.len() != m.logits_head.len() {
                failures.push(format!(
                    "{label}: {} minnow rows, {} torch rows",
                    m.logits_head.len(),
                    p.logits_head.len()
                ));
                continue;
            }
            let mut worst = (0.0f64, 0, 0);
            for (i, (a, b)) in m.logits_head.iter().zip(&p.logits_head).enumerate() {
                for (j, (x, y)) in a.iter().zip(b).enumerate() {
                    let excess = (x - y).abs() - (1e-5 + 1e-5 * y.abs());
                    if excess > worst.0 {
                        worst = (excess, i, j);
                    }
                }
            }
            if worst.0 > 0.0 {
                let (i, j) = (worst.1, worst.2);
                failures.push(format!(
                    "{label}: logit [{i}][{j}] minnow {} torch {} (beyond 1e-5 + 1e-5·|torch|)",
                    m.logits_head[i][j], p.logits_head[i][j]
                ));
            }
        }
        if failures.len() == failures_before {
            println!(
                "{name}: accuracy {} on {} test samples, minnow = torch",
                m.test_accuracy,
                t.data.n_test()
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A run's compression travels with its weights: pruning masks as `<param>_mask`, and each
/// quantized layer's weight as the values the model computes with (the dequantized codes, within
/// half a step of the float weights), with its int8 codes, scales and zero points beside it.
#[test]
fn saved_runs_carry_masks_and_int8_weights() {
    use minnow::io::model_file::{ExtraTensor, ModelFile, save_trainer};
    let mut r = minnow::recipe::preset("digits-quant").unwrap();
    r.backend = minnow::recipe::BackendChoice::Cpu;
    r.training.epochs = 2;
    r.compression.insert(0, serde_json::from_str(r#"{"kind": "magnitude", "amount": 0.5}"#).unwrap());
    let mut t = pollster::block_on(minnow::run::trainer::Trainer::new(r, None)).unwrap();
    pollster::block_on(t.run(|_| {})).unwrap();
    let file = ModelFile::from_bytes(&pollster::block_on(save_trainer(&t)).unwrap()).unwrap();
    assert_eq!(file.format, 2);
    let Some(ExtraTensor::U8 { data: mask, .. }) = file.get("1.weight_mask") else { panic!("no mask") };
    let kept = mask.iter().filter(|&&m| m == 1).count();
    assert_eq!(kept * 2, mask.len(), "half the weights are kept");
    let Some(ExtraTensor::F32 { data: w, .. }) = file.get("1.weight") else { panic!("no weight") };
    let Some(ExtraTensor::I8 { data: q, .. }) = file.get("1.weight.codes") else { panic!("no int8 codes") };
    let Some(ExtraTensor::F32 { data: s, .. }) = file.get("1.weight.scale") else { panic!("no scale") };
    let Some(ExtraTensor::I32 { data: z, .. }) = file.get("1.weight.zero_point") else {
        panic!("no zero point")
    };
    let floats = t.model.state().into_iter().find(|(n, _)| n == "1.weight").unwrap().1;
    let floats = floats.to_vec_blocking().unwrap();
    let per = w.len() / s.len();
    for (j, ((&x, &f), &qv)) in w.iter().zip(&floats).zip(q).enumerate() {
        let c = j / per;
        let back = (qv as i32 - z[c]) as f32 * s[c];
        assert_eq!(x.to_bits(), back.to_bits(), "weight {j}: the file holds {x}, its codes give {back}");
        assert!(
            (back - f).abs() <= 0.5 * s[c] * 1.0001 || qv == i8::MAX || qv == i8::MIN,
            "weight {j}: float {f} vs dequantized {back}"
        );
        if mask[j] == 0 {
            assert_eq!(qv as i32, z[c], "a pruned weight quantizes to the zero point");
            assert_eq!(x, 0.0);
        }
    }
}

/// Runs `json` to the end, saves it as the page and the CLI do (`save_trainer`), loads the file and
/// checks that the loaded model *is* the run's final model: same test accuracy and bit-identical
/// test logits. Returns the file and the continued trainer.
fn reload_equals_run(json: &str) -> (minnow::io::model_file::ModelFile, Trainer) {
    let t = trained(json);
    let bytes = pollster::block_on(model_file::save_trainer(&t)).expect("a compressed run saves");
    let file = model_file::ModelFile::from_bytes(&bytes).unwrap();
    assert!(file.recipe.compression.is_empty(), "the saved recipe lists no stages to re-run");
    let source = Recipe::from_json(file.source_recipe.as_deref().expect("source_recipe")).unwrap();
    assert_eq!(source, t.recipe, "the run's own recipe travels as source_recipe");
    let loaded = pollster::block_on(model_file::trainer_from_file(&bytes, None, None)).expect("loads");
    let want = pollster::block_on(t.evaluate_test()).unwrap().0;
    let got = pollster::block_on(loaded.evaluate_test()).unwrap().0;
    assert_eq!(got, want, "test accuracy after loading");
    assert_eq!(test_logits(&loaded), test_logits(&t), "test logits after loading");
    (file, loaded)
}

/// A CNN on the digits, half its filters and hidden units removed, finetuned, then int8 weights and
/// activations (static quantization with calibration).
const THINNED_INT8: &str = r#"{"version": 1, "seed": 3, "backend": "cpu",
  "dataset": {"name": "digits", "classes": 10, "test_fraction": 0.2},
  "model": {"kind": "cnn", "conv": [{"channels": 8, "kernel": 3, "padding": 1, "pool": 2}],
            "hidden": [32], "activation": "relu", "batch_norm": true},
  "training": {"epochs": 2, "batch_size": 32, "optimizer": {"kind": "adam", "lr": 0.003}},
  "compression": [
    {"kind": "structured", "amount": 0.5, "dim": 0, "remove": true},
    {"kind": "finetune", "epochs": 1},
    {"kind": "quantize", "bits": 8, "activations": true, "calibration_batches": 4}]}"#;

/// Structured removal shrinks the layers: the file's recipe has the thinned widths (a CNN: conv
/// channels and hidden units), and static int8 quantization of weights and activations comes back
/// with the file, so the loaded model evaluates as the quantized run did.
#[test]
fn thinned_and_quantized_runs_reload_as_they_ended() {
    let (file, _) = reload_equals_run(THINNED_INT8);
    let minnow::recipe::ModelSpec::Cnn { conv, hidden, batch_norm, .. } = &file.recipe.model else {
        panic!("a cnn: {:?}", file.recipe.model)
    };
    assert_eq!((conv[0].channels, hidden.clone(), *batch_norm), (4, vec![16], true), "thinned widths");
    assert_eq!(file.quantization.len(), 3, "conv, hidden and output layers are quantized");
    assert!(file.quantization.iter().all(|q| q.input.as_ref().is_some_and(|a| a.qparams.is_some())));
}

/// After distillation the run's model is the student: the file describes and holds the student.
#[test]
fn distilled_runs_save_the_student() {
    let json = r#"{"version": 1, "seed": 2, "backend": "cpu",
  "dataset": {"name": "spiral", "samples": 300, "classes": 3},
  "model": {"kind": "mlp", "hidden": [48, 48], "activation": "tanh"},
  "training": {"epochs": 3, "batch_size": 16, "optimizer": {"kind": "adam", "lr": 0.01}},
  "compression": [{"kind": "distill", "student": {"kind": "mlp", "hidden": [8], "activation": "gelu"},
                   "temperature": 2, "alpha": 0.5, "train": {"epochs": 2}}]}"#;
    let (file, _) = reload_equals_run(json);
    let want = minnow::recipe::ModelSpec::Mlp {
        hidden: vec![8],
        activation: minnow::nn::Activation::Gelu,
        batch_norm: false,
        dropout: 0.0,
    };
    assert_eq!(file.recipe.model, want);
    assert!(file.quantization.is_empty());
}

/// Pruning masks come back as the trainer's masks: training on from a pruned file keeps every
/// pruned weight at exactly zero.
#[test]
fn pruned_files_keep_their_zeros_when_training_continues() {
    let (file, mut t) = reload_equals_run(
        &spiral("relu", r#", "dropout": 0.1"#)
            .replace(r#""training""#, r#""compression": [{"kind": "magnitude", "amount": 0.7}], "training""#),
    );
    let Some(ExtraTensor::U8 { data: mask, .. }) = file.get("0.weight_mask") else { panic!("no mask") };
    let zeros = |t: &Trainer| -> Vec<usize> {
        let w = t.model.state().into_iter().find(|(n, _)| n == "0.weight").unwrap().1;
        w.to_vec_blocking().unwrap().iter().enumerate().filter(|(_, v)| **v == 0.0).map(|(i, _)| i).collect()
    };
    let pruned: Vec<usize> = mask.iter().enumerate().filter(|(_, m)| **m == 0).map(|(i, _)| i).collect();
    assert!(pruned.len() > mask.len() / 2);
    assert_eq!(zeros(&t), pruned);
    loss_sequence(&mut t);
    assert_eq!(zeros(&t), pruned, "continued training left the pruned weights at zero");
}

/// Files that lie: non-finite weights and quantization records whose numbers cannot be what minnow
/// wrote (subnormal or huge scales, a range that does not match the bits and scheme, empty lists)
/// are refused when read, naming the tensor or record and the field.
#[test]
fn files_with_impossible_numbers_are_refused() {
    let t = trained(MLP_BN);
    let good = save(&t, &[]);
    let with_value =
        |name: &str, v: f32| edit_tensor(&good, name, |_, _, b| b[4..8].copy_from_slice(&v.to_le_bytes()));
    let record = |bits: u32, scheme: &str, scale: &str, zero: &str, qmin: i32, qmax: i32| {
        format!(
            r#"[{{"layer": 1, "bits": {bits}, "scheme": "{scheme}", "granularity": "per_tensor",
                 "weight": {{"scale": {scale}, "zero_point": {zero}, "qmin": {qmin}, "qmax": {qmax}}}}}]"#
        )
    };
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (with_value("1.weight", f32::NAN), "tensor `1.weight` holds NaN at flat index 1"),
        (with_value("2.running_var", f32::INFINITY), "tensor `2.running_var` holds inf at flat index 1"),
        (with_value("7.bias", f32::NEG_INFINITY), "tensor `7.bias` holds -inf at flat index 1"),
        (
            set_meta(&good, "quantization", Some(&record(8, "symmetric", "[1e-40]", "[0]", -128, 127))),
            "metadata `quantization`[0].weight.scale holds 1e-40; scales must be finite and positive, in [1e-12, 1e12]",
        ),
        (
            set_meta(&good, "quantization", Some(&record(8, "symmetric", "[1e30]", "[0]", -128, 127))),
            "metadata `quantization`[0].weight.scale holds 1e30",
        ),
        (
            set_meta(&good, "quantization", Some(&record(8, "symmetric", "[0.1]", "[0]", 0, 1))),
            "metadata `quantization`[0].weight: qmin = 0, qmax = 1, but bits = 8 with scheme \"symmetric\" gives [-128, 127]",
        ),
        (
            set_meta(&good, "quantization", Some(&record(4, "affine", "[0.1]", "[0]", -128, 127))),
            "metadata `quantization`[0].weight: qmin = -128, qmax = 127, but bits = 4 with scheme \"affine\" gives [0, 15]",
        ),
        (
            set_meta(&good, "quantization", Some(&record(8, "symmetric", "[]", "[]", -128, 127))),
            "metadata `quantization`[0].weight.scale is empty",
        ),
        (
            set_meta(&good, "quantization", Some(&record(8, "affine", "[0.1]", "[-3]", 0, 255))),
            "metadata `quantization`[0].weight.zero_point holds -3, outside [0, 255]",
        ),
        (
            set_meta(&good, "quantization", Some("[]")),
            "metadata `quantization` is an empty list; a float model has no `quantization` entry",
        ),
        (
            set_meta(
                &good,
                "quantization",
                Some(&quant_record(
                    1,
                    "[0.1]",
                    "[0]",
                    r#", "input": {"bits": 8, "scheme": "affine", "qparams": {"scale": [0.1], "zero_point": [0], "qmin": -128, "qmax": 127}}"#,
                )),
            ),
            "metadata `quantization`[0].input.qparams: qmin = -128, qmax = 127, but bits = 8 with scheme \"affine\" gives [0, 255]",
        ),
        (
            rewrite(&good, |m, ts| {
                m.insert("minnow_format".into(), "1".into());
                ts.push(("1.weight.int8".into(), Dtype::I8, vec![32, 64], vec![0; 2048]));
                ts.push(("1.weight.scale".into(), Dtype::F32, vec![], 1e-40f32.to_le_bytes().to_vec()));
                ts.push(("1.weight.zero_point".into(), Dtype::I32, vec![], vec![0; 4]));
            }),
            "tensor `1.weight.scale` holds 1e-40; scales must be finite and positive",
        ),
        (set_meta(&good, "test_split", Some("12345")), "metadata `test_split` = \"12345\""),
    ];
    let mut failures = Vec::new();
    for (i, (bytes, want)) in cases.iter().enumerate() {
        match model_file::load(bytes, &Device::Cpu) {
            Ok(_) => failures.push(format!("case {i}: loaded, expected an error containing {want:?}")),
            Err(e) if !e.to_string().contains(want) => {
                failures.push(format!("case {i}: {e:?} lacks {want:?}"))
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A saved run records the test split it was evaluated on; a file whose recipe was edited so that
/// the split is recomputed differently (seed, test fraction) is refused, and a file written before
/// the record existed (no `test_split`) still loads.
#[test]
fn a_file_is_only_evaluated_on_the_split_it_was_saved_with() {
    let t = trained(&spiral("relu", ""));
    let bytes = pollster::block_on(model_file::save_trainer(&t)).unwrap();
    let file = ModelFile::from_bytes(&bytes).unwrap();
    assert_eq!(file.test_split.as_deref(), Some(model_file::split_fingerprint(&t.data).as_str()));
    assert!(file.test_split.as_deref().unwrap().starts_with("fnv1a64:"));
    let open = |b: &[u8]| pollster::block_on(model_file::trainer_from_file(b, None, None)).map(|_| ());
    open(&bytes).expect("the file as saved loads");

    let recipe_json = serde_json::to_string(&file.recipe).unwrap();
    for (from, to) in [(r#""seed":7"#, r#""seed":8"#), (r#""test_fraction":0.2"#, r#""test_fraction":0.3"#)] {
        assert!(recipe_json.contains(from), "{recipe_json}");
        let edited = set_meta(&bytes, "recipe", Some(&recipe_json.replace(from, to)));
        let e = open(&edited).expect_err("an edited split is refused").to_string();
        assert_contains(&e, "metadata `test_split` = fnv1a64:");
        assert_contains(&e, "the model was not evaluated on this split");
        // Written before `test_split` existed: loads unchecked.
        open(&set_meta(&edited, "test_split", None)).expect("an old file loads");
    }
}

/// `r` with less training, for tests that check files rather than accuracy: 2 epochs, stages of
/// 1 epoch, gradual pruning every 10 steps.
fn shortened(r: &Recipe) -> Recipe {
    let mut v = serde_json::to_value(r).unwrap();
    v["backend"] = "cpu".into();
    v["training"]["epochs"] = 2.into();
    if let Some(stages) = v["compression"].as_array_mut() {
        for s in stages {
            if s.get("epochs").is_some() {
                s["epochs"] = 1.into();
            }
            if s.get("train").is_some() {
                s["train"]["epochs"] = 1.into();
            }
            if s.get("frequency").is_some() {
                s["frequency"] = 10.into();
            }
        }
    }
    Recipe::from_json(&v.to_string()).expect("the shortened recipe validates")
}

/// Whether a recipe installs fake quantization (a `quantize` or `qat` stage).
fn quantizes(r: &Recipe) -> bool {
    let text = serde_json::to_string(&r.compression).unwrap();
    text.contains(r#""kind":"quantize""#) || text.contains(r#""kind":"qat""#)
}

/// Checks a format 2 file's quantized weights: for every record, codes, scale and zero point are
/// present, the F32 weight is `(q − z)·s` bit for bit, and quantizing it again gives `q` back.
/// Returns the failures.
fn check_stored_codes(name: &str, file: &ModelFile) -> Vec<String> {
    use minnow::compress::quant::QParams;
    let mut failures = Vec::new();
    for r in &file.quantization {
        let p = format!("{}.weight", r.layer);
        let (Some(ExtraTensor::F32 { data: w, .. }), Some(codes)) =
            (file.get(&p), file.get(&format!("{p}.codes")).and_then(|c| c.ints()))
        else {
            failures.push(format!("{name}: `{p}` or its codes missing"));
            continue;
        };
        let want = if r.weight.qmin >= 0 && r.weight.qmax <= 255 {
            "U8"
        } else if r.weight.qmin >= -128 && r.weight.qmax <= 127 {
            "I8"
        } else {
            "I32"
        };
        let dtype = file.get(&format!("{p}.codes")).unwrap().dtype();
        if dtype != want {
            failures.push(format!(
                "{name}: `{p}.codes` is {dtype}, its range [{}, {}] wants {want}",
                r.weight.qmin, r.weight.qmax
            ));
        }
        let (Some(ExtraTensor::F32 { data: s, .. }), Some(ExtraTensor::I32 { data: z, .. })) =
            (file.get(&format!("{p}.scale")), file.get(&format!("{p}.zero_point")))
        else {
            failures.push(format!("{name}: `{p}` has no scale or zero point"));
            continue;
        };
        let qp =
            QParams { scale: s.clone(), zero_point: z.clone(), qmin: r.weight.qmin, qmax: r.weight.qmax };
        assert_eq!(qp, r.weight, "{name}: `{p}`'s scale and zero point are its record's");
        let deq = qp.dequantize(&codes);
        if deq.iter().zip(w).any(|(a, b)| a.to_bits() != b.to_bits()) {
            failures.push(format!("{name}: `{p}` is not (q − z)·s"));
        }
        if qp.quantize(&deq) != codes {
            failures.push(format!("{name}: `{p}`: q(deq(q)) ≠ q"));
        }
        if r.granularity == minnow::compress::quant::Granularity::PerChannel && r.ch_axis != Some(0) {
            failures.push(format!("{name}: `{p}` is per channel, but ch_axis = {:?}", r.ch_axis));
        }
    }
    failures
}

/// Every preset with quantization, trained shorter: the saved file holds, for each quantized
/// layer, the dequantized weights (which re-quantize to their codes) beside the codes and qparams;
/// reopening it gives the run's test accuracy and logits bit for bit; and where only weights are
/// quantized, the file's float tensors in a plain forward (no fake quantization, as PyTorch's
/// `load_state_dict` + forward) give the same logits too.
#[test]
fn quantized_presets_save_the_weights_they_compute_with() {
    let mut failures = Vec::new();
    let mut covered = Vec::new();
    for p in minnow::recipe::PRESETS {
        let r = minnow::recipe::preset(p.name).unwrap();
        if !quantizes(&r) {
            continue;
        }
        let t = trained(&shortened(&r).to_json());
        let bytes = pollster::block_on(model_file::save_trainer(&t)).expect("saves");
        let file = ModelFile::from_bytes(&bytes).unwrap();
        assert!(!file.quantization.is_empty(), "{}: the file records its quantization", p.name);
        failures.extend(check_stored_codes(p.name, &file));

        let loaded = pollster::block_on(model_file::trainer_from_file(&bytes, None, None)).expect("loads");
        let (want, got) = (test_logits(&t), test_logits(&loaded));
        if want.iter().zip(&got).any(|(a, b)| a.to_bits() != b.to_bits()) || want.len() != got.len() {
            failures.push(format!("{}: logits differ after reopening", p.name));
        }
        let (acc, acc_loaded) = (
            pollster::block_on(t.evaluate_test()).unwrap().0,
            pollster::block_on(loaded.evaluate_test()).unwrap().0,
        );
        if acc != acc_loaded {
            failures.push(format!("{}: test accuracy {acc} in the run, {acc_loaded} reopened", p.name));
        }
        // Saved again from the reopened session: the same file.
        let again = pollster::block_on(model_file::save_trainer(&loaded)).unwrap();
        let again = ModelFile::from_bytes(&again).unwrap();
        if again.tensors != file.tensors || again.quantization != file.quantization {
            failures.push(format!("{}: saving the reopened model changes the file", p.name));
        }

        let weights_only = file.quantization.iter().all(|q| q.input.is_none());
        let (_, plain, _) = model_file::load(&bytes, &Device::Cpu).unwrap();
        let plain =
            Trainer::from_model(file.recipe.clone(), None, plain, Device::Cpu, String::new()).unwrap();
        let plain_logits = test_logits(&plain);
        let same = plain_logits.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits());
        if weights_only && !same {
            failures.push(format!("{}: a plain forward of the stored weights differs from the run", p.name));
        }
        println!(
            "{}: {} quantized layers, accuracy {acc}, plain forward {}",
            p.name,
            file.quantization.len(),
            if same { "identical" } else { "differs (quantized inputs)" }
        );
        covered.push(p.name);
    }
    assert!(covered.len() >= 3, "presets with quantization: {covered:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `q(deq(q)) = q` for every code of every range a file may hold (bits 2–16, both schemes), at
/// scales spread log-uniformly over [`model_file::MIN_SCALE`, `model_file::MAX_SCALE`] and at
/// every zero point's extremes: a stored weight fake-quantizes to itself.
#[test]
fn dequantized_codes_requantize_to_themselves() {
    use minnow::compress::quant::{QParams, Scheme, qrange};
    let (lo, hi) = (model_file::MIN_SCALE.ln(), model_file::MAX_SCALE.ln());
    let mut x = 0x9e37_79b9u32;
    let mut checked = 0usize;
    for bits in 2..=16u32 {
        for scheme in [Scheme::Symmetric, Scheme::Affine] {
            let (qmin, qmax) = qrange(bits, scheme);
            let codes: Vec<i32> = (qmin..=qmax).collect();
            for k in 0..24 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let scale = (lo + (hi - lo) * (x as f32 / u32::MAX as f32))
                    .exp()
                    .clamp(model_file::MIN_SCALE, model_file::MAX_SCALE);
                let zero = match (scheme, k % 3) {
                    (Scheme::Symmetric, _) => 0,
                    (Scheme::Affine, 0) => qmin,
                    (Scheme::Affine, 1) => qmax,
                    (Scheme::Affine, _) => (qmin + qmax) / 2,
                };
                let qp = QParams { scale: vec![scale], zero_point: vec![zero], qmin, qmax };
                let back = qp.quantize(&qp.dequantize(&codes));
                let bad = back.iter().zip(&codes).find(|(a, b)| a != b);
                assert!(bad.is_none(), "bits {bits} {scheme:?} scale {scale:e} zero {zero}: {bad:?}");
                checked += codes.len();
            }
        }
    }
    assert!(checked > 3_000_000);
}

/// Files written by format 1 (tests/model-files, from `minnow run … --save` before format 2, with
/// `minnow eval --head 0`'s output beside them): they open and compute what they computed, bit for
/// bit, and saved again (format 2) they still do, now with their dequantized weights stored.
#[test]
fn format_1_files_compute_what_they_computed() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/model-files");
    for name in ["format1-q3-masked", "format1-affine8"] {
        let bytes = std::fs::read(format!("{dir}/{name}.safetensors")).unwrap();
        let want: EvalJson =
            serde_json::from_str(&std::fs::read_to_string(format!("{dir}/{name}.eval.json")).unwrap())
                .unwrap();
        let file = ModelFile::from_bytes(&bytes).unwrap();
        assert_eq!(file.format, 1, "{name} is a format 1 file");
        assert!(!file.quantization.is_empty(), "{name} is quantized");
        let t = pollster::block_on(model_file::trainer_from_file(&bytes, None, None)).expect("opens");
        let acc = pollster::block_on(t.evaluate_test()).unwrap().0;
        assert_eq!(acc, want.test_accuracy as f32, "{name}: test accuracy");
        let logits = test_logits(&t);
        let flat: Vec<f32> = want.logits_head.iter().flatten().map(|&v| v as f32).collect();
        assert_eq!(flat.len(), logits.len(), "{name}: every logit was recorded");
        let differ = logits.iter().zip(&flat).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
        assert_eq!(differ, 0, "{name}: {differ} logits differ from format 1's");

        let resaved = pollster::block_on(model_file::save_trainer(&t)).unwrap();
        let file2 = ModelFile::from_bytes(&resaved).unwrap();
        assert_eq!(file2.format, 2);
        let failures = check_stored_codes(name, &file2);
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        let t2 = pollster::block_on(model_file::trainer_from_file(&resaved, None, None)).unwrap();
        assert_eq!(test_logits(&t2), logits, "{name}: format 2 copy computes what format 1 did");
    }
}

/// A format 2 file whose codes, qparams and float weights disagree is refused, naming the tensor.
#[test]
fn format_2_quantized_weights_must_agree_with_their_codes() {
    let json = r#"{"version": 1, "seed": 4, "backend": "cpu",
      "dataset": {"name": "digits", "classes": 10},
      "model": {"kind": "mlp", "hidden": [16], "activation": "relu"},
      "training": {"epochs": 1, "batch_size": 32, "optimizer": {"kind": "adam", "lr": 0.003}},
      "compression": [{"kind": "quantize", "bits": 4, "scheme": "affine", "granularity": "per_channel"}]}"#;
    let t = trained(json);
    let good = pollster::block_on(model_file::save_trainer(&t)).unwrap();
    let file = ModelFile::from_bytes(&good).unwrap();
    assert!(matches!(file.get("1.weight.codes"), Some(ExtraTensor::U8 { .. })), "affine 4-bit codes are U8");
    assert!(check_stored_codes("affine4", &file).is_empty());
    // Without the float weights, loaders dequantize the codes: the same model.
    let codes_only = rewrite(&good, |_, ts| ts.retain(|(n, ..)| n != "1.weight"));
    let open = |b: &[u8]| pollster::block_on(model_file::trainer_from_file(b, None, None));
    assert_eq!(test_logits(&open(&codes_only).unwrap()), test_logits(&t));

    let nudge = |b: &mut Vec<u8>| {
        let v = f32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        b[4..8].copy_from_slice(&(v + 0.25).to_le_bytes())
    };
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (edit_tensor(&good, "1.weight", |_, _, b| nudge(b)), "tensor `1.weight` holds"),
        (
            edit_tensor(&good, "1.weight.codes", |_, _, b| b[3] = 16),
            "tensor `1.weight.codes` holds 16 at flat index 3, outside [0, 15]",
        ),
        (
            edit_tensor(&good, "1.weight.scale", |_, _, b| nudge(b)),
            "tensor `1.weight.scale` differs from metadata `quantization`[0].weight.scale",
        ),
        (
            rewrite(&good, |_, ts| ts.retain(|(n, ..)| !n.starts_with("1.weight."))),
            "tensor `1.weight.codes` is missing: metadata `quantization`[0] quantizes `1.weight`",
        ),
        (
            rewrite(&good, |_, ts| {
                for (n, ..) in ts.iter_mut().filter(|(n, ..)| n == "1.weight.codes") {
                    *n = "1.weight.int8".into();
                }
            }),
            "tensor `1.weight.int8`: a format 2 file stores a weight's codes as `1.weight.codes`",
        ),
        (
            rewrite(&good, |m, _| {
                let q = m["quantization"].replace(r#""ch_axis":0"#, r#""ch_axis":1"#);
                m.insert("quantization".into(), q);
            }),
            "metadata `quantization`[0].ch_axis = 1: weights are quantized per output channel (axis 0)",
        ),
        (
            rewrite(&good, |m, _| {
                let q = m["quantization"].replace(r#""ch_axis":0,"#, "");
                m.insert("quantization".into(), q);
            }),
            "metadata `quantization`[0].ch_axis is missing",
        ),
        (
            rewrite(&good, |m, _| {
                let q: Vec<serde_json::Value> = serde_json::from_str(&m["quantization"]).unwrap();
                m.insert("quantization".into(), serde_json::to_string(&q[1..]).unwrap());
            }),
            "tensor `1.weight.codes`: metadata `quantization` has no record for `1.weight`",
        ),
    ];
    let mut failures = Vec::new();
    for (i, (bytes, want)) in cases.iter().enumerate() {
        match open(bytes) {
            Ok(_) => failures.push(format!("case {i}: loaded, expected an error containing {want:?}")),
            Err(e) if !e.to_string().contains(want) => {
                failures.push(format!("case {i}: {e:?} lacks {want:?}"))
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
