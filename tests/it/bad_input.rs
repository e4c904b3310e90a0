//! Bad input is a clear error, and no snapshot is committed.

use crate::common;

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, RecordBatch, UnionArray};
use arrow::buffer::ScalarBuffer;
use arrow::datatypes::{DataType as ArrowType, Field, Schema, UnionFields};
use pluginlake::{Error, Lake};
use polars::prelude::*;

fn assert_rejected(
    lake: &Lake,
    result: pluginlake::Result<pluginlake::Materialization>,
    needles: &[&str],
) {
    let before = common::snapshot_count(lake);
    let err = result.expect_err("bad input must be rejected");
    let msg = err.to_string();
    for n in needles {
        assert!(msg.contains(n), "error {msg:?} should mention {n:?}");
    }
    assert_eq!(
        err.kind(),
        pluginlake::ErrorKind::BadInput,
        "{msg} should be bad input"
    );
    assert_eq!(
        common::snapshot_count(lake),
        before,
        "a snapshot was committed"
    );
}

#[test]
fn an_unmappable_key_is_rejected_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let r = lake.store(["omop", "condition-era"], df!["x" => [1]].unwrap());
    assert_rejected(&lake, r, &["omop/condition-era", "'-'"]);
}

#[test]
fn an_empty_frame_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let r = lake.store("nothing", DataFrame::empty());
    assert_rejected(&lake, r, &["main.nothing", "no columns"]);
}

#[test]
fn duplicate_column_names_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let schema = Arc::new(Schema::new(vec![
        Field::new("person_id", ArrowType::Int32, true),
        Field::new("Person_ID", ArrowType::Int32, true),
    ]));
    let col: ArrayRef = Arc::new(Int32Array::from(vec![1, 2]));
    let batch = RecordBatch::try_new(schema, vec![col.clone(), col]).unwrap();
    let r = lake.store("dups", batch);
    assert_rejected(
        &lake,
        r,
        &["main.dups", "duplicate column name", "Person_ID"],
    );
}

#[test]
fn a_column_type_ducklake_cannot_store_is_rejected_naming_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let fields = UnionFields::try_new(
        vec![0, 1],
        vec![
            Field::new("i", ArrowType::Int32, true),
            Field::new("s", ArrowType::Utf8, true),
        ],
    )
    .unwrap();
    let union = UnionArray::try_new(
        fields,
        ScalarBuffer::from(vec![0i8, 0]),
        None,
        vec![
            Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef,
            Arc::new(arrow::array::StringArray::from(vec!["a", "b"])),
        ],
    )
    .unwrap();
    let batch = RecordBatch::try_from_iter([
        ("ok", Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef),
        ("either", Arc::new(union) as ArrayRef),
    ])
    .unwrap();
    let r = lake.store("unions", batch);
    assert_rejected(&lake, r, &["\"either\"", "main.unions", "Union"]);
    assert!(!lake
        .table_exists(&pluginlake::TableRef::parse("unions").unwrap())
        .unwrap());
}

#[test]
fn a_null_typed_column_is_rejected_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let df = DataFrame::new(
        2,
        vec![Column::full_null("nothing".into(), 2, &DataType::Null)],
    )
    .unwrap();
    let r = lake.store("nulls", df);
    assert_rejected(&lake, r, &["\"nothing\"", "cast it"]);
}

#[test]
fn an_empty_vec_of_batches_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let r = lake.store("no_batches", Vec::<RecordBatch>::new());
    assert_rejected(&lake, r, &["no schema"]);
    assert!(matches!(
        lake.store("x y", DataFrame::empty()),
        Err(Error::InvalidKey(_))
    ));
}
