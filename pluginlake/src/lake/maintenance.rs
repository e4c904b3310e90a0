//! Keeping a lake small and clean: DuckLake's own maintenance (expire old snapshots, merge small
//! files, remove the files that expiry and merging scheduled for deletion) and the removal of
//! orphaned files (Parquet files a writer left in the data path when it was killed between
//! writing them and committing).
//!
//! Safety:
//! - Each DuckLake maintenance call runs as a plain statement inside an explicit transaction
//!   (`BEGIN; CALL ...; COMMIT`), never as a prepared statement in auto-commit mode, whose bind
//!   and execution would run in two transactions (DuckLake issue #1419, "Scanning a DuckLake
//!   table after the transaction has ended").
//! - An orphan is a `.parquet` file under the data path whose name no data file, delete file or
//!   file scheduled for deletion of the catalog carries (names are unique, so the check does not
//!   depend on how paths are spelled), last modified before the cutoff, and the cutoff is
//!   before every write in progress in this process. Writes in other processes are protected
//!   by the cutoff's age: give one longer than any write takes (the CLI also bounds it by the
//!   oldest started run of the run store).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::database::RawConnection;
use super::{sql, Lake};
use crate::error::{Context, Error, Result};

/// What [`Lake::maintain`] does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Maintenance {
    /// Expire snapshots committed longer ago than this (time travel to them ends; the latest
    /// snapshot is always kept). `None` (the default): keep every snapshot.
    #[serde(rename = "expire_older_than_s", with = "crate::serde_secs::option")]
    pub expire_older_than: Option<Duration>,
    /// Merge adjacent small files of every table (default: true).
    pub merge_small_files: bool,
    /// Remove files that expiry, merging or replaces scheduled for deletion longer ago than this
    /// (readers that started before may still read them). `None`: keep them. Default: 1 day.
    #[serde(rename = "cleanup_older_than_s", with = "crate::serde_secs::option")]
    pub cleanup_older_than: Option<Duration>,
    /// Remove orphaned files last modified longer ago than this. `None`: keep them. Default:
    /// 1 day.
    #[serde(rename = "orphans_older_than_s", with = "crate::serde_secs::option")]
    pub orphans_older_than: Option<Duration>,
    /// Report what would be done, and do nothing.
    pub dry_run: bool,
}

impl Default for Maintenance {
    fn default() -> Self {
        const DAY: Duration = Duration::from_secs(24 * 3600);
        Maintenance {
            expire_older_than: None,
            merge_small_files: true,
            cleanup_older_than: Some(DAY),
            orphans_older_than: Some(DAY),
            dry_run: false,
        }
    }
}

/// What [`Lake::maintain`] did (or, in a dry run, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceReport {
    /// Snapshots expired.
    pub expired_snapshots: usize,
    /// Whether small files were merged.
    pub merged: bool,
    /// Files scheduled for deletion that were removed.
    pub cleaned_files: usize,
    /// Orphaned files removed.
    pub orphans: Vec<PathBuf>,
    /// Nothing was changed.
    pub dry_run: bool,
}

/// When the writes in progress in this process started (by write number).
static WRITES: Mutex<BTreeMap<u64, DateTime<Utc>>> = Mutex::new(BTreeMap::new());
static NEXT_WRITE: AtomicU64 = AtomicU64::new(0);

/// A write in progress: files it creates are not orphans while it lives.
pub(crate) struct WriteInProgress(u64);

impl WriteInProgress {
    /// Register a write starting now (before it creates any file).
    pub(crate) fn start() -> Self {
        let id = NEXT_WRITE.fetch_add(1, Ordering::SeqCst);
        WRITES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, Utc::now());
        WriteInProgress(id)
    }
}

impl Drop for WriteInProgress {
    fn drop(&mut self) {
        WRITES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.0);
    }
}

/// The start of the oldest write in progress in this process.
fn oldest_write() -> Option<DateTime<Utc>> {
    WRITES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .min()
        .copied()
}

