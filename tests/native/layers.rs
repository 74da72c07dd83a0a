//! The layer rule of ARCHITECTURE.md: every file under src/ belongs to one layer (its folder), and
//! its imports only point down: core → nn → compress → recipe → data → run → io → the bridges
//! (src/wasm.rs, src/bin/). A reference to a higher layer (`crate::run::…` from `compress/`), or to
//! a module outside the layers, fails here with the file and line, so no import cycle can form.

use std::path::{Path, PathBuf};

/// The layers, lowest first; a file may name its own layer and the ones before it.
const LAYERS: [&str; 7] = ["core", "nn", "compress", "recipe", "data", "run", "io"];
/// What the crate root re-exports (all from `core`), usable as `crate::X` everywhere.
const ROOT_ITEMS: [&str; 7] = ["Error", "Result", "bail", "Tensor", "no_grad", "Device", "Storage"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Rank of a file's layer (the bridges rank above every layer), or None for src/lib.rs.
fn layer_of(rel: &Path) -> Option<usize> {
    let first = rel.components().next()?.as_os_str().to_str()?;
    if let Some(i) = LAYERS.iter().position(|l| *l == first) {
        return Some(i);
    }
    match first {
        "wasm.rs" | "bin" => Some(LAYERS.len()),
        "lib.rs" => None,
        other => panic!("src/{other} is in no layer: put it in one of {LAYERS:?} (see ARCHITECTURE.md)"),
    }
}

/// The crate-level names a line refers to through `crate::` / `minnow::` paths, `use crate::{a, b}`
/// groups included (comments skipped).
fn referenced(line: &str, root: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or("");
    let mut names = Vec::new();
    let pat = format!("{root}::");
    let mut rest = code;
    while let Some(i) = rest.find(&pat) {
        let before = rest[..i].chars().last();
        rest = &rest[i + pat.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name = item.trim().split("::").next().unwrap_or("").trim();
                if !name.is_empty() {
                    names.push(name.to_string());
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            names.push(name);
        }
    }
    names
}

#[test]
fn imports_only_point_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    let mut checked = 0;
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let Some(rank) = layer_of(rel) else { continue };
        let root = if rel.starts_with("bin") { "minnow" } else { "crate" };
        for (n, line) in std::fs::read_to_string(f).unwrap().lines().enumerate() {
            for name in referenced(line, root) {
                checked += 1;
                let target = if ROOT_ITEMS.contains(&name.as_str()) {
                    0
                } else if let Some(i) = LAYERS.iter().position(|l| *l == name) {
                    i
                } else if name == "wasm" {
                    LAYERS.len()
                } else {
                    violations.push(format!(
                        "src/{}:{}: `{root}::{name}` is not a layer",
                        rel.display(),
                        n + 1
                    ));
                    continue;
                };
                if target > rank {
                    violations.push(format!(
                        "src/{}:{}: {} imports {} (upward): `{}`",
                        rel.display(),
                        n + 1,
                        LAYERS.get(rank).unwrap_or(&"a bridge"),
                        LAYERS.get(target).unwrap_or(&"a bridge"),
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} references found: is the scan broken?");
    assert!(violations.is_empty(), "imports that do not point down:\n{}", violations.join("\n"));
}

#[test]
fn the_scan_sees_upward_imports() {
    assert_eq!(referenced("use crate::run::trainer::Trainer;", "crate"), ["run"]);
    assert_eq!(referenced("use crate::{Error, Result, bail};", "crate"), ["Error", "Result", "bail"]);
    assert_eq!(referenced("let x = crate::compress::quant::EPS; // crate::io", "crate"), ["compress"]);
    assert_eq!(referenced("use minnow::run::Session;", "minnow"), ["run"]);
    assert!(referenced("use mycrate::run;", "crate").is_empty());
    assert_eq!(layer_of(Path::new("compress/prune.rs")), Some(2));
    assert_eq!(layer_of(Path::new("bin/minnow.rs")), Some(LAYERS.len()));
}
