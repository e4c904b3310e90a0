//! The DuckDB database behind a lake, and raw connections for the write path.
//!
//! pluginlake opens DuckDB through its C API so that one database can hand out both duckdb-rs
//! [`Connection`]s (queries) and raw connections that can scan an Arrow C stream with DuckDB's
//! own, complete Arrow reader (the write path for small frames).
//!
//! Every connection holds an [`Arc`] of the [`Database`]: the database is closed when the last
//! lake and the last connection are gone, never under a connection that could still use it.

use std::ffi::{CStr, CString};
use std::ptr;
use std::sync::Arc;

use arrow::array::{RecordBatch, RecordBatchReader};
use arrow::datatypes::{Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::ffi::FFI_ArrowSchema;
use arrow::ffi_stream::FFI_ArrowArrayStream;
use duckdb::{ffi, Connection};

use crate::error::{DuckDbError, Error, Result};
use crate::lake::connection::LakeConnection;
use crate::lake::sql::Ident;

/// An open DuckDB database (in memory; the lake itself is attached to it), shared by the lake and
/// its connections. Closed on drop.
pub(crate) struct Database {
    raw: ffi::duckdb_database,
}

// SAFETY: a duckdb_database is a thread-safe handle (DuckDB's DatabaseInstance); connections to it
// may be created from any thread.
unsafe impl Send for Database {}
unsafe impl Sync for Database {}

impl Database {
    /// Open an in-memory DuckDB with the given settings (applied before any extension loads).
    pub(crate) fn open(settings: &[(&str, String)]) -> Result<Arc<Self>> {
        let fail = |msg: String| Error::DuckDb {
            context: "opening DuckDB".into(),
            source: DuckDbError::untyped(msg),
        };
        unsafe {
            let mut config: ffi::duckdb_config = ptr::null_mut();
            if ffi::duckdb_create_config(&mut config) != ffi::DuckDBSuccess {
                return Err(fail("could not create a DuckDB configuration".into()));
            }
            for (name, value) in settings {
                let n = CString::new(*name).map_err(|e| fail(e.to_string()))?;
                let v = CString::new(value.as_str()).map_err(|e| fail(e.to_string()))?;
                if ffi::duckdb_set_config(config, n.as_ptr(), v.as_ptr()) != ffi::DuckDBSuccess {
                    ffi::duckdb_destroy_config(&mut config);
                    return Err(fail(format!("invalid DuckDB setting {name} = {value:?}")));
                }
            }
            let mut db: ffi::duckdb_database = ptr::null_mut();
            let mut err: *mut std::os::raw::c_char = ptr::null_mut();
            let state = ffi::duckdb_open_ext(c":memory:".as_ptr(), &mut db, config, &mut err);
            ffi::duckdb_destroy_config(&mut config);
            if state != ffi::DuckDBSuccess {
                let msg = if err.is_null() {
                    "unknown error".to_owned()
                } else {
                    let m = CStr::from_ptr(err).to_string_lossy().into_owned();
                    ffi::duckdb_free(err.cast());
                    m
                };
                return Err(fail(msg));
            }
            Ok(Arc::new(Database { raw: db }))
        }
    }

    /// A new duckdb-rs connection to this database, which keeps the database open.
    pub(crate) fn connect(self: &Arc<Self>) -> Result<LakeConnection> {
        // SAFETY: `raw` stays open for as long as the returned connection lives (it holds an Arc
        // of `self`, and only `LakeConnection::try_clone`, which passes the Arc on, clones it);
        // duckdb-rs does not close a database it did not open.
        let conn =
            unsafe { Connection::open_from_raw(self.raw) }.map_err(|source| Error::DuckDb {
                context: "connecting to DuckDB".into(),
                source: source.into(),
            })?;
        Ok(LakeConnection::new(conn, self.clone()))
    }

    /// A new raw connection to this database, which keeps the database open.
    pub(crate) fn connect_raw(self: &Arc<Self>) -> Result<RawConnection> {
        let mut con: ffi::duckdb_connection = ptr::null_mut();
        // SAFETY: `raw` is a valid open database.
        let state = unsafe { ffi::duckdb_connect(self.raw, &mut con) };
        if state != ffi::DuckDBSuccess {
            return Err(Error::DuckDb {
                context: "connecting to DuckDB".into(),
                source: DuckDbError::untyped("duckdb_connect failed"),
            });
        }
        Ok(RawConnection {
            con,
            _database: self.clone(),
        })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        // SAFETY: opened in `open`, closed once here.
        unsafe { ffi::duckdb_close(&mut self.raw) };
    }
}

/// A connection used through DuckDB's C API directly: runs statements and registers Arrow
/// streams as views.
pub(crate) struct RawConnection {
    con: ffi::duckdb_connection,
    /// Keeps the database open while the connection lives (dropped after `con` is disconnected).
    _database: Arc<Database>,
}

// SAFETY: a DuckDB connection may move between threads; it is never used by two at once (no Sync).
unsafe impl Send for RawConnection {}

impl RawConnection {
    /// Run one statement, discarding its result.
    pub(crate) fn execute(&self, sql: &str) -> std::result::Result<(), DuckDbError> {
        self.query(sql, |_| ())
    }

    /// Run one query and return its rows as text (NULL as `None`); for small results.
    ///
    /// DuckDB renders only scalar types this way (not `TIMESTAMP_NS`, `TIMESTAMPTZ`, `UUID`,
    /// enums or nested types: cast such columns to `VARCHAR` in the query); a value it cannot
    /// render is an error naming its column.
    pub(crate) fn query_text(
        &self,
        sql: &str,
    ) -> std::result::Result<Vec<Vec<Option<String>>>, DuckDbError> {
        self.query(sql, |result| {
            // SAFETY: `result` holds a successful query's result; values are read within its
            // bounds, a string DuckDB could not make (a null pointer) is never read, and every
            // string DuckDB allocates is freed.
            unsafe {
                let (rows, cols) = (
                    ffi::duckdb_row_count(result),
                    ffi::duckdb_column_count(result),
                );
                (0..rows)
                    .map(|r| {
                        (0..cols)
                            .map(|c| {
                                if ffi::duckdb_value_is_null(result, c, r) {
                                    return Ok(None);
                                }
                                let v = ffi::duckdb_value_varchar(result, c, r);
                                if v.is_null() {
                                    return Err(unreadable_column(result, c));
                                }
                                let text = CStr::from_ptr(v).to_string_lossy().into_owned();
                                ffi::duckdb_free(v.cast());
                                Ok(Some(text))
                            })
                            .collect::<std::result::Result<Vec<_>, DuckDbError>>()
                    })
                    .collect::<std::result::Result<Vec<_>, DuckDbError>>()
            }
        })?
    }

    /// Run one query and return its rows as Arrow record batches, exported exactly as duckdb-rs
    /// exports a statement's result (`duckdb_to_arrow_schema`, then `duckdb_data_chunk_to_arrow`
    /// per chunk, with the Arrow options of the connection at query time): the batches a read
    /// through [`Lake::connection`](crate::Lake::connection) with the same settings returns.
    pub(crate) fn query_arrow(
        &self,
        sql: &str,
    ) -> std::result::Result<(SchemaRef, Vec<RecordBatch>), DuckDbError> {
        self.query(sql, |result| {
            // SAFETY: `result` holds a successful query's result, which outlives the export.
            unsafe { super::arrow_result::export_result(result) }
        })?
    }

    /// The C API handle, for the streaming results of this connection
    /// ([`StreamingResult`](super::arrow_result::StreamingResult)).
    pub(crate) fn handle(&self) -> ffi::duckdb_connection {
        self.con
    }

    fn query<T>(
        &self,
        sql: &str,
        read: impl FnOnce(&mut ffi::duckdb_result) -> T,
    ) -> std::result::Result<T, DuckDbError> {
        let c_sql = CString::new(sql).map_err(|e| DuckDbError::untyped(e.to_string()))?;
        // SAFETY: a zeroed duckdb_result is the documented initial state; it is destroyed below
        // whatever the outcome.
        unsafe {
            let mut result: ffi::duckdb_result = std::mem::zeroed();
            let state = ffi::duckdb_query(self.con, c_sql.as_ptr(), &mut result);
            let outcome = if state == ffi::DuckDBSuccess {
                Ok(read(&mut result))
            } else {
                let msg = ffi::duckdb_result_error(&mut result);
                let msg = if msg.is_null() {
                    "unknown error".to_owned()
                } else {
                    CStr::from_ptr(msg).to_string_lossy().into_owned()
                };
                Err(DuckDbError::typed(
                    ffi::duckdb_result_error_type(&mut result),
                    msg,
                ))
            };
            ffi::duckdb_destroy_result(&mut result);
            outcome
        }
    }

    /// Register `stream` as the temporary view `view`. The stream must outlive every query of the
    /// view, and can be scanned once.
    pub(crate) fn register_arrow_stream(
        &self,
        view: &Ident,
        stream: &mut FFI_ArrowArrayStream,
    ) -> std::result::Result<(), DuckDbError> {
        let name = CString::new(view.as_str()).expect("identifiers hold no NUL");
        // SAFETY: the stream is a valid Arrow C stream owned by the caller for the view's lifetime.
        let state = unsafe {
            ffi::duckdb_arrow_scan(
                self.con,
                name.as_ptr(),
                (stream as *mut FFI_ArrowArrayStream).cast(),
            )
        };
        if state == ffi::DuckDBSuccess {
            Ok(())
        } else {
            Err(DuckDbError::untyped(format!(
                "could not register an Arrow stream as view {view}"
            )))
        }
    }
}

/// The error for a column of `result` whose values DuckDB's C API cannot render as text.
///
/// # Safety
/// `result` must hold a successful query's result with more than `column` columns.
unsafe fn unreadable_column(result: &mut ffi::duckdb_result, column: u64) -> DuckDbError {
    // SAFETY: per this function's contract.
    let name = unsafe { ffi::duckdb_column_name(result, column) };
    let name = if name.is_null() {
        format!("#{column}")
    } else {
        // SAFETY: a non-null column name is a NUL-terminated string owned by the result.
        unsafe { CStr::from_ptr(name) }
            .to_string_lossy()
            .into_owned()
    };
    // SAFETY: per this function's contract.
    let type_id = unsafe { ffi::duckdb_column_type(result, column) };
    DuckDbError::untyped(format!(
        "column {name:?} (DuckDB type id {type_id}) cannot be read as text through DuckDB's C \
         API; the query must cast it to VARCHAR"
    ))
}

/// An Arrow C stream of `reader` for [`RawConnection::register_arrow_stream`], whose schema
/// DuckDB cannot leak.
///
/// DuckDB's `duckdb_arrow_scan` (1.5.5) fetches the stream's schema and never releases it: with
/// arrow-rs's stream, a schema exported afresh (its names, formats and children) is lost on every
/// registration. This stream exports its schema once, owns it, and hands out copies whose release
/// does nothing; the schema is freed with the stream.
pub(crate) fn scan_stream(
    reader: Box<dyn RecordBatchReader + Send>,
) -> std::result::Result<FFI_ArrowArrayStream, ArrowError> {
    let schema = FFI_ArrowSchema::try_from(reader.schema().as_ref() as &Schema)?;
    let private = Box::new(ScanStream {
        inner: FFI_ArrowArrayStream::new(reader),
        schema,
    });
    Ok(FFI_ArrowArrayStream {
        get_schema: Some(scan_get_schema),
        get_next: Some(scan_get_next),
        get_last_error: Some(scan_get_last_error),
        release: Some(scan_release),
        private_data: Box::into_raw(private).cast(),
    })
}

/// The private data of a [`scan_stream`].
struct ScanStream {
    inner: FFI_ArrowArrayStream,
    schema: FFI_ArrowSchema,
}

/// A copy of the owned schema, released by doing nothing (the stream owns it).
unsafe extern "C" fn scan_get_schema(
    stream: *mut FFI_ArrowArrayStream,
    out: *mut FFI_ArrowSchema,
) -> std::os::raw::c_int {
    // SAFETY: `stream` is a live `scan_stream` (its private data a `ScanStream`), and `out` points
    // to writable space for a schema; the copy borrows the owned schema's memory, which lives as
    // long as the stream, longer than any use DuckDB makes of it.
    unsafe {
        let private = &*((*stream).private_data as *const ScanStream);
        ptr::copy_nonoverlapping(&private.schema, out, 1);
        (*out).release = Some(release_nothing);
    }
    0
}

unsafe extern "C" fn release_nothing(schema: *mut FFI_ArrowSchema) {
    // SAFETY: a schema copied by `scan_get_schema`; marking it released is all there is to do.
    unsafe { (*schema).release = None };
}

unsafe extern "C" fn scan_get_next(
    stream: *mut FFI_ArrowArrayStream,
    out: *mut arrow::ffi::FFI_ArrowArray,
) -> std::os::raw::c_int {
    // SAFETY: `stream` is a live `scan_stream`; the call is passed on to arrow-rs's stream.
    unsafe {
        let private = &mut *((*stream).private_data as *mut ScanStream);
        let next = private
            .inner
            .get_next
            .expect("arrow-rs streams have get_next");
        next(&mut private.inner, out)
    }
}

unsafe extern "C" fn scan_get_last_error(
    stream: *mut FFI_ArrowArrayStream,
) -> *const std::os::raw::c_char {
    // SAFETY: `stream` is a live `scan_stream`; the call is passed on to arrow-rs's stream.
    unsafe {
        let private = &mut *((*stream).private_data as *mut ScanStream);
        match private.inner.get_last_error {
            Some(f) => f(&mut private.inner),
            None => ptr::null(),
        }
    }
}

unsafe extern "C" fn scan_release(stream: *mut FFI_ArrowArrayStream) {
    // SAFETY: `stream` is a `scan_stream` released once: its private data is freed here (the
    // inner stream and the owned schema release themselves when dropped).
    unsafe {
        if stream.is_null() || (*stream).private_data.is_null() {
            return;
        }
        drop(Box::from_raw((*stream).private_data as *mut ScanStream));
        (*stream).private_data = ptr::null_mut();
        (*stream).release = None;
    }
}

impl Drop for RawConnection {
    fn drop(&mut self) {
        // SAFETY: connected in `connect_raw`, disconnected once here.
        unsafe { ffi::duckdb_disconnect(&mut self.con) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array, RecordBatch, RecordBatchIterator};

    /// The process's resident memory in bytes (Linux).
    fn rss() -> u64 {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
        pages * 4096
    }

    /// Alone in a child process: the resident memory of a process running other tests at the
    /// same time says nothing.
    #[test]
    fn registering_arrow_streams_does_not_grow_memory() {
        const NAME: &str = "lake::database::tests::registering_arrow_streams_does_not_grow_memory";
        if !crate::test_support::is_child(NAME) {
            crate::test_support::run_in_child(NAME, &[]);
            return;
        }
        let db = Database::open(&[("threads", "1".into())]).unwrap();
        let conn = db.connect_raw().unwrap();
        let columns: Vec<(String, ArrayRef)> = (0..100)
            .map(|i| {
                let column: ArrayRef = Arc::new(Int64Array::from(vec![i as i64]));
                (format!("a_column_with_a_long_name_{i}"), column)
            })
            .collect();
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let view = Ident::new("v").unwrap();
        let register = || {
            let reader = RecordBatchIterator::new([Ok(batch.clone())], batch.schema());
            let mut stream = Box::new(scan_stream(Box::new(reader)).unwrap());
            conn.register_arrow_stream(&view, &mut stream).unwrap();
            conn.execute("DROP VIEW v").unwrap();
        };
        for _ in 0..500 {
            register();
        }
        let before = rss();
        for _ in 0..5_000 {
            register();
        }
        let grown = rss().saturating_sub(before);
        println!("5,000 registrations of a 100-column stream: RSS grew {grown} bytes");
        assert!(
            grown < 8 << 20,
            "5,000 registrations grew the resident memory by {grown} bytes"
        );
    }
}
