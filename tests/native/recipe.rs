//! Recipe parsing and validation: every kind of bad input is refused with a message that names the
//! field (and the allowed range), and every preset parses, validates and round-trips through JSON.

use minnow::Device;
use minnow::recipe::{PRESETS, Recipe, preset};
use serde_json::{Value, json};

fn base() -> Value {
    serde_json::from_str(PRESETS[0].json).unwrap()
}

/// Sets `path` (dot-separated, array indices as numbers) to `v` in the base recipe and parses it.
fn with(path: &str, v: Value) -> Result<Recipe, String> {
    let mut r = base();
    let mut d = &mut r;
    let keys: Vec<&str> = path.split('.').collect();
    for k in &keys[..keys.len() - 1] {
        d = match k.parse::<usize>() {
            Ok(i) => &mut d[i],
            Err(_) => &mut d[*k],
        };
    }
    d[keys[keys.len() - 1]] = v;
    Recipe::from_json(&r.to_string()).map_err(|e| e.to_string())
}

#[test]
fn bad_fields_are_refused_with_their_path_and_range() {
    let cases: &[(&str, Value, &[&str])] = &[
        ("training.optimizer.lr", json!(-0.1), &["training.optimizer.lr", "(0, 10]"]),
        ("training.batch_size", json!(0), &["training.batch_size", "[1, 4096]"]),
        ("training.epochs", json!(0), &["training.epochs", "[1, 1000]"]),
        ("training.epochs", json!("ten"), &["training.epochs", "invalid type"]),
        ("model.hidden", json!([64, 1_000_000_000]), &["model.hidden[1]", "[1, 4096]"]),
        ("model.dropout", json!(1.0), &["model.dropout", "[0, 1)"]),
        ("training.label_smoothing", json!(-0.5), &["training.label_smoothing"]),
        ("training.optimizer.momentum", json!(0.9), &["training.optimizer", "`momentum`", "unknown field"]),
        ("training.wd", json!(0.1), &["training.wd", "unknown field"]),
        ("model.kind", json!("rnn"), &["model.kind", "rnn"]),
        ("dataset.noise", json!(3), &["dataset.noise"]),
        ("dataset.name", json!("imagenet"), &["dataset.name", "imagenet"]),
        ("backend", json!("tpu"), &["backend", "tpu"]),
        ("version", json!(2), &["version", "1"]),
        ("training.schedule.decay", json!({"kind": "step", "step_size": 0}), &["step_size"]),
        ("training.schedule.warmup_start_factor", json!(0.0), &["warmup_start_factor"]),
        ("compression", json!([{"kind": "telepathy"}]), &["compression", "telepathy"]),
    ];
    let mut failures = Vec::new();
    for (path, v, needles) in cases {
        match with(path, v.clone()) {
            Ok(_) => failures.push(format!("{path} = {v}: accepted")),
            Err(msg) => {
                for n in *needles {
                    if !msg.contains(n) {
                        failures.push(format!("{path} = {v}: message {msg:?} lacks {n:?}"));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_model_too_big_for_a_tab_is_refused_when_built() {
    // Refused when the recipe is validated (the size budget), or at the latest when it is built.
    let e = match with("model.hidden", json!([4096, 4096, 4096])) {
        Err(e) => e.to_string(),
        Ok(r) => r.build_model(&[2], 2, &Device::Cpu).err().expect("accepted 33M parameters").to_string(),
    };
    assert!(e.contains("parameters") && e.contains("4000000"), "{e}");
}

#[test]
fn cnn_that_shrinks_the_image_away_is_refused() {
    let mut r = preset("mnist-cnn").unwrap();
    if let minnow::recipe::ModelSpec::Cnn { conv, .. } = &mut r.model {
        for _ in 0..4 {
            conv.push(conv[1].clone());
        }
    }
    let e =
        r.build_model(&[1, 28, 28], 10, &Device::Cpu).err().expect("accepted a 0x0 feature map").to_string();
    assert!(e.contains("model.conv["), "{e}");
}

#[test]
fn presets_parse_validate_and_round_trip() {
    for p in PRESETS {
        let r = preset(p.name).unwrap_or_else(|e| panic!("{}: {e}", p.name));
        assert_eq!(r.name, p.name, "preset file name field");
        assert!(!r.description.is_empty(), "{} has no description", p.name);
        let again = Recipe::from_json(&r.to_json()).unwrap();
        assert_eq!(again, r, "{} does not round-trip", p.name);
    }
    assert!(preset("nope").unwrap_err().to_string().contains("spiral-mlp"));
}

/// Counts that overflow and floats that parse to infinity (`1e39` as an f32) are refused with the
/// field's path and range, instead of wrapping into a plan that never ends or training at lr = NaN.
/// A valid recipe's JSON reads back equal, extreme floats included (serde_json's `float_roundtrip`;
/// the long fuzz run found 1.0000000000000001e-45 in a stage coming back as 1e-45), in a stage's
/// own field and inside a sweep's grid of values.
#[test]
fn extreme_floats_read_back_equal() {
    for v in ["1.0000000000000001e-45", "1e-45", "5e-324", "2.2250738585072014e-308", "0.30000000000000004"] {
        let mut r = base();
        r.as_object_mut().unwrap().remove("compression");
        let mut text = r.to_string();
        text.pop(); // the closing brace: the stages go in as text, so the literal is what is parsed
        text += &format!(
            r#","compression": [{{"kind": "sensitivity", "sparsities": [0.5, {v}]}},
               {{"kind": "sweep", "stage": {{"kind": "magnitude"}}, "grid": {{"amount": [0.5, {v}]}}}}]}}"#
        );
        let recipe = Recipe::from_json(&text).unwrap_or_else(|e| panic!("{v}: {e}"));
        let back = Recipe::from_json(&recipe.to_json()).unwrap();
        assert_eq!(back, recipe, "{v} does not read back equal");
    }
}

#[test]
fn overflowing_counts_and_non_finite_floats_are_refused_with_their_path() {
    let gradual = |extra: Value| {
        let mut g = json!({"kind": "gradual", "final_sparsity": 0.5, "prunings": 2, "train": {"epochs": 1}});
        for (k, v) in extra.as_object().unwrap() {
            g[k] = v.clone();
        }
        json!([g])
    };
    let one_cycle = |field: &str, v: f64| {
        let mut d = json!({"kind": "one_cycle", "max_lr": 0.1});
        d[field] = json!(v);
        d
    };
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            "compression",
            gradual(json!({"frequency": 1u64 << 63})),
            vec!["compression[0].frequency = 9223372036854775808", "overflows"],
        ),
        (
            "compression",
            gradual(json!({"start_step": u64::MAX, "frequency": 1})),
            vec!["compression[0].start_step = 18446744073709551615", "overflows"],
        ),
        (
            "training.schedule.decay",
            json!({"kind": "cosine", "t_max": 10, "eta_min": 1e39}),
            vec!["training.schedule.decay.eta_min = inf", "[0, 10]"],
        ),
        (
            "training.schedule.decay",
            one_cycle("div_factor", 1e39),
            vec!["training.schedule.decay.div_factor = inf", "[1, 1e6]"],
        ),
        (
            "training.schedule.decay",
            one_cycle("final_div_factor", 1e39),
            vec!["training.schedule.decay.final_div_factor = inf", "[1, 1e6]"],
        ),
        (
            "training.schedule.decay",
            one_cycle("max_lr", 1e39),
            vec!["training.schedule.decay.max_lr = inf", "(0, 10]"],
        ),
        (
            "training.schedule.decay",
            one_cycle("max_momentum", 1e39),
            vec!["training.schedule.decay.max_momentum = inf"],
        ),
        ("training.optimizer.lr", json!(1e39), vec!["training.optimizer.lr = inf", "(0, 10]"]),
        // A plain f32 field: serde_json (float_roundtrip) refuses a number beyond f32 itself.
        (
            "training.label_smoothing",
            json!(1e39),
            vec!["recipe field `training.label_smoothing`: number out of range", "a 32-bit float field"],
        ),
        ("dataset.noise", json!(1e39), vec!["recipe field `dataset.noise`: number out of range"]),
        ("model.dropout", json!(1e39), vec!["model.dropout = inf", "[0, 1)"]),
        (
            "compression",
            json!([{"kind": "finetune", "epochs": 1, "lr": 1e39}]),
            vec!["compression[0].lr = inf", "(0, 10]"],
        ),
        (
            "compression",
            json!([{"kind": "quantize", "averaging_constant": 1e39}]),
            vec!["compression[0].averaging_constant = inf", "(0, 1]"],
        ),
        (
            "compression",
            json!([{"kind": "distill", "student": {"kind": "mlp", "hidden": [8]}, "temperature": 1e39,
                    "train": {"epochs": 1}}]),
            vec!["compression[0].temperature = inf", "(0, 100]"],
        ),
    ];
    let mut failures = Vec::new();
    for (path, v, needles) in &cases {
        match with(path, v.clone()) {
            Ok(_) => failures.push(format!("{path} = {v}: accepted")),
            Err(msg) => {
                for n in needles {
                    if !msg.contains(n) {
                        failures.push(format!("{path} = {v}: message {msg:?} lacks {n:?}"));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The largest plan that still fits is accepted by validation (the model check then refuses
    // it as longer than the stage).
    assert!(with("compression", gradual(json!({"start_step": u64::MAX - 2, "frequency": 1}))).is_ok());
}

/// Errors inside internally tagged objects (`"kind"`: the model, stages, optimizer, schedule) name
/// the field itself, not the enclosing object, and never echo more than about 200 bytes of input.
#[test]
fn errors_inside_tagged_objects_name_the_field() {
    let cases: &[(&str, Value, &str)] = &[
        (
            "model.activation",
            json!("relu6"),
            "recipe field `model.activation`: unknown variant `relu6`, expected one of",
        ),
        (
            "model.hidden",
            json!([64, "x"]),
            "recipe field `model.hidden[1]`: invalid type: string \"x\", expected usize",
        ),
        (
            "training.optimizer.lr",
            json!("fast"),
            "recipe field `training.optimizer.lr`: invalid type: string \"fast\"",
        ),
        (
            "training.schedule.decay",
            json!({"kind": "step", "step_size": "x"}),
            "recipe field `training.schedule.decay.step_size`: invalid type: string \"x\"",
        ),
        (
            "compression",
            json!([{"kind": "magnitude", "amount": 0.5}, {"kind": "magnitude", "amount": "lots"}]),
            "recipe field `compression[1].amount`: ",
        ),
        ("model.kind", json!("rnn"), "recipe field `model.kind`: unknown variant `rnn`"),
        ("model.colour", json!(1), "recipe field `model.colour`: unknown field `colour`"),
    ];
    let mut failures = Vec::new();
    for (path, v, want) in cases {
        match with(path, v.clone()) {
            Ok(_) => failures.push(format!("{path} = {v}: accepted")),
            Err(msg) if !msg.contains(want) => failures.push(format!("{path} = {v}: {msg:?} lacks {want:?}")),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let long = "q".repeat(5000);
    let msg = with("model.activation", json!(long)).unwrap_err();
    assert!(msg.starts_with("recipe field `model.activation`: unknown variant `qqq"), "{msg}");
    assert!(msg.contains("q…`") && msg.len() < 600, "{} bytes: {msg}", msg.len());
}
