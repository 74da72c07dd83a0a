//! The `minnow` binary end to end: presets, validate, run with overrides and --out, and clear
//! non-zero exits on bad input.

use std::process::Command;

fn minnow(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_minnow")).args(args).output().expect("run minnow");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("minnow-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Trains spiral-mlp on the CPU for `epochs` and saves the model file at `path`.
fn save_spiral(path: &str, epochs: &str) {
    let args =
        ["run", "--preset", "spiral-mlp", "--backend", "cpu", "--epochs", epochs, "--quiet", "--save", path];
    let (code, _, err) = minnow(&args);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn presets_lists_every_preset() {
    let (code, out, _) = minnow(&["presets"]);
    assert_eq!(code, 0);
    for p in minnow::recipe::PRESETS {
        assert!(out.contains(p.name), "{} missing from:\n{out}", p.name);
    }
}

#[test]
fn run_writes_a_report_with_the_documented_fields() {
    let path = tmp("report.json");
    let (code, _, err) = minnow(&[
        "run",
        "--preset",
        "spiral-mlp",
        "--backend",
        "cpu",
        "--epochs",
        "3",
        "--out",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("test acc"), "no table on stderr:\n{err}");
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(r["backend"], "cpu");
    assert_eq!(r["recipe"]["training"]["epochs"], 3);
    let epochs = r["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 3);
    for k in ["epoch", "train_loss", "train_accuracy", "test_accuracy", "lr", "seconds"] {
        assert!(epochs[0].get(k).is_some(), "epochs[0].{k} missing");
    }
    for k in ["test_accuracy", "train_loss", "confusion"] {
        assert!(r["final"].get(k).is_some(), "final.{k} missing");
    }
    let confusion = r["final"]["confusion"].as_array().unwrap();
    let total: u64 =
        confusion.iter().flat_map(|row| row.as_array().unwrap()).map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(total, 120, "confusion counts the 120 test points");
    assert_eq!(r["model"]["params"], 4482);
    assert_eq!(r["model"]["bytes"], 4482 * 4);
    assert!(r["stages"].is_array());
}

#[test]
fn same_seed_same_report_numbers() {
    let run = || {
        let (code, out, err) =
            minnow(&["run", "--preset", "digits-mlp", "--backend", "cpu", "--epochs", "2", "--quiet"]);
        assert_eq!(code, 0, "{err}");
        let r: serde_json::Value = serde_json::from_str(&out).unwrap();
        (
            r["epochs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["train_loss"].as_f64().unwrap())
                .collect::<Vec<_>>(),
            r["final"].clone(),
        )
    };
    assert_eq!(run(), run());
}

#[test]
fn bad_input_exits_non_zero_with_a_message() {
    let bad = tmp("bad.json");
    std::fs::write(
        &bad,
        r#"{"version": 1, "dataset": {"name": "spiral"}, "model": {"kind": "mlp", "hidden": [8]},
        "training": {"epochs": 1, "batch_size": 0, "optimizer": {"kind": "sgd", "lr": 0.1}}}"#,
    )
    .unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["validate", bad.to_str().unwrap()], "training.batch_size"),
        (vec!["run", bad.to_str().unwrap()], "training.batch_size"),
        (vec!["run", "--preset", "nope"], "unknown preset"),
        (vec!["run", "--preset", "spiral-mlp", "--backend", "tpu"], "--backend tpu"),
        (vec!["run", "--preset", "spiral-mlp", "--epochs", "many"], "--epochs many"),
        (vec!["run", "/no/such/recipe.json"], "cannot read"),
        (vec!["frobnicate"], "unknown command"),
    ];
    for (args, needle) in cases {
        let (code, _, err) = minnow(&args);
        assert_ne!(code, 0, "{args:?} succeeded");
        assert!(err.contains(needle), "{args:?}: stderr {err:?} lacks {needle:?}");
    }
}

/// SGD at lr 10 on a deep ReLU MLP diverges within the first epoch: the run stops with an error
/// naming the epoch, the step and the learning-rate field, instead of a report of `null` losses.
#[test]
fn a_diverging_run_exits_non_zero_naming_the_step_and_the_learning_rate() {
    let path = tmp("diverge.json");
    std::fs::write(
        &path,
        r#"{"version": 1, "dataset": {"name": "digits", "classes": 10},
        "model": {"kind": "mlp", "hidden": [64, 64, 64], "activation": "relu"},
        "training": {"epochs": 5, "batch_size": 32, "optimizer": {"kind": "sgd", "lr": 10},
                     "metrics_every": 10},
        "seed": 1, "backend": "cpu"}"#,
    )
    .unwrap();
    let (code, out, err) = minnow(&["run", path.to_str().unwrap(), "--quiet"]);
    assert_ne!(code, 0, "a diverging run succeeded:\n{out}");
    for needle in ["non-finite", "at epoch 1 step", "training.optimizer.lr = 10", "lower learning rate"] {
        assert!(err.contains(needle), "stderr {err:?} lacks {needle:?}");
    }
    assert!(!out.contains("\"train_loss\": null"), "a report was printed:\n{out}");
}

/// The divergence message names the field to lower: one-cycle's `max_lr` (it ignores the base
/// rate), and inside a compression stage the stage itself.
#[test]
fn a_diverging_one_cycle_or_stage_names_its_own_rate() {
    let recipe = |schedule: &str, epochs: u32, lr: f32, stages: &str| {
        format!(
            r#"{{"version": 1, "dataset": {{"name": "digits", "classes": 10}},
            "model": {{"kind": "mlp", "hidden": [64, 64, 64], "activation": "relu"}},
            "training": {{"epochs": {epochs}, "batch_size": 32, "optimizer": {{"kind": "sgd", "lr": {lr}}},
                         "schedule": {schedule}, "metrics_every": 10}},
            "compression": {stages}, "seed": 1, "backend": "cpu"}}"#
        )
    };
    let cases = [
        (
            "one-cycle.json",
            recipe(
                r#"{"decay": {"kind": "one_cycle", "max_lr": 10, "div_factor": 1, "cycle_momentum": false}}"#,
                5,
                0.01,
                "[]",
            ),
            vec!["non-finite", "training.schedule.decay.max_lr = 10"],
        ),
        (
            "stage.json",
            recipe("{}", 1, 0.0001, r#"[{"kind": "finetune", "epochs": 5, "lr": 10}]"#),
            vec!["compression[0]: the loss became non-finite", "this stage's training", "its lr = 10"],
        ),
    ];
    let mut failures = Vec::new();
    for (name, text, needles) in &cases {
        let path = tmp(name);
        std::fs::write(&path, text).unwrap();
        let (code, _, err) = minnow(&["run", path.to_str().unwrap(), "--quiet"]);
        if code == 0 {
            failures.push(format!("{name}: exited 0"));
        }
        for n in needles {
            if !err.contains(n) {
                failures.push(format!("{name}: stderr {err:?} lacks {n:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `minnow eval` refuses a model file whose recipe was edited so that the recomputed test split is
/// not the one the model was evaluated on (here: the seed), instead of scoring on training samples.
#[test]
fn eval_refuses_a_file_whose_split_was_edited() {
    let path = tmp("split.safetensors");
    let p = path.to_str().unwrap();
    save_spiral(p, "1");
    let (code, _, err) = minnow(&["eval", p, "--backend", "cpu"]);
    assert_eq!(code, 0, "the file as saved evaluates: {err}");
    let mut file = minnow::io::model_file::ModelFile::from_bytes(&std::fs::read(&path).unwrap()).unwrap();
    file.recipe.seed += 1;
    std::fs::write(&path, file.to_bytes().unwrap()).unwrap();
    let (code, out, err) = minnow(&["eval", p, "--backend", "cpu"]);
    assert_ne!(code, 0, "an edited split was evaluated: {out}");
    assert!(err.contains("metadata `test_split`") && err.contains("not evaluated on this split"), "{err}");
}

/// `minnow eval --split test|train|all` scores the split it names and says so, with the count: the
/// spiral preset's 600 points split 480 / 120; `all` is both, its accuracy their pooled share.
#[test]
fn eval_scores_the_split_it_is_given() {
    let path = tmp("eval-split.safetensors");
    let p = path.to_str().unwrap();
    save_spiral(p, "2");
    let eval = |extra: &[&str]| {
        let mut args = vec!["eval", p, "--backend", "cpu", "--head", "0"];
        args.extend_from_slice(extra);
        let (code, out, err) = minnow(&args);
        assert_eq!(code, 0, "{extra:?}: {err}");
        (serde_json::from_str::<serde_json::Value>(&out).unwrap(), err)
    };
    let (test, err) = eval(&[]);
    assert_eq!((test["split"].as_str(), test["samples"].as_u64()), (Some("test"), Some(120)));
    assert_eq!(test["test_accuracy"], test["accuracy"]);
    assert!(err.contains("scored the test split (120 samples)"), "{err}");
    assert_eq!(eval(&["--split", "test"]).0, test);
    let (train, err) = eval(&["--split", "train"]);
    assert_eq!((train["split"].as_str(), train["samples"].as_u64()), (Some("train"), Some(480)));
    assert!(train.get("test_accuracy").is_none(), "{train}");
    assert_eq!(train["logits_head"].as_array().unwrap().len(), 480);
    assert!(err.contains("scored the train split (480 samples)"), "{err}");
    let (all, _) = eval(&["--split", "all"]);
    assert_eq!(all["samples"].as_u64(), Some(600));
    let hits = |v: &serde_json::Value, n: f64| (v["accuracy"].as_f64().unwrap() * n).round();
    assert_eq!(hits(&all, 600.0), hits(&train, 480.0) + hits(&test, 120.0));
    // The logits of `all` are the train rows then the test rows.
    let rows = all["logits_head"].as_array().unwrap();
    assert_eq!(rows[..480], train["logits_head"].as_array().unwrap()[..]);
    assert_eq!(rows[480..], test["logits_head"].as_array().unwrap()[..]);
    let (code, _, err) = minnow(&["eval", p, "--split", "validation"]);
    assert_ne!(code, 0);
    assert!(err.contains("--split validation: must be test, train or all"), "{err}");
}

/// `--csv` with a recipe whose dataset is not csv is an error naming `dataset.name`, in `run` and
/// in `eval`, instead of being ignored.
#[test]
fn csv_flag_on_a_non_csv_recipe_is_refused() {
    let csv = tmp("unused.csv");
    std::fs::write(&csv, "a,b,label\n1,2,x\n3,4,y\n").unwrap();
    let c = csv.to_str().unwrap();
    let (code, out, err) = minnow(&["run", "--preset", "spiral-mlp", "--csv", c, "--quiet"]);
    assert_ne!(code, 0, "ran: {out}");
    assert!(
        err.contains(&format!("--csv {c}: the recipe's dataset.name is \"spiral\", not \"csv\"")),
        "{err}"
    );
    let model = tmp("csv-flag.safetensors");
    let m = model.to_str().unwrap();
    save_spiral(m, "1");
    let (code, _, err) = minnow(&["eval", m, "--csv", c]);
    assert_ne!(code, 0);
    assert!(err.contains("dataset.name is \"spiral\""), "{err}");
}

/// A CSV with classic Mac line endings (bare CR) trains like the same file with LF endings.
#[test]
fn a_bare_cr_csv_trains_as_its_lf_twin() {
    let recipe = tmp("csv-recipe.json");
    std::fs::write(
        &recipe,
        r#"{"version": 1, "dataset": {"name": "csv", "classes": 3}, "seed": 4, "backend": "cpu",
        "model": {"kind": "mlp", "hidden": [8]},
        "training": {"epochs": 2, "batch_size": 8, "optimizer": {"kind": "adam", "lr": 0.01}}}"#,
    )
    .unwrap();
    let rows: Vec<String> = std::iter::once("x,y,kind".to_string())
        .chain((0..60).map(|i| format!("{},{},{}", i % 7, (i * 3) % 11, ["a", "b", "c"][i % 3])))
        .collect();
    let report = |ending: &str, name: &str| {
        let csv = tmp(name);
        std::fs::write(&csv, rows.join(ending) + ending).unwrap();
        let (code, out, err) =
            minnow(&["run", recipe.to_str().unwrap(), "--csv", csv.to_str().unwrap(), "--quiet"]);
        assert_eq!(code, 0, "{ending:?}: {err}");
        let r: serde_json::Value = serde_json::from_str(&out).unwrap();
        (
            r["final"].clone(),
            r["epochs"].as_array().unwrap().iter().map(|e| e["train_loss"].clone()).collect::<Vec<_>>(),
        )
    };
    let lf = report("\n", "lf.csv");
    assert_eq!(report("\r", "cr.csv"), lf);
    assert_eq!(report("\r\n", "crlf.csv"), lf);
    let total: u64 = lf.0["confusion"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, 12, "60 rows, 20 % of them test");
}
