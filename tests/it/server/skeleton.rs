//! The server's skeleton: problem+json errors, request ids, graceful shutdown, nesting.

use super::{lab_records, problem, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_route_is_a_problem_with_a_uuidv7_request_id() {
    let server = TestServer::start().await;
    let response = server
        .client
        .get(format!("{}/nothing/here", server.url))
        .send()
        .await
        .unwrap();
    let body = problem(response, 404).await;
    assert_eq!(body["instance"], "/nothing/here");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_is_a_405_problem() {
    let server = TestServer::start().await;
    let response = server
        .client
        .delete(format!("{}/ingest/labs", server.url))
        .bearer_auth(&server.keys.admin)
        .send()
        .await
        .unwrap();
    problem(response, 405).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_request_id_is_replaced_by_the_servers_own() {
    let server = TestServer::start().await;
    let response = server
        .client
        .get(format!("{}/nothing", server.url))
        .header("x-request-id", "my-own-id")
        .send()
        .await
        .unwrap();
    let body = problem(response, 404).await;
    assert_ne!(body["request_id"], "my-own-id");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_carries_the_request_id_header_too() {
    let server = TestServer::start().await;
    let response = server
        .ingest(
            "labs",
            &server.keys.labs,
            "application/json",
            lab_records(0, 2),
        )
        .await;
    assert_eq!(response.status(), 202);
    let id: uuid::Uuid = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(id.get_version_num(), 7);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_router_nests_under_a_prefix_and_links_to_its_status_there() {
    let dir = tempfile::tempdir().unwrap();
    let store = pluginlake::run::RunStore::open(&super::sqlite_url(dir.path()))
        .await
        .unwrap();
    let (key, stored) = pluginlake_server::auth::generate_key().unwrap();
    let ring = pluginlake_server::auth::KeyRing::new(vec![pluginlake_server::auth::ApiKey {
        id: "k".into(),
        sha256: stored,
        scopes: vec![pluginlake_server::auth::Scope::Admin],
    }]);
    let state = pluginlake_server::ServerState::new(
        store,
        super::definitions(),
        [super::labs()],
        ring,
        pluginlake::ingest::Staging::new(super::staging_dir(dir.path())),
        Default::default(),
    )
    .unwrap();
    let app = axum::Router::new().nest("/api/v1", pluginlake_server::router(state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();
    let response = client
        .post(format!("http://{addr}/api/v1/ingest/labs"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(lab_records(0, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/api/v1/ingest/"), "{location}");
    let status = client
        .get(format!("http://{addr}{location}"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 200);
    served.abort();
}
