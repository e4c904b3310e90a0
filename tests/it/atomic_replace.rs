//! A materialization replaces a table in one snapshot: concurrent readers see the old rows or the
//! new rows, never an empty or partial table.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use pluginlake::io::{TableData, TableSink};
use pluginlake::{Lake, LoadOptions, TypeHandler, WriteOptions};
use polars::prelude::*;

fn frame(rows: usize, tag: i64) -> DataFrame {
    let ids: Vec<i64> = (0..rows as i64).collect();
    let tags = vec![tag; rows];
    let values: Vec<f64> = (0..rows).map(|i| i as f64 * 0.5).collect();
    df!["id" => ids, "tag" => tags, "value" => values].unwrap()
}

fn readers_see_old_or_new_rows(lake: Lake, sizes: [usize; 2], replacements: usize) {
    lake.store("big", frame(sizes[0], 0)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (lake, stop) = (lake.clone(), stop.clone());
        std::thread::spawn(move || {
            let conn = lake.connection().unwrap();
            let mut counts = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let n: i64 = conn
                    .query_row("SELECT count(*) FROM lake.main.big", [], |r| r.get(0))
                    .unwrap();
                counts.push(n as usize);
            }
            counts
        })
    };
    for i in 1..=replacements {
        let m = lake.store("big", frame(sizes[i % 2], i as i64)).unwrap();
        assert_eq!(m.rows as usize, sizes[i % 2]);
    }
    stop.store(true, Ordering::Relaxed);
    let counts = reader.join().unwrap();
    assert!(
        counts.len() > replacements,
        "the reader read only {} times",
        counts.len()
    );
    let bad: Vec<_> = counts.iter().filter(|c| !sizes.contains(c)).collect();
    assert!(
        bad.is_empty(),
        "readers saw partial tables: {bad:?} (expected {sizes:?})"
    );
}

#[test]
fn readers_never_see_a_partial_table_during_parquet_fast_path_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(common::config_in(dir.path()).with_fast_path_min_bytes(0)).unwrap();
    readers_see_old_or_new_rows(lake, [1_000_000, 1_500_000], 12);
}

#[test]
fn readers_never_see_a_partial_table_during_duckdb_path_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let lake =
        Lake::open(common::config_in(dir.path()).with_fast_path_min_bytes(usize::MAX)).unwrap();
    readers_see_old_or_new_rows(lake, [400_000, 600_000], 8);
}

#[test]
fn each_materialization_commits_exactly_one_snapshot_tagged_with_key_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let before = common::snapshot_count(&lake);
    let run = pluginlake::run::RunId::new();
    let m = lake
        .store_with(
            ["omop", "person"],
            frame(10, 1),
            &pluginlake::WriteOptions::default().with_run_id(run),
        )
        .unwrap();
    let snapshots = lake.snapshots().unwrap();
    assert_eq!(snapshots.len(), before + 1);
    let last = snapshots.last().unwrap();
    assert_eq!(last.snapshot_id, m.snapshot_id);
    assert_eq!(last.author.as_deref(), Some("pluginlake"));
    let info: serde_json::Value =
        serde_json::from_str(last.commit_extra_info.as_deref().unwrap()).unwrap();
    assert_eq!(info["asset"], "omop/person");
    assert_eq!(info["run_id"], run.to_string());
}

#[test]
fn materialization_metadata_reports_rows_columns_bytes_and_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(common::config_in(dir.path()).with_fast_path_min_bytes(0)).unwrap();
    let m = lake.store("meta", frame(100_000, 7)).unwrap();
    assert_eq!(m.rows, 100_000);
    let cols: Vec<(&str, &str)> = m
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.sql_type.as_str()))
        .collect();
    assert_eq!(
        cols,
        [("id", "BIGINT"), ("tag", "BIGINT"), ("value", "DOUBLE")]
    );
    let on_disk: u64 = walk(&lake.data_path().join("main/meta"));
    assert!(
        m.parquet_bytes > 0 && m.parquet_bytes == on_disk,
        "{} vs {on_disk}",
        m.parquet_bytes
    );
    assert!(m.duration.as_nanos() > 0);
    assert!(m.snapshot_id > 0);
}

