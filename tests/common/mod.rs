//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use pluginlake::{Catalog, Lake, LakeConfig};

/// A lake with a DuckDB-file catalog under `dir`.
pub fn lake_in(dir: &Path) -> Lake {
    Lake::open(config_in(dir)).expect("open a lake")
}

/// The embedded-default configuration rooted at `dir`.
pub fn config_in(dir: &Path) -> LakeConfig {
    LakeConfig::default().with_root(dir.join(".data"))
}

/// The PostgreSQL catalog used by tests: `PLUGINLAKE_TEST_POSTGRES` or the local server
/// (127.0.0.1:5432, user postgres, database test), with DuckLake's metadata in a fresh schema.
///
/// Returns `None`, saying so on stderr, when no server answers and `CI` is not set (a newcomer's
/// laptop); under `CI=true` a missing server fails the test.
pub fn postgres_catalog(test: &str) -> Option<Catalog> {
    let conn = std::env::var("PLUGINLAKE_TEST_POSTGRES")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=test".into());
    let host = field(&conn, "host").unwrap_or("127.0.0.1".into());
    let port = field(&conn, "port").unwrap_or("5432".into());
    let reachable = format!("{host}:{port}")
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok());
    if !reachable {
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("PostgreSQL is not reachable at {host}:{port} ({conn}); CI must run the PostgreSQL tests");
        }
        eprintln!(
            "SKIPPED {test}: no PostgreSQL at {host}:{port}. Set PLUGINLAKE_TEST_POSTGRES to a libpq \
             connection string to run it. This test did NOT run."
        );
        return None;
    }
    let schema = format!("pl_{}", uuid::Uuid::new_v4().simple());
    Some(Catalog::Postgres {
        connection: conn,
        schema: Some(schema),
    })
}

fn field(conn: &str, key: &str) -> Option<String> {
    conn.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")).map(str::to_owned))
}

/// Number of snapshots in the lake.
pub fn snapshot_count(lake: &Lake) -> usize {
    lake.snapshots().expect("list snapshots").len()
}

/// Drops the PostgreSQL schema a test's catalog used, when dropped (after the test's lake).
pub struct DropPostgresSchema(pub Catalog);

impl Drop for DropPostgresSchema {
    fn drop(&mut self) {
        let Catalog::Postgres {
            connection,
            schema: Some(schema),
        } = &self.0
        else {
            return;
        };
        let conn = duckdb::Connection::open_in_memory().expect("DuckDB");
        let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE").replace('\'', "''");
        let sql = format!(
            "LOAD postgres_scanner; ATTACH '{}' AS pg (TYPE postgres); CALL postgres_execute('pg', '{drop}');",
            connection.replace('\'', "''")
        );
        if let Err(e) = conn.execute_batch(&sql) {
            eprintln!("could not drop test schema {schema}: {e}");
        }
    }
}
