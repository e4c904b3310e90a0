//! Every `#[asset]` and `#[asset_check]` option compiles and lands in the asset's specification.
//! (The compile-fail cases are trybuild UI tests in `pluginlake-macros/tests/ui`.)

use std::time::Duration;

use pluginlake::graph::RetryPolicy;
use pluginlake::prelude::*;
use polars::prelude::*;

fn frame() -> DataFrame {
    df!["v" => [1i64]].unwrap()
}

mod upstream {
    use super::*;

    #[asset(key_prefix = "raw")]
    pub(super) fn visits() -> DataFrame {
        frame()
    }
}

#[asset]
fn bare() -> DataFrame {
    frame()
}

#[asset(key_prefix = "omop")]
fn with_prefix() -> DataFrame {
    frame()
}

#[asset(key_prefix = ["omop", "v2"], name = "condition_era")]
fn renamed() -> DataFrame {
    frame()
}

/// Eras per person.
///
/// Built from condition occurrences.
#[asset(
    group = "omop",
    code_version = "3",
    metadata(owner = "data-team", tier = 1, pii = false)
)]
fn documented() -> DataFrame {
    frame()
}

/// Not this text.
#[asset(description = "Explicit description")]
fn described() -> DataFrame {
    frame()
}

#[asset(deps(bare, upstream::visits))]
fn ordered_after() -> DataFrame {
    frame()
}

#[asset(ins(raw = upstream::visits))]
fn mapped(raw: DataFrame) -> DataFrame {
    raw
}

#[asset(retry(max_attempts = 4, backoff_ms = 250))]
fn retried() -> DataFrame {
    frame()
}

#[asset(retry(max_attempts = 2))]
fn retried_without_backoff() -> DataFrame {
    frame()
}

#[asset(mode = "append")]
fn appended() -> DataFrame {
    frame()
}

#[asset(merge_on = ["v"])]
fn merged() -> DataFrame {
    frame()
}

#[asset(schema_mode = "freeze")]
fn frozen() -> DataFrame {
    frame()
}

#[asset(schema_mode = "evolve_drop_missing")]
fn dropping() -> DataFrame {
    frame()
}

#[asset(partitions(column = "v", values = ["1", "2"]))]
fn by_value() -> DataFrame {
    frame()
}

fn dated() -> DataFrame {
    let day = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    DataFrame::new(
        1,
        vec![DateChunked::from_naive_date("v".into(), [day]).into_column()],
    )
    .unwrap()
}

#[asset(partitions(column = "v", monthly = "2024-01"))]
fn by_month() -> DataFrame {
    dated()
}

#[asset(partitions(column = "v", daily = "2024-01-01"))]
fn by_day() -> DataFrame {
    dated()
}

#[asset]
async fn asynchronous(bare: LazyFrame) -> Result<DataFrame> {
    Ok(bare.collect()?)
}

#[asset]
fn context_by_ref(ctx: &AssetContext, bare: DataFrame) -> DataFrame {
    assert_eq!(ctx.key().to_string(), "context_by_ref");
    bare
}

#[asset]
async fn context_by_value(
    bare: Vec<arrow::array::RecordBatch>,
    ctx: pluginlake::graph::AssetContext,
) -> DataFrame {
    assert!(ctx.attempt() >= 1 && !bare.is_empty());
    frame()
}

#[asset]
fn returns_string_error() -> std::result::Result<DataFrame, String> {
    Ok(frame())
}

#[asset]
fn returns_io_error() -> std::io::Result<DataFrame> {
    Ok(frame())
}

#[asset]
pub(crate) fn public_record_batch() -> arrow::array::RecordBatch {
    arrow::array::RecordBatch::try_from_iter([(
        "v",
        std::sync::Arc::new(arrow::array::Int64Array::from(vec![1])) as arrow::array::ArrayRef,
    )])
    .unwrap()
}

#[asset_check(asset = documented)]
fn plain_check(documented: DataFrame) -> bool {
    documented.height() == 1
}

