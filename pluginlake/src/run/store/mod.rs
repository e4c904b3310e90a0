//! The durable run store: runs (the ingestion tracking id IS the run id), their states, and an
//! append-only event log per run. SQLite (the embedded default, a file under `.data/`) or
//! PostgreSQL (several processes or machines), with the same schema, managed by sqlx migrations
//! applied on open, and the same queries.
//!
//! States move `queued -> started -> success | failure | canceled` (and `queued -> canceled`); the
//! store enforces this itself: a transition is an `UPDATE ... WHERE state = <expected>`, and an
//! update that matches nothing is rejected as [`Error::IllegalTransition`] naming the actual state.
//!
//! [`submit`] records runs (idempotently under a client's key), [`lifecycle`] changes them
//! (claim, heartbeat, finish, cancel, recover), [`queries`] reads them; [`workers`] records
//! workers' signs of life; [`row`] turns the tables' rows into records.
//!
//! Each backend is a cargo feature (`sqlite`, `postgres`, both on by default); a build without
//! either compiles, and [`RunStore::open`] then says which feature to enable.

// Without a backend, `Backend` has no variants and every store method ends at an empty match.
#![cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(unreachable_code, unused_variables, unused_imports, dead_code)
)]

mod lifecycle;
mod model;
mod queries;
mod row;
mod submit;
mod workers;

pub use model::{
    Claim, EventKind, EventRecord, IdempotencyKey, LastMaterialization, NewRun, RunFilter,
    RunRecord, RunState, WorkerSeen,
};
#[cfg(feature = "postgres")]
use sqlx::postgres::{PgPool, PgPoolOptions};
#[cfg(feature = "sqlite")]
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::error::{Error, Result};
use crate::lake::redact::redact;

#[derive(Clone)]
enum Backend {
    #[cfg(feature = "sqlite")]
    Sqlite(SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(PgPool),
}

/// Run the same statement on whichever pool the store has.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(ref $pool) => $body,
            #[cfg(feature = "postgres")]
            Backend::Postgres(ref $pool) => $body,
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
            open_sqlite(url, &shown).await?
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            open_postgres(url).await?
        } else {
            return Err(Error::Config(format!(
                "run store URL {shown:?}: use sqlite://<path> or postgres://<user>@<host>/<db>"
            )));
        };
        Ok(RunStore { backend })
    }
}

#[cfg(feature = "sqlite")]
async fn open_sqlite(url: &str, shown: &str) -> Result<Backend> {
    use std::str::FromStr;
    use std::time::Duration;

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
    Ok(Backend::Sqlite(pool))
}

#[cfg(not(feature = "sqlite"))]
async fn open_sqlite(url: &str, _shown: &str) -> Result<Backend> {
    Err(missing_backend(url, "sqlite"))
}

#[cfg(feature = "postgres")]
async fn open_postgres(url: &str) -> Result<Backend> {
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
    Ok(Backend::Postgres(pool))
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(url: &str) -> Result<Backend> {
    Err(missing_backend(url, "postgres"))
}

/// A run store URL whose backend this build left out.
#[cfg(not(all(feature = "sqlite", feature = "postgres")))]
fn missing_backend(url: &str, feature: &str) -> Error {
    let scheme = url.split(':').next().unwrap_or(url);
    Error::Config(format!(
        "this build of pluginlake has no {scheme} run store: enable pluginlake's `{feature}` feature"
    ))
}
