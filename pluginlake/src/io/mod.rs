//! The IO manager: how Rust values become DuckLake tables and come back.
//!
//! Every write goes through a [`TypeHandler`]; the handler only says what the data is (a
//! DataFrame or Arrow record batches, via [`TableSink`]), and the IO manager decides how it is
//! written: one DuckLake snapshot per materialization, tagged with the asset key and run id.
//! To store a type of your own, implement [`TypeHandler`] for it; nothing in pluginlake changes
//! (the seed's "extend, don't bypass").
//!
//! Handlers built in: polars `DataFrame` and `LazyFrame`, Arrow `RecordBatch` and
//! `Vec<RecordBatch>`, [`Rows<T>`] (any serde type, columns from the type), [`JsonDocuments`]
//! (one JSON column) and [`JsonRows`] (flattened, with type widening), [`XmlDocuments`] (text
//! with extracted fields) and [`XmlRows`] (a row per record element), [`CsvFile`] and
//! [`ParquetFile`] (read into the table), and [`ParquetFiles`] (registered without copying).
//!
//! How a write changes the table: a [`WriteMode`] (replace, append, merge), a [`SchemaMode`]
//! (evolve, freeze) and optionally [`Partitions`] with the one partition written.
//!
//! A load reads the whole result into memory; a table larger than memory is read with
//! [`Lake::scan`], a [`BatchStream`] of Arrow record batches made as they are consumed.

mod chunks;
pub mod convert;
mod dataframe;
pub(crate) mod durable;
pub(crate) mod evolve;
pub mod files;
pub(crate) mod handoff;
mod ingested;
pub mod json;
mod parquet;
pub(crate) mod partition;
mod read;
mod record_batch;
pub mod rows;
mod stream;
mod write;
#[cfg(feature = "xml")]
pub mod xml;

pub use evolve::SchemaMode;
pub use files::{CsvFile, ParquetFile, ParquetFiles};
pub use json::{JsonDocuments, JsonRows};
pub use partition::{PartitionFilter, PartitionKeys, PartitionKind, Partitions, Window};
pub use rows::Rows;
pub use stream::BatchStream;
#[cfg(feature = "xml")]
pub use xml::{XmlDocuments, XmlRows};

use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lake::key::AssetKey;
use crate::lake::run_id::RunId;
pub use crate::lake::sql::ColumnInfo;
use crate::lake::sql::TableRef;
use crate::lake::{blocking, Lake};

/// How a Rust type is stored into a DuckLake table and loaded back.
///
/// ```
/// use pluginlake::io::{TableData, TableSink, TypeHandler};
/// use pluginlake::Result;
/// use polars::prelude::*;
///
/// /// Patients, stored as a two-column table.
/// struct Patients(Vec<(i64, String)>);
///
/// impl TypeHandler for Patients {
///     fn store(self, sink: &mut TableSink) -> Result<()> {
///         let (ids, names): (Vec<i64>, Vec<String>) = self.0.into_iter().unzip();
///         sink.put_dataframe(df!["person_id" => ids, "name" => names].expect("same lengths"))
///     }
///     fn load(data: TableData) -> Result<Self> {
///         let df = data.into_dataframe()?;
///         let ids = df.column("person_id")?.i64()?;
///         let names = df.column("name")?.str()?;
///         let rows = (0..df.height()).filter_map(|i| Some((ids.get(i)?, names.get(i)?.to_owned())));
///         Ok(Patients(rows.collect()))
///     }
/// }
/// ```
pub trait TypeHandler: Sized + Send + 'static {
    /// Ask DuckDB for Arrow string views (`Utf8View`) on load, polars' native string layout.
    /// Handlers that convert to polars set this; handlers that expose Arrow keep `Utf8`.
    const STRING_VIEWS: bool = false;

    /// Hand the value's data to the IO manager.
    fn store(self, sink: &mut TableSink) -> Result<()>;

    /// Build a value from a table's data.
    fn load(data: TableData) -> Result<Self>;
}

/// Marks a handler whose table is an ordinary table of columns that every other `Tabular` handler
/// can read (DataFrame, LazyFrame, RecordBatch, `Vec<RecordBatch>`). An asset input of a
/// `Tabular` type can then be loaded from any `Tabular` upstream.
///
/// Mark your own handler `Tabular` when that holds; otherwise implement [`LoadFrom`] for the
/// upstream types it can read (at least `impl LoadFrom<MyType> for MyType {}`).
pub trait Tabular: TypeHandler {}

