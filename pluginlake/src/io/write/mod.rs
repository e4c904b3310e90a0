//! One materialization = one DuckLake snapshot, in one of three [`WriteMode`]s: replace (the
//! table becomes the new data, or one partition of it does), append, or merge (upsert on key
//! columns).
//!
//! Evolving the table's columns, creating the schema, (re)creating, emptying (a partition of)
//! the table and filling it happen in one transaction, so concurrent readers see the old rows or
//! the new rows, never an empty or partial table. Column changes, merge keys and partition
//! membership are checked before the transaction: bad input commits nothing.

mod commit;
mod register;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};

use super::files::Scan;
use super::handoff::Handoff;
use super::parquet;
use super::{convert, InMemory, Materialization, Staged, WriteMode, WriteOptions, WritePath};
use crate::error::{Context, Error, Result};
use crate::io::partition::PartitionFilter;
use crate::lake::database::RawConnection;
use crate::lake::key::AssetKey;
use crate::lake::maintenance::WriteInProgress;
use crate::lake::sql::{self, ColumnInfo, Ident, TableRef};
use crate::lake::Lake;
use commit::{Commit, Committed};

/// Author recorded on every snapshot pluginlake commits.
pub(super) const COMMIT_AUTHOR: &str = "pluginlake";

/// How the table is filled inside the transaction.
enum Fill {
    /// Arrow batches, scanned through a temporary view registered for each attempt.
    Arrow(SchemaRef, Vec<RecordBatch>),
    /// Files DuckDB reads through a temporary view created once per write.
    Scan(Scan),
    /// Parquet files registered as the table's data files; `owned` are pluginlake's and removed
    /// when the write fails.
    Files {
        files: Vec<PathBuf>,
        owned: Vec<PathBuf>,
    },
}

