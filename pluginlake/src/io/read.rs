//! Reading a table (or some of its columns, or an earlier snapshot) as Arrow record batches.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use super::partition::PartitionFilter;
use super::LoadOptions;
use crate::error::{Context, DuckDbErrorType, Error, Result};
use crate::lake::sql::{self, TableRef};
use crate::lake::Lake;

/// The query of a load: `options`' columns, snapshot (`snapshot` when given, else theirs),
/// filter and limit. An empty column list is an error.
pub(crate) fn load_query(
    lake: &Lake,
    table: &TableRef,
    options: &LoadOptions,
    snapshot: Option<i64>,
) -> Result<String> {
    if let Some(columns) = &options.columns {
        if columns.is_empty() {
            return Err(Error::InvalidData {
                table: table.to_string(),
                reason: "no columns asked for; pass None to read them all".into(),
            });
        }
    }
    let query = sql::select(
        lake.name(),
        table,
        options.columns.as_deref(),
        snapshot.or(options.snapshot),
        options
            .filter
            .as_ref()
            .map(PartitionFilter::predicate)
            .as_ref(),
    );
    Ok(match options.limit {
        Some(rows) => sql::limit(&query, rows),
        None => query,
    })
}

pub(crate) fn read_table(
    lake: &Lake,
    table: &TableRef,
    options: &LoadOptions,
    string_views: bool,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let query = load_query(lake, table, options, None)?;
    let conn = lake.connection()?;
    if string_views {
        // String views need Arrow format 1.4 as well; polars then takes the buffers as they are.
        // For this connection only: other readers (Arrow handlers, duckdb-rs rows) expect Utf8.
        conn.execute_batch(&sql::set_session("produce_arrow_string_view", "true"))
            .and_then(|()| conn.execute_batch(&sql::set_session("arrow_output_version", "1.4")))
            .context(|| "asking DuckDB for Arrow string views".into())?;
    }
    let what = || match options.snapshot {
        Some(s) => format!("reading {table} at snapshot {s}"),
        None => format!("reading {table}"),
    };
    let mut stmt = match conn.prepare(&query) {
        Ok(stmt) => stmt,
        Err(e) => return Err(failed_read(lake, table, options, &query, e, what)),
    };
    // Materialized by DuckDB's parallel executor, then exported chunk by chunk (measured faster
    // than a streaming result for whole-table reads).
    stmt.execute([]).context(what)?;
    let schema = stmt.schema();
    let mut batches = Vec::new();
    while let Some(chunk) = stmt.step().context(what)? {
        batches.push(RecordBatch::from(&chunk));
    }
    Ok((schema, batches))
}

/// Why a read failed, by DuckDB's error type: the query again through the C API (without
/// reading rows), whose errors carry it. A catalog error is a table missing (at the snapshot).
fn failed_read(
    lake: &Lake,
    table: &TableRef,
    options: &LoadOptions,
    query: &str,
    error: duckdb::Error,
    what: impl FnOnce() -> String,
) -> Error {
    let typed = match lake.raw_connection() {
        Ok(conn) => match conn.execute(&sql::no_rows(query)) {
            Err(typed) => typed,
            Ok(()) => error.into(),
        },
        Err(_) => error.into(),
    };
    if typed.error_type() == Some(DuckDbErrorType::Catalog) {
        return Error::TableNotFound {
            table: table.to_string(),
            snapshot: options.snapshot,
        };
    }
    Error::DuckDb {
        context: what(),
        source: typed,
    }
}
