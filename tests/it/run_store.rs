//! The run store: the same behaviour on SQLite (the embedded default) and PostgreSQL.

use crate::common;

use std::time::Duration;

use pluginlake::graph::Asset;
use pluginlake::prelude::*;
use pluginlake::run::{
    work_one, EventKind, NewRun, RunEvent, RunFilter, RunId, RunState, RunStore, WorkerOptions,
    WorkerPool,
};
use pluginlake::{AssetKey, Error};
use polars::prelude::*;

/// A store on a fresh SQLite file.
async fn sqlite(dir: &std::path::Path) -> RunStore {
    RunStore::open(&format!("sqlite://{}", dir.join("runs.sqlite").display()))
        .await
        .unwrap()
}

/// A store in a fresh schema of the local PostgreSQL (dropped by the guard), or `None` where no
/// server answers outside CI.
async fn postgres(test: &str) -> Option<(RunStore, common::PgSchema)> {
    let (url, schema) = common::postgres_run_store(test).await?;
    Some((RunStore::open(&url).await.unwrap(), schema))
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
                    $body(sqlite(dir.path()).await).await;
                }
            )*
        }
        mod postgres_backend {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    let Some((store, schema)) = postgres(stringify!($name)).await else { return };
                    $body(store).await;
                    schema.drop().await;
                }
            )*
        }
    };
}

on_both_backends! {
    a_run_goes_from_queued_to_started_to_success => lifecycle;
    illegal_transitions_are_rejected_by_the_store => illegal_transitions;
    events_come_back_in_the_order_they_were_recorded => event_order;
    runs_are_found_by_state_asset_and_time => queries;
    the_last_materialization_of_each_asset_links_run_and_snapshot => lineage;
    a_queued_or_running_run_can_be_canceled => cancel;
    concurrent_workers_execute_every_run_exactly_once => exactly_once;
    a_run_of_a_dead_worker_is_requeued_then_failed => recovery;
    without_history_the_estimate_is_unknown => eta_unknown;
    with_history_the_estimate_follows_the_critical_path => eta_from_history;
    a_run_waits_while_a_started_run_writes_one_of_its_assets => asset_exclusion;
    the_global_limit_bounds_how_many_runs_are_started => global_limit;
    a_running_run_canceled_in_the_store_stops_its_worker => cancel_running;
    per_asset_retries_are_recorded_as_events => retries_recorded;
    an_in_process_worker_pool_works_the_queue => pool;
}

async fn lifecycle(store: RunStore) {
    let mut new = NewRun::new("+omop/condition_era");
    new.payload = Some("staging/upload-1.csv".into());
    new.tags.insert("source".into(), "upload".into());
    let run = store.submit(&new).await.unwrap();
    assert_eq!((run.state, run.attempt), (RunState::Queued, 0));
    assert_eq!(run.payload.as_deref(), Some("staging/upload-1.csv"));
    assert_eq!(run.tags["source"], "upload");
    assert_eq!(run.id.as_uuid().get_version_num(), 7);
    assert_eq!(
        store.get(run.id).await.unwrap().unwrap(),
        run,
        "submit returns the stored run"
    );

    let claim = store.start(run.id, "worker-a").await.unwrap();
    let started = store.get(run.id).await.unwrap().unwrap();
    assert_eq!((started.state, started.attempt), (RunState::Started, 1));
    assert_eq!(started.worker.as_deref(), Some("worker-a"));
    assert!(started.started_at.unwrap() >= run.created_at);

    store.finish(&claim, None).await.unwrap();
    let done = store.get(run.id).await.unwrap().unwrap();
    assert_eq!(done.state, RunState::Success);
    assert!(done.finished_at.is_some() && done.error.is_none());
    let kinds = common::event_kinds(&store, run.id).await;
    assert_eq!(kinds, ["queued", "started", "succeeded"]);
}