/// Write `staged` as `table` in one snapshot. With `read_back`, a write that can hand its value
/// to downstream assets (see [`Handoff`]) returns the table as committed.
pub(crate) fn write_table(
    lake: &Lake,
    key: &AssetKey,
    table: &TableRef,
    staged: Staged,
    options: &WriteOptions,
    read_back: bool,
) -> Result<(Materialization, Option<Handoff>)> {
    let started = Instant::now();
    // Files this write creates are not orphans while it runs.
    let _in_progress = WriteInProgress::start();
    let partition = partition_filter(table, options).map_err(|e| e.in_asset(key))?;
    let merging = matches!(options.mode, WriteMode::Merge { .. });
    let write_id = uuid::Uuid::now_v7();
    let view = Ident::new(&format!("__pluginlake_data_{}", write_id.simple()))
        .expect("a valid identifier");
    let conn = lake.raw_connection()?;
    if let Some(write_key) = &options.write_key {
        if let Some(m) = already_written(lake, &conn, key, table, write_key, options, started)? {
            return Ok((m, None));
        }
    }

    let (fill, columns, rows, path) = match staged {
        Staged::Scan(scan) => {
            scan.check_files()?;
            let what = || format!("reading {} for {table}", show_files(&scan));
            let columns = scan
                .view_sql(&view)
                .and_then(|sql| conn.execute(&sql).context(what))
                .and_then(|()| describe(&conn, &sql::describe_view(&view), what))
                .map_err(|e| scan.explain(e))?;
            (Fill::Scan(scan), columns, None, WritePath::DuckDb)
        }
        Staged::Register { files, copy } => {
            if options.partitions.is_some() || merging {
                return Err(Error::InvalidData {
                    table: table.to_string(),
                    reason: "registered Parquet files can replace or append to an unpartitioned \
                             table only; load them with ParquetFile to merge or partition"
                        .into(),
                });
            }
            register::check_distinct(table, &files)?;
            let columns = register::file_columns(&conn, table, &files)?;
            let rows = register::row_count(&conn, &files)?;
            let linked = register::link(lake.data_path(), table, write_id, &files, copy)?;
            if let Err(e) = register::verify(&conn, table, &linked.files, &columns) {
                for f in &linked.created {
                    let _ = std::fs::remove_file(f);
                }
                return Err(e);
            }
            let fill = Fill::Files {
                files: linked.files,
                owned: linked.created,
            };
            (fill, columns, Some(rows), WritePath::Registered)
        }
        Staged::Memory(data) => memory_fill(lake, table, data, options)?,
    };
    if let WriteMode::Merge { keys } = &options.mode {
        check_merge_keys(table, keys, &columns)?;
    }
    if let Some(filter) = &partition {
        check_partition_column(table, filter, &columns)?;
    }

    let extra_info = serde_json::json!({
        "asset": key.to_string(),
        "asset_key": key.parts(),
        "run_id": options.run_id,
        "write_id": write_id.to_string(),
        "write_key": options.write_key,
        "rows": rows,
        "partition": options.partition,
    })
    .to_string();
    let message = match &options.partition {
        Some(p) => format!("materialize {key} partition {p}"),
        None => format!("materialize {key}"),
    };

    let lock = lake.table_lock(table);
    let _turn = lock.lock().unwrap_or_else(|e| e.into_inner());
    let commit = Commit {
        conn: &conn,
        catalog: lake.name(),
        metadata: lake.metadata(),
        data_path: lake.data_path(),
        table,
        columns: &columns,
        fill: &fill,
        message: &message,
        extra_info: &extra_info,
        mode: &options.mode,
        schema_mode: options.schema_mode,
        partitions: options.partitions.as_ref(),
        partition: partition.as_ref(),
        view: &view,
        fence: options.fence.as_ref(),
        rows,
        read_back,
    };
    let result = commit.run();
    if let Fill::Scan(_) = &fill {
        let _ = conn.execute(&sql::drop_view(&view));
    }
    let remove_owned = || {
        if let Fill::Files { owned, .. } = &fill {
            for f in owned {
                let _ = std::fs::remove_file(f);
            }
        }
    };
    let committed = match result {
        Ok(committed) => committed,
        // `COMMIT` failed, but it may have committed (a connection lost while committing):
        // the catalog says, on a new connection, whether the write's snapshot is there.
        Err(failed) if failed.at_commit => match committed(lake, &extra_info) {
            Ok(true) => {
                tracing::warn!(%table, %write_id, error = %failed.error, "COMMIT reported an error, but the write's snapshot is in the catalog: it committed");
                Committed {
                    rows: None,
                    read_back: None,
                }
            }
            Ok(false) => {
                remove_owned();
                return Err(failed.error);
            }
            // Unknown: the write's files stay (the catalog may reference them; the orphan
            // cleanup removes them if not), and a retry with the same write key is safe.
            Err(check) => {
                tracing::warn!(%table, %write_id, error = %check, "cannot tell whether the write committed");
                return Err(Error::CommitOutcomeUnknown {
                    table: table.to_string(),
                    write_id: write_id.to_string(),
                    source: Box::new(failed.error),
                });
            }
        },
        Err(failed) => {
            // Nothing references files of a failed write: remove pluginlake's own.
            remove_owned();
            return Err(match &fill {
                Fill::Scan(scan) => scan.explain(failed.error),
                _ => failed.error,
            });
        }
    };
    if let (Fill::Files { files, .. }, WritePath::Registered) = (&fill, path) {
        // Committed: the files are the lake's, and do not change in place.
        if let Err(e) = register::make_read_only(files) {
            tracing::warn!(%table, error = %e, "cannot make registered files read-only");
        }
    }
    let (snapshot_id, parquet_bytes) = snapshot_of_write(lake, &conn, &extra_info)?;
    drop(conn);
    let m = Materialization {
        key: key.clone(),
        table: table.to_string(),
        snapshot_id,
        rows: rows.or(committed.rows).unwrap_or(0),
        columns,
        parquet_bytes,
        path,
        duration: started.elapsed(),
        run_id: options.run_id,
    };
    tracing::info!(
        asset = %key, %table, snapshot = snapshot_id, rows = m.rows, bytes = parquet_bytes,
        path = ?m.path, partition = ?options.partition, ms = m.duration.as_secs_f64() * 1e3,
        "materialized"
    );
    let handoff = committed
        .read_back
        .map(|data| Handoff::new(snapshot_id, table.clone(), data));
    Ok((m, handoff))
}

