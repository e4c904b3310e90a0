use pluginlake_macros::asset;

#[asset(ins(raw = raw_persons, raw = raw_patients))]
fn person(raw: i64) -> i64 {
    raw
}

fn main() {}
