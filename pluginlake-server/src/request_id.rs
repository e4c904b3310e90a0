//! Request ids: a UUIDv7 made by the server for every request (a client's own `x-request-id`
//! is replaced), in the request's log span, the response header and every problem body.

use axum::extract::Request;
use axum::http::HeaderValue;
use tower_http::request_id::{MakeRequestId, RequestId};

/// The header carrying the request id.
pub const HEADER: &str = "x-request-id";

/// Makes UUIDv7 request ids.
#[derive(Clone, Copy, Debug, Default)]
pub struct MakeUuidV7;

impl MakeRequestId for MakeUuidV7 {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let id = uuid::Uuid::now_v7().hyphenated().to_string();
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// Drop a request id the client sent, so that the server's own is used.
pub fn strip_client_id(mut request: Request) -> Request {
    request.headers_mut().remove(HEADER);
    request
}

/// The request id of a request (after the request-id layer ran).
pub fn of(request: &Request) -> Option<String> {
    request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
