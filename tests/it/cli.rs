//! The `pluginlake` command line a pipeline binary calls with its definitions.

use crate::common;

use std::process::ExitCode;

use pluginlake::graph::AssetSpec;
use pluginlake::prelude::*;
use polars::prelude::*;

#[asset(key_prefix = "cli", group = "demo")]
fn source() -> DataFrame {
    df!["v" => [1i64, 2, 3]].unwrap()
}

#[asset(key_prefix = "cli")]
fn doubled(source: LazyFrame) -> Result<DataFrame> {
    Ok(source.select([col("v") * lit(2)]).collect()?)
}

#[asset_check(asset = doubled, blocking)]
fn doubled_is_even(doubled: DataFrame) -> Result<bool> {
    let v = doubled.column("v")?.i64()?;
    Ok((0..v.len()).all(|i| v.get(i).is_some_and(|x| x % 2 == 0)))
}

#[asset(key_prefix = "cli")]
fn broken(source: DataFrame) -> Result<DataFrame, String> {
    let _ = source;
    Err("the upstream API returned 503".into())
}

fn defs(with_broken: bool) -> Definitions {
    let mut assets = vec![
        AssetSpec::new("cli/external").into(),
        source::definition(),
        doubled::definition(),
    ];
    if with_broken {
        assets.push(broken::definition());
    }
    Definitions::new(assets)
        .unwrap()
        .with_checks([doubled_is_even::definition()])
        .unwrap()
}

