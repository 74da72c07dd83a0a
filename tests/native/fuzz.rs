//! The native fuzz driver over tests/fuzz/targets.rs: each target runs its inputs in a worker
//! thread under a watchdog (an input running past [`HANG_SECS`] is a hang, reported with its
//! input), with every panic caught and reported with its input. The short run is `make test-fuzz`
//! (`--ignored`: `make test-native` leaves it out); `MINNOW_FUZZ_CASES` sets the inputs per target
//! (`make fuzz-long`: 100,000) and `MINNOW_FUZZ_SEED` the seed. The input in flight is written to
//! `<target tmp>/fuzz/<target>.current` first, so an abort (which no thread survives) leaves it
//! behind. Also here: the corpus listing check and a regression test per finding.

#[path = "../fuzz/targets.rs"]
mod targets;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use targets::*;

/// Seconds one input may run before the watchdog calls it a hang.
const HANG_SECS: u64 = 60;
/// Inputs per target in the short run.
const SMOKE_CASES: usize = 2000;
/// Inputs of the recipe target in the short run (its valid inputs build data and models and run).
const RECIPE_SMOKE_CASES: usize = 300;

fn cases(default: usize) -> usize {
    std::env::var("MINNOW_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn seed() -> u64 {
    std::env::var("MINNOW_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(1)
}

fn dump_dir() -> std::path::PathBuf {
    let d = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz");
    std::fs::create_dir_all(&d).expect("fuzz dump directory");
    d
}

/// The input in flight: its index and when it started (None between inputs, or when done).
type InFlight = Arc<Mutex<(Option<(usize, Instant)>, bool)>>;

/// Runs `n` inputs of a target in a worker thread: `setup` builds the per-run state there, `input`
/// makes input `i` (as bytes, for the dump) and `case` checks it. Panics are findings; an input
/// past [`HANG_SECS`] fails the test at once with its input's file. Returns the tally.
fn drive<S: 'static>(
    target: &'static str,
    n: usize,
    setup: impl FnOnce() -> S + Send + 'static,
    input: impl Fn(usize, &mut S, &mut Gen) -> Vec<u8> + Send + 'static,
    case: impl Fn(&[u8], &mut S) -> CaseResult + Send + 'static,
) -> Tally {
    let flight: InFlight = Arc::new(Mutex::new((None, false)));
    let current = dump_dir().join(format!("{target}.current"));
    let worker = {
        let flight = flight.clone();
        let current = current.clone();
        std::thread::spawn(move || {
            let mut state = setup();
            let mut g = Gen::new(seed() ^ target.len() as u64);
            let mut tally = Tally::default();
            for i in 0..n {
                let bytes = input(i, &mut state, &mut g);
                std::fs::write(&current, &bytes).expect("write the input in flight");
                flight.lock().unwrap().0 = Some((i, Instant::now()));
                let r = catch_unwind(AssertUnwindSafe(|| case(&bytes, &mut state)));
                flight.lock().unwrap().0 = None;
                let r = r.map_err(|p| {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    let keep = dump_dir().join(format!("{target}.panic.{i}"));
                    std::fs::write(&keep, &bytes).ok();
                    format!("panic: {msg} (input in {})", keep.display())
                });
                let r = r.and_then(|r| r);
                tally.record(i, r);
            }
            flight.lock().unwrap().1 = true;
            tally
        })
    };
    let started = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let (busy, done) = *flight.lock().unwrap();
        if done || worker.is_finished() {
            break;
        }
        if let Some((i, t)) = busy {
            if t.elapsed() > Duration::from_secs(HANG_SECS) {
                let keep = dump_dir().join(format!("{target}.hang.{i}"));
                std::fs::copy(&current, &keep).ok();
                panic!(
                    "fuzz {target}: input {i} ran past {HANG_SECS} s (a hang); its input is in {}",
                    keep.display()
                );
            }
        }
    }
    let tally = worker.join().expect("the fuzz worker thread");
    println!("{} in {:.1} s (seed {})", tally.summary(target), started.elapsed().as_secs_f64(), seed());
    tally
}

fn assert_clean(target: &str, t: &Tally) {
    assert!(
        t.findings.is_empty(),
        "fuzz {target}: {} findings:\n{}",
        t.findings.len(),
        t.findings.iter().map(|(i, f)| format!("  input {i}: {f}")).collect::<Vec<_>>().join("\n")
    );
}

#[test]
#[ignore = "the fuzz run: make test-fuzz"]
fn fuzz_recipe() {
    let t = drive(
        "recipe",
        cases(RECIPE_SMOKE_CASES),
        recipe_seeds,
        |i, seeds, g| recipe_input(i, seeds, g).into_bytes(),
        |b, _| pollster::block_on(recipe_case(&String::from_utf8_lossy(b))),
    );
    assert_clean("recipe", &t);
    assert!(t.ran > 0 && t.accepted + t.ran > t.inputs / 20, "too few valid recipes: {t:?}");
}

