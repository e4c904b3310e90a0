//! What the run store records: runs, their states and events, and lineage.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
    /// Free-form tags. The `dataset` tag names the ingest dataset the run receives: runs are
    /// listed by it ([`RunFilter::datasets`]).
    pub tags: BTreeMap<String, String>,
    /// Attempts allowed when a worker dies during the run (at least 1).
    pub max_attempts: u32,
    /// The assets the run writes. A queued run is claimed only while no started run writes any
    /// of them; [`NewRun::selecting`] fills them from the definitions.
    pub assets: Vec<AssetKey>,
    /// Submit at most once under this key while it holds (see [`IdempotencyKey`]).
    pub idempotency: Option<IdempotencyKey>,
}

/// A client's idempotency key for a submit: while it holds, submitting again under the same key
/// returns the run first submitted with it (no second run), or
/// [`Error::IdempotencyConflict`] when the request differs. Atomic with the submit: any number of
/// concurrent submits under one key make one run.
///
/// The store keeps digests only: the SHA-256 of the key's scope and the key, and the SHA-256 of
/// the request. A key holds for [`IdempotencyKey::kept_for`] after its run was submitted (on the
/// store's clock); a submit under an older key releases it and makes a new run.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyKey {
    /// SHA-256 (hex) of the scope and the key.
    key: String,
    /// SHA-256 (hex) of the request.
    request: String,
    /// How long the key holds.
    #[serde(rename = "kept_for_s", with = "crate::serde_secs")]
    kept_for: Duration,
}

impl IdempotencyKey {
    /// The key `key` of a client in `scope` (e.g. the id of its API key: two clients' keys never
    /// collide), for `request` (e.g. the request's target and body, or their digest), holding
    /// for `kept_for`.
    pub fn new(scope: &str, key: &str, request: &[u8], kept_for: Duration) -> Self {
        let mut scoped = Sha256::new();
        scoped.update((scope.len() as u64).to_le_bytes());
        scoped.update(scope.as_bytes());
        scoped.update(key.as_bytes());
        IdempotencyKey {
            key: hex::encode(scoped.finalize()),
            request: hex::encode(Sha256::digest(request)),
            kept_for,
        }
    }

    /// The stored form of the key (a hex SHA-256).
    pub fn digest(&self) -> &str {
        &self.key
    }

    /// The stored form of the request (a hex SHA-256).
    pub fn request_digest(&self) -> &str {
        &self.request
    }

    /// How long the key holds after its run was submitted.
    pub fn kept_for(&self) -> Duration {
        self.kept_for
    }
}

impl fmt::Debug for IdempotencyKey {
    /// Digests only (the key itself is never kept).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdempotencyKey")
            .field("key_sha256", &self.key)
            .field("request_sha256", &self.request)
            .field("kept_for", &self.kept_for)
            .finish()
    }
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

    /// Submit the run at most once under `key` (see [`NewRun::idempotency`]).
    pub fn with_idempotency(mut self, key: IdempotencyKey) -> Self {
        self.idempotency = Some(key);
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
    /// Only ingestions into one of these datasets (runs whose `dataset` tag is one of them; an
    /// empty list matches nothing).
    pub datasets: Option<Vec<String>>,
    /// Only runs listed after this one (newest first): the next page of a listing that ended
    /// with it. A run id that is not in the store matches nothing.
    pub after: Option<RunId>,
    /// At most this many (default 100).
    pub limit: Option<u32>,
}

/// A worker that recorded a sign of life (its loop, or a heartbeat of the run it holds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerSeen {
    /// The worker's name ([`WorkerOptions::id`](crate::run::WorkerOptions::id)).
    pub id: String,
    /// Its last sign of life, on the store's clock.
    pub last_seen: DateTime<Utc>,
}
