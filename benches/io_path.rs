//! The IO path on a 5,000,000-row OMOP condition_era-shaped frame.
//!
//! Measured in one run, so that ratios are comparable on a noisy machine:
//! (a) pluginlake materialize into DuckLake (Parquet fast path + `ducklake_add_data_files`),
//! (b) polars `write_parquet` of the same frame to the same disk (the floor),
//! (c) DuckDB scanning the Arrow frame into a DuckLake table (`CREATE TABLE` + `INSERT ... SELECT *
//!     FROM <arrow>`: the plain way),
//! (d) pluginlake load back into a DataFrame,
//! (e) DuckDB's own export of the table to Arrow (`query_arrow`).
//!
//! After criterion's figures, an interleaved pass prints the ratios (a)/(b), (c)/(b), (d)/(e) and
//! the peak memory of (a) over the frame's size.
//!
//! `cargo bench --bench io_path` (set `PLUGINLAKE_BENCH_ROWS` to change the size).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use std::hint::black_box;

use criterion::Criterion;
use pluginlake::{Lake, LakeConfig};
use polars::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn rows() -> usize {
    std::env::var("PLUGINLAKE_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000_000)
}

fn condition_era_frame(n: usize) -> DataFrame {
    let mut rng = StdRng::seed_from_u64(42);
    let sources: Vec<String> = (0..1000).map(|k| format!("SRC{k:09}")).collect();
    let start: Vec<i32> = (0..n).map(|_| rng.random_range(10_000..20_000)).collect();
    let end: Vec<i32> = start.iter().map(|s| s + rng.random_range(0..365)).collect();
    let date = |name: &str, v: Vec<i32>| {
        Series::new(name.into(), v)
            .cast(&DataType::Date)
            .unwrap()
            .into()
    };
    DataFrame::new(
        n,
        vec![
            Series::new("condition_era_id".into(), (0..n as i64).collect::<Vec<_>>()).into(),
            Series::new(
                "person_id".into(),
                (0..n)
                    .map(|_| rng.random_range(0..1_000_000i64))
                    .collect::<Vec<_>>(),
            )
            .into(),
            Series::new(
                "condition_concept_id".into(),
                (0..n)
                    .map(|_| rng.random_range(0..50_000i32))
                    .collect::<Vec<_>>(),
            )
            .into(),
            date("condition_era_start_date", start),
            date("condition_era_end_date", end),
            Series::new(
                "condition_occurrence_count".into(),
                (0..n)
                    .map(|_| rng.random_range(1..100i32))
                    .collect::<Vec<_>>(),
            )
            .into(),
            Series::new(
                "value".into(),
                (0..n).map(|_| rng.random::<f64>()).collect::<Vec<_>>(),
            )
            .into(),
            Series::new(
                "source_value".into(),
                (0..n)
                    .map(|_| sources[rng.random_range(0..1000)].as_str())
                    .collect::<Vec<_>>(),
            )
            .into(),
            Series::new(
                "is_primary".into(),
                (0..n).map(|_| rng.random_bool(0.3)).collect::<Vec<_>>(),
            )
            .into(),
        ],
    )
    .unwrap()
}

struct Setup {
    dir: PathBuf,
    df: DataFrame,
    lake: Lake,
    plain: Lake,
}

impl Setup {
    fn new() -> Setup {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("io_path_bench");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let lake = Lake::open(LakeConfig::default().with_root(dir.join("lake"))).unwrap();
        // The plain way: the same lake, every frame scanned by DuckDB from Arrow.
        let plain = Lake::open(
            LakeConfig::default()
                .with_root(dir.join("plain"))
                .with_fast_path_min_bytes(usize::MAX),
        )
        .unwrap();
        let df = condition_era_frame(rows());
        lake.store(["bench", "condition_era"], df.clone()).unwrap();
        Setup {
            dir,
            df,
            lake,
            plain,
        }
    }

    fn a_materialize(&self) {
        black_box(
            self.lake
                .store(["bench", "condition_era"], self.df.clone())
                .unwrap(),
        );
    }

    fn b_write_parquet(&self) {
        let file = std::fs::File::create(self.dir.join("floor.parquet")).unwrap();
        let mut df = self.df.clone();
        black_box(ParquetWriter::new(file).finish(&mut df).unwrap());
    }

    fn c_duckdb_plain(&self) {
        black_box(
            self.plain
                .store(["bench", "condition_era"], self.df.clone())
                .unwrap(),
        );
    }

    fn d_load(&self) {
        let df: DataFrame = self.lake.load(["bench", "condition_era"]).unwrap();
        assert_eq!(df.height(), self.df.height());
        black_box(df);
    }

    fn e_duckdb_arrow(&self) {
        let conn = self.lake.connection().unwrap();
        let mut stmt = conn
            .prepare("SELECT * FROM lake.bench.condition_era")
            .unwrap();
        let batches: Vec<RecordBatch> = stmt.query_arrow([]).unwrap().collect();
        assert_eq!(
            batches.iter().map(RecordBatch::num_rows).sum::<usize>(),
            self.df.height()
        );
        black_box(batches);
    }

    /// Old snapshots' files are DuckLake's to delete: expire them so the disk does not fill up.
    fn maintain(&self) {
        for lake in [&self.lake, &self.plain] {
            let conn = lake.connection().unwrap();
            conn.execute_batch(
                "CALL ducklake_expire_snapshots('lake', older_than => now()); \
                 CALL ducklake_cleanup_old_files('lake', cleanup_all => true);",
            )
            .unwrap();
        }
    }
}

/// A path of the bench: its index in the results and the closure that runs it once.
type Timed<'a> = (usize, &'a dyn Fn());

