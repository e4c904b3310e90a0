//! Query results of DuckDB's C API as Arrow record batches: all at once
//! ([`RawConnection::query_arrow`]), or streamed chunk by chunk ([`StreamingResult`]), exported
//! exactly as duckdb-rs exports a statement's result (`duckdb_to_arrow_schema`, then
//! `duckdb_data_chunk_to_arrow` per chunk, with the connection's Arrow options at query time).

use std::ffi::{CStr, CString};
use std::os::raw::c_char;
use std::ptr;
use std::sync::Arc;

use arrow::array::{RecordBatch, StructArray};
use arrow::datatypes::{Schema, SchemaRef};
use arrow::ffi::{FFI_ArrowArray, FFI_ArrowSchema};
use duckdb::ffi;

use super::database::RawConnection;
use crate::error::DuckDbError;

/// How a result's chunks become record batches: its Arrow options and schema.
struct ArrowExport {
    options: ffi::duckdb_arrow_options,
    c_schema: FFI_ArrowSchema,
    schema: SchemaRef,
}

impl ArrowExport {
    /// The export of `result`'s chunks.
    ///
    /// # Safety
    /// `result` is a successful query's result, which outlives the export.
    unsafe fn new(result: &mut ffi::duckdb_result) -> Result<Self, DuckDbError> {
        // SAFETY: per this function's contract; the logical types are destroyed here, column
        // names live as long as the result.
        unsafe {
            let mut options = ffi::duckdb_result_get_arrow_options(result);
            if options.is_null() {
                return Err(DuckDbError::untyped(
                    "DuckDB gave no Arrow options for a result",
                ));
            }
            let columns = ffi::duckdb_column_count(result);
            let mut types: Vec<ffi::duckdb_logical_type> = (0..columns)
                .map(|c| ffi::duckdb_column_logical_type(result, c))
                .collect();
            let mut names: Vec<*const c_char> = (0..columns)
                .map(|c| ffi::duckdb_column_name(result, c))
                .collect();
            let mut c_schema = FFI_ArrowSchema::empty();
            let exported = error_data(ffi::duckdb_to_arrow_schema(
                options,
                types.as_mut_ptr(),
                names.as_mut_ptr(),
                columns,
                (&mut c_schema as *mut FFI_ArrowSchema).cast(),
            ));
            for t in &mut types {
                ffi::duckdb_destroy_logical_type(t);
            }
            let schema = exported.and_then(|()| {
                Schema::try_from(&c_schema)
                    .map(Arc::new)
                    .map_err(import_error)
            });
            match schema {
                Ok(schema) => Ok(ArrowExport {
                    options,
                    c_schema,
                    schema,
                }),
                Err(e) => {
                    ffi::duckdb_destroy_arrow_options(&mut options);
                    Err(e)
                }
            }
        }
    }

    /// The record batch of `chunk`, which is destroyed.
    ///
    /// # Safety
    /// `chunk` is a live data chunk of the result this export was made for.
    unsafe fn batch(&self, mut chunk: ffi::duckdb_data_chunk) -> Result<RecordBatch, DuckDbError> {
        // SAFETY: per this function's contract; the Arrow array is handed to arrow-rs, which
        // releases it.
        unsafe {
            let mut c_array = FFI_ArrowArray::empty();
            let converted = error_data(ffi::duckdb_data_chunk_to_arrow(
                self.options,
                chunk,
                (&mut c_array as *mut FFI_ArrowArray).cast(),
            ));
            ffi::duckdb_destroy_data_chunk(&mut chunk);
            converted?;
            let data = arrow::ffi::from_ffi(c_array, &self.c_schema).map_err(import_error)?;
            RecordBatch::from(StructArray::from(data))
                .with_schema(self.schema.clone())
                .map_err(import_error)
        }
    }
}

impl Drop for ArrowExport {
    fn drop(&mut self) {
        // SAFETY: obtained in `new`, destroyed once here.
        unsafe { ffi::duckdb_destroy_arrow_options(&mut self.options) };
    }
}

fn import_error(e: arrow::error::ArrowError) -> DuckDbError {
    DuckDbError::untyped(format!("importing DuckDB's Arrow result: {e}"))
}

/// The next chunk of `result`: `None` at its end; an error the result holds (a failure while
/// executing a streaming query) is returned.
///
/// # Safety
/// `result` is a successful query's result.
unsafe fn next_chunk(
    result: &mut ffi::duckdb_result,
) -> Result<Option<ffi::duckdb_data_chunk>, DuckDbError> {
    // SAFETY: per this function's contract.
    unsafe {
        let mut chunk = ffi::duckdb_fetch_chunk(*result);
        if !chunk.is_null() && ffi::duckdb_data_chunk_get_size(chunk) > 0 {
            return Ok(Some(chunk));
        }
        if !chunk.is_null() {
            ffi::duckdb_destroy_data_chunk(&mut chunk);
        }
        let message = ffi::duckdb_result_error(result);
        if message.is_null() {
            return Ok(None);
        }
        Err(DuckDbError::typed(
            ffi::duckdb_result_error_type(result),
            CStr::from_ptr(message).to_string_lossy().into_owned(),
        ))
    }
}

