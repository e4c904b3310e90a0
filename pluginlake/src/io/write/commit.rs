//! The transaction of one write: checks that need the table, then evolve, (re)create or empty,
//! fill and tag, committed as one DuckLake snapshot.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use arrow::array::{RecordBatch, RecordBatchIterator};
use arrow::ffi_stream::FFI_ArrowArrayStream;

use super::{describe, emptied_by_delete, same_columns, Fill, COMMIT_AUTHOR};
use crate::error::{Context, DuckDbErrorType, Error, Result};
use crate::io::durable;
use crate::io::evolve::{self, Evolution, SchemaMode};
use crate::io::handoff::{ReadBack, HANDOFF_MAX_BYTES, HANDOFF_MAX_ROWS};
use crate::io::partition::{PartitionFilter, Partitions};
use crate::io::{CommitFence, WriteMode};
use crate::lake::database::{self, RawConnection};
use crate::lake::sql::{self, ColumnInfo, Ident, TableRef};

/// How often a write is tried when its commit fails retryably. DuckLake 1.5.5 fails commits with
/// "Failed to get path for schema with id ... - schema not found in metadata catalog" spuriously
/// when a table is replaced while another connection reads it (reproduced with DuckDB's own
/// Python client); the failed commit changes nothing and the same transaction succeeds when run
/// again (measured: 8 of 40 replaces under a busy reader needed a second attempt, none a third).
const COMMIT_RETRIES: usize = 5;

/// Whether an attempt that failed so may succeed when run again: a transaction conflict (for
/// example two writers creating the same new schema at once: the second attempt finds it
/// created, and `CREATE SCHEMA IF NOT EXISTS` does nothing), or DuckLake's spurious failure of
/// the commit itself above (an invalid-input or catalog error of `COMMIT`; such errors of the
/// statements before it are about the data, and final). Decided by DuckDB's error type.
fn is_retryable(failed: &Failed) -> bool {
    if failed.appeared {
        return true;
    }
    let Error::DuckDb { source, .. } = &failed.error else {
        return false;
    };
    match source.error_type() {
        Some(DuckDbErrorType::Transaction) => true,
        Some(DuckDbErrorType::InvalidInput | DuckDbErrorType::Catalog) => failed.at_commit,
        _ => false,
    }
}

/// A catalog error of DuckDB (such as "table already exists").
fn is_catalog_error(error: &Error) -> bool {
    matches!(error, Error::DuckDb { source, .. } if source.error_type() == Some(DuckDbErrorType::Catalog))
}

/// A failed attempt, and whether it was the `COMMIT` statement that failed.
pub(super) struct Failed {
    pub(super) error: Error,
    pub(super) at_commit: bool,
    /// The table was absent when the write looked, and another writer created it before the
    /// write's `CREATE TABLE`: run again, as a write to the existing table.
    appeared: bool,
}

impl From<Error> for Failed {
    fn from(error: Error) -> Self {
        Failed {
            error,
            at_commit: false,
            appeared: false,
        }
    }
}

/// One write of a table, committed as one DuckLake snapshot.
pub(super) struct Commit<'a> {
    pub conn: &'a RawConnection,
    pub catalog: &'a Ident,
    /// Where DuckLake's metadata tables are.
    pub metadata: &'a str,
    /// The lake's data path (the table's files are under `<schema>/<table>/` in it).
    pub data_path: &'a Path,
    pub table: &'a TableRef,
    /// The new data's columns.
    pub columns: &'a [ColumnInfo],
    pub fill: &'a Fill,
    pub message: &'a str,
    pub extra_info: &'a str,
    pub mode: &'a WriteMode,
    pub schema_mode: SchemaMode,
    /// The table's partitioning, if any.
    pub partitions: Option<&'a Partitions>,
    /// The one partition written, if any.
    pub partition: Option<&'a PartitionFilter>,
    /// The view the new data is scanned through (Arrow and file fills).
    pub view: &'a Ident,
    /// Checked right before `COMMIT` (a run's claim).
    pub fence: Option<&'a CommitFence>,
    /// The rows written, when known before the fill (data in memory, registered files).
    pub rows: Option<u64>,
    /// Read the table back before the commit, for a handoff in a run (a replace of a whole,
    /// unpartitioned table of at most [`HANDOFF_MAX_ROWS`] rows).
    pub read_back: bool,
}

