//! A chain of 50 `#[asset]`s, each passing a 1-row DataFrame to the next, every one persisted in
//! DuckLake (one snapshot each) and handed to the next: the end-to-end cost per asset of the
//! graph. Issue 10's target: <= 1.3 x the plain-SQL replace floor, and >= 8 x faster than Dagster.
//!
//! Measured in the same run:
//! - floor: DuckLake's own replace of each of 50 1-row tables, `BEGIN; DELETE; INSERT; COMMIT` in
//!   plain SQL on one connection (one snapshot per asset: the least a persisted asset costs);
//! - the same 50 stores and 50 loads called directly on the lake, in order, without the graph
//!   (what the chain cost before values were handed over in memory);
//! - `Definitions::materialize` of the chain;
//! - after criterion, Dagster's chain of the same shape with its DuckDB polars IO manager
//!   (`benches/support/dagster_chain.py`, in a Python process; skipped with a message where
//!   Python, Dagster or dagster-duckdb-polars is missing: see `PLUGINLAKE_PYTHON` in io_path.rs).
//!
//! `cargo bench --bench chain`

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::Criterion;
use pluginlake::graph::Asset;
use pluginlake::prelude::*;
use polars::prelude::*;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const LEN: usize = 50;

fn step(prev: DataFrame) -> DataFrame {
    let v = prev.column("v").unwrap().i64().unwrap().get(0).unwrap();
    df!["v" => [v + 1]].unwrap()
}

macro_rules! chain {
    ($first:ident $(, $prev:ident => $next:ident)*) => {
        #[asset(key_prefix = "chain")]
        fn $first() -> DataFrame {
            df!["v" => [0i64]].unwrap()
        }
        $(
            #[asset(key_prefix = "chain")]
            fn $next($prev: DataFrame) -> DataFrame {
                step($prev)
            }
        )*
        fn definitions() -> Definitions {
            Definitions::new([$first::definition() $(, $next::definition())*]).unwrap()
        }
    };
}

chain!(a00,
    a00 => a01, a01 => a02, a02 => a03, a03 => a04, a04 => a05, a05 => a06, a06 => a07,
    a07 => a08, a08 => a09, a09 => a10, a10 => a11, a11 => a12, a12 => a13, a13 => a14,
    a14 => a15, a15 => a16, a16 => a17, a17 => a18, a18 => a19, a19 => a20, a20 => a21,
    a21 => a22, a22 => a23, a23 => a24, a24 => a25, a25 => a26, a26 => a27, a27 => a28,
    a28 => a29, a29 => a30, a30 => a31, a31 => a32, a32 => a33, a33 => a34, a34 => a35,
    a35 => a36, a36 => a37, a37 => a38, a38 => a39, a39 => a40, a40 => a41, a41 => a42,
    a42 => a43, a43 => a44, a44 => a45, a45 => a46, a46 => a47, a47 => a48, a48 => a49
);

/// The plain-SQL replace of every table once: DuckLake's DELETE + INSERT in one transaction.
fn sql_replace_all(conn: &pluginlake::LakeConnection) {
    for i in 0..LEN {
        conn.execute_batch(&format!(
            "BEGIN; DELETE FROM lake.sql_floor.a{i:02}; \
             INSERT INTO lake.sql_floor.a{i:02} VALUES ({i}); COMMIT;"
        ))
        .unwrap();
    }
}

fn store_and_load_all(lake: &Lake) {
    let mut prev = df!["v" => [0i64]].unwrap();
    for i in 0..LEN {
        lake.store(["floor", &format!("a{i:02}")], prev).unwrap();
        prev = step(lake.load(["floor", &format!("a{i:02}")]).unwrap());
    }
}

