//! `POST /ingest/{tracking_id}/resubmit` (admin keys only): run a failed ingestion again from
//! its staged payload ([`Staging::resubmit`](pluginlake::ingest::Staging::resubmit)); 202 with
//! the new run's tracking id and status URL, as `POST /ingest/{dataset}` answers.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use pluginlake::run::RunId;
use pluginlake::ErrorKind;
use serde::Serialize;

use crate::caller::Caller;
use crate::ingest::{prefix_of, status_url};
use crate::problem::Problem;
use crate::state::ServerState;

/// The body of a 202.
#[derive(Debug, Serialize)]
struct Resubmitted<'a> {
    tracking_id: RunId,
    status_url: &'a str,
    dataset: Option<&'a str>,
    resubmitted_from: RunId,
}

/// The ingestion log's line for a re-submission.
#[derive(Debug, Serialize)]
struct Decision<'a> {
    time: chrono::DateTime<chrono::Utc>,
    request_id: Option<&'a str>,
    tracking_id: RunId,
    resubmitted_from: RunId,
    dataset: Option<&'a str>,
    key_id: &'a str,
    outcome: &'static str,
    status: u16,
    duration_ms: f64,
}

/// `POST /ingest/{tracking_id}/resubmit`.
pub(crate) async fn resubmit(
    State(state): State<ServerState>,
    Extension(Caller(key)): Extension<Caller>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let started = Instant::now();
    // What the answer needs of the request, taken before any await (a request is not `Sync`).
    let (request_id, prefix) = (crate::request_id::of(&request), prefix_of(&request));
    drop(request);
    match resubmit_inner(&state, &key, &id, request_id, &prefix, started).await {
        Ok(r) => r,
        Err(p) => p.into_response(),
    }
}

async fn resubmit_inner(
    state: &ServerState,
    key: &crate::auth::ApiKey,
    id: &str,
    request_id: Option<String>,
    prefix: &str,
    started: Instant,
) -> Result<Response, Problem> {
    if !key.is_admin() {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "API key {} may not re-submit ingestions (scope admin needed)",
                key.id
            ),
        ));
    }
    let not_found = || {
        Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-tracking-id",
            "no ingestion has this tracking id",
        )
    };
    let failed: RunId = id.parse().map_err(|_| not_found())?;
    let mut tags = BTreeMap::new();
    tags.insert("resubmitted_by".to_owned(), key.id.clone());
    if let Some(r) = &request_id {
        tags.insert("request_id".to_owned(), r.clone());
    }
    let run = state
        .staging()
        .resubmit(state.store(), state.definitions(), failed, tags)
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound if matches!(e, pluginlake::Error::RunNotFound(_)) => not_found(),
            // Not the file's path: the client needs only to know it is gone.
            ErrorKind::NotFound => Problem::new(
                StatusCode::NOT_FOUND,
                "payload-gone",
                "the staged payload of this ingestion is gone (deleted after a successful run, \
                 or by hand): it cannot be re-submitted",
            ),
            _ => Problem::from(&e),
        })?;
    let dataset = run
        .tags
        .get(pluginlake::ingest::tags::DATASET)
        .map(String::as_str);
    let url = status_url(prefix, run.id);
    tracing::info!(tracking_id = %run.id, resubmitted_from = %failed, "ingestion re-submitted");
    if let Some(log) = state.ingestion_log().cloned() {
        let line = Decision {
            time: chrono::Utc::now(),
            request_id: request_id.as_deref(),
            tracking_id: run.id,
            resubmitted_from: failed,
            dataset,
            key_id: &key.id,
            outcome: "resubmitted",
            status: 202,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        };
        let (time, line) = (line.time, serde_json::to_value(&line).unwrap_or_default());
        let written = tokio::task::spawn_blocking(move || log.append(time, &line)).await;
        if let Ok(Err(e)) = written {
            tracing::warn!(error = %e, "writing the ingestion log failed");
        }
    }
    let body = Resubmitted {
        tracking_id: run.id,
        status_url: &url,
        dataset,
        resubmitted_from: failed,
    };
    let mut response = (StatusCode::ACCEPTED, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&url) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}
