//! `#[asset]`s are registered at link time: assets of a second crate (`clinic-vocabulary`), in any
//! of its modules, are collected without a hand-written list.

use crate::common;

use clinic_vocabulary::concept;
use pluginlake::prelude::*;
use polars::prelude::*;

/// A downstream asset in this crate reading an upstream from the other crate.
#[asset(key_prefix = "report")]
fn concept_count(concept: DataFrame) -> DataFrame {
    df!["concepts" => [concept.height() as i64]].unwrap()
}

#[test]
fn assets_of_a_second_crate_are_collected_from_every_module() {
    let defs = Definitions::collect().unwrap();
    let keys: Vec<String> = defs.topological().map(|s| s.key.to_string()).collect();
    for k in [
        "vocab/concept",
        "vocab/concept_ancestor",
        "report/concept_count",
    ] {
        assert!(keys.iter().any(|x| x == k), "{k} missing from {keys:?}");
    }
    assert_eq!(
        defs.get(&AssetKey::parse("vocab/concept"))
            .unwrap()
            .group
            .as_deref(),
        Some("vocabulary")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_graph_spanning_two_crates_materializes() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let result = Definitions::collect()
        .unwrap()
        .materialize(
            &lake,
            &"+report/concept_count".parse().unwrap(),
            &MaterializeOptions::default(),
        )
        .await
        .unwrap();
    assert!(result.success(), "{result:#?}");
    let count: DataFrame = lake.load(["report", "concept_count"]).unwrap();
    assert_eq!(
        count.column("concepts").unwrap().i64().unwrap().get(0),
        Some(clinic_vocabulary::CONCEPTS.len() as i64)
    );
}