async fn illegal_transitions(store: RunStore) {
    let run = store.submit(&NewRun::new("*")).await.unwrap();
    let never = pluginlake::run::Claim {
        run: run.id,
        worker: "w".into(),
        attempt: 1,
    };
    let err = store.finish(&never, None).await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::ClaimLost {
                state: RunState::Queued,
                ..
            }
        ),
        "{err}"
    );
    let claim = store.start(run.id, "w").await.unwrap();
    assert_eq!(claim, never, "the first attempt of worker w");
    let err = store.start(run.id, "w2").await.unwrap_err().to_string();
    assert!(err.contains("from started to started"), "{err}");
    store.finish(&claim, Some("boom")).await.unwrap();
    let err = store.cancel(run.id, "late").await.unwrap_err();
    assert!(err.to_string().contains("from failure"), "{err}");
    let err = store.finish(&claim, None).await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::ClaimLost {
                state: RunState::Failure,
                ..
            }
        ),
        "{err}"
    );
    let failed = store.get(run.id).await.unwrap().unwrap();
    assert_eq!(
        (failed.state, failed.error.as_deref()),
        (RunState::Failure, Some("boom"))
    );
    assert!(matches!(
        store.start(RunId::new(), "w").await.unwrap_err(),
        Error::RunNotFound(_)
    ));
}

async fn event_order(store: RunStore) {
    let run = store.submit(&NewRun::new("*")).await.unwrap();
    let claim = store.start(run.id, "w").await.unwrap();
    let keys: Vec<AssetKey> = (0..20)
        .map(|i| AssetKey::new(["s".to_string(), format!("a{i}")]))
        .collect();
    for key in &keys {
        store.record(&claim, &started(key.clone())).await.unwrap();
    }
    let events = store.events(run.id).await.unwrap();
    let assets: Vec<AssetKey> = events.iter().filter_map(|e| e.asset.clone()).collect();
    assert_eq!(assets, keys);
    assert!(events
        .windows(2)
        .all(|w| w[0].seq < w[1].seq && w[0].at <= w[1].at));
    assert_eq!(events[2].kind, EventKind::AssetStarted);
    assert_eq!(events[2].detail["attempt"], 1);
}

fn started(key: AssetKey) -> RunEvent {
    RunEvent::AssetStarted { key, attempt: 1 }
}

fn materialized(key: &str, snapshot: i64, rows: u64) -> RunEvent {
    RunEvent::AssetMaterialized {
        materialization: pluginlake::Materialization {
            key: AssetKey::parse(key),
            table: AssetKey::parse(key).table().unwrap().to_string(),
            snapshot_id: snapshot,
            rows,
            columns: Vec::new(),
            parquet_bytes: 0,
            path: pluginlake::io::WritePath::DuckDb,
            duration: std::time::Duration::from_millis(3),
            run_id: None,
        },
    }
}

