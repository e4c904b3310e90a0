//! What the run store keeps for ingestion: idempotent submits, workers' signs of life, and
//! runs listed by dataset in pages. On both backends.

use super::{postgres, sqlite};

use std::path::Path;
use std::time::Duration;

use pluginlake::run::{
    run_worker, IdempotencyKey, NewRun, RunFilter, RunId, RunRecord, RunState, RunStore,
    WorkerOptions,
};
use pluginlake::Error;

on_both_backends! {
    a_submit_under_a_held_key_returns_the_first_run => same_key_same_request;
    a_held_key_reused_for_another_request_is_a_conflict => same_key_other_request;
    keys_of_two_scopes_never_collide => scoped_keys;
    concurrent_submits_under_one_key_make_one_run => concurrent_keys;
    a_key_older_than_its_holding_time_is_released_for_a_new_run => expired_key;
    a_worker_is_seen_by_its_sign_of_life_or_its_runs_heartbeat => workers_seen;
    an_idle_worker_loop_records_that_it_is_alive_until_it_stops => idle_worker_seen;
    runs_are_listed_by_dataset_newest_first_in_pages => dataset_pages;
}

const DAY: Duration = Duration::from_secs(24 * 3600);

fn ingestion(dataset: &str, key: Option<IdempotencyKey>) -> NewRun {
    let mut run = NewRun::new(format!("ingest/{dataset}"));
    run.tags.insert("dataset".into(), dataset.into());
    run.idempotency = key;
    run
}

async fn count(store: &RunStore) -> usize {
    store
        .runs(&RunFilter {
            limit: Some(10_000),
            ..RunFilter::default()
        })
        .await
        .unwrap()
        .len()
}

async fn same_key_same_request(store: RunStore) {
    let key = || IdempotencyKey::new("loader", "k-1", b"body", DAY);
    let first = store.submit(&ingestion("labs", Some(key()))).await.unwrap();
    let again = store
        .submit(&ingestion("labs", Some(key())).with_id(RunId::new()))
        .await
        .unwrap();
    assert_eq!(again, first, "the first run, as stored");
    assert_eq!(store.idempotent(&key()).await.unwrap(), Some(first));
    assert_eq!(count(&store).await, 1);
}

async fn same_key_other_request(store: RunStore) {
    let first = store
        .submit(&ingestion(
            "labs",
            Some(IdempotencyKey::new("loader", "k-1", b"body", DAY)),
        ))
        .await
        .unwrap();
    let other = IdempotencyKey::new("loader", "k-1", b"another body", DAY);
    match store.submit(&ingestion("labs", Some(other.clone()))).await {
        Err(Error::IdempotencyConflict { run }) => assert_eq!(run, first.id),
        other => panic!("expected a conflict naming run {}: {other:?}", first.id),
    }
    assert!(matches!(
        store.idempotent(&other).await,
        Err(Error::IdempotencyConflict { .. })
    ));
    assert_eq!(
        Error::IdempotencyConflict { run: first.id }.kind(),
        pluginlake::ErrorKind::Conflict
    );
    assert_eq!(count(&store).await, 1);
}

async fn scoped_keys(store: RunStore) {
    let a = store
        .submit(&ingestion(
            "labs",
            Some(IdempotencyKey::new("loader-a", "k-1", b"body", DAY)),
        ))
        .await
        .unwrap();
    let b = store
        .submit(&ingestion(
            "labs",
            Some(IdempotencyKey::new("loader-b", "k-1", b"body", DAY)),
        ))
        .await
        .unwrap();
    // A scope that ends where the other's key begins is another scope too.
    let c = store
        .submit(&ingestion(
            "labs",
            Some(IdempotencyKey::new("loader-ak", "-1", b"body", DAY)),
        ))
        .await
        .unwrap();
    assert!(a.id != b.id && a.id != c.id && b.id != c.id);
    assert_eq!(count(&store).await, 3);
}

