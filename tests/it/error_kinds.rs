//! Every error has a kind that says what the caller should do, decided from the error's type
//! (DuckDB's error type, the database's code), through wrapped errors.

use crate::common;

use pluginlake::prelude::*;
use pluginlake::run::{AssetStatus, NewRun, RunStore};
use pluginlake::{Catalog, Error};
use polars::prelude::*;

#[test]
fn reading_a_table_that_does_not_exist_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let err = lake.load::<DataFrame>("nowhere").unwrap_err();
    assert!(matches!(err, Error::TableNotFound { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn reading_a_column_the_table_lacks_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    lake.store("people", df!["id" => [1i64]].unwrap()).unwrap();
    let err = lake
        .load_with::<DataFrame>("people", &LoadOptions::default().with_columns(["nope"]))
        .unwrap_err();
    assert!(matches!(err, Error::DuckDb { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::BadInput, "{err}");
}

#[test]
fn a_catalog_database_that_does_not_answer_is_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1.
    let catalog = Catalog::postgres("host=127.0.0.1 port=1 user=postgres dbname=test");
    let err = Lake::open(common::config_in(dir.path()).with_catalog(catalog)).unwrap_err();
    assert!(matches!(err, Error::DuckDb { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Environment, "{err}");
}

#[tokio::test]
async fn a_run_store_that_does_not_answer_is_the_environment() {
    let err = match RunStore::open("postgres://postgres@127.0.0.1:1/test").await {
        Err(e) => e,
        Ok(_) => panic!("nothing listens on port 1"),
    };
    assert!(matches!(err, Error::RunStore { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Environment, "{err}");
}

#[tokio::test]
async fn a_state_change_the_run_no_longer_allows_is_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("runs.sqlite").display());
    let store = RunStore::open(&url).await.unwrap();
    let run = store.submit(&NewRun::new("*")).await.unwrap();
    store.cancel(run.id, "not needed").await.unwrap();
    let err = store.cancel(run.id, "again").await.unwrap_err();
    assert!(matches!(err, Error::IllegalTransition { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Conflict);
}

#[tokio::test]
async fn a_run_id_the_store_does_not_have_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("runs.sqlite").display());
    let store = RunStore::open(&url).await.unwrap();
    let run = store.submit(&NewRun::new("*")).await.unwrap();
    let other = pluginlake::run::RunId::new();
    assert_ne!(run.id, other);
    let err = store.cancel(other, "no such run").await.unwrap_err();
    assert!(matches!(err, Error::RunNotFound(_)), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

/// Never materialized by the test below.
#[asset(key_prefix = "kinds")]
fn never_stored() -> DataFrame {
    df!["v" => [1i64]].unwrap()
}

/// Reads its upstream, which nothing ever stored.
#[asset(key_prefix = "kinds")]
fn reads_missing(never_stored: DataFrame) -> DataFrame {
    never_stored
}

#[tokio::test(flavor = "multi_thread")]
async fn an_asset_whose_input_is_missing_fails_with_the_kind_of_the_read() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let defs = Definitions::new([never_stored::definition(), reads_missing::definition()]).unwrap();
    let result = defs
        .materialize(
            &lake,
            &"kinds/reads_missing".parse().unwrap(),
            &MaterializeOptions::default(),
        )
        .await
        .unwrap();
    let status = &result.assets[0].status;
    assert!(
        matches!(status, AssetStatus::Failed { kind: ErrorKind::NotFound, error } if error.contains("never_stored")),
        "{status:?}"
    );
}

/// Returns pluginlake's own bad-input error.
#[asset(key_prefix = "kinds")]
fn rejects_its_input() -> Result<DataFrame> {
    Err(Error::Config("threshold must be positive".into()))
}

/// Fails the way asset code fails: with an error of its own.
#[asset(key_prefix = "kinds")]
fn has_a_bug() -> std::result::Result<DataFrame, String> {
    Err("index out of range".into())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_asset_error_is_its_own_kind_or_internal() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let defs =
        Definitions::new([rejects_its_input::definition(), has_a_bug::definition()]).unwrap();
    let result = defs
        .materialize(&lake, &"*".parse().unwrap(), &MaterializeOptions::default())
        .await
        .unwrap();
    let kind = |key: &str| match &result.asset(&AssetKey::parse(key)).unwrap().status {
        AssetStatus::Failed { kind, .. } => *kind,
        other => panic!("{key}: {other:?}"),
    };
    assert_eq!(kind("kinds/rejects_its_input"), ErrorKind::BadInput);
    assert_eq!(kind("kinds/has_a_bug"), ErrorKind::Internal);
}

#[test]
fn kinds_serialize_as_snake_case_names() {
    assert_eq!(
        serde_json::to_string(&ErrorKind::BadInput).unwrap(),
        "\"bad_input\""
    );
    assert_eq!(ErrorKind::NotFound.to_string(), "not_found");
}
