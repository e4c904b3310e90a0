use pluginlake_macros::asset;

struct Pipeline;

impl Pipeline {
    #[asset]
    fn person(&self) -> i64 {
        1
    }
}

fn main() {
    let _ = Pipeline.person();
}
