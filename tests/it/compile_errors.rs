//! The compiler checks the asset graph: an unknown upstream, or a parameter type that cannot be
//! loaded from what the upstream stores, is a compile error at the parameter.
//!
//! Each case is compiled by `rustc` against the `pluginlake` and `polars` this test was built
//! with (the release artifacts next to this test binary), so no second DuckDB build is needed;
//! the assertions name the message and the line and column it points at. (Macro misuse that the
//! macro itself rejects is covered by trybuild in `pluginlake-macros/tests/ui`.)

use std::path::{Path, PathBuf};
use std::process::Command;

/// `target/<profile>/deps`, where this test binary and its dependencies' rlibs are.
fn deps_dir() -> PathBuf {
    std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned()
}

/// Every `lib<name>-*.rlib` in `dir`, newest first.
fn rlibs(dir: &Path, name: &str) -> Vec<PathBuf> {
    let prefix = format!("lib{name}-");
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let f = p.file_name().unwrap().to_string_lossy();
            f.starts_with(&prefix) && f.ends_with(".rlib")
        })
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.metadata().and_then(|m| m.modified()).ok()));
    assert!(!found.is_empty(), "no {prefix}*.rlib in {}", dir.display());
    found
}

const WELL_FORMED: &str = "use pluginlake::prelude::*;
use polars::prelude::*;

#[asset]
pub fn conditions() -> DataFrame { DataFrame::empty() }

#[asset]
pub fn eras(conditions: LazyFrame) -> Result<DataFrame> { Ok(conditions.collect()?) }
";

/// The `pluginlake` and `polars` rlibs to compile against: a target directory that also served
/// other builds (e.g. `cargo build -p pluginlake`, with other features) holds several of each, so
/// take the newest pair that compiles a well-formed graph.
fn externs() -> &'static [PathBuf; 2] {
    static EXTERNS: std::sync::OnceLock<[PathBuf; 2]> = std::sync::OnceLock::new();
    EXTERNS.get_or_init(|| {
        let deps = deps_dir();
        let mut errors = String::new();
        for pluginlake in rlibs(&deps, "pluginlake") {
            for polars in rlibs(&deps, "polars") {
                let pair = [pluginlake.clone(), polars];
                let (ok, e) = rustc_with(&pair, WELL_FORMED);
                if ok {
                    return pair;
                }
                errors.push_str(&e);
            }
        }
        panic!(
            "no pluginlake/polars pair in {} compiles a well-formed graph:\n{errors}",
            deps.display()
        )
    })
}

/// Compile `source` as a library crate: whether it compiled, and rustc's diagnostics
/// (`case.rs:line:col: ...`).
fn rustc(source: &str) -> (bool, String) {
    rustc_with(externs(), source)
}

fn rustc_with([pluginlake, polars]: &[PathBuf; 2], source: &str) -> (bool, String) {
    let deps = deps_dir();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("case.rs");
    std::fs::write(&file, source).unwrap();
    let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args([
            "--edition",
            "2021",
            "--crate-type",
            "lib",
            "--crate-name",
            "case",
        ])
        .args(["--emit=metadata", "--error-format=short", "--out-dir"])
        .arg(dir.path())
        .arg("--extern")
        .arg(format!("pluginlake={}", pluginlake.display()))
        .arg("--extern")
        .arg(format!("polars={}", polars.display()))
        .arg("-L")
        .arg(format!("dependency={}", deps.display()))
        .arg(&file)
        .output()
        .expect("run rustc");
    let errors =
        String::from_utf8_lossy(&out.stderr).replace(&file.display().to_string(), "case.rs");
    (out.status.success(), errors)
}

/// Compile `source`, which must fail; returns the diagnostics.
fn compile(source: &str) -> String {
    let (ok, errors) = rustc(source);
    assert!(!ok, "compiled, but should not have:\n{source}");
    errors
}

