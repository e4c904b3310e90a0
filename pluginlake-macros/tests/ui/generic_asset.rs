use pluginlake_macros::asset;

#[asset]
fn person<T: Default>() -> T {
    T::default()
}

fn main() {}