fn time(f: &dyn Fn()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    (v[(v.len() - 1) / 2] + v[v.len() / 2]) / 2
}

extern "C" {
    /// glibc: return freed heap memory to the kernel.
    fn malloc_trim(pad: usize) -> i32;
}

/// Peak resident memory above the level before `f`, from the kernel's high-water mark. Freed
/// memory is first returned to the kernel, so that reused allocations do not hide the peak.
fn peak_extra_rss(f: impl FnOnce()) -> u64 {
    // SAFETY: malloc_trim only releases free memory.
    unsafe { malloc_trim(0) };
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = status_kb("VmRSS:");
    f();
    status_kb("VmHWM:").saturating_sub(before) * 1024
}

/// Measured in a fresh process (`PLUGINLAKE_BENCH_PEAK=1`): a process that has run the other
/// paths keeps their memory and would under-report.
fn peak_in_fresh_process() -> (f64, f64) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env("PLUGINLAKE_BENCH_PEAK", "1")
        .output()
        .expect("run the peak-memory measurement");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("peak "))
        .unwrap_or_else(|| panic!("no peak line in {text}"));
    let mut parts = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse::<f64>().unwrap());
    (parts.next().unwrap(), parts.next().unwrap())
}

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    if std::env::var_os("PLUGINLAKE_BENCH_PEAK").is_some() {
        let df = condition_era_frame(rows());
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("io_path_peak");
        let _ = std::fs::remove_dir_all(&dir);
        let lake = Lake::open(LakeConfig::default().with_root(&dir)).unwrap();
        let peak = peak_extra_rss(|| {
            black_box(lake.store(["bench", "condition_era"], df.clone()).unwrap());
        });
        println!("peak {} {}", peak, df.estimated_size());
        return;
    }
    let s = Setup::new();
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    {
        let mut g = c.benchmark_group(format!("io_path_{}_rows", s.df.height()));
        g.bench_function("a_pluginlake_materialize", |b| b.iter(|| s.a_materialize()));
        g.bench_function("b_polars_write_parquet_floor", |b| {
            b.iter(|| s.b_write_parquet())
        });
        g.bench_function("c_duckdb_create_table_from_arrow", |b| {
            b.iter(|| s.c_duckdb_plain())
        });
        g.bench_function("d_pluginlake_load_dataframe", |b| b.iter(|| s.d_load()));
        g.bench_function("e_duckdb_export_arrow", |b| b.iter(|| s.e_duckdb_arrow()));
        g.finish();
    }
    s.maintain();

    // Interleaved rounds: every path once per round, and each pair compared in alternating order
    // (the second of two runs profits from memory and cache the first one left), so drift and
    // order hit both sides alike.
    let rounds = 10;
    let mut t: [Vec<Duration>; 5] = Default::default();
    for round in 0..rounds {
        let pairs: [[Timed; 2]; 2] = [
            [(0, &|| s.a_materialize()), (1, &|| s.b_write_parquet())],
            [(3, &|| s.d_load()), (4, &|| s.e_duckdb_arrow())],
        ];
        for [(i, f), (j, g)] in pairs {
            if round % 2 == 0 {
                t[i].push(time(f));
                t[j].push(time(g));
            } else {
                t[j].push(time(g));
                t[i].push(time(f));
            }
        }
        t[2].push(time(&|| s.c_duckdb_plain()));
        s.maintain();
    }
    let [a, b, cc, d, e] = t.map(median);
    let (peak, frame) = peak_in_fresh_process();
    let ms = |x: Duration| x.as_secs_f64() * 1e3;
    println!(
        "\n== io_path ratios ({} rows, frame {:.0} MiB, median of {rounds} interleaved rounds) ==",
        s.df.height(),
        frame / 1048576.0
    );
    println!("(a) materialize       {:8.1} ms", ms(a));
    println!("(b) polars parquet    {:8.1} ms   floor", ms(b));
    println!("(c) duckdb from arrow {:8.1} ms", ms(cc));
    println!("(d) load dataframe    {:8.1} ms", ms(d));
    println!("(e) duckdb to arrow   {:8.1} ms", ms(e));
    println!(
        "(a)/(b) = {:.2}   target <= 1.30",
        a.as_secs_f64() / b.as_secs_f64()
    );
    println!("(c)/(b) = {:.2}", cc.as_secs_f64() / b.as_secs_f64());
    println!(
        "(d)/(e) = {:.2}   target <= 1.10",
        d.as_secs_f64() / e.as_secs_f64()
    );
    println!(
        "peak memory of (a) above baseline = {:.0} MiB = {:.2} x frame   target <= 1.50",
        peak / 1048576.0,
        peak / frame
    );
}
