//! Phase 1 of ingestion over HTTP: `POST /ingest/<dataset>` with a 1 MB JSON array of 3,700
//! OMOP-like records, checked against a 10-column contract, staged with fsync (file and folder),
//! its run submitted to the SQLite run store, answered 202. Measured through a real TCP listener
//! with one client (p50/p99) and four concurrent clients (requests/s, p99).
//!
//! The floor, in the same run: parsing the same body (`serde_json` into values) and writing it
//! to a new file with fsync of the file and its folder, without HTTP, contract or run store.
//!
//! `cargo bench --bench ingest` (the peer, FastAPI + pydantic on this kind of machine:
//! 44 ms for one request; 37 requests/s with p99 152 ms at 4 clients).

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use pluginlake::graph::Definitions;
use pluginlake::ingest::{Checked, Column, Contract, Dataset, Format, Staging};
use pluginlake::run::{RunId, RunStore};
use pluginlake_server::auth::{generate_key, ApiKey, KeyRing, Scope};
use pluginlake_server::{RateLimit, ServerConfig, ServerState};

const RECORDS: usize = 3_700;
const SINGLE: usize = 300;
const CLIENTS: usize = 4;
const PER_CLIENT: usize = 150;

fn contract() -> Contract {
    Contract::new([
        Column::integer("person_id").not_null().min(1.0),
        Column::integer("measurement_concept_id").not_null(),
        Column::integer("unit_concept_id"),
        Column::date("measurement_date").not_null(),
        Column::timestamp("measurement_datetime"),
        Column::float("value_as_number").range(-1e6, 1e6),
        Column::string("value_source_value"),
        Column::string("unit_source_value").allowed(["mg/dL", "mmol/L", "g/L", "%"]),
        Column::string("measurement_source_value")
            .pattern("^[A-Z][0-9]{2}(\\.[0-9])?$")
            .unwrap(),
        Column::float("range_high"),
    ])
    .unwrap()
}

