use pluginlake_macros::asset_check;

#[asset_check(asset = condition_era)]
fn eras_are_ordered(eras: i64, persons: i64) -> bool {
    eras > persons
}

fn main() {}
