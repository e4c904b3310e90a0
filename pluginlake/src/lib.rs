//! # pluginlake
//!
//! Dagster's asset model on a [DuckLake](https://ducklake.select) lakehouse, in Rust.
//!
//! DuckLake is the single source of truth: every value an asset returns is persisted through a
//! [`TypeHandler`] into a DuckLake table, one snapshot per materialization,
//! tagged with the asset key and the run id.
//!
//! ```no_run
//! use pluginlake::prelude::*;
//! use polars::prelude::*;
//!
//! # fn main() -> pluginlake::Result<()> {
//! let lake = Lake::open_default()?; // .data/: DuckDB-file catalog, Parquet under .data/lakehouse
//! let eras = df!["person_id" => [1i64, 2], "condition_concept_id" => [201826i32, 320128]].unwrap();
//! let options = WriteOptions::default().with_run_id(RunId::new());
//! let m = lake.store_with(["omop", "condition_era"], eras, &options)?;
//! println!("{} rows in snapshot {}", m.rows, m.snapshot_id);
//! let back: DataFrame = lake.load(["omop", "condition_era"])?;
//! # Ok(()) }
//! ```
//!
//! Assets are plain typed functions; the compiler checks the graph they form, and
//! [`materialize`] runs it:
//!
//! ```no_run
//! use pluginlake::prelude::*;
//! use polars::prelude::*;
//!
//! #[asset(key_prefix = "omop", group = "omop")]
//! fn person() -> DataFrame {
//!     df!["person_id" => [1i64, 2], "year_of_birth" => [1950i32, 1987]].unwrap()
//! }
//!
//! /// Persons born before 1960.
//! #[asset(key_prefix = "report")]
//! fn older_persons(person: DataFrame) -> Result<DataFrame> {
//!     Ok(person.lazy().filter(col("year_of_birth").lt(lit(1960))).collect()?)
//! }
//!
//! #[tokio::main]
//! async fn main() -> pluginlake::Result<()> {
//!     let lake = Lake::open_default()?;
//!     let run = pluginlake::materialize(&lake, "*").await?; // omop.person, then report.older_persons
//!     assert!(run.success());
//!     Ok(())
//! }
//! ```
//!
//! Modules follow the data path: [`lake`] (DuckDB + DuckLake, extension provisioning, the SQL
//! builder, asset keys), [`io`] (the IO manager and its type handlers), [`graph`] (assets,
//! checks, validated definitions, selection), [`run`] (materializing a selection) and `cli` (the
//! command line a pipeline binary calls).
//!
//! ## Cargo features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `bundled` | yes | DuckDB compiled from source with the crate (about 20 minutes once per cargo profile) |
//! | `prebuilt` | no | the official prebuilt DuckDB 1.5.5 shared library instead (`scripts/prebuilt-duckdb.sh` installs it; build with `default-features = false`) |
//! | `cli` | yes | `pluginlake::cli`, the command line a pipeline binary calls (clap, tracing-subscriber) |
//! | `xml` | yes | [`io::XmlDocuments`] and [`io::XmlRows`] (quick-xml) |
//! | `sqlite` | yes | run stores ([`run::RunStore`]) in a SQLite file: `sqlite://<path>`, the default |
//! | `postgres` | yes | run stores in PostgreSQL: `postgres://...` (several processes or machines) |
//!
//! Exactly one of `bundled` and `prebuilt` picks the DuckDB build. Without `default-features`,
//! list the parts you use: `pluginlake = { version = "0.1", default-features = false, features =
//! ["prebuilt", "sqlite"] }`. A run store URL whose backend is left out fails to open with an
//! error naming the feature.

// The macros emit `::pluginlake::...` paths; this makes them resolve inside this crate too.
extern crate self as pluginlake;

#[cfg(feature = "cli")]
pub mod cli;
pub mod error;
pub mod graph;
pub mod ingest;
pub mod io;
pub mod lake;
pub mod logs;
pub mod run;
mod serde_secs;
#[cfg(test)]
mod test_support;

