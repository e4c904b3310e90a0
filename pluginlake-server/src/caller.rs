//! Authentication middleware: the client address's rate limit, the API key (`Authorization:
//! Bearer plk_...` or `X-API-Key: plk_...`; missing or unknown -> 401), then the key's rate
//! limit (-> 429 with `Retry-After`). The authenticated key is the request's [`Caller`].

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::ApiKey;
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

/// Middleware: authenticate the request, or answer 401 / 429.
pub(crate) async fn authenticate(
    State(state): State<ServerState>,
    mut request: Request,
    next: Next,
) -> Response {
    let inner = &state.inner;
    if let Some(ConnectInfo(addr)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        if let Err(wait) = inner.address_limiter.check(&addr.ip().to_string()) {
            return too_many(wait, "from this address");
        }
    }
    let key = match presented(&request) {
        None => {
            return Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "an API key is required: send Authorization: Bearer plk_...",
            )
            .into_response()
        }
        Some(text) => match inner.keys.verify(text) {
            Some(key) => key.clone(),
            None => {
                return Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "the API key is not valid",
                )
                .into_response()
            }
        },
    };
    if let Err(wait) = inner.key_limiter.check(&key.id) {
        return too_many(wait, &format!("for API key {}", key.id));
    }
    tracing::Span::current().record("key_id", key.id.as_str());
    request.extensions_mut().insert(Caller(key));
    next.run(request).await
}