/// Checks the eras.
#[asset_check(asset = renamed, blocking, name = "eras_valid")]
async fn renamed_check(ctx: &AssetContext, eras: LazyFrame) -> Result<CheckResult> {
    let _ = ctx.run_id();
    Ok(CheckResult::from_bool(
        eras.collect()?.height() == 1,
        "one era",
    ))
}

#[asset_check(asset = upstream::visits, description = "Visits exist")]
fn path_check(_visits: DataFrame) -> std::result::Result<CheckResult, String> {
    Ok(CheckResult::pass())
}

fn key(s: &str) -> AssetKey {
    AssetKey::parse(s)
}

#[test]
fn the_key_is_the_prefix_and_the_function_name() {
    assert_eq!(bare::key(), key("bare"));
    assert_eq!(with_prefix::key(), key("omop/with_prefix"));
    assert_eq!(upstream::visits::key(), key("raw/visits"));
}

#[test]
fn a_list_prefix_and_a_name_override_make_the_key() {
    assert_eq!(renamed::key(), key("omop/v2/condition_era"));
    assert_eq!(
        renamed::key().table().unwrap().to_string(),
        "omop.condition_era"
    );
}

#[test]
fn the_doc_comment_is_the_default_description() {
    let spec = documented::definition().spec;
    assert_eq!(
        spec.description.as_deref(),
        Some("Eras per person.\n\nBuilt from condition occurrences.")
    );
    assert_eq!(
        described::definition().spec.description.as_deref(),
        Some("Explicit description")
    );
}

#[test]
fn group_code_version_and_metadata_are_recorded() {
    let spec = documented::definition().spec;
    assert_eq!(spec.group.as_deref(), Some("omop"));
    assert_eq!(spec.code_version.as_deref(), Some("3"));
    let metadata: Vec<(&str, &str)> = spec
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        metadata,
        [("owner", "data-team"), ("pii", "false"), ("tier", "1")]
    );
}

#[test]
fn deps_and_inputs_become_upstreams_with_their_own_prefixes() {
    assert_eq!(
        ordered_after::definition().spec.deps,
        [key("bare"), key("raw/visits")]
    );
    assert_eq!(mapped::definition().spec.deps, [key("raw/visits")]);
    assert_eq!(context_by_ref::definition().spec.deps, [key("bare")]);
    assert_eq!(context_by_value::definition().spec.deps, [key("bare")]);
}

#[test]
fn retry_options_become_the_retry_policy() {
    assert_eq!(
        retried::definition().retry,
        RetryPolicy::new(4, Duration::from_millis(250))
    );
    assert_eq!(
        retried_without_backoff::definition().retry,
        RetryPolicy::new(2, Duration::ZERO)
    );
    assert_eq!(bare::definition().retry, RetryPolicy::none());
}

#[test]
fn write_modes_become_the_assets_write_mode() {
    assert_eq!(appended::definition().write_mode, WriteMode::Append);
    assert_eq!(
        merged::definition().write_mode,
        WriteMode::Merge {
            keys: vec!["v".into()]
        }
    );
    assert_eq!(bare::definition().write_mode, WriteMode::Replace);
}

#[test]
fn schema_mode_options_become_the_assets_schema_mode() {
    use pluginlake::io::SchemaMode;
    assert_eq!(frozen::definition().schema_mode, SchemaMode::Freeze);
    assert_eq!(
        dropping::definition().schema_mode,
        SchemaMode::EvolveDropMissing
    );
    assert_eq!(bare::definition().schema_mode, SchemaMode::Evolve);
}

