//! The HTTP server (pluginlake-server), tested through a real TCP listener on 127.0.0.1:0.

mod auth;
mod cli;
mod concurrency;
mod durability;
mod formats;
mod hostile;
mod idempotency;
mod ingest;
mod list;
mod phase2;
mod resubmit;
mod skeleton;
mod status;

use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow::array::RecordBatch;
use pluginlake::graph::Definitions;
use pluginlake::ingest::{Column, Contract, Dataset, Staging};
use pluginlake::logs::DailyLog;
use pluginlake::run::{RunId, RunStore, WorkerOptions};
use pluginlake::Lake;
use pluginlake_server::auth::{generate_key, ApiKey, KeyRing, Scope};
use pluginlake_server::{ServerConfig, ServerState};
use tokio::sync::oneshot;

/// The test dataset: lab results (XML bodies: `<labs><result .../></labs>`).
pub(crate) fn labs() -> Dataset {
    Dataset::new(
        "labs",
        ["lab", "results"],
        Contract::new([
            Column::integer("person_id").not_null().min(1.0),
            Column::string("sample_id").not_null().unique(),
            Column::string("code")
                .pattern("^[A-Z][0-9]{2}$")
                .expect("a valid pattern"),
            Column::float("value").range(0.0, 1000.0),
            Column::string("unit").allowed(["mg/dL", "mmol/L"]),
            Column::date("measured_on").not_null(),
        ])
        .expect("a valid contract"),
    )
    .expect("a valid dataset")
    .with_xml_records("labs/result")
    .expect("a valid record path")
}

/// A second dataset, for scope tests.
pub(crate) fn vitals() -> Dataset {
    Dataset::new(
        "vitals",
        ["vitals", "readings"],
        Contract::new([
            Column::integer("person_id").not_null(),
            Column::float("pulse"),
        ])
        .expect("a valid contract"),
    )
    .expect("a valid dataset")
}

/// The datasets' definitions.
pub(crate) fn definitions() -> Definitions {
    Definitions::new([labs().definition(), vitals().definition()]).expect("valid definitions")
}

/// `n` valid lab records starting at sample `from`, as a JSON array.
pub(crate) fn lab_records(from: usize, n: usize) -> String {
    let records: Vec<serde_json::Value> = (from..from + n)
        .map(|i| {
            serde_json::json!({
                "person_id": i + 1,
                "sample_id": format!("s{i}"),
                "code": "A01",
                "value": (i % 900) as f64 + 0.5,
                "unit": "mg/dL",
                "measured_on": "2024-05-17",
            })
        })
        .collect();
    serde_json::Value::from(records).to_string()
}

/// The keys of a test server.
pub(crate) struct Keys {
    pub(crate) admin: String,
    pub(crate) labs: String,
    pub(crate) vitals: String,
    pub(crate) reader: String,
}

fn key(id: &str, scopes: &[&str]) -> (String, ApiKey) {
    let (text, sha256) = generate_key().expect("a key");
    let key = ApiKey {
        id: id.into(),
        sha256,
        scopes: scopes
            .iter()
            .map(|s| s.parse::<Scope>().expect("a scope"))
            .collect(),
    };
    (text, key)
}

