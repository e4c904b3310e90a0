//! The IO manager's bulk operations, each against the full-table replace of the same data in the
//! same run (the floor: what a tool without merges, partitions or registration would do):
//!
//! - merge of 1M changed rows into a 10M-row table, vs replacing the 10M-row table;
//! - replace of one partition (1/30) of a 30M-row table, vs replacing the 30M-row table;
//! - registration of 1 GB of Parquet files, vs registration of 10 MB (zero-copy: the same time).
//!
//! `cargo bench --bench io_breadth` (about 10 minutes on 2 cores; needs ~3 GB of disk).
//! `IO_BREADTH_SCALE=0.1` runs it on a tenth of the rows.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode};
use pluginlake::io::{ParquetFiles, Partitions};
use pluginlake::{Lake, LakeConfig, WriteMode, WriteOptions};
use polars::prelude::*;

const PARTITIONS: usize = 30;

fn scale(rows: usize) -> usize {
    let s: f64 = std::env::var("IO_BREADTH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    (rows as f64 * s) as usize
}

/// `rows` rows with ids from `first`, in partition `part` (or spread over all partitions when
/// `None`), values tagged by `tag`.
fn frame(first: usize, rows: usize, part: Option<usize>, tag: i64) -> DataFrame {
    let ids: Vec<i64> = (first as i64..(first + rows) as i64).collect();
    let parts: Vec<String> = ids
        .iter()
        .map(|i| format!("p{:02}", part.unwrap_or(*i as usize % PARTITIONS)))
        .collect();
    let values: Vec<f64> = ids.iter().map(|i| (*i as f64) * 0.5 + tag as f64).collect();
    let tags = vec![tag; rows];
    df!["id" => ids, "part" => parts, "value" => values, "tag" => tags].unwrap()
}

fn lake(dir: &Path) -> Lake {
    Lake::open(LakeConfig::default().with_root(dir.join(".data"))).unwrap()
}

fn configure<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(1));
    group
}

fn merge(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let (table_rows, changed) = (scale(10_000_000), scale(1_000_000));
    lake.store("bench/merged", frame(0, table_rows, None, 0))
        .unwrap();
    let merge_on = WriteOptions::default().with_mode(WriteMode::Merge {
        keys: vec!["id".into()],
    });
    let mut group = configure(c, "merge_1m_into_10m");
    let mut tag = 0;
    group.bench_function("merge_1m_changed_rows", |b| {
        b.iter_batched(
            || {
                tag += 1;
                // Every 10th row changes, spread over the table.
                let rows = frame(0, table_rows, None, tag);
                let step = table_rows / changed;
                let idx: Vec<IdxSize> = (0..changed).map(|i| (i * step) as IdxSize).collect();
                rows.take(&IdxCa::from_vec("".into(), idx)).unwrap()
            },
            |rows| lake.store_with("bench/merged", rows, &merge_on).unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("floor_replace_10m_rows", |b| {
        b.iter_batched(
            || frame(0, table_rows, None, 1),
            |rows| lake.store("bench/replaced", rows).unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn partition(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let per_part = scale(1_000_000);
    let parts: Vec<String> = (0..PARTITIONS).map(|p| format!("p{p:02}")).collect();
    let partitions = Partitions::values("part", &parts);
    for (p, key) in parts.iter().enumerate() {
        let options = WriteOptions::default()
            .with_partitions(partitions.clone())
            .with_partition(key);
        lake.store_with(
            "bench/parted",
            frame(p * per_part, per_part, Some(p), 0),
            &options,
        )
        .unwrap();
    }
    let mut group = configure(c, "partition_replace_1_of_30");
    let mut tag = 0;
    group.bench_function("replace_one_partition_of_30", |b| {
        let options = WriteOptions::default()
            .with_partitions(partitions.clone())
            .with_partition("p15");
        b.iter_batched(
            || {
                tag += 1;
                frame(15 * per_part, per_part, Some(15), tag)
            },
            |rows| lake.store_with("bench/parted", rows, &options).unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("floor_replace_whole_table", |b| {
        b.iter_batched(
            || frame(0, per_part * PARTITIONS, None, 1),
            |rows| lake.store("bench/whole", rows).unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// Parquet files of about `bytes` bytes in total (4 files), written by DuckDB.
fn parquet_files(lake: &Lake, dir: &Path, name: &str, bytes: usize) -> Vec<PathBuf> {
    let rows_per_file = bytes / 4 / 41;
    let conn = lake.connection().unwrap();
    (0..4)
        .map(|f| {
            let path = dir.join(format!("{name}-{f}.parquet"));
            conn.execute_batch(&format!(
                "COPY (SELECT i AS id, md5(CAST(i AS VARCHAR)) AS payload FROM range({}, {}) t(i)) \
                 TO '{}' (FORMAT parquet, COMPRESSION uncompressed)",
                f * rows_per_file,
                (f + 1) * rows_per_file,
                path.display()
            ))
            .unwrap();
            path
        })
        .collect()
}

fn register(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let large = parquet_files(&lake, dir.path(), "large", scale(1_000_000_000));
    let small = parquet_files(&lake, dir.path(), "small", scale(10_000_000));
    let mut group = configure(c, "register_parquet");
    let mut n = 0;
    for (name, files) in [("register_1gb", &large), ("floor_register_10mb", &small)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                n += 1;
                lake.store(format!("bench/r{n}").as_str(), ParquetFiles::new(files))
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, merge, partition, register);
criterion_main!(benches);
