//! Registering existing Parquet files as a table's data: their columns, their rows, their place
//! under the lake's data path, and a check that every data page reads.
//!
//! The lake owns a registered file, as DuckLake's own documentation says of
//! `ducklake_add_data_files`: each file gets a name of its own in the table's folder, made by
//! (first that works) a reflink (a copy-on-write clone: no data copied, and the user's file stays
//! independent), a hard link made read-only (no data copied; the user's file is the same file
//! and becomes read-only: the lake's now), or a copy (another file system, or
//! [`ParquetFiles::with_copy`](crate::io::ParquetFiles::with_copy)).

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::describe;
use crate::error::{Context, Error, Result};
use crate::io::durable;
use crate::lake::database::RawConnection;
use crate::lake::sql::{self, ColumnInfo, TableRef};

/// The columns every file has; files that disagree are an error naming both and the difference.
pub(super) fn file_columns(
    conn: &RawConnection,
    table: &TableRef,
    files: &[PathBuf],
) -> Result<Vec<ColumnInfo>> {
    let mut first: Option<(&Path, Vec<ColumnInfo>)> = None;
    for file in files {
        let columns = describe(conn, &sql::describe_parquet(file)?, || {
            format!("reading the schema of {} for {table}", file.display())
        })?;
        match &first {
            None => first = Some((file, columns)),
            Some((first_file, expected)) if *expected != columns => {
                let show = |cols: &[ColumnInfo]| {
                    cols.iter()
                        .map(|c| format!("{} {}", c.name, c.sql_type))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                return Err(Error::InvalidData {
                    table: table.to_string(),
                    reason: format!(
                        "the Parquet files disagree on their columns: {} has ({}), {} has ({}); \
                         nothing was registered",
                        first_file.display(),
                        show(expected),
                        file.display(),
                        show(&columns)
                    ),
                });
            }
            Some(_) => {}
        }
    }
    first.map(|(_, c)| c).ok_or_else(|| Error::InvalidData {
        table: table.to_string(),
        reason: "no Parquet files to register".into(),
    })
}

/// Rows of the files, from their footers.
pub(super) fn row_count(conn: &RawConnection, files: &[PathBuf]) -> Result<u64> {
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let rows = conn
        .query_text(&sql::parquet_rows(&paths)?)
        .context(|| "counting the rows of the Parquet files".into())?;
    Ok(rows
        .first()
        .and_then(|r| r[0].as_deref())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0))
}

/// Every file once: a path given twice, or two paths of one file (hard links), would register
/// its rows twice.
pub(super) fn check_distinct(table: &TableRef, files: &[PathBuf]) -> Result<()> {
    let mut seen: HashMap<(u64, u64), &Path> = HashMap::new();
    for file in files {
        let meta = std::fs::metadata(file).map_err(|e| Error::io(file, e))?;
        if let Some(first) = seen.insert((meta.dev(), meta.ino()), file) {
            let how = if first == file.as_path() {
                format!("{} is given twice", file.display())
            } else {
                format!(
                    "{} and {} are the same file",
                    first.display(),
                    file.display()
                )
            };
            return Err(Error::InvalidData {
                table: table.to_string(),
                reason: format!(
                    "{how}: its rows would be registered twice; nothing was registered"
                ),
            });
        }
    }
    Ok(())
}

