//! Pruning against PyTorch and against its own definitions: masks from `torch.nn.utils.prune`
//! (tests/reference/prune.json, written by tests/reference/generate_prune.py), SGD-with-momentum on
//! a pruned layer, structured removal, the AGP schedule, N:M groups, lottery rewinding, sensitivity,
//! recipe validation, and the two pruning presets reaching their targets.

use minnow::compress::prune::{self, Amount, MaskSet, Norm};
use minnow::core::backend::Device;
use minnow::core::tensor::Tensor;
use minnow::nn::loss::cross_entropy;
use minnow::nn::optim::{Optimizer, OptimizerConfig};
use minnow::nn::{Linear, Module};
use minnow::recipe::{self, Recipe};
use minnow::run::trainer::Trainer;
use serde_json::{Value, json};

fn fixtures() -> Value {
    serde_json::from_str(include_str!("../reference/prune.json")).expect("prune.json parses")
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number") as f32).collect()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array().expect("array").iter().map(|x| x.as_u64().expect("integer") as usize).collect()
}

fn amount(v: &Value) -> Amount {
    serde_json::from_value(v.clone()).expect("amount")
}

/// Collects every mismatch instead of stopping at the first.
#[derive(Default)]
struct Mismatches(Vec<String>);

impl Mismatches {
    fn check_mask(&mut self, what: String, got: &[f32], want: &[f32]) {
        if got != want {
            let diff: Vec<usize> = (0..got.len().min(want.len())).filter(|&i| got[i] != want[i]).collect();
            self.0.push(format!("{what}: {} entries differ (first at {:?})", diff.len(), diff.first()));
        }
    }
    fn finish(self) {
        assert!(self.0.is_empty(), "{} mismatches:\n{}", self.0.len(), self.0.join("\n"));
    }
}

#[test]
fn l1_unstructured_matches_torch() {
    let f = fixtures();
    let mut bad = Mismatches::default();
    for (i, c) in f["l1_unstructured"].as_array().unwrap().iter().enumerate() {
        let w = floats(&c["weight"]);
        let mut mask = vec![1.0; w.len()];
        for (j, (a, want)) in
            c["amounts"].as_array().unwrap().iter().zip(c["masks"].as_array().unwrap()).enumerate()
        {
            // torch prunes the effective (already masked) weight.
            let masked: Vec<f32> = w.iter().zip(&mask).map(|(x, m)| x * m).collect();
            mask = prune::l1_unstructured(&masked, &mask, amount(a)).unwrap();
            bad.check_mask(format!("case {i} round {j} (amount {a})"), &mask, &floats(want));
        }
    }
    bad.finish();
}

#[test]
fn global_unstructured_matches_torch() {
    let f = fixtures();
    let mut bad = Mismatches::default();
    for c in f["global_unstructured"].as_array().unwrap() {
        let ws: Vec<Vec<f32>> = c["weights"].as_array().unwrap().iter().map(floats).collect();
        let mut masks: Vec<Vec<f32>> = ws.iter().map(|w| vec![1.0; w.len()]).collect();
        for (r, round) in c["rounds"].as_array().unwrap().iter().enumerate() {
            let masked: Vec<Vec<f32>> =
                ws.iter().zip(&masks).map(|(w, m)| w.iter().zip(m).map(|(x, y)| x * y).collect()).collect();
            let vr: Vec<&[f32]> = masked.iter().map(|v| &v[..]).collect();
            let mr: Vec<&[f32]> = masks.iter().map(|v| &v[..]).collect();
            masks = prune::global_unstructured(&vr, &mr, amount(&round["amount"])).unwrap();
            for (k, want) in round["masks"].as_array().unwrap().iter().enumerate() {
                bad.check_mask(format!("round {r} tensor {k}"), &masks[k], &floats(want));
            }
        }
    }
    bad.finish();
}

#[test]
fn ln_structured_matches_torch() {
    let f = fixtures();
    let mut bad = Mismatches::default();
    let cases = f["ln_structured"].as_array().unwrap();
    assert!(cases.len() >= 24, "expected n = 1, 2 × dims 0, 1 × shapes × amounts");
    for c in cases {
        let (w, shape) = (floats(&c["weight"]), usizes(&c["shape"]));
        let norm = if c["n"] == 1 { Norm::L1 } else { Norm::L2 };
        let dim = c["dim"].as_u64().unwrap() as usize;
        let mut mask = vec![1.0; w.len()];
        for (j, (a, want)) in
            c["amounts"].as_array().unwrap().iter().zip(c["masks"].as_array().unwrap()).enumerate()
        {
            let masked: Vec<f32> = w.iter().zip(&mask).map(|(x, m)| x * m).collect();
            mask = prune::ln_structured(&masked, &shape, &mask, amount(a), norm, dim).unwrap();
            bad.check_mask(
                format!("shape {shape:?} n {} dim {dim} amounts {} round {j}", c["n"], c["amounts"]),
                &mask,
                &floats(want),
            );
        }
    }
    bad.finish();
}