#[test]
fn partition_options_become_the_assets_partitions() {
    use pluginlake::io::{Partitions, Window};
    assert_eq!(
        by_value::definition().partitions,
        Some(Partitions::values("v", ["1", "2"]))
    );
    assert_eq!(
        by_month::definition().partitions,
        Some(Partitions::time_window("v", Window::Monthly, "2024-01").unwrap())
    );
    assert_eq!(
        by_day::definition().partitions,
        Some(Partitions::time_window("v", Window::Daily, "2024-01-01").unwrap())
    );
    assert_eq!(bare::definition().partitions, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_append_asset_adds_its_rows_on_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(LakeConfig::default().with_root(dir.path().join(".data"))).unwrap();
    let defs = Definitions::new([appended::definition(), merged::definition()]).unwrap();
    for _ in 0..3 {
        let run = defs
            .materialize(&lake, &Selection::all(), &MaterializeOptions::default())
            .await
            .unwrap();
        assert!(run.success(), "{run:#?}");
    }
    let appended: DataFrame = lake.load(appended::key()).unwrap();
    let merged: DataFrame = lake.load(merged::key()).unwrap();
    assert_eq!((appended.height(), merged.height()), (3, 1));
}

#[test]
fn the_function_stays_callable() {
    assert_eq!(mapped(frame()).height(), 1);
    assert!(returns_string_error().is_ok());
    assert_eq!(public_record_batch().num_rows(), 1);
}

#[test]
fn check_options_are_recorded() {
    let c = renamed_check::definition().spec;
    assert_eq!((c.name.as_str(), c.blocking), ("eras_valid", true));
    assert_eq!(c.asset, key("omop/v2/condition_era"));
    assert_eq!(c.description.as_deref(), Some("Checks the eras."));
    let c = plain_check::definition().spec;
    assert_eq!(
        (c.name.as_str(), c.blocking, c.description),
        ("plain_check", false, None)
    );
    let c = path_check::definition().spec;
    assert_eq!(
        (c.asset, c.description.as_deref()),
        (key("raw/visits"), Some("Visits exist"))
    );
}

/// Every asset this file declares (other modules and crates in this binary add their own).
fn declared() -> Vec<AssetKey> {
    vec![
        upstream::visits::key(),
        bare::key(),
        with_prefix::key(),
        renamed::key(),
        documented::key(),
        described::key(),
        ordered_after::key(),
        mapped::key(),
        retried::key(),
        retried_without_backoff::key(),
        appended::key(),
        merged::key(),
        frozen::key(),
        dropping::key(),
        by_value::key(),
        by_month::key(),
        by_day::key(),
        asynchronous::key(),
        context_by_ref::key(),
        context_by_value::key(),
        returns_string_error::key(),
        returns_io_error::key(),
        public_record_batch::key(),
    ]
}

/// The checks this file declares, by the key of the asset they check.
fn declared_checks() -> Vec<(AssetKey, Vec<&'static str>)> {
    vec![
        (documented::key(), vec!["plain_check"]),
        (renamed::key(), vec!["eras_valid"]),
        (upstream::visits::key(), vec!["path_check"]),
    ]
}

#[test]
fn registered_assets_and_checks_are_collected_without_a_list() {
    let defs = Definitions::collect().unwrap();
    for k in declared() {
        assert!(defs.get(&k).is_some(), "{k} not collected");
    }
    for (asset, names) in declared_checks() {
        let checks: Vec<&str> = defs
            .checks(&asset)
            .iter()
            .map(|c| c.spec.name.as_str())
            .collect();
        assert_eq!(checks, names, "checks of {asset}");
    }
}

// polars' `collect` in the async assets needs a multi-threaded runtime.
#[tokio::test(flavor = "multi_thread")]
async fn every_option_materializes() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(LakeConfig::default().with_root(dir.path().join(".data"))).unwrap();
    let selection: Vec<String> = declared().iter().map(ToString::to_string).collect();
    let result = Definitions::collect()
        .unwrap()
        .materialize(
            &lake,
            &selection.join(",").parse().unwrap(),
            &MaterializeOptions::default(),
        )
        .await
        .unwrap();
    assert!(result.success(), "{result:#?}");
    for k in declared() {
        let outcome = result
            .asset(&k)
            .unwrap_or_else(|| panic!("{k} did not run"));
        assert!(outcome.materialization.is_some(), "{k} was not stored");
    }
    for (asset, names) in declared_checks() {
        let ran: Vec<&str> = result
            .asset(&asset)
            .unwrap()
            .checks
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(ran, names, "checks run for {asset}");
    }
}
