//! A run's effects happen at most once per claim: every state change commits with its event, and
//! an attempt that lost its run (canceled, recovered by another worker, its worker shut down)
//! neither commits data nor finishes the run. On SQLite and PostgreSQL run stores.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use pluginlake::prelude::*;
use pluginlake::run::{work_one, NewRun, RunId, RunState, RunStore, WorkerOptions, WorkerPool};
use pluginlake::{Error, ErrorKind};
use polars::prelude::*;

/// A second connection to the store's database, for what the store itself never does.
enum Admin {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Admin {
    async fn exec(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Admin::Sqlite(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop),
            Admin::Postgres(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop),
        }
        .unwrap_or_else(|e| panic!("{e}"));
    }

    /// From now on the store's database refuses events of these kinds (a trigger, as a full
    /// disk or a failing constraint would).
    async fn refuse_events(&self, kinds: &[&str]) {
        let setup = match self {
            Admin::Sqlite(_) => {
                "CREATE TABLE IF NOT EXISTS refused_kinds (kind TEXT PRIMARY KEY); \
                 CREATE TRIGGER IF NOT EXISTS refuse_events BEFORE INSERT ON run_events \
                 WHEN NEW.kind IN (SELECT kind FROM refused_kinds) \
                 BEGIN SELECT RAISE(ABORT, 'event refused by the test'); END;"
            }
            Admin::Postgres(_) => {
                "CREATE TABLE IF NOT EXISTS refused_kinds (kind TEXT PRIMARY KEY); \
                 CREATE OR REPLACE FUNCTION refuse_events() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN IF EXISTS (SELECT 1 FROM refused_kinds WHERE kind = NEW.kind) THEN \
                 RAISE EXCEPTION 'event refused by the test'; END IF; RETURN NEW; END $$; \
                 DROP TRIGGER IF EXISTS refuse_events ON run_events; \
                 CREATE TRIGGER refuse_events BEFORE INSERT ON run_events \
                 FOR EACH ROW EXECUTE FUNCTION refuse_events();"
            }
        };
        self.exec(setup).await;
        self.exec("DELETE FROM refused_kinds").await;
        for kind in kinds {
            self.exec(&format!("INSERT INTO refused_kinds VALUES ('{kind}')"))
                .await;
        }
    }
}

async fn sqlite(dir: &Path) -> (RunStore, Admin) {
    let url = format!("sqlite://{}", dir.join("runs.sqlite").display());
    let store = RunStore::open(&url).await.unwrap();
    (
        store,
        Admin::Sqlite(sqlx::SqlitePool::connect(&url).await.unwrap()),
    )
}

async fn postgres(test: &str) -> Option<(RunStore, Admin, common::PgSchema)> {
    let (url, schema) = common::postgres_run_store(test).await?;
    let store = RunStore::open(&url).await.unwrap();
    let admin = Admin::Postgres(sqlx::PgPool::connect(&url).await.unwrap());
    Some((store, admin, schema))
}

/// Each behaviour, run once per backend.
macro_rules! on_both_backends {
    ($($name:ident => $body:path;)*) => {
        mod sqlite_backend {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let (store, admin) = sqlite(dir.path()).await;
                    $body(store, admin).await;
                }
            )*
        }
        mod postgres_backend {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    let Some((store, admin, schema)) = postgres(stringify!($name)).await else { return };
                    $body(store, admin).await;
                    schema.drop().await;
                }
            )*
        }
    };
}

on_both_backends! {
    a_state_change_whose_event_cannot_be_recorded_does_not_happen => change_with_event;
    a_run_whose_events_cannot_be_recorded_fails => unrecorded_events;
    a_recovered_run_is_committed_once_by_its_new_holder => recovered_commits_once;
    a_canceled_run_commits_nothing_after_the_cancel => canceled_commits_nothing;
    a_worker_shut_down_mid_run_commits_nothing => shut_down_commits_nothing;
    a_run_recovered_after_its_commit_does_not_write_again => committed_then_lost;
}

async fn state(store: &RunStore, id: RunId) -> (RunState, u32, Option<String>) {
    let run = store.get(id).await.unwrap().unwrap();
    (run.state, run.attempt, run.worker)
}

async fn change_with_event(store: RunStore, admin: Admin) {
    let mut new = NewRun::new("*");
    new.max_attempts = 2;
    let run = store.submit(&new).await.unwrap();

    admin.refuse_events(&["started"]).await;
    assert!(store.start(run.id, "w").await.is_err());
    assert!(store.claim("w", None).await.is_err());
    assert_eq!(state(&store, run.id).await, (RunState::Queued, 0, None));

    admin.refuse_events(&[]).await;
    let claim = store.start(run.id, "w").await.unwrap();
    admin
        .refuse_events(&["succeeded", "failed", "canceled", "recovered"])
        .await;
    assert!(store.finish(&claim, None).await.is_err());
    assert!(store.finish(&claim, Some("boom")).await.is_err());
    assert!(store.cancel(run.id, "operator").await.is_err());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(store
        .recover_stale(Duration::from_millis(100))
        .await
        .is_err());
    assert_eq!(
        state(&store, run.id).await,
        (RunState::Started, 1, Some("w".into())),
        "no refused change happened"
    );
    assert_eq!(
        common::event_kinds(&store, run.id).await,
        ["queued", "started"]
    );
}

