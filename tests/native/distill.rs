//! Distillation and sweeps: the Hinton loss and its student gradient against PyTorch
//! (tests/reference/losses.json, from tests/reference/generate.py), the distill stage's three-way
//! report, the digits-distill preset, sweep points and their Pareto flags, grid validation messages,
//! and the model left as it was after a sweep.

use minnow::core::backend::Device;
use minnow::core::tensor::Tensor;
use minnow::nn::Module;
use minnow::nn::loss::distillation;
use minnow::recipe::{self, Recipe};
use minnow::run::stages::sweep::pareto_front;
use minnow::run::trainer::Trainer;
use serde_json::{Value, json};

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn shape(v: &Value) -> Vec<usize> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect()
}

fn run(r: Recipe) -> minnow::run::report::Report {
    let mut t = Trainer::with_device(r, None, Device::Cpu, String::new()).unwrap();
    pollster::block_on(t.run(|_| {})).unwrap()
}

/// A small digits recipe (train_limit keeps it fast) with `compression` as given.
fn digits(compression: Value) -> Recipe {
    Recipe::from_json(
        &json!({
            "version": 1,
            "dataset": { "name": "digits", "classes": 10, "train_limit": 400 },
            "model": { "kind": "mlp", "hidden": [64] },
            "training": { "epochs": 4, "batch_size": 32, "optimizer": { "kind": "adam", "lr": 0.003 } },
            "compression": compression,
            "seed": 3,
            "backend": "cpu"
        })
        .to_string(),
    )
    .unwrap()
}

