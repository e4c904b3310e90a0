use pluginlake_macros::asset;

#[asset(schema = "loose")]
fn events() -> i64 {
    1
}

fn main() {}
