use pluginlake_macros::asset;

#[asset(schema_mode = "loose")]
fn events() -> i64 {
    1
}

fn main() {}
