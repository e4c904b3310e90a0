//! The optional HTTP layer of pluginlake: two-phase ingestion (`POST /ingest/{dataset}`,
//! `GET /ingest/{tracking_id}/status`, `GET /ingest` to list them, and for admins
//! `POST /ingest/{tracking_id}/resubmit`) as an axum [`Router`] a user nests into their own
//! app, or runs with [`serve`].
//!
//! ```no_run
//! use pluginlake::ingest::{Column, Contract, Dataset, Staging};
//! use pluginlake::run::RunStore;
//! use pluginlake_server::{auth::KeyRing, ServerConfig, ServerState};
//!
//! # async fn run() -> pluginlake::Result<()> {
//! let labs = Dataset::new(
//!     "labs",
//!     ["lab", "results"],
//!     Contract::new([Column::integer("person_id").not_null(), Column::float("value")])?,
//! )?;
//! let defs = pluginlake::graph::Definitions::new([labs.definition()])?;
//! let state = ServerState::new(
//!     RunStore::open("sqlite://.data/runs.sqlite").await?,
//!     defs,
//!     [labs],
//!     KeyRing::load(std::path::Path::new(".data/keys.json"))?,
//!     Staging::new(".data/staging"),
//!     ServerConfig::default(),
//! )?;
//! let app = axum::Router::new().nest("/api", pluginlake_server::router(state));
//! # let _ = app; Ok(()) }
//! ```
//!
//! Every error is an RFC 9457 `application/problem+json` body ([`problem::Problem`]) with the
//! request's id; the status comes from the library's [`ErrorKind`](pluginlake::ErrorKind).

// Handlers return `Result<_, Problem>`: the error is the HTTP answer (an RFC 9457 body), built
// once per failed request, so its size does not matter on the success path.
#![allow(clippy::result_large_err)]

pub mod auth;
mod caller;
pub mod cli;
mod idempotency;
mod ingest;
mod ingestion_log;
mod list;
pub mod problem;
mod rate;
pub mod request_id;
mod resubmit;
mod state;
mod status;

use std::future::Future;
use std::net::SocketAddr;

use axum::http::{header, HeaderName, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use pluginlake::run::{WorkerOptions, WorkerPool};
use pluginlake::Lake;
use tower::ServiceBuilder;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

pub use caller::Caller;
pub use rate::RateLimit;
pub use state::{ServerConfig, ServerState};

use problem::Problem;

/// The headers never shown in logs.
fn sensitive_headers() -> [HeaderName; 4] {
    [
        header::AUTHORIZATION,
        header::PROXY_AUTHORIZATION,
        header::COOKIE,
        HeaderName::from_static("x-api-key"),
    ]
}

/// The server's routes, with their layers (request ids, sensitive-header masking, tracing,
/// problem bodies, catch-panic, timeout, authentication), to serve or nest in your own app.
pub fn router(state: ServerState) -> Router {
    let request_timeout = state.config().request_timeout;
    let authenticated = Router::new()
        .route("/ingest", get(list::list))
        .route("/ingest/{dataset}", post(ingest::ingest))
        .route("/ingest/{tracking_id}/status", get(status::status))
        .route("/ingest/{tracking_id}/resubmit", post(resubmit::resubmit))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            caller::authenticate,
        ));
    with_layers(authenticated.with_state(state), request_timeout)
}

/// `routes` with the server's layers around them.
fn with_layers(routes: Router, request_timeout: std::time::Duration) -> Router {
    let x_request_id = HeaderName::from_static(request_id::HEADER);
    let layers = ServiceBuilder::new()
        .map_request(request_id::strip_client_id)
        .layer(SetRequestIdLayer::new(
            x_request_id.clone(),
            request_id::MakeUuidV7,
        ))
        .layer(SetSensitiveRequestHeadersLayer::new(sensitive_headers()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &axum::http::Request<axum::body::Body>| {
                    let id = request
                        .headers()
                        .get(request_id::HEADER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    tracing::info_span!(
                        "request",
                        request_id = %id,
                        method = %request.method(),
                        path = %request.uri().path(),
                        key_id = tracing::field::Empty,
                    )
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(x_request_id))
        .layer(axum::middleware::from_fn(problem::finish))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                axum::response::IntoResponse::into_response(Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the server failed while handling the request (a bug: please report it)",
                ))
            },
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            request_timeout,
        ));
    routes.layer(layers)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Serve [`router`] on `listener` until `shutdown` resolves: then stop accepting, finish the
/// requests in flight, and return.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    state: ServerState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Listen on `addr`.
pub(crate) async fn bind(addr: SocketAddr) -> pluginlake::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| pluginlake::Error::io(format!("tcp://{addr}"), e))
}

/// Serve on `addr` until Ctrl-C or SIGTERM, with `workers` in-process workers (0: none) that
/// run the submitted ingestions into `lake` (with [`ServerState::worker_options`]); on
/// shutdown the server finishes its requests in flight and the workers stop (a run in progress
/// is recovered by the next worker).
pub async fn serve(
    addr: SocketAddr,
    state: ServerState,
    lake: Lake,
    workers: usize,
) -> pluginlake::Result<()> {
    let listener = bind(addr).await?;
    let workers = (workers > 0).then_some((&lake, workers));
    serve_listener(listener, state, workers, shutdown_signal()).await
}

/// [`serve_on`] with `workers` (the lake and how many) running the submitted ingestions in
/// this process; after `shutdown`, the requests in flight finish, then the workers stop.
pub async fn serve_listener(
    listener: tokio::net::TcpListener,
    state: ServerState,
    workers: Option<(&Lake, usize)>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> pluginlake::Result<()> {
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let pool = match workers {
        Some((lake, n)) => Some(WorkerPool::spawn(
            state.store(),
            lake,
            state.definitions(),
            n,
            &state.worker_options(WorkerOptions::default()),
        )?),
        None => None,
    };
    tracing::info!(%addr, workers = workers.map_or(0, |w| w.1), "serving");
    let served = serve_on(listener, state, shutdown).await;
    if let Some(pool) = pool {
        pool.shutdown().await?;
    }
    served.map_err(|e| pluginlake::Error::io(format!("tcp://{addr}"), e))
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    /// No route of the server panics from its input; a route that panics (a bug) shows what the
    /// client then gets.
    #[tokio::test]
    async fn a_handler_panic_is_a_500_problem_with_the_request_id() {
        let routes = Router::new().route(
            "/boom",
            get(|| async {
                if std::hint::black_box(true) {
                    panic!("a bug in a handler");
                }
            }),
        );
        let app = with_layers(routes, std::time::Duration::from_secs(5));
        let response = app
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            problem::PROBLEM_JSON
        );
        let header_id = response.headers()[request_id::HEADER]
            .to_str()
            .unwrap()
            .to_owned();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["status"], 500, "{body}");
        assert_eq!(body["request_id"], header_id.as_str(), "{body}");
        assert_eq!(body["instance"], "/boom", "{body}");
        let id: uuid::Uuid = header_id.parse().unwrap();
        assert_eq!(id.get_version_num(), 7);
        assert!(
            !body["detail"]
                .as_str()
                .unwrap()
                .contains("a bug in a handler"),
            "the panic's message stays in the server: {body}"
        );
    }
}