/// Declares a function as an asset: its parameters are upstream assets, its return value is
/// stored into DuckLake through its [`TypeHandler`].
///
/// ```no_run
/// use pluginlake::prelude::*;
/// use polars::prelude::*;
///
/// #[asset(key_prefix = "raw")]
/// fn conditions() -> DataFrame {
///     df!["person_id" => [1i64], "concept_id" => [201826i32]].unwrap()
/// }
///
/// /// One era per person and concept.                       (the description, by default)
/// #[asset(
///     key_prefix = "omop",                                  // or ["omop", "v1"]: key omop/v1/eras
///     name = "condition_era",                               // default: the function's name
///     group = "omop",
///     code_version = "2",
///     metadata(owner = "data-team", tier = 1),
///     ins(occurrences = conditions),                        // parameter -> upstream, by Rust path
///     retry(max_attempts = 3, backoff_ms = 500),            // 500 ms, then 1 s
///     merge_on = ["person_id", "concept_id"],               // upsert; or mode = "append"
/// )]
/// async fn eras(ctx: &AssetContext, occurrences: LazyFrame) -> Result<DataFrame> {
///     tracing::info!(run = %ctx.run_id(), "computing eras");
///     Ok(occurrences.unique(None, Default::default()).collect()?)
/// }
/// # fn main() {}
/// ```
///
/// - The function stays as written (call it directly in unit tests). A struct of the same name
///   is added in the type namespace: it is how other assets name this one (`Asset` trait).
/// - Parameters are upstream assets, resolved as Rust items: by the parameter's name, or through
///   `ins(param = path::to::asset)`. The upstream's own `key_prefix` applies (`conditions` above
///   is `raw/conditions`). `deps(a, b::c)` adds upstreams whose data is not loaded (ordering only).
///   A parameter typed `AssetContext` / `&AssetContext` is the context, not an input.
/// - Return `T` or `Result<T, E>` where `T` has a TypeHandler and `E` converts into
///   `Box<dyn Error + Send + Sync>` (any error type, `anyhow::Error`, [`Error`]).
/// - Synchronous functions run on tokio's blocking pool; `async fn`s on the runtime.
/// - Registration is automatic, through the [`inventory`](https://docs.rs/inventory) crate:
///   every `#[asset]` linked into the final binary, in any module or crate, is in
///   [`Definitions::collect`](graph::Definitions::collect). It works on Linux, macOS, Windows,
///   iOS, Android and FreeBSD (static constructors), not on WebAssembly. A library crate's
///   assets are linked only when the binary uses something from that crate: if nothing else is
///   referenced, add `use that_crate as _;`, or list its assets explicitly with
///   `Definitions::new([that_crate::my_asset::definition(), ...])`.
///
/// `ingest` declares a dataset: an ingest target the HTTP server accepts payloads for (`POST
/// /ingest/<name>` in `pluginlake-server`), named after the function (or `name`). Its function
/// returns the dataset's [`Contract`](ingest::Contract) (or a `Result` of one), and each run of
/// the asset appends the payload the run was submitted with: one snapshot per payload. It is
/// in the graph like any asset (downstream assets read it as an upstream), and in
/// [`Dataset::registered`](ingest::Dataset::registered) for the server. `ingest(max_attempts =
/// 3)` sets the attempts a run gets when its worker dies; `group`, `description` (default: the
/// doc comment), `code_version` and `metadata` apply; options about how to write do not.
///
/// ```no_run
/// use pluginlake::ingest::{Column, Contract};
/// use pluginlake::prelude::*;
/// use polars::prelude::*;
///
/// /// Lab results posted by the clinic's devices.
/// #[asset(ingest, key_prefix = "lab")]
/// fn lab_results() -> Result<Contract> {
///     Contract::new([Column::integer("person_id").not_null(), Column::float("value")])
/// }
///
/// #[asset(key_prefix = "lab")]
/// fn lab_summary(lab_results: LazyFrame) -> Result<DataFrame> {
///     Ok(lab_results.group_by([col("person_id")]).agg([col("value").mean()]).collect()?)
/// }
/// # fn main() {}
/// ```
///
/// An unknown upstream is a compile error at the parameter:
///
/// ```compile_fail
/// use pluginlake::prelude::*;
/// use polars::prelude::*;
///
/// #[asset]
/// fn eras(raw_conditionz: DataFrame) -> DataFrame { raw_conditionz }
/// # fn main() {}
/// ```
///
/// So is a parameter type that cannot be loaded from the upstream's table:
///
/// ```compile_fail
/// use pluginlake::prelude::*;
/// use polars::prelude::*;
///
/// #[asset]
/// fn conditions() -> DataFrame { DataFrame::empty() }
///
/// #[asset]
/// fn eras(conditions: String) -> DataFrame { DataFrame::empty() }
/// # fn main() {}
/// ```
pub use pluginlake_macros::asset;

