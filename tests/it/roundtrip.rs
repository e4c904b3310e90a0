//! Round trips of every common type through DuckLake, for DataFrame and RecordBatch, through each
//! write path (inlined in the catalog, written by DuckDB, the Parquet fast path) and on the
//! DuckDB-file and PostgreSQL catalogs.

use crate::common;

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array,
    Int16Array, Int32Array, Int64Array, Int8Array, ListArray, RecordBatch, StringArray,
    StructArray, TimestampMicrosecondArray, TimestampNanosecondArray, UInt16Array, UInt32Array,
    UInt64Array, UInt8Array,
};
use arrow::datatypes::{DataType as ArrowType, Field as ArrowField, Int64Type};
use pluginlake::io::WritePath;
use pluginlake::{Catalog, Lake, LakeConfig};
use polars::prelude::*;

/// Every `k`-th row of a column is null, with `k` differing per column.
fn some<T>(i: usize, k: usize, v: T) -> Option<T> {
    (i % k != k - 1).then_some(v)
}

/// The same columns as a polars DataFrame (polars types: String, Date, Datetime with and without
/// time zone, Decimal, List, Struct, ...).
pub(crate) fn all_types_frame(n: usize) -> DataFrame {
    let batch = all_types_batch(n);
    pluginlake::io::convert::batches_to_dataframe(&batch.schema(), &[batch]).unwrap()
}

/// One column of each common type, `n` rows, some of them null.
pub(crate) fn all_types_batch(n: usize) -> RecordBatch {
    let idx: Vec<usize> = (0..n).collect();
    let list = ListArray::from_iter_primitive::<Int64Type, _, _>(idx.iter().map(|&i| {
        some(
            i,
            4,
            (0..(i % 4) as i64)
                .map(|x| some(x as usize, 3, x))
                .collect::<Vec<_>>(),
        )
    }));
    let strukt = StructArray::try_new(
        vec![
            ArrowField::new("a", ArrowType::Int32, true),
            ArrowField::new("b", ArrowType::Utf8, true),
        ]
        .into(),
        vec![
            Arc::new(Int32Array::from_iter(
                idx.iter().map(|&i| some(i, 3, i as i32)),
            )) as ArrayRef,
            Arc::new(StringArray::from_iter(
                idx.iter().map(|&i| some(i, 4, format!("b{i}"))),
            )),
        ],
        Some(idx.iter().map(|&i| i % 7 != 6).collect()),
    )
    .unwrap();
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "i8",
            Arc::new(Int8Array::from_iter(
                idx.iter().map(|&i| some(i, 3, (i % 128) as i8)),
            )),
        ),
        (
            "i16",
            Arc::new(Int16Array::from_iter(
                idx.iter().map(|&i| some(i, 4, -(i as i16))),
            )),
        ),
        (
            "i32",
            Arc::new(Int32Array::from_iter(
                idx.iter().map(|&i| some(i, 5, i as i32)),
            )),
        ),
        (
            "i64",
            Arc::new(Int64Array::from_iter(
                idx.iter().map(|&i| some(i, 6, i as i64 * 1_000_000_007)),
            )),
        ),
        (
            "u8",
            Arc::new(UInt8Array::from_iter(
                idx.iter().map(|&i| some(i, 3, (i % 256) as u8)),
            )),
        ),
        (
            "u16",
            Arc::new(UInt16Array::from_iter(
                idx.iter().map(|&i| some(i, 4, i as u16)),
            )),
        ),
        (
            "u32",
            Arc::new(UInt32Array::from_iter(
                idx.iter().map(|&i| some(i, 5, i as u32)),
            )),
        ),
        (
            "u64",
            Arc::new(UInt64Array::from_iter(
                idx.iter().map(|&i| some(i, 6, u64::MAX - i as u64)),
            )),
        ),
        (
            "f32",
            Arc::new(Float32Array::from_iter(
                idx.iter().map(|&i| some(i, 3, i as f32 / 3.0)),
            )),
        ),
        (
            "f64",
            Arc::new(Float64Array::from_iter(
                idx.iter().map(|&i| some(i, 4, i as f64 * -1e-3)),
            )),
        ),
        (
            "bool",
            Arc::new(BooleanArray::from_iter(
                idx.iter().map(|&i| some(i, 3, i % 2 == 0)),
            )),
        ),
        (
            "utf8",
            Arc::new(StringArray::from_iter(idx.iter().map(|&i| {
                some(
                    i,
                    4,
                    ["", "ß∂ƒ 😀", "x", "a string longer than twelve bytes"][i % 4],
                )
            }))),
        ),
        (
            "date",
            Arc::new(Date32Array::from_iter(
                idx.iter().map(|&i| some(i, 5, 18_000 + i as i32)),
            )),
        ),
        (
            "ts",
            Arc::new(TimestampMicrosecondArray::from_iter(
                idx.iter()
                    .map(|&i| some(i, 3, 1_600_000_000_000_000 + i as i64)),
            )),
        ),
        (
            "ts_ns",
            Arc::new(TimestampNanosecondArray::from_iter(
                idx.iter()
                    .map(|&i| some(i, 4, 1_600_000_000_000_000_123 + i as i64)),
            )),
        ),
        (
            "ts_tz",
            Arc::new(
                TimestampMicrosecondArray::from_iter(
                    idx.iter()
                        .map(|&i| some(i, 5, 1_700_000_000_000_000 - i as i64)),
                )
                .with_timezone("UTC"),
            ),
        ),
        (
            "decimal",
            Arc::new(
                Decimal128Array::from_iter(
                    idx.iter().map(|&i| some(i, 3, i as i128 * 1_250 - 100_500)),
                )
                .with_precision_and_scale(18, 3)
                .unwrap(),
            ),
        ),
        ("list", Arc::new(list)),
        ("struct", Arc::new(strukt)),
    ];
    RecordBatch::try_from_iter(columns).unwrap()
}

