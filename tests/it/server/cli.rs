//! The command line of a pipeline binary with the HTTP API (`pluginlake_server::cli`): the
//! library's commands plus `create-key`, `datasets` and `serve`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use pluginlake::run::RunStore;
use pluginlake_server::auth::KeyRing;

use super::{definitions, lab_records, lab_rows, labs, vitals};
use crate::common::config_in;

/// Run one command of the server's command line over the lake in `dir`.
async fn run(dir: &Path, args: &[&str]) -> (ExitCode, String) {
    let mut out = Vec::new();
    let code = pluginlake_server::cli::run(
        &definitions(),
        vec![labs(), vitals()],
        config_in(dir),
        std::iter::once("pipeline").chain(args.iter().copied()),
        &mut out,
    )
    .await
    .unwrap();
    (code, String::from_utf8(out).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_key_prints_the_key_once_and_stores_only_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = run(
        dir.path(),
        &["create-key", "loader", "--scope", "ingest:labs"],
    )
    .await;
    assert_eq!(code, ExitCode::SUCCESS);
    let key = out.trim();
    assert!(key.starts_with("plk_"), "{out}");
    let file = dir.path().join(".data").join("keys.json");
    assert!(!std::fs::read_to_string(&file).unwrap().contains(&key[4..]));
    let ring = KeyRing::load(&file).unwrap();
    assert!(ring.verify(key).is_some_and(|k| k.may_ingest("labs")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_key_refuses_an_unknown_scope_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let e = pluginlake_server::cli::run(
        &definitions(),
        vec![labs()],
        config_in(dir.path()),
        ["pipeline", "create-key", "loader", "--scope", "write:labs"],
        &mut Vec::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), pluginlake::ErrorKind::BadInput, "{e}");
    assert!(e.to_string().contains("write:labs"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datasets_lists_each_dataset_with_its_asset_and_columns() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = run(dir.path(), &["datasets"]).await;
    assert_eq!(code, ExitCode::SUCCESS);
    assert!(out.contains("labs") && out.contains("lab/results"), "{out}");
    assert!(
        out.contains("person_id integer") && out.contains("measured_on date"),
        "{out}"
    );
    assert!(out.contains("2 datasets"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_librarys_commands_run_through_the_servers_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = run(dir.path(), &["assets"]).await;
    assert_eq!(code, ExitCode::SUCCESS);
    assert!(out.contains("lab/results [ingest labs]"), "{out}");
    let (_, help) = run(dir.path(), &["--help"]).await;
    for command in ["serve", "create-key", "datasets", "materialize", "worker"] {
        assert!(help.contains(command), "{command} missing from {help}");
    }
}

const SERVE_DIR: &str = "PLUGINLAKE_SERVE_CHILD_DIR";

/// The child of the test below: `serve` over the lake in `PLUGINLAKE_SERVE_CHILD_DIR`, until
/// SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the serving process of the test below; it runs it"]
async fn serve_child() {
    let Ok(dir) = std::env::var(SERVE_DIR) else {
        return;
    };
    let code = pluginlake_server::cli::run(
        &definitions(),
        vec![labs(), vitals()],
        config_in(Path::new(&dir)),
        [
            "pipeline",
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--workers",
            "1",
        ],
        &mut std::io::stdout(),
    )
    .await
    .unwrap();
    assert_eq!(code, ExitCode::SUCCESS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_the_api_and_workers_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (_, key) = run(
        dir.path(),
        &["create-key", "loader", "--scope", "ingest:labs"],
    )
    .await;
    let key = key.trim().to_owned();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "server::cli::serve_child",
            "--exact",
            "--include-ignored",
            "--nocapture",
        ])
        .env(SERVE_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Read its output to the end (a closed pipe would fail its last writes), passing on the URL.
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("serving on ") {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    let Ok(url) = rx.recv_timeout(Duration::from_secs(60)) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("serve did not say where it listens");
    };

    let client = reqwest::Client::new();
    let accepted: serde_json::Value = client
        .post(format!("{url}/ingest/labs"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(lab_records(0, 25))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = accepted["tracking_id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let state = loop {
        let status: serde_json::Value = client
            .get(format!("{url}/ingest/{id}/status"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["state"] != "queued" && status["state"] != "started" {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let terminated = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(state["state"], "success", "{state}");
    assert!(exit.success(), "serve exited with {exit}");
    let lake = crate::common::lake_in(dir.path());
    assert_eq!(lab_rows(&lake), 25);
    let store = RunStore::open(&config_in(dir.path()).run_store_url())
        .await
        .unwrap();
    assert_eq!(store.runs(&Default::default()).await.unwrap().len(), 1);
}
