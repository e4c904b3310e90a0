use pluginlake_macros::asset;

#[asset(key_prefix = "omop/v1")]
fn person() -> i64 {
    1
}

fn main() {}
