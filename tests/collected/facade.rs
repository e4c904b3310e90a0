//! `crate = "..."`: a crate that re-exports pluginlake (a facade) can re-export its macros too;
//! assets declared through the facade's path register and materialize like any other.

use pluginlake::prelude::{Definitions, MaterializeOptions};
use polars::prelude::*;

use crate::common;

/// What a facade crate would publish: pluginlake under a path of its own.
pub(crate) mod lakehouse {
    pub(crate) use pluginlake::*;
}

#[lakehouse::asset(crate = "crate::facade::lakehouse", key_prefix = "facade")]
fn numbers() -> DataFrame {
    df!["n" => [1i64, 2, 3]].unwrap()
}

#[lakehouse::asset_check(crate = "crate::facade::lakehouse", asset = numbers)]
fn numbers_are_positive(numbers: DataFrame) -> bool {
    numbers.column("n").unwrap().i64().unwrap().min() > Some(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn assets_declared_through_a_facade_path_register_and_materialize() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let result = Definitions::collect()
        .unwrap()
        .materialize(
            &lake,
            &"facade/numbers".parse().unwrap(),
            &MaterializeOptions::default(),
        )
        .await
        .unwrap();
    assert!(result.success(), "{result:#?}");
    let back: DataFrame = lake.load(["facade", "numbers"]).unwrap();
    assert_eq!(back.column("n").unwrap().i64().unwrap().sum(), Some(6));
}
