//! Files and folders that survive a power cut once a write has committed them: a new file's
//! contents are flushed (`fsync`), and so is every folder that gained an entry (the new file, a
//! hard link, a new subfolder), before the catalog commit refers to them.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};

/// Flush `dir`'s entries (new files, links, subfolders in it) to disk.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// How far before a write's start a file's modification time may lie and still count as the
/// write's: file systems stamp times from a clock that lags the system clock by up to a tick.
const CLOCK_SLACK: Duration = Duration::from_secs(2);

/// Flush what a write in progress created under `dir` (the folder of one table) since `since`:
/// every file modified since then (DuckDB's data and delete files), every folder that changed
/// (gained a file or subfolder, such as a partition's `key=value`), and `dir`'s own ancestors up
/// to `root` that changed (when the write created the table's folders). DuckDB writes its Parquet
/// files without flushing them; this runs before the catalog commit that refers to them.
///
/// Files of another write in progress under `dir` may be flushed too, which is harmless. A
/// folder that does not exist (the rows were inlined into the catalog) is nothing to do.
pub(crate) fn sync_new(root: &Path, dir: &Path, since: SystemTime) -> Result<()> {
    let since = since.checked_sub(CLOCK_SLACK).unwrap_or(since);
    let changed = |path: &Path| -> Result<Option<std::fs::Metadata>> {
        match std::fs::symlink_metadata(path) {
            Ok(m) => Ok(m.modified().is_ok_and(|t| t >= since).then_some(m)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        }
    };
    if !dir.is_dir() {
        return Ok(());
    }
    sync_tree(dir, &changed)?;
    let mut ancestor = dir.parent();
    while let Some(a) = ancestor.filter(|a| a.starts_with(root)) {
        if changed(a)?.is_some() {
            sync_dir(a)?;
        }
        ancestor = a.parent();
    }
    Ok(())
}

/// Flush the changed files and folders in the tree of `dir` (`dir` included).
fn sync_tree(
    dir: &Path,
    changed: &impl Fn(&Path) -> Result<Option<std::fs::Metadata>>,
) -> Result<()> {
    if changed(dir)?.is_some() {
        sync_dir(dir)?;
    }
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        match changed(&path)? {
            Some(m) if m.is_file() => File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io(&path, e))?,
            // A folder without changes may hold one that changed.
            _ if path.is_dir() => sync_tree(&path, changed)?,
            _ => {}
        }
    }
    Ok(())
}

/// Create `dir` and its missing ancestors, flushing each folder that gained a subfolder, so the
/// new folders survive a power cut.
pub(crate) fn create_dir_all(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    // The missing ancestors, outermost first.
    let mut missing = Vec::new();
    let mut current = Some(dir);
    while let Some(d) = current {
        if d.is_dir() {
            break;
        }
        missing.push(d);
        current = d.parent();
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for d in missing.iter().rev() {
        if let Some(parent) = d.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_folders_are_created() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a").join("b").join("c");
        create_dir_all(&deep).unwrap();
        assert!(deep.is_dir());
        create_dir_all(&deep).unwrap();
        sync_dir(&deep).unwrap();
    }
}
