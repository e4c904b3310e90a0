use pluginlake_macros::asset;

#[asset(mode = "append", merge_on = ["person_id"])]
fn person() -> i64 {
    1
}

fn main() {}