#[asset(key_prefix = "claims")]
fn quick() -> DataFrame {
    df!["v" => [1i64]].unwrap()
}

async fn unrecorded_events(store: RunStore, admin: Admin) {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let defs = Definitions::new([quick::definition()]).unwrap();
    let run = store
        .submit(&NewRun::selecting(&defs, "claims/quick").unwrap())
        .await
        .unwrap();
    admin.refuse_events(&["asset_materialized"]).await;
    let done = work_one(&store, &lake, &defs, &WorkerOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.id, run.id);
    assert_eq!(done.state, RunState::Failure, "{done:?}");
    let error = done.error.unwrap();
    assert!(error.contains("could not record"), "{error}");
}

/// Appends one row naming its run, slowly (so that the run can be taken away meanwhile).
#[asset(key_prefix = "claims", mode = "append")]
fn slow_append(ctx: &AssetContext) -> DataFrame {
    std::thread::sleep(Duration::from_millis(1500));
    df!["run" => [ctx.run_id().to_string()]].unwrap()
}

/// The same, pausing without blocking a thread.
#[asset(key_prefix = "claims", mode = "append")]
async fn paused_append(ctx: &AssetContext) -> DataFrame {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    df!["run" => [ctx.run_id().to_string()]].unwrap()
}

fn slow_defs() -> Definitions {
    Definitions::new([slow_append::definition()]).unwrap()
}

/// Rows of `claims/slow_append` written by `run` (0 when the table does not exist).
fn rows_of(lake: &Lake, run: RunId) -> usize {
    rows_in(lake, slow_append::key(), run)
}

/// Rows of `table` written by `run` (0 when the table does not exist).
fn rows_in(lake: &Lake, table: pluginlake::AssetKey, run: RunId) -> usize {
    match lake.load::<DataFrame>(table) {
        Ok(df) => df
            .column("run")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .filter(|r| *r == Some(run.to_string().as_str()))
            .count(),
        Err(e) if e.kind() == ErrorKind::NotFound => 0,
        Err(e) => panic!("{e}"),
    }
}

async fn wait_started(store: &RunStore, id: RunId) {
    let start = Instant::now();
    while state(store, id).await.0 != RunState::Started {
        assert!(start.elapsed() < Duration::from_secs(30), "never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn recovered_commits_once(store: RunStore, _admin: Admin) {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let defs = Definitions::new([paused_append::definition()]).unwrap();
    // The table exists: both attempts append to it.
    lake.store(paused_append::key(), df!["run" => ["seed"]].unwrap())
        .unwrap();
    let mut new = NewRun::selecting(&defs, "claims/paused_append").unwrap();
    new.max_attempts = 2;
    let run = store.submit(&new).await.unwrap();

    // Worker a's heartbeats are too rare for the recoverer below: it loses the run mid-write.
    let first = {
        let (store, lake, defs) = (store.clone(), lake.clone(), defs.clone());
        tokio::spawn(async move {
            let options = WorkerOptions {
                id: "a".into(),
                heartbeat_interval: Duration::from_secs(5),
                stale_after: Duration::from_secs(6),
                ..WorkerOptions::default()
            };
            work_one(&store, &lake, &defs, &options).await
        })
    };
    wait_started(&store, run.id).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        store
            .recover_stale(Duration::from_millis(100))
            .await
            .unwrap(),
        [run.id]
    );
    let options = WorkerOptions {
        id: "b".into(),
        heartbeat_interval: Duration::from_millis(100),
        stale_after: Duration::from_secs(5),
        ..WorkerOptions::default()
    };
    let second = work_one(&store, &lake, &defs, &options)
        .await
        .unwrap()
        .unwrap();
    let first = first.await.unwrap();
    assert!(first.is_ok(), "a lost run is no worker error: {first:?}");

    assert_eq!(
        (second.state, second.attempt, second.worker.as_deref()),
        (RunState::Success, 2, Some("b")),
        "{second:?}"
    );
    assert_eq!(
        rows_in(&lake, paused_append::key(), run.id),
        1,
        "the run's row is in the table once"
    );
    let kinds = common::event_kinds(&store, run.id).await;
    let count = |k: &str| kinds.iter().filter(|x| *x == k).count();
    assert_eq!(
        (count("asset_materialized"), count("succeeded")),
        (1, 1),
        "{kinds:?}"
    );
}

async fn canceled_commits_nothing(store: RunStore, _admin: Admin) {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let defs = slow_defs();
    let run = store
        .submit(&NewRun::selecting(&defs, "claims/slow_append").unwrap())
        .await
        .unwrap();
    let worker = {
        let (store, lake, defs) = (store.clone(), lake.clone(), defs.clone());
        tokio::spawn(async move {
            let options = WorkerOptions {
                heartbeat_interval: Duration::from_millis(50),
                ..WorkerOptions::default()
            };
            work_one(&store, &lake, &defs, &options).await
        })
    };
    wait_started(&store, run.id).await;
    store.cancel(run.id, "operator").await.unwrap();
    let done = worker.await.unwrap().unwrap().unwrap();
    assert_eq!(done.state, RunState::Canceled);
    // The asset's blocking code runs on; its commit must be refused.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(rows_of(&lake, run.id), 0, "a canceled run committed data");
    assert_eq!(
        store.get(run.id).await.unwrap().unwrap().state,
        RunState::Canceled
    );
}

async fn shut_down_commits_nothing(store: RunStore, _admin: Admin) {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let defs = slow_defs();
    let run = store
        .submit(&NewRun::selecting(&defs, "claims/slow_append").unwrap())
        .await
        .unwrap();
    let options = WorkerOptions {
        poll_interval: Duration::from_millis(20),
        ..WorkerOptions::default()
    };
    let pool = WorkerPool::spawn(&store, &lake, &defs, 1, &options).unwrap();
    wait_started(&store, run.id).await;
    pool.shutdown().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        rows_of(&lake, run.id),
        0,
        "a worker that stopped committed data"
    );
    assert_eq!(
        state(&store, run.id).await.0,
        RunState::Started,
        "the abandoned run waits for recovery"
    );
}

