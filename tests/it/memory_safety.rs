//! No input and no use of the public API crashes the process: errors instead of segmentation
//! faults. Each test runs its body in a child process, so that a crash fails only that test.

use crate::common;

use std::sync::Arc;

use arrow::array::{
    ArrayRef, DictionaryArray, Int32Builder, MapBuilder, RecordBatch, StringArray, StringBuilder,
};
use arrow::datatypes::Int32Type;
use pluginlake::io::CsvFile;
use pluginlake::{ErrorKind, WriteMode, WriteOptions};

fn merge_on(key: &str) -> WriteOptions {
    WriteOptions::default().with_mode(WriteMode::Merge {
        keys: vec![key.to_owned()],
    })
}

/// One row of every type the round trips cover, plus an enum (an Arrow dictionary, which DuckDB
/// scans as ENUM) and a map, twice: every column is a duplicate key.
fn duplicated_rows() -> RecordBatch {
    let one = crate::roundtrip::all_types_batch(1);
    let mut map = MapBuilder::new(None, StringBuilder::new(), Int32Builder::new());
    map.keys().append_value("k");
    map.values().append_value(1);
    map.append(true).unwrap();
    let extra: Vec<(&str, ArrayRef)> = vec![
        (
            "enum",
            Arc::new(DictionaryArray::<Int32Type>::from_iter(["red"])),
        ),
        ("map", Arc::new(map.finish())),
    ];
    let mut columns: Vec<(String, ArrayRef)> = one
        .schema()
        .fields()
        .iter()
        .zip(one.columns())
        .map(|(f, c)| (f.name().clone(), c.clone()))
        .collect();
    columns.extend(extra.into_iter().map(|(n, c)| (n.to_owned(), c)));
    let one = RecordBatch::try_from_iter(columns).unwrap();
    arrow::compute::concat_batches(&one.schema(), [&one, &one]).unwrap()
}

#[test]
fn a_merge_on_a_duplicate_key_of_any_type_is_a_bad_input_error() {
    common::in_child_process(
        "memory_safety::a_merge_on_a_duplicate_key_of_any_type_is_a_bad_input_error",
        || {
            let dir = tempfile::tempdir().unwrap();
            let lake = common::lake_in(dir.path());
            let rows = duplicated_rows();
            lake.store("keyed", rows.slice(0, 1)).unwrap();
            for field in rows.schema().fields() {
                let err = lake
                    .store_with("keyed", rows.clone(), &merge_on(field.name()))
                    .unwrap_err();
                assert_eq!(err.kind(), ErrorKind::BadInput, "{}: {err}", field.name());
                assert!(
                    err.to_string().contains("appears 2 times"),
                    "{}: {err}",
                    field.name()
                );
            }
        },
    );
}

#[test]
fn a_merge_of_a_csv_file_on_a_duplicate_uuid_key_is_a_bad_input_error() {
    common::in_child_process(
        "memory_safety::a_merge_of_a_csv_file_on_a_duplicate_uuid_key_is_a_bad_input_error",
        || {
            let dir = tempfile::tempdir().unwrap();
            let lake = common::lake_in(dir.path());
            let id = "0191e0d4-8a9b-7c3d-9e2f-123456789abc";
            let csv = dir.path().join("ids.csv");
            std::fs::write(&csv, format!("id,v\n{id},1\n{id},2\n")).unwrap();
            let file = || CsvFile::new(&csv).with_types([("id", "UUID")]);
            lake.store("ids", file()).unwrap();
            let err = lake.store_with("ids", file(), &merge_on("id")).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::BadInput, "{err}");
            assert!(err.to_string().contains(id), "{err}");
        },
    );
}

#[test]
fn a_connection_keeps_the_database_open_after_its_lake_is_dropped() {
    common::in_child_process(
        "memory_safety::a_connection_keeps_the_database_open_after_its_lake_is_dropped",
        || {
            let dir = tempfile::tempdir().unwrap();
            let lake = common::lake_in(dir.path());
            lake.store("kept", crate::roundtrip::all_types_batch(3))
                .unwrap();
            let conn = lake.connection().unwrap();
            drop(lake);
            let clone = conn.try_clone().unwrap();
            drop(conn);
            let rows: i64 = clone
                .query_row("SELECT count(*) FROM lake.main.kept", [], |r| r.get(0))
                .unwrap();
            assert_eq!(rows, 3);
        },
    );
}

#[test]
fn converting_batches_under_a_schema_of_other_types_is_a_bad_input_error() {
    common::in_child_process(
        "memory_safety::converting_batches_under_a_schema_of_other_types_is_a_bad_input_error",
        || {
            use arrow::array::{Int32Array, LargeStringArray};
            use arrow::datatypes::{DataType, Field, Schema};
            let batches = [
                RecordBatch::try_from_iter([(
                    "c",
                    Arc::new(StringArray::from(vec!["a", "bb"])) as ArrayRef,
                )])
                .unwrap(),
                RecordBatch::try_from_iter([(
                    "c",
                    Arc::new(LargeStringArray::from(vec!["a", "bb"])) as ArrayRef,
                )])
                .unwrap(),
                RecordBatch::try_from_iter([(
                    "c",
                    Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef,
                )])
                .unwrap(),
            ];
            let claimed = [DataType::LargeUtf8, DataType::Utf8, DataType::Int64];
            for (batch, claim) in batches.iter().zip(claimed) {
                let schema = Schema::new(vec![Field::new("c", claim.clone(), true)]);
                let result = pluginlake::io::convert::batches_to_dataframe(
                    &schema,
                    std::slice::from_ref(batch),
                );
                let err = result.expect_err(&format!(
                    "{} accepted as {claim}",
                    batch.column(0).data_type()
                ));
                assert_eq!(err.kind(), ErrorKind::BadInput, "{err}");
            }
            let wide = Schema::new(vec![
                Field::new("c", DataType::Utf8, true),
                Field::new("d", DataType::Utf8, true),
            ]);
            let err = pluginlake::io::convert::batches_to_dataframe(&wide, &batches[..1])
                .expect_err("a batch with fewer columns than the schema");
            assert_eq!(err.kind(), ErrorKind::BadInput, "{err}");
        },
    );
}

/// The resident memory of this process in bytes (Linux).
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Resident memory over 10,000 small stores of a 50-column frame through DuckDB's Arrow scan
/// (prints it; the numbers are in BENCHMARKS.md): `cargo test ... -- --ignored rss_over`.
#[test]
#[ignore = "a measurement of a few minutes"]
fn rss_over_10_000_small_stores() {
    common::in_child_process("memory_safety::rss_over_10_000_small_stores", || {
        let dir = tempfile::tempdir().unwrap();
        let lake = pluginlake::Lake::open(
            common::config_in(dir.path()).with_fast_path_min_bytes(usize::MAX),
        )
        .unwrap();
        let columns: Vec<(String, ArrayRef)> = (0..50)
            .map(|i| {
                let column: ArrayRef = Arc::new(arrow::array::Int64Array::from(vec![i as i64]));
                (format!("a_column_with_a_long_name_{i}"), column)
            })
            .collect();
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        for i in 0..=10_000 {
            if i % 2_000 == 0 {
                println!("after {i:>6} stores: RSS {:>6.1} MB", rss() as f64 / 1e6);
            }
            lake.store("small", batch.clone()).unwrap();
        }
    });
}
