use pluginlake_macros::asset;

#[asset(ingest)]
fn lab_results(raw: i64) -> i64 {
    raw
}

fn main() {}
