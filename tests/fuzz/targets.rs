//! The fuzz targets, shared by the native driver (tests/native/fuzz.rs: watchdog thread, panics
//! caught per input) and the wasm32 one (tests/browser/fuzz.rs: the same bodies in headless
//! Chromium, where `usize` has 32 bits). Each target has an input generator (the committed seed
//! corpus first, then structure-aware mutations of the presets, the corpus and real model files,
//! from a seeded generator) and a case body that checks what must hold for any input: an error
//! with a short message naming what is wrong, or a result that is consistent, reads back, and runs
//! a bounded few steps without stalling.

use minnow::Device;
use minnow::data::{Dataset, csv::parse_csv};
use minnow::io::model_file::{self, ModelFile};
use minnow::recipe::{BackendChoice, DatasetName, DatasetSpec, ModelSpec, PRESETS, Recipe, Stage};
use minnow::run::session::Session;
use minnow::run::trainer::Trainer;
use serde_json::{Value, json};

/// Longest error message a target accepts (messages must not echo their input back).
pub const MAX_MESSAGE: usize = 1200;
/// Step calls of a run before the recipe target stops it (a bounded run, not a full one).
pub const MAX_CALLS: usize = 12;
/// Batches per step call.
pub const BATCHES: usize = 4;
/// Consecutive step calls without progress that count as a hang.
pub const STALL_CALLS: usize = 4;
/// Estimated multiply-adds a run may cost before the recipe target only plan-checks it.
pub const RUN_BUDGET: f64 = 2.0e8;
/// Largest activation (floats per batch) the recipe target runs.
pub const RUN_ACTIVATIONS: f64 = 4.0e6;

/// What a case ended in (for the counts in the summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Refused with a message (parse, validation, plan or data error).
    Rejected,
    /// Accepted, checked, not run (over the run budget).
    Accepted,
    /// Accepted and run a bounded few steps (or to its end).
    Ran,
}

/// A case's outcome: `Err` is a finding (a broken invariant or a stalled run), with what was seen.
pub type CaseResult = Result<Verdict, String>;

/// Counts of one target's run.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub inputs: usize,
    pub rejected: usize,
    pub accepted: usize,
    pub ran: usize,
    /// Findings: (input index, what failed).
    pub findings: Vec<(usize, String)>,
}

impl Tally {
    pub fn record(&mut self, i: usize, r: CaseResult) {
        self.inputs += 1;
        match r {
            Ok(Verdict::Rejected) => self.rejected += 1,
            Ok(Verdict::Accepted) => self.accepted += 1,
            Ok(Verdict::Ran) => self.ran += 1,
            Err(e) => self.findings.push((i, e)),
        }
    }

    pub fn summary(&self, target: &str) -> String {
        format!(
            "fuzz {target}: {} inputs, {} rejected with a message, {} accepted, {} run, {} findings",
            self.inputs,
            self.rejected,
            self.accepted,
            self.ran,
            self.findings.len()
        )
    }
}

// ---------------------------------------------------------------------------------------------
// The seeded generator
// ---------------------------------------------------------------------------------------------

/// SplitMix64: a small seeded generator, the same sequence natively and in wasm32.
pub struct Gen(u64);