/// torch: `prune.l1_unstructured(lin, "weight", 0.5)`, then SGD(lr 0.1, momentum 0.9, weight decay
/// 0.01) on cross-entropy; the effective weight after each step (see generate_prune.py).
#[test]
fn sgd_momentum_on_a_pruned_layer_follows_torch() {
    let f = fixtures();
    let c = &f["sgd"][0];
    let dev = Device::Cpu;
    let lin = Linear {
        weight: Tensor::param(&floats(&c["weight"]), &[4, 6], &dev).unwrap(),
        bias: Some(Tensor::param(&floats(&c["bias"]), &[4], &dev).unwrap()),
    };
    let mask = floats(&c["mask"]);
    let mut masks = MaskSet::default();
    masks.set("weight", &lin.weight, mask.clone()).unwrap();
    let x = Tensor::new(&floats(&c["x"]), &[8, 6], &dev).unwrap();
    let y: Vec<f32> = usizes(&c["y"]).iter().map(|&v| v as f32).collect();
    let y = Tensor::new(&y, &[8], &dev).unwrap();
    let cfg =
        OptimizerConfig::Sgd { lr: 0.1, momentum: 0.9, dampening: 0.0, nesterov: false, weight_decay: 0.01 };
    let mut opt = Optimizer::new(cfg, lin.parameters().into_iter().map(|(_, t)| t).collect()).unwrap();
    let mut worst = 0f32;
    for (s, step) in c["steps"].as_array().unwrap().iter().enumerate() {
        let loss = cross_entropy(&lin.forward(&x).unwrap(), &y, 0.0).unwrap();
        let l = loss.to_vec_blocking().unwrap()[0];
        assert!(
            (l - step["loss"].as_f64().unwrap() as f32).abs() < 1e-5,
            "step {s}: loss {l} vs {}",
            step["loss"]
        );
        opt.zero_grad();
        loss.backward().unwrap();
        masks.mask_grads().unwrap();
        let g = lin.weight.grad().unwrap().to_vec_blocking().unwrap();
        assert!(g.iter().zip(&mask).all(|(g, m)| *m != 0.0 || *g == 0.0), "pruned weights got a gradient");
        opt.step().unwrap();
        masks.apply().unwrap();
        let w = lin.weight.to_vec_blocking().unwrap();
        for (i, (a, b)) in w.iter().zip(floats(&step["weight"])).enumerate() {
            if mask[i] == 0.0 {
                assert_eq!(*a, 0.0, "step {s}: pruned weight {i} revived to {a}");
            }
            worst = worst.max((a - b).abs());
        }
        let b = lin.bias.as_ref().unwrap().to_vec_blocking().unwrap();
        for (a, b) in b.iter().zip(floats(&step["bias"])) {
            worst = worst.max((a - b).abs());
        }
    }
    assert!(worst < 1e-5, "trajectory differs from torch by {worst}");
}

#[test]
fn amounts_round_half_to_even_as_python() {
    assert_eq!(prune::units_to_prune(Amount::Fraction(0.5), 5).unwrap(), 2);
    assert_eq!(prune::units_to_prune(Amount::Fraction(0.5), 7).unwrap(), 4);
    assert_eq!(prune::units_to_prune(Amount::Fraction(0.25), 6).unwrap(), 2);
    assert_eq!(prune::units_to_prune(Amount::Count(3), 5).unwrap(), 3);
    assert!(prune::units_to_prune(Amount::Count(6), 5).is_err());
    // Ties are broken by index: the lower index is pruned first.
    let m = prune::l1_unstructured(&[1.0, -1.0, 1.0, 2.0], &[1.0; 4], Amount::Count(2)).unwrap();
    assert_eq!(m, vec![0.0, 0.0, 1.0, 1.0]);
}