/// What a committed write reports.
pub(super) struct Committed {
    /// The rows the fill statement reported, when it reports them.
    pub rows: Option<u64>,
    /// The table as committed, when it was read back.
    pub read_back: Option<ReadBack>,
}

impl Commit<'_> {
    /// Commit, retrying DuckLake's spurious failure.
    /// An error of the `COMMIT` statement itself is returned as such: the write may have
    /// committed.
    pub(super) fn run(&self) -> std::result::Result<Committed, Failed> {
        let mut attempt = 1;
        loop {
            match self.run_once() {
                Err(f) if attempt < COMMIT_RETRIES && is_retryable(&f) => {
                    tracing::debug!(table = %self.table, attempt, error = %f.error, "DuckLake commit failed; retrying");
                    // A commit that failed but committed must not be made again.
                    if f.at_commit && self.committed().unwrap_or(true) {
                        return Err(f);
                    }
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Whether a snapshot carries this write's commit info.
    fn committed(&self) -> Result<bool> {
        let rows = self
            .conn
            .query_text(&sql::snapshot_by_extra_info(self.metadata, self.extra_info))
            .context(|| format!("finding whether the write of {} committed", self.table))?;
        Ok(!rows.is_empty())
    }

    fn run_once(&self) -> std::result::Result<Committed, Failed> {
        // An Arrow stream is registered as a temporary view before the transaction starts (a
        // DuckDB transaction writes to one database only: the lake), and dropped after it ends.
        let stream = match self.fill {
            Fill::Arrow(..) => Some(self.register_stream(self.view)?),
            _ => None,
        };
        let result = self.checked_transaction();
        if let Some(stream) = stream {
            let _ = self.conn.execute(&sql::drop_view(self.view));
            drop(stream);
        }
        result
    }

    fn checked_transaction(&self) -> std::result::Result<Committed, Failed> {
        let (conn, catalog, table) = (self.conn, self.catalog, self.table);
        let run = |sql: &str, what: &str| conn.execute(sql).context(|| format!("{what} {table}"));
        // Read outside the transaction: a read of the metadata database inside it holds a SQLite
        // catalog's lock and makes DuckLake's own commit fail with "database is locked". A table
        // changed by another writer in between makes the commit conflict or the fill fail on the
        // columns. Writers of one table in this process take turns (`Lake::table_lock`); writers
        // in other processes must not write the same table at the same instant.
        let shape = conn
            .query_text(&sql::table_shape(self.metadata, table))
            .context(|| format!("reading the columns of {table}"))?;
        let exists = !shape.is_empty();
        // The shape settles scalar columns; only what it cannot (nested types, a difference) is
        // compared through DuckDB.
        let evolution = if exists && !same_columns(&shape, self.columns) {
            self.evolution()?
        } else {
            Evolution {
                columns: self.columns.to_vec(),
                ..Evolution::default()
            }
        };
        if let WriteMode::Merge { keys } = self.mode {
            self.check_unique_keys(keys)?;
        }
        if let Some(filter) = self.partition {
            self.check_inside(filter)?;
        }
        let repartition = match (self.partitions, exists) {
            (Some(p), true) => self.repartition(p)?,
            _ => None,
        };
        let fill_sql = match (self.fill, self.mode) {
            (Fill::Files { files, .. }, _) => {
                let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
                sql::add_data_files(catalog, table, &paths, evolution.fills_subset)?
            }
            (_, WriteMode::Merge { keys }) if exists => {
                sql::merge_from_view(catalog, table, self.view, keys, self.columns)
            }
            _ => sql::insert_columns_from_view(catalog, table, self.view, self.columns),
        };
        let evolve = || -> Result<()> {
            for change in &evolution.changes {
                run(
                    &sql::alter_table(catalog, table, change.alter()),
                    "changing the columns of",
                )?;
            }
            Ok(())
        };
        // A table absent when the write looked is created with `CREATE TABLE`, which fails if
        // another writer created it since (then the write runs again, against that table); an
        // existing table that a replace re-creates is replaced.
        let create = |replace: bool| -> std::result::Result<(), Failed> {
            run(
                &sql::create_schema(catalog, table),
                "creating the schema of",
            )?;
            let statement = if replace {
                sql::create_or_replace_table(catalog, table, &evolution.columns)
            } else {
                sql::create_table(catalog, table, &evolution.columns)
            };
            run(&statement, "creating").map_err(|error| {
                let appeared = !replace && is_catalog_error(&error);
                Failed {
                    error,
                    at_commit: false,
                    appeared,
                }
            })?;
            if let Some(p) = self.partitions {
                run(
                    &sql::set_partitioned_by(catalog, table, &p.partitioned_by()),
                    "partitioning",
                )?;
            }
            Ok(())
        };
        let transaction = || -> std::result::Result<Committed, Failed> {
            let began = SystemTime::now();
            run("BEGIN TRANSACTION", "starting the write of")?;
            match (self.mode, exists, self.partition) {
                (_, false, _) => create(false)?,
                (WriteMode::Replace, true, Some(filter)) => {
                    evolve()?;
                    run(
                        &sql::delete_partition(catalog, table, &filter.predicate()),
                        "emptying a partition of",
                    )?;
                }
                (WriteMode::Replace, true, None) if emptied_by_delete(&shape) => {
                    evolve()?;
                    run(&sql::delete_all(catalog, table), "emptying")?;
                }
                (WriteMode::Replace, true, None) => create(true)?,
                // Appends and merges add to the existing table.
                (WriteMode::Append | WriteMode::Merge { .. }, true, _) => evolve()?,
            }
            if let Some(sql) = &repartition {
                run(sql, "partitioning")?;
            }
            let reported = conn
                .query_text(&fill_sql)
                .context(|| format!("filling {table}"))?;
            let rows = reported
                .first()
                .and_then(|r| r.first().cloned().flatten())
                .and_then(|v| v.parse().ok());
            let read_back = match self.rows.or(rows) {
                Some(n) if self.reads_back(n) => self.read_table()?,
                _ => None,
            };
            run(
                &sql::set_commit_message(catalog, COMMIT_AUTHOR, self.message, self.extra_info),
                "tagging the snapshot of",
            )?;
            // DuckDB does not flush the data and delete files it wrote; the commit will refer
            // to them.
            let dir = self
                .data_path
                .join(table.schema().as_str())
                .join(table.table().as_str());
            durable::sync_new(self.data_path, &dir, began)?;
            if let Some(fence) = self.fence {
                fence.check()?;
            }
            run("COMMIT", "committing").map_err(|error| Failed {
                error,
                at_commit: true,
                appeared: false,
            })?;
            Ok(Committed { rows, read_back })
        };
        let result = transaction();
        if result.is_err() {
            let _ = conn.execute("ROLLBACK");
        }
        result
    }

    /// Whether this write reads the table back, having filled it with `rows` rows.
    fn reads_back(&self, rows: u64) -> bool {
        self.read_back
            && rows <= HANDOFF_MAX_ROWS
            && matches!(self.mode, WriteMode::Replace)
            && self.partitions.is_none()
    }

    /// The table as this transaction leaves it, read as loads read it (the plain layout). `None`
    /// when it takes more than [`HANDOFF_MAX_BYTES`] in memory.
    fn read_table(&self) -> Result<Option<ReadBack>> {
        let query = sql::select(self.catalog, self.table, None, None, None);
        let plain = self
            .conn
            .query_arrow(&query)
            .context(|| format!("reading back {}", self.table))?;
        let bytes: usize = plain.1.iter().map(RecordBatch::get_array_memory_size).sum();
        Ok((bytes <= HANDOFF_MAX_BYTES).then(|| ReadBack::new(plain)))
    }

    /// Register the Arrow data as the temporary view `view`; the returned stream must outlive
    /// every query of it. Boxed: DuckDB keeps a pointer to the stream.
    fn register_stream(&self, view: &Ident) -> Result<Box<FFI_ArrowArrayStream>> {
        let Fill::Arrow(schema, batches) = self.fill else {
            unreachable!("only Arrow fills have a stream");
        };
        // The stream owns its batches (cheap: columns are shared).
        let reader = RecordBatchIterator::new(batches.clone().into_iter().map(Ok), schema.clone());
        let mut stream = Box::new(
            database::scan_stream(Box::new(reader))
                .context(|| format!("exporting the data for {}", self.table))?,
        );
        self.conn
            .register_arrow_stream(view, &mut stream)
            .context(|| format!("scanning the data for {}", self.table))?;
        Ok(stream)
    }

    /// Run `query` on a view of the new data that the fill does not consume: an Arrow stream is
    /// scanned once, so checks get their own; a file view can be read again.
    fn query_data(
        &self,
        query: impl Fn(&Ident) -> String,
        what: &str,
    ) -> Result<Vec<Vec<Option<String>>>> {
        let what = || format!("{what} {}", self.table);
        match self.fill {
            Fill::Arrow(..) => {
                let view = Ident::new(&format!("{}_check", self.view.as_str()))
                    .expect("a valid identifier");
                let stream = self.register_stream(&view)?;
                let rows = self.conn.query_text(&query(&view)).context(what);
                let _ = self.conn.execute(&sql::drop_view(&view));
                drop(stream);
                rows
            }
            _ => self.conn.query_text(&query(self.view)).context(what),
        }
    }

    /// How the table's columns change, compared as DuckDB renders both sides.
    fn evolution(&self) -> Result<Evolution> {
        let what = || format!("reading the columns of {}", self.table);
        let existing = describe(
            self.conn,
            &sql::describe_table(self.catalog, self.table),
            what,
        )?;
        let new = describe(self.conn, &sql::describe_columns(self.columns), what)?;
        evolve::plan(self.table, &existing, &new, self.schema_mode)
    }

    /// The statement re-partitioning an existing table whose DuckLake partitioning is not
    /// `partitions` (for example one written before it was declared).
    fn repartition(&self, partitions: &Partitions) -> Result<Option<String>> {
        let current = self
            .conn
            .query_text(&sql::partition_shape(self.metadata, self.table))
            .context(|| format!("reading the partitioning of {}", self.table))?;
        let wanted = partitions.partitioned_by();
        let same = current.len() == wanted.len()
            && current
                .iter()
                .zip(&wanted)
                .all(|(row, (transform, column))| {
                    let t = row[0].as_deref().unwrap_or_default();
                    let t = if t == "identity" { "" } else { t };
                    t == *transform && row[1].as_deref() == Some(*column)
                });
        Ok((!same).then(|| sql::set_partitioned_by(self.catalog, self.table, &wanted)))
    }

    /// A partition write holds only that partition's rows.
    fn check_inside(&self, filter: &PartitionFilter) -> Result<()> {
        let rows = self.query_data(
            |v| sql::rows_outside(v, &filter.predicate(), self.columns),
            "checking the partition of",
        )?;
        let count: u64 = rows
            .first()
            .and_then(|r| r[0].as_deref())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        if count == 0 {
            return Ok(());
        }
        let example = rows[0][1].as_deref().unwrap_or("NULL");
        Err(Error::InvalidData {
            table: self.table.to_string(),
            reason: format!(
                "{count} rows of the new data are outside partition {filter} (for example {} = \
                 {example}); a partition write holds only its own partition's rows",
                filter.column()
            ),
        })
    }

    /// A merge's keys must be unique in the new data (else which row wins is undefined).
    fn check_unique_keys(&self, keys: &[String]) -> Result<()> {
        let rows = self.query_data(
            |v| sql::duplicate_key(v, keys, self.columns),
            "checking the merge keys of",
        )?;
        let Some(row) = rows.first() else {
            return Ok(());
        };
        // The key's values, its count, and the column that reads every column.
        let (values, count) = row.split_at(keys.len());
        let key: Vec<String> = keys
            .iter()
            .zip(values)
            .map(|(k, v)| format!("{k} = {}", v.as_deref().unwrap_or("NULL")))
            .collect();
        Err(Error::InvalidData {
            table: self.table.to_string(),
            reason: format!(
                "merge keys must be unique in the new data, but ({}) appears {} times",
                key.join(", "),
                count[0].as_deref().unwrap_or("?")
            ),
        })
    }
}
