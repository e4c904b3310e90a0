//! The `prebuilt` feature: link the official DuckDB shared library that
//! `scripts/prebuilt-duckdb.sh` installed, and give this crate's tests an rpath to it.
//! Dependents' build scripts read its folder from `DEP_PLUGINLAKE_DUCKDB_LIB_DIR` (see README).

use std::env;
use std::path::PathBuf;

fn main() {
    // The run store's migrations are embedded by `sqlx::migrate!`: a new one rebuilds the crate.
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    println!("cargo:rerun-if-env-changed=PLUGINLAKE_DUCKDB_DIR");
    let prebuilt = env::var_os("CARGO_FEATURE_PREBUILT").is_some();
    if !prebuilt {
        return;
    }
    if env::var_os("CARGO_FEATURE_BUNDLED").is_some() {
        println!(
            "cargo:warning=pluginlake: both `bundled` and `prebuilt` are enabled; DuckDB is compiled \
             from source. Build with `--no-default-features --features prebuilt` for the prebuilt library."
        );
        return;
    }
    let dir = env::var_os("DUCKDB_LIB_DIR")
        .or_else(|| env::var_os("PLUGINLAKE_DUCKDB_DIR"))
        .map(PathBuf::from)
        .or_else(|| {
            env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/pluginlake/duckdb/v1.5.5"))
        })
        .expect("pluginlake (prebuilt): set DUCKDB_LIB_DIR or HOME");
    let lib = if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("macos") {
        "libduckdb.dylib"
    } else {
        "libduckdb.so"
    };
    println!("cargo:rerun-if-changed={}", dir.join(lib).display());
    if !dir.join(lib).is_file() {
        panic!(
            "pluginlake (prebuilt): no {lib} in {}. Run scripts/prebuilt-duckdb.sh (it fetches the \
             official DuckDB 1.5.5 library), or point DUCKDB_LIB_DIR at a folder holding it, or build \
             with the default `bundled` feature.",
            dir.display()
        );
    }
    let dir = dir.display();
    println!("cargo:rustc-link-search=native={dir}");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    println!("cargo:lib_dir={dir}");
}
