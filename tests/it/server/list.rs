//! `GET /ingest?dataset=&state=&limit=&cursor=`: recent ingestions, newest first, in pages.

use pluginlake::run::RunId;

use super::{lab_records, problem, TestServer};

async fn list(server: &TestServer, query: &str, key: &str) -> reqwest::Response {
    server
        .client
        .get(format!("{}/ingest{query}", server.url))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

async fn page(server: &TestServer, query: &str, key: &str) -> serde_json::Value {
    let r = list(server, query, key).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn ids(page: &serde_json::Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["tracking_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn ingest(server: &TestServer, dataset: &str, key: &str, body: String) -> String {
    let r = server.ingest(dataset, key, "application/json", body).await;
    assert_eq!(r.status(), 202);
    let v: serde_json::Value = r.json().await.unwrap();
    v["tracking_id"].as_str().unwrap().to_owned()
}

fn vitals_body() -> String {
    r#"[{"person_id": 1, "pulse": 61.0}]"#.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listing_pages_through_ingestions_newest_first() {
    let server = TestServer::start().await;
    let mut accepted = Vec::new();
    for i in 0..5 {
        accepted.push(ingest(&server, "labs", &server.keys.labs, lab_records(i * 10, 1)).await);
    }
    accepted.reverse();
    let mut listed = Vec::new();
    let mut query = "?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let p = page(&server, &query, &server.keys.labs).await;
        pages += 1;
        listed.extend(ids(&p));
        match p["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(listed, accepted);
    assert_eq!(pages, 3);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_item_is_a_short_status() {
    let server = TestServer::start().await;
    let id = ingest(&server, "labs", &server.keys.labs, lab_records(0, 1)).await;
    let p = page(&server, "", &server.keys.labs).await;
    let item = &p["items"][0];
    assert_eq!(item["tracking_id"], id.as_str());
    assert_eq!(item["dataset"], "labs");
    assert_eq!(item["state"], "queued");
    assert!(item["submitted_at"].is_string(), "{item}");
    assert!(item["ended_at"].is_null(), "{item}");
    assert_eq!(item["attempts"], 0);
    assert!(item["error"].is_null(), "{item}");
    assert!(p["next_cursor"].is_null(), "{p}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_lists_only_the_datasets_it_may_ingest_into() {
    let server = TestServer::start().await;
    let labs = [
        ingest(&server, "labs", &server.keys.labs, lab_records(0, 1)).await,
        ingest(&server, "labs", &server.keys.labs, lab_records(1, 1)).await,
    ];
    let vitals = ingest(&server, "vitals", &server.keys.vitals, vitals_body()).await;
    // A run that is no ingestion is not listed.
    server
        .store
        .submit(&pluginlake::run::NewRun::new("lab/results"))
        .await
        .unwrap();

    let seen = ids(&page(&server, "", &server.keys.labs).await);
    assert_eq!(seen, [labs[1].clone(), labs[0].clone()]);
    assert_eq!(
        ids(&page(&server, "", &server.keys.vitals).await),
        [vitals.as_str()]
    );
    assert_eq!(ids(&page(&server, "", &server.keys.admin).await).len(), 3);
    assert_eq!(
        ids(&page(&server, "?dataset=vitals", &server.keys.admin).await),
        [vitals]
    );
    problem(list(&server, "", &server.keys.reader).await, 403).await;
    problem(
        list(&server, "?dataset=vitals", &server.keys.labs).await,
        403,
    )
    .await;
    problem(
        list(&server, "?dataset=nothing", &server.keys.admin).await,
        404,
    )
    .await;
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
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listing_filters_by_state() {
    let server = TestServer::start().await;
    let done = ingest(&server, "labs", &server.keys.labs, lab_records(0, 1)).await;
    let lake = server.lake();
    server.work(&lake).await.expect("a run");
    let waiting = ingest(&server, "labs", &server.keys.labs, lab_records(1, 1)).await;
    let key = &server.keys.labs;
    assert_eq!(ids(&page(&server, "?state=success", key).await), [done]);
    assert_eq!(ids(&page(&server, "?state=queued", key).await), [waiting]);
    assert!(ids(&page(&server, "?state=failure", key).await).is_empty());
    let p = page(&server, "?state=success&dataset=labs", key).await;
    assert!(p["items"][0]["ended_at"].is_string(), "{p}");
    assert_eq!(p["items"][0]["attempts"], 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_listing_parameters_are_400_naming_the_parameter() {
    let server = TestServer::start().await;
    ingest(&server, "labs", &server.keys.labs, lab_records(0, 1)).await;
    let unknown_cursor = RunId::new().to_string();
    for (query, parameter) in [
        ("?state=finished", "state"),
        ("?state=", "state"),
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?limit=ten", "limit"),
        ("?limit=-1", "limit"),
        ("?cursor=not-a-cursor", "cursor"),
        (&format!("?cursor={unknown_cursor}"), "cursor"),
        ("?datset=labs", "datset"),
    ] {
        let body = problem(list(&server, query, &server.keys.labs).await, 400).await;
        assert!(
            body["detail"].as_str().unwrap().contains(parameter),
            "{query}: {body}"
        );
        assert_eq!(body["errors"][0]["parameter"], parameter, "{query}: {body}");
    }
    server.stop().await;
}