/// Declares a check over an asset's stored value, evaluated after the asset materializes in a
/// run (against the snapshot the run wrote).
///
/// ```no_run
/// use pluginlake::prelude::*;
/// use polars::prelude::*;
///
/// #[asset(key_prefix = "omop")]
/// fn condition_era() -> DataFrame {
///     df!["start" => [1i32, 5], "end" => [3i32, 9]].unwrap()
/// }
///
/// /// No era ends before it starts.
/// #[asset_check(asset = condition_era, blocking)]
/// fn era_ends_after_start(eras: DataFrame) -> Result<CheckResult> {
///     let bad = eras.lazy().filter(col("end").lt(col("start"))).collect()?.height();
///     Ok(CheckResult::from_bool(bad == 0, format!("{bad} eras end before they start"))
///         .with_metadata("bad_rows", bad))
/// }
/// # fn main() {}
/// ```
///
/// Options: `asset = <path>` (required), `blocking` (a failed check of severity `Error` stops
/// the asset's downstream assets), `name`, `description` (default: the doc comment). The one
/// value parameter (any name) receives the checked asset's stored value; an `AssetContext`
/// parameter is allowed. Return [`CheckResult`](graph::CheckResult), `bool`, or a `Result` of
/// either; an error or panic counts as a failed check.
pub use pluginlake_macros::asset_check;

/// What `#[asset]` and `#[asset_check]` expand to call; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::graph::expand::{
        check_result, load_input, store_output, AssetRegistration, CheckRegistration,
    };
    pub use crate::ingest::{ingest_definition, DatasetRegistration};
    pub use arrow::array::RecordBatch;
    pub use chrono::NaiveDateTime;
    pub use inventory;
    pub use pluginlake_core::window_start;

    /// `Partitions` in time windows from a start `#[asset]` has checked (a constant).
    pub fn time_window(
        column: &str,
        window: crate::io::Window,
        start: NaiveDateTime,
    ) -> crate::io::Partitions {
        crate::io::Partitions::from_window_start(column, window, start)
    }
}

pub use error::{Error, ErrorKind, Result};
pub use io::{
    LoadOptions, Materialization, TableData, TableSink, TypeHandler, WriteMode, WriteOptions,
};
pub use lake::config::{Catalog, ExtensionConfig, LakeConfig};
pub use lake::key::AssetKey;
pub use lake::TableRef;
pub use lake::{Lake, LakeConnection, Snapshot};
pub use run::{materialize, MaterializeOptions, RunResult};

/// The common case in one import.
pub mod prelude {
    pub use crate::graph::{Asset, AssetContext, Check, CheckResult, Definitions, Selection};
    pub use crate::io::{LoadOptions, Materialization, TypeHandler, WriteMode, WriteOptions};
    pub use crate::lake::config::{Catalog, LakeConfig};
    pub use crate::lake::key::AssetKey;
    pub use crate::lake::Lake;
    pub use crate::run::{materialize, MaterializeOptions, RunId, RunResult};
    pub use crate::{asset, asset_check};
    pub use crate::{Error, ErrorKind, Result};
}
