//! Authentication middleware: the client address's rate limit, the API key (`Authorization:
//! Bearer plk_...` or `X-API-Key: plk_...`; missing or unknown -> 401), then the key's rate
//! limit (-> 429 with `Retry-After`). The authenticated key is the request's [`Caller`], and its
//! id is recorded in the request's span (`key_id`). A 401 or 429 to an ingestion
//! (`POST /ingest/{dataset}`) is a phase-1 decision: it goes to the ingestion log too.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{ConnectInfo, MatchedPath, RawPathParams, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::ApiKey;
use crate::ingestion_log::Decision;
use crate::problem::Problem;
use crate::state::ServerState;

/// The API key a request was authenticated with (a request extension).
#[derive(Clone, Debug)]
pub struct Caller(pub ApiKey);

fn too_many(wait: Duration, what: &str) -> Response {
    let seconds = wait.as_secs_f64().ceil() as u64;
    tracing::info!(limited = what, retry_after_s = seconds, "rate limited");
    Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate-limited",
        format!("too many requests {what}: retry after {seconds} s"),
    )
    .retry_after(seconds)
    .into_response()
}

/// The key a request presents, if any.
fn presented(request: &Request) -> Option<&str> {
    let headers = request.headers();
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let v = v.to_str().ok()?;
        let (scheme, token) = v.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then_some(token.trim());
    }
    headers.get("x-api-key").and_then(|v| v.to_str().ok())
}

/// The dataset of an ingestion request (`POST /ingest/{dataset}`), if it is one.
fn ingestion_target(request: &Request, params: Option<&RawPathParams>) -> Option<String> {
    let matched = request.extensions().get::<MatchedPath>()?;
    if request.method() != Method::POST || !matched.as_str().ends_with("/ingest/{dataset}") {
        return None;
    }
    params?
        .iter()
        .find(|(name, _)| *name == "dataset")
        .map(|(_, value)| value.to_owned())
}

/// Middleware: authenticate the request, or answer 401 / 429 (and log it when the request is
/// an ingestion).
pub(crate) async fn authenticate(
    State(state): State<ServerState>,
    params: Result<RawPathParams, RawPathParamsRejection>,
    request: Request,
    next: Next,
) -> Response {
    let target = ingestion_target(&request, params.ok().as_ref());
    let request_id = crate::request_id::of(&request);
    match admit(&state, &request) {
        Ok(key) => {
            let mut request = request;
            request.extensions_mut().insert(Caller(key));
            next.run(request).await
        }
        Err((response, key_id)) => {
            if let Some(dataset) = target {
                let decision = Decision::new(request_id, &dataset, key_id.as_deref())
                    .rejected(response.status().as_u16());
                crate::ingestion_log::append(&state, decision).await;
            }
            response
        }
    }
}

/// The request's key (recorded in the request's span), or the answer refusing the request
/// (with the key's id once known).
fn admit(state: &ServerState, request: &Request) -> Result<ApiKey, (Response, Option<String>)> {
    let inner = &state.inner;
    if let Some(ConnectInfo(addr)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        if let Err(wait) = inner.address_limiter.check(&addr.ip().to_string()) {
            return Err((too_many(wait, "from this address"), None));
        }
    }
    let key = match presented(request) {
        None => {
            let answer = Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "an API key is required: send Authorization: Bearer plk_...",
            );
            return Err((answer.into_response(), None));
        }
        Some(text) => match inner.keys.verify(text) {
            Some(key) => key.clone(),
            None => {
                let answer = Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "the API key is not valid",
                );
                return Err((answer.into_response(), None));
            }
        },
    };
    tracing::Span::current().record("key_id", key.id.as_str());
    if let Err(wait) = inner.key_limiter.check(&key.id) {
        let answer = too_many(wait, &format!("for API key {}", key.id));
        return Err((answer, Some(key.id)));
    }
    Ok(key)
}
