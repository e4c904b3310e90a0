//! The durable run store: runs (the ingestion tracking id IS the run id), their states, and an
//! append-only event log per run. SQLite (the embedded default, a file under `.data/`) or
//! PostgreSQL (several processes or machines), with the same schema, managed by sqlx migrations
//! applied on open, and the same queries.
//!
//! States move `queued -> started -> success | failure | canceled` (and `queued -> canceled`); the
//! store enforces this itself: a transition is an `UPDATE ... WHERE state = <expected>`, and an
//! update that matches nothing is rejected as [`Error::IllegalTransition`] naming the actual state.
//!
//! [`lifecycle`] changes runs (submit, claim, heartbeat, finish, cancel, recover), [`queries`]
//! reads them; [`row`] turns the tables' rows into records.

mod lifecycle;
mod model;
mod queries;
mod row;

use std::str::FromStr;
use std::time::Duration;

pub use model::{
    Claim, EventKind, EventRecord, LastMaterialization, NewRun, RunFilter, RunRecord, RunState,
};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::error::{Error, Result};
use crate::lake::redact::redact;

#[derive(Clone)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Run the same statement on whichever pool the store has.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            Backend::Sqlite($pool) => $body,
            Backend::Postgres($pool) => $body,
        }
    };
}
use on_pool;

/// The durable run store (cheap to clone).
#[derive(Clone)]
pub struct RunStore {
    backend: Backend,
}

/// Wraps a database error with what the store was doing.
fn db(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> Error {
    let context = context.into();
    move |e| Error::RunStore {
        context,
        source: Some(Box::new(e)),
    }
}

impl RunStore {
    /// Open the store at `url` (`sqlite://path/runs.sqlite` or `postgres://...`), creating a
    /// SQLite file if missing, and apply the migrations.
    pub async fn open(url: &str) -> Result<RunStore> {
        // What errors show of the URL: its password redacted.
        let shown = redact(url);
        let backend = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(db(format!("reading the SQLite URL {shown}")))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await
                .map_err(db(format!("opening the run store {shown}")))?;
            sqlx::migrate!("./migrations/sqlite")
                .run(&pool)
                .await
                .map_err(|e| Error::RunStore {
                    context: format!("migrating the run store {shown}"),
                    source: Some(Box::new(e)),
                })?;
            Backend::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .connect(url)
                .await
                .map_err(db("opening the PostgreSQL run store"))?;
            sqlx::migrate!("./migrations/postgres")
                .run(&pool)
                .await
                .map_err(|e| Error::RunStore {
                    context: "migrating the PostgreSQL run store".into(),
                    source: Some(Box::new(e)),
                })?;
            Backend::Postgres(pool)
        } else {
            return Err(Error::Config(format!(
                "run store URL {shown:?}: use sqlite://<path> or postgres://<user>@<host>/<db>"
            )));
        };
        Ok(RunStore { backend })
    }
}