/// Loaded columns may differ from the originals in names of nested fields and in nullability
/// flags; values and types must match.
fn assert_batches_equal(expected: &RecordBatch, actual: &RecordBatch) {
    assert_eq!(expected.num_rows(), actual.num_rows());
    assert_eq!(expected.num_columns(), actual.num_columns());
    for (i, field) in expected.schema().fields().iter().enumerate() {
        let got = actual.column(i);
        assert_eq!(actual.schema().field(i).name(), field.name());
        let got = arrow::compute::cast(got, field.data_type()).unwrap_or_else(|e| {
            panic!(
                "column {}: {} -> {}: {e}",
                field.name(),
                got.data_type(),
                field.data_type()
            )
        });
        assert_eq!(
            expected.column(i).to_data(),
            got.to_data(),
            "column {} differs",
            field.name()
        );
    }
}

fn check_dataframe(config: LakeConfig, rows: usize, expect: WritePath) {
    let lake = Lake::open(config).unwrap();
    let df = all_types_frame(rows);
    let m = lake.store(["rt", "frame"], df.clone()).unwrap();
    assert_eq!(m.path, expect);
    assert_eq!(m.rows, rows as u64);
    let back: DataFrame = lake.load(["rt", "frame"]).unwrap();
    assert_eq!(back.schema(), df.schema(), "schema after the round trip");
    assert!(back.equals_missing(&df), "values differ:\n{back}\n{df}");
}

fn check_record_batch(config: LakeConfig, rows: usize, expect: WritePath) {
    let lake = Lake::open(config).unwrap();
    let batch = all_types_batch(rows);
    let m = lake.store(["rt", "batch"], batch.clone()).unwrap();
    assert_eq!(m.path, expect);
    let back: RecordBatch = lake.load(["rt", "batch"]).unwrap();
    assert_batches_equal(&batch, &back);
    let chunks: Vec<RecordBatch> = lake.load(["rt", "batch"]).unwrap();
    assert_eq!(
        chunks.iter().map(RecordBatch::num_rows).sum::<usize>(),
        rows
    );
}

const INLINED: usize = 5;
const SMALL: usize = 3_000;

fn duckdb_only(config: LakeConfig) -> LakeConfig {
    config.with_fast_path_min_bytes(usize::MAX)
}

fn parquet_always(config: LakeConfig) -> LakeConfig {
    config.with_fast_path_min_bytes(0)
}

macro_rules! round_trips {
    ($($name:ident: $check:ident, $catalog:expr, $tweak:ident, $rows:expr, $path:expr;)*) => {$(
        #[test]
        fn $name() {
            let dir = tempfile::tempdir().unwrap();
            let Some(catalog) = $catalog(stringify!($name)) else { return };
            let _cleanup = common::DropPostgresSchema(catalog.clone());
            let config = $tweak(common::config_in(dir.path()).with_catalog(catalog));
            $check(config, $rows, $path);
        }
    )*};
}

fn duckdb_file(_: &str) -> Option<Catalog> {
    Some(Catalog::default())
}

