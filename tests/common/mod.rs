//! Helpers shared by the integration tests.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use pluginlake::{Catalog, Lake, LakeConfig};

/// A lake with a DuckDB-file catalog under `dir`.
pub(crate) fn lake_in(dir: &Path) -> Lake {
    Lake::open(config_in(dir)).expect("open a lake")
}

/// The embedded-default configuration rooted at `dir`.
pub(crate) fn config_in(dir: &Path) -> LakeConfig {
    LakeConfig::default().with_root(dir.join(".data"))
}

/// The PostgreSQL catalog used by tests: `PLUGINLAKE_TEST_POSTGRES` or the local server
/// (127.0.0.1:5432, user postgres, database test), with DuckLake's metadata in a fresh schema.
///
/// Returns `None`, saying so on stderr, when no server answers and `CI` is not set (a newcomer's
/// laptop); under `CI=true` a missing server fails the test.
pub(crate) fn postgres_catalog(test: &str) -> Option<Catalog> {
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
pub(crate) fn snapshot_count(lake: &Lake) -> usize {
    lake.snapshots().expect("list snapshots").len()
}

/// Drops the PostgreSQL schema a test's catalog used, when dropped (after the test's lake).
pub(crate) struct DropPostgresSchema(pub Catalog);

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

/// A run-store URL in a fresh schema of the local PostgreSQL (`PLUGINLAKE_TEST_POSTGRES_URL`, else
/// postgres://postgres@127.0.0.1:5432/test), and the guard that drops it; `None` (said on stderr)
/// where no server answers outside CI.
pub(crate) async fn postgres_run_store(test: &str) -> Option<(String, PgSchema)> {
    postgres_catalog(test)?;
    let base = std::env::var("PLUGINLAKE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("pl_runs_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&base)
        .await
        .expect("connect to PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .expect("create a test schema");
    Some((
        format!("{base}?options[search_path]={schema}"),
        PgSchema { admin, schema },
    ))
}

/// A PostgreSQL schema made for one test; `drop().await` removes it.
pub(crate) struct PgSchema {
    admin: sqlx::PgPool,
    schema: String,
}

impl PgSchema {
    /// Drop the schema and everything in it.
    pub(crate) async fn drop(self) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA {} CASCADE",
            self.schema
        )))
        .execute(&self.admin)
        .await
        .expect("drop the test schema");
    }
}

/// The kinds of a run's events, in order.
pub(crate) async fn event_kinds(
    store: &pluginlake::run::RunStore,
    run_id: pluginlake::run::RunId,
) -> Vec<String> {
    let events = store.events(run_id).await.expect("read the run's events");
    events.into_iter().map(|e| e.kind.to_string()).collect()
}

/// The environment variable that tells a test binary it runs as [`in_child_process`]'s child.
const CHILD_TEST: &str = "PLUGINLAKE_CHILD_TEST";

/// Run `body` in a child process (this test binary, running only the test `test`, its path as the
/// test harness names it: `module::name`), so that a crash (a segmentation fault, an abort) fails
/// the test instead of killing every test of the binary. In the child, `body` runs in place, with
/// glibc's allocator filling freed memory with a pattern (`MALLOC_PERTURB_`, its per-thread cache
/// off), so that a use after free reads garbage and crashes instead of passing by luck.
pub(crate) fn in_child_process(test: &str, body: impl FnOnce()) {
    if std::env::var(CHILD_TEST).is_ok_and(|t| t == test) {
        body();
        return;
    }
    let mut child = std::process::Command::new(std::env::current_exe().expect("the test binary"));
    child
        .env("MALLOC_PERTURB_", "165")
        .env("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0");
    run_child(test, child);
}

/// Run `body` in a child process as [`in_child_process`] does, under `strace` recording the
/// system calls `syscalls` (e.g. `openat,fsync`) of every thread; returns the trace (lines of
/// `<tid> <call>(<args>) = <result>`) in the parent, `None` in the child.
pub(crate) fn in_traced_child_process(
    test: &str,
    syscalls: &str,
    body: impl FnOnce(),
) -> Option<String> {
    if std::env::var(CHILD_TEST).is_ok_and(|t| t == test) {
        body();
        return None;
    }
    let dir = tempfile::tempdir().expect("a folder for the trace");
    let trace = dir.path().join("trace");
    let mut child = std::process::Command::new("strace");
    child
        .args(["-f", "-qq", "-e"])
        .arg(format!("trace={syscalls}"))
        .arg("-o")
        .arg(&trace)
        .arg(std::env::current_exe().expect("the test binary"));
    run_child(test, child);
    Some(std::fs::read_to_string(&trace).expect("read the trace"))
}

/// Run the test `test` alone in a child process of this test binary, with the environment
/// variables `envs` set; returns what it printed (it must pass). For measurements that need a
/// process of their own (peak memory).
pub(crate) fn child_output(test: &str, envs: &[(&str, &std::ffi::OsStr)]) -> String {
    let mut child = std::process::Command::new(std::env::current_exe().expect("the test binary"));
    child.envs(envs.iter().copied());
    run_child(test, child)
}

/// Run the test binary (`command`, possibly wrapped) as the child running only `test`; returns
/// what it printed.
fn run_child(test: &str, mut command: std::process::Command) -> String {
    let out = command
        .args([
            test,
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_TEST, test)
        .output()
        .expect("start the child process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the child process running {test} failed ({}; a signal means a crash):\n{stdout}\n{stderr}",
        describe_status(&out.status)
    );
    assert!(
        stdout.contains("1 passed"),
        "the child process did not run {test}:\n{stdout}\n{stderr}"
    );
    // What the child printed (shown with --nocapture).
    print!("{stdout}");
    stdout.into_owned()
}

fn describe_status(status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    }
}
