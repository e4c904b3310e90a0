use pluginlake_macros::asset;

#[asset]
fn person() {}

fn main() {}
