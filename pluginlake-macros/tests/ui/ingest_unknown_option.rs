use pluginlake_macros::asset;

#[asset(ingest(attempts = 3))]
fn lab_results() -> i64 {
    1
}

fn main() {}
