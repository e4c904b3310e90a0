use pluginlake_macros::asset;

#[asset(partitions(column = "day", daily = "2024-02-30"))]
fn visits() -> i64 {
    1
}

fn main() {}
