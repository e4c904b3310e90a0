//! Write modes: replace (the default), append and merge (upsert on key columns), each one
//! DuckLake snapshot; bad input is an error that commits nothing.

use crate::common;

use pluginlake::{Lake, WriteMode, WriteOptions};
use polars::prelude::*;

fn people(ids: &[i64], names: &[&str]) -> DataFrame {
    df!["id" => ids, "name" => names].unwrap()
}

fn sorted(lake: &Lake, table: &str) -> DataFrame {
    let df: DataFrame = lake.load(table).unwrap();
    df.sort(["id"], Default::default()).unwrap()
}

fn with(mode: WriteMode) -> WriteOptions {
    WriteOptions::default().with_mode(mode)
}

fn merge_on(keys: &[&str]) -> WriteOptions {
    with(WriteMode::Merge {
        keys: keys.iter().map(|k| k.to_string()).collect(),
    })
}

#[test]
fn append_creates_the_table_then_adds_rows_one_snapshot_each() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let before = common::snapshot_count(&lake);
    lake.store_with(
        "log",
        people(&[1, 2], &["a", "b"]),
        &with(WriteMode::Append),
    )
    .unwrap();
    let m = lake
        .store_with("log", people(&[3], &["c"]), &with(WriteMode::Append))
        .unwrap();
    assert_eq!(m.rows, 1);
    assert_eq!(common::snapshot_count(&lake) - before, 2);
    assert_eq!(sorted(&lake, "log"), people(&[1, 2, 3], &["a", "b", "c"]));
}

#[test]
fn appending_other_columns_to_a_frozen_schema_is_an_error_that_names_them_and_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    lake.store_with("log", people(&[1], &["a"]), &with(WriteMode::Append))
        .unwrap();
    let before = common::snapshot_count(&lake);
    let other = df!["id" => [2i64], "age" => [40i32]].unwrap();
    let frozen = with(WriteMode::Append).with_schema_mode(pluginlake::io::SchemaMode::Freeze);
    let err = lake.store_with("log", other, &frozen).unwrap_err();
    assert_eq!(err.kind(), pluginlake::ErrorKind::BadInput);
    let msg = err.to_string();
    assert!(
        msg.contains("main.log")
            && msg.contains("adds column \"age\" INTEGER")
            && msg.contains("lacks column \"name\" VARCHAR"),
        "{msg}"
    );
    assert_eq!(common::snapshot_count(&lake), before);
}

#[test]
fn merge_updates_matching_keys_and_inserts_the_others_in_one_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    lake.store("people", people(&[1, 2, 3], &["a", "b", "c"]))
        .unwrap();
    let before = common::snapshot_count(&lake);
    lake.store_with("people", people(&[2, 4], &["B", "d"]), &merge_on(&["id"]))
        .unwrap();
    assert_eq!(common::snapshot_count(&lake) - before, 1);
    assert_eq!(
        sorted(&lake, "people"),
        people(&[1, 2, 3, 4], &["a", "B", "c", "d"])
    );
}

#[test]
fn merge_on_a_composite_key_matches_on_every_part() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let visits =
        |p: &[i64], d: &[i32], n: &[i64]| df!["person" => p, "day" => d, "n" => n].unwrap();
    lake.store("visits", visits(&[1, 1], &[10, 11], &[1, 1]))
        .unwrap();
    lake.store_with(
        "visits",
        visits(&[1, 2], &[11, 10], &[5, 7]),
        &merge_on(&["person", "day"]),
    )
    .unwrap();
    let got: DataFrame = lake.load("visits").unwrap();
    let got = got.sort(["person", "day"], Default::default()).unwrap();
    assert_eq!(got, visits(&[1, 1, 2], &[10, 11, 10], &[1, 5, 7]));
}

#[test]
fn merge_creates_the_table_on_first_write() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    lake.store_with("fresh", people(&[1], &["a"]), &merge_on(&["id"]))
        .unwrap();
    assert_eq!(sorted(&lake, "fresh"), people(&[1], &["a"]));
}

