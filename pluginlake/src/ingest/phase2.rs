//! The end of phase 2: what becomes of a staged payload once its run has finished, and the
//! ingestion log's line for the run's outcome.
//!
//! A payload is deleted only once the store records its run as `success`: never while the run
//! may still be retried (a run whose first attempt committed the rows but whose worker died
//! before finishing is recovered and reads its payload again), never after a failure (the
//! payload is kept for [`Staging::resubmit`]). The worker that finished the run deletes it
//! right away ([`Staging::after_run`]) unless the dataset keeps payloads for a while
//! ([`Dataset::with_keep_staged`](super::Dataset::with_keep_staged)); [`Staging::sweep`] deletes
//! what is left: kept payloads whose time is up, and those of workers that died between
//! finishing a run and deleting its payload. Deleting is idempotent (a payload already gone is
//! no error).

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::format::Format;
use super::{tags, Staging};
use crate::error::{Error, Result};
use crate::lake::run_id::RunId;
use crate::logs::DailyLog;
use crate::run::{AfterRun, RunRecord, RunResult, RunState, RunStore};

/// One line of the ingestion log for the outcome of an ingestion's run (phase 2); phase 1
/// writes its own lines (its decisions) to the same log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunOutcome {
    /// When the line was written.
    pub time: DateTime<Utc>,
    /// `run` (phase 2), to tell these lines from phase 1's.
    pub phase: String,
    /// The run (the tracking id).
    pub tracking_id: RunId,
    /// The dataset.
    pub dataset: String,
    /// `succeeded`, `failed` or `canceled`.
    pub outcome: String,
    /// Rows the dataset's asset stored, when it did.
    pub rows: Option<u64>,
    /// The DuckLake snapshot holding them.
    pub snapshot_id: Option<i64>,
    /// Attempts the run took.
    pub attempts: u32,
    /// How long the run's last attempt took, in milliseconds.
    pub duration_ms: Option<f64>,
    /// Why it failed.
    pub error: Option<String>,
    /// What became of the staged payload: `deleted`, `kept` (after a failure, or for the
    /// dataset's retention), or `missing` (already gone).
    pub payload: String,
    /// The failed run this run was re-submitted from, if it was.
    pub resubmitted_from: Option<String>,
}

/// How long the payload of `run` is kept after it succeeded.
fn keep_of(run: &RunRecord) -> Duration {
    run.tags
        .get(tags::KEEP_STAGED_S)
        .and_then(|s| s.parse().ok())
        .map_or(Duration::ZERO, Duration::from_secs)
}

/// Where a re-submission of the payload at `payload` records its latest run.
pub(super) fn marker_of(payload: &Path) -> PathBuf {
    payload.with_extension("resubmitted")
}

impl Staging {
    /// The hook a worker calls after each run it finished ([`WorkerOptions::after_run`](crate::run::WorkerOptions::after_run)):
    /// [`finished`](Self::finished) with `log` (the ingestion log,
    /// `.data/logs/ingestion_log`; `None`: not logged).
    pub fn after_run(&self, log: Option<DailyLog>) -> AfterRun {
        let staging = self.clone();
        AfterRun::new(move |run, result| {
            staging.finished(run, result, log.as_ref());
        })
    }

    /// What becomes of the payload of `run`, which has just finished (`result`: its assets'
    /// result, when they ran): deleted when the run succeeded and its dataset keeps no
    /// payloads, else kept; and the outcome appended to `log`. Runs that are not ingestions
    /// (no `dataset` tag or no payload) and runs not finished are left alone (`None`). A
    /// payload outside the staging folder is never deleted.
    pub fn finished(
        &self,
        run: &RunRecord,
        result: Option<&RunResult>,
        log: Option<&DailyLog>,
    ) -> Option<RunOutcome> {
        let dataset = run.tags.get(tags::DATASET)?;
        let payload = PathBuf::from(run.payload.as_deref()?);
        let outcome = match run.state {
            RunState::Success => "succeeded",
            RunState::Failure => "failed",
            RunState::Canceled => "canceled",
            RunState::Queued | RunState::Started => return None,
        };
        let fate = if !payload.exists() {
            "missing"
        } else if run.state == RunState::Success && keep_of(run).is_zero() {
            if self.owns(&payload) {
                self.delete(&payload);
                "deleted"
            } else {
                tracing::warn!(
                    run = %run.id,
                    payload = %payload.display(),
                    staging = %self.root().display(),
                    "the payload is outside the staging folder; not deleting it"
                );
                "kept"
            }
        } else {
            "kept"
        };
        let stored = result.and_then(|r| {
            let key = run.tags.get(tags::ASSET)?;
            r.assets.iter().find(|a| a.key.to_string() == *key)
        });
        let duration = result.map(|r| r.duration).or_else(|| {
            let (start, end) = (run.started_at?, run.finished_at?);
            (end - start).to_std().ok()
        });
        let line = RunOutcome {
            time: Utc::now(),
            phase: "run".into(),
            tracking_id: run.id,
            dataset: dataset.clone(),
            outcome: outcome.into(),
            rows: stored.and_then(|a| a.materialization.as_ref().map(|m| m.rows)),
            snapshot_id: stored.and_then(|a| a.materialization.as_ref().map(|m| m.snapshot_id)),
            attempts: run.attempt,
            duration_ms: duration.map(|d| d.as_secs_f64() * 1000.0),
            error: run.error.clone(),
            payload: fate.into(),
            resubmitted_from: run.tags.get(tags::RESUBMITTED_FROM).cloned(),
        };
        tracing::info!(
            tracking_id = %run.id,
            dataset = %dataset,
            outcome,
            payload = fate,
            "ingestion run finished"
        );
        if let Some(log) = log {
            if let Err(e) = log.append(line.time, &line) {
                tracing::warn!(error = %e, "writing the ingestion log failed");
            }
        }
        Some(line)
    }

