//! The DuckDB database behind a lake, and raw connections for the write path.
//!
//! pluginlake opens DuckDB through its C API so that one database can hand out both duckdb-rs
//! [`Connection`]s (queries) and raw connections that can scan an Arrow C stream with DuckDB's
//! own, complete Arrow reader (the write path for small frames).

use std::ffi::{CStr, CString};
use std::ptr;

use arrow::ffi_stream::FFI_ArrowArrayStream;
use duckdb::{ffi, Connection};

use crate::error::{DuckDbError, Error, Result};
use crate::lake::sql::Ident;

/// An open DuckDB database (in memory; the lake itself is attached to it). Closed on drop.
pub(crate) struct Database {
    raw: ffi::duckdb_database,
}

// SAFETY: a duckdb_database is a thread-safe handle (DuckDB's DatabaseInstance); connections to it
// may be created from any thread.
unsafe impl Send for Database {}
unsafe impl Sync for Database {}

impl Database {
    /// Open an in-memory DuckDB with the given settings (applied before any extension loads).
    pub(crate) fn open(settings: &[(&str, String)]) -> Result<Self> {
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
            Ok(Database { raw: db })
        }
    }

    /// A new duckdb-rs connection to this database.
    pub(crate) fn connect(&self) -> Result<Connection> {
        // SAFETY: `raw` is open for as long as `self` lives, and duckdb-rs does not close a
        // database it did not open; connections keep DuckDB's instance alive on their own.
        unsafe { Connection::open_from_raw(self.raw) }.map_err(|source| Error::DuckDb {
            context: "connecting to DuckDB".into(),
            source: source.into(),
        })
    }

    /// A new raw connection to this database.
    pub(crate) fn connect_raw(&self) -> Result<RawConnection> {
        let mut con: ffi::duckdb_connection = ptr::null_mut();
        // SAFETY: `raw` is a valid open database.
        let state = unsafe { ffi::duckdb_connect(self.raw, &mut con) };
        if state != ffi::DuckDBSuccess {
            return Err(Error::DuckDb {
                context: "connecting to DuckDB".into(),
                source: DuckDbError::untyped("duckdb_connect failed"),
            });
        }
        Ok(RawConnection { con })
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
}

// SAFETY: a DuckDB connection may move between threads; it is never used by two at once (no Sync).
unsafe impl Send for RawConnection {}

impl RawConnection {
    /// Run one statement, discarding its result.
    pub(crate) fn execute(&self, sql: &str) -> std::result::Result<(), DuckDbError> {
        self.query(sql, |_| ())
    }

    /// Run one query and return its rows as text (NULL as `None`); for small results.
    pub(crate) fn query_text(
        &self,
        sql: &str,
    ) -> std::result::Result<Vec<Vec<Option<String>>>, DuckDbError> {
        self.query(sql, |result| {
            // SAFETY: `result` holds a successful query's result; values are read within its
            // bounds and every string DuckDB allocates is freed.
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
                                    return None;
                                }
                                let v = ffi::duckdb_value_varchar(result, c, r);
                                let text = CStr::from_ptr(v).to_string_lossy().into_owned();
                                ffi::duckdb_free(v.cast());
                                Some(text)
                            })
                            .collect()
                    })
                    .collect()
            }
        })
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

impl Drop for RawConnection {
    fn drop(&mut self) {
        // SAFETY: connected in `connect_raw`, disconnected once here.
        unsafe { ffi::duckdb_disconnect(&mut self.con) };
    }
}
