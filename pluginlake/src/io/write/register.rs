//! Registering existing Parquet files as a table's data: their columns, their rows, and their
//! place under the lake's data path.

use std::path::{Path, PathBuf};

use super::describe;
use crate::error::{Context, Error, Result};
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

/// The files as registered, and those pluginlake created (removed if the write fails).
pub(super) struct Linked {
    pub files: Vec<PathBuf>,
    pub created: Vec<PathBuf>,
}

/// Give every file a name under `<data_path>/<schema>/<table>/`: a hard link (no data copied;
/// the original may be deleted later), or a copy when the file is on another file system. Files
/// already under the data path stay where they are.
pub(super) fn link(
    data_path: &Path,
    table: &TableRef,
    write_id: uuid::Uuid,
    files: &[PathBuf],
) -> Result<Linked> {
    let root = data_path
        .canonicalize()
        .map_err(|e| Error::io(data_path, e))?;
    let dir = root
        .join(table.schema().as_str())
        .join(table.table().as_str());
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let mut linked = Linked {
        files: Vec::with_capacity(files.len()),
        created: Vec::new(),
    };
    let result = files.iter().enumerate().try_for_each(|(i, file)| {
        let source = file.canonicalize().map_err(|e| Error::io(file, e))?;
        if source.starts_with(&root) {
            linked.files.push(source);
            return Ok(());
        }
        let name = source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let target = dir.join(format!("registered-{}-{i}-{name}", write_id.simple()));
        if let Err(e) = std::fs::hard_link(&source, &target) {
            tracing::warn!(file = %source.display(), error = %e,
                "cannot hard-link the file under the data path (another file system?); copying it");
            std::fs::copy(&source, &target).map_err(|e| Error::io(&target, e))?;
        }
        linked.created.push(target.clone());
        linked.files.push(target);
        Ok(())
    });
    if let Err(e) = result {
        for f in &linked.created {
            let _ = std::fs::remove_file(f);
        }
        return Err(e);
    }
    Ok(linked)
}
