//! The fast write path: Parquet written by polars' streaming engine straight into the data path.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::io::utils::sync_on_close::SyncOnCloseType;
use polars::prelude::{
    DataFrame, Engine, FileWriteFormat, IntoLazy, ParquetCompression, ParquetWriteOptions,
    PlRefPath, SinkDestination, SinkTarget, StatisticsOptions, UnifiedSinkArgs,
};
use polars_parquet::write::ZstdLevel;

use super::durable;
use crate::error::{Context, Error, Result};
use crate::lake::sql::TableRef;

/// Rows per Parquet row group: DuckDB scans row groups in parallel and prunes them by their
/// min/max statistics; DuckDB's own row groups hold 122,880 rows, and so do the streaming sink's
/// by default (measured 8% faster to write than 262,144, see BENCHMARKS.md).
pub(super) const ROW_GROUP_ROWS: usize = 122_880;

/// zstd level 1: measured 18% faster to write than the default level 3, for files 0.7% larger
/// (BENCHMARKS.md); reading is as fast.
const ZSTD_LEVEL: i32 = 1;

/// Write `df` as one zstd-compressed Parquet file with statistics under
/// `<data_path>/<schema>/<table>/`, and flush it and its folder (and any folder created for it)
/// to disk before it is registered in the catalog.
///
/// Written as Python polars' `write_parquet` writes: by the streaming engine's Parquet sink,
/// which encodes and compresses row groups in parallel (polars' eager `ParquetWriter` encodes
/// columns in parallel but compresses every page on the writing thread, see BENCHMARKS.md).
pub(crate) fn write_file(data_path: &Path, table: &TableRef, df: &DataFrame) -> Result<PathBuf> {
    let dir = data_path
        .join(table.schema().as_str())
        .join(table.table().as_str());
    durable::create_dir_all(&dir)?;
    let path = dir.join(format!("pluginlake-{}.parquet", uuid::Uuid::now_v7()));
    let what = || format!("writing {} for {table}", path.display());
    let target = path
        .to_str()
        .map(|p| SinkTarget::Path(PlRefPath::new(p)))
        .ok_or_else(|| Error::Config(format!("path {} is not valid UTF-8", path.display())))?;
    let options = ParquetWriteOptions {
        compression: ParquetCompression::Zstd(Some(
            ZstdLevel::try_new(ZSTD_LEVEL).expect("a valid zstd level"),
        )),
        statistics: StatisticsOptions::default(),
        row_group_size: Some(ROW_GROUP_ROWS),
        data_page_size: None,
        key_value_metadata: None,
        arrow_schema: None,
        compat_level: None,
    };
    let args = UnifiedSinkArgs {
        sync_on_close: SyncOnCloseType::All,
        ..UnifiedSinkArgs::default()
    };
    let result = df
        .clone()
        .lazy()
        .sink(
            SinkDestination::File { target },
            FileWriteFormat::Parquet(Arc::new(options)),
            args,
        )
        .and_then(|lf| lf.collect_with_engine(Engine::Streaming))
        .context(what)
        // The file's name in its folder, flushed before the catalog commit refers to it.
        .and_then(|_| durable::sync_dir(&dir));
    match result {
        Ok(()) => Ok(path),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}
