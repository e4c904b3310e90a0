//! [`DuckDbError`]: an error DuckDB reported, with DuckDB's error type.

use duckdb::ffi;

use crate::lake::redact::redact;

/// An error DuckDB reported: its message, and its error type (catalog, transaction, I/O, ...),
/// from which [`Error::kind`](super::Error::kind) is decided.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct DuckDbError {
    message: String,
    error_type: Option<DuckDbErrorType>,
}

impl DuckDbError {
    /// DuckDB's message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// An error of the C API, with the type `duckdb_result_error_type` gave. Passwords in the
    /// message (DuckDB quotes connection strings it cannot connect with) are redacted.
    pub(crate) fn typed(error_type: ffi::duckdb_error_type, message: String) -> Self {
        DuckDbError {
            message: redact(&message),
            error_type: Some(DuckDbErrorType::from_c(error_type)),
        }
    }

    /// An error pluginlake detected at the C API boundary (no DuckDB error type).
    pub(crate) fn untyped(message: impl Into<String>) -> Self {
        DuckDbError {
            message: redact(&message.into()),
            error_type: None,
        }
    }

    /// DuckDB's error type, when known.
    pub(crate) fn error_type(&self) -> Option<DuckDbErrorType> {
        self.error_type
    }

    /// An I/O error of a full disk (the operating system's text for `ENOSPC`: DuckDB passes no
    /// error number on).
    pub(crate) fn is_storage_full(&self) -> bool {
        self.error_type == Some(DuckDbErrorType::Io)
            && self.message.contains("No space left on device")
    }
}

impl From<duckdb::Error> for DuckDbError {
    /// duckdb-rs keeps only the message of a failed statement, not its error type; DuckDB starts
    /// every message with the type's name (`Catalog Error: ...`), which is read back here. Paths
    /// whose kind matters (the write path, attaching the catalog, a failed read) use the C API's
    /// typed errors instead. Passwords in the message are redacted.
    fn from(e: duckdb::Error) -> Self {
        let message = redact(&e.to_string());
        let error_type = match &e {
            duckdb::Error::DuckDBFailure(..) => message
                .split_once(" Error: ")
                .and_then(|(name, _)| DuckDbErrorType::from_name(name)),
            _ => None,
        };
        DuckDbError {
            message,
            error_type,
        }
    }
}

/// The error types of DuckDB's C API (`duckdb_error_type`) that decide an error's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DuckDbErrorType {
    Transaction,
    Catalog,
    Io,
    Connection,
    Network,
    Http,
    OutOfMemory,
    Permission,
    Interrupt,
    MissingExtension,
    Autoload,
    Constraint,
    Conversion,
    OutOfRange,
    MismatchType,
    InvalidInput,
    InvalidType,
    Parser,
    Syntax,
    Binder,
    DivideByZero,
    Decimal,
    Settings,
    InvalidConfiguration,
    ParameterNotResolved,
    ParameterNotAllowed,
    /// Internal, fatal, not implemented, serialization, ...: faults, not input.
    Other,
}

/// DuckDB's names of the types (its `Exception::ExceptionTypeToString`), as they start messages.
const NAMES: &[(&str, DuckDbErrorType)] = &[
    ("TransactionContext", DuckDbErrorType::Transaction),
    ("Catalog", DuckDbErrorType::Catalog),
    ("IO", DuckDbErrorType::Io),
    ("Connection", DuckDbErrorType::Connection),
    ("Network", DuckDbErrorType::Network),
    ("HTTP", DuckDbErrorType::Http),
    ("Out of Memory", DuckDbErrorType::OutOfMemory),
    ("Permission", DuckDbErrorType::Permission),
    ("INTERRUPT", DuckDbErrorType::Interrupt),
    ("Missing Extension", DuckDbErrorType::MissingExtension),
    ("Extension Autoloading", DuckDbErrorType::Autoload),
    ("Constraint", DuckDbErrorType::Constraint),
    ("Conversion", DuckDbErrorType::Conversion),
    ("Out of Range", DuckDbErrorType::OutOfRange),
    ("Mismatch Type", DuckDbErrorType::MismatchType),
    ("Invalid Input", DuckDbErrorType::InvalidInput),
    ("Invalid type", DuckDbErrorType::InvalidType),
    ("Parser", DuckDbErrorType::Parser),
    ("Syntax", DuckDbErrorType::Syntax),
    ("Binder", DuckDbErrorType::Binder),
    ("Divide by Zero", DuckDbErrorType::DivideByZero),
    ("Decimal", DuckDbErrorType::Decimal),
    ("Settings", DuckDbErrorType::Settings),
    (
        "Invalid Configuration",
        DuckDbErrorType::InvalidConfiguration,
    ),
    (
        "Parameter Not Resolved",
        DuckDbErrorType::ParameterNotResolved,
    ),
    (
        "Parameter Not Allowed",
        DuckDbErrorType::ParameterNotAllowed,
    ),
];