#[test]
fn n_m_leaves_at_least_m_minus_n_zeros_in_every_group() {
    let mut rng = minnow::core::rng::Rng::new(7, 0);
    for (shape, n, m) in
        [(vec![8, 16], 2, 4), (vec![5, 12], 1, 4), (vec![6, 16], 3, 8), (vec![4, 8, 3, 3], 2, 4)]
    {
        let len: usize = shape.iter().product();
        let w: Vec<f32> = (0..len).map(|_| rng.normal()).collect();
        let mask = prune::n_m(&w, &shape, &vec![1.0; len], n, m).unwrap();
        let (cin, inner) = (shape[1], shape[2..].iter().product::<usize>());
        for r in 0..shape[0] {
            for s in 0..inner {
                for g in (0..cin).step_by(m) {
                    let idx: Vec<usize> = (g..g + m).map(|c| r * cin * inner + c * inner + s).collect();
                    let zeros = idx.iter().filter(|&&i| mask[i] == 0.0).count();
                    assert!(
                        zeros >= m - n,
                        "{shape:?} {n}:{m}: group at row {r} pos {s} ch {g} has {zeros} zeros"
                    );
                    // The kept ones are the largest magnitudes of the group.
                    let kept_min =
                        idx.iter().filter(|&&i| mask[i] != 0.0).map(|&i| w[i].abs()).fold(f32::MAX, f32::min);
                    let pruned_max =
                        idx.iter().filter(|&&i| mask[i] == 0.0).map(|&i| w[i].abs()).fold(0.0, f32::max);
                    assert!(kept_min >= pruned_max);
                }
            }
        }
    }
    assert!(prune::n_m(&[1.0; 8], &[2, 4], &[1.0; 8], 4, 4).is_err());
}

#[test]
fn sparse_bytes_count_bitmask_and_csr() {
    // 2 × 4, three non-zeros.
    let b = prune::tensor_bytes(&[0.0, 1.0, 0.0, 0.0, 2.0, 0.0, 0.0, 3.0], &[2, 4]);
    assert_eq!(b.dense, 32);
    assert_eq!(b.bitmask, 1 + 12);
    // 3 u16 row pointers, 3 u16 column indices, 3 f32 values.
    assert_eq!(b.csr, 6 + 6 + 12);
    assert_eq!(b.best(), 13);
    assert_eq!(prune::tensor_bytes(&[1.0; 4], &[4]).best(), 16);
}

#[test]
fn agp_formula() {
    assert_eq!(prune::agp_sparsity(0.0, 0.9, 0, 10), 0.0);
    assert!((prune::agp_sparsity(0.0, 0.9, 10, 10) - 0.9).abs() < 1e-12);
    assert!((prune::agp_sparsity(0.1, 0.9, 5, 10) - (0.9 - 0.8 * 0.125)).abs() < 1e-12);
}

// ---------------------------------------------------------------------------------------------
// Stages through the trainer
// ---------------------------------------------------------------------------------------------

fn recipe_with(base: &str, stages: Value, edit: impl FnOnce(&mut Value)) -> Recipe {
    let mut r: Value = serde_json::to_value(recipe::preset(base).unwrap()).unwrap();
    r["backend"] = json!("cpu");
    r["compression"] = stages;
    edit(&mut r);
    Recipe::from_json(&r.to_string()).unwrap()
}

fn trainer(r: Recipe) -> Trainer {
    Trainer::with_device(r, None, Device::Cpu, String::new()).unwrap()
}

/// Steps until the initial training is done.
fn train_initial(t: &mut Trainer) {
    while !t.training_done() {
        pollster::block_on(t.step(1000)).unwrap();
    }
}

/// Steps until stage `index` has reported; returns its report.
fn run_stage(t: &mut Trainer, index: usize) -> Value {
    loop {
        let info = pollster::block_on(t.step(1000)).unwrap();
        if let Some(r) = info.stage_end {
            let r = serde_json::to_value(&r).unwrap();
            assert_eq!(r["index"], index);
            return r;
        }
        assert!(!info.done, "finished before stage {index} reported");
    }
}

