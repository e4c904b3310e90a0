use pluginlake_macros::asset;

#[asset(key_prefix = ["omop", "2024-data"])]
fn person() -> i64 {
    1
}

fn main() {}