impl DuckDbErrorType {
    fn from_c(t: ffi::duckdb_error_type) -> Self {
        use DuckDbErrorType as T;
        match t {
            ffi::duckdb_error_type_DUCKDB_ERROR_TRANSACTION => T::Transaction,
            ffi::duckdb_error_type_DUCKDB_ERROR_CATALOG => T::Catalog,
            ffi::duckdb_error_type_DUCKDB_ERROR_IO => T::Io,
            ffi::duckdb_error_type_DUCKDB_ERROR_CONNECTION => T::Connection,
            ffi::duckdb_error_type_DUCKDB_ERROR_NETWORK => T::Network,
            ffi::duckdb_error_type_DUCKDB_ERROR_HTTP => T::Http,
            ffi::duckdb_error_type_DUCKDB_ERROR_OUT_OF_MEMORY => T::OutOfMemory,
            ffi::duckdb_error_type_DUCKDB_ERROR_PERMISSION => T::Permission,
            ffi::duckdb_error_type_DUCKDB_ERROR_INTERRUPT => T::Interrupt,
            ffi::duckdb_error_type_DUCKDB_ERROR_MISSING_EXTENSION => T::MissingExtension,
            ffi::duckdb_error_type_DUCKDB_ERROR_AUTOLOAD => T::Autoload,
            ffi::duckdb_error_type_DUCKDB_ERROR_CONSTRAINT => T::Constraint,
            ffi::duckdb_error_type_DUCKDB_ERROR_CONVERSION => T::Conversion,
            ffi::duckdb_error_type_DUCKDB_ERROR_OUT_OF_RANGE => T::OutOfRange,
            ffi::duckdb_error_type_DUCKDB_ERROR_MISMATCH_TYPE => T::MismatchType,
            ffi::duckdb_error_type_DUCKDB_ERROR_INVALID_INPUT => T::InvalidInput,
            ffi::duckdb_error_type_DUCKDB_ERROR_INVALID_TYPE => T::InvalidType,
            ffi::duckdb_error_type_DUCKDB_ERROR_PARSER => T::Parser,
            ffi::duckdb_error_type_DUCKDB_ERROR_SYNTAX => T::Syntax,
            ffi::duckdb_error_type_DUCKDB_ERROR_BINDER => T::Binder,
            ffi::duckdb_error_type_DUCKDB_ERROR_DIVIDE_BY_ZERO => T::DivideByZero,
            ffi::duckdb_error_type_DUCKDB_ERROR_DECIMAL => T::Decimal,
            ffi::duckdb_error_type_DUCKDB_ERROR_SETTINGS => T::Settings,
            ffi::duckdb_error_type_DUCKDB_INVALID_CONFIGURATION => T::InvalidConfiguration,
            ffi::duckdb_error_type_DUCKDB_ERROR_PARAMETER_NOT_RESOLVED => T::ParameterNotResolved,
            ffi::duckdb_error_type_DUCKDB_ERROR_PARAMETER_NOT_ALLOWED => T::ParameterNotAllowed,
            _ => T::Other,
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        NAMES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duckdb_rs_message_keeps_its_type() {
        let conn = duckdb::Connection::open_in_memory().unwrap();
        let e = DuckDbError::from(conn.execute_batch("SELECT * FROM nowhere").unwrap_err());
        assert_eq!(e.error_type(), Some(DuckDbErrorType::Catalog), "{e}");
        let e = DuckDbError::from(conn.execute_batch("SELEC 1").unwrap_err());
        assert_eq!(e.error_type(), Some(DuckDbErrorType::Parser), "{e}");
    }
}