#[tokio::test]
async fn stale_after_must_be_longer_than_the_heartbeat_interval() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _admin) = sqlite(dir.path()).await;
    let lake = common::lake_in(dir.path());
    let defs = slow_defs();
    for (heartbeat, stale) in [(5, 5), (5, 1), (0, 5)] {
        let options = WorkerOptions {
            heartbeat_interval: Duration::from_secs(heartbeat),
            stale_after: Duration::from_secs(stale),
            ..WorkerOptions::default()
        };
        let err = work_one(&store, &lake, &defs, &options).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadInput, "{err}");
        assert!(matches!(err, Error::Config(_)), "{err}");
        assert!(WorkerPool::spawn(&store, &lake, &defs, 1, &options).is_err());
    }
}

/// Appends one row naming its run, at once.
#[asset(key_prefix = "claims", mode = "append")]
fn quick_append(ctx: &AssetContext) -> DataFrame {
    df!["run" => [ctx.run_id().to_string()]].unwrap()
}

/// Stalls the first time it runs for a run, long enough for its worker to be stopped after the
/// asset committed.
#[asset_check(asset = quick_append)]
fn stalls_once(ctx: &AssetContext, _rows: DataFrame) -> bool {
    static STALLED: std::sync::Mutex<Vec<RunId>> = std::sync::Mutex::new(Vec::new());
    let first = {
        let mut stalled = STALLED.lock().unwrap();
        let first = !stalled.contains(&ctx.run_id());
        stalled.push(ctx.run_id());
        first
    };
    if first {
        std::thread::sleep(Duration::from_secs(3));
    }
    true
}

async fn committed_then_lost(store: RunStore, _admin: Admin) {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let defs = Definitions::new([quick_append::definition()])
        .unwrap()
        .with_checks([stalls_once::definition()])
        .unwrap();
    let mut new = NewRun::selecting(&defs, "claims/quick_append").unwrap();
    new.max_attempts = 2;
    let run = store.submit(&new).await.unwrap();
    let options = WorkerOptions {
        poll_interval: Duration::from_millis(20),
        heartbeat_interval: Duration::from_millis(50),
        stale_after: Duration::from_millis(400),
        ..WorkerOptions::default()
    };
    // The first worker commits the append, then stops (its check stalls) before finishing.
    let pool = WorkerPool::spawn(&store, &lake, &defs, 1, &options).unwrap();
    let start = Instant::now();
    while rows_in(&lake, quick_append::key(), run.id) == 0 {
        assert!(start.elapsed() < Duration::from_secs(30), "never committed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pool.shutdown().await.unwrap();
    assert_eq!(state(&store, run.id).await.0, RunState::Started);

    // Recovered, the run runs again: its append is found committed, not made again.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let done = work_one(&store, &lake, &defs, &options)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (done.state, done.attempt),
        (RunState::Success, 2),
        "{done:?}"
    );
    assert_eq!(
        rows_in(&lake, quick_append::key(), run.id),
        1,
        "the run's row is in the table once"
    );
}
