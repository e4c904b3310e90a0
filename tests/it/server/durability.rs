//! The server in a child process (this test binary running [`server_child`]): killed with
//! SIGKILL right after a 202, restarted, and its logs read.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pluginlake::ingest::Staging;
use pluginlake::run::{RunState, RunStore, WorkerPool};
use pluginlake_server::auth::{create_key, KeyRing, Scope};
use pluginlake_server::{ServerConfig, ServerState};

use super::{
    definitions, fast_worker, lab_records, lab_rows, labs, sqlite_url, staging_dir, vitals,
};

/// Where the child serves from (its run store, staging, keys file and address file).
const CHILD_DIR: &str = "PLUGINLAKE_SERVER_CHILD_DIR";
/// Set in the child to run in-process workers too.
const CHILD_WORKERS: &str = "PLUGINLAKE_SERVER_CHILD_WORKERS";
const CHILD_TEST: &str = "server::durability::server_child";

/// The child: a server over the folder in `PLUGINLAKE_SERVER_CHILD_DIR`, logging everything at
/// debug level (its own crates at trace) to stderr, until killed. Run only by the tests below.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the server process of the tests below; they run it"]
async fn server_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let dir = Path::new(&dir);
    tracing_subscriber::fmt()
        .with_env_filter("debug,pluginlake_server=trace,tower_http=trace,hyper=info,h2=info")
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
    let store = RunStore::open(&sqlite_url(dir)).await.unwrap();
    let keys = KeyRing::load(&dir.join("keys.json")).unwrap();
    let state = ServerState::new(
        store.clone(),
        definitions(),
        [labs(), vitals()],
        keys,
        Staging::new(staging_dir(dir)),
        ServerConfig::default(),
    )
    .unwrap();
    let pool = std::env::var(CHILD_WORKERS).is_ok().then(|| {
        let lake = crate::common::lake_in(dir);
        WorkerPool::spawn(&store, &lake, &definitions(), 1, &fast_worker()).unwrap()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    std::fs::write(dir.join("addr.tmp"), addr.to_string()).unwrap();
    std::fs::rename(dir.join("addr.tmp"), dir.join("addr")).unwrap();
    pluginlake_server::serve_on(listener, state, std::future::pending())
        .await
        .unwrap();
    drop(pool);
}

/// Start the child server over `dir`; returns it and its URL. The caller waits on the child
/// (`kill`), which clippy cannot see through the return.
#[allow(clippy::zombie_processes)]
fn start_child(dir: &Path, workers: bool) -> (Child, String) {
    let _ = std::fs::remove_file(dir.join("addr"));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .unwrap();
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([CHILD_TEST, "--exact", "--include-ignored", "--nocapture"])
        .env(CHILD_DIR, dir)
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
    if workers {
        command.env(CHILD_WORKERS, "1");
    }
    let mut child = command.spawn().unwrap();
    let started = Instant::now();
    loop {
        if let Ok(addr) = std::fs::read_to_string(dir.join("addr")) {
            return (child, format!("http://{addr}"));
        }
        if started.elapsed() >= Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child server did not start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill(mut child: Child) {
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_right_after_its_202_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let key = create_key(
        &dir.path().join("keys.json"),
        "loader",
        &["ingest:labs".parse::<Scope>().unwrap()],
    )
    .unwrap();
    let client = reqwest::Client::new();

    let (child, url) = start_child(dir.path(), false);
    let r = client
        .post(format!("{url}/ingest/labs"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(lab_records(0, 40))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    kill(child);
    let answer: serde_json::Value = r.json().await.unwrap();
    let id = answer["tracking_id"].as_str().unwrap().to_owned();
    let store = RunStore::open(&sqlite_url(dir.path())).await.unwrap();
    let run = store
        .get(id.parse().unwrap())
        .await
        .unwrap()
        .expect("the run is durable");
    assert_eq!(run.state, RunState::Queued);
    assert!(
        Path::new(run.payload.as_deref().unwrap()).is_file(),
        "the payload is durable"
    );

    // Restarted, with a worker: the run completes.
    let (child, url) = start_child(dir.path(), true);
    let started = Instant::now();
    loop {
        let status: serde_json::Value = client
            .get(format!("{url}/ingest/{id}/status"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["state"] == "success" {
            break;
        }
        assert!(
            status["state"] == "queued" || status["state"] == "started",
            "{status}"
        );
        assert!(started.elapsed() < Duration::from_secs(60), "{status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    kill(child);
    let lake = crate::common::lake_in(dir.path());
    assert_eq!(lab_rows(&lake), 40, "the rows are there exactly once");
    let runs = store.runs(&Default::default()).await.unwrap();
    assert_eq!(runs.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_never_appear_in_the_logs_and_every_line_of_a_request_has_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let keys_file = dir.path().join("keys.json");
    let labs_key = create_key(&keys_file, "loader", &["ingest:labs".parse().unwrap()]).unwrap();
    let vitals_key = create_key(&keys_file, "vitals", &["ingest:vitals".parse().unwrap()]).unwrap();
    let forged = format!("plk_{}", "ab".repeat(32));
    let (child, url) = start_child(dir.path(), false);
    let client = reqwest::Client::new();
    let mut request_ids = Vec::new();
    for (key, header) in [
        (&labs_key, "authorization"),
        (&vitals_key, "authorization"),
        (&forged, "authorization"),
        (&labs_key, "x-api-key"),
    ] {
        let value = if header == "authorization" {
            format!("Bearer {key}")
        } else {
            key.clone()
        };
        let r = client
            .post(format!("{url}/ingest/labs"))
            .header(header, value)
            .header("content-type", "application/json")
            .body(lab_records(0, 1))
            .send()
            .await
            .unwrap();
        request_ids.push(r.headers()["x-request-id"].to_str().unwrap().to_owned());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    kill(child);
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(log.lines().count() > 8, "{log}");
    for key in [&labs_key, &vitals_key, &forged] {
        assert!(!log.contains(&key[4..20]), "a key is in the log:\n{log}");
    }
    let stored = KeyRing::load(&keys_file).unwrap();
    for k in &stored.keys {
        assert!(!log.contains(&k.sha256[..16]), "a key's hash is in the log");
    }
    for id in &request_ids {
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(id.as_str())).collect();
        assert!(
            lines
                .iter()
                .any(|l| l.contains("finished processing request")),
            "no response line for {id}:\n{log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_span_carries_the_key_id_once_authenticated() {
    let dir = tempfile::tempdir().unwrap();
    let keys_file = dir.path().join("keys.json");
    let key = create_key(&keys_file, "loader", &["ingest:labs".parse().unwrap()]).unwrap();
    let forged = format!("plk_{}", "cd".repeat(32));
    let (child, url) = start_child(dir.path(), false);
    let client = reqwest::Client::new();
    let mut request_ids = Vec::new();
    for key in [&key, &forged] {
        let r = client
            .post(format!("{url}/ingest/labs"))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(lab_records(0, 1))
            .send()
            .await
            .unwrap();
        request_ids.push(r.headers()["x-request-id"].to_str().unwrap().to_owned());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    kill(child);
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    let finished = |id: &str| {
        log.lines()
            .find(|l| l.contains(id) && l.contains("finished processing request"))
            .unwrap_or_else(|| panic!("no response line for {id}:\n{log}"))
            .to_owned()
    };
    let accepted = finished(&request_ids[0]);
    assert!(
        accepted.contains("key_id=\"loader\"") || accepted.contains("key_id=loader"),
        "{accepted}"
    );
    let refused = finished(&request_ids[1]);
    assert!(!refused.contains("key_id="), "{refused}");
}

/// Phase 1's order, seen in the system calls of a server in a child process: the staged
/// payload is written and flushed, then its folder, and only then is the run committed (the
/// SQLite run store's write-ahead log flushed).
#[test]
fn a_staged_payload_and_its_folder_are_flushed_before_its_run_is_submitted() {
    use crate::durability::{find, parse, Call};

    let test = "server::durability::a_staged_payload_and_its_folder_are_flushed_before_its_run_is_submitted";
    let Some(trace) =
        crate::common::in_traced_child_process(test, "openat,fsync,fdatasync", || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async {
                let server = super::TestServer::start().await;
                let r = server
                    .ingest(
                        "labs",
                        &server.keys.labs,
                        "application/json",
                        lab_records(0, 3),
                    )
                    .await;
                assert_eq!(r.status(), 202);
                server.stop().await;
            });
        })
    else {
        return;
    };
    let calls = parse(&trace);
    let created = find(&calls, 0, |c| {
        matches!(c, Call::Open { path, created: true }
            if path.contains("/.data/staging/labs/") && path.ends_with(".json"))
    })
    .unwrap_or_else(|| panic!("the payload is staged: {calls:#?}"));
    let Call::Open { path: file, .. } = &calls[created] else {
        unreachable!()
    };
    let folder = file.rsplit_once('/').unwrap().0.to_owned();
    let submitted = find(
        &calls,
        created,
        |c| matches!(c, Call::Sync { path } if path.ends_with("runs.sqlite-wal")),
    )
    .unwrap_or_else(|| panic!("the run is committed after staging: {calls:#?}"));
    let file_synced = find(
        &calls,
        created,
        |c| matches!(c, Call::Sync { path } if path == file),
    );
    assert!(
        file_synced.is_some_and(|i| i < submitted),
        "the staged file is not flushed before the run's commit (file at {file_synced:?}, \
         commit at {submitted}): {calls:#?}"
    );
    let folder_synced = find(
        &calls,
        created,
        |c| matches!(c, Call::Sync { path } if *path == folder),
    );
    assert!(
        folder_synced.is_some_and(|i| i < submitted),
        "the staging folder is not flushed before the run's commit (folder at \
         {folder_synced:?}, commit at {submitted}): {calls:#?}"
    );
}