async fn queries(store: RunStore) {
    let first = store.submit(&NewRun::new("omop/person")).await.unwrap();
    let first_claim = store.start(first.id, "w").await.unwrap();
    store
        .record(&first_claim, &materialized("omop/person", 4, 10))
        .await
        .unwrap();
    store.finish(&first_claim, None).await.unwrap();
    let second = store.submit(&NewRun::new("omop/visit")).await.unwrap();

    let all = store.runs(&RunFilter::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.id).collect::<Vec<_>>(),
        [second.id, first.id]
    );
    let queued = store
        .runs(&RunFilter {
            state: Some(RunState::Queued),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].id, second.id);
    let person = store
        .runs(&RunFilter {
            asset: Some(AssetKey::parse("omop/person")),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(person.iter().map(|r| r.id).collect::<Vec<_>>(), [first.id]);
    let later = store
        .runs(&RunFilter {
            since: Some(second.created_at),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        later.iter().all(|r| r.created_at >= second.created_at)
            && later.iter().any(|r| r.id == second.id)
    );
    let earlier = store
        .runs(&RunFilter {
            until: Some(first.created_at),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(earlier.is_empty());
    let limited = store
        .runs(&RunFilter {
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(limited.len(), 1);
}

async fn lineage(store: RunStore) {
    let a = store.submit(&NewRun::new("*")).await.unwrap();
    let a_claim = store.start(a.id, "w").await.unwrap();
    store
        .record(&a_claim, &materialized("omop/person", 4, 10))
        .await
        .unwrap();
    store
        .record(&a_claim, &materialized("omop/visit", 5, 7))
        .await
        .unwrap();
    store.finish(&a_claim, None).await.unwrap();
    let b = store.submit(&NewRun::new("omop/person")).await.unwrap();
    let b_claim = store.start(b.id, "w").await.unwrap();
    store
        .record(&b_claim, &materialized("omop/person", 9, 12))
        .await
        .unwrap();

    let last = store.last_materializations().await.unwrap();
    let got: Vec<(String, RunId, i64, u64)> = last
        .iter()
        .map(|m| (m.asset.to_string(), m.run_id, m.snapshot_id, m.rows))
        .collect();
    assert_eq!(
        got,
        [
            ("omop/person".to_string(), b.id, 9, 12),
            ("omop/visit".to_string(), a.id, 5, 7)
        ]
    );
}

async fn cancel(store: RunStore) {
    let queued = store.submit(&NewRun::new("*")).await.unwrap();
    store.cancel(queued.id, "not needed").await.unwrap();
    let running = store.submit(&NewRun::new("*")).await.unwrap();
    store.start(running.id, "w").await.unwrap();
    store.cancel(running.id, "operator").await.unwrap();
    for id in [queued.id, running.id] {
        let run = store.get(id).await.unwrap().unwrap();
        assert_eq!(run.state, RunState::Canceled);
        assert_eq!(
            store.events(id).await.unwrap().last().unwrap().kind,
            EventKind::Canceled
        );
    }
    assert!(store.start(queued.id, "w").await.is_err());
}

#[asset(key_prefix = "queue")]
fn tick() -> DataFrame {
    df!["v" => [1i64]].unwrap()
}

async fn exactly_once(store: RunStore) {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let defs = Definitions::new([tick::definition()]).unwrap();
    let mut ids = Vec::new();
    for _ in 0..12 {
        ids.push(
            store
                .submit(&NewRun::selecting(&defs, "queue/tick").unwrap())
                .await
                .unwrap()
                .id,
        );
    }
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let (store, lake, defs) = (store.clone(), lake.clone(), defs.clone());
            tokio::spawn(async move {
                let options = WorkerOptions {
                    id: format!("w{w}"),
                    ..WorkerOptions::default()
                };
                let mut done = 0;
                while work_one(&store, &lake, &defs, &options)
                    .await
                    .unwrap()
                    .is_some()
                {
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut total = 0;
    for w in workers {
        total += w.await.unwrap();
    }
    assert_eq!(total, ids.len());
    for &id in &ids {
        let run = store.get(id).await.unwrap().unwrap();
        assert_eq!((run.state, run.attempt), (RunState::Success, 1), "{run:?}");
        let events = store.events(id).await.unwrap();
        let started = events
            .iter()
            .filter(|e| e.kind == EventKind::Started)
            .count();
        assert_eq!(started, 1, "run {id} was taken {started} times");
        let m = events
            .iter()
            .find(|e| e.kind == EventKind::AssetMaterialized)
            .unwrap();
        assert_eq!((m.asset.clone(), m.rows), (Some(tick::key()), Some(1)));
        assert!(m.snapshot_id.is_some());
    }
}

async fn recovery(store: RunStore) {
    let stale = Duration::from_millis(150);
    let mut new = NewRun::new("*");
    new.max_attempts = 2;
    let run = store.submit(&new).await.unwrap();
    let doomed = store
        .claim("doomed-1", None)
        .await
        .unwrap()
        .unwrap()
        .claim()
        .unwrap();
    assert!(
        store.recover_stale(stale).await.unwrap().is_empty(),
        "not stale yet"
    );
    tokio::time::sleep(stale * 2).await;
    assert_eq!(
        store.recover_stale(stale).await.unwrap(),
        std::slice::from_ref(&run.id)
    );
    let requeued = store.get(run.id).await.unwrap().unwrap();
    assert_eq!((requeued.state, requeued.attempt), (RunState::Queued, 1));
    assert!(
        !store.heartbeat(&doomed).await.unwrap(),
        "the dead worker lost the run"
    );

    let again = store.claim("doomed-2", None).await.unwrap().unwrap();
    assert_eq!((again.id, again.attempt), (run.id, 2));
    tokio::time::sleep(stale * 2).await;
    store.recover_stale(stale).await.unwrap();
    let failed = store.get(run.id).await.unwrap().unwrap();
    assert_eq!(failed.state, RunState::Failure);
    assert!(
        failed
            .error
            .as_deref()
            .unwrap()
            .contains("worker doomed-2 stopped sending heartbeats"),
        "{failed:?}"
    );
    let kinds = common::event_kinds(&store, run.id).await;
    assert_eq!(
        kinds,
        ["queued", "started", "recovered", "started", "failed"]
    );
}

#[asset(key_prefix = "eta")]
fn first_step() -> DataFrame {
    df!["v" => [1i64]].unwrap()
}

#[asset(key_prefix = "eta")]
fn second_step(first_step: DataFrame) -> DataFrame {
    first_step
}

fn eta_defs() -> Definitions {
    Definitions::new([first_step::definition(), second_step::definition()]).unwrap()
}

async fn eta_unknown(store: RunStore) {
    let ahead = store.submit(&NewRun::new("*")).await.unwrap();
    let run = store
        .submit(&NewRun::new("+eta/second_step"))
        .await
        .unwrap();
    let eta = store.estimate(run.id, &eta_defs()).await.unwrap();
    assert_eq!(eta.remaining, None);
    assert_eq!(eta.unknown, [first_step::key(), second_step::key()]);
    assert_eq!(eta.queue_position, Some(1));
    assert_eq!(
        store
            .estimate(ahead.id, &eta_defs())
            .await
            .unwrap()
            .queue_position,
        Some(0)
    );
}

/// A past run in which `first_step` took ~`a` ms and `second_step` ~`b` ms.
async fn past_run(store: &RunStore, a: u64, b: u64) {
    let run = store
        .submit(&NewRun::new("+eta/second_step"))
        .await
        .unwrap();
    let claim = store.start(run.id, "w").await.unwrap();
    for (key, ms, snapshot) in [(first_step::key(), a, 1), (second_step::key(), b, 2)] {
        store.record(&claim, &started(key.clone())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(ms)).await;
        store
            .record(&claim, &materialized(&key.to_string(), snapshot, 1))
            .await
            .unwrap();
    }
    store.finish(&claim, None).await.unwrap();
}

async fn eta_from_history(store: RunStore) {
    for _ in 0..3 {
        past_run(&store, 60, 120).await;
    }
    let defs = eta_defs();
    let run = store
        .submit(&NewRun::new("+eta/second_step"))
        .await
        .unwrap();
    let eta = store.estimate(run.id, &defs).await.unwrap();
    assert!(eta.unknown.is_empty());
    assert!(eta.basis.iter().all(|h| h.samples == 3), "{eta:?}");
    let total = eta.remaining.unwrap();
    // At least the sum of both steps, and short of counting either twice (a loaded machine
    // stretches the recorded steps, so the upper bound leaves room).
    assert!(
        (Duration::from_millis(180)..Duration::from_millis(360)).contains(&total),
        "first + second = ~180 ms, got {total:?}"
    );
    assert!(eta.remaining_p90.unwrap() >= total);

    // Once the first step is done, only the second remains.
    let claim = store.start(run.id, "w").await.unwrap();
    store
        .record(&claim, &started(first_step::key()))
        .await
        .unwrap();
    store
        .record(&claim, &materialized("eta/first_step", 3, 1))
        .await
        .unwrap();
    let eta = store.estimate(run.id, &defs).await.unwrap();
    let left = eta.remaining.unwrap();
    assert!(
        (Duration::from_millis(120)..Duration::from_millis(180)).contains(&left),
        "second = ~120 ms, got {left:?}"
    );
    assert!(eta.finish_at.unwrap() >= chrono::Utc::now());
    assert_eq!(eta.basis.len(), 1);
}

fn writing(assets: &[&str]) -> NewRun {
    NewRun {
        assets: assets.iter().map(|a| AssetKey::parse(a)).collect(),
        ..NewRun::new("*")
    }
}

async fn asset_exclusion(store: RunStore) {
    let r1 = store.submit(&writing(&["omop/person"])).await.unwrap();
    let r2 = store
        .submit(&writing(&["omop/person", "omop/visit"]))
        .await
        .unwrap();
    let r3 = store.submit(&writing(&["vocab/concept"])).await.unwrap();
    let claim = |w: &'static str| {
        let store = store.clone();
        async move { store.claim(w, None).await.unwrap().map(|r| r.id) }
    };
    let r1_claim = store
        .claim("a", None)
        .await
        .unwrap()
        .unwrap()
        .claim()
        .unwrap();
    assert_eq!(r1_claim.run, r1.id);
    assert_eq!(
        claim("b").await,
        Some(r3.id),
        "r2 shares omop/person with the started r1"
    );
    assert_eq!(claim("c").await, None);
    store.finish(&r1_claim, None).await.unwrap();
    assert_eq!(claim("c").await, Some(r2.id));
}

async fn global_limit(store: RunStore) {
    let r1 = store.submit(&writing(&["a"])).await.unwrap();
    store.submit(&writing(&["b"])).await.unwrap();
    assert_eq!(
        store.claim("w", Some(1)).await.unwrap().map(|r| r.id),
        Some(r1.id)
    );
    assert!(store.claim("w", Some(1)).await.unwrap().is_none());
    assert!(store.claim("w", Some(2)).await.unwrap().is_some());
}

#[asset(key_prefix = "queue")]
fn sleepy() -> DataFrame {
    std::thread::sleep(Duration::from_secs(2));
    df!["v" => [1i64]].unwrap()
}

async fn cancel_running(store: RunStore) {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let defs = Definitions::new([sleepy::definition()]).unwrap();
    let run = store
        .submit(&NewRun::selecting(&defs, "queue/sleepy").unwrap())
        .await
        .unwrap();
    let worker = {
        let (store, lake, defs) = (store.clone(), lake.clone(), defs.clone());
        tokio::spawn(async move {
            let options = WorkerOptions {
                heartbeat_interval: Duration::from_millis(50),
                ..WorkerOptions::default()
            };
            work_one(&store, &lake, &defs, &options).await.unwrap()
        })
    };
    while store.get(run.id).await.unwrap().unwrap().state != RunState::Started {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    store.cancel(run.id, "operator").await.unwrap();
    let started = std::time::Instant::now();
    let finished = worker.await.unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "the worker stopped at its next heartbeat"
    );
    assert_eq!(finished.state, RunState::Canceled);
    let kinds = common::event_kinds(&store, run.id).await;
    assert!(
        !kinds.iter().any(|k| k == "asset_materialized"),
        "{kinds:?}"
    );
}

/// Fails its first attempt.
#[asset(key_prefix = "queue", retry(max_attempts = 2, backoff_ms = 10))]
fn flaky_once(ctx: &AssetContext) -> std::result::Result<DataFrame, String> {
    if ctx.attempt() == 1 {
        return Err("transient".into());
    }
    Ok(df!["v" => [1i64]].unwrap())
}

async fn retries_recorded(store: RunStore) {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let defs = Definitions::new([flaky_once::definition()]).unwrap();
    let run = store
        .submit(&NewRun::selecting(&defs, "queue/flaky_once").unwrap())
        .await
        .unwrap();
    let done = work_one(&store, &lake, &defs, &WorkerOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.state, RunState::Success);
    let events = store.events(run.id).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "queued",
            "started",
            "run_started",
            "asset_started",
            "asset_failed",
            "asset_started",
            "asset_materialized",
            "run_finished",
            "succeeded"
        ]
    );
    let failed = events
        .iter()
        .find(|e| e.kind == EventKind::AssetFailed)
        .unwrap();
    assert_eq!(
        (
            failed.detail["attempt"].as_u64(),
            failed.detail["will_retry"].as_bool()
        ),
        (Some(1), Some(true))
    );
}

async fn pool(store: RunStore) {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let defs = Definitions::new([tick::definition(), first_step::definition()]).unwrap();
    let options = WorkerOptions {
        poll_interval: Duration::from_millis(20),
        ..WorkerOptions::default()
    };
    let pool = WorkerPool::spawn(&store, &lake, &defs, 2, &options).unwrap();
    let mut ids = Vec::new();
    for i in 0..6 {
        let selection = if i % 2 == 0 {
            "queue/tick"
        } else {
            "eta/first_step"
        };
        ids.push(
            store
                .submit(&NewRun::selecting(&defs, selection).unwrap())
                .await
                .unwrap()
                .id,
        );
    }
    for &id in &ids {
        while !store.get(id).await.unwrap().unwrap().state.is_final() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            store.get(id).await.unwrap().unwrap().state,
            RunState::Success
        );
    }
    pool.shutdown().await.unwrap();
}

mod ingestion;
