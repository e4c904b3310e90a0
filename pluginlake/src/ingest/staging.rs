//! The staging area: accepted payloads on disk (`.data/staging/<dataset>/<tracking id>.<ext>`),
//! durable before their run is submitted, and the submit itself (stage, then run, or nothing).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::format::Format;
use super::Dataset;
use crate::error::{Error, Result};
use crate::io::durable::{create_dir_all, sync_dir};
use crate::lake::run_id::RunId;
use crate::run::{IdempotencyKey, NewRun, RunRecord, RunStore};

/// The folder accepted payloads wait in until their run reads them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Staging {
    root: PathBuf,
}

impl Staging {
    /// Staging under `root` (the embedded default: `.data/staging`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Staging { root: root.into() }
    }

    /// The staging folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the payload of ingestion `id` into `dataset` is staged.
    pub fn path(&self, dataset: &str, id: RunId, format: Format) -> PathBuf {
        self.root
            .join(dataset)
            .join(format!("{id}.{}", format.extension()))
    }

    /// Write `body` as the payload of `id`, durably: the file's contents and its folder's entry
    /// are flushed to disk before this returns. On any failure no file is left.
    pub fn write(&self, dataset: &str, id: RunId, format: Format, body: &[u8]) -> Result<PathBuf> {
        let path = self.path(dataset, id, format);
        let dir = path
            .parent()
            .ok_or_else(|| {
                Error::Internal(format!("staged path {} has no folder", path.display()))
            })?
            .to_path_buf();
        create_dir_all(&dir)?;
        let written = (|| {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)?;
            file.write_all(body)?;
            file.sync_all()
        })();
        if let Err(e) = written {
            // `create_new` refused an existing file: it is not ours to remove.
            if e.kind() != std::io::ErrorKind::AlreadyExists {
                let _ = std::fs::remove_file(&path);
            }
            return Err(Error::io(&path, e));
        }
        if let Err(e) = sync_dir(&dir) {
            self.remove(&path);
            return Err(e);
        }
        Ok(path)
    }

    /// Remove a staged payload (and flush its folder); errors are logged, not returned.
    pub fn remove(&self, path: &Path) {
        if let Err(e) = std::fs::remove_file(path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %path.display(), error = %e, "removing a staged payload failed");
            }
        }
        if let Some(dir) = path.parent() {
            let _ = sync_dir(dir);
        }
    }

    /// Phase 1's last steps for a checked payload: stage `body` as ingestion `id`, durably,
    /// then submit the run of `dataset` (its asset and its downstream assets) with `id` as its
    /// run id and the staged path as its payload, tagged with the dataset (see
    /// [`tags`](super::tags)). If either step fails, neither is left behind (no staged file,
    /// no run).
    pub async fn submit<B: AsRef<[u8]> + Send + 'static>(
        &self,
        store: &RunStore,
        dataset: &Dataset,
        id: RunId,
        format: Format,
        body: B,
        tags: BTreeMap<String, String>,
    ) -> Result<RunRecord> {
        self.submit_once(store, dataset, id, format, body, tags, None)
            .await
    }

    /// [`Staging::submit`] at most once under `idempotency` (see [`IdempotencyKey`]): when the
    /// key already has a run, that run is returned (its id is not `id`) and this payload is not
    /// kept; [`Error::IdempotencyConflict`] when that run was for another request.
    #[allow(clippy::too_many_arguments)]
    pub async fn submit_once<B: AsRef<[u8]> + Send + 'static>(
        &self,
        store: &RunStore,
        dataset: &Dataset,
        id: RunId,
        format: Format,
        body: B,
        tags: BTreeMap<String, String>,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<RunRecord> {
        let staging = self.clone();
        let name = dataset.name().to_owned();
        let path =
            crate::lake::blocking(move || staging.write(&name, id, format, body.as_ref())).await?;
        let mut tags = tags;
        tags.insert(super::tags::DATASET.into(), dataset.name().to_owned());
        tags.insert(super::tags::ASSET.into(), dataset.key().to_string());
        let keep = dataset.keep_staged();
        let keep = keep.as_secs() + u64::from(keep.subsec_nanos() > 0);
        if keep > 0 {
            tags.insert(super::tags::KEEP_STAGED_S.into(), keep.to_string());
        }
        let run = NewRun {
            id: Some(id),
            payload: Some(path.to_string_lossy().into_owned()),
            tags,
            max_attempts: dataset.max_attempts(),
            assets: dataset.assets(),
            idempotency,
            ..NewRun::new(dataset.selection())
        };
        let submitted = store.submit(&run).await;
        if submitted.as_ref().is_ok_and(|r| r.id == id) {
            return submitted;
        }
        // Failed, or an earlier run under the idempotency key: this payload has no run.
        let staging = self.clone();
        let _ = crate::lake::blocking(move || {
            staging.remove(&path);
            Ok(())
        })
        .await;
        submitted
    }
}