fn logits(t: &Trainer) -> Vec<f32> {
    t.logits(t.test_inputs()).unwrap().to_vec_blocking().unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Masks from stage 0, then stage 1 (amount 0) removes the dead neurons: outputs unchanged, and the
/// parameter count is that of the surviving rows.
fn check_removal(base: &str, model: Value, stage0: Value, expected_params: usize) {
    let stages =
        json!([stage0, { "kind": "structured", "amount": 0, "remove": true, "layers": stage0["layers"] }]);
    let r = recipe_with(base, stages, |r| {
        r["model"] = model;
        r["training"]["epochs"] = json!(2);
    });
    let mut t = trainer(r);
    train_initial(&mut t);
    let before_params = t.model.param_count();
    run_stage(&mut t, 0);
    let masked = logits(&t);
    let rep = run_stage(&mut t, 1);
    let thinned = logits(&t);
    let d = max_diff(&masked, &thinned);
    assert!(d <= 1e-6, "{base}: removal changed the outputs by {d}");
    assert_eq!(t.model.param_count(), expected_params, "{base}: {} params before", before_params);
    assert_eq!(rep["params"], expected_params);
    assert!(rep["details"]["removal"]["max_logit_change"].as_f64().unwrap() <= 1e-6);
    // The thinned model still trains.
    t.start_phase(minnow::run::trainer::Phase::initial(&t.recipe));
    pollster::block_on(t.train(5)).unwrap();
}

#[test]
fn structured_removal_keeps_outputs_mlp_relu_batchnorm() {
    // spiral: 2 → 64 → BN → relu → 64 → BN → relu → 2; half of each hidden layer removed.
    let kept = 32;
    let expected = (2 * kept + kept) + 2 * kept + (kept * kept + kept) + 2 * kept + (kept * 2 + 2);
    check_removal(
        "spiral-mlp",
        json!({"kind": "mlp", "hidden": [64, 64], "activation": "relu", "batch_norm": true}),
        json!({"kind": "structured", "amount": 0.5, "norm": "l2", "layers": ["0", "3"]}),
        expected,
    );
}

#[test]
fn structured_removal_keeps_outputs_mlp_sigmoid_folds_constants() {
    // sigmoid(0) = 0.5 flows from every dead neuron: folded into the next layer's bias.
    let expected = (2 * 40 + 40) + (40 * 8 + 8) + (8 * 2 + 2);
    check_removal(
        "spiral-mlp",
        json!({"kind": "mlp", "hidden": [64, 32], "activation": "sigmoid"}),
        json!({"kind": "structured", "amount": 24, "norm": "l1", "layers": ["0", "2"]}),
        expected,
    );
}

#[test]
fn structured_removal_keeps_outputs_cnn() {
    // digits 1×8×8: conv 8 (pad 1) → relu → pool 2 → conv 12 (pad 1) → relu → pool 2 → flatten
    // (12·2·2) → 16 → relu → 10. Remove 3 filters of each conv and 6 neurons of the hidden layer.
    let conv = json!([{"channels": 8, "padding": 1}, {"channels": 12, "padding": 1}]);
    let model = json!({"kind": "cnn", "conv": conv.clone(), "hidden": [16]});
    let (c1, c2) = (5, 9);
    let expected = (c1 * 9 + c1) + (c2 * c1 * 9 + c2) + (16 * c2 * 4 + 16) + (10 * 16 + 10);
    check_removal(
        "digits-mlp",
        model,
        json!({"kind": "structured", "amount": 3, "layers": ["0", "3"]}),
        expected,
    );
    // With batch norms: conv 8 → BN → relu → pool → conv 12 → BN → relu → pool → flatten 12·2·2
    // → 16 → BN → relu → 10; 3 channels of each conv and 3 neurons of the hidden layer removed.
    let model = json!({"kind": "cnn", "conv": conv, "hidden": [16], "batch_norm": true});
    let (c1, c2, h) = (5, 9, 13);
    let expected =
        (c1 * 9 + c1) + 2 * c1 + (c2 * c1 * 9 + c2) + 2 * c2 + (h * c2 * 4 + h) + 2 * h + (10 * h + 10);
    let stage = json!({"kind": "structured", "amount": 3, "layers": ["0", "4", "9"]});
    check_removal("digits-mlp", model, stage, expected);
}

#[test]
fn masks_persist_through_finetuning_with_momentum_and_adam() {
    for opt in [
        json!({"kind": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 0.001}),
        json!({"kind": "adam", "lr": 0.01}),
    ] {
        let stages = json!([
            {"kind": "magnitude", "amount": 0.7, "scope": "layer"},
            {"kind": "finetune", "epochs": 3}
        ]);
        let r = recipe_with("spiral-mlp", stages, |r| {
            r["training"]["epochs"] = json!(5);
            r["training"]["optimizer"] = opt.clone();
        });
        let mut t = trainer(r);
        train_initial(&mut t);
        run_stage(&mut t, 0);
        let zeros = |t: &Trainer| -> Vec<Vec<usize>> {
            prune::prunable_weights(&t.model)
                .iter()
                .map(|w| {
                    let p = t.model.parameters().into_iter().find(|(n, _)| *n == w.name).unwrap().1;
                    let v = p.to_vec_blocking().unwrap();
                    (0..v.len()).filter(|&i| v[i] == 0.0).collect()
                })
                .collect()
        };
        let z0 = zeros(&t);
        for (w, z) in prune::prunable_weights(&t.model).iter().zip(&z0) {
            let n: usize = w.shape.iter().product();
            assert_eq!(z.len(), (0.7f64 * n as f64).round_ties_even() as usize, "{}", w.name);
        }
        let rep = run_stage(&mut t, 1);
        assert_eq!(zeros(&t), z0, "{opt}: pruned weights revived during finetuning");
        assert_eq!(rep["epochs"].as_array().unwrap().len(), 3);
        assert!(t.done());
    }
}

#[test]
fn gradual_pruning_follows_the_cubic_schedule() {
    for scope in ["layer", "global"] {
        let stages = json!([{
            "kind": "gradual", "initial_sparsity": 0.1, "final_sparsity": 0.85, "start_step": 4,
            "frequency": 7, "prunings": 6, "scope": scope, "train": {"epochs": 4, "lr": 0.005}
        }]);
        let r = recipe_with("spiral-mlp", stages, |r| r["training"]["epochs"] = json!(3));
        let mut t = trainer(r);
        train_initial(&mut t);
        let sizes: Vec<usize> =
            prune::prunable_weights(&t.model).iter().map(|w| w.shape.iter().product()).collect();
        let total: usize = sizes.iter().sum();
        let rep = run_stage(&mut t, 0);
        let sched = rep["details"]["schedule"].as_array().unwrap();
        assert_eq!(sched.len(), 7);
        for (k, e) in sched.iter().enumerate() {
            assert_eq!(e["step"], 4 + 7 * k as u64);
            let s = prune::agp_sparsity(0.1, 0.85, k as u32, 6);
            assert!((e["target"].as_f64().unwrap() - s).abs() < 1e-12);
            if scope == "global" {
                let zeros = (e["sparsity"].as_f64().unwrap() * total as f64).round();
                assert!(
                    (zeros - s * total as f64).abs() <= 1.0,
                    "step {k}: {zeros} zeros vs {}",
                    s * total as f64
                );
            } else {
                for (l, n) in sizes.iter().enumerate() {
                    let zeros = (e["layers"][l].as_f64().unwrap() * *n as f64).round();
                    assert!((zeros - s * *n as f64).abs() <= 1.0, "step {k} layer {l}: {zeros} zeros");
                }
            }
        }
        assert!((rep["weight_sparsity"].as_f64().unwrap() - 0.85).abs() < 1.0 / total as f64 + 1e-9);
    }
}

#[test]
fn iterative_cycles_reach_the_target() {
    let stages = json!([{
        "kind": "iterative", "sparsity": 0.8, "cycles": 3, "scope": "global",
        "finetune": {"epochs": 1, "lr": 0.005}
    }]);
    let r = recipe_with("spiral-mlp", stages, |r| r["training"]["epochs"] = json!(10));
    let mut t = trainer(r);
    train_initial(&mut t);
    let rep = run_stage(&mut t, 0);
    let log = rep["details"]["log"].as_array().unwrap();
    assert_eq!(log.len(), 3);
    for (c, e) in log.iter().enumerate() {
        let want = prune::cycle_sparsity(0.8, c as u32 + 1, 3);
        assert!((e["sparsity"].as_f64().unwrap() - want).abs() < 1e-3, "cycle {c}");
    }
    assert!((rep["weight_sparsity"].as_f64().unwrap() - 0.8).abs() < 1e-3);
}

#[test]
fn lottery_rewinds_survivors_to_initialization_and_runs_the_control() {
    let stages = json!([{
        "kind": "lottery", "sparsity": 0.75, "rounds": 2, "scope": "global",
        "train": {"epochs": 4, "lr": 0.01}
    }]);
    let r = recipe_with("spiral-mlp", stages, |r| r["training"]["epochs"] = json!(8));
    let init = r.build_model(&[2], 2, &Device::Cpu).unwrap();
    let mut t = trainer(r);
    train_initial(&mut t);
    // A zero-batch step begins the stage: prune, rewind, and nothing trained yet.
    let info = pollster::block_on(t.step(0)).unwrap();
    assert_eq!(info.stage.as_ref().unwrap().detail, "round 1/2");
    for ((n, p), (_, p0)) in t.model.parameters().into_iter().zip(init.parameters()) {
        let (v, v0) = (p.to_vec_blocking().unwrap(), p0.to_vec_blocking().unwrap());
        let m = t.masks.get_or_ones(&n, v.len());
        for i in 0..v.len() {
            assert_eq!(v[i], v0[i] * m[i], "{n}[{i}] not rewound to its initial value");
        }
    }
    let rep = run_stage(&mut t, 0);
    let d = &rep["details"];
    assert_eq!(d["rounds"].as_array().unwrap().len(), 2);
    assert!(d["ticket_accuracy"].as_f64().is_some() && d["control_accuracy"].as_f64().is_some());
    assert!((rep["weight_sparsity"].as_f64().unwrap() - 0.75).abs() < 1e-3);
    // The winning ticket is what the model holds afterwards.
    assert!((rep["test_accuracy"].as_f64().unwrap() - d["ticket_accuracy"].as_f64().unwrap()).abs() < 1e-6);
    // 2 rounds + control, 4 epochs each.
    assert_eq!(rep["epochs"].as_array().unwrap().len(), 12);
}

#[test]
fn lottery_can_rewind_to_step_k() {
    let stages = json!([{
        "kind": "lottery", "sparsity": 0.5, "rewind_step": 3, "control": false, "train": {"epochs": 1}
    }]);
    let r = recipe_with("spiral-mlp", stages, |r| r["training"]["epochs"] = json!(2));
    let mut t = trainer(r);
    train_initial(&mut t);
    let snap: Vec<Vec<f32>> =
        t.snapshot(3).unwrap().iter().map(|(_, s)| s.read_blocking().unwrap()).collect();
    pollster::block_on(t.step(0)).unwrap();
    for ((n, p), s) in t.model.state().into_iter().zip(&snap) {
        let v = p.to_vec_blocking().unwrap();
        let m = t.masks.get_or_ones(&n, v.len());
        assert!(v.iter().zip(s).zip(&m).all(|((a, b), m)| *a == b * m), "{n} not rewound to step 3");
    }
    let rep = run_stage(&mut t, 0);
    assert!(rep["details"]["control_accuracy"].is_null());
}

#[test]
fn sensitivity_reports_a_layer_by_sparsity_matrix_and_leaves_the_model_alone() {
    let levels = [0.0, 0.5, 0.9, 0.99];
    let stages = json!([{"kind": "sensitivity", "sparsities": levels}]);
    let r = recipe_with("spiral-mlp", stages, |r| r["training"]["epochs"] = json!(30));
    let mut t = trainer(r);
    train_initial(&mut t);
    let before = logits(&t);
    let (acc, _) = pollster::block_on(t.evaluate_test()).unwrap();
    let rep = run_stage(&mut t, 0);
    assert_eq!(logits(&t), before);
    let m = rep["details"]["accuracy"].as_array().unwrap();
    assert_eq!(m.len(), 3);
    for row in m {
        let row = floats(row);
        assert_eq!(row.len(), levels.len());
        assert_eq!(row[0], acc, "sparsity 0 must reproduce the dense accuracy");
    }
    assert_eq!(rep["weight_sparsity"], 0.0);
}

#[test]
fn n_m_stage_and_its_report() {
    let stages = json!([{"kind": "n_m", "n": 2, "m": 4, "layers": ["1", "3"]}]);
    let r = recipe_with("digits-mlp", stages, |r| r["training"]["epochs"] = json!(1));
    let mut t = trainer(r);
    train_initial(&mut t);
    let rep = run_stage(&mut t, 0);
    let layers = rep["layers"].as_array().unwrap();
    assert_eq!(layers[0]["sparsity"], 0.5);
    assert_eq!(layers[1]["sparsity"], 0.5);
    assert_eq!(layers[2]["sparsity"], 0.0);
    let b = &rep["bytes"];
    assert!(b["sparse"].as_u64() < b["dense"].as_u64());
    assert_eq!(
        b["sparse"].as_u64().unwrap().min(b["bitmask"].as_u64().unwrap()),
        b["sparse"].as_u64().unwrap()
    );
}

#[test]
fn validation_names_the_field() {
    let bad = |stages: Value| -> String {
        let mut r: Value = serde_json::to_value(recipe::preset("spiral-mlp").unwrap()).unwrap();
        r["compression"] = stages;
        match Recipe::from_json(&r.to_string()) {
            Ok(rec) => match Trainer::with_device(rec, None, Device::Cpu, String::new()) {
                Ok(_) => panic!("accepted"),
                Err(e) => e.to_string(),
            },
            Err(e) => e.to_string(),
        }
    };
    let e = bad(json!([{"kind": "finetune", "epochs": 1}, {"kind": "magnitude", "amount": 1.0}]));
    assert!(e.contains("compression[1].amount"), "{e}");
    let e = bad(json!([{"kind": "gradual", "final_sparsity": 1.2, "prunings": 3, "train": {"epochs": 1}}]));
    assert!(e.contains("compression[0].final_sparsity"), "{e}");
    let e = bad(json!([{"kind": "n_m", "n": 4, "m": 4}]));
    assert!(e.contains("compression[0].n") && e.contains("N < M"), "{e}");
    let e = bad(json!([{"kind": "magnitude", "amount": 0.5, "layers": ["7"]}]));
    assert!(e.contains("compression[0].layers[0]") && e.contains("0.weight"), "{e}");
    let e = bad(json!([{"kind": "magnitude", "amount": 0.5, "threshold": 3}]));
    assert!(e.contains("threshold"), "{e}");
    let e = bad(json!([{"kind": "structured", "amount": 0.5, "dim": 1, "remove": true}]));
    assert!(e.contains("compression[0].remove"), "{e}");
    let e = bad(json!([{"kind": "structured", "amount": 0.5, "remove": true, "layers": ["4"]}]));
    assert!(e.contains("output layer"), "{e}");
    let e = bad(json!([{
        "kind": "gradual", "final_sparsity": 0.5, "frequency": 1000, "prunings": 3, "train": {"epochs": 1}
    }]));
    assert!(e.contains("compression[0]") && e.contains("past the stage"), "{e}");
    let e = bad(json!([{"kind": "prune", "amount": 0.5}]));
    assert!(e.contains("prune"), "{e}");
    let e = bad(json!([{"kind": "sensitivity", "sparsities": [0.5, 1.0]}]));
    assert!(e.contains("compression[0].sparsities[1]"), "{e}");
}

#[test]
fn stages_round_trip_through_json() {
    for p in ["spiral-prune", "mnist-prune"] {
        let r = recipe::preset(p).unwrap();
        assert_eq!(Recipe::from_json(&r.to_json()).unwrap(), r);
    }
    let r = recipe_with(
        "spiral-mlp",
        json!([{"kind": "magnitude", "amount": 100}, {"kind": "magnitude", "amount": 0.5}]),
        |_| {},
    );
    let v: Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(v["compression"][0]["amount"], json!(100));
    assert_eq!(v["compression"][1]["amount"], json!(0.5));
}

// ---------------------------------------------------------------------------------------------
// Presets
// ---------------------------------------------------------------------------------------------

fn run_preset(name: &str) -> minnow::run::report::Report {
    let mut r = recipe::preset(name).unwrap();
    r.backend = recipe::BackendChoice::Cpu;
    let mut t = trainer(r);
    pollster::block_on(t.run(|_| {})).unwrap()
}

#[test]
fn mnist_prune_reaches_90_percent_sparsity_within_half_a_point() {
    let rep = run_preset("mnist-prune");
    let dense = rep.epochs.last().unwrap().test_accuracy;
    let rep_stages = crate::stages_json(&rep);
    let last = rep_stages.last().unwrap();
    let acc = last["test_accuracy"].as_f64().unwrap() as f32;
    let sparsity = last["weight_sparsity"].as_f64().unwrap();
    eprintln!(
        "mnist-prune: dense {:.2}% → {:.2}% at {:.2}% weight sparsity ({:.2}% of params), {} → {} bytes",
        100.0 * dense,
        100.0 * acc,
        100.0 * sparsity,
        100.0 * last["param_sparsity"].as_f64().unwrap(),
        last["bytes"]["dense"],
        last["bytes"]["sparse"]
    );
    assert!(sparsity >= 0.9 && last["param_sparsity"].as_f64().unwrap() >= 0.9);
    assert!(dense - acc <= 0.005 + 1e-6, "accuracy dropped {:.2} points", 100.0 * (dense - acc));
    assert!(last["compression_ratio"].as_f64().unwrap() > 5.0);
}

#[test]
fn spiral_prune_keeps_the_boundary_at_90_percent() {
    let rep = run_preset("spiral-prune");
    let dense = rep.epochs.last().unwrap().test_accuracy;
    let rep_stages = crate::stages_json(&rep);
    let sens = &rep_stages[0];
    assert_eq!(sens["kind"], "sensitivity");
    let last = rep_stages.last().unwrap();
    let acc = last["test_accuracy"].as_f64().unwrap() as f32;
    eprintln!(
        "spiral-prune: dense {:.2}% → {:.2}% at {:.1}% sparsity",
        100.0 * dense,
        100.0 * acc,
        100.0 * last["weight_sparsity"].as_f64().unwrap()
    );
    assert!(last["weight_sparsity"].as_f64().unwrap() >= 0.9 - 1e-9);
    assert!(acc >= 0.97 && dense - acc <= 0.02, "spiral accuracy {acc} (dense {dense})");
}

/// Plans that used to fail only once the training was paid for are refused when the trainer is
/// built: a count `amount` past a layer's (or the global scope's) size, and a structured removal
/// after per-channel quantizers were installed. Per-tensor quantizers, and a sweep (whose points
/// start from a model without quantizers), still allow the removal.
#[test]
fn plans_that_would_fail_after_training_are_refused_before_it() {
    // spiral-mlp: 0.weight [64, 2], 2.weight [64, 64], 4.weight [2, 64].
    let refused: Vec<(Value, Vec<&str>)> = vec![
        (
            json!([{"kind": "magnitude", "amount": 129}]),
            vec!["compression[0].amount = 129", "layer 0.weight [64, 2] has only 128 weights"],
        ),
        (
            json!([{"kind": "magnitude", "amount": 100000, "scope": "global"}]),
            vec!["compression[0].amount = 100000", "has only 4352 weights"],
        ),
        (
            json!([{"kind": "structured", "amount": 65, "remove": true}]),
            vec!["compression[0].amount = 65", "has only 64 output channels"],
        ),
        (
            json!([{"kind": "quantize", "bits": 8}, {"kind": "finetune", "epochs": 1},
                   {"kind": "structured", "amount": 0.5, "remove": true}]),
            vec!["compression[2].remove", "compression[0] installed per-channel quantizers", "per_tensor"],
        ),
        (
            json!([{"kind": "qat", "bits": 8, "train": {"epochs": 1}},
                   {"kind": "structured", "amount": 0.5, "remove": true}]),
            vec!["compression[1].remove", "compression[0] installed per-channel quantizers"],
        ),
    ];
    let mut failures = Vec::new();
    for (stages, needles) in &refused {
        let r = recipe_with("spiral-mlp", stages.clone(), |_| {});
        match Trainer::with_device(r, None, Device::Cpu, String::new()) {
            Ok(_) => failures.push(format!("{stages}: accepted")),
            Err(e) => {
                let msg = e.to_string();
                for n in needles {
                    if !msg.contains(n) {
                        failures.push(format!("{stages}: message {msg:?} lacks {n:?}"));
                    }
                }
            }
        }
    }
    let accepted = [
        json!([{"kind": "magnitude", "amount": 128}]),
        json!([{"kind": "magnitude", "amount": 4352, "scope": "global"}]),
        json!([{"kind": "quantize", "bits": 8, "granularity": "per_tensor"},
               {"kind": "structured", "amount": 0.5, "remove": true}]),
        json!([{"kind": "structured", "amount": 0.5, "remove": true}, {"kind": "quantize", "bits": 8}]),
        json!([{"kind": "quantize", "bits": 8},
               {"kind": "sweep", "stage": {"kind": "structured", "remove": true}, "grid": {"amount": [0.5]}}]),
    ];
    for stages in &accepted {
        let r = recipe_with("spiral-mlp", stages.clone(), |_| {});
        if let Err(e) = Trainer::with_device(r, None, Device::Cpu, String::new()) {
            failures.push(format!("{stages}: refused: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A per-tensor quantizer survives a structured removal after it: the run completes.
#[test]
fn structured_removal_after_per_tensor_quantization_runs() {
    let r = recipe_with(
        "spiral-mlp",
        json!([{"kind": "quantize", "bits": 8, "granularity": "per_tensor", "activations": true},
               {"kind": "structured", "amount": 0.5, "remove": true}]),
        |r| r["training"]["epochs"] = json!(1),
    );
    let mut t = trainer(r);
    train_initial(&mut t);
    run_stage(&mut t, 0);
    let rep = run_stage(&mut t, 1);
    assert_eq!(rep["kind"], "structured", "{rep}");
}
