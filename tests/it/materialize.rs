//! Materializing a graph of `#[asset]`s: order, concurrency, failure isolation, retries, checks,
//! selection, and what lands in DuckLake.

use crate::common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pluginlake::graph::{AssetDef, CheckDef};
use pluginlake::prelude::*;
use pluginlake::run::{AssetStatus, RunEvent};
use polars::prelude::*;

fn one(name: &str, v: i64) -> DataFrame {
    df![name => [v]].unwrap()
}

fn value(df: &DataFrame) -> i64 {
    df.column("v").unwrap().i64().unwrap().get(0).unwrap()
}

fn defs(
    assets: impl IntoIterator<Item = AssetDef>,
    checks: impl IntoIterator<Item = CheckDef>,
) -> Definitions {
    Definitions::new(assets)
        .unwrap()
        .with_checks(checks)
        .unwrap()
}

fn recorder() -> (MaterializeOptions, Arc<Mutex<Vec<RunEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let options = MaterializeOptions::default()
        .with_event_sink(move |e| sink.lock().unwrap().push(e.clone()));
    (options, events)
}

async fn run(
    defs: &Definitions,
    lake: &Lake,
    selection: &str,
    options: &MaterializeOptions,
) -> RunResult {
    defs.materialize(lake, &selection.parse().unwrap(), options)
        .await
        .unwrap()
}

fn status(result: &RunResult, key: &str) -> AssetStatus {
    result
        .asset(&AssetKey::parse(key))
        .unwrap_or_else(|| panic!("{key} not in the run"))
        .status
        .clone()
}

// A chain: chain_a -> chain_b -> chain_c, each adding one.

#[asset(key_prefix = "chain")]
fn chain_a() -> DataFrame {
    one("v", 1)
}

#[asset(key_prefix = "chain")]
fn chain_b(chain_a: DataFrame) -> Result<DataFrame> {
    Ok(one("v", value(&chain_a) + 1))
}

#[asset(key_prefix = "chain")]
async fn chain_c(chain_b: LazyFrame) -> Result<DataFrame> {
    Ok(chain_b.with_column(col("v") + lit(1)).collect()?)
}

