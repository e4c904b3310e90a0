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
    // Through the C API, whose errors carry DuckDB's error type (a missing table, a value the
    // Arrow export cannot hold), with the Arrow export duckdb-rs makes.
    let conn = lake.raw_connection()?;
    if string_views {
        // String views need Arrow format 1.4 as well; polars then takes the buffers as they are.
        // For this connection only: other readers (Arrow handlers, duckdb-rs rows) expect Utf8.
        conn.execute(&sql::set_session("produce_arrow_string_view", "true"))
            .and_then(|()| conn.execute(&sql::set_session("arrow_output_version", "1.4")))
            .context(|| "asking DuckDB for Arrow string views".into())?;
    }
    // Materialized by DuckDB's parallel executor, then exported chunk by chunk (measured faster
    // than a streaming result for whole-table reads).
    conn.query_arrow(&query).map_err(|source| {
        if source.error_type() == Some(DuckDbErrorType::Catalog) {
            return Error::TableNotFound {
                table: table.to_string(),
                snapshot: options.snapshot,
            };
        }
        Error::DuckDb {
            context: match options.snapshot {
                Some(s) => format!("reading {table} at snapshot {s}"),
                None => format!("reading {table}"),
            },
            source,
        }
    })
}
