//! Re-submitting a failed ingestion: a new run, with a new id, of the same staged payload.
//!
//! The payload of a failed run is kept; [`Staging::resubmit`] submits a run of the same
//! selection pointing at that payload, tagged `resubmitted_from`. A payload is re-submitted at
//! most once at a time: a marker next to it (`<payload>.resubmitted`) names its latest run, and
//! is written under an exclusive lock on it, so that two concurrent (or repeated) re-submits of
//! one failed run make one new run. The dataset's asset stores a payload under a write key
//! naming the payload, so rows a failed run already committed (when a later asset failed) are
//! not appended again by its re-submission.

use std::collections::BTreeMap;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::phase2::marker_of;
use super::{tags, Staging};
use crate::error::{Error, Result};
use crate::graph::Definitions;
use crate::lake::run_id::RunId;
use crate::run::{NewRun, RunRecord, RunState, RunStore};

/// The payload of `run` is gone (or it never had one): a NotFound error naming it.
fn gone(run: RunId, path: &Path, why: &str) -> Error {
    Error::Io {
        path: path.to_owned(),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("the staged payload of run {run} {why}; it cannot be re-submitted"),
        ),
    }
}

/// Take an exclusive lock on `file` without waiting: false when another holds it. The lock
/// goes with the file (closed, or its process dead).
#[cfg(unix)]
fn try_lock(file: &std::fs::File) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor this `File` owns for the duration of the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

/// Elsewhere, re-submissions of one payload are not serialized across processes.
#[cfg(not(unix))]
fn try_lock(_file: &std::fs::File) -> std::io::Result<bool> {
    Ok(true)
}

/// The marker of a payload, open and locked, with the run it names.
struct Marker {
    file: std::fs::File,
    path: PathBuf,
    latest: Option<RunId>,
}

impl Marker {
    /// Open (create) and lock the marker of `payload`; `None` when another holds the lock.
    fn lock(payload: &Path) -> Result<Option<Marker>> {
        let path = marker_of(payload);
        let io = |e| Error::io(&path, e);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        if !try_lock(&file).map_err(io)? {
            return Ok(None);
        }
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(io)?;
        let latest = text.trim().parse().ok();
        Ok(Some(Marker { file, path, latest }))
    }

    /// Record `id` as the payload's latest run, durably.
    fn record(&mut self, id: RunId) -> Result<()> {
        let io = |e| Error::io(&self.path, e);
        self.file.set_len(0).map_err(io)?;
        self.file.rewind().map_err(io)?;
        self.file.write_all(id.to_string().as_bytes()).map_err(io)?;
        self.file.sync_all().map_err(io)?;
        if let Some(dir) = self.path.parent() {
            crate::io::durable::sync_dir(dir)?;
        }
        Ok(())
    }
}

impl Staging {
    /// Re-submit the failed ingestion `failed` from its staged payload: a new run (new id) of
    /// the same selection, resolved in `defs`, with the same payload, tags and attempts, tagged
    /// `resubmitted_from` = `failed` and with `extra_tags` added. Returns the new run, queued.
    ///
    /// Refused with [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) when no run has that id
    /// or its payload is gone (deleted after a success, or by hand), and with
    /// [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) ([`Error::NotResubmittable`]) when
    /// the run did not fail, when its payload was re-submitted already (re-submit that later
    /// run if it failed too), or while another re-submission of it is under way. A payload
    /// outside this staging folder is refused ([`ErrorKind::BadInput`](crate::ErrorKind::BadInput)).
    pub async fn resubmit(
        &self,
        store: &RunStore,
        defs: &Definitions,
        failed: RunId,
        extra_tags: BTreeMap<String, String>,
    ) -> Result<RunRecord> {
        let run = store.get(failed).await?.ok_or(Error::RunNotFound(failed))?;
        if run.state != RunState::Failure {
            return Err(Error::NotResubmittable {
                run: failed,
                reason: format!(
                    "it is {}; only a failed ingestion is re-submitted",
                    run.state
                ),
            });
        }
        let payload = run
            .payload
            .as_deref()
            .map(PathBuf::from)
            .filter(|_| run.tags.contains_key(tags::DATASET))
            .ok_or_else(|| {
                gone(
                    failed,
                    Path::new("(none)"),
                    "does not exist: it is not an ingestion",
                )
            })?;
        if !payload.starts_with(self.root()) {
            return Err(Error::Config(format!(
                "run {failed}: its payload {} is not in the staging folder {}",
                payload.display(),
                self.root().display()
            )));
        }
        let mut new = NewRun::selecting(defs, run.selection.clone())?;
        let id = RunId::new();
        let mut all_tags = run.tags.clone();
        all_tags.extend(extra_tags);
        all_tags.insert(tags::RESUBMITTED_FROM.into(), failed.to_string());
        new.id = Some(id);
        new.payload = run.payload.clone();
        new.tags = all_tags;
        new.max_attempts = run.max_attempts;

        let locked = {
            let payload = payload.clone();
            crate::lake::blocking(move || {
                if !payload.is_file() {
                    return Err(gone(
                        failed,
                        &payload,
                        "is gone (deleted after a successful run, or by hand)",
                    ));
                }
                Marker::lock(&payload)
            })
            .await?
        };
        let Some(mut marker) = locked else {
            return Err(Error::NotResubmittable {
                run: failed,
                reason: "another re-submission of its payload is under way".into(),
            });
        };
        if let Some(latest) = marker.latest.filter(|l| *l != failed) {
            // A marker naming a run the store does not have is left by a re-submission that
            // failed before its submit: it does not count.
            if store.get(latest).await?.is_some() {
                return Err(Error::NotResubmittable {
                    run: failed,
                    reason: format!(
                        "its payload was re-submitted already as run {latest}; re-submit that \
                         run if it failed too"
                    ),
                });
            }
        }
        let marker = crate::lake::blocking(move || {
            marker.record(id)?;
            Ok(marker)
        })
        .await?;
        let submitted = store.submit(&new).await;
        drop(marker);
        let record = submitted?;
        tracing::info!(run = %id, resubmitted_from = %failed, "failed ingestion re-submitted");
        Ok(record)
    }
}
