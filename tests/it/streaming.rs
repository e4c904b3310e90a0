//! Streaming loads (`Lake::scan`): batches made as they are read, at one snapshot, with the load
//! options honoured, errors as items, and memory far below the table's size.

use arrow::array::{Array, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::Int64Type;
use pluginlake::io::{LoadOptions, Partitions, WriteMode, WriteOptions};
use pluginlake::{ErrorKind, Lake, LakeConfig};
use std::sync::Arc;

use crate::common;

/// `rows` rows: `id` 0.., `region` north/south alternating, `text` of `width` bytes.
fn batch(first: i64, rows: usize, width: usize) -> RecordBatch {
    let ids: Vec<i64> = (first..first + rows as i64).collect();
    let regions: Vec<&str> = ids
        .iter()
        .map(|i| if i % 2 == 0 { "north" } else { "south" })
        .collect();
    let texts: Vec<String> = ids.iter().map(|i| format!("{i:0>width$}")).collect();
    RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from(ids)) as Arc<dyn Array>),
        ("region", Arc::new(StringArray::from(regions))),
        ("text", Arc::new(StringArray::from(texts))),
    ])
    .unwrap()
}

/// The ids of `batches`, sorted.
fn ids(batches: &[RecordBatch]) -> Vec<i64> {
    let mut ids: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            let column = b.column_by_name("id").unwrap().as_primitive::<Int64Type>();
            column.values().to_vec()
        })
        .collect();
    ids.sort_unstable();
    ids
}

/// Rows as (id, region, text), sorted.
fn rows(batches: &[RecordBatch]) -> Vec<(i64, String, String)> {
    let mut rows: Vec<(i64, String, String)> = batches
        .iter()
        .flat_map(|b| {
            let id = b.column_by_name("id").unwrap().as_primitive::<Int64Type>();
            let region = b.column_by_name("region").unwrap().as_string::<i32>();
            let text = b.column_by_name("text").unwrap().as_string::<i32>();
            (0..b.num_rows())
                .map(|i| {
                    let row = (id.value(i), region.value(i).to_owned());
                    (row.0, row.1, text.value(i).to_owned())
                })
                .collect::<Vec<_>>()
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn a_scan_yields_batches_as_they_are_read_with_the_rows_a_load_returns() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    lake.store("events", batch(0, 50_000, 20)).unwrap();
    let loaded: Vec<RecordBatch> = lake.load("events").unwrap();
    let stream = lake.scan("events", &LoadOptions::default()).unwrap();
    let schema = stream.schema();
    let batches: Vec<RecordBatch> = stream.map(|b| b.unwrap()).collect();
    assert!(batches.len() > 1, "{} batches", batches.len());
    assert!(batches
        .iter()
        .all(|b| b.num_rows() <= 2048 && b.schema() == schema));
    assert_eq!(schema, loaded[0].schema());
    assert_eq!(rows(&batches), rows(&loaded));
}

#[test]
fn a_scan_honours_columns_filter_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    lake.store("events", batch(0, 10_000, 8)).unwrap();
    let scan = |options: LoadOptions| -> Vec<RecordBatch> {
        let stream = lake.scan("events", &options).unwrap();
        stream.map(|b| b.unwrap()).collect()
    };
    let columns = scan(LoadOptions::default().with_columns(["text", "id"]));
    let names: Vec<String> = columns[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["text", "id"]);
    assert_eq!(ids(&columns), (0..10_000).collect::<Vec<_>>());

    let regions = Partitions::values("region", ["north", "south"]);
    let south = scan(LoadOptions::default().with_filter(regions.key_of("south").unwrap()));
    assert_eq!(
        ids(&south),
        (0..10_000).filter(|i| i % 2 == 1).collect::<Vec<_>>()
    );

    let limited = scan(LoadOptions::default().with_limit(7));
    assert_eq!(limited.iter().map(RecordBatch::num_rows).sum::<usize>(), 7);
}

#[test]
fn a_scan_reads_the_snapshot_it_started_at() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let first = lake.store("events", batch(0, 20_000, 8)).unwrap();
    let mut stream = lake.scan("events", &LoadOptions::default()).unwrap();
    assert_eq!(stream.snapshot(), first.snapshot_id);
    let mut batches = vec![stream.next().unwrap().unwrap()];
    // Commits while the stream is read change nothing it returns.
    let append = WriteOptions::default().with_mode(WriteMode::Append);
    lake.store_with("events", batch(20_000, 5_000, 8), &append)
        .unwrap();
    lake.store("events", batch(100_000, 10, 8)).unwrap();
    batches.extend(stream.map(|b| b.unwrap()));
    assert_eq!(ids(&batches), (0..20_000).collect::<Vec<_>>());

    let at_first = lake
        .scan(
            "events",
            &LoadOptions::default().with_snapshot(first.snapshot_id),
        )
        .unwrap();
    assert_eq!(at_first.snapshot(), first.snapshot_id);
    let batches: Vec<RecordBatch> = at_first.map(|b| b.unwrap()).collect();
    assert_eq!(ids(&batches), (0..20_000).collect::<Vec<_>>());
}

