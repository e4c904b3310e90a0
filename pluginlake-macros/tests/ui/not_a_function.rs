use pluginlake_macros::asset;

#[asset]
struct Person {
    id: i64,
}

fn main() {
    let _ = Person { id: 1 }.id;
}
