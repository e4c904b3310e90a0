//! Streaming loads: a table as Arrow record batches made as they are read ([`Lake::scan`]), for
//! tables larger than memory.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use super::read::load_query;
use super::LoadOptions;
use crate::error::{DuckDbErrorType, Error, Result};
use crate::lake::arrow_result::StreamingResult;
use crate::lake::key::AssetKey;
use crate::lake::sql::{self, TableRef};
use crate::lake::Lake;

/// A table's rows as Arrow record batches, read from DuckLake as they are consumed
/// ([`Lake::scan`]).
///
/// DuckDB computes the rows as the batches are taken (a streaming query), so the memory held is
/// DuckDB's small streaming buffer and the batch in hand, whatever the table's size. The stream
/// reads the table at one snapshot ([`BatchStream::snapshot`]): writes committed while it is
/// read do not change what it returns. It owns its DuckDB connection, so it can outlive the
/// [`Lake`] handle it came from and move between threads; dropping it ends the query.
///
/// An error while reading (a data file that cannot be read, say) is returned as an `Err` item,
/// after which the stream ends.
///
/// ```no_run
/// use pluginlake::io::LoadOptions;
/// # fn main() -> pluginlake::Result<()> {
/// let lake = pluginlake::Lake::open_default()?;
/// let stream = lake.scan("omop/person", &LoadOptions::default().with_columns(["person_id"]))?;
/// let mut rows = 0;
/// for batch in stream {
///     rows += batch?.num_rows();
/// }
/// # let _ = rows; Ok(()) }
/// ```
pub struct BatchStream {
    table: TableRef,
    snapshot: i64,
    result: StreamingResult,
}

impl BatchStream {
    /// The table read.
    pub fn table(&self) -> &TableRef {
        &self.table
    }

    /// The snapshot the table is read at: the one asked for, or the newest when the stream
    /// started.
    pub fn snapshot(&self) -> i64 {
        self.snapshot
    }

    /// The Arrow schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        self.result.schema().clone()
    }

    /// The batches through a channel of `capacity` batches, read on tokio's blocking pool: for
    /// async code (a server streaming a table to a client). Reading waits while the channel is
    /// full, so memory stays bounded by `capacity` batches; dropping the receiver stops the read
    /// at the next batch. Outside a tokio runtime it is an [`Error::Task`].
    pub fn into_channel(
        self,
        capacity: usize,
    ) -> Result<tokio::sync::mpsc::Receiver<Result<RecordBatch>>> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|e| Error::Task(e.to_string()))?;
        let (sender, receiver) = tokio::sync::mpsc::channel(capacity.max(1));
        runtime.spawn_blocking(move || {
            for batch in self {
                if sender.blocking_send(batch).is_err() {
                    break;
                }
            }
        });
        Ok(receiver)
    }
}

impl Iterator for BatchStream {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = self.result.next_batch()?;
        Some(next.map_err(|source| Error::DuckDb {
            context: format!("reading {} at snapshot {}", self.table, self.snapshot),
            source,
        }))
    }
}

impl std::fmt::Debug for BatchStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchStream")
            .field("table", &self.table)
            .field("snapshot", &self.snapshot)
            .finish_non_exhaustive()
    }
}

impl Lake {
    /// Read the asset `key` as a stream of Arrow record batches made as they are consumed,
    /// honouring `options` (columns, snapshot, filter, limit): a load of a table larger than
    /// memory, such as a server streaming it to a client. The table is read at one snapshot,
    /// the newest unless `options` names one (see [`BatchStream`]).
    ///
    /// Errors before the first batch (no such table at that snapshot, an unknown column, a
    /// filter whose values do not fit the column's type) are returned here; an error while
    /// reading is an `Err` item of the stream.
    pub fn scan(&self, key: impl Into<AssetKey>, options: &LoadOptions) -> Result<BatchStream> {
        let table = key.into().table()?;
        let conn = self.raw_connection()?;
        let snapshot = match options.snapshot {
            Some(s) => s,
            None => latest_snapshot(self, &conn)?,
        };
        let query = load_query(self, &table, options, Some(snapshot))?;
        let result = StreamingResult::open(conn, &query).map_err(|source| {
            if source.error_type() == Some(DuckDbErrorType::Catalog) {
                return Error::TableNotFound {
                    table: table.to_string(),
                    snapshot: options.snapshot,
                };
            }
            Error::DuckDb {
                context: format!("reading {table} at snapshot {snapshot}"),
                source,
            }
        })?;
        Ok(BatchStream {
            table,
            snapshot,
            result,
        })
    }
}

impl Lake {
    /// [`Lake::scan`] on tokio's blocking pool (starting the query plans it and may read the
    /// catalog); read the stream with [`BatchStream::into_channel`].
    pub async fn scan_async(
        &self,
        key: impl Into<AssetKey>,
        options: &LoadOptions,
    ) -> Result<BatchStream> {
        let (lake, key, options) = (self.clone(), key.into(), options.clone());
        crate::lake::blocking(move || lake.scan(key, &options)).await
    }
}

/// The newest snapshot's id.
fn latest_snapshot(lake: &Lake, conn: &crate::lake::database::RawConnection) -> Result<i64> {
    let what = || "reading the newest snapshot".to_owned();
    let rows = conn
        .query_text(&sql::latest_snapshot(lake.metadata()))
        .map_err(|source| Error::DuckDb {
            context: what(),
            source,
        })?;
    rows.first()
        .and_then(|r| r.first().cloned().flatten())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::Internal(format!("{}: the catalog has no snapshot", what())))
}
