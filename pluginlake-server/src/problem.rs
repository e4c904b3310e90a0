//! RFC 9457 problem details: every error the server answers is `application/problem+json`.
//!
//! Handlers return a [`Problem`]; the [`finish`] middleware (outside every route) fills in the
//! request id and the instance (the request's path), and turns any other error response (an
//! unknown route, a timeout, a panic) into a problem too.

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use pluginlake::{Error, ErrorKind};
use serde::Serialize;

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem: what went wrong, for the client.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:pluginlake:problem:<slug>`).
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request, and how to fix it.
    pub detail: String,
    /// The request's path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The request's id (also in the `x-request-id` header and the server's log lines).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Individual errors (validation errors: record, field, JSON pointer, message).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<serde_json::Value>,
    /// Errors found but not listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub more_errors: Option<usize>,
    /// Seconds after which a retry may work (sent as `Retry-After`).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem with `status`, a type slug, and a detail.
    pub fn new(status: StatusCode, slug: &str, detail: impl Into<String>) -> Self {
        Problem {
            problem_type: format!("urn:pluginlake:problem:{slug}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            instance: None,
            request_id: None,
            errors: Vec::new(),
            more_errors: None,
            retry_after: None,
        }
    }

    /// 404 for a tracking id no ingestion has (or that is no run id at all).
    pub(crate) fn unknown_tracking_id() -> Self {
        Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-tracking-id",
            "no ingestion has this tracking id",
        )
    }

    /// Ask the client to retry after `seconds`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// List individual errors, and how many more there are.
    pub fn with_errors(mut self, errors: Vec<serde_json::Value>, more: usize) -> Self {
        self.errors = errors;
        self.more_errors = (more > 0).then_some(more);
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn to_response(&self) -> Response {
        let body = serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (self.status(), body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(s) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status == 401 {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"pluginlake\""),
            );
        }
        response
    }
}

impl From<&Error> for Problem {
    /// The status comes from the error's kind (507 when a disk or database is full), never
    /// from its message.
    fn from(e: &Error) -> Self {
        let (status, slug) = match e.kind() {
            ErrorKind::BadInput => (StatusCode::BAD_REQUEST, "bad-input"),
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not-found"),
            ErrorKind::Conflict => (StatusCode::CONFLICT, "conflict"),
            ErrorKind::Environment if e.is_storage_full() => {
                (StatusCode::INSUFFICIENT_STORAGE, "storage-full")
            }
            ErrorKind::Environment => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let mut problem = Problem::new(status, slug, e.to_string());
        if let Error::Parse { line, column, .. } = e {
            if line.is_some() || column.is_some() {
                problem.errors = vec![serde_json::json!({"line": line, "column": column})];
            }
        }
        if matches!(e.kind(), ErrorKind::Environment | ErrorKind::Conflict) {
            problem.retry_after = Some(5);
        }
        problem
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        Problem::from(&e)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = self.to_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Middleware: every error response leaves as a problem carrying the request id and path.
pub async fn finish(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(crate::request_id::HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let instance = request.uri().path().to_owned();
    let response = next.run(request).await;
    if !(response.status().is_client_error() || response.status().is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let mut problem = match parts.extensions.remove::<Problem>() {
        Some(p) => p,
        None => {
            // A response made elsewhere (no route, method not allowed, timeout, a layer's
            // rejection): its text, if short, is the detail.
            let text = match http_body_util::Limited::new(body, 4096).collect().await {
                Ok(b) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
                Err(_) => String::new(),
            };
            let detail = if text.trim().is_empty() {
                parts
                    .status
                    .canonical_reason()
                    .unwrap_or("error")
                    .to_owned()
            } else {
                text
            };
            let slug = match parts.status {
                StatusCode::NOT_FOUND => "not-found",
                StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
                StatusCode::REQUEST_TIMEOUT => "timeout",
                StatusCode::PAYLOAD_TOO_LARGE => "too-large",
                StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
                s if s.is_server_error() => "internal",
                _ => "bad-request",
            };
            Problem::new(parts.status, slug, detail)
        }
    };
    problem.request_id = request_id;
    problem.instance = Some(instance);
    let finished = problem.to_response();
    // Keep the other headers (Allow, Retry-After, the request id, ...).
    let (new_parts, new_body) = finished.into_parts();
    for (name, value) in new_parts.headers.iter() {
        parts.headers.insert(name.clone(), value.clone());
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, new_body)
}