#[test]
fn duplicate_merge_keys_in_the_new_data_are_an_error_that_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    lake.store("people", people(&[1], &["a"])).unwrap();
    let before = common::snapshot_count(&lake);
    let err = lake
        .store_with(
            "people",
            people(&[2, 2, 3], &["x", "y", "z"]),
            &merge_on(&["id"]),
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("id = 2") && err.contains("appears 2 times"),
        "{err}"
    );
    assert_eq!(common::snapshot_count(&lake), before);
    assert_eq!(sorted(&lake, "people"), people(&[1], &["a"]));
}

#[test]
fn a_merge_key_that_is_not_a_column_is_an_error_naming_the_columns() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let err = lake
        .store_with("people", people(&[1], &["a"]), &merge_on(&["person_id"]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"person_id\"") && err.contains("columns: id, name"),
        "{err}"
    );
}

#[test]
fn postgres_merge_upserts_in_one_snapshot() {
    let Some(catalog) = common::postgres_catalog("postgres_merge_upserts_in_one_snapshot") else {
        return;
    };
    let _drop = common::DropPostgresSchema(catalog.clone());
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(common::config_in(dir.path()).with_catalog(catalog)).unwrap();
    lake.store("people", people(&[1, 2], &["a", "b"])).unwrap();
    let before = common::snapshot_count(&lake);
    lake.store_with("people", people(&[2, 3], &["B", "c"]), &merge_on(&["id"]))
        .unwrap();
    assert_eq!(common::snapshot_count(&lake) - before, 1);
    assert_eq!(
        sorted(&lake, "people"),
        people(&[1, 2, 3], &["a", "B", "c"])
    );
}

#[test]
fn a_merge_that_changes_nothing_reports_the_tables_current_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let first = lake.store("ids", df!["id" => [1i64, 2]].unwrap()).unwrap();
    let again = lake
        .store_with("ids", df!["id" => [2i64]].unwrap(), &merge_on(&["id"]))
        .unwrap();
    assert_eq!(again.snapshot_id, first.snapshot_id);
    assert_eq!(sorted(&lake, "ids").height(), 2);
}

#[test]
fn appending_nested_columns_compares_them_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let tags = |id: i64| {
        let list = Series::new("tags".into(), [Series::new("".into(), [id, id + 1])]);
        DataFrame::new(1, vec![Series::new("id".into(), [id]).into(), list.into()]).unwrap()
    };
    lake.store_with("tagged", tags(1), &with(WriteMode::Append))
        .unwrap();
    lake.store_with("tagged", tags(2), &with(WriteMode::Append))
        .unwrap();
    assert_eq!(sorted(&lake, "tagged").height(), 2);
    let other = DataFrame::new(
        1,
        vec![
            Series::new("id".into(), [3i64]).into(),
            Series::new("tags".into(), ["x"]).into(),
        ],
    )
    .unwrap();
    let err = lake
        .store_with("tagged", other, &with(WriteMode::Append))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("column \"tags\" is BIGINT[] in the table but VARCHAR in the new data"),
        "{err}"
    );
}

#[test]
fn a_merge_key_after_other_columns_is_checked_and_matched() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let rows = |names: &[&str], ids: &[i64]| df!["name" => names, "id" => ids].unwrap();
    lake.store_with("people", rows(&["a", "b"], &[1, 2]), &merge_on(&["id"]))
        .unwrap();
    lake.store_with("people", rows(&["B", "c"], &[2, 3]), &merge_on(&["id"]))
        .unwrap();
    let err = lake
        .store_with("people", rows(&["x", "y"], &[4, 4]), &merge_on(&["id"]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("(id = 4) appears 2 times"), "{err}");
    let df = sorted(&lake, "people");
    assert_eq!(df, rows(&["a", "B", "c"], &[1, 2, 3]));
}
