//! With pluginlake's `prebuilt` feature: an rpath to the prebuilt DuckDB library for this
//! package's binaries, tests, examples and benches (no LD_LIBRARY_PATH needed at run time).

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_PLUGINLAKE_DUCKDB_LIB_DIR");
    if let Ok(dir) = std::env::var("DEP_PLUGINLAKE_DUCKDB_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
