//! The ingestion log: one JSONL line per phase-1 decision on `POST /ingest/{dataset}` (the
//! handler's answers, and the 401 and 429 answers of authentication) and per re-submission, in
//! the file of its UTC day. Key ids only, never keys.

use pluginlake::run::RunId;
use serde::Serialize;

use crate::state::ServerState;

/// One line of the ingestion log: a phase-1 decision.
#[derive(Debug, Serialize)]
pub(crate) struct Decision {
    pub(crate) time: chrono::DateTime<chrono::Utc>,
    pub(crate) request_id: Option<String>,
    pub(crate) tracking_id: Option<RunId>,
    pub(crate) dataset: String,
    /// The API key's id (`None` before authentication).
    pub(crate) key_id: Option<String>,
    pub(crate) bytes: usize,
    pub(crate) rows: Option<usize>,
    pub(crate) outcome: &'static str,
    pub(crate) status: u16,
    pub(crate) error_count: usize,
    pub(crate) duration_ms: f64,
    /// The failed ingestion a re-submission runs again.
    pub(crate) resubmitted_from: Option<RunId>,
}

impl Decision {
    /// A decision on a request (accepted until told otherwise), timed from now.
    pub(crate) fn new(request_id: Option<String>, dataset: &str, key_id: Option<&str>) -> Self {
        Decision {
            time: chrono::Utc::now(),
            request_id,
            tracking_id: None,
            dataset: dataset.to_owned(),
            key_id: key_id.map(str::to_owned),
            bytes: 0,
            rows: None,
            outcome: "accepted",
            status: 202,
            error_count: 0,
            duration_ms: 0.0,
            resubmitted_from: None,
        }
    }

    /// The request was rejected with `status`.
    pub(crate) fn rejected(mut self, status: u16) -> Self {
        self.outcome = "rejected";
        self.status = status;
        self
    }
}

/// Append `decision` to the server's ingestion log, if it keeps one (a failure is logged).
pub(crate) async fn append(state: &ServerState, decision: Decision) {
    let Some(log) = &state.inner.ingestion_log else {
        return;
    };
    let log = log.clone();
    let written = tokio::task::spawn_blocking(move || log.append(decision.time, &decision)).await;
    if let Ok(Err(e)) = written {
        tracing::warn!(error = %e, "writing the ingestion log failed");
    }
}