fn chain() -> Definitions {
    defs(
        [
            chain_a::definition(),
            chain_b::definition(),
            chain_c::definition(),
        ],
        [],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn assets_run_after_their_upstreams_and_read_what_they_stored() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let (options, events) = recorder();
    let result = run(&chain(), &lake, "*", &options).await;
    assert!(result.success(), "{result:#?}");
    let started: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            RunEvent::AssetStarted { key, .. } => Some(key.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(started, ["chain/chain_a", "chain/chain_b", "chain/chain_c"]);
    let c: DataFrame = lake.load(["chain", "chain_c"]).unwrap();
    assert_eq!(value(&c), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_output_is_one_snapshot_tagged_with_the_run_id_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let before = common::snapshot_count(&lake);
    let run_id = pluginlake::run::RunId::new();
    let options = MaterializeOptions::default().with_run_id(run_id);
    let result = run(&chain(), &lake, "*", &options).await;
    let snapshots = lake.snapshots().unwrap();
    assert_eq!(snapshots.len() - before, 3);
    for outcome in &result.assets {
        let m = outcome.materialization.as_ref().unwrap();
        let s = snapshots
            .iter()
            .find(|s| s.snapshot_id == m.snapshot_id)
            .unwrap();
        let info: serde_json::Value =
            serde_json::from_str(s.commit_extra_info.as_deref().unwrap()).unwrap();
        assert_eq!(info["run_id"], run_id.to_string());
        assert_eq!(info["asset"], outcome.key.to_string());
        assert_eq!(m.rows, 1);
        assert_eq!(m.columns[0].name, "v");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_asset_runs_alone_against_what_is_already_stored() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let defs = chain();
    run(&defs, &lake, "*", &MaterializeOptions::default()).await;
    lake.store(["chain", "chain_a"], one("v", 41)).unwrap();
    let result = run(
        &defs,
        &lake,
        "chain/chain_b",
        &MaterializeOptions::default(),
    )
    .await;
    assert_eq!(result.assets.len(), 1);
    let b: DataFrame = lake.load(["chain", "chain_b"]).unwrap();
    assert_eq!(value(&b), 42);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_input_table_fails_the_asset_naming_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let result = run(
        &chain(),
        &lake,
        "chain/chain_b",
        &MaterializeOptions::default(),
    )
    .await;
    let AssetStatus::Failed { error, .. } = status(&result, "chain/chain_b") else {
        panic!("{result:#?}")
    };
    assert!(
        error.contains("chain/chain_a") && error.contains("chain.chain_a"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn selection_closure_picks_upstreams_and_downstreams() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let defs = chain();
    let keys = |r: &RunResult| {
        r.assets
            .iter()
            .map(|a| a.key.to_string())
            .collect::<Vec<_>>()
    };
    let up = run(
        &defs,
        &lake,
        "+chain/chain_b",
        &MaterializeOptions::default(),
    )
    .await;
    assert_eq!(keys(&up), ["chain/chain_a", "chain/chain_b"]);
    let down = run(
        &defs,
        &lake,
        "chain/chain_b+",
        &MaterializeOptions::default(),
    )
    .await;
    assert_eq!(keys(&down), ["chain/chain_b", "chain/chain_c"]);
}

// Two independent slow assets. Synchronous asset code runs on the blocking pool, so even a
// single-threaded runtime runs them at the same time.

static SLOW: Mutex<Vec<(&str, Instant, Instant)>> = Mutex::new(Vec::new());

fn slow(name: &'static str) -> DataFrame {
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(400));
    SLOW.lock().unwrap().push((name, start, Instant::now()));
    one("v", 1)
}

#[asset(key_prefix = "slow")]
fn slow_left() -> DataFrame {
    slow("left")
}

#[asset(key_prefix = "slow")]
fn slow_right() -> DataFrame {
    slow("right")
}

static SLOW_TESTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn slow_intervals(concurrency: usize) -> Vec<(&'static str, Instant, Instant)> {
    let _serial = SLOW_TESTS.lock().await;
    SLOW.lock().unwrap().clear();
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let defs = defs([slow_left::definition(), slow_right::definition()], []);
    let options = MaterializeOptions::default().with_concurrency(concurrency);
    let result = run(&defs, &lake, "*", &options).await;
    assert!(result.success(), "{result:#?}");
    std::mem::take(&mut *SLOW.lock().unwrap())
}

#[tokio::test(flavor = "current_thread")]
async fn independent_assets_overlap_without_stalling_the_runtime() {
    let spans = slow_intervals(2).await;
    let [(_, s1, e1), (_, s2, e2)] = spans[..] else {
        panic!("{spans:?}")
    };
    assert!(
        s1 < e2 && s2 < e1,
        "the two slow assets did not overlap: {spans:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_concurrency_limit_bounds_how_many_assets_run_at_once() {
    let spans = slow_intervals(1).await;
    let [(_, s1, e1), (_, s2, e2)] = spans[..] else {
        panic!("{spans:?}")
    };
    assert!(
        e1 <= s2 || e2 <= s1,
        "ran at once despite a limit of 1: {spans:?}"
    );
}

// Failure isolation: a failing branch, a panicking branch, and a healthy branch.

#[derive(Debug)]
struct Unreachable;

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("source system unreachable")
    }
}

impl std::error::Error for Unreachable {}

#[asset(key_prefix = "iso")]
fn iso_failing() -> Result<DataFrame, Unreachable> {
    Err(Unreachable)
}

#[asset(key_prefix = "iso")]
fn iso_child(iso_failing: DataFrame) -> DataFrame {
    iso_failing
}

#[asset(key_prefix = "iso")]
fn iso_grandchild(iso_child: DataFrame) -> DataFrame {
    iso_child
}

#[asset(key_prefix = "iso")]
async fn iso_panicking() -> DataFrame {
    panic!("boom in async code")
}

#[asset(key_prefix = "iso")]
fn iso_sync_panicking() -> DataFrame {
    panic!("boom in sync code")
}

#[asset(key_prefix = "iso")]
fn iso_healthy() -> DataFrame {
    one("v", 7)
}

#[asset(key_prefix = "iso")]
fn iso_healthy_child(iso_healthy: DataFrame) -> DataFrame {
    iso_healthy
}

fn isolation() -> Definitions {
    defs(
        [
            iso_failing::definition(),
            iso_child::definition(),
            iso_grandchild::definition(),
            iso_panicking::definition(),
            iso_sync_panicking::definition(),
            iso_healthy::definition(),
            iso_healthy_child::definition(),
        ],
        [],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_asset_fails_alone_and_unrelated_branches_finish() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let result = run(&isolation(), &lake, "*", &MaterializeOptions::default()).await;
    assert!(!result.success());
    let AssetStatus::Failed { error, .. } = status(&result, "iso/iso_failing") else {
        panic!()
    };
    assert!(
        error.contains("iso/iso_failing") && error.contains("source system unreachable"),
        "{error}"
    );
    assert_eq!(
        status(&result, "iso/iso_healthy"),
        AssetStatus::Materialized
    );
    assert_eq!(
        status(&result, "iso/iso_healthy_child"),
        AssetStatus::Materialized
    );
    assert!(!lake
        .table_exists(&AssetKey::parse("iso/iso_failing").table().unwrap())
        .unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn downstream_of_a_failure_is_skipped_with_the_upstream_error() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let result = run(&isolation(), &lake, "*", &MaterializeOptions::default()).await;
    for key in ["iso/iso_child", "iso/iso_grandchild"] {
        let AssetStatus::Skipped { reason } = status(&result, key) else {
            panic!("{key}: {result:#?}")
        };
        assert!(
            reason.contains("upstream iso/iso_failing failed")
                && reason.contains("source system unreachable"),
            "{key}: {reason}"
        );
        assert_eq!(result.asset(&AssetKey::parse(key)).unwrap().attempts, 0);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_asset_fails_with_the_panic_message() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let result = run(&isolation(), &lake, "*", &MaterializeOptions::default()).await;
    for (key, message) in [
        ("iso/iso_panicking", "boom in async code"),
        ("iso/iso_sync_panicking", "boom in sync code"),
    ] {
        let AssetStatus::Failed { error, .. } = status(&result, key) else {
            panic!("{key}: {result:#?}")
        };
        assert!(
            error.contains("panicked") && error.contains(message),
            "{key}: {error}"
        );
    }
}

#[asset(key_prefix = "rt")]
async fn polars_in_async() -> Result<DataFrame> {
    Ok(df!["v" => [1i64]]?.lazy().collect()?)
}

#[tokio::test(flavor = "current_thread")]
async fn async_polars_work_on_a_current_thread_runtime_fails_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let result = run(
        &defs([polars_in_async::definition()], []),
        &lake,
        "*",
        &MaterializeOptions::default(),
    )
    .await;
    let AssetStatus::Failed { error, .. } = status(&result, "rt/polars_in_async") else {
        panic!("{result:#?}")
    };
    assert!(
        error.contains("multi-threaded runtime") && error.contains("ctx.blocking"),
        "{error}"
    );
}

// Retries.

static FLAKY_CALLS: AtomicU32 = AtomicU32::new(0);

#[asset(key_prefix = "retry", retry(max_attempts = 3, backoff_ms = 20))]
fn flaky() -> Result<DataFrame, String> {
    match FLAKY_CALLS.fetch_add(1, Ordering::SeqCst) {
        0 | 1 => Err("connection reset".to_owned()),
        _ => Ok(one("v", 1)),
    }
}

static DOOMED_CALLS: AtomicU32 = AtomicU32::new(0);

#[asset(key_prefix = "retry", retry(max_attempts = 2, backoff_ms = 10))]
fn doomed() -> Result<DataFrame, String> {
    DOOMED_CALLS.fetch_add(1, Ordering::SeqCst);
    Err("still down".to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_asset_succeeds_on_a_later_attempt_and_each_failure_is_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let (options, events) = recorder();
    let started = Instant::now();
    let result = run(&defs([flaky::definition()], []), &lake, "*", &options).await;
    assert!(result.success(), "{result:#?}");
    assert_eq!(result.assets[0].attempts, 3);
    assert!(
        started.elapsed() >= Duration::from_millis(20 + 40),
        "backoff 20 ms then 40 ms"
    );
    let failures: Vec<(u32, bool)> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            RunEvent::AssetFailed {
                attempt,
                will_retry,
                error,
                ..
            } => {
                assert!(error.contains("connection reset"));
                Some((*attempt, *will_retry))
            }
            _ => None,
        })
        .collect();
    assert_eq!(failures, [(1, true), (2, true)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_asset_that_fails_every_attempt_fails_after_max_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let result = run(
        &defs([doomed::definition()], []),
        &lake,
        "*",
        &MaterializeOptions::default(),
    )
    .await;
    assert_eq!(result.assets[0].attempts, 2);
    assert_eq!(DOOMED_CALLS.load(Ordering::SeqCst), 2);
    assert!(
        matches!(&result.assets[0].status, AssetStatus::Failed { error, .. } if error.contains("still down"))
    );
}

// Checks.

#[asset(key_prefix = "checked")]
fn eras() -> DataFrame {
    df!["start" => [1i32, 5], "end" => [3i32, 2]].unwrap()
}

#[asset(key_prefix = "checked")]
fn era_report(eras: DataFrame) -> DataFrame {
    eras
}

/// No era ends before it starts.
#[asset_check(asset = eras, blocking)]
fn eras_end_after_start(eras: DataFrame) -> Result<CheckResult> {
    let bad = eras
        .lazy()
        .filter(col("end").lt(col("start")))
        .collect()?
        .height();
    Ok(
        CheckResult::from_bool(bad == 0, format!("{bad} eras end before they start"))
            .with_metadata("bad_rows", bad),
    )
}

#[asset_check(asset = eras)]
fn eras_not_empty(ctx: &AssetContext, eras: LazyFrame) -> Result<bool> {
    assert_eq!(ctx.key().to_string(), "checked/eras");
    Ok(eras.collect()?.height() > 0)
}

#[asset_check(asset = eras, blocking, name = "eras_are_few")]
fn at_most_one_era(eras: DataFrame) -> CheckResult {
    if eras.height() <= 1 {
        CheckResult::pass()
    } else {
        CheckResult::warn("more than one era")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_blocking_check_stops_downstream_assets() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let defs = defs(
        [eras::definition(), era_report::definition()],
        [
            eras_end_after_start::definition(),
            eras_not_empty::definition(),
        ],
    );
    let result = run(&defs, &lake, "*", &MaterializeOptions::default()).await;
    assert!(!result.success());
    let eras = result.asset(&AssetKey::parse("checked/eras")).unwrap();
    assert_eq!(eras.status, AssetStatus::Materialized);
    let check = eras
        .checks
        .iter()
        .find(|c| c.name == "eras_end_after_start")
        .unwrap();
    assert!(!check.result.passed && check.blocks());
    assert_eq!(check.result.metadata["bad_rows"], "1");
    let AssetStatus::Skipped { reason } = status(&result, "checked/era_report") else {
        panic!("{result:#?}")
    };
    assert!(
        reason.contains("blocking check eras_end_after_start")
            && reason.contains("1 eras end before they start"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn non_blocking_and_warning_checks_do_not_stop_downstream_assets() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let defs = defs(
        [eras::definition(), era_report::definition()],
        [eras_not_empty::definition(), at_most_one_era::definition()],
    );
    let result = run(&defs, &lake, "*", &MaterializeOptions::default()).await;
    assert!(result.success(), "{result:#?}");
    let eras = result.asset(&AssetKey::parse("checked/eras")).unwrap();
    let names: Vec<(&str, bool)> = eras
        .checks
        .iter()
        .map(|c| (c.name.as_str(), c.result.passed))
        .collect();
    assert_eq!(names, [("eras_not_empty", true), ("eras_are_few", false)]);
    assert_eq!(
        status(&result, "checked/era_report"),
        AssetStatus::Materialized
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_check_reads_the_snapshot_its_run_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let defs = defs([eras::definition()], [eras_end_after_start::definition()]);
    let result = run(&defs, &lake, "*", &MaterializeOptions::default()).await;
    // Another writer replaces the table after the run; the recorded check result stands for the
    // run's snapshot.
    lake.store(
        ["checked", "eras"],
        df!["start" => [1i32], "end" => [2i32]].unwrap(),
    )
    .unwrap();
    let check = &result.assets[0].checks[0];
    assert_eq!(check.result.metadata["bad_rows"], "1");
}

// Graph validation of macro assets.

#[asset(key_prefix = "cyc")]
fn cyc_a(cyc_b: DataFrame) -> DataFrame {
    cyc_b
}

#[asset(key_prefix = "cyc")]
fn cyc_b(cyc_a: DataFrame) -> DataFrame {
    cyc_a
}

#[test]
fn a_cycle_of_assets_is_rejected_naming_the_cycle() {
    let err = Definitions::new([cyc_a::definition(), cyc_b::definition()])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cyc/cyc_a -> cyc/cyc_b -> cyc/cyc_a")
            || err.contains("cyc/cyc_b -> cyc/cyc_a -> cyc/cyc_b"),
        "{err}"
    );
}

#[asset(key_prefix = ["dup", "v1"], name = "person")]
fn person_v1() -> DataFrame {
    one("v", 1)
}

#[asset(key_prefix = ["dup", "v2"], name = "person")]
fn person_v2() -> DataFrame {
    one("v", 2)
}

#[test]
fn two_assets_on_one_table_are_rejected_naming_both() {
    let err = Definitions::new([person_v1::definition(), person_v2::definition()])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("dup/v1/person")
            && err.contains("dup/v2/person")
            && err.contains("dup.person"),
        "{err}"
    );
}

#[test]
fn a_check_of_an_asset_outside_the_definitions_is_rejected() {
    let err = Definitions::new([chain_a::definition()])
        .unwrap()
        .with_checks([eras_not_empty::definition()])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("eras_not_empty") && err.contains("checked/eras"),
        "{err}"
    );
}
