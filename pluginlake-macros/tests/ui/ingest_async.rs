use pluginlake_macros::asset;

#[asset(ingest)]
async fn lab_results() -> i64 {
    1
}

fn main() {}