/// How data in memory is written: scanned by DuckDB from Arrow, or (large frames) written as
/// Parquet into the data path and registered.
fn memory_fill(
    lake: &Lake,
    table: &TableRef,
    data: InMemory,
    options: &WriteOptions,
) -> Result<(Fill, Vec<ColumnInfo>, Option<u64>, WritePath)> {
    let (schema, rows, bytes) = match &data {
        InMemory::Frame(df) => (
            convert::dataframe_schema(df)?,
            df.height(),
            df.estimated_size(),
        ),
        InMemory::Batches(schema, batches) => (
            schema.clone(),
            batches.iter().map(RecordBatch::num_rows).sum(),
            batches.iter().map(RecordBatch::get_array_memory_size).sum(),
        ),
    };
    let columns = table_columns(table, &schema)?;
    // A merge reads the new rows in DuckDB's MERGE, and DuckLake registers files into
    // partitioned tables only with their partition values: both go through DuckDB.
    let fast = bytes >= lake.config().fast_path_min_bytes
        && !matches!(options.mode, WriteMode::Merge { .. })
        && options.partitions.is_none();
    let fill = match data {
        data if fast => parquet_fill(lake, table, data)?,
        InMemory::Frame(df) => {
            let batches = convert::dataframe_batches(df, &schema)?;
            Fill::Arrow(schema, batches)
        }
        InMemory::Batches(schema, batches) => Fill::Arrow(schema, batches),
    };
    let path = match fill {
        Fill::Files { .. } => WritePath::Parquet,
        _ => WritePath::DuckDb,
    };
    Ok((fill, columns, Some(rows as u64), path))
}

fn show_files(scan: &Scan) -> String {
    let files: Vec<String> = scan
        .files()
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    files.join(", ")
}

/// Rows of a `DESCRIBE`-style query as columns.
fn describe(
    conn: &RawConnection,
    sql: &str,
    what: impl FnOnce() -> String,
) -> Result<Vec<ColumnInfo>> {
    Ok(conn
        .query_text(sql)
        .context(what)?
        .into_iter()
        .map(|r| ColumnInfo {
            name: r[0].clone().unwrap_or_default(),
            sql_type: r[1].clone().unwrap_or_default(),
        })
        .collect())
}

/// The partition a write replaces, checked against the declared partitions.
fn partition_filter(table: &TableRef, options: &WriteOptions) -> Result<Option<PartitionFilter>> {
    match (&options.partitions, &options.partition) {
        (_, None) => Ok(None),
        (None, Some(key)) => Err(Error::InvalidData {
            table: table.to_string(),
            reason: format!("partition {key:?} was given, but the write declares no partitions"),
        }),
        (Some(partitions), Some(key)) => partitions.key_of(key).map(Some),
    }
}

/// The partition column must be a column of the data.
fn check_partition_column(
    table: &TableRef,
    filter: &PartitionFilter,
    columns: &[ColumnInfo],
) -> Result<()> {
    if columns.iter().any(|c| c.name == filter.column()) {
        return Ok(());
    }
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    Err(Error::InvalidData {
        table: table.to_string(),
        reason: format!(
            "partition column {:?} is not a column of the data (columns: {})",
            filter.column(),
            names.join(", ")
        ),
    })
}