/// Read every data page of `files` (all columns of all rows), so that a corrupt file is refused
/// before the commit instead of breaking every later read of the table.
pub(super) fn verify(
    conn: &RawConnection,
    table: &TableRef,
    files: &[PathBuf],
    columns: &[ColumnInfo],
) -> Result<()> {
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let started = std::time::Instant::now();
    match conn.query_text(&sql::read_parquet_pages(&paths, columns)?) {
        Ok(_) => {
            tracing::debug!(%table, files = files.len(), ms = started.elapsed().as_secs_f64() * 1e3,
                "registered files verified");
            Ok(())
        }
        Err(e) => Err(Error::InvalidData {
            table: table.to_string(),
            reason: format!(
                "a Parquet file does not read: {e}; nothing was registered (files: {})",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

/// The files as registered, and those pluginlake created (removed if the write fails).
pub(super) struct Linked {
    pub files: Vec<PathBuf>,
    pub created: Vec<PathBuf>,
}

/// How a file became the lake's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Taken {
    Reflink,
    HardLink,
    Copy,
}

/// Give every file a name of its own under `<data_path>/<schema>/<table>/`: a reflink, else a
/// hard link, else a copy (always a copy with `copy`). Nothing is shared with another table:
/// files already under the data path get a new name too. The new names and their folder are
/// flushed to disk before this returns.
pub(super) fn link(
    data_path: &Path,
    table: &TableRef,
    write_id: uuid::Uuid,
    files: &[PathBuf],
    copy: bool,
) -> Result<Linked> {
    let dir = data_path
        .join(table.schema().as_str())
        .join(table.table().as_str());
    durable::create_dir_all(&dir)?;
    let mut linked = Linked {
        files: Vec::with_capacity(files.len()),
        created: Vec::new(),
    };
    let result = files.iter().enumerate().try_for_each(|(i, source)| {
        let target = dir.join(format!(
            "registered-{}-{i}-{}",
            write_id.simple(),
            safe_name(source)
        ));
        let taken = take(source, &target, copy)?;
        tracing::debug!(file = %source.display(), target = %target.display(), ?taken, "registered file taken");
        linked.created.push(target.clone());
        linked.files.push(target);
        Ok(())
    });
    let result = result.and_then(|()| durable::sync_dir(&dir));
    if let Err(e) = result {
        for f in &linked.created {
            let _ = std::fs::remove_file(f);
        }
        return Err(e);
    }
    Ok(linked)
}

/// Make every taken file read-only: the lake's data does not change in place. (A hard link
/// shares its permissions with the user's file, which is the same file.)
pub(super) fn make_read_only(files: &[PathBuf]) -> Result<()> {
    for f in files {
        let meta = std::fs::metadata(f).map_err(|e| Error::io(f, e))?;
        let mut perms = meta.permissions();
        perms.set_mode(perms.mode() & !0o222);
        std::fs::set_permissions(f, perms).map_err(|e| Error::io(f, e))?;
    }
    Ok(())
}

/// `source`'s file name with only characters that need no quoting anywhere (no glob characters
/// for DuckDB's readers), for a recognisable registered name.
fn safe_name(source: &Path) -> String {
    let name: String = source
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.ends_with(".parquet") {
        name
    } else {
        format!("{name}.parquet")
    }
}

/// Create `target` as the lake's own name for `source`.
fn take(source: &Path, target: &Path, copy: bool) -> Result<Taken> {
    if !copy {
        match reflink(source, target) {
            Ok(()) => return Ok(Taken::Reflink),
            Err(e) => tracing::trace!(file = %source.display(), error = %e, "no reflink"),
        }
        match std::fs::hard_link(source, target) {
            Ok(()) => return Ok(Taken::HardLink),
            Err(e) => tracing::warn!(file = %source.display(), error = %e,
                "cannot hard-link the file under the data path (another file system?); copying it"),
        }
    }
    copy_file(source, target)?;
    Ok(Taken::Copy)
}

/// A copy-on-write clone of `source` at `target` (Linux `FICLONE`: btrfs, XFS, ...); an error
/// where the file system has none, leaving no `target` behind.
fn reflink(source: &Path, target: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let from = File::open(source)?;
        let to = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(target)?;
        // SAFETY: both descriptors are open for the duration of the call; FICLONE takes the
        // source descriptor as its argument.
        let rc = unsafe { libc::ioctl(to.as_raw_fd(), libc::FICLONE, from.as_raw_fd()) };
        if rc == 0 {
            return to.sync_all();
        }
        let err = std::io::Error::last_os_error();
        drop(to);
        let _ = std::fs::remove_file(target);
        Err(err)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (source, target);
        Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
    }
}

/// Copy `source` to the new file `target`, flushed to disk.
fn copy_file(source: &Path, target: &Path) -> Result<()> {
    let mut from = File::open(source).map_err(|e| Error::io(source, e))?;
    let mut to = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(target)
        .map_err(|e| Error::io(target, e))?;
    let result = std::io::copy(&mut from, &mut to).and_then(|_| to.sync_all());
    if let Err(e) = result {
        let _ = std::fs::remove_file(target);
        return Err(Error::io(target, e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_names_hold_no_glob_characters() {
        assert_eq!(
            safe_name(Path::new("/x/run[1]/part*?.parquet")),
            "part__.parquet"
        );
        assert_eq!(safe_name(Path::new("/x/data")), "data.parquet");
    }
}
