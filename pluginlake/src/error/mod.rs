//! The crate's error type.
//!
//! Errors say what was wrong and where (which asset, which table, which column, which file), and
//! have a [kind](ErrorKind) that says what the caller should do: fix the input, look elsewhere,
//! retry, fix the environment, or report a bug.

mod duckdb;
mod kind;

use std::path::PathBuf;

pub use self::duckdb::DuckDbError;
pub(crate) use self::duckdb::DuckDbErrorType;
pub use kind::ErrorKind;

use crate::graph::{GraphError, SelectionError};
use crate::lake::key::{AssetKey, KeyError};
use crate::lake::run_id::RunId;
use crate::run::RunState;

/// Result alias used throughout pluginlake.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Any error an asset's own code returns.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in pluginlake.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An asset key that cannot be mapped to a DuckLake `schema.table`.
    #[error(transparent)]
    InvalidKey(#[from] KeyError),

    /// Data handed to the IO manager that cannot be stored as given (no columns, duplicate column
    /// names, ...). Nothing was written.
    #[error("cannot store into {table}: {reason}")]
    InvalidData {
        /// The target table (`schema.table`).
        table: String,
        /// What is wrong with the data.
        reason: String,
    },

    /// A column whose type DuckLake cannot store. Nothing was written.
    #[error(
        "cannot store column {column:?} into {table}: DuckLake cannot store Arrow type {data_type} ({hint})"
    )]
    UnsupportedType {
        /// The target table (`schema.table`).
        table: String,
        /// The offending column (a dotted path for nested fields).
        column: String,
        /// The Arrow type of the column.
        data_type: String,
        /// How to fix it.
        hint: String,
    },

    /// A table that was asked for does not exist (at the requested snapshot).
    #[error("table {table} does not exist in the lake{at}", at = .snapshot.map(|s| format!(" at snapshot {s}")).unwrap_or_default())]
    TableNotFound {
        /// The table (`schema.table`).
        table: String,
        /// The snapshot asked for, if any.
        snapshot: Option<i64>,
    },

    /// Input that could not be parsed (a malformed XML or JSON document, a bad CSV row). Nothing
    /// was written.
    #[error("cannot parse {source_name}{at}: {reason}", at = .line.map(|l| match .column {
        Some(c) => format!(" at line {l}, column {c}"),
        None => format!(" at line {l}"),
    }).unwrap_or_default())]
    Parse {
        /// What was being parsed: a file path, or a description such as "XML document 3".
        source_name: String,
        /// The 1-based line of the problem, when known.
        line: Option<u64>,
        /// The 1-based column of the problem, when known.
        column: Option<u64>,
        /// What is wrong.
        reason: String,
    },

    /// Bad configuration (environment variable, config file or builder value).
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A partition key (or range of keys) that the partitions do not have, or a time-window key
    /// in the wrong format.
    #[error("invalid partition {key:?} of column {column:?}{}: {reason}", .asset.as_ref().map(|a| format!(" (asset {a})")).unwrap_or_default())]
    InvalidPartition {
        /// The partitioned asset, when known.
        asset: Option<AssetKey>,
        /// The partition column.
        column: String,
        /// The key (or `first..=last` range) as given.
        key: String,
        /// What is wrong, and what would be right.
        reason: String,
    },

    /// No provisioning step could provide a DuckDB extension.
    #[error(transparent)]
    Extension(#[from] crate::lake::ProvisionError),

    /// A DuckDB call failed.
    #[error("DuckDB failed while {context}: {source}")]
    DuckDb {
        /// What pluginlake was doing.
        context: String,
        /// DuckDB's error.
        #[source]
        source: DuckDbError,
    },

    /// A polars operation failed.
    #[error("polars failed while {context}: {source}")]
    Polars {
        /// What pluginlake was doing.
        context: String,
        /// Polars' error.
        #[source]
        source: polars::error::PolarsError,
    },

    /// An Arrow operation failed.
    #[error("arrow failed while {context}: {source}")]
    Arrow {
        /// What pluginlake was doing.
        context: String,
        /// Arrow's error.
        #[source]
        source: arrow::error::ArrowError,
    },

    /// A file system operation failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A blocking task was cancelled or panicked.
    #[error("background task failed: {0}")]
    Task(String),

    /// Something that cannot happen did (a component answered outside its contract): a bug in
    /// pluginlake or in what it runs on. Nothing the caller did causes it.
    #[error("internal error while {0} (a bug: please report it)")]
    Internal(String),

    /// The definitions cannot form a graph (duplicate key or table, unknown dependency, cycle).
    #[error(transparent)]
    Graph(#[from] GraphError),

    /// A selection names something the graph does not have.
    #[error(transparent)]
    Selection(#[from] SelectionError),

    /// An asset's (or check's) own code returned an error.
    #[error("asset {key} failed: {source}")]
    Asset {
        /// The asset.
        key: AssetKey,
        /// The error the code returned.
        #[source]
        source: BoxError,
    },

    /// An asset's (or check's) code panicked.
    #[error("asset {key} panicked: {message}")]
    Panic {
        /// The asset.
        key: AssetKey,
        /// The panic message.
        message: String,
    },

    /// The run store failed (database unreachable, migration, query).
    #[error("run store failed while {context}{}", .source.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    RunStore {
        /// What pluginlake was doing.
        context: String,
        /// The database's error.
        #[source]
        source: Option<BoxError>,
    },

    /// Text that is not a run id.
    #[error(
        "{0:?} is not a run id: run ids are UUIDs such as 0190b3f4-7a1c-7d2e-8f00-1c2b3a4d5e6f"
    )]
    InvalidRunId(String),

    /// No run has this id.
    #[error("no run has id {0}")]
    RunNotFound(RunId),

    /// An idempotency key used again, while it holds, with another request than the one its
    /// run was submitted with: the client reused a key for a different request.
    #[error("the idempotency key was used for run {run} with another request; use a new key for a new request")]
    IdempotencyConflict {
        /// The run the key was first used for.
        run: RunId,
    },

    /// A run state change the state machine does not allow (queued -> started ->
    /// success | failure | canceled; queued -> canceled).
    #[error("run {run} cannot move from {from} to {to} (only from {})", or_list(.allowed_from))]
    IllegalTransition {
        /// The run.
        run: RunId,
        /// Its actual state.
        from: RunState,
        /// The state asked for.
        to: RunState,
        /// The states it may come from.
        allowed_from: Vec<RunState>,
    },

    /// The `COMMIT` of a write failed in a way that may have committed (the catalog's
    /// connection was lost), and the catalog could not be asked. Retrying the write with the
    /// same write key is safe: it is made once.
    #[error("the commit of a write to {table} (write id {write_id}) failed, and whether it committed is unknown: {source}")]
    CommitOutcomeUnknown {
        /// The table (`schema.table`).
        table: String,
        /// The write's id (in its snapshot's commit info).
        write_id: String,
        /// The error of the commit.
        #[source]
        source: Box<Error>,
    },

    /// A worker's claim on a run no longer holds: the run was canceled, finished, or recovered
    /// after a missed heartbeat (and maybe claimed again). The attempt must stop without effect:
    /// the store refuses its events and its finish, and its commits are refused.
    #[error("worker {worker} no longer holds run {run} (attempt {attempt}): the run is {state} at attempt {current_attempt}{}", .holder.as_ref().map(|w| format!(" held by {w}")).unwrap_or_default())]
    ClaimLost {
        /// The run.
        run: RunId,
        /// The worker whose claim was refused.
        worker: String,
        /// The attempt of that claim.
        attempt: u32,
        /// The run's state now.
        state: RunState,
        /// The run's attempt now.
        current_attempt: u32,
        /// The worker that holds the run now, if any.
        holder: Option<String>,
    },

    /// A run that cannot be re-submitted as asked: it did not fail, or its payload was
    /// re-submitted already (or is being re-submitted right now).
    #[error("run {run} cannot be re-submitted: {reason}")]
    NotResubmittable {
        /// The run.
        run: RunId,
        /// Why not, and what to do instead.
        reason: String,
    },

    /// An input of an asset could not be loaded from DuckLake.
    #[error("asset {asset} could not load its input {input}: {source}")]
    Input {
        /// The asset whose input it is.
        asset: AssetKey,
        /// The upstream asset.
        input: AssetKey,
        /// Why loading failed.
        #[source]
        source: Box<Error>,
    },
}

