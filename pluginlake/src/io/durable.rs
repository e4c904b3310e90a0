//! Files and folders that survive a power cut once a write has committed them: a new file's
//! contents are flushed (`fsync`), and so is every folder that gained an entry (the new file, a
//! hard link, a new subfolder), before the catalog commit refers to them.

use std::fs::File;
use std::path::Path;

use crate::error::{Error, Result};

/// Flush `dir`'s entries (new files, links, subfolders in it) to disk.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
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
