//! `POST /ingest/{dataset}`: phase 1 (check, stage, submit, 202) and what it refuses.

use std::time::Duration;

use pluginlake::run::{RunId, RunState};
use pluginlake_server::ServerConfig;

use super::{lab_records, problem, raw_request, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_payload_is_staged_and_queued_under_its_tracking_id() {
    let server = TestServer::start().await;
    let body = lab_records(0, 3);
    let response = server
        .ingest("labs", &server.keys.labs, "application/json", body.clone())
        .await;
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let answer: serde_json::Value = response.json().await.unwrap();
    let id: RunId = answer["tracking_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(answer["status_url"], format!("/ingest/{id}/status"));
    assert_eq!(location, format!("/ingest/{id}/status"));

    let staged = super::staging_dir(server.dir.path())
        .join("labs")
        .join(format!("{id}.json"));
    assert_eq!(std::fs::read_to_string(&staged).unwrap(), body);
    assert_eq!(server.staged(), std::slice::from_ref(&staged));
    let run = server.store.get(id).await.unwrap().expect("the run");
    assert_eq!(run.state, RunState::Queued);
    assert_eq!(run.payload.as_deref(), Some(staged.to_str().unwrap()));
    assert_eq!(run.tags["dataset"], "labs");
    assert_eq!(run.tags["api_key"], "labs-loader");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_and_csv_bodies_are_accepted_and_stored() {
    let server = TestServer::start().await;
    let ndjson = "{\"person_id\": 1, \"sample_id\": \"a\", \"measured_on\": \"2024-01-01\"}\n\n\
                  {\"person_id\": 2, \"sample_id\": \"b\", \"measured_on\": \"2024-01-02\", \"value\": 3}\n";
    let csv = "person_id,sample_id,code,value,unit,measured_on\n3,c,B12,1.5,mmol/L,2024-01-03\n4,d,C01,,mmol/L,2024-01-04\n";
    for (content_type, body, ext) in [
        ("application/x-ndjson", ndjson, "ndjson"),
        ("text/csv; charset=utf-8", csv, "csv"),
    ] {
        let r = server
            .ingest("labs", &server.keys.labs, content_type, body)
            .await;
        assert_eq!(r.status(), 202, "{content_type}");
        let answer: serde_json::Value = r.json().await.unwrap();
        let id = answer["tracking_id"].as_str().unwrap();
        let staged = super::staging_dir(server.dir.path())
            .join("labs")
            .join(format!("{id}.{ext}"));
        assert!(staged.is_file(), "{}", staged.display());
    }
    let lake = server.lake();
    for _ in 0..2 {
        let run = server.work(&lake).await.expect("a run");
        assert_eq!(run.state, RunState::Success, "{:?}", run.error);
    }
    assert_eq!(super::lab_rows(&lake), 4);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_violations_are_422_listing_each_with_row_and_field() {
    let server = TestServer::start().await;
    let body = serde_json::json!([
        {"person_id": 1, "sample_id": "a", "measured_on": "2024-01-01"},
        {"person_id": 0, "sample_id": "b", "code": "bad", "measured_on": "2024-01-01"},
        {"person_id": "x", "sample_id": "a", "unit": "kg", "measured_on": "yesterday", "extra": 1},
        {"sample_id": "c", "value": 1e6, "measured_on": null},
    ])
    .to_string();
    let r = server
        .ingest("labs", &server.keys.labs, "application/json", body)
        .await;
    let problem = problem(r, 422).await;
    let found: Vec<(u64, String)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().unwrap(),
                e["field"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(u64, String)> = [
        (2, "person_id"),
        (2, "code"),
        (3, "extra"),
        (3, "person_id"),
        (3, "measured_on"),
        (3, "sample_id"),
        (3, "unit"),
        (4, "person_id"),
        (4, "value"),
        (4, "measured_on"),
    ]
    .iter()
    .map(|(r, f)| (*r, f.to_string()))
    .collect();
    let mut sorted_found = found.clone();
    sorted_found.sort();
    let mut sorted_expected = expected.clone();
    sorted_expected.sort();
    assert_eq!(sorted_found, sorted_expected, "{problem:#}");
    let first = &problem["errors"][0];
    assert_eq!(first["pointer"], "/1/person_id");
    assert!(
        first["message"].as_str().unwrap().contains("range"),
        "{first}"
    );
    assert!(server.staged().is_empty(), "nothing staged");
    assert_eq!(server.runs().await, 0, "no run");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violations_past_the_cap_are_counted_not_listed() {
    let server = TestServer::start().await;
    let records: Vec<serde_json::Value> = (0..150)
        .map(|i| serde_json::json!({"person_id": -1, "sample_id": format!("s{i}"), "measured_on": "2024-01-01"}))
        .collect();
    let r = server
        .ingest(
            "labs",
            &server.keys.labs,
            "application/json",
            serde_json::Value::from(records).to_string(),
        )
        .await;
    let problem = problem(r, 422).await;
    assert_eq!(problem["errors"].as_array().unwrap().len(), 100);
    assert_eq!(problem["more_errors"], 50);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_body_is_400_naming_line_and_column() {
    let server = TestServer::start().await;
    let r = server
        .ingest(
            "labs",
            &server.keys.labs,
            "application/json",
            "[{\"person_id\": 1},\n {\"person_id\": ]",
        )
        .await;
    let problem = problem(r, 400).await;
    assert_eq!(problem["errors"][0]["line"], 2, "{problem}");
    assert!(
        problem["errors"][0]["column"].as_u64().is_some(),
        "{problem}"
    );
    assert!(
        problem["detail"].as_str().unwrap().contains("line 2"),
        "{problem}"
    );
    let r = server
        .ingest(
            "labs",
            &server.keys.labs,
            "text/csv",
            "person_id,sample_id\n1,a\n2\n",
        )
        .await;
    let problem = super::problem(r, 400).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("line 3"),
        "{problem}"
    );
    assert!(server.staged().is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsupported_content_type_is_415_listing_every_accepted_one() {
    let server = TestServer::start().await;
    for content_type in ["text/plain", "", "application/xhtml+xml"] {
        let r = server
            .ingest("labs", &server.keys.labs, content_type, lab_records(0, 1))
            .await;
        let p = problem(r, 415).await;
        let detail = p["detail"].as_str().unwrap();
        for accepted in [
            "application/json",
            "application/x-ndjson",
            "text/csv",
            "application/xml",
            "text/xml",
            "application/vnd.apache.parquet",
            "application/x-parquet",
        ] {
            assert!(detail.contains(accepted), "{accepted}: {p}");
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_413_announced_or_streamed() {
    let config = ServerConfig {
        body_limit: 1 << 20,
        ..ServerConfig::default()
    };
    let server = TestServer::with(None, config).await;
    let auth = format!("Authorization: Bearer {}", server.keys.labs);
    // Announced by Content-Length: refused before reading.
    let (status, body) = raw_request(
        &server.url,
        &format!("POST /ingest/labs HTTP/1.1\r\nHost: x\r\n{auth}\r\nContent-Type: application/json\r\nContent-Length: 104857600"),
        vec![],
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("problem") || body.contains("limit"), "{body}");
    // Streamed (chunked, no length): refused once the limit is passed.
    let chunk = {
        let data = vec![b' '; 64 * 1024];
        let mut c = format!("{:x}\r\n", data.len()).into_bytes();
        c.extend_from_slice(&data);
        c.extend_from_slice(b"\r\n");
        c
    };
    let parts = (0..40).map(|_| (Duration::ZERO, chunk.clone())).collect();
    let (status, body) = raw_request(
        &server.url,
        &format!("POST /ingest/labs HTTP/1.1\r\nHost: x\r\n{auth}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked"),
        parts,
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert!(server.staged().is_empty());
    assert_eq!(server.runs().await, 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_arriving_too_slowly_is_408() {
    let config = ServerConfig {
        body_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let server = TestServer::with(None, config).await;
    let body = lab_records(0, 1);
    let head = format!(
        "POST /ingest/labs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}",
        server.keys.labs,
        body.len()
    );
    let parts = vec![
        (Duration::ZERO, body.as_bytes()[..5].to_vec()),
        (Duration::from_secs(2), body.as_bytes()[5..].to_vec()),
    ];
    let (status, answer) = raw_request(&server.url, &head, parts).await;
    assert_eq!(status, 408, "{answer}");
    assert!(answer.contains("did not arrive"), "{answer}");
    assert!(server.staged().is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_retry_gets_the_same_tracking_id_and_one_run() {
    let server = TestServer::start().await;
    let send = |body: String, key: &'static str| {
        let client = server.client.clone();
        let url = format!("{}/ingest/labs", server.url);
        let api_key = server.keys.labs.clone();
        async move {
            client
                .post(url)
                .bearer_auth(api_key)
                .header("content-type", "application/json")
                .header("idempotency-key", key)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    // Concurrent retries of one request.
    let (a, b) = tokio::join!(
        send(lab_records(0, 2), "k-1"),
        send(lab_records(0, 2), "k-1")
    );
    let c = send(lab_records(0, 2), "k-1").await;
    let mut ids = Vec::new();
    for r in [a, b, c] {
        assert_eq!(r.status(), 202);
        let v: serde_json::Value = r.json().await.unwrap();
        ids.push(v["tracking_id"].as_str().unwrap().to_owned());
    }
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    assert_eq!(server.runs().await, 1);
    assert_eq!(server.staged().len(), 1);
    // Another body under the same key is a conflict.
    let conflict = send(lab_records(5, 2), "k-1").await;
    problem(conflict, 409).await;
    // Another key is another ingestion.
    let other = send(lab_records(0, 2), "k-2").await;
    assert_eq!(other.status(), 202);
    assert_eq!(server.runs().await, 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_submit_leaves_no_staged_file_and_answers_5xx() {
    let server = TestServer::start().await;
    // Break the run store's schema under the server: the submit fails after staging.
    let pool = sqlx::SqlitePool::connect(&super::sqlite_url(server.dir.path()))
        .await
        .unwrap();
    sqlx::query("DROP TABLE run_assets")
        .execute(&pool)
        .await
        .unwrap();
    let r = server
        .ingest(
            "labs",
            &server.keys.labs,
            "application/json",
            lab_records(0, 2),
        )
        .await;
    let status = r.status().as_u16();
    assert!((500..600).contains(&status), "{status}");
    problem(r, status).await;
    assert!(server.staged().is_empty(), "{:?}", server.staged());
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM runs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(runs, 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decision_appends_one_line_to_the_days_ingestion_log() {
    let server = TestServer::start().await;
    let accepted = server
        .ingest(
            "labs",
            &server.keys.labs,
            "application/json",
            lab_records(0, 3),
        )
        .await;
    let request_id = accepted.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let answer: serde_json::Value = accepted.json().await.unwrap();
    let bad = r#"[{"person_id": "x", "sample_id": "a", "measured_on": "2024-01-01"}]"#;
    let rejected = server
        .ingest("labs", &server.keys.labs, "application/json", bad)
        .await;
    assert_eq!(rejected.status(), 422);
    let day = chrono::Utc::now().date_naive();
    let log = pluginlake::logs::DailyLog::new(super::ingestion_log_dir(server.dir.path()));
    let text = std::fs::read_to_string(log.path_for(day)).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["outcome"], "accepted");
    assert_eq!(lines[0]["tracking_id"], answer["tracking_id"]);
    assert_eq!(lines[0]["request_id"], request_id.as_str());
    assert_eq!(lines[0]["dataset"], "labs");
    assert_eq!(lines[0]["key_id"], "labs-loader");
    assert_eq!(lines[0]["rows"], 3);
    assert_eq!(lines[0]["bytes"], lab_records(0, 3).len());
    assert_eq!(lines[1]["outcome"], "rejected");
    assert_eq!(lines[1]["status"], 422);
    assert_eq!(lines[1]["error_count"], 1);
    assert!(lines[1]["duration_ms"].as_f64().is_some());
    assert!(!text.contains(&server.keys.labs[4..]), "no key in the log");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_and_rate_limited_ingestions_are_logged_too() {
    let config = ServerConfig {
        key_rate: pluginlake_server::RateLimit::new(0.001, 1.0),
        ..ServerConfig::default()
    };
    let server = TestServer::with(None, config).await;
    let accepted = server
        .ingest(
            "labs",
            &server.keys.labs,
            "application/json",
            lab_records(0, 1),
        )
        .await;
    assert_eq!(accepted.status(), 202);
    let limited = server
        .ingest(
            "labs",
            &server.keys.labs,
            "application/json",
            lab_records(1, 1),
        )
        .await;
    let limited_id = limited.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    problem(limited, 429).await;
    let anonymous = server
        .client
        .post(format!("{}/ingest/vitals", server.url))
        .header("content-type", "application/json")
        .body("[]")
        .send()
        .await
        .unwrap();
    problem(anonymous, 401).await;
    let forged = format!("plk_{}", "ef".repeat(32));
    problem(
        server
            .ingest("labs", &forged, "application/json", lab_records(0, 1))
            .await,
        401,
    )
    .await;
    // Not an ingestion: not in the ingestion log.
    problem(
        server
            .client
            .get(format!("{}/ingest", server.url))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;

    let day = chrono::Utc::now().date_naive();
    let log = pluginlake::logs::DailyLog::new(super::ingestion_log_dir(server.dir.path()));
    let text = std::fs::read_to_string(log.path_for(day)).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[0]["outcome"], "accepted");
    assert_eq!(lines[1]["outcome"], "rejected");
    assert_eq!(lines[1]["status"], 429);
    assert_eq!(lines[1]["key_id"], "labs-loader");
    assert_eq!(lines[1]["dataset"], "labs");
    assert_eq!(lines[1]["request_id"], limited_id.as_str());
    assert_eq!(lines[2]["status"], 401);
    assert_eq!(lines[2]["dataset"], "vitals");
    assert!(lines[2]["key_id"].is_null(), "{text}");
    assert_eq!(lines[3]["status"], 401);
    assert!(lines[3]["key_id"].is_null(), "{text}");
    assert!(!text.contains(&forged[4..]), "no key in the log");
    server.stop().await;
}
