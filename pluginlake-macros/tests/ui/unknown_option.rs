use pluginlake_macros::asset;

#[asset(key_prefix = "omop", colour = "red")]
fn person() -> i64 {
    1
}

fn main() {}
