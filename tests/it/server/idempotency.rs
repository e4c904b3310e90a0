//! `Idempotency-Key`, kept in the run store: across restarts, under concurrency, and until it
//! expires.

use std::time::Duration;

use pluginlake_server::ServerConfig;

use super::{lab_records, problem, TestServer};

/// POST `body` to `/ingest/labs` with the labs key and `Idempotency-Key: key`.
async fn send(server: &TestServer, key: &str, body: String) -> reqwest::Response {
    server
        .client
        .post(format!("{}/ingest/labs", server.url))
        .bearer_auth(&server.keys.labs)
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn tracking_id(r: reqwest::Response) -> String {
    assert_eq!(r.status(), 202);
    let v: serde_json::Value = r.json().await.unwrap();
    v["tracking_id"].as_str().unwrap().to_owned()
}

/// The first server answers 202 and stops; a new server (new state, nothing in memory) over the
/// same run store answers the retry with the same tracking id, and there is one run.
async fn a_retry_after_a_restart_gets_the_same_tracking_id(store_url: String) {
    let first = TestServer::with(Some(store_url.clone()), ServerConfig::default()).await;
    let id = tracking_id(send(&first, "k-restart", lab_records(0, 3)).await).await;
    let _kept = first.stop().await;

    let second = TestServer::with(Some(store_url), ServerConfig::default()).await;
    let retried = send(&second, "k-restart", lab_records(0, 3)).await;
    assert_eq!(
        retried.headers()["location"].to_str().unwrap(),
        format!("/ingest/{id}/status")
    );
    assert_eq!(tracking_id(retried).await, id);
    assert_eq!(second.runs().await, 1);
    assert!(
        second.staged().is_empty(),
        "the retry's payload is not staged again"
    );
    problem(send(&second, "k-restart", lab_records(1, 3)).await, 409).await;
    assert_eq!(second.runs().await, 1);
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_restart_gets_the_same_tracking_id_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    a_retry_after_a_restart_gets_the_same_tracking_id(super::sqlite_url(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_restart_gets_the_same_tracking_id_on_postgres() {
    let Some((url, schema)) = crate::common::postgres_run_store(
        "a_retry_after_a_restart_gets_the_same_tracking_id_on_postgres",
    )
    .await
    else {
        return;
    };
    a_retry_after_a_restart_gets_the_same_tracking_id(url).await;
    schema.drop().await;
}

/// Sixteen requests with one key and one body at once: one run, one staged payload, and every
/// request answered 202 with its tracking id.
async fn concurrent_retries_make_one_run_and_all_get_its_id(server: TestServer) {
    let answers = send_at_once(&server, "k-burst", vec![lab_records(0, 2); 16]).await;
    let mut ids = Vec::new();
    for a in answers {
        ids.push(tracking_id(a).await);
    }
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    assert_eq!(server.runs().await, 1);
    assert_eq!(server.staged().len(), 1, "{:?}", server.staged());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_make_one_run_and_all_get_its_id_on_sqlite() {
    concurrent_retries_make_one_run_and_all_get_its_id(TestServer::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_make_one_run_and_all_get_its_id_on_postgres() {
    let Some((url, schema)) = crate::common::postgres_run_store(
        "concurrent_retries_make_one_run_and_all_get_its_id_on_postgres",
    )
    .await
    else {
        return;
    };
    let server = TestServer::with(Some(url), ServerConfig::default()).await;
    concurrent_retries_make_one_run_and_all_get_its_id(server).await;
    schema.drop().await;
}

/// Requests with one key and different bodies at once: one is accepted, every other one is 409,
/// and only the accepted one has a run and a staged payload.
async fn concurrent_requests_with_other_bodies_make_one_run_and_conflicts(server: TestServer) {
    let bodies = (0..8).map(|i| lab_records(i * 10, 2)).collect();
    let answers = send_at_once(&server, "k-race", bodies).await;
    let mut accepted = 0;
    for a in answers {
        match a.status().as_u16() {
            202 => accepted += 1,
            409 => {
                problem(a, 409).await;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(accepted, 1);
    assert_eq!(server.runs().await, 1);
    assert_eq!(server.staged().len(), 1, "{:?}", server.staged());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_other_bodies_make_one_run_and_conflicts_on_sqlite() {
    concurrent_requests_with_other_bodies_make_one_run_and_conflicts(TestServer::start().await)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_other_bodies_make_one_run_and_conflicts_on_postgres() {
    let Some((url, schema)) = crate::common::postgres_run_store(
        "concurrent_requests_with_other_bodies_make_one_run_and_conflicts_on_postgres",
    )
    .await
    else {
        return;
    };
    let server = TestServer::with(Some(url), ServerConfig::default()).await;
    concurrent_requests_with_other_bodies_make_one_run_and_conflicts(server).await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_reused_after_its_time_makes_a_new_ingestion() {
    let config = ServerConfig {
        idempotency_ttl: Duration::from_millis(500),
        ..ServerConfig::default()
    };
    let server = TestServer::with(None, config).await;
    let first = tracking_id(send(&server, "k-old", lab_records(0, 2)).await).await;
    assert_eq!(
        tracking_id(send(&server, "k-old", lab_records(0, 2)).await).await,
        first,
        "held"
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    let second = tracking_id(send(&server, "k-old", lab_records(5, 2)).await).await;
    assert_ne!(second, first);
    assert_eq!(server.runs().await, 2);
    assert_eq!(server.staged().len(), 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_idempotency_key_of_two_api_keys_is_two_ingestions() {
    let server = TestServer::start().await;
    let labs = tracking_id(send(&server, "k-shared", lab_records(0, 2)).await).await;
    let admin = server
        .client
        .post(format!("{}/ingest/labs", server.url))
        .bearer_auth(&server.keys.admin)
        .header("content-type", "application/json")
        .header("idempotency-key", "k-shared")
        .body(lab_records(0, 2))
        .send()
        .await
        .unwrap();
    assert_ne!(tracking_id(admin).await, labs);
    assert_eq!(server.runs().await, 2);
    server.stop().await;
}

/// Send `bodies` with `Idempotency-Key: key` at once, each on its own task; the answers in
/// order.
async fn send_at_once(
    server: &TestServer,
    key: &str,
    bodies: Vec<String>,
) -> Vec<reqwest::Response> {
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(bodies.len()));
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let (client, url) = (server.client.clone(), format!("{}/ingest/labs", server.url));
            let (api_key, key, start) = (server.keys.labs.clone(), key.to_owned(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                client
                    .post(url)
                    .bearer_auth(api_key)
                    .header("content-type", "application/json")
                    .header("idempotency-key", key)
                    .body(body)
                    .send()
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    answers
}