/// Write the data as Parquet into the data path; batches polars cannot take go through DuckDB.
fn parquet_fill(lake: &Lake, table: &TableRef, data: InMemory) -> Result<Fill> {
    let df = match data {
        InMemory::Frame(df) => df,
        InMemory::Batches(schema, batches) => {
            match convert::batches_to_dataframe(&schema, &batches) {
                Ok(df) => df,
                Err(e) => {
                    tracing::debug!(%table, error = %e, "polars cannot take these batches; writing through DuckDB");
                    return Ok(Fill::Arrow(schema, batches));
                }
            }
        }
    };
    let file = parquet::write_file(lake.data_path(), table, &df)?;
    Ok(Fill::Files {
        files: vec![file.clone()],
        owned: vec![file],
    })
}

/// Merge keys must name columns of the data.
fn check_merge_keys(table: &TableRef, keys: &[String], columns: &[ColumnInfo]) -> Result<()> {
    let invalid = |reason: String| Error::InvalidData {
        table: table.to_string(),
        reason,
    };
    if keys.is_empty() {
        return Err(invalid("a merge needs at least one key column".into()));
    }
    for key in keys {
        if !columns.iter().any(|c| c.name == *key) {
            let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            return Err(invalid(format!(
                "merge key {key:?} is not a column of the data (columns: {})",
                names.join(", ")
            )));
        }
    }
    Ok(())
}

/// Whether a snapshot carries this write's unique commit info, asked on a new connection (the
/// write's own may be broken).
fn committed(lake: &Lake, extra_info: &str) -> Result<bool> {
    let conn = lake.raw_connection()?;
    let rows = conn
        .query_text(&sql::snapshot_by_extra_info(lake.metadata(), extra_info))
        .context(|| "finding whether a write committed".to_owned())?;
    Ok(!rows.is_empty())
}

/// The materialization of an earlier write with the same write key (an attempt redone), if a
/// snapshot carries it.
fn already_written(
    lake: &Lake,
    conn: &RawConnection,
    key: &AssetKey,
    table: &TableRef,
    write_key: &str,
    options: &WriteOptions,
    started: Instant,
) -> Result<Option<Materialization>> {
    // A plain-text prefilter (the key, JSON-escaped), then the exact key from the parsed info.
    let needle = serde_json::to_string(write_key)
        .map_err(|e| Error::Internal(format!("serializing a write key: {e}")))?;
    let rows = conn
        .query_text(&sql::snapshots_mentioning(lake.metadata(), &needle))
        .context(|| format!("looking for an earlier write of {table}"))?;
    let found = rows.into_iter().find_map(|row| {
        let snapshot: i64 = row.first()?.as_deref()?.parse().ok()?;
        let info: serde_json::Value = serde_json::from_str(row.get(1)?.as_deref()?).ok()?;
        (info["write_key"].as_str() == Some(write_key)).then_some((snapshot, info))
    });
    let Some((snapshot_id, info)) = found else {
        return Ok(None);
    };
    tracing::info!(asset = %key, %table, snapshot = snapshot_id, write_key, "already written by an earlier attempt; not writing again");
    let bytes = conn
        .query_text(&sql::snapshot_file_bytes(lake.metadata(), snapshot_id))
        .context(|| format!("summing the files of snapshot {snapshot_id}"))?
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    Ok(Some(Materialization {
        key: key.clone(),
        table: table.to_string(),
        snapshot_id,
        rows: info["rows"].as_u64().unwrap_or(0),
        columns: Vec::new(),
        parquet_bytes: bytes.max(0) as u64,
        path: WritePath::DuckDb,
        duration: started.elapsed(),
        run_id: options.run_id,
    }))
}