async fn cli(defs: &Definitions, dir: &std::path::Path, args: &[&str]) -> (ExitCode, String) {
    let mut out = Vec::new();
    let argv = std::iter::once("pipeline").chain(args.iter().copied());
    let code = pluginlake::cli::run(defs, common::config_in(dir), argv, &mut out)
        .await
        .unwrap();
    (code, String::from_utf8(out).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn assets_lists_tables_groups_upstreams_and_checks() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = cli(&defs(false), dir.path(), &["assets"]).await;
    assert_eq!(code, ExitCode::SUCCESS);
    let line = |k: &str| {
        out.lines()
            .find(|l| l.starts_with(k))
            .unwrap_or_else(|| panic!("{k}: {out}"))
            .to_owned()
    };
    assert!(
        line("cli/source").contains("cli.source") && line("cli/source").contains("demo"),
        "{out}"
    );
    let doubled = line("cli/doubled");
    assert!(
        doubled.contains("cli/source") && doubled.contains("check doubled_is_even (blocking)"),
        "{out}"
    );
    assert!(line("cli/external").contains("[external]"), "{out}");
    assert!(out.contains("3 assets"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn graph_prints_edges_in_order_or_as_dot() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out) = cli(&defs(false), dir.path(), &["graph"]).await;
    assert!(out.contains("cli/doubled <- cli/source"), "{out}");
    let (_, dot) = cli(&defs(false), dir.path(), &["graph", "--dot"]).await;
    assert!(
        dot.starts_with("digraph assets {") && dot.contains("\"cli/source\" -> \"cli/doubled\";"),
        "{dot}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn materialize_runs_the_selection_and_reports_each_asset() {
    let dir = tempfile::tempdir().unwrap();
    let run_id = RunId::new().to_string();
    let (code, out) = cli(
        &defs(false),
        dir.path(),
        &["materialize", "+cli/doubled", "--run-id", &run_id],
    )
    .await;
    assert_eq!(code, ExitCode::SUCCESS, "{out}");
    assert!(
        out.contains(&format!("run {run_id}")) && out.contains("succeeded"),
        "{out}"
    );
    let doubled = out.lines().find(|l| l.starts_with("cli/doubled")).unwrap();
    assert!(
        doubled.contains("materialized") && doubled.contains("doubled_is_even passed"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_run_exits_with_failure_and_shows_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = cli(&defs(true), dir.path(), &["materialize"]).await;
    assert_eq!(code, ExitCode::FAILURE);
    assert!(
        out.contains("FAILED") && out.contains("the upstream API returned 503"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_lists_the_runs_recorded_in_the_lake() {
    let dir = tempfile::tempdir().unwrap();
    let (first_run, second_run) = (RunId::new().to_string(), RunId::new().to_string());
    cli(
        &defs(false),
        dir.path(),
        &["materialize", "--run-id", &first_run],
    )
    .await;
    cli(
        &defs(false),
        dir.path(),
        &["materialize", "cli/source", "--run-id", &second_run],
    )
    .await;
    let (_, out) = cli(&defs(false), dir.path(), &["runs"]).await;
    let first = out.find(&first_run).expect(&out);
    let second = out.find(&second_run).expect(&out);
    assert!(second < first, "newest first: {out}");
    assert!(out.contains("2 runs recorded"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_selection_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let err = pluginlake::cli::run(
        &defs(false),
        common::config_in(dir.path()),
        ["p", "materialize", "cli/nope"],
        &mut Vec::new(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("cli/nope"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn help_and_usage_errors_print_usage() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = cli(&defs(false), dir.path(), &["--help"]).await;
    assert_eq!(code, ExitCode::SUCCESS);
    assert!(out.contains("materialize") && out.contains("runs"), "{out}");
    let (code, out) = cli(&defs(false), dir.path(), &["frobnicate"]).await;
    assert_ne!(code, ExitCode::SUCCESS);
    assert!(out.contains("frobnicate"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn resubmit_runs_a_failed_ingestion_again_from_its_payload() {
    use pluginlake::ingest::{Column, Contract, Dataset, Format, Staging};
    use pluginlake::run::RunStore;

    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(dir.path());
    let dataset = Dataset::new(
        "readings",
        ["cli", "readings"],
        Contract::new([Column::integer("n").not_null()]).unwrap(),
    )
    .unwrap();
    let defs = Definitions::new([dataset.definition()]).unwrap();
    std::fs::create_dir_all(&config.root).unwrap();
    let store = RunStore::open(&config.run_store_url()).await.unwrap();
    let staging = Staging::new(config.staging_path());
    let (id, good) = (RunId::new(), b"[{\"n\": 1}, {\"n\": 2}]".to_vec());
    staging
        .submit(
            &store,
            &dataset,
            id,
            Format::Json,
            good.clone(),
            Default::default(),
        )
        .await
        .unwrap();
    // The payload is damaged after phase 1: its run fails and keeps it.
    let payload = staging.path("readings", id, Format::Json);
    std::fs::write(&payload, "[{\"n\": \"x\"}]").unwrap();
    let (_, out) = cli(&defs, dir.path(), &["worker", "--drain"]).await;
    assert!(out.contains(&format!("{id} failure")), "{out}");
    assert!(payload.is_file());

    std::fs::write(&payload, &good).unwrap();
    let (code, out) = cli(&defs, dir.path(), &["resubmit", &id.to_string()]).await;
    assert_eq!(code, ExitCode::SUCCESS, "{out}");
    let new: RunId = out.trim().parse().expect(&out);
    assert_ne!(new, id);
    let (_, out) = cli(&defs, dir.path(), &["worker", "--drain"]).await;
    assert!(out.contains(&format!("{new} success")), "{out}");
    assert!(
        !payload.exists(),
        "the CLI's worker deletes a payload after success"
    );
    let log = pluginlake::logs::DailyLog::new(config.logs_path().join("ingestion_log"));
    let text = std::fs::read_to_string(log.path_for(chrono::Utc::now().date_naive())).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["tracking_id"], new.to_string());
    assert_eq!(last["outcome"], "succeeded");
    assert_eq!(last["resubmitted_from"], id.to_string());

    // The payload is gone now: asking again is an error saying so.
    let err = pluginlake::cli::run(
        &defs,
        config,
        ["p", "resubmit", &id.to_string()],
        &mut Vec::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), pluginlake::ErrorKind::NotFound, "{err}");
}
