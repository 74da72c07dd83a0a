//! The `minnow` command line: runs recipes headless (same Recipe, Session and presets as the page)
//! and prints a table while it trains plus a JSON report. Exit status 1 on any bad input, with the
//! message on stderr.

use minnow::compress::quant::{LayerQuantReport, QuantBytes};
use minnow::io::model_file;
use minnow::recipe::{self, BackendChoice, DatasetName, PRESETS, Recipe};
use minnow::run::report::{EpochMetrics, ModelSummary, QuantPoint, StageDetails, StageReport};
use minnow::run::session::Session;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

const USAGE: &str = "\
minnow: train small networks and compress them

usage:
  minnow run RECIPE.json [options]     run a recipe file
  minnow run --preset NAME [options]   run a shipped preset
  minnow presets                       list the presets
  minnow validate RECIPE.json          check a recipe and print it normalized
  minnow show PRESET                   print a preset's recipe JSON
  minnow eval MODEL.safetensors        evaluate a saved model on its recipe's data (test split)

run options:
  --backend cpu|gpu|auto   override the recipe's backend
  --epochs N               override training.epochs
  --seed N                 override the seed
  --csv FILE               the data file for a recipe with dataset.name = \"csv\"
  --out FILE               write the JSON report to FILE (default: print it to stdout)
  --quiet                  no table, only the report
  --save FILE              write the trained model to FILE (.safetensors, see src/export.rs)