/// `Self` can be loaded from the table an upstream asset of type `U` stores.
///
/// `#[asset]` requires it of every input parameter, so a parameter type that cannot read the
/// upstream's table is a compile error at the parameter.
#[diagnostic::on_unimplemented(
    message = "an asset input of type `{Self}` cannot be loaded from an upstream asset that stores `{U}`",
    label = "no TypeHandler loads this from the upstream's table",
    note = "tabular types (DataFrame, LazyFrame, RecordBatch, Vec<RecordBatch>) load from each other; for your own handler implement `Tabular`, or `LoadFrom<{U}>`"
)]
pub trait LoadFrom<U> {}

impl<T: Tabular, U: Tabular> LoadFrom<U> for T {}

/// Data a handler hands over for storage.
pub(crate) enum Staged {
    /// Data in memory.
    Memory(InMemory),
    /// Files DuckDB reads and copies into the table.
    Scan(files::Scan),
    /// Parquet files registered as the table's data files, without copying unless `copy`.
    Register {
        files: Vec<std::path::PathBuf>,
        copy: bool,
    },
}

/// Data in memory, handed over for storage.
pub(crate) enum InMemory {
    Frame(DataFrame),
    Batches(SchemaRef, Vec<RecordBatch>),
}

/// Where a [`TypeHandler`] puts the data of the value being stored.
pub struct TableSink {
    table: TableRef,
    staged: Option<Staged>,
}

impl TableSink {
    pub(crate) fn new(table: TableRef) -> Self {
        TableSink {
            table,
            staged: None,
        }
    }

    /// The table being written.
    pub fn table(&self) -> &TableRef {
        &self.table
    }

    /// Store a DataFrame.
    pub fn put_dataframe(&mut self, df: DataFrame) -> Result<()> {
        self.put(Staged::Memory(InMemory::Frame(df)))
    }

    /// Store Arrow record batches of one schema.
    pub fn put_batches(&mut self, schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<()> {
        if let Some(b) = batches.iter().find(|b| b.schema() != schema) {
            return Err(Error::InvalidData {
                table: self.table.to_string(),
                reason: format!(
                    "record batches disagree on the schema: expected {schema:?}, found {:?}",
                    b.schema()
                ),
            });
        }
        self.put(Staged::Memory(InMemory::Batches(schema, batches)))
    }

    pub(crate) fn put_scan(&mut self, scan: files::Scan) -> Result<()> {
        self.put(Staged::Scan(scan))
    }

    pub(crate) fn put_registration(
        &mut self,
        files: Vec<std::path::PathBuf>,
        copy: bool,
    ) -> Result<()> {
        self.put(Staged::Register { files, copy })
    }

    fn put(&mut self, staged: Staged) -> Result<()> {
        if self.staged.is_some() {
            return Err(Error::InvalidData {
                table: self.table.to_string(),
                reason: "the type handler put data twice; a materialization writes one table slice"
                    .into(),
            });
        }
        self.staged = Some(staged);
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<Staged> {
        self.staged.ok_or_else(|| Error::InvalidData {
            table: self.table.to_string(),
            reason: "the type handler put no data".into(),
        })
    }
}

/// A table's data as read from DuckLake, handed to [`TypeHandler::load`].
pub struct TableData {
    table: TableRef,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

impl TableData {
    /// The table read.
    pub fn table(&self) -> &TableRef {
        &self.table
    }

    /// The Arrow schema of the result.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// The record batches.
    pub fn into_batches(self) -> (SchemaRef, Vec<RecordBatch>) {
        (self.schema, self.batches)
    }

    /// The data as a polars DataFrame (zero-copy through the Arrow C data interface).
    pub fn into_dataframe(self) -> Result<DataFrame> {
        convert::batches_to_dataframe(&self.schema, &self.batches)
    }
}

pub use pluginlake_core::WriteMode;

/// Options of one write.
///
/// ```
/// use pluginlake::io::{Partitions, SchemaMode, WriteMode, WriteOptions};
///
/// let options = WriteOptions::default()
///     .with_mode(WriteMode::Merge { keys: vec!["person_id".into()] })
///     .with_schema_mode(SchemaMode::Freeze)
///     .with_partitions(Partitions::values("region", ["north", "south"]))
///     .with_partition("south");
/// # let _ = options;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WriteOptions {
    /// The run that writes (recorded in the snapshot's commit info).
    pub run_id: Option<RunId>,
    /// Replace (default), append or merge.
    pub mode: WriteMode,
    /// What the write may do to the table's columns (default: evolve).
    pub schema_mode: SchemaMode,
    /// How the table is partitioned (kept across replaces).
    pub partitions: Option<Partitions>,
    /// The one partition this write replaces (appends to, merges into); the new rows must all
    /// belong to it. Needs `partitions`.
    pub partition: Option<String>,
    /// The write's idempotency key: a write whose key a snapshot already carries is not made
    /// again (it returns that snapshot), so a write retried after an unknown outcome, or redone
    /// by a recovered run, lands once. Runs set it per (run, asset, partition, n-th write of the
    /// asset); `None`: every call writes.
    pub write_key: Option<String>,
    /// Checked inside the write's transaction right before `COMMIT`: when it fails, nothing is
    /// committed. A worker fences its run's writes with its claim so that an attempt that lost
    /// the run commits nothing (not serialized).
    #[serde(skip)]
    pub fence: Option<CommitFence>,
}

/// A check a write makes right before `COMMIT`, inside its transaction; an error refuses the
/// commit (and is the write's error). Workers use it to fence a run's writes with their claim.
#[derive(Clone)]
pub struct CommitFence(std::sync::Arc<dyn Fn() -> Result<()> + Send + Sync>);

impl CommitFence {
    /// A fence that calls `check` before every commit.
    pub fn new(check: impl Fn() -> Result<()> + Send + Sync + 'static) -> Self {
        CommitFence(std::sync::Arc::new(check))
    }

    /// Run the check.
    pub(crate) fn check(&self) -> Result<()> {
        (self.0)()
    }
}

impl std::fmt::Debug for CommitFence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CommitFence")
    }
}

