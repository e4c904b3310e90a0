//! API keys, scopes and rate limits.

use std::time::Duration;

use pluginlake_server::{RateLimit, ServerConfig};

use super::{lab_records, problem, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_a_key_is_401() {
    let server = TestServer::start().await;
    let response = server
        .client
        .post(format!("{}/ingest/labs", server.url))
        .header("content-type", "application/json")
        .body(lab_records(0, 1))
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("www-authenticate"));
    problem(response, 401).await;
    assert!(server.staged().is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_is_401() {
    let server = TestServer::start().await;
    let forged = format!("plk_{}", "0".repeat(64));
    for key in [forged.as_str(), "not-a-key", &server.keys.labs[..40]] {
        let response = server
            .ingest("labs", key, "application/json", lab_records(0, 1))
            .await;
        problem(response, 401).await;
    }
    let response = server
        .client
        .post(format!("{}/ingest/labs", server.url))
        .header("x-api-key", &server.keys.labs)
        .header("content-type", "application/json")
        .body(lab_records(0, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "X-API-Key works too");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_without_the_datasets_scope_is_403() {
    let server = TestServer::start().await;
    for key in [&server.keys.vitals, &server.keys.reader] {
        let response = server
            .ingest("labs", key, "application/json", lab_records(0, 1))
            .await;
        let body = problem(response, 403).await;
        assert!(
            body["detail"].as_str().unwrap().contains("ingest:"),
            "{body}"
        );
    }
    let admin = server
        .ingest(
            "labs",
            &server.keys.admin,
            "application/json",
            lab_records(0, 1),
        )
        .await;
    assert_eq!(admin.status(), 202, "admin may ingest anywhere");
    assert_eq!(server.runs().await, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_over_its_rate_is_429_with_retry_after() {
    let config = ServerConfig {
        key_rate: RateLimit::new(0.5, 2.0),
        ..ServerConfig::default()
    };
    let server = TestServer::with(None, config).await;
    for i in 0..2 {
        let r = server
            .ingest(
                "labs",
                &server.keys.labs,
                "application/json",
                lab_records(i, 1),
            )
            .await;
        assert_eq!(r.status(), 202);
    }
    let limited = server
        .ingest(
            "labs",
            &server.keys.labs,
            "application/json",
            lab_records(9, 1),
        )
        .await;
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    problem(limited, 429).await;
    // Another key has its own bucket.
    let other = server
        .ingest(
            "labs",
            &server.keys.admin,
            "application/json",
            lab_records(20, 1),
        )
        .await;
    assert_eq!(other.status(), 202);
    assert_eq!(server.runs().await, 3);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_address_over_its_rate_is_429_before_authentication() {
    let config = ServerConfig {
        address_rate: RateLimit::new(0.2, 3.0),
        ..ServerConfig::default()
    };
    let server = TestServer::with(None, config).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = server
            .ingest("labs", "plk_wrong", "application/json", "[]")
            .await;
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
            problem(r, 429).await;
        }
    }
    assert_eq!(statuses, [401, 401, 401, 429]);
    tokio::time::sleep(Duration::from_millis(10)).await;
    server.stop().await;
}