async fn concurrent_keys(store: RunStore) {
    let submits = (0..16).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            let key = IdempotencyKey::new("loader", "k-1", b"body", DAY);
            store.submit(&ingestion("labs", Some(key))).await
        })
    });
    let mut ids = Vec::new();
    for s in submits {
        ids.push(
            s.await
                .unwrap()
                .expect("every submit answers with the run")
                .id,
        );
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(count(&store).await, 1);
    let events = store.events(ids[0]).await.unwrap();
    assert_eq!(events.len(), 1, "one queued event: {events:?}");
}

async fn expired_key(store: RunStore) {
    let kept_for = Duration::from_millis(300);
    let key = |body: &[u8]| IdempotencyKey::new("loader", "k-1", body, kept_for);
    let first = store
        .submit(&ingestion("labs", Some(key(b"body"))))
        .await
        .unwrap();
    tokio::time::sleep(kept_for + Duration::from_millis(200)).await;
    assert_eq!(store.idempotent(&key(b"body")).await.unwrap(), None);
    // Reused after its time, even for another request: a new run, which now holds the key.
    let second = store
        .submit(&ingestion("labs", Some(key(b"another body"))))
        .await
        .unwrap();
    assert_ne!(second.id, first.id);
    let again = store
        .submit(&ingestion("labs", Some(key(b"another body"))))
        .await
        .unwrap();
    assert_eq!(again.id, second.id);
    assert_eq!(count(&store).await, 2);
    assert_eq!(
        store.get(first.id).await.unwrap().unwrap().state,
        RunState::Queued,
        "the first run is untouched"
    );
}

async fn workers_seen(store: RunStore) {
    assert!(store.workers_seen(DAY).await.unwrap().is_empty());
    store.worker_alive("idle-worker").await.unwrap();
    let run = store.submit(&NewRun::new("*")).await.unwrap();
    store.start(run.id, "busy-worker").await.unwrap();
    let seen = store.workers_seen(Duration::from_secs(10)).await.unwrap();
    let names: Vec<&str> = seen.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(names, ["busy-worker", "idle-worker"]);
    let now = chrono::Utc::now();
    for w in &seen {
        assert!((now - w.last_seen).num_seconds().abs() < 10, "{w:?}");
    }
    // Not seen lately: not listed.
    tokio::time::sleep(Duration::from_millis(400)).await;
    store.worker_alive("idle-worker").await.unwrap();
    let recent = store
        .workers_seen(Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(
        recent.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
        ["idle-worker"]
    );
    store.worker_stopped("idle-worker").await.unwrap();
    let left = store.workers_seen(DAY).await.unwrap();
    assert_eq!(
        left.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
        ["busy-worker"]
    );
}

async fn idle_worker_seen(store: RunStore) {
    let dir = tempfile::tempdir().unwrap();
    let lake = crate::common::lake_in(dir.path());
    let defs =
        pluginlake::graph::Definitions::new(Vec::<pluginlake::graph::AssetDef>::new()).unwrap();
    let options = WorkerOptions {
        id: "idle-loop".into(),
        poll_interval: Duration::from_millis(20),
        heartbeat_interval: Duration::from_millis(100),
        stale_after: Duration::from_secs(1),
        ..WorkerOptions::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = {
        let (store, options) = (store.clone(), options.clone());
        tokio::spawn(async move {
            run_worker(&store, &lake, &defs, &options, async move {
                let _ = stopped.await;
            })
            .await
        })
    };
    // Seen again and again while the queue stays empty.
    let mut last = None;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let seen = store
            .workers_seen(Duration::from_millis(250))
            .await
            .unwrap();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].id, "idle-loop");
        assert!(last.is_none_or(|l| seen[0].last_seen > l), "{seen:?}");
        last = Some(seen[0].last_seen);
    }
    stop.send(()).unwrap();
    worker.await.unwrap().unwrap();
    assert!(store.workers_seen(DAY).await.unwrap().is_empty());
}

