use pluginlake_macros::asset;

#[asset(ingest, mode = "replace")]
fn lab_results() -> i64 {
    1
}

fn main() {}
