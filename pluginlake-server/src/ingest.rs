//! `POST /ingest/{dataset}` (phase 1 of two-phase ingestion).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use http_body_util::BodyExt;
use pluginlake::ingest::{Checked, Format};
use pluginlake::run::RunId;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::caller::Caller;
use crate::idempotency::Accepted;
use crate::problem::Problem;
use crate::state::ServerState;

/// The body of a 202.
#[derive(Debug, Serialize)]
struct AcceptedBody<'a> {
    tracking_id: RunId,
    status_url: &'a str,
    dataset: &'a str,
}

fn status_url(prefix: &str, id: RunId) -> String {
    format!("{prefix}/ingest/{id}/status")
}

/// The path this router is nested under, from the original URI (`/api/ingest/x` -> `/api`).
fn prefix_of(request: &Request) -> String {
    let original = request
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .map(|u| u.0.path().to_owned())
        .unwrap_or_else(|| request.uri().path().to_owned());
    let here = request.uri().path();
    original
        .strip_suffix(here)
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_owned()
}

fn accepted(prefix: &str, a: &Accepted) -> Response {
    let url = status_url(prefix, a.tracking_id);
    let body = AcceptedBody {
        tracking_id: a.tracking_id,
        status_url: &url,
        dataset: &a.dataset,
    };
    let mut response = (StatusCode::ACCEPTED, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&url) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// Read the body: at most `limit` bytes (-> 413, whether announced or streamed), arriving
/// within `timeout` (-> 408).
async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, Problem> {
    let too_large = || {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            format!("the body is larger than the limit of {limit} bytes"),
        )
    };
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let collected =
        tokio::time::timeout(timeout, http_body_util::Limited::new(body, limit).collect())
            .await
            .map_err(|_| {
                Problem::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "timeout",
                    format!("the body did not arrive within {} s", timeout.as_secs()),
                )
            })?;
    match collected {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-body",
            format!("the body could not be read: {e}"),
        )),
    }
}

/// `Idempotency-Key`: 1 to 255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(v) = headers.get("idempotency-key") else {
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

/// `POST /ingest/{dataset}`: check the body against the dataset's contract; 422 with every
/// violation, or stage it durably, submit its run and answer 202 with the tracking id.
pub(crate) async fn ingest(
    State(state): State<ServerState>,
    Extension(Caller(key)): Extension<Caller>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let mut decision = Decision {
        time: chrono::Utc::now(),
        request_id: crate::request_id::of(&request),
        tracking_id: None,
        dataset: name.clone(),
        key_id: key.id.clone(),
        bytes: 0,
        rows: None,
        outcome: "accepted",
        status: 202,
        error_count: 0,
        duration_ms: 0.0,
    };
    let response = match ingest_inner(&state, &key, &name, request, &mut decision).await {
        Ok(r) => r,
        Err(p) => {
            decision.outcome = "rejected";
            decision.status = p.status;
            decision.error_count = p.errors.len() + p.more_errors.unwrap_or(0);
            p.into_response()
        }
    };
    decision.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Some(log) = &state.inner.ingestion_log {
        let log = log.clone();
        let written =
            tokio::task::spawn_blocking(move || log.append(decision.time, &decision)).await;
        if let Ok(Err(e)) = written {
            tracing::warn!(error = %e, "writing the ingestion log failed");
        }
    }
    response
}

/// One line of the ingestion log: a phase-1 decision.
#[derive(Debug, Serialize)]
struct Decision {
    time: chrono::DateTime<chrono::Utc>,
    request_id: Option<String>,
    tracking_id: Option<RunId>,
    dataset: String,
    key_id: String,
    bytes: usize,
    rows: Option<usize>,
    outcome: &'static str,
    status: u16,
    error_count: usize,
    duration_ms: f64,
}

async fn ingest_inner(
    state: &ServerState,
    key: &crate::auth::ApiKey,
    name: &str,
    request: Request,
    decision: &mut Decision,
) -> Result<Response, Problem> {
    let started = Instant::now();
    if !key.may_ingest(name) {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "API key {} may not ingest into this dataset (scope ingest:<dataset> needed)",
                key.id
            ),
        ));
    }
    let dataset = state
        .dataset(name)
        .ok_or_else(|| Problem::new(StatusCode::NOT_FOUND, "unknown-dataset", "no such dataset"))?;
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = Format::from_media_type(content_type).ok_or_else(|| {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send application/json, application/x-ndjson or text/csv",
        )
    })?;
    let idempotency = idempotency_key(request.headers())?;
    let request_id = crate::request_id::of(&request);
    let prefix = prefix_of(&request);
    let config = state.config();
    let (parts, body) = request.into_parts();
    let body = read_body(&parts.headers, body, config.body_limit, config.body_timeout).await?;
    decision.bytes = body.len();
    let digest: [u8; 32] = Sha256::digest(&body).into();

    let mut slot = match &idempotency {
        Some(k) => Some(state.inner.idempotency.lock(&key.id, k).await),
        None => None,
    };
    if let Some(Some((done, _))) = slot.as_deref() {
        if done.body == digest && done.dataset == dataset.name() {
            decision.tracking_id = Some(done.tracking_id);
            decision.outcome = "replayed";
            return Ok(accepted(&prefix, done));
        }
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "idempotency-conflict",
            "this Idempotency-Key was used with another body or dataset",
        ));
    }

    let checking = {
        let (dataset, body) = (dataset.clone(), body.clone());
        tokio::task::spawn_blocking(move || dataset.check(format, &body))
    };
    let checked = checking
        .await
        .map_err(|e| Problem::from(pluginlake::Error::Task(format!("checking a payload: {e}"))))?
        .map_err(Problem::from)?;
    let rows = match checked {
        Checked::Valid(records) => records.len(),
        Checked::Invalid { rows, violations } => {
            decision.rows = usize::try_from(rows).ok();
            let errors = violations
                .listed
                .iter()
                .filter_map(|v| serde_json::to_value(v).ok())
                .collect();
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "contract-violation",
                format!(
                    "the payload breaks the contract of dataset {}: {} violation(s) in {rows} \
                     record(s); nothing was stored",
                    dataset.name(),
                    violations.total()
                ),
            )
            .with_errors(errors, violations.more));
        }
    };

    decision.rows = Some(rows);
    let id = RunId::new();
    let mut tags = BTreeMap::new();
    if let Some(r) = &request_id {
        tags.insert("request_id".to_owned(), r.clone());
    }
    tags.insert("api_key".to_owned(), key.id.clone());
    state
        .inner
        .staging
        .submit(&state.inner.store, dataset, id, format, body, tags)
        .await
        .map_err(Problem::from)?;
    tracing::info!(
        tracking_id = %id,
        dataset = dataset.name(),
        rows,
        duration_ms = started.elapsed().as_millis() as u64,
        "ingestion accepted"
    );
    decision.tracking_id = Some(id);
    let done = Accepted {
        body: digest,
        tracking_id: id,
        dataset: dataset.name().to_owned(),
    };
    let response = accepted(&prefix, &done);
    if let Some(slot) = slot.as_deref_mut() {
        *slot = Some((done, Instant::now()));
    }
    Ok(response)
}
