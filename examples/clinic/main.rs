//! Assets split across modules and crates: the vocabulary comes from the `clinic-vocabulary`
//! crate, visits are a `Vec` of structs with their own TypeHandler (module `visits`), and the
//! report joins both (module `report`). Nothing lists the assets: `#[asset]` registers them.
//!
//! ```text
//! cargo run --release --example clinic               # materialize everything
//! cargo run --release --example clinic -- assets     # or any pluginlake command
//! ```

// `--features mimalloc`: mimalloc as this binary's allocator (README: "Shipping a binary").
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod report;
mod visits;

use std::process::ExitCode;

use pluginlake::prelude::*;
use polars::prelude::*;

fn main() -> ExitCode {
    if std::env::args_os().len() > 1 {
        return pluginlake::cli::main();
    }
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let shown = runtime.block_on(async {
        let defs = Definitions::registered()?;
        let mut out = std::io::stdout();
        pluginlake::cli::run(defs, LakeConfig::load()?, ["clinic", "assets"], &mut out).await?;
        let code = pluginlake::cli::run(
            defs,
            LakeConfig::load()?,
            ["clinic", "materialize"],
            &mut out,
        )
        .await?;
        let lake = Lake::open_default()?;
        let report: DataFrame = lake.load(report::visits_per_concept::key())?;
        println!("\nreport.visits_per_concept:\n{report}");
        let stored: visits::Visits = lake.load(visits::visits::key())?;
        println!("first stored visit: {:?}", stored.0.first());
        Ok::<_, pluginlake::Error>(code)
    });
    shown.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        ExitCode::FAILURE
    })
}
