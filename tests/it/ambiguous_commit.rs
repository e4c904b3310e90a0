//! A write whose `COMMIT` reaches the PostgreSQL catalog but whose answer is lost (the connection
//! cut right after the `COMMIT` was sent) committed: it reports success, keeps its files, and a
//! retry with the same write key does not write again.

use crate::common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use pluginlake::io::{WriteMode, WriteOptions};
use pluginlake::{Catalog, Lake, LakeConfig};
use polars::prelude::*;

/// A TCP proxy to PostgreSQL (plain text) that, once armed, forwards the first `COMMIT` a
/// connection sends after inserting a DuckLake snapshot, then cuts that connection before the
/// answer comes back.
struct CommitCutter {
    port: u16,
    armed: Arc<AtomicBool>,
    cuts: Arc<AtomicUsize>,
}

impl CommitCutter {
    fn start(upstream: &str) -> CommitCutter {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let armed = Arc::new(AtomicBool::new(false));
        let cuts = Arc::new(AtomicUsize::new(0));
        let (upstream, armed2, cuts2) = (upstream.to_owned(), armed.clone(), cuts.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let server = TcpStream::connect(&upstream).unwrap();
                pipe(client, server, armed2.clone(), cuts2.clone());
            }
        });
        CommitCutter { port, armed, cuts }
    }

    fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    fn cuts(&self) -> usize {
        self.cuts.load(Ordering::SeqCst)
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn pipe(client: TcpStream, server: TcpStream, armed: Arc<AtomicBool>, cuts: Arc<AtomicUsize>) {
    let cut = Arc::new(AtomicBool::new(false));
    {
        let (mut from, mut to, cut) = (
            server.try_clone().unwrap(),
            client.try_clone().unwrap(),
            cut.clone(),
        );
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 || cut.load(Ordering::SeqCst) || to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Both);
        });
    }
    std::thread::spawn(move || {
        let (mut from, mut to) = (client, server);
        let mut buf = [0u8; 65536];
        let mut wrote_snapshot = false;
        let mut tail: Vec<u8> = Vec::new();
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            let mut seen = std::mem::take(&mut tail);
            seen.extend_from_slice(&buf[..n]);
            if armed.load(Ordering::SeqCst) {
                // DuckLake's commit writes the snapshot row, then commits.
                wrote_snapshot |=
                    contains(&seen, b"INSERT INTO") && contains(&seen, b"ducklake_snapshot");
                if wrote_snapshot
                    && contains(&seen, b"COMMIT")
                    && armed.swap(false, Ordering::SeqCst)
                {
                    // The COMMIT reaches the server; its answer never reaches the client.
                    cut.store(true, Ordering::SeqCst);
                    let _ = from.shutdown(Shutdown::Both);
                    let _ = to.write_all(&buf[..n]);
                    cuts.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(500));
                    break;
                }
            }
            tail = seen[seen.len().saturating_sub(64)..].to_vec();
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

#[test]
fn a_write_whose_commit_answer_was_lost_reports_success_and_lands_once() {
    let Some(Catalog::Postgres { connection, schema }) = common::postgres_catalog("cut_commit")
    else {
        return;
    };
    let direct = Catalog::Postgres {
        connection: connection.clone(),
        schema: schema.clone(),
    };
    let _drop = common::DropPostgresSchema(direct.clone());
    let host = |c: &str, k: &str, d: &str| {
        c.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")).map(str::to_owned))
            .unwrap_or(d.into())
    };
    let upstream = format!(
        "{}:{}",
        host(&connection, "host", "127.0.0.1"),
        host(&connection, "port", "5432")
    );
    let cutter = CommitCutter::start(&upstream);
    let proxied: String = connection
        .split_whitespace()
        .filter(|kv| !kv.starts_with("host=") && !kv.starts_with("port="))
        .filter(|kv| !kv.starts_with("sslmode="))
        .chain(
            [
                "host=127.0.0.1".into(),
                format!("port={}", cutter.port),
                // Plain text, so that the proxy sees the COMMIT.
                "sslmode=disable".into(),
            ]
            .iter()
            .map(String::as_str),
        )
        .collect::<Vec<_>>()
        .join(" ");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".data");
    // Written as Parquet into the data path: a write that wrongly looks failed deletes files
    // the catalog references.
    let config = |catalog: Catalog| {
        LakeConfig::default()
            .with_root(&root)
            .with_catalog(catalog)
            .with_fast_path_min_bytes(0)
    };
    let lake = Lake::open(config(Catalog::Postgres {
        connection: proxied,
        schema: schema.clone(),
    }))
    .unwrap();
    let rows = 50_000i64;
    let data = || df!["n" => (0..rows).collect::<Vec<_>>()].unwrap();
    let append = WriteOptions::default()
        .with_mode(WriteMode::Append)
        .with_write_key("test-run/cut/events/0");

    cutter.arm();
    let written = lake.store_with(["cut", "events"], data(), &append);
    assert_eq!(cutter.cuts(), 1, "the commit's connection was cut");
    let written = written.expect("the write committed, so it succeeded");
    assert_eq!(written.rows, rows as u64);

    let reader = Lake::open(config(direct)).unwrap();
    let read = |lake: &Lake| lake.load::<DataFrame>(["cut", "events"]).unwrap().height() as i64;
    assert_eq!(
        read(&reader),
        rows,
        "the rows are there once, files and all"
    );

    // The same write again (a retry of an outcome it did not know) is not made again.
    let again = lake.store_with(["cut", "events"], data(), &append).unwrap();
    assert_eq!(again.snapshot_id, written.snapshot_id);
    assert_eq!(read(&reader), rows);
}