async fn dataset_pages(store: RunStore) {
    let mut labs = Vec::new();
    for i in 0..5 {
        labs.push(store.submit(&ingestion("labs", None)).await.unwrap().id);
        if i % 2 == 0 {
            store.submit(&ingestion("vitals", None)).await.unwrap();
        }
    }
    store.submit(&NewRun::new("*")).await.unwrap();
    labs.reverse();
    let page = |after: Option<RunId>, datasets: &[&str]| {
        let store = store.clone();
        let datasets = datasets.iter().map(|d| d.to_string()).collect();
        async move {
            store
                .runs(&RunFilter {
                    datasets: Some(datasets),
                    after,
                    limit: Some(2),
                    ..RunFilter::default()
                })
                .await
                .unwrap()
                .into_iter()
                .map(|r: RunRecord| r.id)
                .collect::<Vec<_>>()
        }
    };
    let mut listed = Vec::new();
    let mut after = None;
    loop {
        let ids = page(after, &["labs"]).await;
        if ids.is_empty() {
            break;
        }
        after = ids.last().copied();
        listed.extend(ids);
    }
    assert_eq!(listed, labs, "every labs run once, newest first");
    assert_eq!(page(None, &[]).await, Vec::<RunId>::new());
    let both = store
        .runs(&RunFilter {
            datasets: Some(vec!["labs".into(), "vitals".into()]),
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        both.len(),
        8,
        "the run without a dataset is not an ingestion"
    );
    assert!(page(Some(RunId::new()), &["labs"]).await.is_empty());
}

/// A store made before datasets had a column: its runs are listed by dataset once migrated.
#[tokio::test(flavor = "multi_thread")]
async fn runs_of_an_older_sqlite_store_are_listed_by_their_dataset_tag() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("runs.sqlite").display()
    );
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let old = old_migrations("sqlite");
    let migrator = sqlx::migrate::Migrator::new(old.path()).await.unwrap();
    migrator.run(&pool).await.unwrap();
    sqlx::query(OLD_RUN_INSERT).execute(&pool).await.unwrap();
    pool.close().await;
    assert_listed_by_tag(&sqlite(dir.path()).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_of_an_older_postgres_store_are_listed_by_their_dataset_tag() {
    let Some((url, schema)) = crate::common::postgres_run_store(
        "runs_of_an_older_postgres_store_are_listed_by_their_dataset_tag",
    )
    .await
    else {
        return;
    };
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let old = old_migrations("postgres");
    let migrator = sqlx::migrate::Migrator::new(old.path()).await.unwrap();
    migrator.run(&pool).await.unwrap();
    sqlx::query(OLD_RUN_INSERT).execute(&pool).await.unwrap();
    pool.close().await;
    assert_listed_by_tag(&RunStore::open(&url).await.unwrap()).await;
    schema.drop().await;
}

const OLD_RUN: &str = "0190b3f4-7a1c-7d2e-8f00-1c2b3a4d5e6f";

/// A run as a store before migration 0005 recorded it: its dataset only in its tags.
const OLD_RUN_INSERT: &str = "INSERT INTO runs (id, selection, tags, state, created_at) \
     VALUES ('0190b3f4-7a1c-7d2e-8f00-1c2b3a4d5e6f', 'lab/results', \
     '{\"dataset\":\"labs\",\"api_key\":\"k\"}', 'queued', 1)";

/// A folder with the migrations of `backend` from before datasets had a column (0001, 0002).
fn old_migrations(backend: &str) -> tempfile::TempDir {
    let old = tempfile::tempdir().unwrap();
    let all = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("pluginlake/migrations")
        .join(backend);
    for name in ["0001_runs.sql", "0002_run_assets.sql"] {
        std::fs::copy(all.join(name), old.path().join(name)).unwrap();
    }
    old
}

async fn assert_listed_by_tag(store: &RunStore) {
    let labs = store
        .runs(&RunFilter {
            datasets: Some(vec!["labs".into()]),
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(labs.len(), 1);
    assert_eq!(labs[0].id.to_string(), OLD_RUN);
    let vitals = store
        .runs(&RunFilter {
            datasets: Some(vec!["vitals".into()]),
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert!(vitals.is_empty());
}
