//! `ParquetFiles`: existing Parquet files become a table's data without copying, survive a
//! clean-up of the staging folder, and are refused before anything is registered when their
//! columns do not fit.

use crate::common;

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pluginlake::io::{ParquetFiles, WritePath};
use pluginlake::{Lake, TableRef};
use polars::prelude::*;

/// A Parquet file of `rows` rows (`id`, and an incompressible 32-character `payload`), written by
/// DuckDB.
fn parquet(lake: &Lake, path: &Path, rows: u64, first_id: u64) -> PathBuf {
    let conn = lake.connection().unwrap();
    conn.execute_batch(&format!(
        "COPY (SELECT i AS id, md5(CAST(i AS VARCHAR)) AS payload FROM range({first_id}, {}) t(i)) \
         TO '{}' (FORMAT parquet, COMPRESSION uncompressed)",
        first_id + rows,
        path.display()
    ))
    .unwrap();
    path.to_owned()
}

/// Bytes on disk under `dir`, each inode counted once, leaving out the inodes in `exclude`.
fn disk_bytes(dir: &Path, exclude: &HashSet<u64>) -> u64 {
    fn walk(dir: &Path, seen: &mut HashSet<u64>, exclude: &HashSet<u64>) -> u64 {
        let mut total = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                total += walk(&entry.path(), seen, exclude);
            } else if !exclude.contains(&meta.ino()) && seen.insert(meta.ino()) {
                total += meta.blocks() * 512;
            }
        }
        total
    }
    walk(dir, &mut HashSet::new(), exclude)
}

fn inodes(files: &[PathBuf]) -> HashSet<u64> {
    files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().ino())
        .collect()
}

fn count(lake: &Lake, table: &str) -> i64 {
    lake.connection()
        .unwrap()
        .query_row(
            &format!("SELECT count(*) FROM {}.{table}", lake.name().as_str()),
            [],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn registering_100_mb_of_files_writes_no_data_bytes_into_the_lake() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let staging = dir.path().join("staging");
    std::fs::create_dir(&staging).unwrap();
    // 2 x 1.6M rows of ~33 bytes: ~105 MB.
    let files = vec![
        parquet(&lake, &staging.join("a.parquet"), 1_600_000, 0),
        parquet(&lake, &staging.join("b.parquet"), 1_600_000, 1_600_000),
    ];
    let input: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    assert!(input > 100_000_000, "the files hold {input} bytes");
    let root = dir.path().join(".data");
    let exclude = inodes(&files);
    let before = disk_bytes(&root, &exclude);

    let m = lake.store("raw/events", ParquetFiles::new(&files)).unwrap();

    let grown = disk_bytes(&root, &exclude) - before;
    assert!(
        grown < 1_000_000,
        "registering {input} bytes grew the lake by {grown} bytes"
    );
    assert_eq!(m.path, WritePath::Registered);
    assert_eq!(m.rows, 3_200_000);
    assert_eq!(count(&lake, "raw.events"), 3_200_000);
}

#[test]
fn registration_time_does_not_grow_with_file_size() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let small = parquet(&lake, &dir.path().join("small.parquet"), 30_000, 0);
    let large = parquet(&lake, &dir.path().join("large.parquet"), 3_000_000, 0);
    let time = |file: &PathBuf, table: &str| -> Duration {
        let started = Instant::now();
        lake.store(table, ParquetFiles::new([file])).unwrap();
        started.elapsed()
    };
    // Warm up, then take the best of three of each, interleaved.
    time(&small, "raw/warmup");
    let (mut s, mut l) = (Duration::MAX, Duration::MAX);
    for i in 0..3 {
        s = s.min(time(&small, &format!("raw/small_{i}")));
        l = l.min(time(&large, &format!("raw/large_{i}")));
    }
    // 100x the data; a copy would take ~100x as long.
    assert!(
        l < s * 3 + Duration::from_millis(30),
        "registering 3M rows took {l:?}, 30k rows {s:?}"
    );
}

#[test]
fn deleting_the_staging_folder_leaves_every_registered_file_readable() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let staging = dir.path().join("staging");
    std::fs::create_dir(&staging).unwrap();
    let files = vec![
        parquet(&lake, &staging.join("a.parquet"), 1000, 0),
        parquet(&lake, &staging.join("b.parquet"), 500, 1000),
    ];
    lake.store("raw/events", ParquetFiles::new(&files)).unwrap();
    std::fs::remove_dir_all(&staging).unwrap();
    let df: DataFrame = lake.load("raw/events").unwrap();
    assert_eq!(df.height(), 1500);
    assert_eq!(
        df.column("id").unwrap().i64().unwrap().sum(),
        Some((0..1500i64).sum())
    );
}

#[test]
fn appending_registered_files_keeps_the_earlier_ones() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let a = parquet(&lake, &dir.path().join("a.parquet"), 100, 0);
    let b = parquet(&lake, &dir.path().join("b.parquet"), 50, 100);
    lake.store("raw/events", ParquetFiles::new([&a])).unwrap();
    lake.store_with(
        "raw/events",
        ParquetFiles::new([&b]),
        &pluginlake::WriteOptions::default().with_mode(pluginlake::WriteMode::Append),
    )
    .unwrap();
    assert_eq!(count(&lake, "raw.events"), 150);
}

#[test]
fn files_whose_columns_do_not_fit_the_table_are_refused_before_anything_is_registered() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    lake.store("raw/events", df!["id" => ["not a number"]].unwrap())
        .unwrap();
    let before = common::snapshot_count(&lake);
    let file = parquet(&lake, &dir.path().join("a.parquet"), 10, 0);
    let table_dir = dir.path().join(".data/lakehouse/raw/events");
    let files_before = std::fs::read_dir(&table_dir)
        .map(|d| d.count())
        .unwrap_or(0);
    let err = lake
        .store("raw/events", ParquetFiles::new([&file]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("raw.events")
            && err.contains("column \"id\" is VARCHAR in the table but BIGINT"),
        "{err}"
    );
    assert_eq!(common::snapshot_count(&lake), before);
    let files_after = std::fs::read_dir(&table_dir)
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(
        files_after, files_before,
        "no file was linked into the lake"
    );
}

#[test]
fn files_that_disagree_with_each_other_are_an_error_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let a = parquet(&lake, &dir.path().join("a.parquet"), 10, 0);
    let b = dir.path().join("b.parquet");
    let mut other = df!["id" => [1i64], "extra" => [true]].unwrap();
    ParquetWriter::new(std::fs::File::create(&b).unwrap())
        .finish(&mut other)
        .unwrap();
    let err = lake
        .store("raw/events", ParquetFiles::new([&a, &b]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("a.parquet") && err.contains("b.parquet") && err.contains("extra BOOLEAN"),
        "{err}"
    );
    assert!(!lake
        .table_exists(&TableRef::parse("raw.events").unwrap())
        .unwrap());
}

#[test]
fn a_registered_table_loads_back_as_a_parquet_file_of_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let file = parquet(&lake, &dir.path().join("a.parquet"), 20, 0);
    lake.store("raw/events", ParquetFiles::new([&file]))
        .unwrap();
    let loaded: ParquetFiles = lake.load("raw/events").unwrap();
    let back = ParquetReader::new(std::fs::File::open(&loaded.paths()[0]).unwrap())
        .finish()
        .unwrap();
    assert_eq!(back.height(), 20);
    assert_eq!(back.get_column_names(), ["id", "payload"]);
}
