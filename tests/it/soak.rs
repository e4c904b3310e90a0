//! The soak test (not in the default run): three worker processes (the `queue_worker` example)
//! on a PostgreSQL run store and catalog work a queue of append runs while the test SIGKILLs a
//! random worker every few seconds (and starts a new one) and cancels random runs. At the end
//! the data must say that every run's rows are in the table exactly once: a succeeded run's
//! three rows once each, a canceled or failed run's rows at most once, no other rows.
//!
//! ```text
//! PLUGINLAKE_SOAK_SECS=180 cargo test --release --no-default-features --features prebuilt \
//!     --test it -- soak --ignored --nocapture
//! ```

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pluginlake::run::{NewRun, RunFilter, RunId, RunState, RunStore};
use pluginlake::{AssetKey, Catalog, Lake, LakeConfig};
use polars::prelude::*;

fn worker_bin() -> PathBuf {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    deps.parent().unwrap().join("examples").join("queue_worker")
}

/// Pseudo-random numbers (xorshift), seeded from the clock; the seed is printed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

struct Workers {
    env: Vec<(String, String)>,
    procs: Vec<Child>,
    spawned: usize,
}

impl Workers {
    fn spawn(&mut self) -> Child {
        self.spawned += 1;
        Command::new(worker_bin())
            .args(["worker", "--id", &format!("soak-{}", self.spawned)])
            .args([
                "--heartbeat-ms",
                "200",
                "--stale-after-ms",
                "1500",
                "--poll-ms",
                "50",
            ])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("PL_LEDGER_MS", "400")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a worker process")
    }
}

fn ledger_run() -> NewRun {
    NewRun {
        assets: vec![AssetKey::parse("queue/ledger")],
        max_attempts: 10,
        ..NewRun::new("queue/ledger")
    }
}

async fn count(store: &RunStore, state: RunState) -> usize {
    store
        .runs(&RunFilter {
            state: Some(state),
            limit: Some(u32::MAX),
            ..Default::default()
        })
        .await
        .unwrap()
        .len()
}

fn lake_env(root: &Path, catalog: &Catalog, run_store: &str) -> Vec<(String, String)> {
    let Catalog::Postgres { connection, schema } = catalog else {
        unreachable!("the soak test runs on PostgreSQL");
    };
    vec![
        ("PLUGINLAKE_ROOT".into(), root.display().to_string()),
        (
            "PLUGINLAKE_CATALOG".into(),
            format!("postgres:{connection}"),
        ),
        ("PLUGINLAKE_CATALOG_SCHEMA".into(), schema.clone().unwrap()),
        ("PLUGINLAKE_RUN_STORE".into(), run_store.into()),
    ]
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a soak test of a few minutes: run with --ignored (PLUGINLAKE_SOAK_SECS sets its length)"]
async fn soak_three_workers_with_kills_and_cancels_write_every_run_exactly_once() {
    let secs: u64 = std::env::var("PLUGINLAKE_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(180);
    let Some(catalog) = common::postgres_catalog("soak") else {
        return;
    };
    let _drop = common::DropPostgresSchema(catalog.clone());
    let Some((url, schema)) = common::postgres_run_store("soak").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".data");
    let config = LakeConfig::default()
        .with_root(&root)
        .with_catalog(catalog.clone());
    Lake::open(config.clone())
        .unwrap()
        .store(
            ["queue", "ledger"],
            df!["run" => ["seed"], "i" => [0i64]].unwrap(),
        )
        .unwrap();
    let store = RunStore::open(&url).await.unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("soak: {secs} s, seed {seed}");
    let mut rng = Rng(seed);

    let mut workers = Workers {
        env: lake_env(&root, &catalog, &url),
        procs: Vec::new(),
        spawned: 0,
    };
    for _ in 0..3 {
        let w = workers.spawn();
        workers.procs.push(w);
    }
    let mut submitted: Vec<RunId> = Vec::new();
    let (mut kills, mut cancels) = (0, 0);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        // Keep the queue busy.
        if count(&store, RunState::Queued).await < 20 {
            for _ in 0..20 {
                submitted.push(store.submit(&ledger_run()).await.unwrap().id);
            }
        }
        tokio::time::sleep(Duration::from_millis(200 + rng.below(2000))).await;
        match rng.below(10) {
            // SIGKILL a random worker, start another.
            0..=3 => {
                let i = rng.below(3) as usize;
                let _ = workers.procs[i].kill();
                let _ = workers.procs[i].wait();
                workers.procs[i] = workers.spawn();
                kills += 1;
            }
            // Cancel a random recent run (queued or started; final ones refuse).
            4..=5 => {
                let back = rng.below(40) as usize;
                if let Some(&id) = submitted.iter().rev().nth(back) {
                    if store.cancel(id, "soak").await.is_ok() {
                        cancels += 1;
                    }
                }
            }
            _ => {}
        }
    }
    // Drain: no more kills; the survivors finish the queue and recover the dead ones' runs.
    let drain = Instant::now();
    while count(&store, RunState::Queued).await + count(&store, RunState::Started).await > 0 {
        assert!(
            drain.elapsed() < Duration::from_secs(600),
            "the queue did not drain"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for w in &mut workers.procs {
        let _ = w.kill();
        let _ = w.wait();
    }

    let lake = Lake::open(config).unwrap();
    let table: DataFrame = lake.load(["queue", "ledger"]).unwrap();
    let runs = table.column("run").unwrap().str().unwrap();
    let is = table.column("i").unwrap().i64().unwrap();
    let mut rows: HashMap<String, BTreeMap<i64, usize>> = HashMap::new();
    for (run, i) in runs.iter().zip(is.iter()) {
        *rows
            .entry(run.unwrap().to_owned())
            .or_default()
            .entry(i.unwrap())
            .or_default() += 1;
    }
    rows.remove("seed");
    let once: BTreeMap<i64, usize> = [(0, 1), (1, 1), (2, 1)].into();
    let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
    let mut recovered = 0;
    for id in &submitted {
        let run = store.get(*id).await.unwrap().unwrap();
        *by_state.entry(run.state.as_str()).or_default() += 1;
        if run.attempt > 1 {
            recovered += 1;
        }
        let got = rows.remove(&id.to_string());
        match run.state {
            RunState::Success => assert_eq!(
                got.as_ref(),
                Some(&once),
                "run {id} succeeded: its rows must be there exactly once"
            ),
            RunState::Canceled | RunState::Failure => assert!(
                got.is_none() || got.as_ref() == Some(&once),
                "run {id} ({}): its rows at most once, got {got:?}",
                run.state
            ),
            other => panic!("run {id} is still {other}"),
        }
    }
    assert!(rows.is_empty(), "rows of runs never submitted: {rows:?}");
    eprintln!(
        "soak: {} runs ({by_state:?}), {recovered} ran more than once, {kills} workers killed, \
         {cancels} runs canceled, {} rows",
        submitted.len(),
        table.height() - 1
    );
    assert!(
        kills > 0 && by_state.get("success").copied().unwrap_or(0) > 0,
        "the soak did something"
    );
    schema.drop().await;
}