#[test]
#[ignore = "the fuzz run: make test-fuzz"]
fn fuzz_csv() {
    let t = drive(
        "csv",
        cases(SMOKE_CASES),
        Vec::<CsvInput>::new,
        |i, last, g| {
            let input = csv_input(i, g);
            let bytes = input.text.clone().into_bytes();
            *last = vec![input];
            bytes
        },
        |_, last| csv_case(&last[0]),
    );
    assert_clean("csv", &t);
    assert!(t.accepted > t.inputs / 20, "too few valid CSV files: {t:?}");
}

#[test]
#[ignore = "the fuzz run: make test-fuzz"]
fn fuzz_model_file() {
    let t = drive(
        "model",
        cases(SMOKE_CASES),
        || (pollster::block_on(model_bases()), recipe_seeds()),
        |i, (bases, seeds), g| model_input(i, bases, seeds, g),
        |b, _| pollster::block_on(model_case(b)),
    );
    assert_clean("model", &t);
    assert!(t.ran > 0, "no model file was opened and run: {t:?}");
}

/// Every file under tests/fuzz/corpus/<target>/ is in its target's list (the lists are what the
/// wasm32 build embeds), and every listed seed is checked.
#[test]
fn fuzz_corpus_is_listed() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus");
    let listed: [(&str, Vec<&str>); 3] = [
        ("recipe", RECIPE_CORPUS.iter().map(|c| c.0).collect()),
        ("csv", CSV_CORPUS.iter().map(|c| c.0).collect()),
        ("model", MODEL_CORPUS.iter().map(|c| c.0).collect()),
    ];
    for (dir, names) in listed {
        let mut on_disk: Vec<String> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        names.sort();
        assert_eq!(on_disk, names, "tests/fuzz/corpus/{dir} and its list in tests/fuzz/targets.rs");
    }
}

/// The seed corpus alone (what the wasm32 build and every `make test-native` run check).
#[test]
fn fuzz_corpus_seeds_pass() {
    for (name, text) in RECIPE_CORPUS {
        let r = pollster::block_on(recipe_case(text));
        assert!(r.is_ok(), "recipe seed {name}: {r:?}");
    }
    let mut g = Gen::new(0);
    for (i, (name, _)) in CSV_CORPUS.iter().enumerate() {
        let input = csv_input(i, &mut g);
        let r = csv_case(&input);
        assert!(r.is_ok(), "csv seed {name}: {r:?}");
    }
    for (name, bytes) in MODEL_CORPUS {
        let r = pollster::block_on(model_case(bytes));
        assert!(r.is_ok(), "model seed {name}: {r:?}");
    }
}

/// Writes tests/fuzz/corpus/model/ from real files: a trained spiral MLP and a quantized blobs
/// MLP (MODEL_BASE_RECIPES 0 and 2), each with one thing wrong. Run by hand after a format change:
/// `MINNOW_FUZZ_WRITE_CORPUS=1 cargo test --release --test native fuzz::write_model_corpus -- --ignored`.
#[test]
#[ignore = "writes the model-file seed corpus"]
fn write_model_corpus() {
    if std::env::var("MINNOW_FUZZ_WRITE_CORPUS").is_err() {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus/model");
    let bases = pollster::block_on(model_bases());
    let (float, quant) = (&bases[0], &bases[2]);
    let write = |name: &str, b: &[u8]| std::fs::write(dir.join(name), b).unwrap();
    write("valid-spiral.safetensors", float);
    write("truncated.safetensors", &float[..float.len() / 2]);
    let poison = |file: &[u8], tensor: &str, v: f32| {
        let (h, data) = split_safetensors(file).unwrap();
        let o = h[tensor]["data_offsets"][0].as_u64().unwrap() as usize;
        let mut data = data.to_vec();
        data[o..o + 4].copy_from_slice(&v.to_le_bytes());
        join_safetensors(&h, &data)
    };
    write("nan-weight.safetensors", &poison(float, "0.weight", f32::NAN));
    write("inf-bias.safetensors", &poison(float, "0.bias", f32::INFINITY));
    let edit = |file: &[u8], key: &str, f: &dyn Fn(&mut serde_json::Value)| {
        let (mut h, data) = split_safetensors(file).unwrap();
        let meta = &mut h["__metadata__"][key];
        let mut v: serde_json::Value = serde_json::from_str(meta.as_str().unwrap()).unwrap();
        f(&mut v);
        *meta = serde_json::Value::String(v.to_string());
        join_safetensors(&h, data)
    };
    write(
        "edited-test-fraction.safetensors",
        &edit(float, "recipe", &|v| v["dataset"]["test_fraction"] = serde_json::json!(0.25)),
    );
    write(
        "quant-scale-subnormal.safetensors",
        &edit(quant, "quantization", &|v| v[0]["weight"]["scale"][0] = serde_json::json!(1e-45)),
    );
    write(
        "quant-bits-8-range-0-1.safetensors",
        &edit(quant, "quantization", &|v| {
            v[0]["bits"] = serde_json::json!(8);
            v[0]["weight"]["qmin"] = serde_json::json!(0);
            v[0]["weight"]["qmax"] = serde_json::json!(1);
        }),
    );
    write("quant-empty-list.safetensors", &edit(quant, "quantization", &|v| *v = serde_json::json!([])));
}
