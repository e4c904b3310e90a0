use pluginlake_macros::asset;

#[asset(partitions(values = ["north", "south"]))]
fn sales() -> i64 {
    1
}

fn main() {}
