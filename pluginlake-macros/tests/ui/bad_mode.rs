use pluginlake_macros::asset;

#[asset(mode = "upsert")]
fn person() -> i64 {
    1
}

fn main() {}
