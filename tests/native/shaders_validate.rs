//! Parses and validates every `shaders/*.wgsl` kernel family with naga, with `common.wgsl` prepended
//! exactly as `backend::gpu` composes them at run time. Needs no GPU: a shader that does not compile
//! fails here with naga's annotated message rather than as a device error in the browser.

use std::path::Path;

/// The prelude every family is compiled with (see `backend::gpu::Family::source`).
const COMMON: &str = "common.wgsl";

fn shader_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders"))
}

/// `common.wgsl` + newline + the family, as the runtime builds it.
fn compose(common: &str, family: &str) -> String {
    format!("{common}\n{family}")
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
        let src = if name == COMMON { common.clone() } else { compose(&common, &text) };
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
