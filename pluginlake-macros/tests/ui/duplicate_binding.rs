use pluginlake_macros::asset;

#[asset(ins(first = raw_persons, second = raw_persons))]
fn person(first: i64, second: i64) -> i64 {
    first + second
}

fn main() {}
