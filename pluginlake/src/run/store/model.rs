//! What the run store records: runs, their states and events, and lineage.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::graph::{Definitions, Selection};
use crate::lake::key::AssetKey;
use crate::lake::run_id::RunId;

/// A run's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Recorded, waiting for a worker.
    Queued,
    /// A worker runs it.
    Started,
    /// Every asset materialized and no blocking check failed.
    Success,
    /// It ran and did not succeed.
    Failure,
    /// Canceled before it finished.
    Canceled,
}

impl RunState {
    /// The name stored and shown (`queued`, `started`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Started => "started",
            RunState::Success => "success",
            RunState::Failure => "failure",
            RunState::Canceled => "canceled",
        }
    }

    /// True for `success`, `failure` and `canceled`.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunState::Success | RunState::Failure | RunState::Canceled
        )
    }

    /// Every state.
    pub const ALL: [RunState; 5] = [
        RunState::Queued,
        RunState::Started,
        RunState::Success,
        RunState::Failure,
        RunState::Canceled,
    ];
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunState {
    type Err = Error;

    /// `queued`, `started`, `success`, `failure` or `canceled`.
    fn from_str(s: &str) -> Result<Self> {
        RunState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| {
                Error::Config(format!(
                    "unknown run state {s:?}: use queued, started, success, failure or canceled"
                ))
            })
    }
}

/// What to run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRun {
    /// The run's id (default: a new one). An ingestion stages its payload under the id before
    /// submitting; an id already in the store is refused ([`ErrorKind::Conflict`](crate::ErrorKind::Conflict)).
    pub id: Option<RunId>,
    /// The selection (`*`, `+omop/condition_era`, ...).
    pub selection: String,
    /// A staged input (for ingestion), e.g. the path of an uploaded file.
    pub payload: Option<String>,
    /// Free-form tags.
    pub tags: BTreeMap<String, String>,
    /// Attempts allowed when a worker dies during the run (at least 1).
    pub max_attempts: u32,
    /// The assets the run writes. A queued run is claimed only while no started run writes any
    /// of them; [`NewRun::selecting`] fills them from the definitions.
    pub assets: Vec<AssetKey>,
}

impl NewRun {
    /// A run of `selection`, one attempt, no payload, no tags, no declared assets.
    pub fn new(selection: impl Into<String>) -> Self {
        NewRun {
            selection: selection.into(),
            max_attempts: 1,
            ..NewRun::default()
        }
    }

    /// Submit the run with this id (see [`NewRun::id`]).
    pub fn with_id(mut self, id: RunId) -> Self {
        self.id = Some(id);
        self
    }

    /// A run of `selection`, with the assets it writes resolved in `defs` (a selection naming
    /// unknown assets is an error here, at submit time).
    pub fn selecting(defs: &Definitions, selection: impl Into<String>) -> Result<Self> {
        let selection = selection.into();
        let assets = defs
            .select(&selection.parse::<Selection>()?)?
            .into_iter()
            .filter(|k| defs.asset(k).is_some_and(|a| a.is_materializable()))
            .cloned()
            .collect();
        Ok(NewRun {
            assets,
            ..NewRun::new(selection)
        })
    }
}

/// A run as the store records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run id (the tracking id): a UUIDv7, sortable by creation time and unguessable.
    pub id: RunId,
    /// What it runs.
    pub selection: String,
    /// The staged input, if any.
    pub payload: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Its state.
    pub state: RunState,
    /// Attempts started so far.
    pub attempt: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Why it failed or was canceled.
    pub error: Option<String>,
    /// The worker that holds (or last held) it.
    pub worker: Option<String>,
    /// When it was submitted.
    pub created_at: DateTime<Utc>,
    /// When the current attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached its final state.
    pub finished_at: Option<DateTime<Utc>>,
    /// The worker's last sign of life.
    pub heartbeat_at: Option<DateTime<Utc>>,
}

impl RunRecord {
    /// The claim of the worker that holds this run, when it is started.
    pub fn claim(&self) -> Option<Claim> {
        match (&self.state, &self.worker) {
            (RunState::Started, Some(worker)) => Some(Claim {
                run: self.id,
                worker: worker.clone(),
                attempt: self.attempt,
            }),
            _ => None,
        }
    }
}

