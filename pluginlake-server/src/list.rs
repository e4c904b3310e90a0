//! `GET /ingest?dataset=&state=&limit=&cursor=`: recent ingestions, newest first, in pages.
//!
//! A key sees the ingestions into the datasets it may ingest into (an admin key: every
//! dataset of the server). Each item is a short status; `next_cursor`, when there are more,
//! is the `cursor` of the next page.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use pluginlake::run::{RunFilter, RunId, RunRecord, RunState};
use serde::Serialize;

use crate::caller::Caller;
use crate::problem::Problem;
use crate::state::ServerState;

/// Items per page unless `limit` says otherwise.
const DEFAULT_LIMIT: u32 = 50;
/// The most items per page.
const MAX_LIMIT: u32 = 1000;
/// The query parameters understood.
const PARAMETERS: [&str; 4] = ["dataset", "state", "limit", "cursor"];

/// One ingestion of a listing.
#[derive(Debug, Serialize)]
struct Item {
    tracking_id: RunId,
    dataset: Option<String>,
    state: RunState,
    submitted_at: chrono::DateTime<chrono::Utc>,
    ended_at: Option<chrono::DateTime<chrono::Utc>>,
    attempts: u32,
    error: Option<String>,
}

impl From<RunRecord> for Item {
    fn from(run: RunRecord) -> Self {
        Item {
            tracking_id: run.id,
            dataset: run.tags.get("dataset").cloned(),
            state: run.state,
            submitted_at: run.created_at,
            ended_at: run.finished_at,
            attempts: run.attempt,
            error: run.error,
        }
    }
}

/// The body of a listing.
#[derive(Debug, Serialize)]
struct Page {
    items: Vec<Item>,
    next_cursor: Option<RunId>,
}

/// A 400 naming the query parameter.
fn bad(parameter: &str, detail: impl std::fmt::Display) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "bad-parameter",
        format!("query parameter {parameter}: {detail}"),
    )
    .with_errors(vec![serde_json::json!({ "parameter": parameter })], 0)
}

/// `GET /ingest`: a page of recent ingestions the caller may see.
pub(crate) async fn list(
    State(state): State<ServerState>,
    Extension(Caller(key)): Extension<Caller>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    match list_inner(&state, &key, &query).await {
        Ok(r) => r,
        Err(p) => p.into_response(),
    }
}

async fn list_inner(
    state: &ServerState,
    key: &crate::auth::ApiKey,
    query: &HashMap<String, String>,
) -> Result<Response, Problem> {
    let mut unknown: Vec<&str> = query
        .keys()
        .map(String::as_str)
        .filter(|k| !PARAMETERS.contains(k))
        .collect();
    unknown.sort_unstable();
    if let Some(first) = unknown.first() {
        return Err(bad(
            first,
            format!("unknown; use {}", PARAMETERS.join(", ")),
        ));
    }
    let run_state = query
        .get("state")
        .map(|s| s.parse::<RunState>())
        .transpose()
        .map_err(|_| bad("state", "use queued, started, success, failure or canceled"))?;
    let limit = match query.get("limit") {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| bad("limit", format!("use a whole number from 1 to {MAX_LIMIT}")))?,
    };
    let after = match query.get("cursor") {
        None => None,
        Some(text) => {
            let id = text
                .parse::<RunId>()
                .map_err(|_| bad("cursor", "not a cursor of this listing (use next_cursor)"))?;
            if state
                .store()
                .get(id)
                .await
                .map_err(Problem::from)?
                .is_none()
            {
                return Err(bad("cursor", "names no ingestion (use next_cursor)"));
            }
            Some(id)
        }
    };
    let forbidden = || {
        Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "API key {} may not see these ingestions (scope ingest:<dataset> or admin needed)",
                key.id
            ),
        )
    };
    let visible = |name: &str| key.may_ingest(name);
    let datasets: Vec<String> = match query.get("dataset") {
        Some(name) => {
            if !visible(name) {
                return Err(forbidden());
            }
            if state.dataset(name).is_none() {
                return Err(Problem::new(
                    StatusCode::NOT_FOUND,
                    "unknown-dataset",
                    "no such dataset",
                ));
            }
            vec![name.clone()]
        }
        None => {
            let mut names: Vec<String> = state
                .dataset_names()
                .filter(|n| visible(n))
                .map(str::to_owned)
                .collect();
            if names.is_empty() {
                return Err(forbidden());
            }
            names.sort_unstable();
            names
        }
    };
    // One more than the page: whether there is a next one.
    let mut runs = state
        .store()
        .runs(&RunFilter {
            state: run_state,
            datasets: Some(datasets),
            after,
            limit: Some(limit + 1),
            ..RunFilter::default()
        })
        .await
        .map_err(Problem::from)?;
    let more = runs.len() > limit as usize;
    runs.truncate(limit as usize);
    let next_cursor = more.then(|| runs.last().map(|r| r.id)).flatten();
    let page = Page {
        items: runs.into_iter().map(Item::from).collect(),
        next_cursor,
    };
    Ok(axum::Json(page).into_response())
}
