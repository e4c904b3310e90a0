//! Schema evolution: new columns are added, widened types promoted, missing columns kept (or
//! dropped when the asset says so), incompatible changes refused before anything is committed,
//! and every earlier snapshot still reads as it was written.

use crate::common;

use pluginlake::io::SchemaMode;
use pluginlake::{Lake, LoadOptions, Materialization, WriteMode, WriteOptions};
use polars::prelude::*;

/// The table's columns and DuckDB types, as `name TYPE`.
fn columns(lake: &Lake, table: &str) -> Vec<String> {
    let conn = lake.connection().unwrap();
    let sql = format!(
        "SELECT column_name || ' ' || column_type FROM (DESCRIBE {}.{table})",
        lake.name().as_str()
    );
    let mut stmt = conn.prepare(&sql).unwrap();
    stmt.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn at(lake: &Lake, table: &str, m: &Materialization) -> DataFrame {
    let df: DataFrame = lake
        .load_with(table, &LoadOptions::default().with_snapshot(m.snapshot_id))
        .unwrap();
    df.sort(["id"], Default::default()).unwrap()
}

fn append() -> WriteOptions {
    WriteOptions::default().with_mode(WriteMode::Append)
}

#[test]
fn a_new_column_is_added_and_older_snapshots_read_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let first = lake
        .store("main/people", df!["id" => [1i64], "name" => ["a"]].unwrap())
        .unwrap();
    lake.store_with(
        "main/people",
        df!["id" => [2i64], "name" => ["b"], "age" => [40i32]].unwrap(),
        &append(),
    )
    .unwrap();
    assert_eq!(
        columns(&lake, "main.people"),
        ["id BIGINT", "name VARCHAR", "age INTEGER"]
    );
    let now: DataFrame = lake.load("main/people").unwrap();
    let now = now.sort(["id"], Default::default()).unwrap();
    assert_eq!(
        now.column("age")
            .unwrap()
            .i32()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        [None, Some(40)]
    );
    assert_eq!(
        at(&lake, "main/people", &first),
        df!["id" => [1i64], "name" => ["a"]].unwrap()
    );
}

#[test]
fn widened_integer_and_float_types_are_promoted() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    lake.store("m", df!["id" => [1i32], "score" => [1.5f32]].unwrap())
        .unwrap();
    lake.store_with(
        "m",
        df!["id" => [5_000_000_000i64], "score" => [0.1f64]].unwrap(),
        &append(),
    )
    .unwrap();
    assert_eq!(columns(&lake, "m"), ["id BIGINT", "score DOUBLE"]);
    let df: DataFrame = lake.load("m").unwrap();
    let df = df.sort(["id"], Default::default()).unwrap();
    assert_eq!(
        df.column("id")
            .unwrap()
            .i64()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        [Some(1), Some(5_000_000_000)]
    );
    assert_eq!(df.column("score").unwrap().f64().unwrap().get(1), Some(0.1));
}

#[test]
fn a_column_missing_from_a_replace_is_kept_and_reads_null() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    lake.store("t", df!["id" => [1i64], "note" => ["x"]].unwrap())
        .unwrap();
    lake.store("t", df!["id" => [2i64]].unwrap()).unwrap();
    assert_eq!(columns(&lake, "t"), ["id BIGINT", "note VARCHAR"]);
    let df: DataFrame = lake.load("t").unwrap();
    assert_eq!(df.height(), 1);
    assert_eq!(df.column("note").unwrap().null_count(), 1);
}

#[test]
fn drop_missing_removes_the_column_but_not_from_older_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let first = lake
        .store("t", df!["id" => [1i64], "note" => ["x"]].unwrap())
        .unwrap();
    let drop = WriteOptions::default().with_schema_mode(SchemaMode::EvolveDropMissing);
    lake.store_with("t", df!["id" => [2i64]].unwrap(), &drop)
        .unwrap();
    assert_eq!(columns(&lake, "t"), ["id BIGINT"]);
    assert_eq!(
        at(&lake, "t", &first),
        df!["id" => [1i64], "note" => ["x"]].unwrap()
    );
}

#[test]
fn an_incompatible_change_names_the_column_and_both_types_and_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    lake.store("t", df!["id" => [1i64], "code" => ["A1"]].unwrap())
        .unwrap();
    let before = common::snapshot_count(&lake);
    for options in [WriteOptions::default(), append()] {
        let err = lake
            .store_with(
                "t",
                df!["id" => [2i64], "code" => [7i32]].unwrap(),
                &options,
            )
            .unwrap_err();
        assert_eq!(err.kind(), pluginlake::ErrorKind::BadInput);
        let msg = err.to_string();
        assert!(
            msg.contains("main.t")
                && msg.contains(
                    "column \"code\" is VARCHAR in the table but INTEGER in the new data"
                ),
            "{msg}"
        );
    }
    assert_eq!(common::snapshot_count(&lake), before);
    let df: DataFrame = lake.load("t").unwrap();
    assert_eq!(df, df!["id" => [1i64], "code" => ["A1"]].unwrap());
}