/// The schema and batches of `result` (see [`RawConnection::query_arrow`]).
///
/// # Safety
/// `result` is a successful query's result.
pub(super) unsafe fn export_result(
    result: &mut ffi::duckdb_result,
) -> Result<(SchemaRef, Vec<RecordBatch>), DuckDbError> {
    // SAFETY: per this function's contract; the export is dropped before the result.
    unsafe {
        let export = ArrowExport::new(result)?;
        let mut batches = Vec::new();
        while let Some(chunk) = next_chunk(result)? {
            batches.push(export.batch(chunk)?);
        }
        Ok((export.schema.clone(), batches))
    }
}

/// A query streamed by DuckDB: chunks are computed as they are fetched, so the memory held is
/// DuckDB's streaming buffer and the chunk in hand, not the result. It owns its connection.
pub(crate) struct StreamingResult {
    // Field order is drop order: the export and the result go before the statement, and all of
    // them before the connection (whose Drop disconnects it).
    export: ArrowExport,
    result: ffi::duckdb_result,
    prepared: ffi::duckdb_prepared_statement,
    _conn: RawConnection,
    finished: bool,
}

// SAFETY: the handles belong to one connection, which may move between threads; they are never
// used by two threads at once (no Sync).
unsafe impl Send for StreamingResult {}

impl StreamingResult {
    /// Start streaming the query `sql` on `conn`.
    pub(crate) fn open(conn: RawConnection, sql: &str) -> Result<Self, DuckDbError> {
        let c_sql = CString::new(sql).map_err(|e| DuckDbError::untyped(e.to_string()))?;
        // SAFETY: the statement and result are destroyed on every path (here on failure, by
        // Drop otherwise); `conn` is a live connection, kept with them.
        unsafe {
            let mut prepared: ffi::duckdb_prepared_statement = ptr::null_mut();
            if ffi::duckdb_prepare(conn.handle(), c_sql.as_ptr(), &mut prepared)
                != ffi::DuckDBSuccess
            {
                let message = ffi::duckdb_prepare_error(prepared);
                let message = if message.is_null() {
                    "unknown error".to_owned()
                } else {
                    CStr::from_ptr(message).to_string_lossy().into_owned()
                };
                ffi::duckdb_destroy_prepare(&mut prepared);
                // The C API gives a failed prepare no error type: the query again, without rows,
                // reports it with one.
                return Err(match conn.execute(&super::sql::no_rows(sql)) {
                    Err(typed) => typed,
                    Ok(()) => DuckDbError::untyped(message),
                });
            }
            let mut result: ffi::duckdb_result = std::mem::zeroed();
            if ffi::duckdb_execute_prepared_streaming(prepared, &mut result) != ffi::DuckDBSuccess {
                let message = ffi::duckdb_result_error(&mut result);
                let error = DuckDbError::typed(
                    ffi::duckdb_result_error_type(&mut result),
                    if message.is_null() {
                        "unknown error".to_owned()
                    } else {
                        CStr::from_ptr(message).to_string_lossy().into_owned()
                    },
                );
                ffi::duckdb_destroy_result(&mut result);
                ffi::duckdb_destroy_prepare(&mut prepared);
                return Err(error);
            }
            match ArrowExport::new(&mut result) {
                Ok(export) => Ok(StreamingResult {
                    export,
                    result,
                    prepared,
                    _conn: conn,
                    finished: false,
                }),
                Err(e) => {
                    ffi::duckdb_destroy_result(&mut result);
                    ffi::duckdb_destroy_prepare(&mut prepared);
                    Err(e)
                }
            }
        }
    }

    /// The Arrow schema of the batches.
    pub(crate) fn schema(&self) -> &SchemaRef {
        &self.export.schema
    }

    /// The next batch; `None` at the end, and after an error.
    pub(crate) fn next_batch(&mut self) -> Option<Result<RecordBatch, DuckDbError>> {
        if self.finished {
            return None;
        }
        // SAFETY: `result` is the successful result the export was made for, alive until Drop.
        let next = unsafe { next_chunk(&mut self.result) }
            .and_then(|chunk| chunk.map(|c| unsafe { self.export.batch(c) }).transpose());
        match next {
            Ok(Some(batch)) => Some(Ok(batch)),
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(e) => {
                self.finished = true;
                Some(Err(e))
            }
        }
    }
}

impl Drop for StreamingResult {
    fn drop(&mut self) {
        // SAFETY: made in `open`, destroyed once here (the export's options are destroyed by its
        // own Drop, which runs after this and needs neither).
        unsafe {
            ffi::duckdb_destroy_result(&mut self.result);
            ffi::duckdb_destroy_prepare(&mut self.prepared);
        }
    }
}

/// An error of DuckDB's `duckdb_error_data`, destroyed here.
///
/// # Safety
/// `data` is null or a live error data handle.
unsafe fn error_data(mut data: ffi::duckdb_error_data) -> Result<(), DuckDbError> {
    if data.is_null() {
        return Ok(());
    }
    // SAFETY: per this function's contract.
    unsafe {
        let outcome = if ffi::duckdb_error_data_has_error(data) {
            let message = ffi::duckdb_error_data_message(data);
            let message = if message.is_null() {
                "unknown error".to_owned()
            } else {
                CStr::from_ptr(message).to_string_lossy().into_owned()
            };
            Err(DuckDbError::typed(
                ffi::duckdb_error_data_error_type(data),
                message,
            ))
        } else {
            Ok(())
        };
        ffi::duckdb_destroy_error_data(&mut data);
        outcome
    }
}
