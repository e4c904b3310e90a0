use pluginlake_macros::asset_check;

#[asset_check(asset = condition_era, severity = "warn")]
fn eras_are_ordered(eras: i64) -> bool {
    eras > 0
}

fn main() {}