/// A server on 127.0.0.1:0 over a run store in `dir` (or `store_url`).
pub(crate) struct TestServer {
    pub(crate) url: String,
    pub(crate) keys: Keys,
    pub(crate) store: RunStore,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) client: reqwest::Client,
    /// The asset graph its workers run.
    pub(crate) defs: Definitions,
    stop: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// A server on a SQLite run store with the default configuration.
    pub(crate) async fn start() -> TestServer {
        TestServer::with(None, ServerConfig::default()).await
    }

    /// A server on the run store at `store_url` (default: SQLite in its folder) with `config`.
    pub(crate) async fn with(store_url: Option<String>, config: ServerConfig) -> TestServer {
        TestServer::serving(store_url, config, definitions(), vec![labs(), vitals()]).await
    }

    /// A server of `datasets` (whose assets are in `defs`), as [`with`](Self::with).
    pub(crate) async fn serving(
        store_url: Option<String>,
        mut config: ServerConfig,
        defs: Definitions,
        datasets: Vec<Dataset>,
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("a folder");
        config
            .ingestion_log
            .get_or_insert_with(|| ingestion_log_dir(dir.path()));
        let url = store_url.unwrap_or_else(|| sqlite_url(dir.path()));
        let store = RunStore::open(&url).await.expect("open the run store");
        let (admin, admin_key) = key("admin-key", &["admin"]);
        let (labs_text, labs_key) = key("labs-loader", &["ingest:labs"]);
        let (vitals_text, vitals_key) = key("vitals-loader", &["ingest:vitals"]);
        let (reader, reader_key) = key("reader", &["read:*"]);
        let ring = KeyRing::new(vec![admin_key, labs_key, vitals_key, reader_key]);
        let state = ServerState::new(
            store.clone(),
            defs.clone(),
            datasets,
            ring,
            Staging::new(staging_dir(dir.path())),
            config,
        )
        .expect("a server state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("an address");
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(pluginlake_server::serve_on(listener, state, async move {
            let _ = stopped.await;
        }));
        TestServer {
            url: format!("http://{addr}"),
            keys: Keys {
                admin,
                labs: labs_text,
                vitals: vitals_text,
                reader,
            },
            store,
            dir,
            client: reqwest::Client::new(),
            defs,
            stop: Some(stop),
            served: Some(served),
        }
    }

    /// POST `body` as `content_type` to `/ingest/<dataset>` with `key`.
    pub(crate) async fn ingest(
        &self,
        dataset: &str,
        key: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.client
            .post(format!("{}/ingest/{dataset}", self.url))
            .bearer_auth(key)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("a response")
    }

    /// The staged files (of every dataset).
    pub(crate) fn staged(&self) -> Vec<PathBuf> {
        staged_files(self.dir.path())
    }

    /// A lake in the server's folder (where its workers write).
    pub(crate) fn lake(&self) -> Lake {
        crate::common::lake_in(self.dir.path())
    }

    /// Run the queue once with a worker, as the server's workers would (deleting payloads
    /// after success, logging outcomes: [`ServerState::worker_options`]).
    pub(crate) async fn work(&self, lake: &Lake) -> Option<pluginlake::run::RunRecord> {
        pluginlake::run::work_one(&self.store, lake, &self.defs, &self.worker())
            .await
            .expect("work the queue")
    }

    /// The options of this server's workers.
    pub(crate) fn worker(&self) -> WorkerOptions {
        WorkerOptions {
            after_run: Some(
                Staging::new(staging_dir(self.dir.path()))
                    .after_run(Some(DailyLog::new(ingestion_log_dir(self.dir.path())))),
            ),
            ..fast_worker()
        }
    }

    /// The staging folder.
    pub(crate) fn staging(&self) -> Staging {
        Staging::new(staging_dir(self.dir.path()))
    }

    /// The lines of today's ingestion log (UTC).
    pub(crate) fn log_lines(&self) -> Vec<serde_json::Value> {
        let log = DailyLog::new(ingestion_log_dir(self.dir.path()));
        let text = std::fs::read_to_string(log.path_for(chrono::Utc::now().date_naive()))
            .unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    /// POST `body` to `/ingest/labs` with the labs key; the tracking id of its 202.
    pub(crate) async fn accepted(
        &self,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> RunId {
        let r = self
            .ingest("labs", &self.keys.labs, content_type, body)
            .await;
        assert_eq!(r.status(), 202);
        let v: serde_json::Value = r.json().await.expect("a JSON body");
        v["tracking_id"]
            .as_str()
            .expect("a tracking id")
            .parse()
            .expect("a run id")
    }

    /// Runs in the store.
    pub(crate) async fn runs(&self) -> usize {
        self.store
            .runs(&pluginlake::run::RunFilter {
                limit: Some(10_000),
                ..Default::default()
            })
            .await
            .expect("list runs")
            .len()
    }

    /// Stop the server gracefully and wait for it; its folder lives as long as the result.
    pub(crate) async fn stop(mut self) -> tempfile::TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            served.await.expect("the server task").expect("served");
        }
        self.dir
    }
}

/// Worker options with short intervals.
pub(crate) fn fast_worker() -> WorkerOptions {
    WorkerOptions {
        poll_interval: Duration::from_millis(50),
        heartbeat_interval: Duration::from_millis(500),
        stale_after: Duration::from_secs(5),
        ..WorkerOptions::default()
    }
}

pub(crate) fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("runs.sqlite").display())
}

pub(crate) fn ingestion_log_dir(dir: &Path) -> PathBuf {
    dir.join(".data").join("logs").join("ingestion_log")
}

pub(crate) fn staging_dir(dir: &Path) -> PathBuf {
    dir.join(".data").join("staging")
}

/// Every file under the staging folder of `dir`.
pub(crate) fn staged_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![staging_dir(dir)];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                found.push(p);
            }
        }
    }
    found
}

/// Rows of the lab results table (0 when it does not exist).
pub(crate) fn lab_rows(lake: &Lake) -> usize {
    match lake.load::<Vec<RecordBatch>>(["lab", "results"]) {
        Ok(batches) => batches.iter().map(RecordBatch::num_rows).sum(),
        Err(e) if e.kind() == pluginlake::ErrorKind::NotFound => 0,
        Err(e) => panic!("load lab results: {e}"),
    }
}

/// A problem+json body, checked for the RFC 9457 members and a UUIDv7 request id.
pub(crate) async fn problem(response: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let header_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: serde_json::Value = response.json().await.expect("a JSON body");
    assert_eq!(body["status"], status, "{body}");
    for member in ["type", "title", "detail", "instance", "request_id"] {
        assert!(body[member].is_string(), "no {member} in {body}");
    }
    let id: uuid::Uuid = body["request_id"]
        .as_str()
        .unwrap()
        .parse()
        .expect("a UUID request id");
    assert_eq!(id.get_version_num(), 7, "{body}");
    assert_eq!(header_id.as_deref(), body["request_id"].as_str());
    body
}

/// A raw HTTP/1.1 exchange: send `head` (request line and headers, without the blank line),
/// then each body part after its delay, and read the answer until the server closes or
/// `Connection: close` ends it. Returns the status and the body. Write errors after the head
/// are ignored (the server may answer and close early).
pub(crate) async fn raw_request(
    addr: &str,
    head: &str,
    parts: Vec<(Duration, Vec<u8>)>,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = addr.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(format!("{head}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("send the head");
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        for (delay, part) in parts {
            tokio::time::sleep(delay).await;
            if write.write_all(&part).await.is_err() {
                return;
            }
        }
        let _ = write.flush().await;
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), read.read_to_end(&mut answer)).await;
    writer.abort();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}