impl Gen {
    pub fn new(seed: u64) -> Gen {
        Gen(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

// ---------------------------------------------------------------------------------------------
// The seed corpus (committed under tests/fuzz/corpus/<target>/, embedded for wasm32)
// ---------------------------------------------------------------------------------------------

/// Recipe seeds: (file name, JSON text).
pub const RECIPE_CORPUS: &[(&str, &str)] = &[
    ("gradual-frequency-2p63.json", include_str!("corpus/recipe/gradual-frequency-2p63.json")),
    ("gradual-start-step-u64-max.json", include_str!("corpus/recipe/gradual-start-step-u64-max.json")),
    ("cnn-4096-channels.json", include_str!("corpus/recipe/cnn-4096-channels.json")),
    ("mnist-mlp-lr-10.json", include_str!("corpus/recipe/mnist-mlp-lr-10.json")),
    ("cosine-eta-min-1e39.json", include_str!("corpus/recipe/cosine-eta-min-1e39.json")),
    ("one-cycle-div-factor-1e39.json", include_str!("corpus/recipe/one-cycle-div-factor-1e39.json")),
    ("magnitude-amount-past-layer.json", include_str!("corpus/recipe/magnitude-amount-past-layer.json")),
    ("per-channel-quant-then-remove.json", include_str!("corpus/recipe/per-channel-quant-then-remove.json")),
    ("nested-5000.json", include_str!("corpus/recipe/nested-5000.json")),
    ("seed-above-2p53.json", include_str!("corpus/recipe/seed-above-2p53.json")),
    ("tiny-everything.json", include_str!("corpus/recipe/tiny-everything.json")),
    ("csv-dataset.json", include_str!("corpus/recipe/csv-dataset.json")),
];

/// CSV seeds: (file name, text).
pub const CSV_CORPUS: &[(&str, &str)] = &[
    ("bare-cr.csv", include_str!("corpus/csv/bare-cr.csv")),
    ("crlf-header.csv", include_str!("corpus/csv/crlf-header.csv")),
    ("quoted-labels.csv", include_str!("corpus/csv/quoted-labels.csv")),
    ("semicolon-bom.csv", include_str!("corpus/csv/semicolon-bom.csv")),
    ("non-finite-cells.csv", include_str!("corpus/csv/non-finite-cells.csv")),
    ("ragged.csv", include_str!("corpus/csv/ragged.csv")),
    ("one-class.csv", include_str!("corpus/csv/one-class.csv")),
    ("unterminated-quote.csv", include_str!("corpus/csv/unterminated-quote.csv")),
];

/// Model-file seeds: (file name, bytes). `nan-weight` holds a NaN in `0.weight`; the others are
/// real files with one thing wrong in their metadata or tensors.
pub const MODEL_CORPUS: &[(&str, &[u8])] = &[
    ("nan-weight.safetensors", include_bytes!("corpus/model/nan-weight.safetensors")),
    ("inf-bias.safetensors", include_bytes!("corpus/model/inf-bias.safetensors")),
    ("quant-scale-subnormal.safetensors", include_bytes!("corpus/model/quant-scale-subnormal.safetensors")),
    ("quant-bits-8-range-0-1.safetensors", include_bytes!("corpus/model/quant-bits-8-range-0-1.safetensors")),
    ("quant-empty-list.safetensors", include_bytes!("corpus/model/quant-empty-list.safetensors")),
    ("edited-test-fraction.safetensors", include_bytes!("corpus/model/edited-test-fraction.safetensors")),
    ("truncated.safetensors", include_bytes!("corpus/model/truncated.safetensors")),
    ("valid-spiral.safetensors", include_bytes!("corpus/model/valid-spiral.safetensors")),
];

/// The small CSV a recipe with `dataset.name = "csv"` runs on.
pub const RECIPE_CSV: &str = include_str!("corpus/csv/crlf-header.csv");

// ---------------------------------------------------------------------------------------------
// Structure-aware JSON mutation
// ---------------------------------------------------------------------------------------------

/// Raw number or token texts written into the JSON in place of a placeholder string (values a
/// `serde_json::Value` cannot hold: 1e999, 2^64, -0).
const RAW: &[&str] = &[
    "1e999",
    "-1e999",
    "18446744073709551616",
    "-9223372036854775809",
    "-0",
    "1.0000000000000002",
    "4294967296",
    "1e-400",
    "0.30000000000000004",
];
const RAW_MARK: &str = "\u{1}raw:";

/// Boundary numbers: 0, ±1, the widths and limits of the schema, 2^31, 2^32, 2^53, 2^63,
/// u64::MAX, f32's overflow, subnormals.
fn boundary_number(g: &mut Gen) -> Value {
    match g.below(24) {
        0 => json!(0),
        1 => json!(-1),
        2 => json!(1),
        3 => json!(2),
        4 => json!(1u64 << 31),
        5 => json!(1u64 << 32),
        6 => json!(1u64 << 53),
        7 => json!(1u64 << 63),
        8 => json!(u64::MAX),
        9 => json!(1e39),
        10 => json!(-1e39),
        11 => json!(1e-45),
        12 => json!(0.5),
        13 => json!(4096),
        14 => json!(4097),
        15 => json!(1000),
        16 => json!(1001),
        17 => json!(0.99),
        18 => json!(1.0),
        19 => json!(3.4e38),
        20 => json!(i64::MIN),
        21 => json!(100_000),
        22 => json!(g.below(64)),
        _ => Value::String(format!("{RAW_MARK}{}", g.pick(RAW))),
    }
}

/// A value of some other JSON type, or a NaN-ish or oversized string.
fn odd_value(g: &mut Gen) -> Value {
    match g.below(12) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!([]),
        3 => json!({}),
        4 => json!(""),
        5 => json!("NaN"),
        6 => json!("Infinity"),
        7 => json!("-inf"),
        8 => json!("1e39"),
        9 => Value::String("x".repeat(1 << g.below(17))),
        10 => json!("\u{0}\u{feff}é😀"),
        _ => boundary_number(g),
    }
}

/// Every path (list of keys / indices) into `v`, depth-first, the root included.
fn paths(v: &Value, prefix: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    out.push(prefix.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                prefix.push(PathStep::Key(k.clone()));
                paths(c, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                prefix.push(PathStep::Index(i));
                paths(c, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn at<'a>(v: &'a mut Value, path: &[PathStep]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, s| match s {
        PathStep::Key(k) => v.get_mut(k.as_str()),
        PathStep::Index(i) => v.get_mut(*i),
    })
}

/// Names a mutation may put in a `kind` field or use as an unknown key.
const NAMES: &[&str] = &[
    "finetune",
    "magnitude",
    "structured",
    "n_m",
    "gradual",
    "iterative",
    "lottery",
    "sensitivity",
    "distill",
    "sweep",
    "quantize",
    "qat",
    "mlp",
    "cnn",
    "sgd",
    "adam",
    "adamw",
    "cosine",
    "one_cycle",
    "step",
    "exponential",
    "csv",
    "mnist",
    "digits",
    "spiral",
    "__proto__",
    "epochs",
    "lr",
];

/// One structure-aware mutation of `v`, with `donors` (other seeds) to splice subtrees from.
pub fn mutate_json(v: &mut Value, donors: &[Value], g: &mut Gen) {
    let mut all = Vec::new();
    paths(v, &mut Vec::new(), &mut all);
    let path = g.pick(&all).clone();
    let Some(node) = at(v, &path) else { return };
    match g.below(12) {
        0..=2 => *node = boundary_number(g),
        3 => *node = odd_value(g),
        4 => match node {
            Value::Object(m) if !m.is_empty() => {
                let k = m.keys().nth(g.below(m.len())).cloned().unwrap_or_default();
                m.remove(&k);
            }
            Value::Array(a) if !a.is_empty() => {
                a.remove(g.below(a.len()));
            }
            _ => *node = Value::Null,
        },
        5 => match node {
            Value::Object(m) => {
                let k = g.pick(NAMES).to_string();
                m.insert(k, odd_value(g));
            }
            Value::Array(a) if !a.is_empty() => {
                let c = a[g.below(a.len())].clone();
                let most = if g.chance(0.1) { 40 } else { 3 };
                let n = 1 + g.below(most);
                for _ in 0..n {
                    a.push(c.clone());
                }
            }
            _ => *node = odd_value(g),
        },
        6 => {
            let donor = g.pick(donors);
            let mut dp = Vec::new();
            paths(donor, &mut Vec::new(), &mut dp);
            let from = g.pick(&dp).clone();
            let mut donor = donor.clone();
            if let Some(sub) = at(&mut donor, &from) {
                *node = sub.clone();
            }
        }
        7 => {
            // Nested as text when rendered (see `render`): a 5,000-deep `Value` is built, printed
            // and dropped recursively, which overflows wasm32's stack in the generator itself.
            let depth = *g.pick(&[8usize, 100, 129, 1000, 5000]);
            let inner = serde_json::to_string(node).unwrap_or_else(|_| "null".into());
            *node = Value::String(format!("{DEEP}{depth}:{inner}"));
        }
        8 => match node {
            Value::Object(m) if m.contains_key("kind") => {
                m.insert("kind".into(), json!(g.pick(NAMES)));
            }
            _ => *node = json!(g.pick(NAMES)),
        },
        9 => match node {
            Value::Number(n) => {
                let f = n.as_f64().unwrap_or(0.0);
                *node = match g.below(5) {
                    0 => json!(-f),
                    1 => json!(f * 2.0),
                    2 => json!(f + 1.0),
                    3 => json!(n.as_u64().map_or(json!(0), |u| json!(u.wrapping_sub(1)))),
                    _ => json!(f / 1e6),
                };
            }
            _ => *node = boundary_number(g),
        },
        10 => match node {
            Value::Array(a) => {
                for x in a.iter_mut() {
                    if x.is_number() {
                        *x = boundary_number(g);
                    }
                }
                if g.chance(0.2) {
                    a.clear();
                }
            }
            _ => *node = json!([boundary_number(g), boundary_number(g)]),
        },
        _ => {
            if let Value::Object(m) = node {
                for (_, x) in m.iter_mut() {
                    if x.is_number() && g.chance(0.5) {
                        *x = boundary_number(g);
                    }
                }
            } else {
                *node = boundary_number(g);
            }
        }
    }
}

/// `v` as JSON text, with raw placeholders replaced by their raw text.
pub fn render(v: &Value, pretty: bool) -> String {
    let text = if pretty { serde_json::to_string_pretty(v) } else { serde_json::to_string(v) }
        .unwrap_or_else(|_| "null".into());
    let mut out = expand_deep(text);
    if !out.contains("\\u0001raw:") {
        return out;
    }
    for raw in RAW {
        out = out.replace(&format!("\"\\u0001raw:{raw}\""), raw);
    }
    out
}

/// Marks a string that `render` replaces by nesting: `"\u{2}deep:<depth>:<inner JSON>"` becomes
/// the inner JSON wrapped `depth` times, alternately in `[…]` and `{"kind": …}`.
const DEEP: &str = "\u{2}deep:";

/// `text` with every [`DEEP`] string literal expanded into its nesting.
fn expand_deep(text: String) -> String {
    const QUOTED: &str = "\"\\u0002deep:";
    let mut out = text;
    while let Some(start) = out.find(QUOTED) {
        // The literal as JSON: read one string from `start`, where it ends, and what it says.
        let mut it = serde_json::Deserializer::from_str(&out[start..]).into_iter::<String>();
        let Some(Ok(marker)) = it.next() else { break };
        let end = start + it.byte_offset();
        let rest = marker.strip_prefix(DEEP).unwrap_or_default();
        let (depth, inner) = rest.split_once(':').unwrap_or(("0", "null"));
        let depth: usize = depth.parse().unwrap_or(0);
        let mut nested = String::with_capacity(inner.len() + depth * 10);
        for d in (0..depth).rev() {
            nested.push_str(if d % 2 == 0 { "[" } else { "{\"kind\":" });
        }
        nested.push_str(inner);
        for d in 0..depth {
            nested.push(if d % 2 == 0 { ']' } else { '}' });
        }
        out.replace_range(start..end, &nested);
    }
    out
}

/// One text-level mutation: truncation, a byte range duplicated or dropped, a character changed.
fn mutate_text(text: &str, g: &mut Gen) -> String {
    let b = text.as_bytes();
    if b.is_empty() {
        return "{".into();
    }
    let i = g.below(b.len());
    let j = (i + 1 + g.below(64)).min(b.len());
    let mut out = Vec::with_capacity(b.len() + 64);
    match g.below(5) {
        0 => out.extend_from_slice(&b[..i]),
        1 => {
            out.extend_from_slice(&b[..j]);
            out.extend_from_slice(&b[i..]);
        }
        2 => {
            out.extend_from_slice(&b[..i]);
            out.extend_from_slice(&b[j..]);
        }
        3 => {
            out.extend_from_slice(b);
            out[i] = *g.pick(b"{}[],:\"\\0-e.9 \n\r\x00\xff");
        }
        _ => {
            out.extend_from_slice("\u{feff}".as_bytes());
            out.extend_from_slice(b);
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Cuts a recipe down so that it runs, and reaches its stages, in a few step calls: one epoch
/// everywhere, small generated sets and training limits. Mutations then apply on top of it.
pub fn shrink(v: &mut Value) {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    match (k.as_str(), x.as_u64()) {
                        ("epochs", Some(_)) => *x = json!(1),
                        ("samples", Some(n)) if n > 120 => *x = json!(120),
                        ("calibration_batches", Some(n)) if n > 2 => *x = json!(2),
                        ("cycles", Some(n)) if n > 2 => *x = json!(2),
                        ("t_max", Some(n)) if n > 1 => *x = json!(1),
                        ("frequency", Some(n)) if n > 2 => *x = json!(2),
                        ("prunings", Some(n)) if n > 2 => *x = json!(2),
                        _ => walk(x),
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(v);
    if let Some(d) = v.get_mut("dataset").and_then(Value::as_object_mut) {
        if matches!(d.get("name").and_then(Value::as_str), Some("digits" | "mnist")) {
            d.insert("train_limit".into(), json!(96));
        }
    }
    if let Some(t) = v.get_mut("training").and_then(Value::as_object_mut) {
        t.insert("batch_size".into(), json!(32));
    }
}

/// Every preset and recipe seed, parsed (the donors and bases of mutation).
pub fn recipe_seeds() -> Vec<Value> {
    PRESETS
        .iter()
        .map(|p| p.json)
        .chain(RECIPE_CORPUS.iter().map(|c| c.1))
        .filter_map(|t| serde_json::from_str(t).ok())
        .collect()
}

/// Input `i` of the recipe target: the corpus first, then mutated presets and seeds.
pub fn recipe_input(i: usize, seeds: &[Value], g: &mut Gen) -> String {
    if let Some((_, text)) = RECIPE_CORPUS.get(i) {
        return text.to_string();
    }
    let mut v = g.pick(seeds).clone();
    if g.chance(0.6) {
        shrink(&mut v);
    }
    let n = match g.below(10) {
        0 => 0,
        1..=5 => 1,
        6..=8 => 2,
        _ => 3 + g.below(4),
    };
    for _ in 0..n {
        mutate_json(&mut v, seeds, g);
    }
    let text = render(&v, g.chance(0.5));
    if g.chance(0.07) { mutate_text(&text, g) } else { text }
}

// ---------------------------------------------------------------------------------------------
// Invariants shared by the targets
// ---------------------------------------------------------------------------------------------

/// An error message is non-empty, short, and not a panic's.
pub fn check_message(what: &str, msg: &str) -> Result<(), String> {
    if msg.trim().is_empty() {
        return Err(format!("{what}: an empty error message"));
    }
    if msg.len() > MAX_MESSAGE {
        let head: String = msg.chars().take(200).collect();
        return Err(format!("{what}: a {}-byte error message (input echoed?): {head}…", msg.len()));
    }
    Ok(())
}

/// Samples in the test split of a recipe's dataset (an estimate for the run budget).
fn test_samples(r: &Recipe) -> f64 {
    let d = &r.dataset;
    match d.name {
        DatasetName::Mnist => 2000.0,
        DatasetName::Digits => 1797.0 * d.test_fraction as f64,
        DatasetName::Csv => 40.0,
        _ => d.samples as f64 * d.test_fraction as f64,
    }
}

/// Per-sample multiply-adds and activation floats of a model spec on `input` ([c, h, w] or [n]),
/// `classes` outputs.
fn model_cost(spec: &ModelSpec, input: &[usize], classes: usize) -> (f64, f64) {
    let dense = |mut width: f64, hidden: &[usize]| {
        let (mut macs, mut acts) = (0.0, 0.0);
        for &h in hidden {
            macs += width * h as f64;
            acts += h as f64;
            width = h as f64;
        }
        (macs + width * classes as f64, acts + classes as f64)
    };
    match spec {
        ModelSpec::Mlp { hidden, .. } => dense(input.iter().product::<usize>() as f64, hidden),
        ModelSpec::Cnn { conv, hidden, .. } => {
            let (mut c, mut h, mut w) = match *input {
                [c, h, w] => (c as f64, h as f64, w as f64),
                _ => return (f64::INFINITY, f64::INFINITY),
            };
            let (mut macs, mut acts) = (0.0, 0.0);
            for b in conv {
                let k = b.kernel as f64;
                let p = b.padding as f64;
                let s = b.stride.max(1) as f64;
                h = ((h + 2.0 * p - k) / s).floor() + 1.0;
                w = ((w + 2.0 * p - k) / s).floor() + 1.0;
                let out = b.channels as f64;
                macs += out * c * k * k * h * w;
                acts += 4.0 * out * h * w + c * k * k * h * w;
                c = out;
                h = (h / b.pool.max(1) as f64).floor();
                w = (w / b.pool.max(1) as f64).floor();
            }
            let (m, a) = dense(c * h * w, hidden);
            (macs + m, acts + a)
        }
    }
}

/// The input shape and classes a recipe's dataset gives.
fn data_shape(r: &Recipe) -> (Vec<usize>, usize) {
    match r.dataset.name {
        DatasetName::Mnist => (vec![1, 28, 28], 10),
        DatasetName::Digits => (vec![1, 8, 8], 10),
        DatasetName::Csv => (vec![3], 3),
        _ => (vec![2], r.dataset.classes),
    }
}

/// Whether a bounded run of `r` is cheap enough for a fuzz case (the teacher and every student).
pub fn affordable(r: &Recipe) -> bool {
    let (input, classes) = data_shape(r);
    let mut specs = vec![&r.model];
    for s in &r.compression {
        if let Stage::Distill(d) = s {
            specs.push(&d.student);
        }
    }
    let batch = r.training.batch_size as f64;
    let steps = (MAX_CALLS * BATCHES) as f64;
    let samples = match r.dataset.name {
        DatasetName::Mnist => 10_000.0,
        DatasetName::Digits => 1797.0,
        DatasetName::Csv => 40.0,
        _ => r.dataset.samples as f64,
    };
    specs.iter().all(|m| {
        let (macs, acts) = model_cost(m, &input, classes);
        let work = macs * (3.0 * steps * batch + 4.0 * test_samples(r)) + samples * 10.0;
        work <= RUN_BUDGET
            && acts * batch <= RUN_ACTIVATIONS
            && acts * test_samples(r) <= 8.0 * RUN_ACTIVATIONS
    })
}

/// Runs `s` a bounded few step calls; a stall (no step, stage or detail change over
/// [`STALL_CALLS`] calls) is a finding. A finished run's report must hold finite metrics.
pub async fn bounded_run(s: &mut Session, what: &str) -> CaseResult {
    let mut last: Option<(u64, Option<usize>, String)> = None;
    let mut same = 0;
    for _ in 0..MAX_CALLS {
        let info = match s.step(BATCHES).await {
            Ok(i) => i,
            Err(e) => {
                check_message(what, &e.to_string())?;
                return Ok(Verdict::Rejected);
            }
        };
        if info.done || s.done() {
            let report = s.report().await.map_err(|e| format!("{what}: report of a finished run: {e}"))?;
            let acc = report.final_metrics.test_accuracy;
            if !(0.0..=1.0).contains(&acc) {
                return Err(format!("{what}: final test accuracy {acc}"));
            }
            return Ok(Verdict::Ran);
        }
        let key = (
            s.trainer().steps(),
            info.stage.as_ref().map(|p| p.index),
            info.stage.as_ref().map(|p| p.detail.clone()).unwrap_or_default(),
        );
        if info.stage_end.is_none() && last.as_ref() == Some(&key) {
            same += 1;
            if same >= STALL_CALLS {
                return Err(format!("{what}: hang: {same} step calls made no progress at {key:?}"));
            }
        } else {
            same = 0;
        }
        last = Some(key);
    }
    Ok(Verdict::Ran)
}

// ---------------------------------------------------------------------------------------------
// Target: recipe (JSON text → parse → validate → plan check → bounded run)
// ---------------------------------------------------------------------------------------------

/// One recipe input: refused with a short message, or valid, reading back equal from its JSON,
/// plan-checked against its built model, and (when affordable) run a bounded few steps on the CPU.
pub async fn recipe_case(text: &str) -> CaseResult {
    let recipe = match Recipe::from_json(text) {
        Ok(r) => r,
        Err(e) => {
            check_message("recipe", &e.to_string())?;
            return Ok(Verdict::Rejected);
        }
    };
    let back = Recipe::from_json(&recipe.to_json())
        .map_err(|e| format!("a valid recipe's to_json does not read back: {e}"))?;
    if back != recipe {
        return Err("a valid recipe's to_json reads back different".into());
    }
    let mut r = recipe;
    r.backend = BackendChoice::Cpu;
    let csv = (r.dataset.name == DatasetName::Csv).then_some(RECIPE_CSV);
    let run = affordable(&r);
    let t = match Trainer::with_device(r, csv, Device::Cpu, String::new()) {
        Ok(t) => t,
        Err(e) => {
            check_message("recipe plan", &e.to_string())?;
            return Ok(Verdict::Rejected);
        }
    };
    if !run {
        return Ok(Verdict::Accepted);
    }
    bounded_run(&mut Session::from_trainer(t), "recipe run").await
}

// ---------------------------------------------------------------------------------------------
// Target: CSV (src/data/csv.rs)
// ---------------------------------------------------------------------------------------------

/// A CSV input and the dataset spec it is parsed with.
pub struct CsvInput {
    pub text: String,
    pub spec: DatasetSpec,
    pub seed: u64,
}

fn csv_cell(g: &mut Gen) -> String {
    match g.below(30) {
        0 => "1e39".into(),
        1 => "NaN".into(),
        2 => "inf".into(),
        3 => String::new(),
        4 => "-0".into(),
        5 => "1e-45".into(),
        6 => "0x10".into(),
        7 => "\"1,5\"".into(),
        8 => "\"a\"\"b\"".into(),
        9 => " 3 ".into(),
        10 => "18446744073709551616".into(),
        11 => "é".into(),
        12 => "\"unterminated".into(),
        13 => "x".repeat(1 << g.below(18)),
        _ => format!("{:.3}", (g.next_u64() % 20_000) as f64 / 1000.0 - 10.0),
    }
}

/// Input `i` of the CSV target: the corpus first, then generated tables with odd cells, line
/// endings, delimiters, quotes, sizes and label columns, some mutated at the byte level.
pub fn csv_input(i: usize, g: &mut Gen) -> CsvInput {
    let spec = csv_spec(g);
    let text = if let Some((_, text)) = CSV_CORPUS.get(i) {
        text.to_string()
    } else if g.chance(0.2) {
        let (_, base) = g.pick(CSV_CORPUS);
        let mut t = base.to_string();
        for _ in 0..1 + g.below(3) {
            t = mutate_text(&t, g);
        }
        t
    } else {
        let delim = *g.pick(&[",", ";", "\t", ", "]);
        let eol = *g.pick(&["\n", "\r\n", "\r", "\n\n"]);
        let cols = match g.below(20) {
            0 => 1025,
            1 => 0,
            _ => 1 + g.below(5),
        };
        let rows = match g.below(20) {
            0 => 0,
            1 => 1,
            2 => 600,
            _ => 2 + g.below(30),
        };
        let classes = match g.below(10) {
            0 => 1,
            1 => 300,
            _ => 2 + g.below(4),
        };
        let odd = g.chance(0.5);
        let mut t = String::new();
        if g.chance(0.1) {
            t.push('\u{feff}');
        }
        if g.chance(0.5) {
            let names: Vec<String> = (0..=cols).map(|c| format!("f{c}")).collect();
            t.push_str(&names.join(delim));
            t.push_str(eol);
        }
        for r in 0..rows {
            let mut cells: Vec<String> = (0..cols)
                .map(|_| {
                    if odd && g.chance(0.05) {
                        csv_cell(g)
                    } else {
                        format!("{:.2}", (g.next_u64() % 2000) as f64 / 100.0 - 10.0)
                    }
                })
                .collect();
            let label = r % classes;
            cells.push(if g.chance(0.5) { format!("{label}") } else { format!("class {label}") });
            if odd && g.chance(0.03) {
                cells.pop();
            }
            t.push_str(&cells.join(delim));
            t.push_str(eol);
        }
        if g.chance(0.1) { mutate_text(&t, g) } else { t }
    };
    CsvInput { text, spec, seed: g.next_u64() }
}

/// A CSV dataset spec with random, mostly valid fields (label column, classes, split, limit).
fn csv_spec(g: &mut Gen) -> DatasetSpec {
    let mut spec = DatasetSpec::new(DatasetName::Csv);
    spec.csv_label_column = match g.below(8) {
        0 => Some("0".into()),
        1 => Some("f1".into()),
        2 => Some("18446744073709551615".into()),
        3 => Some("label".into()),
        4 => Some("4294967296".into()),
        _ => None,
    };
    spec.classes = if g.chance(0.8) { 2 } else { 2 + g.below(5) };
    spec.test_fraction = *g.pick(&[0.2, 0.05, 0.5, 0.33]);
    spec.train_limit = if g.chance(0.2) { Some(1 + g.below(10)) } else { None };
    spec
}

/// The dataset is consistent: lengths match the shape, labels are below the class count, every
/// value is finite, both splits hold samples.
pub fn check_dataset(d: &Dataset) -> Result<(), String> {
    let f = d.features();
    if d.input_shape.is_empty() || f == 0 {
        return Err(format!("csv: input shape {:?}", d.input_shape));
    }
    if d.train_x.len() != d.train_y.len() * f || d.test_x.len() != d.test_y.len() * f {
        return Err(format!(
            "csv: {} train values for {} rows of {f}, {} test values for {} rows",
            d.train_x.len(),
            d.train_y.len(),
            d.test_x.len(),
            d.test_y.len()
        ));
    }
    if d.train_y.is_empty() || d.test_y.is_empty() {
        return Err(format!("csv: {} train and {} test rows", d.train_y.len(), d.test_y.len()));
    }
    if d.classes < 2 || d.class_names.len() != d.classes {
        return Err(format!("csv: {} classes, {} class names", d.classes, d.class_names.len()));
    }
    if let Some(y) = d.train_y.iter().chain(&d.test_y).find(|&&y| y as usize >= d.classes) {
        return Err(format!("csv: label {y} with {} classes", d.classes));
    }
    if let Some(x) = d.train_x.iter().chain(&d.test_x).find(|x| !x.is_finite()) {
        return Err(format!("csv: a non-finite feature {x}"));
    }
    Ok(())
}

/// One CSV input: refused with a short message naming the line, or a consistent dataset.
pub fn csv_case(input: &CsvInput) -> CaseResult {
    match parse_csv(&input.text, &input.spec, input.seed) {
        Err(e) => {
            check_message("csv", &e.to_string())?;
            Ok(Verdict::Rejected)
        }
        Ok(d) => {
            check_dataset(&d)?;
            match minnow::data::load(&input.spec, input.seed, Some(&input.text)) {
                Ok(d) => check_dataset(&d)?,
                Err(e) => check_message("csv load", &e.to_string())?,
            }
            Ok(Verdict::Accepted)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Target: model files (src/io/model_file.rs)
// ---------------------------------------------------------------------------------------------

/// Recipes of the real model files the model target mutates: a float MLP, a pruned (masked) MLP,
/// a quantized MLP and a small CNN.
pub const MODEL_BASE_RECIPES: &[&str] = &[
    r#"{"version":1,"dataset":{"name":"spiral","samples":120,"classes":3},
        "model":{"kind":"mlp","hidden":[8,8]},
        "training":{"epochs":1,"batch_size":32,"optimizer":{"kind":"adam","lr":0.01}},"seed":3}"#,
    r#"{"version":1,"dataset":{"name":"moons","samples":100},"model":{"kind":"mlp","hidden":[6]},
        "training":{"epochs":1,"batch_size":16,"optimizer":{"kind":"sgd","lr":0.1}},
        "compression":[{"kind":"magnitude","amount":0.5}],"seed":4}"#,
    r#"{"version":1,"dataset":{"name":"blobs","samples":100,"classes":4},"model":{"kind":"mlp","hidden":[8]},
        "training":{"epochs":1,"batch_size":16,"optimizer":{"kind":"adam","lr":0.01}},
        "compression":[{"kind":"quantize","bits":4,"scheme":"affine","granularity":"per_channel"}],"seed":5}"#,
    r#"{"version":1,"dataset":{"name":"digits","classes":10,"train_limit":64},
        "model":{"kind":"cnn","conv":[{"channels":2,"kernel":3,"padding":1,"pool":2}],"hidden":[8]},
        "training":{"epochs":1,"batch_size":32,"optimizer":{"kind":"adam","lr":0.01}},
        "compression":[{"kind":"quantize","bits":8,"activations":true,"calibration_batches":1}],"seed":6}"#,
];

/// Trains each of [`MODEL_BASE_RECIPES`] on the CPU and saves its model file.
pub async fn model_bases() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for text in MODEL_BASE_RECIPES {
        let mut r = Recipe::from_json(text).expect("a model base recipe");
        r.backend = BackendChoice::Cpu;
        let t = Trainer::with_device(r, None, Device::Cpu, String::new()).expect("a model base trainer");
        let mut s = Session::from_trainer(t);
        s.run(|_| {}).await.expect("a model base run");
        out.push(model_file::save_session(&s).await.expect("a model base file"));
    }
    out.extend(MODEL_CORPUS.iter().map(|(_, b)| b.to_vec()));
    out
}

/// A safetensors file split into its header JSON and its data bytes.
pub fn split_safetensors(bytes: &[u8]) -> Option<(Value, &[u8])> {
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let end = 8usize.checked_add(usize::try_from(n).ok()?)?;
    let header = serde_json::from_slice(bytes.get(8..end)?).ok()?;
    Some((header, &bytes[end..]))
}

/// A safetensors file from a header JSON and data bytes (the header padded to 8 bytes).
pub fn join_safetensors(header: &Value, data: &[u8]) -> Vec<u8> {
    let mut h = render(header, false).into_bytes();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out
}

/// The byte range of tensor `name`'s data in a split file.
fn tensor_range(header: &Value, name: &str) -> Option<(usize, usize)> {
    let o = header.get(name)?.get("data_offsets")?.as_array()?;
    Some((o.first()?.as_u64()? as usize, o.get(1)?.as_u64()? as usize))
}

/// Writes non-finite or extreme f32 values into a random F32 tensor of the file.
fn poison_tensor(header: &Value, data: &mut [u8], g: &mut Gen) {
    let names: Vec<&String> = header
        .as_object()
        .map(|m| m.iter().filter(|(_, t)| t.get("dtype") == Some(&json!("F32"))).map(|(k, _)| k).collect())
        .unwrap_or_default();
    if names.is_empty() {
        return;
    }
    let name = g.pick(&names).to_string();
    let Some((a, b)) = tensor_range(header, &name) else { return };
    if b <= a || b > data.len() || (b - a) < 4 {
        return;
    }
    let v: f32 = *g.pick(&[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e-45, 1e30, -0.0, f32::MAX]);
    for _ in 0..1 + g.below(3) {
        let i = a + 4 * g.below((b - a) / 4);
        data[i..i + 4].copy_from_slice(&v.to_le_bytes());
    }
}

/// Input `i` of the model-file target: the bases first, then random bytes, bit flips,
/// truncations, edited metadata (the JSON inside it mutated structure-aware), edited tensor
/// entries and poisoned tensors of the bases.
pub fn model_input(i: usize, bases: &[Vec<u8>], seeds: &[Value], g: &mut Gen) -> Vec<u8> {
    if let Some(b) = bases.get(i) {
        return b.clone();
    }
    let base = g.pick(bases);
    match g.below(10) {
        0 => {
            let n = *g.pick(&[0usize, 4, 8, 16, 100, 1000]);
            let mut b: Vec<u8> = (0..n).map(|_| g.next_u64() as u8).collect();
            if g.chance(0.5) && b.len() >= 8 {
                b[..8].copy_from_slice(&(g.next_u64() % 4096).to_le_bytes());
            }
            b
        }
        1 => {
            let mut b = base.clone();
            for _ in 0..1 + g.below(8) {
                let i = g.below(b.len().max(1));
                if let Some(x) = b.get_mut(i) {
                    *x ^= 1 << g.below(8);
                }
            }
            b
        }
        2 => base[..g.below(base.len().max(1))].to_vec(),
        _ => {
            let Some((mut header, data)) = split_safetensors(base) else { return base.clone() };
            let mut data = data.to_vec();
            match g.below(5) {
                0 => poison_tensor(&header, &mut data, g),
                1 => mutate_json(&mut header, seeds, g),
                2 => {
                    let names: Vec<String> =
                        header.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
                    let name = g.pick(&names).clone();
                    if let Some(t) = header.get_mut(&name) {
                        mutate_json(t, seeds, g);
                    }
                }
                _ => mutate_metadata(&mut header, seeds, g),
            }
            join_safetensors(&header, &data)
        }
    }
}

/// Edits one `__metadata__` entry: the JSON it holds mutated structure-aware, or replaced.
fn mutate_metadata(header: &mut Value, seeds: &[Value], g: &mut Gen) {
    let Some(m) = header.get_mut("__metadata__").and_then(Value::as_object_mut) else { return };
    let keys: Vec<String> = m.keys().cloned().collect();
    if keys.is_empty() {
        return;
    }
    let key = g.pick(&keys).clone();
    let Some(entry) = m.get_mut(&key) else { return };
    let text = entry.as_str().unwrap_or_default().to_string();
    let new = match serde_json::from_str::<Value>(&text) {
        Ok(mut v) if g.chance(0.85) => {
            for _ in 0..1 + g.below(2) {
                mutate_json(&mut v, seeds, g);
            }
            render(&v, false)
        }
        _ => match g.below(4) {
            0 => String::new(),
            1 => mutate_text(&text, g),
            2 => render(&boundary_number(g), false),
            _ => {
                m.remove(&key);
                return;
            }
        },
    };
    m.insert(key, Value::String(new));
}

/// One model-file input: refused with a short message, or a file that re-encodes to itself, opens
/// (when affordable) into a session on the CPU whose accuracy is a fraction, whose saved file reads
/// back, and which steps.
pub async fn model_case(bytes: &[u8]) -> CaseResult {
    let file = match ModelFile::from_bytes(bytes) {
        Ok(f) => f,
        Err(e) => {
            check_message("model file", &e.to_string())?;
            return Ok(Verdict::Rejected);
        }
    };
    match file.to_bytes().and_then(|b| ModelFile::from_bytes(&b)) {
        Ok(again) if again == file => {}
        Ok(_) => return Err("model file: re-encoding a file that loaded reads back different".into()),
        Err(e) => return Err(format!("model file: re-encoding a file that loaded fails: {e}")),
    }
    if !affordable(&file.recipe) {
        return Ok(Verdict::Accepted);
    }
    let csv = (file.recipe.dataset.name == DatasetName::Csv).then_some(RECIPE_CSV);
    let mut s = match model_file::open(bytes, csv, Some(BackendChoice::Cpu)).await {
        Ok(s) => s,
        Err(e) => {
            check_message("model open", &e.to_string())?;
            return Ok(Verdict::Rejected);
        }
    };
    match s.test_accuracy().await {
        Ok(a) if (0.0..=1.0).contains(&a) => {}
        Ok(a) => return Err(format!("model open: test accuracy {a}")),
        Err(e) => {
            check_message("model evaluate", &e.to_string())?;
            return Ok(Verdict::Rejected);
        }
    }
    let saved =
        model_file::save_session(&s).await.map_err(|e| format!("model save of an opened file: {e}"))?;
    ModelFile::from_bytes(&saved).map_err(|e| format!("model file minnow wrote does not read back: {e}"))?;
    bounded_run(&mut s, "model run").await
}
