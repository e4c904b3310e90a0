//! `GET /ingest/{tracking_id}/status`, and phase 2: the run that stores the payload.

use std::time::Duration;

use pluginlake::run::{RunId, WorkerOptions};
use pluginlake_server::ServerConfig;

use super::{lab_records, lab_rows, problem, TestServer};

async fn status(server: &TestServer, id: &str, key: &str) -> reqwest::Response {
    server
        .client
        .get(format!("{}/ingest/{id}/status", server.url))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

async fn accepted_id(server: &TestServer, records: String) -> String {
    let r = server
        .ingest("labs", &server.keys.labs, "application/json", records)
        .await;
    assert_eq!(r.status(), 202);
    let v: serde_json::Value = r.json().await.unwrap();
    v["tracking_id"].as_str().unwrap().to_owned()
}

/// Phase 1, then phase 2, with the status read at each step: queued, started (claimed by a
/// worker that then dies), and success after another worker recovers and runs it; the rows are
/// in DuckLake once.
async fn status_moves_from_queued_to_started_to_success(server: TestServer) {
    let id = accepted_id(&server, lab_records(0, 25)).await;

    let queued = status(&server, &id, &server.keys.labs).await;
    assert_eq!(queued.status(), 200);
    assert!(queued.headers().contains_key("retry-after"));
    let body: serde_json::Value = queued.json().await.unwrap();
    assert_eq!(body["state"], "queued", "{body}");
    assert_eq!(body["dataset"], "labs");
    assert_eq!(body["tracking_id"], id.as_str());
    assert_eq!(body["queue_position"], 0);
    assert_eq!(body["eta"]["unknown_assets"][0], "lab/results", "{body}");
    assert!(body["submitted_at"].is_string());

    // A worker claims it, then dies without a heartbeat.
    let claimed = server.store.claim("dead-worker", None).await.unwrap();
    assert_eq!(claimed.unwrap().id, id.parse::<RunId>().unwrap());
    let started: serde_json::Value = status(&server, &id, &server.keys.labs)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(started["state"], "started", "{started}");
    assert_eq!(started["attempts"], 1);
    assert!(started["started_at"].is_string());

    // Another worker recovers the run and runs it.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let lake = server.lake();
    let options = WorkerOptions {
        heartbeat_interval: Duration::from_millis(200),
        stale_after: Duration::from_secs(1),
        ..WorkerOptions::default()
    };
    let run = pluginlake::run::work_one(&server.store, &lake, &super::definitions(), &options)
        .await
        .unwrap()
        .expect("the recovered run");
    assert_eq!(
        run.state,
        pluginlake::run::RunState::Success,
        "{:?}",
        run.error
    );

    let done = status(&server, &id, &server.keys.labs).await;
    assert!(!done.headers().contains_key("retry-after"));
    let done: serde_json::Value = done.json().await.unwrap();
    assert_eq!(done["state"], "success", "{done}");
    assert_eq!(done["attempts"], 2);
    assert!(done["ended_at"].is_string());
    let asset = &done["assets"][0];
    assert_eq!(asset["key"], "lab/results");
    assert_eq!(asset["state"], "materialized");
    assert_eq!(asset["rows"], 25);
    assert!(asset["snapshot_id"].as_i64().is_some(), "{done}");
    assert_eq!(lab_rows(&lake), 25);
    // The snapshot is tagged with the run id.
    let snapshots = lake.snapshots().unwrap();
    let text = format!("{snapshots:?}");
    assert!(text.contains(&id), "{text}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_moves_from_queued_to_started_to_success_on_sqlite() {
    status_moves_from_queued_to_started_to_success(TestServer::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_moves_from_queued_to_started_to_success_on_postgres() {
    let Some((url, schema)) = crate::common::postgres_run_store(
        "status_moves_from_queued_to_started_to_success_on_postgres",
    )
    .await
    else {
        return;
    };
    let server = TestServer::with(Some(url), ServerConfig::default()).await;
    status_moves_from_queued_to_started_to_success(server).await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_tracking_id_is_404() {
    let server = TestServer::start().await;
    for id in [RunId::new().to_string(), "not-an-id".to_owned()] {
        let r = status(&server, &id, &server.keys.admin).await;
        problem(r, 404).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_without_the_datasets_scope_cannot_see_its_status() {
    let server = TestServer::start().await;
    let id = accepted_id(&server, lab_records(0, 1)).await;
    for key in [&server.keys.vitals, &server.keys.reader] {
        problem(status(&server, &id, key).await, 403).await;
    }
    assert_eq!(status(&server, &id, &server.keys.admin).await.status(), 200);
    problem(
        server
            .client
            .get(format!("{}/ingest/{id}/status", server.url))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_shows_its_error_and_keeps_its_payload() {
    let server = TestServer::start().await;
    let id = accepted_id(&server, lab_records(0, 2)).await;
    // The payload is damaged on disk after phase 1: phase 2 checks it again and fails.
    let staged = server.staged().pop().unwrap();
    std::fs::write(&staged, "[{\"person_id\": \"x\"}]").unwrap();
    let lake = server.lake();
    let run = server.work(&lake).await.unwrap();
    assert_eq!(run.state, pluginlake::run::RunState::Failure);
    let body: serde_json::Value = status(&server, &id, &server.keys.labs)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["state"], "failure");
    assert!(
        body["error"].as_str().unwrap().contains("person_id"),
        "{body}"
    );
    assert_eq!(body["assets"][0]["state"], "failed");
    assert!(staged.is_file(), "the payload is kept after a failure");
    assert_eq!(lab_rows(&lake), 0);
    server.stop().await;
}

/// A client tells "queued, and no worker alive" (no worker seen) from "queued behind others"
/// (workers seen): the workers' loops record that they are alive even while idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_lists_the_workers_seen_lately() {
    let server = TestServer::start().await;
    let id = accepted_id(&server, lab_records(0, 2)).await;
    let body: serde_json::Value = status(&server, &id, &server.keys.labs)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["state"], "queued");
    assert_eq!(body["workers_seen"], serde_json::json!([]), "{body}");

    let lake = server.lake();
    let options = super::fast_worker();
    let pool = pluginlake::run::WorkerPool::spawn(
        &server.store,
        &lake,
        &super::definitions(),
        1,
        &options,
    )
    .unwrap();
    let started = std::time::Instant::now();
    let body = loop {
        let body: serde_json::Value = status(&server, &id, &server.keys.labs)
            .await
            .json()
            .await
            .unwrap();
        if body["state"] == "success" {
            break body;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let seen = body["workers_seen"].as_array().unwrap();
    assert_eq!(seen.len(), 1, "{body}");
    assert_eq!(seen[0]["id"], format!("{}-0", options.id).as_str());
    assert!(seen[0]["last_seen"].is_string(), "{body}");

    pool.shutdown().await.unwrap();
    let body: serde_json::Value = status(&server, &id, &server.keys.labs)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["workers_seen"],
        serde_json::json!([]),
        "a stopped worker is not seen: {body}"
    );
    server.stop().await;
}
