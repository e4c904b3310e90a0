//! # pluginlake
//!
//! Dagster's asset model on a [DuckLake](https://ducklake.select) lakehouse, in Rust.
//!
//! DuckLake is the single source of truth: every value an asset returns is persisted through a
//! [`TypeHandler`](io::TypeHandler) into a DuckLake table, one snapshot per materialization,
//! tagged with the asset key and the run id.
//!
//! ```no_run
//! use pluginlake::prelude::*;
//! use polars::prelude::*;
//!
//! # fn main() -> pluginlake::Result<()> {
//! let lake = Lake::open_default()?; // .data/: DuckDB-file catalog, Parquet under .data/lakehouse
//! let eras = df!["person_id" => [1i64, 2], "condition_concept_id" => [201826i32, 320128]].unwrap();
//! let m = lake.store_with(["omop", "condition_era"], eras, &WriteOptions::run("run-1"))?;
//! println!("{} rows in snapshot {}", m.rows, m.snapshot_id);
//! let back: DataFrame = lake.load(["omop", "condition_era"])?;
//! # Ok(()) }
//! ```
//!
//! Modules follow the data path: [`lake`] (DuckDB + DuckLake, extension provisioning, the SQL
//! builder, asset keys), [`io`] (the IO manager and its type handlers) and [`graph`] (asset
//! specifications, validated definitions, selection).
#![warn(missing_docs)]

pub mod error;
pub mod graph;
pub mod io;
pub mod lake;

pub use error::{Error, Result};
pub use io::{LoadOptions, Materialization, TableData, TableSink, TypeHandler, WriteOptions};
pub use lake::config::{Catalog, ExtensionConfig, LakeConfig};
pub use lake::key::AssetKey;
pub use lake::sql::TableRef;
pub use lake::{Lake, Snapshot};

/// The common case in one import.
pub mod prelude {
    pub use crate::io::{LoadOptions, Materialization, TypeHandler, WriteOptions};
    pub use crate::lake::config::{Catalog, LakeConfig};
    pub use crate::lake::key::AssetKey;
    pub use crate::lake::Lake;
    pub use crate::{Error, Result};
}