fn walk(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

/// A frame whose handler records the thread it stores and loads on.
struct ThreadProbe(DataFrame);

static PROBED: Mutex<Vec<std::thread::ThreadId>> = Mutex::new(Vec::new());

impl TypeHandler for ThreadProbe {
    fn store(self, sink: &mut TableSink) -> pluginlake::Result<()> {
        PROBED.lock().unwrap().push(std::thread::current().id());
        sink.put_dataframe(self.0)
    }

    fn load(data: TableData) -> pluginlake::Result<Self> {
        PROBED.lock().unwrap().push(std::thread::current().id());
        Ok(ThreadProbe(data.into_dataframe()?))
    }
}

// A current-thread runtime runs every task on the test's own thread: work done anywhere else
// ran on tokio's blocking pool.
#[tokio::test(flavor = "current_thread")]
async fn async_store_and_load_run_on_the_blocking_pool_not_the_runtime_thread() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let runtime_thread = std::thread::current().id();
    let m = lake
        .store_async(
            "probed",
            ThreadProbe(frame(1000, 1)),
            &WriteOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(m.rows, 1000);
    let back: ThreadProbe = lake
        .load_async("probed", &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(back.0.height(), 1000);
    let probed = PROBED.lock().unwrap().clone();
    assert_eq!(probed.len(), 2, "the handler stored and loaded once each");
    assert!(
        probed.iter().all(|t| *t != runtime_thread),
        "the handler ran on the runtime thread"
    );
}

#[test]
fn concurrent_first_writes_into_one_new_schema_all_commit() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let before = common::snapshot_count(&lake);
    let barrier = Arc::new(std::sync::Barrier::new(6));
    let writers: Vec<_> = (0..6)
        .map(|i| {
            let (lake, barrier) = (lake.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                lake.store(["fresh", &format!("t{i}")], frame(10, i))
                    .map(|m| m.snapshot_id)
            })
        })
        .collect();
    let mut snapshots: Vec<i64> = writers
        .into_iter()
        .map(|w| w.join().unwrap().unwrap())
        .collect();
    snapshots.sort();
    snapshots.dedup();
    assert_eq!(snapshots.len(), 6, "one snapshot per write");
    assert_eq!(common::snapshot_count(&lake) - before, 6);
}

#[test]
fn replacing_with_the_same_or_new_columns_keeps_every_snapshot_readable() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let first = lake.store("t", frame(3, 1)).unwrap(); // created
    let second = lake.store("t", frame(5, 2)).unwrap(); // same columns: emptied and refilled
    let third = lake
        .store_with(
            "t",
            df!["id" => [7i64], "extra" => [true]].unwrap(),
            &pluginlake::WriteOptions::default()
                .with_schema_mode(pluginlake::io::SchemaMode::EvolveDropMissing),
        )
        .unwrap(); // columns added and dropped
    let at = |m: &pluginlake::Materialization| -> DataFrame {
        lake.load_with(
            "t",
            &pluginlake::LoadOptions::default().with_snapshot(m.snapshot_id),
        )
        .unwrap()
    };
    assert_eq!(at(&first).height(), 3);
    assert_eq!(
        at(&first).column("tag").unwrap().i64().unwrap().get(0),
        Some(1)
    );
    assert_eq!(at(&second).height(), 5);
    assert_eq!(
        at(&second).column("tag").unwrap().i64().unwrap().get(0),
        Some(2)
    );
    let latest: DataFrame = lake.load("t").unwrap();
    assert_eq!(latest.get_column_names(), ["id", "extra"]);
    assert_eq!(at(&third), latest);
}

#[test]
fn concurrent_replaces_of_one_table_in_one_process_all_commit() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    lake.store("shared", frame(10, 0)).unwrap();
    let before = common::snapshot_count(&lake);
    let barrier = Arc::new(std::sync::Barrier::new(6));
    let writers: Vec<_> = (1..=6)
        .map(|i| {
            let (lake, barrier) = (lake.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                lake.store("shared", frame(10, i)).map(|m| m.snapshot_id)
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap().unwrap();
    }
    assert_eq!(common::snapshot_count(&lake) - before, 6);
    let last: DataFrame = lake.load("shared").unwrap();
    assert_eq!(last.height(), 10);
}
