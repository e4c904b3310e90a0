//! `POST /ingest/{tracking_id}/resubmit` (admin keys only): run a failed ingestion again from
//! its staged payload ([`Staging::resubmit`](pluginlake::ingest::Staging::resubmit)); 202 with
//! the new run's tracking id and status URL, as `POST /ingest/{dataset}` answers.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use pluginlake::run::RunId;
use pluginlake::ErrorKind;

use crate::caller::Caller;
use crate::ingest::{accepted, prefix_of};
use crate::ingestion_log::Decision;
use crate::problem::Problem;
use crate::state::ServerState;

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
    let not_found = Problem::unknown_tracking_id;
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
        .map_or("", String::as_str);
    tracing::info!(tracking_id = %run.id, resubmitted_from = %failed, "ingestion re-submitted");
    let mut line = Decision::new(request_id, dataset, Some(&key.id));
    line.tracking_id = Some(run.id);
    line.resubmitted_from = Some(failed);
    line.outcome = "resubmitted";
    line.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    crate::ingestion_log::append(state, line).await;
    Ok(accepted(prefix, run.id, dataset, Some(failed)))
}