fn ago(span: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(span)
        .ok()
        .and_then(|d| Utc::now().checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Run one DuckLake maintenance call in its own explicit transaction; the count it returns.
fn in_transaction(conn: &RawConnection, call: &str, what: &str) -> Result<usize> {
    conn.execute("BEGIN TRANSACTION")
        .context(|| format!("starting to {what}"))?;
    let rows = conn.query_text(call).context(|| what.to_owned());
    if rows.is_err() {
        let _ = conn.execute("ROLLBACK");
    }
    let rows = rows?;
    conn.execute("COMMIT")
        .context(|| format!("committing: {what}"))?;
    Ok(rows
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0))
}

impl Lake {
    /// Expire old snapshots, merge small files, remove files scheduled for deletion and orphaned
    /// files, as `maintenance` says. Each DuckLake call runs inside an explicit transaction (not
    /// as a prepared statement in auto-commit mode: DuckLake issue #1419); an orphan is a Parquet
    /// file under the data path that no data file, delete file or scheduled deletion of the
    /// catalog names, older than the cutoff and than every write in progress in this process
    /// (give a cutoff longer than any write in another process takes).
    pub fn maintain(&self, maintenance: &Maintenance) -> Result<MaintenanceReport> {
        let conn = self.raw_connection()?;
        let dry_run = maintenance.dry_run;
        let mut report = MaintenanceReport {
            dry_run,
            ..MaintenanceReport::default()
        };
        if let Some(age) = maintenance.expire_older_than {
            report.expired_snapshots = in_transaction(
                &conn,
                &sql::expire_snapshots(self.name(), ago(age), dry_run),
                "expiring old snapshots",
            )?;
        }
        if maintenance.merge_small_files && !dry_run {
            in_transaction(
                &conn,
                &sql::merge_adjacent_files(self.name()),
                "merging small files",
            )?;
            report.merged = true;
        }
        if let Some(age) = maintenance.cleanup_older_than {
            report.cleaned_files = in_transaction(
                &conn,
                &sql::cleanup_old_files(self.name(), ago(age), dry_run),
                "removing files scheduled for deletion",
            )?;
        }
        if let Some(age) = maintenance.orphans_older_than {
            report.orphans = self.delete_orphaned_files(ago(age), dry_run)?;
        }
        tracing::info!(?report, "maintained the lake");
        Ok(report)
    }

    /// Remove the orphaned files of the data path: `.parquet` files no snapshot references (no
    /// data file, delete file or file scheduled for deletion of the catalog), last modified
    /// before `older_than` and before every write in progress in this process. Returns them
    /// (in a dry run, without removing them).
    pub fn delete_orphaned_files(
        &self,
        older_than: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<Vec<PathBuf>> {
        let cutoff = oldest_write().map_or(older_than, |w| w.min(older_than));
        let conn = self.raw_connection()?;
        // Listed after the catalog is read would race a commit; listed before, a file committed
        // in between is referenced by the time the catalog is read.
        let mut files = Vec::new();
        parquet_files(self.data_path(), &mut files)?;
        let referenced: HashSet<String> = conn
            .query_text(&sql::referenced_files(self.metadata()))
            .context(|| "reading the files the catalog references".to_owned())?
            .into_iter()
            .filter_map(|row| row.into_iter().next().flatten())
            .filter_map(|path| file_name(Path::new(&path)))
            .collect();
        let mut orphans = Vec::new();
        for file in files {
            let Some(name) = file_name(&file) else {
                continue;
            };
            if referenced.contains(&name) {
                continue;
            }
            let modified = std::fs::metadata(&file)
                .and_then(|m| m.modified())
                .map_err(|e| Error::io(&file, e))?;
            if DateTime::<Utc>::from(modified) >= cutoff {
                continue;
            }
            if !dry_run {
                match std::fs::remove_file(&file) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(Error::io(&file, e)),
                }
            }
            tracing::info!(file = %file.display(), dry_run, "orphaned file");
            orphans.push(file);
        }
        Ok(orphans)
    }
}

fn file_name(path: &Path) -> Option<String> {
    path.file_name().and_then(|n| n.to_str()).map(str::to_owned)
}

/// Every `.parquet` file under `dir` (a missing directory has none).
fn parquet_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if kind.is_dir() {
            parquet_files(&path, out)?;
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "parquet") {
            out.push(path);
        }
    }
    Ok(())
}