/// The snapshot a write committed (found by its unique commit info) and the bytes of Parquet
/// files it added. A write that changed nothing (a merge of rows equal to the stored ones)
/// commits no snapshot: then the table is as of the latest snapshot, which is returned.
fn snapshot_of_write(lake: &Lake, conn: &RawConnection, extra_info: &str) -> Result<(i64, u64)> {
    // Two single-table queries: one query joining them costs several times as much (measured).
    let number = |sql: &str, what: &str| -> Result<Option<i64>> {
        let rows = conn.query_text(sql).context(|| what.to_owned())?;
        Ok(rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .and_then(|v| v.parse().ok()))
    };
    let what = "finding the snapshot just committed";
    if let Some(snapshot) = number(
        &sql::snapshot_by_extra_info(lake.metadata(), extra_info),
        what,
    )? {
        let what = "summing the files of the snapshot just committed";
        let bytes = number(&sql::snapshot_file_bytes(lake.metadata(), snapshot), what)?
            .ok_or_else(|| Error::Internal(format!("{what} ({snapshot}): no value")))?;
        return Ok((snapshot, bytes.max(0) as u64));
    }
    let what = "finding the latest snapshot";
    let latest = number(&sql::latest_snapshot(lake.metadata()), what)?
        .ok_or_else(|| Error::Internal(format!("{what}: DuckLake returned no value")))?;
    tracing::debug!(
        snapshot = latest,
        "the write changed nothing; DuckLake committed no snapshot"
    );
    Ok((latest, 0))
}

/// Replacing by `DELETE` + `INSERT` keeps the table (and its id) and costs a third of
/// `CREATE OR REPLACE` for small tables, but DuckLake's `DELETE` grows with the rows deleted
/// (measured: 8 ms at 10,000 rows, 137 ms at 1,000,000, against 15-24 ms for a re-create).
const REPLACE_BY_DELETE_MAX_ROWS: u64 = 50_000;

/// True when the table (its shape from [`sql::table_shape`]) has few enough rows to be emptied
/// by `DELETE`.
fn emptied_by_delete(shape: &[Vec<Option<String>>]) -> bool {
    shape.iter().all(|row| {
        row[2]
            .as_deref()
            .and_then(|r| r.parse::<u64>().ok())
            .is_some_and(|r| r <= REPLACE_BY_DELETE_MAX_ROWS)
    })
}

/// True when the table's shape (from [`sql::table_shape`]) has exactly `columns`: names, order
/// and scalar types. A false negative (nested types, which DuckLake names only `list`,
/// `struct`, `map`) costs a re-create, or an exact comparison through DuckDB.
fn same_columns(shape: &[Vec<Option<String>>], columns: &[ColumnInfo]) -> bool {
    shape.len() == columns.len()
        && shape
            .iter()
            .zip(columns)
            .all(|(row, col)| match row.as_slice() {
                [Some(name), Some(ty), _rows] => {
                    *name == col.name
                        && sql::ducklake_type_name(&col.sql_type).is_some_and(|t| t == *ty)
                }
                _ => false,
            })
}

/// Validate the schema for storage and map it to DuckLake columns. Nothing is written when this
/// fails.
fn table_columns(table: &TableRef, schema: &Schema) -> Result<Vec<ColumnInfo>> {
    let invalid = |reason: String| Error::InvalidData {
        table: table.to_string(),
        reason,
    };
    if schema.fields().is_empty() {
        return Err(invalid("the frame is empty: it has no columns".into()));
    }
    let mut seen = HashSet::new();
    for f in schema.fields() {
        if f.name().is_empty() {
            return Err(invalid("a column has an empty name".into()));
        }
        if f.name().contains('\0') {
            return Err(invalid(format!(
                "column {:?} has a NUL character in its name",
                f.name()
            )));
        }
        // DuckDB matches column names case-insensitively.
        if !seen.insert(f.name().to_lowercase()) {
            return Err(invalid(format!(
                "duplicate column name {:?} (names are case-insensitive in DuckLake); rename one",
                f.name()
            )));
        }
    }
    schema
        .fields()
        .iter()
        .map(|f| {
            Ok(ColumnInfo {
                name: f.name().clone(),
                sql_type: sql::column_type(table, f)?,
            })
        })
        .collect()
}
