//! Rows of the run store's tables as the database returns them, and their conversion into the
//! records the store hands out (typed ids, times and states).

use chrono::{DateTime, Utc};

use super::{EventKind, EventRecord, LastMaterialization, RunRecord};
use crate::error::{Error, Result};
use crate::lake::key::AssetKey;
use crate::lake::run_id::RunId;

/// The columns of `runs` in the order of [`RunRow`].
pub(super) const RUN_COLUMNS: &str = "id, selection, payload, tags, state, attempt, max_attempts, \
     error, worker, created_at, started_at, finished_at, heartbeat_at";

/// The columns of `run_events` in the order of [`EventRow`].
pub(super) const EVENT_COLUMNS: &str = "seq, run_id, at, kind, asset, snapshot_id, rows, detail";

/// A row of `runs` (times in milliseconds since the Unix epoch).
#[derive(sqlx::FromRow)]
pub(super) struct RunRow {
    id: String,
    selection: String,
    payload: Option<String>,
    tags: String,
    state: String,
    attempt: i64,
    max_attempts: i64,
    error: Option<String>,
    worker: Option<String>,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    heartbeat_at: Option<i64>,
}

impl RunRow {
    /// The run id as stored.
    pub(super) fn id(&self) -> &str {
        &self.id
    }

    pub(super) fn into_record(self) -> Result<RunRecord> {
        Ok(RunRecord {
            id: run_id(&self.id)?,
            selection: self.selection,
            payload: self.payload,
            tags: serde_json::from_str(&self.tags)
                .map_err(|e| corrupt(&format!("the tags of run {}: {e}", self.id)))?,
            state: self
                .state
                .parse()
                .map_err(|_| corrupt(&format!("the state {:?} of run {}", self.state, self.id)))?,
            attempt: count(self.attempt),
            max_attempts: count(self.max_attempts),
            error: self.error,
            worker: self.worker,
            created_at: instant(self.created_at)?,
            started_at: self.started_at.map(instant).transpose()?,
            finished_at: self.finished_at.map(instant).transpose()?,
            heartbeat_at: self.heartbeat_at.map(instant).transpose()?,
        })
    }
}

/// A row of `run_events`.
#[derive(sqlx::FromRow)]
pub(super) struct EventRow {
    seq: i64,
    run_id: String,
    at: i64,
    kind: String,
    asset: Option<String>,
    snapshot_id: Option<i64>,
    rows: Option<i64>,
    detail: String,
}

impl EventRow {
    pub(super) fn into_record(self) -> Result<EventRecord> {
        Ok(EventRecord {
            seq: self.seq,
            run_id: run_id(&self.run_id)?,
            at: instant(self.at)?,
            kind: event_kind(&self.kind)?,
            asset: self.asset.as_deref().map(AssetKey::parse),
            snapshot_id: self.snapshot_id,
            rows: self.rows.map(|r| r.max(0) as u64),
            detail: serde_json::from_str(&self.detail)
                .map_err(|e| corrupt(&format!("the detail of event {}: {e}", self.seq)))?,
        })
    }
}

/// A row of the last-materializations query.
#[derive(sqlx::FromRow)]
pub(super) struct LastMaterializationRow {
    asset: String,
    run_id: String,
    snapshot_id: i64,
    rows: i64,
    at: i64,
}

impl LastMaterializationRow {
    pub(super) fn into_record(self) -> Result<LastMaterialization> {
        Ok(LastMaterialization {
            asset: AssetKey::parse(&self.asset),
            run_id: run_id(&self.run_id)?,
            snapshot_id: self.snapshot_id,
            rows: self.rows.max(0) as u64,
            at: instant(self.at)?,
        })
    }
}

/// The column value of an instant.
pub(super) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(super) fn instant(ms: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| corrupt(&format!("the time {ms} (milliseconds since 1970)")))
}

fn run_id(text: &str) -> Result<RunId> {
    text.parse()
        .map_err(|_| corrupt(&format!("the run id {text:?}")))
}

fn event_kind(text: &str) -> Result<EventKind> {
    text.parse()
        .map_err(|_| corrupt(&format!("the event kind {text:?}")))
}

fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

/// A value the store itself wrote that does not read back: a store written by another version,
/// or changed by hand.
fn corrupt(what: &str) -> Error {
    Error::Internal(format!("reading {what} from the run store"))
}