/// `a`, `a or b`, ...
fn or_list(states: &[RunState]) -> String {
    let names: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
    names.join(" or ")
}

impl Error {
    /// The error, naming `asset` where it is about one of its partitions.
    pub(crate) fn in_asset(self, asset: &AssetKey) -> Self {
        match self {
            Error::InvalidPartition {
                asset: None,
                column,
                key,
                reason,
            } => Error::InvalidPartition {
                asset: Some(asset.clone()),
                column,
                key,
                reason,
            },
            other => other,
        }
    }

    /// An I/O error on `path` (its kind follows the I/O error's: a full disk is an environment
    /// error the HTTP layer answers with 507).
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Lets type handlers use `?` on polars results.
impl From<polars::error::PolarsError> for Error {
    fn from(source: polars::error::PolarsError) -> Self {
        Error::Polars {
            context: "running a type handler".into(),
            source,
        }
    }
}

/// Lets type handlers use `?` on Arrow results.
impl From<arrow::error::ArrowError> for Error {
    fn from(source: arrow::error::ArrowError) -> Self {
        Error::Arrow {
            context: "running a type handler".into(),
            source,
        }
    }
}

/// Attach context to errors of the libraries pluginlake calls.
pub(crate) trait Context<T> {
    /// Wrap the error with a description of what was being done.
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, ::duckdb::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::DuckDb {
            context: what(),
            source: source.into(),
        })
    }
}

impl<T> Context<T> for std::result::Result<T, DuckDbError> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::DuckDb {
            context: what(),
            source,
        })
    }
}

impl<T> Context<T> for std::result::Result<T, polars::error::PolarsError> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Polars {
            context: what(),
            source,
        })
    }
}

impl<T> Context<T> for std::result::Result<T, arrow::error::ArrowError> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Arrow {
            context: what(),
            source,
        })
    }
}
