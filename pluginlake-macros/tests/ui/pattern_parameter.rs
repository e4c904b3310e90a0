use pluginlake_macros::asset;

#[asset]
fn person((a, b): (i64, i64)) -> i64 {
    a + b
}

fn main() {}