#[test]
fn a_stream_outlives_the_lake_handle_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    lake.store("events", batch(0, 5_000, 8)).unwrap();
    let stream = lake.scan("events", &LoadOptions::default()).unwrap();
    drop(lake);
    let batches = std::thread::spawn(move || stream.map(|b| b.unwrap()).collect::<Vec<_>>())
        .join()
        .unwrap();
    assert_eq!(ids(&batches), (0..5_000).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_reads_into_a_channel_for_async_code() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    lake.store("events", batch(0, 30_000, 8)).unwrap();
    let stream = lake
        .scan_async("events", &LoadOptions::default())
        .await
        .unwrap();
    let mut receiver = stream.into_channel(2).unwrap();
    let mut batches = Vec::new();
    while let Some(batch) = receiver.recv().await {
        batches.push(batch.unwrap());
    }
    assert!(batches.len() > 1);
    assert_eq!(ids(&batches), (0..30_000).collect::<Vec<_>>());
}

#[test]
fn a_channel_outside_a_tokio_runtime_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    lake.store("events", batch(0, 10, 8)).unwrap();
    let stream = lake.scan("events", &LoadOptions::default()).unwrap();
    assert!(stream.into_channel(1).is_err());
}

#[test]
fn scanning_a_missing_table_or_column_is_an_error_before_any_batch() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let missing = lake
        .scan("nothing_here", &LoadOptions::default())
        .unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound, "{missing}");
    lake.store("events", batch(0, 10, 8)).unwrap();
    let column = lake
        .scan(
            "events",
            &LoadOptions::default().with_columns(["no_such_column"]),
        )
        .unwrap_err();
    assert_eq!(column.kind(), ErrorKind::BadInput, "{column}");
}

/// The data files of the lake under `dir`.
fn parquet_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn an_error_while_scanning_is_an_err_item_and_ends_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(
        common::config_in(dir.path())
            .with_threads(1)
            .with_fast_path_min_bytes(0),
    )
    .unwrap();
    let append = WriteOptions::default().with_mode(WriteMode::Append);
    for part in 0..4 {
        lake.store_with("events", batch(part * 200_000, 200_000, 64), &append)
            .unwrap();
    }
    assert!(parquet_files(lake.data_path()).len() >= 4);
    let mut stream = lake.scan("events", &LoadOptions::default()).unwrap();
    assert!(stream.next().unwrap().is_ok());
    // The files the stream has yet to read disappear (a disk taken away, say).
    for file in parquet_files(lake.data_path()) {
        std::fs::remove_file(file).unwrap();
    }
    let mut rows = 0;
    let error = loop {
        match stream.next() {
            Some(Ok(b)) => rows += b.num_rows(),
            Some(Err(e)) => break e,
            None => panic!("the stream ended without an error after {rows} more rows"),
        }
    };
    assert!(
        rows < 799_000,
        "{rows} rows read after the files were removed"
    );
    // A file that cannot be read is the environment's fault; the error names the table.
    assert_eq!(error.kind(), ErrorKind::Environment, "{error}");
    assert!(error.to_string().contains("events"), "{error}");
    assert!(stream.next().is_none(), "the stream ends after its error");
}

