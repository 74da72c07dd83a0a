//! The fuzz targets of tests/fuzz/targets.rs in wasm32 (32-bit `usize`), in headless Chromium:
//! the recipe, CSV and model-file targets with fewer inputs than natively ([`WASM_CASES`]; set
//! `MINNOW_FUZZ_WASM_CASES` when building to change it). A panic here is a trap that fails the
//! test; a stalled run is a finding of the target itself; a call that never returns runs into
//! wasm-bindgen-test's timeout.

use wasm_bindgen_test::*;

#[path = "../fuzz/targets.rs"]
mod targets;

use targets::*;

/// Inputs per target (after the seed corpus, which always runs whole).
const WASM_CASES: usize = 300;

fn cases() -> usize {
    option_env!("MINNOW_FUZZ_WASM_CASES").and_then(|v| v.parse().ok()).unwrap_or(WASM_CASES)
}

/// The digits images, which the wasm build holds only once handed over (as the worker does).
fn provide_digits() {
    minnow::data::provide_builtin("digits", include_bytes!("../../data/digits.bin.gz").to_vec())
        .expect("digits images");
}

fn assert_clean(target: &str, t: &Tally) {
    web_sys_log(&t.summary(target));
    assert!(
        t.findings.is_empty(),
        "fuzz {target} (wasm32): {} findings:\n{}",
        t.findings.len(),
        t.findings.iter().map(|(i, f)| format!("  input {i}: {f}")).collect::<Vec<_>>().join("\n")
    );
}

fn web_sys_log(line: &str) {
    wasm_bindgen_test::console_log!("{line}");
}

#[wasm_bindgen_test]
async fn fuzz_recipe_wasm32() {
    provide_digits();
    let seeds = recipe_seeds();
    let mut g = Gen::new(32);
    let mut t = Tally::default();
    for i in 0..RECIPE_CORPUS.len() + cases() {
        let text = recipe_input(i, &seeds, &mut g);
        t.record(i, recipe_case(&text).await);
    }
    assert_clean("recipe", &t);
}

#[wasm_bindgen_test]
fn fuzz_csv_wasm32() {
    let mut g = Gen::new(32);
    let mut t = Tally::default();
    for i in 0..CSV_CORPUS.len() + cases() {
        let input = csv_input(i, &mut g);
        t.record(i, csv_case(&input));
    }
    assert_clean("csv", &t);
}

#[wasm_bindgen_test]
async fn fuzz_model_file_wasm32() {
    provide_digits();
    let bases = model_bases().await;
    let seeds = recipe_seeds();
    let mut g = Gen::new(32);
    let mut t = Tally::default();
    for i in 0..bases.len() + cases() {
        let bytes = model_input(i, &bases, &seeds, &mut g);
        t.record(i, model_case(&bytes).await);
    }
    assert_clean("model", &t);
}