eval options (prints {\"split\", \"samples\", \"accuracy\", \"logits_head\"} as JSON, and
\"test_accuracy\" when the split is test):
  --backend cpu|gpu|auto   override the recipe's backend
  --csv FILE               the data file for a recipe with dataset.name = \"csv\"
  --split test|train|all   the samples scored (default test; all = train then test)
  --head N                 logit rows to print (default 5; 0 = all)
  --test-split FILE        also write the test split (x, y) as .safetensors for scripts/torch_eval.py
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("minnow: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a result on stdout; a closed pipe (`| head`) is not an error worth a panic.
fn print_out(text: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

fn read_file(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))
}

fn run(args: &[String]) -> Result<(), String> {
    let Some(cmd) = args.first() else {
        print!("{USAGE}");
        return Ok(());
    };
    match cmd.as_str() {
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            Ok(())
        }
        "presets" => {
            let width = PRESETS.iter().map(|p| p.name.len()).max().unwrap_or(0);
            let mut out = std::io::stdout().lock();
            for p in PRESETS {
                let r = recipe::preset(p.name).map_err(|e| e.to_string())?;
                // A closed pipe (`minnow presets | head`) ends the listing quietly.
                if writeln!(out, "{:<width$}  {}", p.name, r.description).is_err() {
                    break;
                }
            }
            Ok(())
        }
        "show" => {
            let name = args.get(1).ok_or("show needs a preset name")?;
            let r = recipe::preset(name).map_err(|e| e.to_string())?;
            print_out(&r.to_json());
            Ok(())
        }
        "validate" => {
            let path = args.get(1).ok_or("validate needs a recipe file")?;
            let r = Recipe::from_json(&read_file(path)?).map_err(|e| format!("{path}: {e}"))?;
            print_out(&r.to_json());
            eprintln!("{path}: ok");
            Ok(())
        }
        "run" => run_recipe(&args[1..]),
        "eval" => eval_model(&args[1..]),
        other => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    }
}

/// One line summarizing a stage report: accuracy, sparsity, parameters, bytes; quantization stages
/// add one line per bit width (accuracy, packed and gzip bytes, per-layer SQNR).
fn stage_row(r: &StageReport) -> String {
    let mut row = prune_row(r);
    let line = |label: &str,
                acc: f32,
                bytes: &QuantBytes,
                layers: &[LayerQuantReport],
                p: Option<&QuantPoint>| {
        let sqnr: Vec<String> = layers.iter().map(|l| format!("{:.1}", l.sqnr_db)).collect();
        let int8 = match p.and_then(|p| p.int8_agreement.zip(p.int8_path.as_deref())) {
            Some((a, path)) => format!("; int8 inference ({path}) agrees on {:.2}%", 100.0 * a),
            None => String::new(),
        };
        format!(
            "\n    {label:<10} test acc {:>6.2}%, {} bytes quantized ({} gzip, {} f32), SQNR dB [{}]{int8}",
            100.0 * acc as f64,
            bytes.quantized,
            bytes.gzip,
            bytes.f32,
            sqnr.join(", ")
        )
    };
    match &r.outcome {
        StageDetails::Quantize(d) => {
            for p in &d.points {
                row += &line(&format!("{} bits", p.bits), p.test_accuracy, &p.bytes, &p.layers, Some(p));
            }
        }
        StageDetails::Qat(d) => {
            let p = &d.ptq;
            row += &line("PTQ", p.test_accuracy, &p.bytes, &p.layers, Some(p));
            row += &line("QAT", d.qat_accuracy, &d.quant_bytes, &d.layers, None);
        }
        _ => {}
    }
    row
}

/// The pruning summary of a stage report.
fn prune_row(r: &StageReport) -> String {
    let s = &r.stats;
    let layers: Vec<String> =
        s.layers.iter().map(|l| format!("{} {:.1}%", l.name, 100.0 * l.sparsity)).collect();
    format!(
        "  stage {} {:<11} test acc {:>6.2}% ({:+.2}), weight sparsity {:.1}% [{}], {} params ({} nonzero), \
         bytes {} dense / {} bitmask / {} CSR / {} sparse{} ({:.1}x)",
        r.index + 1,
        r.outcome.kind(),
        100.0 * r.test_accuracy as f64,
        100.0 * r.accuracy_change as f64,
        100.0 * s.weight_sparsity,
        layers.join(", "),
        s.params,
        s.nonzero_params,
        s.bytes.dense,
        s.bytes.bitmask,
        s.bytes.csr,
        s.bytes.sparse,
        s.bytes.quantized.map(|q| format!(" / {q} quantized")).unwrap_or_default(),
        r.compression_ratio,
    )
}

/// Extra lines for distill (teacher / distilled / alone and the margin) and sweep (the points, `*`
/// on the accuracy-vs-bytes Pareto front).
fn stage_extra(r: &StageReport) -> Vec<String> {
    match &r.outcome {
        StageDetails::Distill(d) => {
            let who = |k: &str, m: &ModelSummary| {
                format!("{k} {:.2}% ({} params)", 100.0 * m.test_accuracy as f64, m.params)
            };
            let n = d.test_samples;
            vec![format!(
                "    {}, {}, {}: distillation margin {:+.2} points ({:+} of {n} test samples) (T = {:.3}, α = {:.3})",
                who("teacher", &d.teacher),
                who("distilled", &d.distilled),
                who("alone", &d.alone),
                100.0 * d.margin,
                (d.margin * n as f64).round() as i64,
                d.temperature,
                d.alpha
            )]
        }
        StageDetails::Sweep(d) => {
            let mut v =
                vec![format!("    {:<40} {:>9} {:>10} {:>8}", "point", "test acc", "bytes", "seconds")];
            for p in &d.points {
                let settings: Vec<String> = p.settings.iter().map(|(k, x)| format!("{k}={x}")).collect();
                v.push(format!(
                    "  {} {:<40} {:>8.2}% {:>10} {:>8.2}",
                    if p.pareto { "*" } else { " " },
                    settings.join(", "),
                    100.0 * p.test_accuracy as f64,
                    p.bytes,
                    p.seconds
                ));
            }
            v.push("    (* = Pareto front; the model was restored to the sweep's starting point)".into());
            v
        }
        _ => Vec::new(),
    }
}

fn run_recipe(args: &[String]) -> Result<(), String> {
    let mut recipe: Option<Recipe> = None;
    let (mut out, mut csv_path, mut quiet, mut save) = (None, None, false, None);
    let (mut backend, mut epochs, mut seed) = (None, None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--preset" => recipe = Some(recipe::preset(&value("--preset")?).map_err(|e| e.to_string())?),
            "--backend" => {
                backend = Some(match value("--backend")?.as_str() {
                    "cpu" => BackendChoice::Cpu,
                    "gpu" => BackendChoice::Gpu,
                    "auto" => BackendChoice::Auto,
                    b => return Err(format!("--backend {b}: must be cpu, gpu or auto")),
                })
            }
            "--epochs" => {
                let v = value("--epochs")?;
                epochs = Some(v.parse::<u32>().map_err(|_| format!("--epochs {v}: not a whole number"))?)
            }
            "--seed" => {
                let v = value("--seed")?;
                seed = Some(v.parse::<u64>().map_err(|_| format!("--seed {v}: not a whole number"))?)
            }
            "--out" => out = Some(value("--out")?),
            "--csv" => csv_path = Some(value("--csv")?),
            "--save" => save = Some(value("--save")?),
            "--quiet" => quiet = true,
            s if s.starts_with("--") => return Err(format!("unknown option {s}\n\n{USAGE}")),
            path => {
                if recipe.is_some() {
                    return Err(format!("unexpected argument {path}: give one recipe file or --preset"));
                }
                recipe = Some(Recipe::from_json(&read_file(path)?).map_err(|e| format!("{path}: {e}"))?)
            }
        }
    }
    let mut recipe = recipe.ok_or("run needs a recipe file or --preset NAME")?;
    if let Some(b) = backend {
        recipe.backend = b;
    }
    if let Some(e) = epochs {
        recipe.training.epochs = e;
    }
    if let Some(s) = seed {
        recipe.seed = s;
    }
    recipe.validate().map_err(|e| e.to_string())?;
    check_csv_flag(csv_path.as_deref(), &recipe)?;
    let csv = csv_path.as_deref().map(read_file).transpose()?;
    let mut session = pollster::block_on(Session::new(recipe, csv.as_deref())).map_err(|e| e.to_string())?;
    let tty = std::io::stderr().is_terminal() && !quiet;
    if !quiet {
        eprintln!(
            "{} on {} ({} params){}",
            if session.recipe().name.is_empty() { "recipe" } else { &session.recipe().name },
            session.backend(),
            session.param_count(),
            if session.backend_note().is_empty() {
                String::new()
            } else {
                format!(" — {}", session.backend_note())
            }
        );
        eprintln!(
            "{:>5}  {:>10}  {:>9}  {:>9}  {:>9}  {:>7}",
            "epoch", "train loss", "train acc", "test acc", "lr", "seconds"
        );
    }
    let print_row = |m: &EpochMetrics| {
        if tty {
            eprint!("\r\x1b[2K");
        }
        eprintln!(
            "{:>5}  {:>10.4}  {:>8.2}%  {:>8.2}%  {:>9.2e}  {:>7.2}",
            m.epoch,
            m.train_loss,
            100.0 * m.train_accuracy,
            100.0 * m.test_accuracy,
            m.lr,
            m.seconds
        );
    };
    let mut announced = None;
    while !session.done() {
        let info = pollster::block_on(session.step(8)).map_err(|e| e.to_string())?;
        if let Some(st) = info.stage.as_ref().filter(|st| announced != Some(st.index) && !quiet) {
            if tty {
                eprint!("\r\x1b[2K");
            }
            let stage = &session.recipe().compression[st.index];
            eprintln!(
                "stage {}/{}: {}",
                st.index + 1,
                st.count,
                serde_json::to_string(stage).unwrap_or_default()
            );
            announced = Some(st.index);
        }
        if let Some(m) = info.epoch_end.as_ref().filter(|_| !quiet) {
            print_row(m);
        }
        if let Some(r) = info.stage_end.as_ref().filter(|_| !quiet) {
            if tty {
                eprint!("\r\x1b[2K");
            }
            eprintln!("{}", stage_row(r));
            for line in stage_extra(r) {
                eprintln!("{line}");
            }
        } else if info.epoch_end.is_none() && tty {
            let frac = info.batch as f64 / info.batches_per_epoch as f64;
            let filled = (frac * 30.0) as usize;
            let stage = info.stage.as_ref().map(|s| format!("  {} {}", s.kind, s.detail)).unwrap_or_default();
            eprint!(
                "\r\x1b[2K{:>5}  [{}{}] {:>3.0}%{stage}",
                info.epoch + 1,
                "#".repeat(filled.min(30)),
                "-".repeat(30 - filled.min(30)),
                frac * 100.0
            );
            let _ = std::io::stderr().flush();
        }
    }
    let report = pollster::block_on(session.report()).map_err(|e| e.to_string())?;
    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    if !quiet {
        eprintln!(
            "final test accuracy {:.2}%, {} params, {} bytes",
            100.0 * report.final_metrics.test_accuracy,
            report.model.params,
            report.model.bytes
        );
    }
    match out {
        Some(path) => std::fs::write(&path, json + "\n").map_err(|e| format!("cannot write {path}: {e}"))?,
        None => print_out(&json),
    }
    if let Some(path) = save {
        let bytes = pollster::block_on(model_file::save_session(&session)).map_err(|e| e.to_string())?;
        std::fs::write(&path, bytes).map_err(|e| format!("cannot write {path}: {e}"))?;
        if !quiet {
            eprintln!("saved the model to {path}");
        }
    }
    Ok(())
}

