//! `#[asset(ingest)]`: a dataset declared as an asset whose function returns its contract. It is
//! registered for the server (`Dataset::registered`) and for the graph (`Definitions::collect`),
//! and downstream assets name it as an upstream like any other asset.

use std::collections::BTreeMap;

use pluginlake::ingest::{Column, Contract, Dataset, Format, Staging};
use pluginlake::prelude::*;
use pluginlake::run::{work_one, RunId, RunState, RunStore, WorkerOptions};
use polars::prelude::*;

use crate::common;

/// Lab results posted by the clinic's devices.
#[asset(ingest(max_attempts = 2), key_prefix = "lab", group = "labs")]
fn lab_results() -> Result<Contract> {
    Contract::new([
        Column::integer("person_id").not_null(),
        Column::float("value"),
    ])
}

/// The number of lab results: reads the dataset's table like any upstream.
#[asset(key_prefix = "lab")]
fn lab_result_count(lab_results: DataFrame) -> DataFrame {
    df!["results" => [lab_results.height() as i64]].unwrap()
}

#[test]
fn an_ingest_asset_is_registered_as_a_dataset_named_after_its_function() {
    let datasets = Dataset::registered().unwrap();
    let labs = datasets.iter().find(|d| d.name() == "lab_results").unwrap();
    assert_eq!(labs.key(), &AssetKey::parse("lab/lab_results"));
    assert_eq!(labs.max_attempts(), 2);
    let columns: Vec<&str> = labs.contract().columns().iter().map(|c| c.name()).collect();
    assert_eq!(columns, ["person_id", "value"]);
}

#[test]
fn an_ingest_asset_is_in_the_graph_with_its_group_description_and_downstream_assets() {
    let defs = Definitions::collect().unwrap();
    let spec = defs.get(&AssetKey::parse("lab/lab_results")).unwrap();
    assert_eq!(spec.group.as_deref(), Some("labs"));
    assert_eq!(
        spec.description.as_deref(),
        Some("Lab results posted by the clinic's devices.")
    );
    assert_eq!(
        spec.metadata.get("ingest").map(String::as_str),
        Some("lab_results")
    );
    let count = defs.get(&AssetKey::parse("lab/lab_result_count")).unwrap();
    assert_eq!(count.deps, [AssetKey::parse("lab/lab_results")]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payload_submitted_to_an_ingest_asset_is_appended_by_its_run() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let store = RunStore::open(&format!(
        "sqlite://{}",
        dir.path().join("runs.sqlite").display()
    ))
    .await
    .unwrap();
    let labs = lab_results::dataset().unwrap();
    let staging = Staging::new(dir.path().join("staging"));
    let defs = Definitions::collect().unwrap();
    let options = WorkerOptions::default();
    for body in [
        r#"[{"person_id": 1, "value": 4.5}, {"person_id": 2, "value": null}]"#,
        r#"{"person_id": 3, "value": 7}"#,
    ] {
        staging
            .submit(
                &store,
                &labs,
                RunId::new(),
                Format::Json,
                body.as_bytes().to_vec(),
                BTreeMap::new(),
            )
            .await
            .unwrap();
        let run = work_one(&store, &lake, &defs, &options)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(run.state, RunState::Success, "{run:?}");
    }
    let stored: DataFrame = lake.load(["lab", "lab_results"]).unwrap();
    let ids: Vec<Option<i64>> = stored
        .sort(["person_id"], Default::default())
        .unwrap()
        .column("person_id")
        .unwrap()
        .i64()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(ids, [Some(1), Some(2), Some(3)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn materializing_an_ingest_asset_without_a_payload_fails_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let result = Definitions::collect()
        .unwrap()
        .materialize(
            &lake,
            &"lab/lab_results".parse().unwrap(),
            &MaterializeOptions::default(),
        )
        .await
        .unwrap();
    assert!(!result.success());
    let message = format!("{result:?}");
    assert!(message.contains("no staged payload"), "{message}");
}
