//! Runs: materializing a selection of the graph into DuckLake.
//!
//! [`materialize`] (or [`Definitions::materialize`]) runs the selected assets in topological
//! order, independent ones concurrently up to a limit. Every output goes through its TypeHandler
//! into DuckLake, one snapshot per asset tagged with the run id; inputs are loaded from DuckLake
//! through the input's handler (as of the snapshot this run wrote, when it wrote one), so an asset
//! can also run alone against what is stored. A failing or panicking asset fails alone: its
//! downstream assets are skipped with its error, unrelated branches finish.

mod eta;
mod executor;
mod store;
mod worker;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{ErrorKind, Result};
use crate::graph::{CheckResult, Definitions, Selection, Severity};
use crate::io::{CommitFence, Materialization};
use crate::lake::key::AssetKey;
use crate::lake::Lake;

pub use crate::lake::run_id::RunId;
pub use eta::{AssetHistory, Eta};
pub use store::{
    Claim, EventKind, EventRecord, IdempotencyKey, LastMaterialization, NewRun, RunFilter,
    RunRecord, RunState, RunStore, WorkerSeen,
};
pub use worker::{run_worker, work_one, AfterRun, WorkerOptions, WorkerPool};

/// Something that happened in a run, in the order it happened (per asset).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunEvent {
    /// The run starts with these assets, in topological order.
    RunStarted {
        /// The run.
        run_id: RunId,
        /// The assets it will materialize.
        assets: Vec<AssetKey>,
    },
    /// An attempt of an asset starts.
    AssetStarted {
        /// The asset.
        key: AssetKey,
        /// 1 for the first attempt.
        attempt: u32,
    },
    /// An asset was stored.
    AssetMaterialized {
        /// What was written.
        materialization: Materialization,
    },
    /// An attempt of an asset failed.
    AssetFailed {
        /// The asset.
        key: AssetKey,
        /// The attempt that failed.
        attempt: u32,
        /// What went wrong.
        error: String,
        /// What kind of error it was.
        kind: ErrorKind,
        /// Whether another attempt follows.
        will_retry: bool,
    },
    /// An asset did not run because an upstream failed or a blocking check stopped it.
    AssetSkipped {
        /// The asset.
        key: AssetKey,
        /// Which upstream and why.
        reason: String,
    },
    /// A check was evaluated.
    CheckEvaluated {
        /// The checked asset.
        key: AssetKey,
        /// The outcome.
        check: CheckOutcome,
    },
    /// The run ended.
    RunFinished {
        /// The run.
        run_id: RunId,
        /// True when every asset materialized and no blocking check failed.
        success: bool,
    },
}

impl RunEvent {
    /// What kind of event this is (as the run store records it).
    pub fn kind(&self) -> EventKind {
        match self {
            RunEvent::RunStarted { .. } => EventKind::RunStarted,
            RunEvent::AssetStarted { .. } => EventKind::AssetStarted,
            RunEvent::AssetMaterialized { .. } => EventKind::AssetMaterialized,
            RunEvent::AssetFailed { .. } => EventKind::AssetFailed,
            RunEvent::AssetSkipped { .. } => EventKind::AssetSkipped,
            RunEvent::CheckEvaluated { .. } => EventKind::CheckEvaluated,
            RunEvent::RunFinished { .. } => EventKind::RunFinished,
        }
    }

    /// The asset the event concerns, if any.
    pub fn asset(&self) -> Option<&AssetKey> {
        match self {
            RunEvent::AssetStarted { key, .. }
            | RunEvent::AssetFailed { key, .. }
            | RunEvent::AssetSkipped { key, .. }
            | RunEvent::CheckEvaluated { key, .. } => Some(key),
            RunEvent::AssetMaterialized { materialization } => Some(&materialization.key),
            RunEvent::RunStarted { .. } | RunEvent::RunFinished { .. } => None,
        }
    }
}

/// Receives the events of a run as they happen (progress displays, run stores).
pub type EventSink = Arc<dyn Fn(&RunEvent) + Send + Sync>;

/// How to run a materialization.
#[derive(Clone)]
pub struct MaterializeOptions {
    /// At most this many assets run at once (default: the number of CPUs).
    pub concurrency: usize,
    /// The run id (default: a new one).
    pub run_id: Option<RunId>,
    /// Where events go.
    pub event_sink: Option<EventSink>,
    /// The partition to materialize of every partitioned asset in the selection (assets that
    /// are not partitioned are materialized whole).
    pub partition: Option<String>,
    /// Checked right before every commit of the run's data (a worker's claim on the run).
    pub commit_fence: Option<CommitFence>,
    /// The run's staged input (an ingestion's payload path), handed to every asset as
    /// [`AssetContext::payload`](crate::graph::AssetContext::payload).
    pub payload: Option<String>,
}

impl Default for MaterializeOptions {
    fn default() -> Self {
        MaterializeOptions {
            concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            run_id: None,
            event_sink: None,
            partition: None,
            commit_fence: None,
            payload: None,
        }
    }
}

impl MaterializeOptions {
    /// Run at most `n` assets at once (at least 1).
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Materialize partition `key` of the partitioned assets.
    pub fn with_partition(mut self, key: impl Into<String>) -> Self {
        self.partition = Some(key.into());
        self
    }