fn parse_backend(b: &str) -> Result<BackendChoice, String> {
    match b {
        "cpu" => Ok(BackendChoice::Cpu),
        "gpu" => Ok(BackendChoice::Gpu),
        "auto" => Ok(BackendChoice::Auto),
        b => Err(format!("--backend {b}: must be cpu, gpu or auto")),
    }
}

/// `--csv` is for a recipe whose `dataset.name` is csv; anywhere else it would be silently ignored.
fn check_csv_flag(csv_path: Option<&str>, recipe: &Recipe) -> Result<(), String> {
    match csv_path {
        Some(path) if recipe.dataset.name != DatasetName::Csv => Err(format!(
            "--csv {path}: the recipe's dataset.name is \"{}\", not \"csv\"; remove --csv or set \
             dataset.name to \"csv\"",
            recipe.dataset.name
        )),
        _ => Ok(()),
    }
}

/// Which samples `minnow eval` scores.
#[derive(Clone, Copy, PartialEq)]
enum Split {
    Test,
    Train,
    All,
}

impl Split {
    fn parse(s: &str) -> Result<Split, String> {
        match s {
            "test" => Ok(Split::Test),
            "train" => Ok(Split::Train),
            "all" => Ok(Split::All),
            s => Err(format!("--split {s}: must be test, train or all")),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Split::Test => "test",
            Split::Train => "train",
            Split::All => "all",
        }
    }
}

