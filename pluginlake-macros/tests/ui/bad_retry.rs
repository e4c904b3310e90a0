use pluginlake_macros::asset;

#[asset(retry(max_attempts = 0))]
fn person() -> i64 {
    1
}

fn main() {}
