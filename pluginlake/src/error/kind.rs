//! [`ErrorKind`]: what the caller of a failed call should do, decided from the error's type
//! (never from its message text).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::duckdb::DuckDbErrorType;
use super::{BoxError, Error};

/// What the caller of a failed call should do about it.
///
/// Every [`Error`] has one ([`Error::kind`]), looked up through wrapped errors (an asset that
/// failed because its input could not be loaded has the kind of the load's error). The HTTP
/// server maps kinds to status codes and workers decide retries from them, never from message
/// text.
///
/// | kind | meaning | retry? | HTTP |
/// |---|---|---|---|
/// | `BadInput` | the input or configuration is wrong (the error says what and where) | no: fix the input | 400 |
/// | `NotFound` | a table, run or snapshot asked for does not exist | no | 404 |
/// | `Conflict` | another writer or a state change got in the way | yes, it may work | 409 |
/// | `Environment` | a component is down or failing: database, disk, network, permissions | later, or fix the environment | 503 |
/// | `Internal` | a bug (in pluginlake, DuckDB, or an asset's own code) | no: report it | 500 |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller's input or configuration is wrong; the same call fails again until it is fixed.
    BadInput,
    /// Something asked for does not exist.
    NotFound,
    /// Another writer or a state change got in the way; retrying may work.
    Conflict,
    /// A component the call needs is down or failing (database, disk, network, permissions).
    Environment,
    /// A fault that is nobody's input: a bug to report.
    Internal,
}

impl ErrorKind {
    /// The kind's name: `bad_input`, `not_found`, `conflict`, `environment` or `internal`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadInput => "bad_input",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Environment => "environment",
            ErrorKind::Internal => "internal",
        }
    }

    /// True for the kinds where the same call may succeed later: `Conflict` and `Environment`.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::Conflict | ErrorKind::Environment)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// What the caller should do about this error (see [`ErrorKind`]); wrapped errors (an
    /// asset's input, an asset's own `pluginlake::Error`, the run store's database error) decide
    /// for the error that wraps them.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidKey(_)
            | Error::InvalidData { .. }
            | Error::UnsupportedType { .. }
            | Error::Parse { .. }
            | Error::Config(_)
            | Error::InvalidRunId(_)
            | Error::InvalidPartition { .. }
            | Error::Graph(_)
            | Error::Selection(_) => ErrorKind::BadInput,
            Error::TableNotFound { .. } | Error::RunNotFound(_) => ErrorKind::NotFound,
            Error::IllegalTransition { .. }
            | Error::ClaimLost { .. }
            | Error::NotResubmittable { .. }
            | Error::IdempotencyConflict { .. } => ErrorKind::Conflict,
            Error::Extension(_) | Error::CommitOutcomeUnknown { .. } => ErrorKind::Environment,
            Error::DuckDb { source, .. } => {
                source.error_type().map_or(ErrorKind::Internal, duckdb_kind)
            }
            Error::Polars { source, .. } => match source {
                polars::error::PolarsError::IO { .. } => ErrorKind::Environment,
                _ => ErrorKind::BadInput,
            },
            Error::Arrow { source, .. } => match source {
                arrow::error::ArrowError::IoError(..)
                | arrow::error::ArrowError::MemoryError(_) => ErrorKind::Environment,
                _ => ErrorKind::BadInput,
            },
            Error::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => ErrorKind::NotFound,
                _ => ErrorKind::Environment,
            },
            Error::RunStore { source, .. } => {
                source.as_ref().map_or(ErrorKind::Internal, store_kind)
            }
            Error::Input { source, .. } => source.kind(),
            Error::Asset { source, .. } => boxed_kind(source),
            Error::Task(_) | Error::Panic { .. } | Error::Internal(_) => ErrorKind::Internal,
        }
    }

    /// True when the error comes from a full disk (or a full database), through any wrapping:
    /// the HTTP server answers 507 instead of 503 then.
    pub fn is_storage_full(&self) -> bool {
        match self {
            Error::Io { source, .. } => source.kind() == std::io::ErrorKind::StorageFull,
            Error::DuckDb { source, .. } => source.is_storage_full(),
            Error::RunStore {
                source: Some(source),
                ..
            } => source
                .downcast_ref::<sqlx::Error>()
                .is_some_and(sqlx_storage_full),
            Error::Input { source, .. } => source.is_storage_full(),
            Error::Asset { source, .. } => source
                .downcast_ref::<Error>()
                .is_some_and(Error::is_storage_full),
            _ => false,
        }
    }
}

/// An asset's own error: a `pluginlake::Error` has its own kind, an I/O error is the
/// environment's, anything else is a fault in the asset's code.
fn boxed_kind(source: &BoxError) -> ErrorKind {
    if let Some(e) = source.downcast_ref::<Error>() {
        e.kind()
    } else if source.downcast_ref::<std::io::Error>().is_some() {
        ErrorKind::Environment
    } else {
        ErrorKind::Internal
    }
}

