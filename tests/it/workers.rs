//! Worker processes (the `queue_worker` example, i.e. `pluginlake::cli::main()`) working one run
//! store: every run executed exactly once, and the run of a worker killed with SIGKILL recovered.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pluginlake::run::{EventKind, NewRun, RunFilter, RunId, RunRecord, RunState, RunStore};
use pluginlake::{AssetKey, Catalog, Lake, LakeConfig};
use polars::prelude::*;

/// `target/<profile>/examples/queue_worker`, built with the tests.
fn worker_bin() -> PathBuf {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    deps.parent().unwrap().join("examples").join("queue_worker")
}

/// The environment a worker process gets: run store, lake root and catalog.
struct Setup {
    env: Vec<(String, String)>,
}

impl Setup {
    fn spawn(&self, id: &str, extra: &[&str]) -> Child {
        Command::new(worker_bin())
            .args([
                "worker",
                "--id",
                id,
                "--heartbeat-ms",
                "200",
                "--stale-after-ms",
                "1500",
                "--poll-ms",
                "50",
            ])
            .args(extra)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("PL_SLOW_MS", "3000")
            .stdout(Stdio::null())
            .spawn()
            .expect("start a worker process")
    }
}

fn run_of(selection: &str, max_attempts: u32) -> NewRun {
    NewRun {
        assets: vec![AssetKey::parse(selection)],
        max_attempts,
        ..NewRun::new(selection)
    }
}

/// Queue one slow run (two attempts allowed) and then `n` quick runs over three tables.
async fn queue(store: &RunStore, n: usize) -> (RunId, Vec<RunId>) {
    let slow = store.submit(&run_of("queue/slow", 2)).await.unwrap().id;
    let mut quick = Vec::with_capacity(n);
    for i in 0..n {
        let run = run_of(&format!("queue/tick_{}", i % 3), 1);
        quick.push(store.submit(&run).await.unwrap().id);
    }
    (slow, quick)
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < timeout, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn state(store: &RunStore, id: RunId) -> RunRecord {
    store.get(id).await.unwrap().unwrap()
}

/// Every run succeeded; each quick run was started once and materialized once; the slow run was
/// recovered once and succeeded on its second attempt.
async fn assert_exactly_once(store: &RunStore, quick: &[RunId], slow: RunId) {
    for &id in quick {
        let run = state(store, id).await;
        assert_eq!((run.state, run.attempt), (RunState::Success, 1), "{run:?}");
        let events = store.events(id).await.unwrap();
        let count = |kind: EventKind| events.iter().filter(|e| e.kind == kind).count();
        assert_eq!(
            (
                count(EventKind::Started),
                count(EventKind::AssetMaterialized),
                count(EventKind::Succeeded)
            ),
            (1, 1, 1),
            "run {id}: {events:?}"
        );
    }
    let run = state(store, slow).await;
    assert_eq!((run.state, run.attempt), (RunState::Success, 2), "{run:?}");
    let kinds = common::event_kinds(store, slow).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "started").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "recovered").count(),
        1,
        "{kinds:?}"
    );
}

fn lake_env(root: &Path, catalog: &Catalog) -> Vec<(String, String)> {
    let mut env = vec![("PLUGINLAKE_ROOT".to_string(), root.display().to_string())];
    if let Catalog::Postgres { connection, schema } = catalog {
        env.push((
            "PLUGINLAKE_CATALOG".into(),
            format!("postgres:{connection}"),
        ));
        env.push(("PLUGINLAKE_CATALOG_SCHEMA".into(), schema.clone().unwrap()));
    }
    env
}

/// Create the tables once, so that the workers' first writes do not race to create the schema.
fn prepare_tables(root: &Path, catalog: Catalog) {
    let lake = Lake::open(LakeConfig::default().with_root(root).with_catalog(catalog)).unwrap();
    for name in ["tick_0", "tick_1", "tick_2", "slow"] {
        lake.store(["queue", name], df!["n" => [0i64], "at" => [0i64]].unwrap())
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_worker_processes_run_300_runs_exactly_once_and_recover_a_killed_one() {
    let Some(catalog) = common::postgres_catalog("workers") else {
        return;
    };
    let _drop_lake = common::DropPostgresSchema(catalog.clone());
    let Some((url, schema)) = common::postgres_run_store("workers").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".data");
    prepare_tables(&root, catalog.clone());
    let store = RunStore::open(&url).await.unwrap();

    let (slow, quick) = queue(&store, 300).await;
    let mut env = lake_env(&root, &catalog);
    env.push(("PLUGINLAKE_RUN_STORE".into(), url.clone()));
    let setup = Setup { env };
    let mut workers: Vec<(String, Child)> = (0..3)
        .map(|i| (format!("w{i}"), setup.spawn(&format!("w{i}"), &[])))
        .collect();

    wait_until(
        "the slow run is started",
        Duration::from_secs(60),
        || async { state(&store, slow).await.state == RunState::Started },
    )
    .await;
    let holder = state(&store, slow).await.worker.unwrap();
    let (_, victim) = workers.iter_mut().find(|(id, _)| *id == holder).unwrap();
    victim.kill().unwrap(); // SIGKILL
    victim.wait().unwrap();

    wait_until("every run is final", Duration::from_secs(240), || async {
        store
            .runs(&RunFilter {
                state: Some(RunState::Queued),
                ..Default::default()
            })
            .await
            .unwrap()
            .is_empty()
            && store
                .runs(&RunFilter {
                    state: Some(RunState::Started),
                    ..Default::default()
                })
                .await
                .unwrap()
                .is_empty()
    })
    .await;
    for (_, w) in &mut workers {
        let _ = w.kill();
        let _ = w.wait();
    }
    assert_exactly_once(&store, &quick, slow).await;
    let took: std::collections::BTreeSet<String> = {
        let mut s = std::collections::BTreeSet::new();
        for id in &quick {
            s.insert(state(&store, *id).await.worker.unwrap());
        }
        s
    };
    assert!(
        took.len() >= 2,
        "the runs were shared between workers: {took:?}"
    );
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_worker_process_loses_nothing_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".data");
    prepare_tables(&root, Catalog::default());
    let url = format!("sqlite://{}", root.join("runs.sqlite").display());
    let store = RunStore::open(&url).await.unwrap();
    let (slow, quick) = queue(&store, 5).await;
    let mut env = lake_env(&root, &Catalog::default());
    env.push(("PLUGINLAKE_RUN_STORE".into(), url.clone()));
    let setup = Setup { env };

    let mut worker = setup.spawn("first", &[]);
    wait_until(
        "the slow run is started",
        Duration::from_secs(60),
        || async { state(&store, slow).await.state == RunState::Started },
    )
    .await;
    worker.kill().unwrap(); // SIGKILL, mid-run
    worker.wait().unwrap();
    assert_eq!(
        state(&store, slow).await.state,
        RunState::Started,
        "the dead worker's run waits for recovery"
    );
    for id in &quick {
        assert_eq!(state(&store, *id).await.state, RunState::Queued);
    }

    // After the stale timeout, a restarted worker recovers the run and drains the queue.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let status = setup.spawn("second", &["--drain"]).wait().unwrap();
    assert!(status.success());
    assert_exactly_once(&store, &quick, slow).await;
}
