//! Parses and validates every `shaders/*.wgsl` kernel family with naga, with `common.wgsl` prepended
//! exactly as `backend::gpu` composes them at run time. Needs no GPU: a shader that does not compile
//! fails here with naga's annotated message rather than as a device error in the browser. Also
//! validates the modules exactly as the runtime builds them (`backend::gpu::wgsl_modules`): the
//! portable `int8` (common + int8.wgsl) and `int8_dot4` (int8_dot4.wgsl, which opens with
//! `requires packed_4x8_integer_dot_product;`, + common + int8.wgsl). Modules are whole files
//! concatenated: nothing is cut out of a file at run time.

use std::path::Path;

/// The prelude every family is compiled with (see `backend::gpu::Family::source`).
const COMMON: &str = "common.wgsl";

fn shader_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders"))
}

/// The module of shader file `name` as the runtime builds it: `common.wgsl` + newline + the family;
/// int8_dot4.wgsl is not a family but the front of the `int8_dot4` module (its `requires` directive
/// must precede every declaration), so it goes first and brings int8.wgsl, whose declarations it uses.
fn compose(common: &str, name: &str, text: &str) -> String {
    if name == "int8_dot4.wgsl" {
        let int8 = std::fs::read_to_string(shader_dir().join("int8.wgsl")).expect("shaders/int8.wgsl");
        format!("{text}\n{common}\n{int8}")
    } else {
        format!("{common}\n{text}")
    }
}

/// Parses and validates one source; returns naga's annotated error on failure and the entry points.
fn validate(name: &str, src: &str) -> Result<Vec<String>, String> {
    let module = naga::front::wgsl::parse_str(src).map_err(|e| e.emit_to_string_with_path(src, name))?;
    let mut validator =
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::empty());
    validator.validate(&module).map_err(|e| e.emit_to_string_with_path(src, name))?;
    Ok(module.entry_points.iter().map(|e| e.name.clone()).collect())
}

#[test]
fn every_shader_family_parses_and_validates() {
    let common = std::fs::read_to_string(shader_dir().join(COMMON)).expect("shaders/common.wgsl");
    let mut files: Vec<_> = std::fs::read_dir(shader_dir())
        .expect("shaders/ directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "wgsl"))
        .collect();
    files.sort();
    let mut failures = Vec::new();
    let mut families = 0;
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).expect("readable shader");
        let src = if name == COMMON { common.clone() } else { compose(&common, &name, &text) };
        match validate(&name, &src) {
            Ok(entries) => {
                if name != COMMON {
                    families += 1;
                    if entries.is_empty() {
                        failures.push(format!("{name}: no entry points"));
                    }
                }
            }
            Err(e) => failures.push(e),
        }
    }
    assert!(families >= 7, "expected the 7 kernel families in shaders/, found {families}");
    assert!(failures.is_empty(), "{} shader(s) failed:\n{}", failures.len(), failures.join("\n"));
}

/// The prelude may not declare entry points or bindings: every family would inherit them.
#[test]
fn common_prelude_declares_no_bindings_or_entry_points() {
    let common = std::fs::read_to_string(shader_dir().join(COMMON)).expect("shaders/common.wgsl");
    for forbidden in ["@binding", "@compute", "var<storage", "var<uniform"] {
        assert!(!common.contains(forbidden), "common.wgsl contains `{forbidden}`");
    }
}

/// The modules the device compiles, from the runtime's own composition: each validates, the
/// portable int8 module never names `dot4I8Packed`, the packed one opens with its directive.
#[cfg(feature = "gpu")]
#[test]
fn runtime_modules_validate_including_both_int8_builds() {
    let modules = minnow::core::backend::gpu::wgsl_modules();
    let mut failures = Vec::new();
    let mut entries = std::collections::HashMap::new();
    for (name, src) in &modules {
        match validate(name, src) {
            Ok(e) => {
                entries.insert(*name, e);
            }
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{} module(s) failed:\n{}", failures.len(), failures.join("\n"));
    let src = |name: &str| &modules.iter().find(|(n, _)| *n == name).expect("module").1;
    // Code lines only: the comments may name the extension.
    let code = |name: &str| -> Vec<String> {
        src(name)
            .lines()
            .map(|l| l.split("//").next().unwrap_or("").to_string())
            .filter(|l| !l.trim().is_empty())
            .collect()
    };
    assert!(
        code("int8").iter().all(|l| !l.contains("dot4I8Packed") && !l.trim_start().starts_with("requires")),
        "the portable int8 module must neither use dot4I8Packed nor require extensions"
    );
    assert!(code("int8_dot4").iter().any(|l| l.contains("dot4I8Packed")));
    assert_eq!(
        code("int8_dot4").first().map(|l| l.trim()),
        Some("requires packed_4x8_integer_dot_product;"),
        "the int8_dot4 module must open with its directive"
    );
    let has = |m: &str, e: &str| entries[m].iter().any(|x| x == e);
    assert!(has("int8", "gemm_i8") && has("int8", "quantize_i8") && !has("int8", "gemm_i8_dot4"));
    assert!(has("int8_dot4", "gemm_i8_dot4") && has("int8_dot4", "gemm_i8"));
    // Every shader file is part of a runtime module, whole (no marker cutting), and every module
    // the runtime builds is checked here.
    for entry in std::fs::read_dir(shader_dir()).expect("shaders/ directory") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|x| x == "wgsl") {
            let text = std::fs::read_to_string(&path).expect("readable shader");
            assert!(
                modules.iter().any(|(_, src)| src.contains(&text)),
                "{} is not included whole in any runtime module",
                path.display()
            );
        }
    }
    for name in
        ["elementwise", "reduce", "matmul", "conv", "layout", "random", "optim", "quant", "int8", "int8_dot4"]
    {
        assert!(entries.contains_key(name), "runtime module {name} missing");
    }
}
