//! `GET /ingest/{tracking_id}/status`: an ingestion's state, from the run store.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use pluginlake::run::{RunEvent, RunId, RunState, WorkerSeen};
use serde::Serialize;

use crate::caller::Caller;
use crate::problem::Problem;
use crate::state::ServerState;

/// One asset of a run, as the status shows it.
#[derive(Debug, Default, Serialize)]
struct AssetStatus {
    key: String,
    state: &'static str,
    rows: Option<u64>,
    snapshot_id: Option<i64>,
    checks: Vec<serde_json::Value>,
}

/// The ETA part of a status.
#[derive(Debug, Serialize)]
struct EtaBody {
    remaining_s: Option<f64>,
    p90_s: Option<f64>,
    finish_at: Option<chrono::DateTime<chrono::Utc>>,
    basis: Vec<pluginlake::run::AssetHistory>,
    unknown_assets: Vec<String>,
}

/// The body of `GET /ingest/{tracking_id}/status`.
#[derive(Debug, Serialize)]
struct StatusBody {
    tracking_id: RunId,
    dataset: Option<String>,
    state: RunState,
    submitted_at: chrono::DateTime<chrono::Utc>,
    started_at: Option<chrono::DateTime<chrono::Utc>>,
    ended_at: Option<chrono::DateTime<chrono::Utc>>,
    attempts: u32,
    error: Option<String>,
    assets: Vec<AssetStatus>,
    queue_position: Option<usize>,
    eta: Option<EtaBody>,
    /// The workers alive lately (see [`ServerConfig::workers_seen_within`]): none while the
    /// ingestion is queued means no worker will take it until one starts.
    ///
    /// [`ServerConfig::workers_seen_within`]: crate::ServerConfig::workers_seen_within
    workers_seen: Vec<WorkerSeen>,
}

/// `GET /ingest/{tracking_id}/status`: the run's state from the run store.
pub(crate) async fn status(
    State(state): State<ServerState>,
    Extension(Caller(key)): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    match status_inner(&state, &key, &id).await {
        Ok(r) => r,
        Err(p) => p.into_response(),
    }
}

async fn status_inner(
    state: &ServerState,
    key: &crate::auth::ApiKey,
    id: &str,
) -> Result<Response, Problem> {
    let not_found = Problem::unknown_tracking_id;
    let Ok(id) = id.parse::<RunId>() else {
        return Err(not_found());
    };
    let store = state.store();
    let run = store
        .get(id)
        .await
        .map_err(Problem::from)?
        .ok_or_else(not_found)?;
    let dataset = run.tags.get("dataset").cloned();
    let allowed = key.is_admin() || dataset.as_deref().is_some_and(|d| key.may_ingest(d));
    if !allowed {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "API key {} may not see this ingestion (scope ingest:<dataset> or admin needed)",
                key.id
            ),
        ));
    }
    let mut assets: Vec<AssetStatus> = Vec::new();
    for e in store.events(id).await.map_err(Problem::from)? {
        let Some(asset) = &e.asset else { continue };
        let name = asset.to_string();
        let i = match assets.iter().position(|a| a.key == name) {
            Some(i) => i,
            None => {
                assets.push(AssetStatus {
                    key: name,
                    ..AssetStatus::default()
                });
                assets.len() - 1
            }
        };
        let a = &mut assets[i];
        match serde_json::from_value::<RunEvent>(e.detail.clone()) {
            Ok(RunEvent::AssetStarted { .. }) => a.state = "started",
            Ok(RunEvent::AssetMaterialized { materialization }) => {
                a.state = "materialized";
                a.rows = Some(materialization.rows);
                a.snapshot_id = Some(materialization.snapshot_id);
            }
            Ok(RunEvent::AssetFailed { will_retry, .. }) => {
                a.state = if will_retry { "retrying" } else { "failed" }
            }
            Ok(RunEvent::AssetSkipped { .. }) => a.state = "skipped",
            Ok(RunEvent::CheckEvaluated { check, .. }) => a.checks.push(serde_json::json!({
                "name": check.name,
                "passed": check.result.passed,
                "blocking": check.blocking,
                "description": check.result.description,
            })),
            _ => {}
        }
    }
    let eta = if run.state.is_final() {
        None
    } else {
        store.estimate(id, state.definitions()).await.ok()
    };
    let workers_seen = store
        .workers_seen(state.config().workers_seen_within)
        .await
        .map_err(Problem::from)?;
    let body = StatusBody {
        tracking_id: run.id,
        dataset,
        state: run.state,
        submitted_at: run.created_at,
        started_at: run.started_at,
        ended_at: run.finished_at,
        attempts: run.attempt,
        error: run.error.clone(),
        assets,
        queue_position: eta.as_ref().and_then(|e| e.queue_position),
        eta: eta.map(|e| EtaBody {
            remaining_s: e.remaining.map(|d| d.as_secs_f64()),
            p90_s: e.remaining_p90.map(|d| d.as_secs_f64()),
            finish_at: e.finish_at,
            basis: e.basis,
            unknown_assets: e.unknown.iter().map(ToString::to_string).collect(),
        }),
        workers_seen,
    };
    let retry = (!run.state.is_final()).then(|| {
        body.eta
            .as_ref()
            .and_then(|e| e.remaining_s)
            .map_or(1, |s| (s.ceil() as u64).clamp(1, 30))
    });
    let mut response = axum::Json(body).into_response();
    if let Some(s) = retry {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    Ok(response)
}