fn python() -> PathBuf {
    std::env::var_os("PLUGINLAKE_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            let venv =
                Path::new(&std::env::var_os("HOME")?).join(".cache/pluginlake/py/bin/python");
            venv.exists().then_some(venv)
        })
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// Dagster's chain, `runs` times: the median seconds of one materialization of 50 assets, or why
/// it was skipped.
fn dagster_chain(dir: &Path, runs: usize) -> Result<Duration, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/support/dagster_chain.py");
    let log = dir.join("dagster.log");
    let python = python();
    let out = Command::new(&python)
        .arg(&script)
        .arg(dir)
        .arg(runs.to_string())
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(&log).map_err(|e| e.to_string())?)
        .output()
        .map_err(|e| format!("{} could not be started: {e}", python.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let ready = lines.next().unwrap_or_default();
    if !ready.starts_with("ready ") {
        let err = std::fs::read_to_string(&log).unwrap_or_default();
        return Err(format!(
            "{} could not run {} (`pip install dagster dagster-duckdb-polars 'duckdb<2'`): {}",
            python.display(),
            script.display(),
            err.lines().last().unwrap_or("no message")
        ));
    }
    let mut times: Vec<f64> = lines.filter_map(|l| l.trim().parse().ok()).collect();
    if times.len() != runs {
        return Err(format!("Dagster's chain failed; see {}", log.display()));
    }
    times.sort_by(f64::total_cmp);
    println!(
        "Dagster {} ({}): runs {times:?} s",
        &ready[6..],
        python.display()
    );
    Ok(Duration::from_secs_f64(times[runs / 2]))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    (v[(v.len() - 1) / 2] + v[v.len() / 2]) / 2
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let lake = Lake::open(LakeConfig::default().with_root(dir.path().join(".data"))).unwrap();
    let defs = definitions();
    assert_eq!(defs.len(), LEN);
    let all = Selection::all();
    let options = MaterializeOptions::default();
    let conn = lake.connection().unwrap();
    conn.execute_batch("CREATE SCHEMA lake.sql_floor").unwrap();
    for i in 0..LEN {
        conn.execute_batch(&format!(
            "CREATE TABLE lake.sql_floor.a{i:02} (v BIGINT); INSERT INTO lake.sql_floor.a{i:02} VALUES (0);"
        ))
        .unwrap();
    }
    let materialize = || {
        let run = runtime
            .block_on(defs.materialize(&lake, &all, &options))
            .unwrap();
        assert!(run.success());
    };

    let mut group = c.benchmark_group("chain_of_50");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(3))
        .measurement_time(Duration::from_secs(20));
    group.bench_function("floor_sql_replace_50", |b| {
        b.iter(|| sql_replace_all(&conn))
    });
    group.bench_function("store_and_load_50_directly", |b| {
        b.iter(|| store_and_load_all(&lake))
    });
    group.bench_function("materialize_50_asset_chain", |b| b.iter(materialize));
    group.finish();

    // Interleaved rounds, the order rotated every round, so drift hits every side alike.
    let rounds = 10;
    let mut t: [Vec<Duration>; 3] = Default::default();
    for round in 0..rounds {
        let paths: [&dyn Fn(); 3] = [
            &|| sql_replace_all(&conn),
            &|| store_and_load_all(&lake),
            &materialize,
        ];
        for k in 0..3 {
            let i = (round + k) % 3;
            let start = Instant::now();
            paths[i]();
            t[i].push(start.elapsed());
        }
    }
    let last: DataFrame = lake.load(a49::key()).unwrap();
    assert_eq!(last.column("v").unwrap().i64().unwrap().get(0), Some(49));
    let [floor, direct, chain] = t.map(median);
    let per = |d: Duration| d.as_secs_f64() * 1e3 / LEN as f64;
    println!("\n== chain of {LEN} ratios (median of {rounds} interleaved rounds) ==");
    println!(
        "floor: SQL DELETE + INSERT      {:6.2} ms per asset",
        per(floor)
    );
    println!(
        "store + load directly           {:6.2} ms per asset",
        per(direct)
    );
    println!(
        "materialize the chain           {:6.2} ms per asset",
        per(chain)
    );
    println!(
        "chain / floor = {:.2}   target <= 1.30",
        chain.as_secs_f64() / floor.as_secs_f64()
    );
    match dagster_chain(dir.path(), 5) {
        Ok(d) => {
            println!(
                "Dagster's chain                 {:6.2} ms per asset",
                per(d)
            );
            println!(
                "Dagster / chain = {:.2}   target >= 8.00",
                d.as_secs_f64() / chain.as_secs_f64()
            );
        }
        Err(why) => println!("Dagster's chain skipped: {why}"),
    }
}
