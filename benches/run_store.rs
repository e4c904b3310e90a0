//! Run-store throughput: submit + claim + complete of no-op runs, on SQLite (the embedded
//! default) and PostgreSQL (127.0.0.1:5432, database `test`, a scratch schema).
//!
//! The floor, in the same run and the same database: one `INSERT` and two `UPDATE`s of a bare
//! table (the least a durable queued -> started -> done lifecycle can write). pluginlake also
//! writes the event log (three events), guards each transition and reads the run back.
//!
//! `cargo bench --bench run_store`

use criterion::{criterion_group, criterion_main, Criterion};
use pluginlake::run::{NewRun, RunStore};
use sqlx::AssertSqlSafe;

const FLOOR_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS floor_runs (id TEXT PRIMARY KEY, state TEXT NOT NULL, at BIGINT)";

fn lifecycle(c: &mut Criterion, name: &str, runtime: &tokio::runtime::Runtime, store: &RunStore) {
    let mut group = c.benchmark_group(format!("run_store_{name}"));
    group.sample_size(30);
    group.bench_function("submit_claim_complete_noop_run", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let run = store.submit(&NewRun::new("*")).await.unwrap();
                let claimed = store.claim("bench", None).await.unwrap().unwrap();
                assert_eq!(claimed.id, run.id);
                store.finish(&claimed.claim().unwrap(), None).await.unwrap();
            })
        })
    });
    group.finish();
}

fn floor<DB: sqlx::Database>(
    c: &mut Criterion,
    name: &str,
    runtime: &tokio::runtime::Runtime,
    pool: &sqlx::Pool<DB>,
) where
    for<'a> &'a sqlx::Pool<DB>: sqlx::Executor<'a, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    runtime.block_on(async { sqlx::query(FLOOR_TABLE).execute(pool).await.unwrap() });
    let mut group = c.benchmark_group(format!("run_store_{name}"));
    group.sample_size(30);
    group.bench_function("floor_insert_and_two_updates", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let id = uuid::Uuid::now_v7().to_string();
                sqlx::query("INSERT INTO floor_runs (id, state, at) VALUES ($1, 'queued', $2)")
                    .bind(id.clone())
                    .bind(1i64)
                    .execute(pool)
                    .await
                    .unwrap();
                for state in [
                    "UPDATE floor_runs SET state = 'started', at = $2 WHERE id = $1",
                    "UPDATE floor_runs SET state = 'success', at = $2 WHERE id = $1",
                ] {
                    sqlx::query(state)
                        .bind(id.clone())
                        .bind(2i64)
                        .execute(pool)
                        .await
                        .unwrap();
                }
            })
        })
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("runs.sqlite").display());
    let store = runtime.block_on(RunStore::open(&url)).unwrap();
    let pool = runtime
        .block_on(
            sqlx::sqlite::SqlitePoolOptions::new().connect_with(
                url.parse::<sqlx::sqlite::SqliteConnectOptions>()
                    .unwrap()
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal),
            ),
        )
        .unwrap();
    floor(c, "sqlite", &runtime, &pool);
    lifecycle(c, "sqlite", &runtime, &store);

    let base = std::env::var("PLUGINLAKE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("pl_bench_{}", uuid::Uuid::new_v4().simple());
    let Ok(admin) = runtime.block_on(sqlx::PgPool::connect(&base)) else {
        eprintln!("no PostgreSQL at {base}: PostgreSQL figures NOT measured");
        return;
    };
    runtime
        .block_on(sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&admin))
        .unwrap();
    let url = format!("{base}?options[search_path]={schema}");
    let store = runtime.block_on(RunStore::open(&url)).unwrap();
    let pool = runtime.block_on(sqlx::PgPool::connect(&url)).unwrap();
    floor(c, "postgres", &runtime, &pool);
    lifecycle(c, "postgres", &runtime, &store);
    runtime
        .block_on(
            sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&admin),
        )
        .unwrap();
}

criterion_group!(benches, bench);
criterion_main!(benches);
