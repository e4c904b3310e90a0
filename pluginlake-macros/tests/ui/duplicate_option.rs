use pluginlake_macros::asset;

#[asset(name = "person", name = "people")]
fn person() -> i64 {
    1
}

fn main() {}