    /// True when `path` is in the staging folder.
    fn owns(&self, path: &Path) -> bool {
        path.starts_with(self.root())
            && !path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
    }

    /// Delete a payload and its re-submission marker (idempotent).
    fn delete(&self, payload: &Path) {
        self.remove(payload);
        let marker = marker_of(payload);
        if marker.exists() {
            self.remove(&marker);
        }
    }

    /// Delete the payloads whose run succeeded and whose dataset's retention has passed at
    /// `now` (and the markers of payloads already gone); with `dry_run`, only say which. For a
    /// payload that was re-submitted, the run that counts is its latest re-submission. Returns
    /// the payloads deleted (or that would be).
    ///
    /// Payloads whose run failed or has not finished are kept, as are files whose run the
    /// store does not know.
    pub async fn sweep(
        &self,
        store: &RunStore,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<Vec<PathBuf>> {
        let staging = self.clone();
        let files = crate::lake::blocking(move || staging.staged_files()).await?;
        let mut deleted = Vec::new();
        for file in files {
            let (payload, latest) = match file {
                Staged::Payload { path, latest } => (path, latest),
                Staged::StrayMarker(marker) => {
                    if !dry_run {
                        self.remove(&marker);
                    }
                    continue;
                }
            };
            let Some(latest) = latest.or_else(|| run_id_of(&payload)) else {
                continue;
            };
            let Some(run) = store.get(latest).await? else {
                continue;
            };
            let expired = run.state == RunState::Success
                && run.finished_at.is_some_and(|end| {
                    chrono::Duration::from_std(keep_of(&run))
                        .ok()
                        .and_then(|keep| end.checked_add_signed(keep))
                        .is_some_and(|until| until <= now)
                });
            if expired {
                if !dry_run {
                    let (staging, path) = (self.clone(), payload.clone());
                    crate::lake::blocking(move || {
                        staging.delete(&path);
                        Ok(())
                    })
                    .await?;
                }
                deleted.push(payload);
            }
        }
        Ok(deleted)
    }

    /// The payloads under the staging folder (with the latest run of each), and the markers
    /// whose payload is gone.
    fn staged_files(&self) -> Result<Vec<Staged>> {
        let mut found = Vec::new();
        let datasets = match std::fs::read_dir(self.root()) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
            Err(e) => return Err(Error::io(self.root(), e)),
        };
        for dir in datasets {
            let dir = dir.map_err(|e| Error::io(self.root(), e))?.path();
            if !dir.is_dir() {
                continue;
            }
            let entries = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
            let mut payloads = Vec::new();
            let mut markers = Vec::new();
            for entry in entries {
                let path = entry.map_err(|e| Error::io(&dir, e))?.path();
                match path.extension().and_then(|e| e.to_str()) {
                    Some("resubmitted") => markers.push(path),
                    Some(ext) if Format::from_extension(ext).is_some() => payloads.push(path),
                    _ => {}
                }
            }
            for marker in markers {
                if !payloads.iter().any(|p| marker_of(p) == marker) {
                    found.push(Staged::StrayMarker(marker));
                }
            }
            for path in payloads {
                let latest = std::fs::read_to_string(marker_of(&path))
                    .ok()
                    .and_then(|t| t.trim().parse::<RunId>().ok());
                found.push(Staged::Payload { path, latest });
            }
        }
        Ok(found)
    }
}

/// A file of the staging folder, as a sweep sees it.
enum Staged {
    /// A payload, and the run its marker names (its latest re-submission), if any.
    Payload {
        path: PathBuf,
        latest: Option<RunId>,
    },
    /// A re-submission marker whose payload is gone.
    StrayMarker(PathBuf),
}

/// The run id a payload is named after.
fn run_id_of(payload: &Path) -> Option<RunId> {
    payload.file_stem()?.to_str()?.parse().ok()
}