#[test]
fn distillation_loss_and_student_gradient_match_torch() {
    let f: Value = serde_json::from_str(include_str!("../reference/losses.json")).unwrap();
    let mut bad = Vec::new();
    let mut seen = 0;
    for c in f["cases"].as_array().unwrap().iter().filter(|c| c["loss"] == "distillation") {
        seen += 1;
        let (t, a) =
            (c["args"]["temperature"].as_f64().unwrap() as f32, c["args"]["alpha"].as_f64().unwrap() as f32);
        let inp = |i: usize| (floats(&c["inputs"][i]["data"]), shape(&c["inputs"][i]["shape"]));
        let (s, ss) = inp(0);
        let (te, ts) = inp(1);
        let student = Tensor::param(&s, &ss, &Device::Cpu).unwrap();
        let teacher = Tensor::new(&te, &ts, &Device::Cpu).unwrap();
        let labels: Vec<f32> =
            c["labels"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        let y = Tensor::new(&labels, &[labels.len()], &Device::Cpu).unwrap();
        let loss = distillation(&student, &teacher, &y, t, a).unwrap();
        let up = floats(&c["upstream"]["data"]);
        loss.backward_with(Device::Cpu.upload(&up).unwrap()).unwrap();
        let got = loss.to_vec_blocking().unwrap()[0];
        let want = floats(&c["out"]["data"])[0];
        if (got - want).abs() > 1e-5 + 1e-5 * want.abs() {
            bad.push(format!("{}: loss {got} vs torch {want}", c["name"]));
        }
        let g = student.grad().unwrap().to_vec_blocking().unwrap();
        let gw = floats(&c["grads"][0]["data"]);
        let worst = g.iter().zip(&gw).map(|(x, y)| (x - y).abs() - 1e-5 * y.abs()).fold(0f32, f32::max);
        if worst > 1e-6 {
            bad.push(format!("{}: student gradient off by {worst}", c["name"]));
        }
    }
    assert!(seen >= 4, "expected at least 4 (T, α) distillation fixtures, found {seen}");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn distill_stage_reports_teacher_distilled_and_alone() {
    let r = digits(json!([{
        "kind": "distill", "student": { "kind": "mlp", "hidden": [8] },
        "temperature": 3, "alpha": 0.7, "train": { "epochs": 2 }, "hint": { "weight": 0.1 }
    }]));
    let rep = run(r);
    let rep_stages = crate::stages_json(&rep);
    let s = &rep_stages[0];
    assert_eq!(s["kind"], "distill");
    let d = &s["details"];
    for who in ["teacher", "distilled", "alone"] {
        for k in ["test_accuracy", "params", "bytes"] {
            assert!(!d[who][k].is_null(), "details.{who}.{k} missing: {d}");
        }
    }
    // The distilled student is now the model: 64·8 + 8 + 8·10 + 10 parameters.
    assert_eq!(d["distilled"]["params"], 610);
    assert_eq!(d["alone"]["params"], 610);
    assert_eq!(d["teacher"]["params"], 64 * 64 + 64 + 64 * 10 + 10);
    assert_eq!(s["params"], 610);
    assert_eq!(rep.model.params, 610);
    let margin = d["margin"].as_f64().unwrap();
    let diff =
        d["distilled"]["test_accuracy"].as_f64().unwrap() - d["alone"]["test_accuracy"].as_f64().unwrap();
    assert!((margin - diff).abs() < 1e-6);
    assert_eq!(d["test_samples"], 359, "the digits test split the margin is counted on");
    // Compression ratio of the student against the first dense (teacher) model.
    let ratio = s["compression_ratio"].as_f64().unwrap();
    assert!((ratio - 4.0 * 4810.0 / (4.0 * 610.0)).abs() < 1e-6, "ratio {ratio}");
    let soft = &d["soft_targets"];
    assert_eq!(soft["teacher"].as_array().unwrap().len(), 8);
    for row in soft["teacher"].as_array().unwrap() {
        let p = floats(row);
        assert_eq!(p.len(), 10);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    }
    // The logits come along, and softmax(z / T) of them is the reported probabilities, so a view can
    // redraw the soft targets at any temperature.
    let t = soft["temperature"].as_f64().unwrap() as f32;
    for who in ["teacher", "distilled", "alone"] {
        let (probs, logits) = (soft[who].as_array().unwrap(), soft["logits"][who].as_array().unwrap());
        assert_eq!(logits.len(), probs.len(), "{who}");
        for (p, z) in probs.iter().zip(logits) {
            let (p, z) = (floats(p), floats(z));
            let m = z.iter().fold(f32::MIN, |a, &b| a.max(b));
            let e: Vec<f32> = z.iter().map(|v| ((v - m) / t).exp()).collect();
            let sum: f32 = e.iter().sum();
            for (pi, ei) in p.iter().zip(&e) {
                assert!((pi - ei / sum).abs() < 1e-5, "{who}: {pi} vs {}", ei / sum);
            }
        }
    }
    assert_eq!(d["alone"]["epochs"].as_array().unwrap().len(), 2);
    assert_eq!(s["epochs"].as_array().unwrap().len(), 2);
}

/// `"unlabelled": true`: the distilled student's transfer set is the labelled training set plus
/// the samples past `train_limit` (their labels dropped when the limit was applied, the teacher's
/// argmax in their place); the student alone keeps the labelled ones; the run's training set is
/// the labelled one again afterwards. Without a `train_limit` the recipe is refused by name.
#[test]
fn a_transfer_set_adds_the_unlabelled_samples_labelled_by_the_teacher() {
    let stage = |unlabelled: bool| {
        json!([{
            "kind": "distill", "student": { "kind": "mlp", "hidden": [8] },
            "temperature": 2, "alpha": 0.5, "train": { "epochs": 1 }, "unlabelled": unlabelled
        }])
    };
    let steps_of = |r: Recipe| {
        let mut t = Trainer::with_device(r, None, Device::Cpu, String::new()).unwrap();
        let rep = pollster::block_on(t.run(|_| {})).unwrap();
        assert!(
            t.data.unlabelled_x.len() == 1038 * 64,
            "the 1,038 digits past the limit are kept without labels"
        );
        assert_eq!(t.data.n_train(), 400, "the labelled training set is back after the stage");
        (t.steps(), crate::stages_json(&rep)[0]["details"].clone())
    };
    // digits: 1,797 samples, 359 test, 1,438 training of which the first 400 keep their labels.
    let (plain_steps, plain) = steps_of(digits(stage(false)));
    let (steps, d) = steps_of(digits(stage(true)));
    assert_eq!(plain["labelled_samples"], 400);
    assert_eq!(plain["unlabelled_samples"], 0);
    assert_eq!(d["labelled_samples"], 400);
    assert_eq!(d["unlabelled_samples"], 1038);
    // Batches of 32: the distilled student's epoch covers 1,438 samples (45 batches), not 400 (13).
    assert_eq!(steps - plain_steps, 45 - 13);
    assert_eq!(d["alone"]["test_accuracy"], plain["alone"]["test_accuracy"], "the control is unchanged");
    assert_ne!(d["distilled"]["test_accuracy"], json!(null));

    let mut no_limit = digits(stage(true));
    no_limit.dataset.train_limit = None;
    let err = no_limit.validate().unwrap_err().to_string();
    assert!(err.starts_with("compression[0].unlabelled = true: needs dataset.train_limit"), "{err}");
    let mut past_all = digits(stage(true));
    past_all.dataset.train_limit = Some(5000);
    let mut t = Trainer::with_device(past_all, None, Device::Cpu, String::new()).unwrap();
    let err = pollster::block_on(t.run(|_| {})).unwrap_err().to_string();
    assert!(
        err.contains("compression[0].unlabelled = true: dataset.train_limit = 5000 leaves no unlabelled"),
        "{err}"
    );
}

#[test]
fn digits_distill_preset_beats_the_student_trained_alone() {
    let mut r = recipe::preset("digits-distill").unwrap();
    r.backend = recipe::BackendChoice::Cpu;
    let rep = run(r);
    let rep_stages = crate::stages_json(&rep);
    let d = &rep_stages[0]["details"];
    let (t, ds, a) = (
        d["teacher"]["test_accuracy"].as_f64().unwrap(),
        d["distilled"]["test_accuracy"].as_f64().unwrap(),
        d["alone"]["test_accuracy"].as_f64().unwrap(),
    );
    eprintln!("teacher {t:.4} distilled {ds:.4} alone {a:.4} margin {:+.4}", ds - a);
    let (tp, sp) = (d["teacher"]["params"].as_u64().unwrap(), d["distilled"]["params"].as_u64().unwrap());
    assert!(sp * 10 <= tp, "student {sp} params is more than a tenth of the teacher's {tp}");
    assert!(t > 0.95 && ds > 0.95 && a > 0.95);
    assert!(ds > a, "the distilled student ({ds}) does not beat the student trained alone ({a})");
}

#[test]
fn pareto_flags_on_hand_made_points() {
    // (accuracy, bytes)
    let pts = [(0.90, 100), (0.95, 200), (0.93, 250), (0.95, 200), (0.80, 50), (0.79, 60), (0.97, 1000)];
    assert_eq!(pareto_front(&pts), vec![true, true, false, true, true, false, true]);
    assert_eq!(pareto_front(&[]), Vec::<bool>::new());
}

fn sweep(grid: Value, then: Value) -> Value {
    json!([{ "kind": "sweep", "stage": { "kind": "magnitude", "scope": "global" }, "grid": grid, "then": then }])
}

#[test]
fn sweep_runs_every_point_and_restores_the_model() {
    let plain = digits(json!([]));
    let mut t0 = Trainer::with_device(plain, None, Device::Cpu, String::new()).unwrap();
    let base = pollster::block_on(t0.run(|_| {})).unwrap();
    let r = digits(sweep(
        json!({ "amount": [0.5, 0.9, 0.97], "then[0].epochs": [1, 2] }),
        json!([{ "kind": "finetune", "epochs": 1 }]),
    ));
    let mut t = Trainer::with_device(r, None, Device::Cpu, String::new()).unwrap();
    let mut details = Vec::new();
    while !t.done() {
        let info = pollster::block_on(t.step(4)).unwrap();
        if let Some(s) = &info.stage {
            details.push(s.detail.clone());
        }
    }
    let rep = pollster::block_on(t.report()).unwrap();
    let rep_stages = crate::stages_json(&rep);
    let pts = rep_stages[0]["details"]["points"].as_array().unwrap().clone();
    assert_eq!(pts.len(), 6);
    assert!(details.iter().any(|d| d.starts_with("point 6/6")), "{details:?}");
    assert!(pts.iter().any(|p| p["pareto"] == true));
    assert_eq!(pts[0]["settings"], json!({ "amount": 0.5, "then[0].epochs": 1 }));
    assert!(pts[5]["weight_sparsity"].as_f64().unwrap() > 0.96);
    // The model after the sweep is the one before it.
    assert_eq!(rep.final_metrics.test_accuracy, base.final_metrics.test_accuracy);
    let w0: Vec<Vec<f32>> = t0.model.parameters().iter().map(|(_, p)| p.to_vec_blocking().unwrap()).collect();
    let w1: Vec<Vec<f32>> = t.model.parameters().iter().map(|(_, p)| p.to_vec_blocking().unwrap()).collect();
    assert_eq!(w0, w1);
    assert!(t.masks.is_empty());
}

#[test]
fn grid_errors_name_the_field() {
    let err = |c: Value| {
        let text = json!({
            "version": 1,
            "dataset": { "name": "digits", "classes": 10 },
            "model": { "kind": "mlp", "hidden": [16] },
            "training": { "epochs": 1, "batch_size": 32, "optimizer": { "kind": "adam", "lr": 0.003 } },
            "compression": c
        });
        Recipe::from_json(&text.to_string()).unwrap_err().to_string()
    };
    let e = err(sweep(json!({ "amount": [0.5, 0.8, 1.5] }), json!([])));
    assert!(e.contains("compression[0].grid.amount[2]"), "{e}");
    let e = err(sweep(json!({ "amout": [0.5] }), json!([])));
    assert!(e.contains("compression[0].grid.amout[0]") && e.contains("amout"), "{e}");
    let e = err(sweep(json!({ "then[1].epochs": [1] }), json!([{ "kind": "finetune", "epochs": 1 }])));
    assert!(e.contains("compression[0].grid.then[1].epochs"), "{e}");
    let e = err(sweep(json!({ "amount": [] }), json!([])));
    assert!(e.contains("compression[0].grid.amount"), "{e}");
    let e = err(
        json!([{ "kind": "distill", "student": { "kind": "mlp", "hidden": [0] }, "train": { "epochs": 1 } }]),
    );
    assert!(e.contains("compression[0].student.hidden[0]"), "{e}");
    let e = err(
        json!([{ "kind": "distill", "student": { "kind": "mlp", "hidden": [4] }, "alpha": 2, "train": { "epochs": 1 } }]),
    );
    assert!(e.contains("compression[0].alpha"), "{e}");
    let e = err(
        json!([{ "kind": "sweep", "stage": { "kind": "sweep", "stage": {}, "grid": {} }, "grid": { "x": [1] } }]),
    );
    assert!(e.contains("compression[0]"), "{e}");
}

#[test]
fn distill_sweep_over_temperature_and_alpha() {
    let r = digits(json!([{
        "kind": "sweep",
        "stage": { "kind": "distill", "student": { "kind": "mlp", "hidden": [8] }, "train": { "epochs": 1 } },
        "grid": { "temperature": [2, 4], "alpha": [0.5, 0.9] }
    }]));
    let rep = run(r);
    let rep_stages = crate::stages_json(&rep);
    let pts = rep_stages[0]["details"]["points"].as_array().unwrap();
    assert_eq!(pts.len(), 4);
    assert_eq!(pts[3]["settings"], json!({ "alpha": 0.9, "temperature": 4 }));
    assert_eq!(pts[0]["params"], 610);
    // Restored: the teacher (64 hidden) is the model again.
    assert_eq!(rep.model.params, 64 * 64 + 64 + 650);
}
