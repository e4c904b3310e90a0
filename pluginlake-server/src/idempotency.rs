//! `Idempotency-Key`: a retried ingestion (same API key, same idempotency key) with the same
//! dataset and body gets the first answer again, without a second run; with another dataset or
//! body, 409.
//!
//! Kept in the run store with the run, atomically with its submit
//! ([`pluginlake::run::IdempotencyKey`]): a retry after a server restart, or on another server
//! over the same store, finds it; two requests with one key at once make one run (both answered
//! 202 with its tracking id when their bodies are the same; otherwise one of them is 409).
//! A key holds for [`ServerConfig::idempotency_ttl`](crate::ServerConfig::idempotency_ttl)
//! (24 h by default); reused later, it makes a new run.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use pluginlake::run::IdempotencyKey;
use sha2::{Digest, Sha256};

use crate::problem::Problem;

/// The header.
pub(crate) const HEADER: &str = "idempotency-key";

/// The `Idempotency-Key` of a request: 1 to 255 visible ASCII characters (else 400).
pub(crate) fn header(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(v) = headers.get(HEADER) else {
        return Ok(None);
    };
    match v.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(k.to_owned()))
        }
        _ => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-idempotency-key",
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        )),
    }
}

/// The stored key of `key`, sent with API key `api_key_id`, for an ingestion of `body` into
/// `dataset`.
pub(crate) fn key(
    api_key_id: &str,
    key: &str,
    dataset: &str,
    body: &[u8],
    kept_for: Duration,
) -> IdempotencyKey {
    let mut request = Sha256::new();
    request.update((dataset.len() as u64).to_le_bytes());
    request.update(dataset.as_bytes());
    request.update(body);
    IdempotencyKey::new(api_key_id, key, &request.finalize(), kept_for)
}

/// The answer to a failed idempotent submit: 409 when the key was used for another request.
pub(crate) fn problem(e: pluginlake::Error) -> Problem {
    match e {
        pluginlake::Error::IdempotencyConflict { .. } => Problem::new(
            StatusCode::CONFLICT,
            "idempotency-conflict",
            "this Idempotency-Key was used with another body or dataset: use a new key for a new \
             request",
        ),
        e => Problem::from(e),
    }
}
