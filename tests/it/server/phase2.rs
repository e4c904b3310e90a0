//! Phase 2's lifecycle: the staged payload deleted after success (or kept for the dataset's
//! retention, then swept), kept after failure, every outcome in the ingestion log; downstream
//! assets in the same run; a run recovered after committing still finds its payload.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pluginlake::graph::{AssetDef, AssetSpec, Definitions};
use pluginlake::ingest::Dataset;
use pluginlake::run::{RunState, WorkerOptions};
use pluginlake::AssetKey;
use pluginlake::Lake;
use pluginlake_server::ServerConfig;
use polars::prelude::*;
use tokio::sync::Notify;

use super::{lab_records, lab_rows, labs, vitals, TestServer};

/// How the test summary asset behaves.
#[derive(Clone, Default)]
pub(crate) struct Summary {
    /// Fail while set.
    pub(crate) fail: Arc<AtomicBool>,
    /// Once set: notify `started`, then wait forever (a worker that hangs after the dataset's
    /// asset committed); cleared when it fires.
    pub(crate) hang_once: Arc<AtomicBool>,
    pub(crate) started: Arc<Notify>,
}

/// `lab/summary`: one row with the number of lab results, read from the dataset's table.
pub(crate) fn summary_asset(s: Summary) -> AssetDef {
    let spec = AssetSpec::new(["lab", "summary"]).with_deps([AssetKey::new(["lab", "results"])]);
    AssetDef::new(spec, move |ctx| {
        let s = s.clone();
        async move {
            if s.hang_once.swap(false, Ordering::SeqCst) {
                s.started.notify_one();
                std::future::pending::<()>().await;
            }
            if s.fail.load(Ordering::SeqCst) {
                return Err(pluginlake::Error::Config("the summary is broken".into()));
            }
            let results: DataFrame = ctx.load(AssetKey::new(["lab", "results"])).await?;
            let rows = results.height() as i64;
            ctx.store(df!["results" => [rows]].unwrap()).await
        }
    })
}

/// A server whose `labs` dataset runs `lab/summary` downstream, and `labs` itself.
pub(crate) async fn with_summary(
    store_url: Option<String>,
    labs: Dataset,
    summary: Summary,
) -> TestServer {
    let labs = labs.with_downstream([AssetKey::new(["lab", "summary"])]);
    let defs = Definitions::new([
        labs.definition(),
        vitals().definition(),
        summary_asset(summary),
    ])
    .unwrap();
    TestServer::serving(
        store_url,
        ServerConfig::default(),
        defs,
        vec![labs, vitals()],
    )
    .await
}

/// The rows the summary counted (`None`: no summary stored).
pub(crate) fn summarized(lake: &Lake) -> Option<i64> {
    let frame: DataFrame = lake.load(["lab", "summary"]).ok()?;
    frame.column("results").ok()?.i64().ok()?.get(0)
}