fn config_for_memory(dir: &std::path::Path) -> LakeConfig {
    common::config_in(dir).with_threads(2)
}

/// The peak resident memory of this process, in bytes (Linux).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// Reset the peak resident memory to the current one (Linux's `clear_refs`); returns it.
fn reset_peak_rss() -> u64 {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    peak_rss()
}

/// Rows and bytes of text of the table the memory test scans: 400 MiB of text.
const MEMORY_ROWS: usize = 2_000_000;
const MEMORY_WIDTH: usize = 200;

/// Run the test `test` in a child process with `PLUGINLAKE_STREAM_LAKE` naming the lake's
/// folder; returns its output.
fn child(test: &str, lake: &std::path::Path) -> String {
    common::child_output(test, &[("PLUGINLAKE_STREAM_LAKE", lake.as_os_str())])
}

/// Scanning a table of 400 MiB of text in a fresh process peaks far below that; loading it (for
/// comparison, in another process) holds all of it.
#[test]
fn scanning_a_table_holds_memory_far_below_its_size() {
    const NAME: &str = "streaming::scanning_a_table_holds_memory_far_below_its_size";
    const LOAD: &str = "streaming::loading_the_memory_test_table";
    if std::env::var("PLUGINLAKE_CHILD_TEST").as_deref() == Ok(NAME) {
        let dir = std::env::var("PLUGINLAKE_STREAM_LAKE").unwrap();
        let lake = Lake::open(config_for_memory(std::path::Path::new(&dir))).unwrap();
        let opened = reset_peak_rss();
        let (mut rows, mut batches) = (0, 0);
        for batch in lake.scan("big", &LoadOptions::default()).unwrap() {
            rows += batch.unwrap().num_rows();
            batches += 1;
        }
        assert_eq!(rows, MEMORY_ROWS);
        let (peak, text) = (peak_rss(), (MEMORY_ROWS * MEMORY_WIDTH) as u64);
        let grown = peak - opened;
        println!(
            "scan of {} MiB of text: {batches} batches, peak RSS {} MiB ({} MiB with the lake \
             open, {} MiB more while scanning)",
            text >> 20,
            peak >> 20,
            opened >> 20,
            grown >> 20
        );
        assert!(
            grown < text / 6,
            "scanning {} MiB of text grew the resident memory by {} MiB",
            text >> 20,
            grown >> 20
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    {
        let lake = Lake::open(config_for_memory(dir.path())).unwrap();
        let append = WriteOptions::default().with_mode(WriteMode::Append);
        for part in 0..10 {
            let rows = MEMORY_ROWS / 10;
            let first = (part * rows) as i64;
            lake.store_with("big", batch(first, rows, MEMORY_WIDTH), &append)
                .unwrap();
        }
    }
    let scan = child(NAME, dir.path());
    let load = child(LOAD, dir.path());
    println!("{scan}\n{load}");
}

/// The comparison of [`scanning_a_table_holds_memory_far_below_its_size`]: a load of the same
/// table, run only as its child.
#[test]
#[ignore = "run by scanning_a_table_holds_memory_far_below_its_size"]
fn loading_the_memory_test_table() {
    let Ok(dir) = std::env::var("PLUGINLAKE_STREAM_LAKE") else {
        return;
    };
    let lake = Lake::open(config_for_memory(std::path::Path::new(&dir))).unwrap();
    let opened = reset_peak_rss();
    let batches: Vec<RecordBatch> = lake.load("big").unwrap();
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, MEMORY_ROWS);
    let peak = peak_rss();
    println!(
        "load: peak RSS {} MiB ({} MiB more than with the lake open)",
        peak >> 20,
        (peak - opened) >> 20
    );
}