#[test]
fn a_frozen_schema_refuses_new_and_widened_columns() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let frozen = WriteOptions::default().with_schema_mode(SchemaMode::Freeze);
    lake.store_with("t", df!["id" => [1i32]].unwrap(), &frozen)
        .unwrap();
    let err = lake
        .store_with("t", df!["id" => [1i64], "x" => [true]].unwrap(), &frozen)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("frozen")
            && err.contains("changes column \"id\" from INTEGER to BIGINT")
            && err.contains("adds column \"x\" BOOLEAN"),
        "{err}"
    );
    // The same columns still write.
    lake.store_with("t", df!["id" => [2i32]].unwrap(), &frozen)
        .unwrap();
}

#[test]
fn a_merge_adds_new_columns_too() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    lake.store("t", df!["id" => [1i64, 2], "v" => ["a", "b"]].unwrap())
        .unwrap();
    let merge = WriteOptions::default().with_mode(WriteMode::Merge {
        keys: vec!["id".into()],
    });
    lake.store_with(
        "t",
        df!["id" => [2i64, 3], "v" => ["B", "C"], "flag" => [true, false]].unwrap(),
        &merge,
    )
    .unwrap();
    let df: DataFrame = lake.load("t").unwrap();
    let df = df.sort(["id"], Default::default()).unwrap();
    assert_eq!(
        df,
        df![
            "id" => [1i64, 2, 3],
            "v" => ["a", "B", "C"],
            "flag" => [None, Some(true), Some(false)]
        ]
        .unwrap()
    );
}

#[test]
fn five_snapshots_of_an_evolving_table_each_read_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let t = "main/visits";
    // 1: created.
    let s1 = lake
        .store(t, df!["id" => [1i32], "site" => ["a"]].unwrap())
        .unwrap();
    // 2: a new column.
    let s2 = lake
        .store_with(
            t,
            df!["id" => [2i32], "site" => ["b"], "score" => [0.5f32]].unwrap(),
            &append(),
        )
        .unwrap();
    // 3: id widened to BIGINT.
    let s3 = lake
        .store_with(
            t,
            df!["id" => [3i64], "site" => ["c"], "score" => [1.5f32]].unwrap(),
            &append(),
        )
        .unwrap();
    // 4: score widened to DOUBLE, site missing (kept, NULL).
    let s4 = lake
        .store_with(
            t,
            df!["id" => [4i64], "score" => [2.25f64]].unwrap(),
            &append(),
        )
        .unwrap();
    // 5: replaced, with one more column.
    let s5 = lake
        .store(
            t,
            df!["id" => [5i64], "site" => ["e"], "score" => [3.0f64], "tag" => ["new"]].unwrap(),
        )
        .unwrap();
    let ids = [&s1, &s2, &s3, &s4, &s5].map(|m| m.snapshot_id);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    assert_eq!(
        at(&lake, t, &s1),
        df!["id" => [1i32], "site" => ["a"]].unwrap()
    );
    assert_eq!(
        at(&lake, t, &s2),
        df!["id" => [1i32, 2], "site" => ["a", "b"], "score" => [None, Some(0.5f32)]].unwrap()
    );
    assert_eq!(
        at(&lake, t, &s3),
        df![
            "id" => [1i64, 2, 3],
            "site" => ["a", "b", "c"],
            "score" => [None, Some(0.5f32), Some(1.5)]
        ]
        .unwrap()
    );
    assert_eq!(
        at(&lake, t, &s4),
        df![
            "id" => [1i64, 2, 3, 4],
            "site" => [Some("a"), Some("b"), Some("c"), None],
            "score" => [None, Some(0.5f64), Some(1.5), Some(2.25)]
        ]
        .unwrap()
    );
    assert_eq!(
        at(&lake, t, &s5),
        df!["id" => [5i64], "site" => ["e"], "score" => [3.0f64], "tag" => ["new"]].unwrap()
    );
}

#[test]
fn columns_evolve_on_a_postgres_catalog() {
    let Some(catalog) = common::postgres_catalog("columns_evolve_on_postgres") else {
        return;
    };
    let _drop = common::DropPostgresSchema(catalog.clone());
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(common::config_in(dir.path()).with_catalog(catalog)).unwrap();
    let first = lake
        .store("t", df!["id" => [1i32], "note" => ["x"]].unwrap())
        .unwrap();
    lake.store_with(
        "t",
        df!["id" => [2i64], "flag" => [true]].unwrap(),
        &append(),
    )
    .unwrap();
    assert_eq!(
        columns(&lake, "main.t"),
        ["id BIGINT", "note VARCHAR", "flag BOOLEAN"]
    );
    assert_eq!(
        at(&lake, "t", &first),
        df!["id" => [1i32], "note" => ["x"]].unwrap()
    );
    let err = lake
        .store("t", df!["id" => ["text"]].unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("column \"id\" is BIGINT in the table but VARCHAR"),
        "{err}"
    );
}