/// The model's logits for the training split (`[n_train, classes]`, row-major; evaluation mode,
/// with its fake quantization as for the test split).
fn train_logits(session: &Session) -> Result<Vec<f32>, String> {
    let t = session.trainer();
    let logits = t.logits(t.train_inputs()).map_err(|e| e.to_string())?;
    pollster::block_on(logits.to_vec()).map_err(|e| e.to_string())
}

/// Rows of `logits` (`classes` wide) whose argmax equals the label (the first maximum, as argmax).
fn correct(logits: &[f32], labels: &[u32], classes: usize) -> usize {
    let argmax = |row: &[f32]| {
        row.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0
    };
    logits.chunks(classes.max(1)).zip(labels).filter(|(row, y)| argmax(row) == **y as usize).count()
}

/// `minnow eval MODEL.safetensors`: the saved model on its recipe's test split (or `--split train |
/// all`), as JSON.
fn eval_model(args: &[String]) -> Result<(), String> {
    let (mut model_path, mut backend, mut csv_path, mut head, mut split) = (None, None, None, 5usize, None);
    let mut which = Split::Test;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--backend" => backend = Some(parse_backend(&value("--backend")?)?),
            "--csv" => csv_path = Some(value("--csv")?),
            "--head" => {
                let v = value("--head")?;
                head = v.parse().map_err(|_| format!("--head {v}: not a whole number"))?
            }
            "--test-split" => split = Some(value("--test-split")?),
            "--split" => which = Split::parse(&value("--split")?)?,
            s if s.starts_with("--") => return Err(format!("unknown option {s}\n\n{USAGE}")),
            path if model_path.is_none() => model_path = Some(path.to_string()),
            path => return Err(format!("unexpected argument {path}: give one model file")),
        }
    }
    let path = model_path.ok_or("eval needs a model file (.safetensors)")?;
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let csv = csv_path.as_deref().map(read_file).transpose()?;
    let session = pollster::block_on(model_file::open(&bytes, csv.as_deref(), backend))
        .map_err(|e| format!("{path}: {e}"))?;
    check_csv_flag(csv_path.as_deref(), session.recipe())?;
    if let Some(out) = split {
        let bytes = model_file::save_test_split(session.dataset()).map_err(|e| e.to_string())?;
        std::fs::write(&out, bytes).map_err(|e| format!("cannot write {out}: {e}"))?;
    }
    let data = session.dataset();
    let classes = data.classes;
    let (accuracy, samples, logits) = match which {
        Split::Test => {
            let acc = pollster::block_on(session.test_accuracy()).map_err(|e| e.to_string())?;
            let logits = pollster::block_on(session.test_logits()).map_err(|e| e.to_string())?;
            (acc, data.n_test(), logits)
        }
        Split::Train | Split::All => {
            let mut logits = train_logits(&session)?;
            let mut hits = correct(&logits, &data.train_y, classes);
            let mut n = data.n_train();
            if which == Split::All {
                let test = pollster::block_on(session.test_logits()).map_err(|e| e.to_string())?;
                hits += correct(&test, &data.test_y, classes);
                n += data.n_test();
                logits.extend(test);
            }
            (hits as f32 / n.max(1) as f32, n, logits)
        }
    };
    eprintln!(
        "{path}: scored the {} split ({samples} samples): accuracy {:.2}%",
        which.name(),
        100.0 * accuracy
    );
    let rows = if head == 0 { usize::MAX } else { head };
    let logits_head: Vec<&[f32]> = logits.chunks(classes.max(1)).take(rows).collect();
    let mut json = serde_json::json!({
        "split": which.name(),
        "samples": samples,
        "accuracy": accuracy,
        "logits_head": logits_head,
    });
    if which == Split::Test {
        json["test_accuracy"] = serde_json::json!(accuracy);
    }
    print_out(&json.to_string());
    Ok(())
}
