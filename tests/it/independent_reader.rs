//! Tables pluginlake writes are ordinary DuckLake tables: a fresh DuckDB with the ducklake
//! extension attached reads them, including time travel.

use crate::common;

use polars::prelude::*;

#[test]
fn a_fresh_duckdb_connection_reads_the_table_and_its_previous_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(dir.path()).with_fast_path_min_bytes(0);
    let (first, second) = {
        let lake = pluginlake::Lake::open(config.clone()).unwrap();
        let a = lake
            .store(
                ["omop", "person"],
                df!["person_id" => [1i64, 2, 3]].unwrap(),
            )
            .unwrap();
        let b = lake
            .store(
                ["omop", "person"],
                df!["person_id" => [10i64, 20, 30, 40]].unwrap(),
            )
            .unwrap();
        (a.snapshot_id, b.snapshot_id)
    }; // the lake is closed here: the catalog file is free for another DuckDB

    let conn = duckdb::Connection::open_in_memory().unwrap();
    conn.execute_batch("LOAD ducklake").unwrap();
    let catalog = dir.path().join(".data/catalog.ducklake");
    conn.execute_batch(&format!(
        "ATTACH 'ducklake:{}' AS other (READ_ONLY)",
        catalog.display()
    ))
    .unwrap();
    let now: (i64, i64) = conn
        .query_row(
            "SELECT count(*), sum(person_id) FROM other.omop.person",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(now, (4, 100));
    let before: (i64, i64) = conn
        .query_row(
            &format!(
                "SELECT count(*), sum(person_id) FROM other.omop.person AT (VERSION => {first})"
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(before, (3, 6));
    let author: String = conn
        .query_row(
            &format!("SELECT author FROM ducklake_snapshots('other') WHERE snapshot_id = {second}"),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(author, "pluginlake");
}

#[test]
fn pluginlake_loads_an_earlier_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let first = lake
        .store("series", df!["x" => [1i32, 2]].unwrap())
        .unwrap();
    lake.store("series", df!["x" => [3i32], "y" => ["new column"]].unwrap())
        .unwrap();
    let old: DataFrame = lake
        .load_with(
            "series",
            &pluginlake::LoadOptions::default().with_snapshot(first.snapshot_id),
        )
        .unwrap();
    assert!(old.equals(&df!["x" => [1i32, 2]].unwrap()), "{old}");
    let new: DataFrame = lake.load("series").unwrap();
    assert_eq!(new.shape(), (1, 2));
}

#[test]
fn loading_a_missing_table_says_which_table() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let err = lake
        .load::<DataFrame>(["omop", "nothing_here"])
        .unwrap_err();
    assert!(
        matches!(err, pluginlake::Error::TableNotFound { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("omop.nothing_here"), "{err}");
}
