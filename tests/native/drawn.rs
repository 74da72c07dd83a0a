//! The `drawn` dataset (points carried in the recipe): parse, validation messages naming the entry,
//! the split, a tiny drawn recipe trained; the sample strip's `class_samples`; `Session::predict`
//! and `predict_explored` against the model's own test logits.

use minnow::compress::prune::Scope;
use minnow::compress::quant::{Granularity, Scheme};
use minnow::data::{DatasetName, DatasetSpec, class_samples, load};
use minnow::recipe::{BackendChoice, Recipe};
use minnow::run::session::{ExploreSetting, Session};
use serde_json::json;

/// Two clusters of `per_class` points each: class 0 around (-0.5, -0.5), class 1 around (0.5, 0.5).
fn two_clusters(per_class: usize) -> Vec<[f32; 3]> {
    let mut pts = Vec::new();
    for i in 0..per_class {
        let d = (i as f32 / per_class as f32 - 0.5) * 0.4;
        pts.push([-0.5 + d, -0.5 - d * 0.5, 0.0]);
        pts.push([0.5 - d, 0.5 + d * 0.5, 1.0]);
    }
    pts
}

fn drawn_recipe(points: &[[f32; 3]], epochs: u32) -> serde_json::Value {
    json!({
        "version": 1,
        "dataset": {"name": "drawn", "classes": 2, "points": points},
        "model": {"kind": "mlp", "hidden": [8], "activation": "tanh"},
        "training": {"epochs": epochs, "batch_size": 8, "optimizer": {"kind": "adam", "lr": 0.05}},
        "seed": 3,
        "backend": "cpu"
    })
}

fn parse(v: &serde_json::Value) -> minnow::Result<Recipe> {
    Recipe::from_json(&v.to_string())
}

fn trained(r: Recipe) -> Session {
    let mut s = pollster::block_on(Session::new(r, None)).unwrap();
    while !s.done() {
        pollster::block_on(s.step(1000)).unwrap();
    }
    s
}

#[test]
fn a_drawn_recipe_parses_round_trips_and_splits() {
    let pts = two_clusters(20);
    let r = parse(&drawn_recipe(&pts, 5)).unwrap();
    assert_eq!(r.dataset.name, DatasetName::Drawn);
    assert_eq!(r.dataset.points.as_deref(), Some(pts.as_slice()));
    let text = r.to_json();
    let back = Recipe::from_json(&text).unwrap();
    assert_eq!(back.dataset, r.dataset, "the points must survive the recipe's JSON");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(v["dataset"].get("samples").is_none() && v["dataset"].get("noise").is_none(), "{text}");

    let ds = load(&r.dataset, r.seed, None).unwrap();
    assert_eq!((ds.input_shape.clone(), ds.classes), (vec![2], 2));
    assert_eq!(ds.n_test(), 8, "round(40 · 0.2)");
    assert_eq!(ds.n_train(), 32);
    // Train and test together are the drawn points, each exactly once.
    let mut all: Vec<[u32; 3]> = ds
        .train_x
        .chunks(2)
        .zip(&ds.train_y)
        .chain(ds.test_x.chunks(2).zip(&ds.test_y))
        .map(|(p, &c)| [p[0].to_bits(), p[1].to_bits(), c])
        .collect();
    let mut want: Vec<[u32; 3]> = pts.iter().map(|p| [p[0].to_bits(), p[1].to_bits(), p[2] as u32]).collect();
    all.sort();
    want.sort();
    assert_eq!(all, want);
    // The split is the seed's: another seed, another test set.
    let other = load(&r.dataset, r.seed + 1, None).unwrap();
    assert_ne!(other.test_x, ds.test_x);
    assert_eq!(load(&r.dataset, r.seed, None).unwrap(), ds);
}

#[test]
fn drawn_validation_names_the_entry() {
    let base = two_clusters(4);
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = drawn_recipe(&base, 2);
        f(&mut v);
        parse(&v).unwrap_err().0
    };
    let cases: Vec<(String, &str)> = vec![
        (with(&|v| v["dataset"]["points"][3][2] = json!(1.5)), "dataset.points[3][2] = 1.5"),
        (
            with(&|v| v["dataset"]["points"][2][2] = json!(2)),
            "dataset.points[2][2] = 2: the class must be an integer in [0, 1]",
        ),
        (
            with(&|v| v["dataset"]["points"][1][0] = json!(3.0)),
            "dataset.points[1][0] = 3: the x coordinate must be in [-2, 2]",
        ),
        (
            with(&|v| v["dataset"]["points"][5][1] = json!(-1e39)),
            "recipe field `dataset.points[5][1]`: number out of range",
        ),
        (with(&|v| v["dataset"]["points"][0] = json!([0.1, 0.2])), "dataset.points[0]"),
        (
            with(&|v| {
                v["dataset"]["points"] = json!([[0.1, 0.2, 0], [0.3, 0.1, 0], [0.3, 0.3, 0], [0.5, 0.5, 1]])
            }),
            "class 1 has 1 point;",
        ),
        (with(&|v| v["dataset"]["classes"] = json!(3)), "class 2 has 0 points"),
        (with(&|v| v["dataset"]["classes"] = json!(9)), "dataset.classes = 9: must be in [2, 8] for drawn"),
        (
            with(&|v| v["dataset"].as_object_mut().unwrap().remove("points").map(|_| ()).unwrap()),
            "dataset.points: missing",
        ),
        (with(&|v| v["dataset"]["samples"] = json!(100)), "dataset.samples = 100"),
        (
            with(&|v| v["dataset"]["points"] = json!(vec![[0.0, 0.0, 0.0]; 1001])),
            "dataset.points: 1001 points; at most 1000",
        ),
    ];
    for (msg, want) in &cases {
        assert!(msg.contains(want), "message {msg:?} lacks {want:?}");
    }
    let mut spiral = serde_json::to_value(minnow::recipe::preset("spiral-mlp").unwrap()).unwrap();
    spiral["dataset"]["points"] = json!(base);
    let e = parse(&spiral).unwrap_err().0;
    assert!(e.contains("dataset.points: applies only to drawn"), "{e}");
    // The spec alone says the same as the recipe.
    let spec = DatasetSpec { points: Some(vec![[0.0, 0.0, 0.0]; 3]), ..DatasetSpec::new(DatasetName::Drawn) };
    assert!(spec.validate().unwrap_err().0.contains("class 1 has 0 points"));
}