/// What a worker holds while it runs a run: the run, the worker and the attempt it started.
///
/// Every change a worker makes to its run (heartbeats, events, finishing) and every commit of
/// the run's data is fenced by the claim: the store accepts it only while the run is `started`
/// by this worker in this attempt, so an attempt that lost the run (canceled, recovered after a
/// missed heartbeat, its worker shut down) can neither finish the run nor commit data.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Claim {
    /// The run.
    pub run: RunId,
    /// The worker that claimed it.
    pub worker: String,
    /// The attempt the claim started (1 for the first).
    pub attempt: u32,
}

impl fmt::Display for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "run {} (worker {}, attempt {})",
            self.run, self.worker, self.attempt
        )
    }
}

/// What an entry of a run's event log records: the store's own state changes, and the
/// executor's [`RunEvent`](crate::run::RunEvent)s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// The run was submitted.
    Queued,
    /// A worker claimed it (a new attempt).
    Started,
    /// The executor started materializing ([`RunEvent::RunStarted`](crate::run::RunEvent::RunStarted)).
    RunStarted,
    /// An asset's attempt started.
    AssetStarted,
    /// An asset was stored.
    AssetMaterialized,
    /// An asset's attempt failed.
    AssetFailed,
    /// An asset was skipped.
    AssetSkipped,
    /// A check was evaluated.
    CheckEvaluated,
    /// The executor finished ([`RunEvent::RunFinished`](crate::run::RunEvent::RunFinished)).
    RunFinished,
    /// The run succeeded.
    Succeeded,
    /// The run failed.
    Failed,
    /// The run was canceled.
    Canceled,
    /// The run's worker stopped sending heartbeats; the run was queued again.
    Recovered,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 13] = [
        EventKind::Queued,
        EventKind::Started,
        EventKind::RunStarted,
        EventKind::AssetStarted,
        EventKind::AssetMaterialized,
        EventKind::AssetFailed,
        EventKind::AssetSkipped,
        EventKind::CheckEvaluated,
        EventKind::RunFinished,
        EventKind::Succeeded,
        EventKind::Failed,
        EventKind::Canceled,
        EventKind::Recovered,
    ];

    /// The name stored and shown (`queued`, `asset_materialized`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Queued => "queued",
            EventKind::Started => "started",
            EventKind::RunStarted => "run_started",
            EventKind::AssetStarted => "asset_started",
            EventKind::AssetMaterialized => "asset_materialized",
            EventKind::AssetFailed => "asset_failed",
            EventKind::AssetSkipped => "asset_skipped",
            EventKind::CheckEvaluated => "check_evaluated",
            EventKind::RunFinished => "run_finished",
            EventKind::Succeeded => "succeeded",
            EventKind::Failed => "failed",
            EventKind::Canceled => "canceled",
            EventKind::Recovered => "recovered",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| Error::Config(format!("unknown run event kind {s:?}")))
    }
}

/// One entry of a run's event log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Position in the store's log (increasing).
    pub seq: i64,
    /// The run.
    pub run_id: RunId,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: EventKind,
    /// The asset it concerns, if any.
    pub asset: Option<AssetKey>,
    /// The DuckLake snapshot a materialization committed.
    pub snapshot_id: Option<i64>,
    /// Rows a materialization wrote.
    pub rows: Option<u64>,
    /// The whole event, as JSON.
    pub detail: serde_json::Value,
}

/// The last materialization of an asset: the lineage link between a run and the data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastMaterialization {
    /// The asset.
    pub asset: AssetKey,
    /// The run that wrote it.
    pub run_id: RunId,
    /// The DuckLake snapshot it committed.
    pub snapshot_id: i64,
    /// Rows written.
    pub rows: u64,
    /// When it was recorded.
    pub at: DateTime<Utc>,
}

/// Which runs to list (newest first).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunFilter {
    /// Only runs in this state.
    pub state: Option<RunState>,
    /// Only runs with an event about this asset.
    pub asset: Option<AssetKey>,
    /// Only runs created at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only runs created before this instant.
    pub until: Option<DateTime<Utc>>,
    /// At most this many (default 100).
    pub limit: Option<u32>,
}