    /// Use this run id.
    pub fn with_run_id(mut self, run_id: RunId) -> Self {
        self.run_id = Some(run_id);
        self
    }

    /// Check `fence` right before every commit of the run's data.
    pub fn with_commit_fence(mut self, fence: CommitFence) -> Self {
        self.commit_fence = Some(fence);
        self
    }

    /// Hand `payload` (a staged input) to the run's assets.
    pub fn with_payload(mut self, payload: impl Into<String>) -> Self {
        self.payload = Some(payload.into());
        self
    }

    /// Send events to `sink`.
    pub fn with_event_sink(mut self, sink: impl Fn(&RunEvent) + Send + Sync + 'static) -> Self {
        self.event_sink = Some(Arc::new(sink));
        self
    }
}

impl fmt::Debug for MaterializeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaterializeOptions")
            .field("concurrency", &self.concurrency)
            .field("run_id", &self.run_id)
            .field("event_sink", &self.event_sink.is_some())
            .field("partition", &self.partition)
            .field("commit_fence", &self.commit_fence.is_some())
            .field("payload", &self.payload)
            .finish()
    }
}

/// What became of one asset in a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AssetStatus {
    /// Stored in DuckLake.
    Materialized,
    /// Every attempt failed (the last error).
    Failed {
        /// What went wrong.
        error: String,
        /// What kind of error it was (the last attempt's).
        kind: ErrorKind,
    },
    /// Not run: an upstream failed or a blocking check stopped it.
    Skipped {
        /// Which upstream and why.
        reason: String,
    },
}

/// The result of one check in a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckOutcome {
    /// The check's name.
    pub name: String,
    /// Whether it blocks downstream assets when it fails.
    pub blocking: bool,
    /// The result (a check whose code failed counts as failed, severity `Error`).
    pub result: CheckResult,
}

impl CheckOutcome {
    /// True when this outcome stops the asset's downstream assets.
    pub fn blocks(&self) -> bool {
        self.blocking && !self.result.passed && self.result.severity == Severity::Error
    }
}

/// One asset's part of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AssetOutcome {
    /// The asset.
    pub key: AssetKey,
    /// What became of it.
    pub status: AssetStatus,
    /// Attempts made (0 when skipped).
    pub attempts: u32,
    /// Wall time from the first attempt to the last check (serialized as `duration_s`).
    #[serde(rename = "duration_s", with = "crate::serde_secs")]
    pub duration: Duration,
    /// What was written (rows, columns, snapshot id), when materialized.
    pub materialization: Option<Materialization>,
    /// The asset's checks, when materialized.
    pub checks: Vec<CheckOutcome>,
}

impl AssetOutcome {
    /// Why this asset fails its run and stops its downstream assets: its error, its skip, or a
    /// failed blocking check (severity `Error`); `None` when it materialized and passed.
    pub fn problem(&self) -> Option<String> {
        match &self.status {
            AssetStatus::Failed { error, .. } => Some(format!("{} failed: {error}", self.key)),
            AssetStatus::Skipped { reason } => Some(format!("{} skipped: {reason}", self.key)),
            AssetStatus::Materialized => self.checks.iter().find(|c| c.blocks()).map(|c| {
                let detail = c.result.description.as_deref().unwrap_or("");
                let sep = if detail.is_empty() { "" } else { ": " };
                format!(
                    "{}: blocking check {} failed{sep}{detail}",
                    self.key, c.name
                )
            }),
        }
    }
}

/// The result of a run, per asset in topological order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// The run id (in the commit info of every snapshot the run wrote).
    pub run_id: RunId,
    /// Every selected asset.
    pub assets: Vec<AssetOutcome>,
    /// Wall time of the run (serialized as `duration_s`).
    #[serde(rename = "duration_s", with = "crate::serde_secs")]
    pub duration: Duration,
}

impl RunResult {
    /// True when every asset materialized and no blocking check failed.
    pub fn success(&self) -> bool {
        self.assets.iter().all(|a| a.problem().is_none())
    }

    /// The outcome of one asset.
    pub fn asset(&self, key: &AssetKey) -> Option<&AssetOutcome> {
        self.assets.iter().find(|a| a.key == *key)
    }
}

impl Definitions {
    /// Materialize the `selection` of this graph into `lake`.
    ///
    /// Errors only when the run cannot start (a selection naming unknown assets); what happens to
    /// each asset is in the [`RunResult`].
    pub async fn materialize(
        &self,
        lake: &Lake,
        selection: &Selection,
        options: &MaterializeOptions,
    ) -> Result<RunResult> {
        executor::execute(self, lake, selection, options).await
    }
}

/// Materialize the assets that `selection` picks (`*`, `omop/person`, `group:raw`, `+key`,
/// `key+`, comma-separated) among every `#[asset]` in this binary, with default options.
///
/// ```no_run
/// # async fn run() -> pluginlake::Result<()> {
/// let lake = pluginlake::Lake::open_default()?;
/// let run = pluginlake::materialize(&lake, "+omop/condition_era").await?;
/// assert!(run.success(), "{run:#?}");
/// # Ok(()) }
/// ```
pub async fn materialize(lake: &Lake, selection: &str) -> Result<RunResult> {
    let selection: Selection = selection.parse()?;
    Definitions::registered()?
        .materialize(lake, &selection, &MaterializeOptions::default())
        .await
}
