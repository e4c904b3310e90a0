use pluginlake_macros::asset;

#[asset(ins(raw = raw_persons))]
fn person(persons: i64) -> i64 {
    persons
}

fn main() {}