/// Two fences are equal when they are the same check.
impl PartialEq for CommitFence {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for CommitFence {}

impl WriteOptions {
    /// Record `run_id` as the run that writes.
    pub fn with_run_id(mut self, run_id: RunId) -> Self {
        self.run_id = Some(run_id);
        self
    }

    /// Write in `mode`.
    pub fn with_mode(mut self, mode: WriteMode) -> Self {
        self.mode = mode;
        self
    }

    /// Write under a schema mode (what the write may do to the table's columns).
    pub fn with_schema_mode(mut self, schema_mode: SchemaMode) -> Self {
        self.schema_mode = schema_mode;
        self
    }

    /// The table is partitioned so.
    pub fn with_partitions(mut self, partitions: Partitions) -> Self {
        self.partitions = Some(partitions);
        self
    }

    /// Write only the partition `key` (of the partitions given with
    /// [`with_partitions`](Self::with_partitions)).
    pub fn with_partition(mut self, key: impl Into<String>) -> Self {
        self.partition = Some(key.into());
        self
    }

    /// Make the write idempotent under `key` (see [`WriteOptions::write_key`]).
    pub fn with_write_key(mut self, key: impl Into<String>) -> Self {
        self.write_key = Some(key.into());
        self
    }

    /// Check `fence` right before the write commits.
    pub fn with_fence(mut self, fence: CommitFence) -> Self {
        self.fence = Some(fence);
        self
    }
}

/// What to read.
///
/// ```
/// use pluginlake::io::{LoadOptions, Partitions};
///
/// let days = Partitions::values("region", ["north", "south"]);
/// let options = LoadOptions::default()
///     .with_columns(["person_id", "region"])
///     .with_snapshot(3)
///     .with_filter(days.key_of("south").unwrap());
/// # let _ = options;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoadOptions {
    /// Only these columns, in this order (default: all).
    pub columns: Option<Vec<String>>,
    /// The table as of this snapshot (DuckLake time travel; default: the latest).
    pub snapshot: Option<i64>,
    /// Only the rows of these partitions (default: all).
    pub filter: Option<PartitionFilter>,
    /// At most this many rows (default: all): a load that stays within memory whatever the
    /// table's size.
    pub limit: Option<u64>,
}

impl LoadOptions {
    /// Read only `columns`, in this order.
    pub fn with_columns<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.columns = Some(columns.into_iter().map(Into::into).collect());
        self
    }

    /// Read the table as of `snapshot`.
    pub fn with_snapshot(mut self, snapshot: i64) -> Self {
        self.snapshot = Some(snapshot);
        self
    }

    /// Read only the rows of a partition or a range of partitions
    /// ([`Partitions::key_of`], [`Partitions::range`]).
    pub fn with_filter(mut self, filter: PartitionFilter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Read at most `rows` rows (which ones is unspecified unless a filter selects them): a
    /// bounded read of a table that may be larger than memory, such as a preview.
    pub fn with_limit(mut self, rows: u64) -> Self {
        self.limit = Some(rows);
        self
    }
}