/// DuckDB's error types (`duckdb_result_error_type`) by what the caller can do.
fn duckdb_kind(t: DuckDbErrorType) -> ErrorKind {
    use DuckDbErrorType as T;
    match t {
        T::Transaction => ErrorKind::Conflict,
        T::Catalog => ErrorKind::NotFound,
        T::Io
        | T::Connection
        | T::Network
        | T::Http
        | T::OutOfMemory
        | T::Permission
        | T::Interrupt
        | T::MissingExtension
        | T::Autoload => ErrorKind::Environment,
        T::Constraint
        | T::Conversion
        | T::OutOfRange
        | T::MismatchType
        | T::InvalidInput
        | T::InvalidType
        | T::Parser
        | T::Syntax
        | T::Binder
        | T::DivideByZero
        | T::Decimal
        | T::Settings
        | T::InvalidConfiguration
        | T::ParameterNotResolved
        | T::ParameterNotAllowed => ErrorKind::BadInput,
        T::Other => ErrorKind::Internal,
    }
}

/// The run store's database errors: conflicts (lock, serialization, unique key) may go away
/// on retry, a missing row is not found, a malformed answer is a bug, the rest is the
/// database's environment (down, full, no permission, migration).
fn store_kind(source: &BoxError) -> ErrorKind {
    let Some(e) = source.downcast_ref::<sqlx::Error>() else {
        return if source
            .downcast_ref::<sqlx::migrate::MigrateError>()
            .is_some()
        {
            ErrorKind::Environment
        } else {
            ErrorKind::Internal
        };
    };
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // PostgreSQL: serialization failure, deadlock, unique violation; SQLite: busy,
            // locked (primary codes 5 and 6, possibly extended), unique constraint (2067, 1555).
            let conflict = matches!(&*code, "40001" | "40P01" | "23505" | "2067" | "1555")
                || code.parse::<u32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6));
            if conflict {
                ErrorKind::Conflict
            } else {
                ErrorKind::Environment
            }
        }
        sqlx::Error::RowNotFound => ErrorKind::NotFound,
        sqlx::Error::Protocol(_)
        | sqlx::Error::TypeNotFound { .. }
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Encode(_)
        | sqlx::Error::Decode(_) => ErrorKind::Internal,
        _ => ErrorKind::Environment,
    }
}

/// A database that is full: SQLite's `SQLITE_FULL` (13), PostgreSQL's `disk_full` (53100), or
/// a socket error saying so.
fn sqlx_storage_full(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("13" | "53100")),
        sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::StorageFull,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::key::AssetKey;

    fn asset_error(source: BoxError) -> Error {
        Error::Asset {
            key: AssetKey::parse("a"),
            source,
        }
    }

    #[test]
    fn an_input_that_could_not_be_loaded_has_the_kind_of_the_load() {
        let e = Error::Input {
            asset: AssetKey::parse("b"),
            input: AssetKey::parse("a"),
            source: Box::new(Error::TableNotFound {
                table: "main.a".into(),
                snapshot: None,
            }),
        };
        assert_eq!(e.kind(), ErrorKind::NotFound);
    }

    #[test]
    fn an_asset_error_is_classified_by_its_type() {
        assert_eq!(
            asset_error(Box::new(Error::Config("x".into()))).kind(),
            ErrorKind::BadInput
        );
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(asset_error(Box::new(io)).kind(), ErrorKind::Environment);
        assert_eq!(asset_error("a bug".into()).kind(), ErrorKind::Internal);
    }

    #[test]
    fn a_full_disk_is_storage_full_through_wrapping() {
        let full = Error::io(
            "/data",
            std::io::Error::from(std::io::ErrorKind::StorageFull),
        );
        assert!(full.is_storage_full());
        assert_eq!(full.kind(), ErrorKind::Environment);
        assert!(asset_error(Box::new(full)).is_storage_full());
        let denied = Error::io(
            "/data",
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        );
        assert!(!denied.is_storage_full());
    }

    #[test]
    fn a_duckdb_transaction_conflict_is_a_conflict() {
        let db = crate::lake::database::Database::open(&[]).unwrap();
        let (first, second) = (db.connect_raw().unwrap(), db.connect_raw().unwrap());
        first
            .execute("CREATE TABLE t (i INTEGER); INSERT INTO t VALUES (1)")
            .unwrap();
        first.execute("BEGIN TRANSACTION").unwrap();
        second.execute("BEGIN TRANSACTION").unwrap();
        first.execute("UPDATE t SET i = 2").unwrap();
        let source = second.execute("UPDATE t SET i = 3").unwrap_err();
        let e = Error::DuckDb {
            context: "updating t".into(),
            source,
        };
        assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    }
}