#[test]
fn a_tiny_drawn_recipe_trains_and_separates_the_clusters() {
    let r = parse(&drawn_recipe(&two_clusters(20), 40)).unwrap();
    let s = trained(r);
    assert!(s.is_2d());
    let report = pollster::block_on(s.report()).unwrap();
    assert_eq!(report.final_metrics.test_accuracy, 1.0, "two far-apart clusters: {report:?}");
    // The boundary between the clusters: (-0.5, -0.5) is class 0, (0.5, 0.5) class 1.
    let p = pollster::block_on(s.predict(&[-0.5, -0.5, 0.5, 0.5])).unwrap();
    assert_eq!(p.len(), 4);
    assert!(p[0] > 0.5 && p[3] > 0.5, "{p:?}");
}

fn softmax(row: &[f32]) -> Vec<f32> {
    let m = row.iter().cloned().fold(f32::MIN, f32::max);
    let e: Vec<f32> = row.iter().map(|v| (v - m).exp()).collect();
    let z: f32 = e.iter().sum();
    e.iter().map(|v| v / z).collect()
}

#[test]
fn predict_equals_the_models_own_softmax_and_the_explorers_model() {
    let mut r = minnow::recipe::preset("digits-mlp").unwrap();
    r.training.epochs = 2;
    r.backend = BackendChoice::Cpu;
    let s = trained(r);
    let ds = s.dataset();
    let f = ds.features();
    let k = ds.classes;
    let logits = pollster::block_on(s.test_logits()).unwrap();
    let inputs = &ds.test_x[..3 * f];
    let p = pollster::block_on(s.predict(inputs)).unwrap();
    assert_eq!(p.len(), 3 * k);
    for i in 0..3 {
        let want = softmax(&logits[i * k..(i + 1) * k]);
        let got = &p[i * k..(i + 1) * k];
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < 1e-5, "sample {i}: {got:?} vs softmax of the logits {want:?}");
        }
        assert!((got.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
    let snap = s.snapshot().unwrap();
    let plain = ExploreSetting {
        sparsity: 0.0,
        method: Scope::Layer,
        bits: None,
        scheme: Scheme::Symmetric,
        granularity: Granularity::PerChannel,
    };
    let same = pollster::block_on(s.predict_explored(&snap, &plain, inputs)).unwrap();
    assert_eq!(same, p, "the snapshot with no setting is the model itself");

    // Under a setting, the predictions are the explorer's: their argmax over the whole test split
    // gives explore's accuracy.
    let hard = ExploreSetting { sparsity: 0.8, bits: Some(3), ..plain };
    let all = pollster::block_on(s.predict_explored(&snap, &hard, &ds.test_x)).unwrap();
    let correct = all
        .chunks(k)
        .zip(&ds.test_y)
        .filter(|(row, y)| {
            let best = row.iter().enumerate().fold(0, |b, (j, v)| if *v > row[b] { j } else { b });
            best == **y as usize
        })
        .count();
    let explored = pollster::block_on(s.explore(&snap, &hard)).unwrap();
    assert_eq!(correct as f32 / ds.n_test() as f32, explored.test_accuracy);
    assert_ne!(&all[..3 * k], p.as_slice(), "80 % pruning and 3 bits must change the probabilities");

    let e = pollster::block_on(s.predict(&inputs[..f - 1])).unwrap_err().0;
    assert!(e.contains("not a whole number of 64-value samples"), "{e}");
    let mut bad = inputs[..f].to_vec();
    bad[7] = f32::NAN;
    let e = pollster::block_on(s.predict_explored(&snap, &plain, &bad)).unwrap_err().0;
    assert!(e.contains("input value 7 is NaN"), "{e}");
}

#[test]
fn class_samples_take_the_first_training_samples_of_each_class() {
    let r = minnow::recipe::preset("digits-mlp").unwrap();
    let ds = load(&r.dataset, r.seed, None).unwrap();
    let (x, y) = class_samples(&ds, 2);
    assert_eq!(y, vec![0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9]);
    assert_eq!(x.len(), 20 * 64);
    let first0 = ds.train_y.iter().position(|&c| c == 0).unwrap();
    assert_eq!(&x[..64], &ds.train_x[first0 * 64..(first0 + 1) * 64]);
    assert!(x.iter().all(|v| (0.0..=1.0).contains(v)));
    let pts = two_clusters(3);
    let drawn = DatasetSpec { points: Some(pts), ..DatasetSpec::new(DatasetName::Drawn) };
    let d = load(&drawn, 1, None).unwrap();
    let (_, y) = class_samples(&d, 10);
    assert_eq!(y.len(), d.n_train(), "a class with fewer gives what it has");
}