/// Asserts an error with `message` at `line:col` (1-based, as rustc counts).
fn assert_error_at(errors: &str, line: usize, col: usize, message: &str) {
    let at = format!("case.rs:{line}:{col}: error");
    assert!(
        errors
            .lines()
            .any(|l| l.starts_with(&at) && l.contains(message)),
        "expected `{message}` at {line}:{col}, got:\n{errors}"
    );
}

const HEADER: &str = "use pluginlake::prelude::*;\nuse polars::prelude::*;\n";

#[test]
fn an_unknown_upstream_is_an_error_at_the_parameter() {
    let errors = compile(&format!(
        "{HEADER}
#[asset]
fn eras(raw_conditionz: DataFrame) -> DataFrame {{ raw_conditionz }}
"
    ));
    assert_error_at(
        &errors,
        5,
        9,
        "cannot find type `raw_conditionz` in this scope",
    );
}

#[test]
fn an_unknown_upstream_named_in_ins_is_an_error_at_the_path() {
    let errors = compile(&format!(
        "{HEADER}
#[asset(ins(raw = crate::sources::conditions))]
fn eras(raw: DataFrame) -> DataFrame {{ raw }}
"
    ));
    assert!(
        errors.contains("case.rs:4:26: error") && errors.contains("sources"),
        "{errors}"
    );
}

#[test]
fn a_parameter_type_no_handler_loads_is_an_error_at_the_parameter_type() {
    let errors = compile(&format!(
        "{HEADER}
#[asset]
fn conditions() -> DataFrame {{ DataFrame::empty() }}

#[asset]
fn eras(conditions: String) -> DataFrame {{ DataFrame::empty() }}
"
    ));
    assert_error_at(
        &errors,
        8,
        21,
        "String` cannot be loaded from an upstream asset that stores `polars::prelude::DataFrame`",
    );
}

#[test]
fn a_handler_type_that_cannot_read_the_upstreams_table_is_an_error() {
    // `Opaque` has a handler but is not `Tabular` and does not declare `LoadFrom<DataFrame>`.
    let errors = compile(&format!(
        "{HEADER}
pub struct Opaque;
impl TypeHandler for Opaque {{
    fn store(self, _: &mut pluginlake::TableSink) -> Result<()> {{ Ok(()) }}
    fn load(_: pluginlake::TableData) -> Result<Self> {{ Ok(Opaque) }}
}}

#[asset]
fn conditions() -> DataFrame {{ DataFrame::empty() }}

#[asset]
fn eras(conditions: Opaque) -> DataFrame {{ DataFrame::empty() }}
"
    ));
    assert_error_at(
        &errors,
        14,
        21,
        "an asset input of type `Opaque` cannot be loaded from an upstream asset that stores `polars::prelude::DataFrame`",
    );
}

#[test]
fn a_return_type_without_a_handler_is_an_error_at_the_return_type() {
    let errors = compile(&format!(
        "{HEADER}
#[asset]
fn eras() -> Vec<String> {{ Vec::new() }}
"
    ));
    assert_error_at(
        &errors,
        5,
        14,
        "`TypeHandler` is not implemented for `Vec<std::string::String>`",
    );
    assert!(
        errors.contains("`Vec<std::string::String>` cannot be the output of an asset"),
        "{errors}"
    );
}

#[test]
fn a_check_of_an_unknown_asset_is_an_error_at_the_asset_path() {
    let errors = compile(&format!(
        "{HEADER}
#[asset_check(asset = condition_eras)]
fn eras_are_valid(eras: DataFrame) -> bool {{ eras.height() > 0 }}
"
    ));
    assert_error_at(
        &errors,
        4,
        23,
        "cannot find type `condition_eras` in this scope",
    );
}

#[test]
fn a_well_formed_graph_compiles() {
    // The harness itself: the same setup compiles a correct graph, so the failures above are the
    // cases' own errors, not the harness's.
    let (ok, errors) = rustc(WELL_FORMED);
    assert!(ok, "{errors}");
}
