//! Re-submitting a failed ingestion from its staged payload: the library function
//! (`Staging::resubmit`) and the admin endpoint `POST /ingest/{tracking_id}/resubmit`.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use pluginlake::run::{RunId, RunState};
use pluginlake::ErrorKind;
use pluginlake_server::ServerConfig;

use super::phase2::{summarized, with_summary, Summary};
use super::{lab_records, lab_rows, labs, problem, TestServer};

/// A server whose first ingestion (of 4 records) failed in its downstream asset after storing
/// the dataset's rows; the summary works again afterwards. Returns the failed run's id.
async fn failed_ingestion(store_url: Option<String>) -> (TestServer, RunId) {
    let summary = Summary::default();
    summary.fail.store(true, Ordering::SeqCst);
    let fail = summary.fail.clone();
    let server = with_summary(store_url, labs(), summary).await;
    let id = server.accepted("application/json", lab_records(0, 4)).await;
    let run = server.work(&server.lake()).await.unwrap();
    assert_eq!((run.id, run.state), (id, RunState::Failure));
    fail.store(false, Ordering::SeqCst);
    (server, id)
}

async fn a_failed_ingestion_is_resubmitted_from_its_payload_and_stored_once(
    server: TestServer,
    failed: RunId,
) {
    let old = server.store.get(failed).await.unwrap().unwrap();
    let tags = BTreeMap::from([("resubmitted_by".to_owned(), "test".to_owned())]);
    let new = server
        .staging()
        .resubmit(&server.store, &server.defs, failed, tags)
        .await
        .unwrap();
    assert_ne!(new.id, failed);
    assert_eq!(new.state, RunState::Queued);
    assert_eq!(new.payload, old.payload, "the same staged payload");
    assert_eq!(new.selection, old.selection);
    assert_eq!(new.tags["resubmitted_from"], failed.to_string());
    assert_eq!(new.tags["resubmitted_by"], "test");
    assert_eq!(new.tags["dataset"], "labs");

    let lake = server.lake();
    let run = server.work(&lake).await.expect("the re-submitted run");
    assert_eq!(
        (run.id, run.state),
        (new.id, RunState::Success),
        "{:?}",
        run.error
    );
    // The rows the failed run stored are not appended again; the summary now ran.
    assert_eq!(lab_rows(&lake), 4);
    assert_eq!(summarized(&lake), Some(4));
    assert!(server.staged().is_empty(), "{:?}", server.staged());
    let outcome = server.log_lines().pop().unwrap();
    assert_eq!(outcome["tracking_id"], new.id.to_string());
    assert_eq!(outcome["resubmitted_from"], failed.to_string());
    assert_eq!(outcome["payload"], "deleted");
    // Its payload gone, the failed run cannot be re-submitted again.
    let e = server
        .staging()
        .resubmit(&server.store, &server.defs, failed, BTreeMap::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_ingestion_is_resubmitted_from_its_payload_and_stored_once_on_sqlite() {
    let (server, failed) = failed_ingestion(None).await;
    a_failed_ingestion_is_resubmitted_from_its_payload_and_stored_once(server, failed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_ingestion_is_resubmitted_from_its_payload_and_stored_once_on_postgres() {
    let Some((url, schema)) = crate::common::postgres_run_store(
        "a_failed_ingestion_is_resubmitted_from_its_payload_and_stored_once_on_postgres",
    )
    .await
    else {
        return;
    };
    let (server, failed) = failed_ingestion(Some(url)).await;
    a_failed_ingestion_is_resubmitted_from_its_payload_and_stored_once(server, failed).await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_failed_run_can_be_resubmitted() {
    let server = TestServer::start().await;
    let staging = server.staging();
    let queued = server.accepted("application/json", lab_records(0, 1)).await;
    let e = staging
        .resubmit(&server.store, &server.defs, queued, BTreeMap::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(e.to_string().contains("it is queued"), "{e}");
    server.work(&server.lake()).await.unwrap();
    let e = staging
        .resubmit(&server.store, &server.defs, queued, BTreeMap::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    let e = staging
        .resubmit(&server.store, &server.defs, RunId::new(), BTreeMap::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_eq!(server.runs().await, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_is_resubmitted_once_however_often_it_is_asked() {
    let (server, failed) = failed_ingestion(None).await;
    let staging = server.staging();
    let ask = || staging.resubmit(&server.store, &server.defs, failed, BTreeMap::new());
    // Two at once, then a third: one new run.
    let (a, b) = tokio::join!(ask(), ask());
    let c = ask().await;
    let made: Vec<RunId> = [&a, &b, &c]
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|r| r.id))
        .collect();
    assert_eq!(made.len(), 1, "{a:?} {b:?} {c:?}");
    for e in [a, b, c].into_iter().filter_map(Result::err) {
        assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    }
    assert_eq!(server.runs().await, 2);
    // The re-submission fails too: then it, not the first run, is re-submitted.
    let again = made[0];
    let staged = server
        .staged()
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let body = std::fs::read(&staged).unwrap();
    std::fs::write(&staged, "[]").unwrap();
    let run = server.work(&server.lake()).await.unwrap();
    assert_eq!((run.id, run.state), (again, RunState::Failure));
    std::fs::write(&staged, body).unwrap();
    let e = ask().await.unwrap_err();
    assert!(e.to_string().contains(&again.to_string()), "{e}");
    let third = staging
        .resubmit(&server.store, &server.defs, again, BTreeMap::new())
        .await
        .unwrap();
    assert_eq!(third.tags["resubmitted_from"], again.to_string());
    let run = server.work(&server.lake()).await.unwrap();
    assert_eq!(
        (run.id, run.state),
        (third.id, RunState::Success),
        "{:?}",
        run.error
    );
    assert!(
        server.staged().is_empty(),
        "payload and marker deleted: {:?}",
        server.staged()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resubmit_whose_payload_is_gone_is_not_found() {
    let (server, failed) = failed_ingestion(None).await;
    for p in server.staged() {
        std::fs::remove_file(p).unwrap();
    }
    let e = server
        .staging()
        .resubmit(&server.store, &server.defs, failed, BTreeMap::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("is gone"), "{e}");
    assert_eq!(server.runs().await, 1);
    server.stop().await;
}

async fn post_resubmit(server: &TestServer, id: &str, key: &str) -> reqwest::Response {
    server
        .client
        .post(format!("{}/ingest/{id}/resubmit", server.url))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resubmit_endpoint_answers_admins_with_202_and_a_tracking_id() {
    let (server, failed) = failed_ingestion(None).await;
    let id = failed.to_string();
    for key in [&server.keys.labs, &server.keys.reader] {
        let p = problem(post_resubmit(&server, &id, key).await, 403).await;
        assert!(p["detail"].as_str().unwrap().contains("admin"), "{p}");
    }
    let r = post_resubmit(&server, &id, &server.keys.admin).await;
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let body: serde_json::Value = r.json().await.unwrap();
    let new: RunId = body["tracking_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(body["status_url"], format!("/ingest/{new}/status"));
    assert_eq!(location, format!("/ingest/{new}/status"));
    assert_eq!(body["resubmitted_from"], id.as_str());
    assert_eq!(body["dataset"], "labs");
    let run = server.store.get(new).await.unwrap().unwrap();
    assert_eq!(run.tags["resubmitted_by"], "admin-key");
    // The dataset's key sees its status.
    let status = server
        .client
        .get(format!("{}{location}", server.url))
        .bearer_auth(&server.keys.labs)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 200);
    // Asked again: a conflict naming the new run.
    let p = problem(post_resubmit(&server, &id, &server.keys.admin).await, 409).await;
    assert!(
        p["detail"].as_str().unwrap().contains(&new.to_string()),
        "{p}"
    );
    let logged = server.log_lines();
    assert!(
        logged
            .iter()
            .any(|l| l["outcome"] == "resubmitted" && l["tracking_id"] == new.to_string()),
        "{logged:#?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resubmit_endpoint_refuses_unknown_unfailed_and_payloadless_runs() {
    let (server, failed) = failed_ingestion(None).await;
    let admin = server.keys.admin.clone();
    for id in [RunId::new().to_string(), "not-an-id".to_owned()] {
        problem(post_resubmit(&server, &id, &admin).await, 404).await;
    }
    let queued = server
        .accepted("application/json", lab_records(10, 1))
        .await;
    let p = problem(
        post_resubmit(&server, &queued.to_string(), &admin).await,
        409,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("queued"), "{p}");
    for p in server.staged() {
        if !p.to_string_lossy().contains(&queued.to_string()) {
            std::fs::remove_file(p).unwrap();
        }
    }
    let p = problem(
        post_resubmit(&server, &failed.to_string(), &admin).await,
        404,
    )
    .await;
    assert_eq!(p["type"], "urn:pluginlake:problem:payload-gone", "{p}");
    assert!(!p.to_string().contains("staging"), "no server path: {p}");
    assert_eq!(server.runs().await, 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resubmit_endpoint_needs_a_key() {
    let server = TestServer::with(None, ServerConfig::default()).await;
    let r = server
        .client
        .post(format!("{}/ingest/{}/resubmit", server.url, RunId::new()))
        .send()
        .await
        .unwrap();
    problem(r, 401).await;
    server.stop().await;
}