/// How the data reached DuckLake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WritePath {
    /// Scanned by DuckDB from Arrow and written by DuckLake (small frames; may be inlined in the
    /// catalog).
    DuckDb,
    /// Written as Parquet by pluginlake's parallel writer into the data path and registered with
    /// `ducklake_add_data_files` (large frames).
    Parquet,
    /// Existing Parquet files registered with `ducklake_add_data_files`, without copying
    /// ([`ParquetFiles`]).
    Registered,
}

/// What one write did: the materialization metadata.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Materialization {
    /// The asset written.
    pub key: AssetKey,
    /// The DuckLake table (`schema.table`).
    pub table: String,
    /// The snapshot the write committed.
    pub snapshot_id: i64,
    /// Rows written.
    pub rows: u64,
    /// Columns and their DuckLake types.
    pub columns: Vec<ColumnInfo>,
    /// Bytes of Parquet data files the snapshot added (0 when DuckLake inlined the rows into the
    /// catalog).
    pub parquet_bytes: u64,
    /// How the data was written.
    pub path: WritePath,
    /// Wall time of the whole write (serialized as `duration_s`).
    #[serde(rename = "duration_s", with = "crate::serde_secs")]
    pub duration: Duration,
    /// The run that wrote, if any.
    pub run_id: Option<RunId>,
}

impl Lake {
    /// Store `value` as the asset `key`: replaces the table's contents in one DuckLake snapshot.
    pub fn store<T: TypeHandler>(
        &self,
        key: impl Into<AssetKey>,
        value: T,
    ) -> Result<Materialization> {
        self.store_with(key, value, &WriteOptions::default())
    }

    /// Store `value` as the asset `key` with options (run id, write mode: replace, append or
    /// merge), in one DuckLake snapshot.
    pub fn store_with<T: TypeHandler>(
        &self,
        key: impl Into<AssetKey>,
        value: T,
        options: &WriteOptions,
    ) -> Result<Materialization> {
        self.store_reading_back(key.into(), value, options, false)
            .map(|(m, _)| m)
    }

    /// [`Lake::store_with`]; with `read_back`, also the table as committed when the write can
    /// hand it to downstream assets in a run.
    pub(crate) fn store_reading_back<T: TypeHandler>(
        &self,
        key: AssetKey,
        value: T,
        options: &WriteOptions,
        read_back: bool,
    ) -> Result<(Materialization, Option<handoff::Handoff>)> {
        let table = key.table()?;
        let mut sink = TableSink::new(table.clone());
        value.store(&mut sink)?;
        write::write_table(self, &key, &table, sink.finish()?, options, read_back)
    }

    /// Load the asset `key` (the whole table, latest snapshot) as a `T`.
    pub fn load<T: TypeHandler>(&self, key: impl Into<AssetKey>) -> Result<T> {
        self.load_with(key, &LoadOptions::default())
    }

    /// Load the asset `key` with options (columns, snapshot).
    pub fn load_with<T: TypeHandler>(
        &self,
        key: impl Into<AssetKey>,
        options: &LoadOptions,
    ) -> Result<T> {
        let table = key.into().table()?;
        let (schema, batches) = read::read_table(self, &table, options, T::STRING_VIEWS)?;
        T::load(TableData {
            table,
            schema,
            batches,
        })
    }

    /// [`Lake::store_with`] on tokio's blocking pool.
    pub async fn store_async<T: TypeHandler>(
        &self,
        key: impl Into<AssetKey>,
        value: T,
        options: &WriteOptions,
    ) -> Result<Materialization> {
        let (lake, key, options) = (self.clone(), key.into(), options.clone());
        blocking(move || lake.store_with(key, value, &options)).await
    }

    /// [`Lake::load_with`] on tokio's blocking pool.
    pub async fn load_async<T: TypeHandler>(
        &self,
        key: impl Into<AssetKey>,
        options: &LoadOptions,
    ) -> Result<T> {
        let (lake, key, options) = (self.clone(), key.into(), options.clone());
        blocking(move || lake.load_with::<T>(key, &options)).await
    }
}
