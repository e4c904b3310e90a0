//! What the run store records: runs, their states and events, and lineage.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::graph::{Definitions, Selection};
use crate::lake::key::AssetKey;

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

    pub(super) fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "queued" => RunState::Queued,
            "started" => RunState::Started,
            "success" => RunState::Success,
            "failure" => RunState::Failure,
            "canceled" => RunState::Canceled,
            other => {
                return Err(Error::RunStore {
                    context: format!("reading a run state: unknown state {other:?}"),
                    source: None,
                })
            }
        })
    }
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRun {
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
    pub id: String,
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
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    /// When the current attempt started.
    pub started_at: Option<i64>,
    /// When it reached its final state.
    pub finished_at: Option<i64>,
    /// The worker's last sign of life.
    pub heartbeat_at: Option<i64>,
}

/// One entry of a run's event log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Position in the store's log (increasing).
    pub seq: i64,
    /// The run.
    pub run_id: String,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    /// `queued`, `started`, `asset_started`, `asset_materialized`, `asset_failed`,
    /// `asset_skipped`, `check_evaluated`, `succeeded`, `failed`, `canceled`, ...
    pub kind: String,
    /// The asset it concerns, if any.
    pub asset: Option<AssetKey>,
    /// The DuckLake snapshot a materialization committed.
    pub snapshot_id: Option<i64>,
    /// Rows a materialization wrote.
    pub rows: Option<i64>,
    /// The whole event, as JSON.
    pub detail: serde_json::Value,
}

/// The last materialization of an asset: the lineage link between a run and the data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastMaterialization {
    /// The asset.
    pub asset: AssetKey,
    /// The run that wrote it.
    pub run_id: String,
    /// The DuckLake snapshot it committed.
    pub snapshot_id: i64,
    /// Rows written.
    pub rows: i64,
    /// When (milliseconds since the Unix epoch).
    pub at: i64,
}

/// Which runs to list (newest first).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Only runs in this state.
    pub state: Option<RunState>,
    /// Only runs with an event about this asset.
    pub asset: Option<AssetKey>,
    /// Only runs created at or after (milliseconds since the Unix epoch).
    pub since: Option<i64>,
    /// Only runs created before.
    pub until: Option<i64>,
    /// At most this many (default 100).
    pub limit: Option<u32>,
}
