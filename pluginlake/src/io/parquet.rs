//! The fast write path: Parquet written by polars' parallel writer straight into the data path.

use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::{DataFrame, ParquetCompression, ParquetWriter, StatisticsOptions};

use super::durable;
use crate::error::{Context, Error, Result};
use crate::lake::sql::TableRef;

/// Rows per Parquet row group: DuckDB scans row groups in parallel and prunes them by their
/// min/max statistics, so groups are a few hundred thousand rows (polars' default size).
pub(super) const ROW_GROUP_ROWS: usize = 512 * 512;

/// Write `df` as one zstd-compressed Parquet file with statistics under
/// `<data_path>/<schema>/<table>/`, columns encoded in parallel, and flush it and its folder (and
/// any folder created for it) to disk before it is registered in the catalog.
pub(crate) fn write_file(
    data_path: &Path,
    table: &TableRef,
    df: &mut DataFrame,
) -> Result<PathBuf> {
    let dir = data_path
        .join(table.schema().as_str())
        .join(table.table().as_str());
    durable::create_dir_all(&dir)?;
    let path = dir.join(format!("pluginlake-{}.parquet", uuid::Uuid::now_v7()));
    let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
    let result = ParquetWriter::new(&file)
        .with_compression(ParquetCompression::Zstd(None))
        .with_statistics(StatisticsOptions::default())
        .with_row_group_size(Some(ROW_GROUP_ROWS))
        .set_parallel(true)
        .finish(df)
        .context(|| format!("writing {} for {table}", path.display()))
        .and_then(|_| file.sync_all().map_err(|e| Error::io(&path, e)))
        // The file's name in its folder, flushed before the catalog commit refers to it.
        .and_then(|()| durable::sync_dir(&dir));
    match result {
        Ok(()) => Ok(path),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}
