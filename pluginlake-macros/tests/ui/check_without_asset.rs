use pluginlake_macros::asset_check;

#[asset_check(blocking)]
fn eras_are_ordered(eras: i64) -> bool {
    eras > 0
}

fn main() {}