async fn a_succeeded_runs_payload_is_deleted_and_its_outcome_logged(server: TestServer) {
    let id = server.accepted("application/json", lab_records(0, 3)).await;
    assert_eq!(server.staged().len(), 1);
    let lake = server.lake();
    let run = server.work(&lake).await.expect("the run");
    assert_eq!(run.state, RunState::Success, "{:?}", run.error);
    assert!(server.staged().is_empty(), "{:?}", server.staged());

    let lines = server.log_lines();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(lines[0]["outcome"], "accepted");
    let outcome = &lines[1];
    assert_eq!(outcome["phase"], "run");
    assert_eq!(outcome["tracking_id"], id.to_string());
    assert_eq!(outcome["dataset"], "labs");
    assert_eq!(outcome["outcome"], "succeeded");
    assert_eq!(outcome["rows"], 3);
    assert_eq!(outcome["attempts"], 1);
    assert_eq!(outcome["payload"], "deleted");
    assert!(outcome["snapshot_id"].as_i64().is_some(), "{outcome}");
    assert!(outcome["duration_ms"].as_f64().is_some(), "{outcome}");
    assert_eq!(lab_rows(&lake), 3);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_succeeded_runs_payload_is_deleted_and_its_outcome_logged_on_sqlite() {
    a_succeeded_runs_payload_is_deleted_and_its_outcome_logged(TestServer::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_succeeded_runs_payload_is_deleted_and_its_outcome_logged_on_postgres() {
    let Some((url, schema)) = crate::common::postgres_run_store(
        "a_succeeded_runs_payload_is_deleted_and_its_outcome_logged_on_postgres",
    )
    .await
    else {
        return;
    };
    let server = TestServer::with(Some(url), ServerConfig::default()).await;
    a_succeeded_runs_payload_is_deleted_and_its_outcome_logged(server).await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_runs_payload_is_kept_and_its_failure_logged() {
    let server = TestServer::start().await;
    let id = server.accepted("application/json", lab_records(0, 2)).await;
    let staged = server.staged().pop().unwrap();
    std::fs::write(&staged, "[{\"person_id\": \"x\"}]").unwrap();
    let run = server.work(&server.lake()).await.unwrap();
    assert_eq!(run.state, RunState::Failure);
    assert!(staged.is_file(), "the payload is kept after a failure");
    let lines = server.log_lines();
    let outcome = lines.last().unwrap();
    assert_eq!(outcome["tracking_id"], id.to_string());
    assert_eq!(outcome["outcome"], "failed");
    assert_eq!(outcome["payload"], "kept");
    assert!(outcome["rows"].is_null(), "{outcome}");
    assert!(
        outcome["error"].as_str().unwrap().contains("person_id"),
        "{outcome}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_datasets_downstream_assets_run_in_the_same_run() {
    let server = with_summary(None, labs(), Summary::default()).await;
    let id = server.accepted("application/json", lab_records(0, 5)).await;
    let record = server.store.get(id).await.unwrap().unwrap();
    assert_eq!(record.selection, "lab/results,lab/summary");
    let lake = server.lake();
    let run = server.work(&lake).await.expect("the run");
    assert_eq!(
        (run.id, run.state),
        (id, RunState::Success),
        "{:?}",
        run.error
    );
    assert_eq!(summarized(&lake), Some(5));
    let materialized: Vec<String> = server
        .store
        .events(id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == pluginlake::run::EventKind::AssetMaterialized)
        .filter_map(|e| e.asset.map(|a| a.to_string()))
        .collect();
    assert_eq!(materialized, ["lab/results", "lab/summary"]);
    // Both assets' snapshots carry the tracking id as their run id.
    let tagged = lake
        .snapshots()
        .unwrap()
        .into_iter()
        .filter_map(|s| serde_json::from_str::<serde_json::Value>(&s.commit_extra_info?).ok())
        .filter(|info| info["run_id"] == id.to_string())
        .count();
    assert_eq!(tagged, 2);
    assert!(server.staged().is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_downstream_asset_fails_keeps_its_payload() {
    let summary = Summary::default();
    summary.fail.store(true, Ordering::SeqCst);
    let server = with_summary(None, labs(), summary).await;
    server.accepted("application/json", lab_records(0, 4)).await;
    let lake = server.lake();
    let run = server.work(&lake).await.expect("the run");
    assert_eq!(run.state, RunState::Failure);
    assert!(
        run.error.as_deref().unwrap().contains("summary is broken"),
        "{:?}",
        run.error
    );
    // The dataset's rows were stored, and the payload is kept for a re-submit.
    assert_eq!(lab_rows(&lake), 4);
    assert_eq!(server.staged().len(), 1);
    assert_eq!(server.log_lines().last().unwrap()["rows"], 4);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_payload_is_swept_once_its_retention_has_passed() {
    let keep = Duration::from_secs(3600);
    let labs = labs().with_keep_staged(keep);
    let defs = Definitions::new([labs.definition(), vitals().definition()]).unwrap();
    let server =
        TestServer::serving(None, ServerConfig::default(), defs, vec![labs, vitals()]).await;
    let succeeded = server.accepted("application/json", lab_records(0, 2)).await;
    let failed = server.accepted("application/json", lab_records(5, 2)).await;
    let staged_failed = server
        .staged()
        .into_iter()
        .find(|p| p.to_string_lossy().contains(&failed.to_string()))
        .unwrap();
    std::fs::write(&staged_failed, "not json").unwrap();
    let lake = server.lake();
    for _ in 0..2 {
        server.work(&lake).await.unwrap();
    }
    let state = |id| {
        let store = server.store.clone();
        async move { store.get(id).await.unwrap().unwrap().state }
    };
    assert_eq!(state(succeeded).await, RunState::Success);
    assert_eq!(state(failed).await, RunState::Failure);
    assert_eq!(server.staged().len(), 2, "kept for an hour");
    let logged = server.log_lines();
    let line = logged
        .iter()
        .find(|l| l["tracking_id"] == succeeded.to_string() && l["phase"] == "run")
        .unwrap();
    assert_eq!(line["payload"], "kept");

    let staging = server.staging();
    let now = chrono::Utc::now();
    assert!(staging
        .sweep(&server.store, now, false)
        .await
        .unwrap()
        .is_empty());
    let later = now + chrono::Duration::hours(2);
    let would = staging.sweep(&server.store, later, true).await.unwrap();
    assert_eq!(would.len(), 1);
    assert_eq!(server.staged().len(), 2, "a dry run deletes nothing");
    let swept = staging.sweep(&server.store, later, false).await.unwrap();
    assert_eq!(swept, would);
    assert_eq!(
        server.staged(),
        [staged_failed],
        "the failed run's payload stays"
    );
    // Sweeping again finds nothing (deleting is idempotent).
    assert!(staging
        .sweep(&server.store, later, false)
        .await
        .unwrap()
        .is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_recovered_after_committing_still_finds_its_payload_and_stores_once() {
    let summary = Summary::default();
    summary.hang_once.store(true, Ordering::SeqCst);
    let started = summary.started.clone();
    let server = with_summary(None, labs(), summary).await;
    let id = server.accepted("application/json", lab_records(0, 6)).await;
    let lake = server.lake();
    let options = WorkerOptions {
        heartbeat_interval: Duration::from_millis(200),
        stale_after: Duration::from_secs(1),
        ..server.worker()
    };
    // The first worker commits the dataset's rows, then hangs in the downstream asset and
    // dies (its future dropped): the run stays started, its payload is not touched.
    tokio::select! {
        r = pluginlake::run::work_one(&server.store, &lake, &server.defs, &options) => {
            panic!("the first attempt finished: {r:?}")
        }
        () = started.notified() => {}
    }
    assert_eq!(lab_rows(&lake), 6);
    assert_eq!(
        server.staged().len(),
        1,
        "the payload is kept while the run may be retried"
    );
    assert_eq!(
        server.store.get(id).await.unwrap().unwrap().state,
        RunState::Started
    );
    // Another worker recovers the run: the dataset's rows are not stored twice.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let run = pluginlake::run::work_one(&server.store, &lake, &server.defs, &options)
        .await
        .unwrap()
        .expect("the recovered run");
    assert_eq!(
        (run.id, run.state),
        (id, RunState::Success),
        "{:?}",
        run.error
    );
    assert_eq!(run.attempt, 2);
    assert_eq!(lab_rows(&lake), 6, "stored once");
    assert_eq!(summarized(&lake), Some(6));
    assert!(server.staged().is_empty());
    let lines = server.log_lines();
    assert_eq!(lines.len(), 2, "one outcome: {lines:#?}");
    assert_eq!(lines[1]["attempts"], 2);
    server.stop().await;
}