fn sqlite_file(_: &str) -> Option<Catalog> {
    Some(Catalog::Sqlite { path: None })
}

round_trips! {
    dataframe_round_trips_every_common_type_inlined_in_the_catalog: check_dataframe, duckdb_file, duckdb_only, INLINED, WritePath::DuckDb;
    dataframe_round_trips_every_common_type_through_duckdb: check_dataframe, duckdb_file, duckdb_only, SMALL, WritePath::DuckDb;
    dataframe_round_trips_every_common_type_through_the_parquet_fast_path: check_dataframe, duckdb_file, parquet_always, SMALL, WritePath::Parquet;
    record_batch_round_trips_every_common_type_inlined_in_the_catalog: check_record_batch, duckdb_file, duckdb_only, INLINED, WritePath::DuckDb;
    record_batch_round_trips_every_common_type_through_duckdb: check_record_batch, duckdb_file, duckdb_only, SMALL, WritePath::DuckDb;
    record_batch_round_trips_every_common_type_through_the_parquet_fast_path: check_record_batch, duckdb_file, parquet_always, SMALL, WritePath::Parquet;
    sqlite_dataframe_round_trips_every_common_type_through_the_parquet_fast_path: check_dataframe, sqlite_file, parquet_always, SMALL, WritePath::Parquet;
    sqlite_record_batch_round_trips_every_common_type_through_duckdb: check_record_batch, sqlite_file, duckdb_only, SMALL, WritePath::DuckDb;
    postgres_dataframe_round_trips_every_common_type_inlined_in_the_catalog: check_dataframe, common::postgres_catalog, duckdb_only, INLINED, WritePath::DuckDb;
    postgres_dataframe_round_trips_every_common_type_through_duckdb: check_dataframe, common::postgres_catalog, duckdb_only, SMALL, WritePath::DuckDb;
    postgres_dataframe_round_trips_every_common_type_through_the_parquet_fast_path: check_dataframe, common::postgres_catalog, parquet_always, SMALL, WritePath::Parquet;
    postgres_record_batch_round_trips_every_common_type_inlined_in_the_catalog: check_record_batch, common::postgres_catalog, duckdb_only, INLINED, WritePath::DuckDb;
    postgres_record_batch_round_trips_every_common_type_through_duckdb: check_record_batch, common::postgres_catalog, duckdb_only, SMALL, WritePath::DuckDb;
    postgres_record_batch_round_trips_every_common_type_through_the_parquet_fast_path: check_record_batch, common::postgres_catalog, parquet_always, SMALL, WritePath::Parquet;
}

#[test]
fn loading_chosen_columns_returns_only_those_in_that_order() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    lake.store("cols", all_types_frame(50)).unwrap();
    let df: DataFrame = lake
        .load_with(
            "cols",
            &pluginlake::LoadOptions::default().with_columns(["utf8", "i64"]),
        )
        .unwrap();
    let names: Vec<&str> = df.get_column_names().iter().map(|s| s.as_str()).collect();
    assert_eq!(names, ["utf8", "i64"]);
    assert_eq!(df.height(), 50);
}

#[test]
fn a_limited_load_returns_at_most_that_many_rows() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    lake.store("limited", all_types_frame(500)).unwrap();
    let df: DataFrame = lake
        .load_with("limited", &pluginlake::LoadOptions::default().with_limit(7))
        .unwrap();
    assert_eq!(df.height(), 7);
    assert_eq!(df.width(), all_types_frame(1).width());
}

#[test]
fn a_frame_with_columns_but_no_rows_creates_an_empty_table() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let empty = all_types_frame(10).head(Some(0));
    let m = lake.store("empty_rows", empty.clone()).unwrap();
    assert_eq!(m.rows, 0);
    let back: DataFrame = lake.load("empty_rows").unwrap();
    assert_eq!(back.schema(), empty.schema());
    assert_eq!(back.height(), 0);
}

#[test]
fn a_polars_load_does_not_change_how_other_readers_see_strings() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    lake.store("strings", all_types_frame(10)).unwrap();
    let _: DataFrame = lake.load("strings").unwrap(); // asks DuckDB for string views
    let batches: Vec<RecordBatch> = lake.load("strings").unwrap();
    let utf8 = batches[0]
        .schema()
        .field_with_name("utf8")
        .unwrap()
        .data_type()
        .clone();
    assert_eq!(utf8, ArrowType::Utf8);
    // duckdb-rs rows cannot read string views: this read would panic if the setting leaked.
    assert!(!lake.snapshots().unwrap().is_empty());
}
