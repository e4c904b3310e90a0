//! Keys differing only in case name one table (DuckDB's identifiers are case-insensitive, even
//! quoted): writes, the graph's duplicate-table check, table locks and run claims all treat
//! them as one table.

use crate::common;

use pluginlake::graph::{AssetSpec, Definitions, GraphError};
use pluginlake::io::{WriteMode, WriteOptions};
use pluginlake::run::{NewRun, RunStore};
use pluginlake::AssetKey;
use polars::prelude::*;

fn rows(n: i64) -> DataFrame {
    df!["n" => (0..n).collect::<Vec<_>>()].unwrap()
}

fn append() -> WriteOptions {
    WriteOptions::default().with_mode(WriteMode::Append)
}

#[test]
fn an_append_to_a_key_differing_only_in_case_appends_to_the_same_table() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    lake.store(["raw", "events"], rows(3)).unwrap();
    lake.store_with(["raw", "Events"], rows(2), &append())
        .unwrap();
    lake.store_with(["RAW", "EVENTS"], rows(1), &append())
        .unwrap();
    let back: DataFrame = lake.load(["raw", "events"]).unwrap();
    assert_eq!(back.height(), 6, "every append went to the one table");
    let back: DataFrame = lake.load(["Raw", "Events"]).unwrap();
    assert_eq!(back.height(), 6);
}

#[test]
fn concurrent_appends_under_both_spellings_take_turns_on_one_table() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    lake.store(["raw", "events"], rows(1)).unwrap();
    std::thread::scope(|s| {
        for key in ["raw/events", "raw/Events", "Raw/EVENTS"] {
            let lake = &lake;
            s.spawn(move || {
                for _ in 0..5 {
                    lake.store_with(AssetKey::parse(key), rows(1), &append())
                        .unwrap();
                }
            });
        }
    });
    let back: DataFrame = lake.load(["raw", "events"]).unwrap();
    assert_eq!(back.height(), 16);
}

#[test]
fn a_graph_with_keys_differing_only_in_case_is_rejected() {
    let err =
        Definitions::new([AssetSpec::new("raw/events"), AssetSpec::new("raw/Events")]).unwrap_err();
    assert!(matches!(&err, GraphError::DuplicateTable { .. }), "{err}");
}

async fn runs_exclude_each_other(store: RunStore) {
    let writing = |key: &str| NewRun {
        assets: vec![AssetKey::parse(key)],
        ..NewRun::new("*")
    };
    let first = store.submit(&writing("raw/Events")).await.unwrap();
    store.submit(&writing("raw/events")).await.unwrap();
    let claimed = store.claim("a", None).await.unwrap().unwrap();
    assert_eq!(claimed.id, first.id);
    assert!(
        store.claim("b", None).await.unwrap().is_none(),
        "raw/events is the table raw/Events, which a started run writes"
    );
}

#[tokio::test]
async fn runs_writing_keys_differing_only_in_case_exclude_each_other_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("runs.sqlite").display());
    runs_exclude_each_other(RunStore::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn runs_writing_keys_differing_only_in_case_exclude_each_other_on_postgres() {
    let Some((url, schema)) = common::postgres_run_store("key_case").await else {
        return;
    };
    runs_exclude_each_other(RunStore::open(&url).await.unwrap()).await;
    schema.drop().await;
}
