//! `ParquetFiles`: existing Parquet files become a table's data without copying, survive a
//! clean-up of the staging folder, and are refused before anything is registered when their
//! columns do not fit.

use crate::common;

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

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

#[test]
fn a_path_given_twice_is_refused_and_nothing_is_registered() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let a = parquet(&lake, &dir.path().join("a.parquet"), 100, 0);
    let err = lake
        .store("raw/twice", ParquetFiles::new([&a, &a]))
        .unwrap_err();
    assert_eq!(err.kind(), pluginlake::ErrorKind::BadInput, "{err}");
    assert!(!lake
        .table_exists(&TableRef::parse("raw.twice").unwrap())
        .unwrap());
}

#[test]
fn two_paths_of_one_file_are_refused_and_nothing_is_registered() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let a = parquet(&lake, &dir.path().join("a.parquet"), 100, 0);
    let also_a = dir.path().join("also-a.parquet");
    std::fs::hard_link(&a, &also_a).unwrap();
    let err = lake
        .store("raw/twice", ParquetFiles::new([&a, &also_a]))
        .unwrap_err();
    assert_eq!(err.kind(), pluginlake::ErrorKind::BadInput, "{err}");
    assert!(!lake
        .table_exists(&TableRef::parse("raw.twice").unwrap())
        .unwrap());
}

/// The paths of the data files of `table` (DuckLake's own list).
fn data_files(lake: &Lake, table: &str) -> Vec<PathBuf> {
    let conn = lake.connection().unwrap();
    let mut stmt = conn
        .prepare(&format!(
            "SELECT data_file FROM ducklake_list_files('{}', '{table}', schema => 'raw')",
            lake.name().as_str()
        ))
        .unwrap();
    let files = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|f| PathBuf::from(f.unwrap()))
        .collect();
    files
}

#[test]
fn a_registered_file_is_the_lakes_own_and_read_only_once_committed() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let a = parquet(&lake, &dir.path().join("a.parquet"), 100, 0);
    lake.store("raw/owned", ParquetFiles::new([&a])).unwrap();
    let files = data_files(&lake, "owned");
    assert_eq!(files.len(), 1);
    assert!(
        files[0].starts_with(lake.data_path().join("raw").join("owned")),
        "{files:?}"
    );
    let mode = std::fs::metadata(&files[0]).unwrap().mode();
    assert_eq!(mode & 0o222, 0, "the lake's file is writable: {mode:o}");
}

#[test]
fn with_copy_the_original_stays_the_users_to_change() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let a = parquet(&lake, &dir.path().join("a.parquet"), 100, 0);
    lake.store("raw/copied", ParquetFiles::new([&a]).with_copy(true))
        .unwrap();
    assert_ne!(
        std::fs::metadata(&a).unwrap().ino(),
        std::fs::metadata(&data_files(&lake, "copied")[0])
            .unwrap()
            .ino()
    );
    // Rewritten in place (not replaced by a new file): the table keeps its rows.
    let other = parquet(&lake, &dir.path().join("other.parquet"), 7, 1000);
    std::fs::write(&a, std::fs::read(&other).unwrap()).unwrap();
    assert_eq!(count(&lake, "raw.copied"), 100);
    assert!(std::fs::metadata(&a).unwrap().mode() & 0o200 != 0);
}

#[test]
fn a_file_already_under_the_data_path_is_never_shared_by_two_tables() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let inside = lake.data_path().join("incoming.parquet");
    parquet(&lake, &inside, 100, 0);
    lake.store("raw/first", ParquetFiles::new([&inside]))
        .unwrap();
    lake.store("raw/second", ParquetFiles::new([&inside]))
        .unwrap();
    let (first, second) = (data_files(&lake, "first"), data_files(&lake, "second"));
    assert_ne!(first, second);
    assert!(!first.contains(&inside) && !second.contains(&inside));
    // Dropping the first table and cleaning up its files leaves the second whole.
    let conn = lake.connection().unwrap();
    conn.execute_batch(&format!(
        "DROP TABLE {0}.raw.first;          CALL ducklake_expire_snapshots('{0}', older_than => now());          CALL ducklake_cleanup_old_files('{0}', cleanup_all => true);",
        lake.name().as_str()
    ))
    .unwrap();
    assert!(!first[0].exists(), "the first table's file was cleaned up");
    assert_eq!(count(&lake, "raw.second"), 100);
}

/// `file` with `len` bytes in its middle overwritten (data pages; the footer stays intact).
fn corrupt_the_middle(file: &Path, len: usize) {
    let mut bytes = std::fs::read(file).unwrap();
    let middle = bytes.len() / 2;
    for b in &mut bytes[middle..middle + len] {
        *b = 0xA5;
    }
    std::fs::write(file, bytes).unwrap();
}

#[test]
fn a_file_whose_data_pages_do_not_read_is_refused_and_the_table_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let good = parquet(&lake, &dir.path().join("good.parquet"), 1000, 0);
    lake.store("raw/events", ParquetFiles::new([&good]))
        .unwrap();
    let bad = dir.path().join("bad.parquet");
    lake.connection()
        .unwrap()
        .execute_batch(&format!(
            "COPY (SELECT i AS id, md5(CAST(i AS VARCHAR)) AS payload FROM range(100000) t(i)) \
             TO '{}' (FORMAT parquet, COMPRESSION zstd)",
            bad.display()
        ))
        .unwrap();
    corrupt_the_middle(&bad, 4096);
    let before = common::snapshot_count(&lake);
    let err = lake
        .store_with(
            "raw/events",
            ParquetFiles::new([&bad]),
            &pluginlake::WriteOptions::default().with_mode(pluginlake::WriteMode::Append),
        )
        .unwrap_err();
    assert_eq!(err.kind(), pluginlake::ErrorKind::BadInput, "{err}");
    assert_eq!(common::snapshot_count(&lake), before);
    assert_eq!(count(&lake, "raw.events"), 1000);
    let df: DataFrame = lake.load("raw/events").unwrap();
    assert_eq!(df.height(), 1000);
}

/// What checking every data page costs: prints MB/s (`cargo test ... -- --ignored --nocapture
/// verification_throughput`); the numbers are in BENCHMARKS.md.
#[test]
#[ignore = "a measurement, not a check"]
fn verification_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    // ~1 GB: 30M rows of an id and a 32-character payload, uncompressed.
    let files: Vec<PathBuf> = (0..4)
        .map(|i| {
            parquet(
                &lake,
                &dir.path().join(format!("big-{i}.parquet")),
                7_500_000,
                i * 7_500_000,
            )
        })
        .collect();
    let bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    let small = parquet(&lake, &dir.path().join("small.parquet"), 1000, 0);
    lake.store("raw/warmup", ParquetFiles::new([&small]))
        .unwrap();
    let started = Instant::now();
    lake.store("raw/big", ParquetFiles::new(&files)).unwrap();
    let took = started.elapsed();
    println!(
        "registered {:.2} GB in {took:?}: {:.0} MB/s",
        bytes as f64 / 1e9,
        bytes as f64 / 1e6 / took.as_secs_f64()
    );
}