/// About 1 MB: 3,700 records of ten fields.
fn body() -> Vec<u8> {
    let units = ["mg/dL", "mmol/L", "g/L", "%"];
    let records: Vec<serde_json::Value> = (0..RECORDS)
        .map(|i| {
            serde_json::json!({
                "person_id": 100_000 + i,
                "measurement_concept_id": 3_000_000 + (i * 7919) % 100_000,
                "unit_concept_id": 8_840 + i % 40,
                "measurement_date": format!("2024-{:02}-{:02}", 1 + i % 12, 1 + i % 28),
                "measurement_datetime": format!("2024-{:02}-{:02}T{:02}:{:02}:00Z", 1 + i % 12, 1 + i % 28, i % 24, i % 60),
                "value_as_number": (i as f64) * 0.37 + 1.5,
                "value_source_value": format!("{:.2} result of panel {}", (i as f64) * 0.37, i % 97),
                "unit_source_value": units[i % units.len()],
                "measurement_source_value": format!("R{:02}.{}", i % 100, i % 10),
                "range_high": 200.0 + (i % 50) as f64,
            })
        })
        .collect();
    serde_json::to_vec(&records).unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The floor: parse the body, write it to a new file, fsync the file and its folder.
fn floor(dir: &Path, body: &[u8], n: usize) -> Vec<Duration> {
    let folder = dir.join("floor");
    std::fs::create_dir_all(&folder).unwrap();
    let mut times: Vec<Duration> = (0..n)
        .map(|i| {
            let started = Instant::now();
            let parsed: Vec<serde_json::Value> = serde_json::from_slice(body).unwrap();
            assert_eq!(parsed.len(), RECORDS);
            let path = folder.join(format!("{i}.json"));
            let mut file = std::fs::File::create_new(&path).unwrap();
            file.write_all(body).unwrap();
            file.sync_all().unwrap();
            std::fs::File::open(&folder).unwrap().sync_all().unwrap();
            started.elapsed()
        })
        .collect();
    times.sort();
    times
}

async fn post(client: &reqwest::Client, url: &str, key: &str, body: &[u8]) -> Duration {
    let started = Instant::now();
    let r = client
        .post(url)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    r.bytes().await.unwrap();
    started.elapsed()
}

fn main() {
    // `cargo bench` passes `--bench`; a name filter that excludes "ingest" skips this bench.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if filter.is_some_and(|f| !"ingest".contains(&f)) {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir_in(std::env::current_dir().unwrap()).unwrap();
    let body = body();
    runtime.block_on(async {
        let labs = Dataset::new("measurements", ["omop", "measurement"], contract()).unwrap();
        let dataset = labs.clone();
        let defs = Definitions::new([labs.definition()]).unwrap();
        let parts_store = RunStore::open(&format!(
            "sqlite://{}",
            dir.path().join("parts.sqlite").display()
        ))
        .await
        .unwrap();
        let store = RunStore::open(&format!(
            "sqlite://{}",
            dir.path().join("runs.sqlite").display()
        ))
        .await
        .unwrap();
        let (key, sha256) = generate_key().unwrap();
        let ring = KeyRing::new(vec![ApiKey {
            id: "bench".into(),
            sha256,
            scopes: vec![Scope::Ingest(None)],
        }]);
        let unlimited = RateLimit::new(1e9, 1e9);
        let config = ServerConfig {
            key_rate: unlimited,
            address_rate: unlimited,
            ingestion_log: Some(dir.path().join("logs").join("ingestion_log")),
            ..ServerConfig::default()
        };
        let state = ServerState::new(
            store,
            defs,
            [labs],
            ring,
            Staging::new(dir.path().join("staging")),
            config,
        )
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/ingest/measurements",
            listener.local_addr().unwrap()
        );
        tokio::spawn(pluginlake_server::serve_on(
            listener,
            state,
            std::future::pending(),
        ));
        let client = reqwest::Client::new();
        for _ in 0..20 {
            post(&client, &url, &key, &body).await; // warm up
        }

        let floor = floor(dir.path(), &body, SINGLE);
        // Where a request's time goes: the contract check alone, and staging + submit alone.
        let mut check = Vec::with_capacity(SINGLE);
        let mut submit = Vec::with_capacity(SINGLE);
        let staging = Staging::new(dir.path().join("parts"));
        for _ in 0..SINGLE {
            let started = Instant::now();
            let checked = dataset.check(Format::Json, &body).unwrap();
            assert!(matches!(checked, Checked::Valid(_)));
            check.push(started.elapsed());
            let started = Instant::now();
            staging
                .submit(
                    &parts_store,
                    &dataset,
                    RunId::new(),
                    Format::Json,
                    body.clone(),
                    Default::default(),
                )
                .await
                .unwrap();
            submit.push(started.elapsed());
        }
        check.sort();
        submit.sort();
        let mut single = Vec::with_capacity(SINGLE);
        for _ in 0..SINGLE {
            single.push(post(&client, &url, &key, &body).await);
        }
        single.sort();

        let started = Instant::now();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (client, url, key, body) =
                    (reqwest::Client::new(), url.clone(), key.clone(), body.clone());
                tokio::spawn(async move {
                    let mut times = Vec::with_capacity(PER_CLIENT);
                    for _ in 0..PER_CLIENT {
                        times.push(post(&client, &url, &key, &body).await);
                    }
                    times
                })
            })
            .collect();
        let mut concurrent = Vec::new();
        for c in clients {
            concurrent.extend(c.await.unwrap());
        }
        let elapsed = started.elapsed();
        concurrent.sort();
        let rate = concurrent.len() as f64 / elapsed.as_secs_f64();
        let floor_rate = 1000.0 / ms(percentile(&floor, 0.5)) * 2.0; // two cores

        println!(
            "ingest phase 1: {} records, {:.2} MB JSON, 10-column contract",
            RECORDS,
            body.len() as f64 / 1e6
        );
        println!(
            "  floor (parse + write + fsync)  p50 {:6.2} ms  p99 {:6.2} ms",
            ms(percentile(&floor, 0.5)),
            ms(percentile(&floor, 0.99))
        );
        println!(
            "  parts: contract check p50 {:6.2} ms; staging + fsync + run submit p50 {:6.2} ms",
            ms(percentile(&check, 0.5)),
            ms(percentile(&submit, 0.5))
        );
        println!(
            "  1 client                       p50 {:6.2} ms  p99 {:6.2} ms  (p50 {:.2}x floor)",
            ms(percentile(&single, 0.5)),
            ms(percentile(&single, 0.99)),
            ms(percentile(&single, 0.5)) / ms(percentile(&floor, 0.5))
        );
        println!(
            "  {CLIENTS} clients                      {rate:6.1} req/s  p99 {:6.2} ms  ({:.2}x of the floor's 2-core rate {floor_rate:.0} req/s)",
            ms(percentile(&concurrent, 0.99)),
            rate / floor_rate
        );
    });
}
