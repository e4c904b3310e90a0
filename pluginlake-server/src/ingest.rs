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
use pluginlake::run::{IdempotencyKey, RunId, RunRecord};
use serde::Serialize;

use crate::caller::Caller;
use crate::ingestion_log::Decision;
use crate::problem::Problem;
use crate::state::ServerState;

/// The body of a 202.
#[derive(Debug, Serialize)]
struct AcceptedBody<'a> {
    tracking_id: RunId,
    status_url: &'a str,
    dataset: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    resubmitted_from: Option<RunId>,
}

pub(crate) fn status_url(prefix: &str, id: RunId) -> String {
    format!("{prefix}/ingest/{id}/status")
}

/// The path this router is nested under, from the original URI (`/api/ingest/x` -> `/api`).
pub(crate) fn prefix_of(request: &Request) -> String {
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

/// 202 with the tracking id and the status URL (also as `Location`); a re-submission names
/// the ingestion it runs again.
pub(crate) fn accepted(
    prefix: &str,
    tracking_id: RunId,
    dataset: &str,
    resubmitted_from: Option<RunId>,
) -> Response {
    let url = status_url(prefix, tracking_id);
    let body = AcceptedBody {
        tracking_id,
        status_url: &url,
        dataset,
        resubmitted_from,
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

/// `POST /ingest/{dataset}`: check the body against the dataset's contract; 422 with every
/// violation, or stage it durably, submit its run and answer 202 with the tracking id.
pub(crate) async fn ingest(
    State(state): State<ServerState>,
    Extension(Caller(key)): Extension<Caller>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let mut decision = Decision::new(crate::request_id::of(&request), &name, Some(&key.id));
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
    crate::ingestion_log::append(&state, decision).await;
    response
}

/// A replay of the run first accepted under an idempotency key.
fn replayed(prefix: &str, run: &RunRecord, dataset: &str, decision: &mut Decision) -> Response {
    decision.tracking_id = Some(run.id);
    decision.outcome = "replayed";
    accepted(prefix, run.id, dataset, None)
}

/// The run an idempotency key already has, or 409 when it was for another request.
async fn earlier(
    state: &ServerState,
    key: Option<&IdempotencyKey>,
) -> Result<Option<RunRecord>, Problem> {
    let Some(key) = key else { return Ok(None) };
    state
        .store()
        .idempotent(key)
        .await
        .map_err(crate::idempotency::problem)
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
            format!(
                "Content-Type {content_type:?} is not accepted: send one of {}",
                Format::list_media_types(dataset.formats())
            ),
        )
    })?;
    if !dataset.accepts(format) {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            format!(
                "dataset {} takes no XML bodies: it declares no XML record path; send one of {}",
                dataset.name(),
                Format::list_media_types(dataset.formats())
            ),
        ));
    }
    let idempotency = crate::idempotency::header(request.headers())?;
    let request_id = crate::request_id::of(&request);
    let prefix = prefix_of(&request);
    let config = state.config();
    let (parts, body) = request.into_parts();
    let body = read_body(&parts.headers, body, config.body_limit, config.body_timeout).await?;
    decision.bytes = body.len();
    let idempotency = idempotency.map(|k| {
        crate::idempotency::key(&key.id, &k, dataset.name(), &body, config.idempotency_ttl)
    });
    // A retry is answered before its body is checked or staged again.
    if let Some(run) = earlier(state, idempotency.as_ref()).await? {
        return Ok(replayed(&prefix, &run, dataset.name(), decision));
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
    let run = state
        .inner
        .staging
        .submit_once(
            &state.inner.store,
            dataset,
            id,
            format,
            body,
            tags,
            idempotency,
        )
        .await
        .map_err(crate::idempotency::problem)?;
    if run.id != id {
        // A concurrent request with the same key and body was accepted first.
        return Ok(replayed(&prefix, &run, dataset.name(), decision));
    }
    tracing::info!(
        tracking_id = %id,
        dataset = dataset.name(),
        rows,
        duration_ms = started.elapsed().as_millis() as u64,
        "ingestion accepted"
    );
    decision.tracking_id = Some(id);
    Ok(accepted(&prefix, id, dataset.name(), None))
}
